//! Smoke cases for the boot glue: frame pool and heap.

use alloc::string::String;
use alloc::vec::Vec;

use crate::{ensure_eq, frame_pool};

/// The pool hands out aligned frames and its counts return to where they started.
pub(crate) fn frame_pool_counts() -> Result<(), String> {
    let before = frame_pool::stats();
    let single = frame_pool::alloc(1, 4096).ok_or("pool empty")?;
    let huge = frame_pool::alloc(512, 0x20_0000).ok_or("no 2 MiB block")?;
    ensure_eq!(huge % 0x20_0000, 0, "2 MiB block alignment");
    ensure_eq!(frame_pool::stats().in_use, before.in_use + 513, "in-use count after alloc");
    frame_pool::free(single, 1);
    frame_pool::free(huge, 512);
    ensure_eq!(frame_pool::stats().in_use, before.in_use, "in-use count after free");
    let again = frame_pool::alloc(1, 4096).ok_or("pool empty")?;
    // SAFETY: `again` is a frame we own, identity-mapped RAM.
    let first_byte = unsafe { (again as *const u8).add(8).read() };
    ensure_eq!(first_byte, frame_pool::POISON, "a freed frame is poisoned");
    frame_pool::free(again, 1);
    Ok(())
}

/// Freed heap blocks are reused.
pub(crate) fn heap_reuses_blocks() -> Result<(), String> {
    let first: Vec<u64> = Vec::with_capacity(100);
    let address = first.as_ptr() as usize;
    drop(first);
    let second: Vec<u64> = Vec::with_capacity(100);
    ensure_eq!(second.as_ptr() as usize, address, "same-size block reused");
    Ok(())
}
