//! Cases 3 and 6: stale TLB entries after protect/unmap; splitting a 2 MiB mapping.

use alloc::string::String;

use vmlayer_paging::MappingFlags;

use super::fixtures::{Frame, read_faults, read_ok, slot, write_faults, write_ok};
use crate::frame_pool;
use crate::kernel_space::{self, Space, pa, va};
use crate::layout::{PAGE_SIZE, phys_to_virt};
use crate::trap;
use crate::{ensure_eq, ensure_ok};

const HUGE_PAGE_SIZE: usize = 0x20_0000;

/// RW → R: the next write faults at once; R → RW: the next write works at once; unmap: the next
/// read faults at once. Each access right before the change warms the TLB.
pub(crate) fn stale_tlb() -> Result<(), String> {
    let page = slot(2);
    let frame = Frame::filled(0)?;
    let read_write = MappingFlags::READ | MappingFlags::WRITE;
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.map_linear(
            va(page),
            pa(frame.paddr),
            PAGE_SIZE,
            read_write
        )),
        "map"
    );
    write_ok(page, 1, "RW, warming the TLB")?;
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.protect(
            va(page),
            PAGE_SIZE,
            MappingFlags::READ
        )),
        "protect to R"
    );
    write_faults(page, "write right after protect RW -> R")?;
    ensure_eq!(frame.word(0), 1, "the refused write left the frame alone");
    ensure_eq!(read_ok(page, "R")?, 1, "still readable");
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.protect(
            va(page),
            PAGE_SIZE,
            read_write
        )),
        "protect to RW"
    );
    let faults_before = trap::handled_fault_count();
    write_ok(page, 2, "write right after protect R -> RW")?;
    // "At once" means without a spurious fault that the handler has to paper over.
    ensure_eq!(
        trap::handled_fault_count(),
        faults_before,
        "the upgrade needed no page fault"
    );
    ensure_eq!(frame.word(0), 2, "write landed");
    ensure_eq!(
        read_ok(page, "warming before unmap")?,
        2,
        "value before unmap"
    );
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.unmap(va(page), PAGE_SIZE)),
        "unmap"
    );
    read_faults(page, "read right after unmap")?;
    write_faults(page, "write right after unmap")?;
    Ok(())
}

/// A 2 MiB linear mapping; protecting one 4 KiB page inside it changes only that page, unmapping
/// another removes only that one; all 512 pages are checked by real accesses.
pub(crate) fn huge_page_split() -> Result<(), String> {
    let base = slot(5);
    let frames = frame_pool::alloc(512, HUGE_PAGE_SIZE).ok_or("no 2 MiB-aligned block")?;
    let result = huge_page_checks(base, frames);
    frame_pool::free(frames, 512);
    result
}

fn marker(index: usize) -> u64 {
    0x4855_4745_0000 + index as u64
}

fn huge_page_checks(base: usize, frames: usize) -> Result<(), String> {
    for index in 0..512 {
        // SAFETY: the 512 frames are ours and in the direct map, read-write.
        unsafe { (phys_to_virt(frames + index * PAGE_SIZE) as *mut u64).write(marker(index)) };
    }
    let read_write = MappingFlags::READ | MappingFlags::WRITE;
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.map_linear(
            va(base),
            pa(frames),
            HUGE_PAGE_SIZE,
            read_write
        )),
        "map 2 MiB"
    );
    let size = kernel_space::with(Space::User, |space| kernel_space::mapping_size(space, base));
    ensure_eq!(
        size,
        Some(HUGE_PAGE_SIZE),
        "the 2 MiB range is one huge mapping"
    );
    for index in 0..512 {
        write_ok(
            base + index * PAGE_SIZE + 8,
            index as u64,
            "huge page before split",
        )?;
    }
    let protected = base + 7 * PAGE_SIZE;
    let unmapped = base + 9 * PAGE_SIZE;
    // Each change is checked right after it, with the TLB warmed just before it: the 512 writes
    // above may have evicted these pages' (2 MiB) translations, which would hide a missing flush.
    write_ok(protected + 8, 7, "page 7, warming the TLB")?;
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.protect(
            va(protected),
            PAGE_SIZE,
            MappingFlags::READ
        )),
        "protect page 7"
    );
    write_faults(protected + 8, "write right after protecting page 7")?;
    ensure_eq!(
        read_ok(unmapped, "page 9, warming the TLB")?,
        marker(9),
        "page 9 before unmap"
    );
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.unmap(va(unmapped), PAGE_SIZE)),
        "unmap page 9"
    );
    read_faults(unmapped, "read right after unmapping page 9")?;
    let neighbour_size = kernel_space::with(Space::User, |space| {
        kernel_space::mapping_size(space, base + 8 * PAGE_SIZE)
    });
    ensure_eq!(
        neighbour_size,
        Some(PAGE_SIZE),
        "the 2 MiB entry was split into 4 KiB pages"
    );
    for index in 0..512 {
        let page = base + index * PAGE_SIZE;
        if page == unmapped {
            read_faults(page, "unmapped page 9")?;
            continue;
        }
        ensure_eq!(
            read_ok(page, "after split")?,
            marker(index),
            "page {index} still maps its own frame"
        );
        if page == protected {
            write_faults(page + 8, "read-only page 7")?;
        } else {
            write_ok(page + 8, 0x100 + index as u64, "writable neighbour")?;
        }
    }
    // The writes went to each page's own frame; page 7 kept the value written before protect.
    for index in (0..512).filter(|&index| index != 9) {
        let expected = if index == 7 { 7 } else { 0x100 + index as u64 };
        let word_address = phys_to_virt(frames + index * PAGE_SIZE + 8);
        // SAFETY: the 512 frames are ours and in the direct map, read-write.
        let word = unsafe { (word_address as *const u64).read_volatile() };
        ensure_eq!(word, expected, "frame {index} word 1 after the writes");
    }
    // One unmap over the whole range, hole included (munmap semantics).
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.unmap(va(base), HUGE_PAGE_SIZE)),
        "unmap 2 MiB"
    );
    read_faults(base, "after unmapping the whole range")?;
    Ok(())
}
