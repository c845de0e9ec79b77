//! The physical frame pool: a bump pointer over a fixed RAM window plus a free list, with counts.
//!
//! Freed frames are poisoned (filled with `0xA5`), so a caller that forgets to zero a frame it
//! hands out as "fresh" memory is caught by the suite. The pool is global because
//! `page_table_multiarch::PagingHandler` allocates through associated functions (no `self`).

use core::ops::Range;

use crate::global_cell::GlobalCell;
use crate::layout::PAGE_SIZE;

/// Byte written over every freed frame.
pub(crate) const POISON: u8 = 0xA5;

/// Counters of the pool, for leak checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FramePoolStats {
    /// Frames currently handed out.
    pub(crate) in_use: usize,
    /// Frames on the free list.
    pub(crate) free_listed: usize,
    /// Frames never touched yet (between the bump pointer and the window end).
    pub(crate) untouched: usize,
}

struct FramePool {
    next: usize,
    end: usize,
    /// Physical (= identity-mapped virtual) address of the first free frame, 0 for none; each free
    /// frame stores the next one in its first word.
    free_head: usize,
    free_count: usize,
    in_use: usize,
}

static POOL: GlobalCell<FramePool> = GlobalCell::new(FramePool {
    next: 0,
    end: 0,
    free_head: 0,
    free_count: 0,
    in_use: 0,
});

/// Hands the page-aligned `window` to the pool.
pub(crate) fn init(window: Range<usize>) {
    POOL.with(|pool| {
        pool.next = window.start.next_multiple_of(PAGE_SIZE);
        pool.end = window.end & !(PAGE_SIZE - 1);
    });
}

/// Takes `count` contiguous frames from the top of the bump region without ever returning them
/// (used once for the kernel heap).
pub(crate) fn take_forever(count: usize) -> Option<Range<usize>> {
    POOL.with(|pool| {
        let size = count.checked_mul(PAGE_SIZE)?;
        if pool.end.checked_sub(pool.next)? < size {
            return None;
        }
        pool.end -= size;
        Some(pool.end..pool.end + size)
    })
}

/// Allocates `count` contiguous frames aligned to `align` bytes (a power of two, ≥ 4 KiB).
/// Returns the physical address of the first frame.
pub(crate) fn alloc(count: usize, align: usize) -> Option<usize> {
    POOL.with(|pool| {
        if count == 1 && align <= PAGE_SIZE && pool.free_head != 0 {
            let frame = pool.free_head;
            // SAFETY: `frame` is a free frame of the window (identity-mapped RAM, owned by the
            // pool), whose first word holds the next free frame.
            pool.free_head = unsafe { (frame as *const usize).read() };
            pool.free_count -= 1;
            pool.in_use += 1;
            return Some(frame);
        }
        let align = align.max(PAGE_SIZE);
        let start = pool.next.checked_next_multiple_of(align)?;
        let end = start.checked_add(count.checked_mul(PAGE_SIZE)?)?;
        if end > pool.end {
            return None;
        }
        // Frames skipped for alignment go to the free list rather than being lost.
        let mut skipped = pool.next;
        pool.next = end;
        while skipped < start {
            push_free(pool, skipped);
            skipped += PAGE_SIZE;
        }
        pool.in_use += count;
        Some(start)
    })
}

/// Returns `count` frames starting at `paddr` (as handed out by [`alloc()`]) to the pool.
pub(crate) fn free(paddr: usize, count: usize) {
    POOL.with(|pool| {
        assert!(
            paddr.is_multiple_of(PAGE_SIZE),
            "freeing unaligned frame {paddr:#x}"
        );
        assert!(
            pool.in_use >= count,
            "freeing {count} frames but only {} are in use",
            pool.in_use
        );
        for index in 0..count {
            push_free(pool, paddr + index * PAGE_SIZE);
        }
        pool.in_use -= count;
    })
}

fn push_free(pool: &mut FramePool, frame: usize) {
    // SAFETY: the frame belongs to the pool's window (identity-mapped RAM) and nobody else owns it
    // any more; poisoning and linking it is the pool's business.
    unsafe {
        core::ptr::write_bytes(frame as *mut u8, POISON, PAGE_SIZE);
        (frame as *mut usize).write(pool.free_head);
    }
    pool.free_head = frame;
    pool.free_count += 1;
}

/// Current counters.
pub(crate) fn stats() -> FramePoolStats {
    POOL.with(|pool| FramePoolStats {
        in_use: pool.in_use,
        free_listed: pool.free_count,
        untouched: (pool.end - pool.next) / PAGE_SIZE,
    })
}
