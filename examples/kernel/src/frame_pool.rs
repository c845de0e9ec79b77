//! The physical frame pool: a bump pointer per usable RAM range (lowest range first) plus a free
//! list, with counts.
//!
//! Frames are physical addresses; the pool touches them through the direct map
//! (`layout::phys_to_virt`). Freed frames are poisoned (filled with `0xA5`), so a caller that
//! forgets to zero a frame it hands out as "fresh" memory is caught by the suite. The pool is
//! global because `page_table_multiarch::PagingHandler` allocates through associated functions
//! (no `self`).
//!
//! The pool also owns the frames' metadata: the [`FrameTable`] of `vmlayer_paging` (one
//! `AtomicU32` per 4 KiB frame of the span of usable RAM, 0.1 % of it, carved from the pool
//! once at boot by [`init_frame_table`]), which counts the mappings of frames that `fork` and
//! `MAP_SHARED` share. The pool itself stays a plain allocator: a shared frame comes back
//! through [`free`] once, when its last mapping goes.

use alloc::boxed::Box;
use core::ops::Range;

use vmlayer_paging::{FrameTable, PhysAddr};

use crate::global_cell::GlobalCell;
use crate::layout::{PAGE_SIZE, phys_to_virt};
use crate::range_list::RangeList;

/// Byte written over every freed frame.
pub(crate) const POISON: u8 = 0xA5;

/// Counters of the pool, for leak checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FramePoolStats {
    /// Frames currently handed out.
    pub(crate) in_use: usize,
    /// Frames on the free list.
    pub(crate) free_listed: usize,
    /// Frames never touched yet (between the bump pointers and the ends of the RAM ranges).
    pub(crate) untouched: usize,
}

struct FramePool {
    /// Frames never handed out yet: per usable RAM range, its bump pointer (the range's start)
    /// up to its end. Shrinks from the front only, so the ranges stay sorted and disjoint.
    untouched: RangeList,
    /// Frames at or above this address are not handed out yet: before the kernel space is
    /// active only the boot mapping's direct map (`arch::BOOT_MAPPED_END`) is reachable.
    limit: usize,
    /// Physical address of the first free frame, 0 for none (frame 0 is never in the pool);
    /// each free frame stores the next one in its first word.
    free_head: usize,
    free_count: usize,
    in_use: usize,
}

static POOL: GlobalCell<FramePool> = GlobalCell::new(FramePool {
    untouched: RangeList::new(),
    limit: 0,
    free_head: 0,
    free_count: 0,
    in_use: 0,
});

/// Hands the page-aligned `ram` (usable RAM: in the direct map once the kernel space is active,
/// without frame 0) to the pool; frames at or above `reachable_end` are held back until
/// [`release_all`].
pub(crate) fn init(ram: RangeList, reachable_end: usize) {
    POOL.with(|pool| {
        pool.untouched = ram;
        pool.limit = reachable_end;
    });
}

/// Lifts the limit set by [`init`]: called once every usable frame is mapped and reachable.
pub(crate) fn release_all() {
    POOL.with(|pool| pool.limit = usize::MAX);
}

/// Takes `count` contiguous frames that are never returned (the kernel heap, the secondary CPUs'
/// stacks); not counted as in use.
pub(crate) fn take_forever(count: usize) -> Option<Range<usize>> {
    POOL.with(|pool| {
        let start = carve(pool, count, PAGE_SIZE)?;
        Some(start..start + count * PAGE_SIZE)
    })
}

/// Allocates `count` contiguous frames aligned to `align` bytes (a power of two, ≥ 4 KiB).
/// Returns the physical address of the first frame.
pub(crate) fn alloc(count: usize, align: usize) -> Option<usize> {
    POOL.with(|pool| {
        if count == 1 && align <= PAGE_SIZE && pool.free_head != 0 {
            let frame = pool.free_head;
            // SAFETY: `frame` is a free frame of the pool (RAM in the direct map, owned by the
            // pool), whose first word holds the next free frame.
            pool.free_head = unsafe { (phys_to_virt(frame) as *const usize).read() };
            pool.free_count -= 1;
            pool.in_use += 1;
            return Some(frame);
        }
        let start = carve(pool, count, align)?;
        pool.in_use += count;
        Some(start)
    })
}

/// Bumps `count` frames aligned to `align` off the first untouched range (lowest address first)
/// that has room below the limit. Frames skipped for alignment go to the free list rather than
/// being lost.
fn carve(pool: &mut FramePool, count: usize, align: usize) -> Option<usize> {
    let size = count.checked_mul(PAGE_SIZE)?;
    let align = align.max(PAGE_SIZE);
    let limit = pool.limit;
    let (skipped, start) = pool.untouched.as_mut_slice().iter_mut().find_map(|range| {
        let start = range.start.checked_next_multiple_of(align)?;
        let end = start.checked_add(size)?;
        if end > range.end || end > limit {
            return None;
        }
        let skipped = range.start..start;
        range.start = end;
        Some((skipped, start))
    })?;
    for frame in skipped.step_by(PAGE_SIZE) {
        push_free(pool, frame);
    }
    Some(start)
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
    let page = phys_to_virt(frame);
    // SAFETY: the frame belongs to the pool's RAM (in the direct map, reachable) and nobody
    // else owns it any more; poisoning and linking it is the pool's business.
    unsafe {
        core::ptr::write_bytes(page as *mut u8, POISON, PAGE_SIZE);
        (page as *mut usize).write(pool.free_head);
    }
    pool.free_head = frame;
    pool.free_count += 1;
}

/// The frame table made by [`init_frame_table`], and the physical range it covers.
static FRAME_TABLE: GlobalCell<Option<(&'static FrameTable, Range<usize>)>> = GlobalCell::new(None);

/// Allocates the frame table for the span of `ram` (the usable RAM the pool hands out, from its
/// first frame to the end of its last range; holes included, so that a frame's count is found
/// by its number alone): [`FrameTable::bytes_for`] the span, 4 bytes per 4 KiB frame, taken
/// once from the pool (never returned, not counted in use, like the heap) and zeroed through
/// the direct map. Returns the table for `AddressSpace::set_frame_table`. Call it once, after
/// the heap exists and before the frame pool hands out frames to address spaces.
///
/// # Panics
/// If `ram` is empty, if called twice, or if the pool has no contiguous run of frames for the
/// counts (128 KiB for 128 MiB of RAM).
pub(crate) fn init_frame_table(ram: &RangeList) -> &'static FrameTable {
    let ranges = ram.as_slice();
    let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
        panic!("no usable RAM for the frame table");
    };
    let span = first.start..last.end;
    let frames = (span.end - span.start) / PAGE_SIZE;
    let bytes = FrameTable::bytes_for(span.end - span.start);
    let counts = take_forever(bytes.div_ceil(PAGE_SIZE)).expect("no memory for the frame table");
    let counts_virt = phys_to_virt(counts.start);
    // SAFETY: `take_forever` handed these frames (at least `bytes_for` bytes, 4 KiB-aligned, in
    // the direct map) to the kernel for good: nothing else uses or frees them.
    let table = unsafe {
        FrameTable::from_raw_parts(PhysAddr::from(span.start), counts_virt as *mut u8, frames)
    };
    let table: &'static FrameTable = Box::leak(Box::new(table));
    FRAME_TABLE.with(|slot| {
        assert!(slot.is_none(), "the frame table is made once");
        *slot = Some((table, span));
    });
    table
}

/// The frames the frame table counts as shared by more than one mapping right now (0 once
/// every process that shared frames is gone).
///
/// # Panics
/// Before [`init_frame_table`].
pub(crate) fn shared_frames() -> usize {
    let (table, span) = FRAME_TABLE
        .with(|slot| slot.clone())
        .expect("frame table not made yet");
    span.step_by(PAGE_SIZE)
        .filter(|&frame| table.sharers(PhysAddr::from(frame)) != 0)
        .count()
}

/// How many mappings share `frame` beyond one (`FrameTable::sharers`).
///
/// # Panics
/// Before [`init_frame_table`].
pub(crate) fn sharers(frame: usize) -> u32 {
    let table = FRAME_TABLE
        .with(|slot| slot.as_ref().map(|(table, _)| *table))
        .expect("frame table not made yet");
    table.sharers(PhysAddr::from(frame))
}

/// The frame table's size: the RAM span it covers and the bytes of counts it takes.
///
/// # Panics
/// Before [`init_frame_table`].
pub(crate) fn frame_table_size() -> (Range<usize>, usize) {
    let span = FRAME_TABLE
        .with(|slot| slot.as_ref().map(|(_, span)| span.clone()))
        .expect("frame table not made yet");
    let bytes = FrameTable::bytes_for(span.end - span.start);
    (span, bytes)
}

/// Current counters.
pub(crate) fn stats() -> FramePoolStats {
    POOL.with(|pool| FramePoolStats {
        in_use: pool.in_use,
        free_listed: pool.free_count,
        untouched: pool.untouched.total() / PAGE_SIZE,
    })
}
