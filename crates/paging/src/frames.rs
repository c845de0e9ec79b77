//! Reference counts of shared frames: what makes `fork` with copy-on-write and shared
//! anonymous memory possible without changing the kernel's frame allocator.

use core::sync::atomic::{AtomicU32, Ordering};

use memory_addr::PhysAddr;

use crate::MappingError;

/// How many mappings share each frame of RAM: a metadata array indexed by frame number, one
/// `AtomicU32` (4 bytes) per 4 KiB frame, that the kernel allocates once at boot (0.1 % of
/// RAM) and hands to its kernel space ([`AddressSpace::set_frame_table`]); user spaces and
/// their forks inherit it.
///
/// A count is the number of mappings **beyond the first**: 0, the value of every frame that
/// was never shared, means one mapping (or none), so ordinary frames never touch the table
/// except for one load when they are freed. [`AddressSpace::fork`] adds one per shared page;
/// unmapping a page takes one away, after the TLB flush that covers it, and the mapping that
/// finds 0 frees the frame to the kernel's allocator. Arithmetic is checked: sharing a frame
/// whose count is `u32::MAX` (four billion sharers) fails with [`MappingError::NoMemory`]
/// instead of wrapping, so a count can never fall to 0 while the frame is still mapped.
///
/// Why an array and not per-frame objects: O(1) to find (frame number minus the first), no
/// allocation on the fork path, and the kernel's allocator stays what it is. Frames outside the
/// array (device memory, a bank the kernel did not cover) are never shared.
///
/// [`AddressSpace::set_frame_table`]: crate::AddressSpace::set_frame_table
/// [`AddressSpace::fork`]: crate::AddressSpace::fork
#[derive(Debug)]
pub struct FrameTable {
    /// The frame number of `counts[0]`.
    first_frame: usize,
    counts: &'static [AtomicU32],
}

impl FrameTable {
    /// A table for the frames `[ram_start, ram_start + counts.len() * 4 KiB)`, whose counts
    /// must all be 0. `ram_start` is rounded down to 4 KiB.
    ///
    /// ```
    /// use core::sync::atomic::AtomicU32;
    /// use vmlayer_paging::{FrameTable, PhysAddr};
    ///
    /// // 16 MiB of RAM at 0x8000_0000: 4096 frames, 16 KiB of counts.
    /// static COUNTS: [AtomicU32; 4096] = [const { AtomicU32::new(0) }; 4096];
    /// let table = FrameTable::new(PhysAddr::from(0x8000_0000), &COUNTS);
    /// assert!(table.covers(PhysAddr::from(0x80ff_f000)));
    /// assert!(!table.covers(PhysAddr::from(0x8100_0000)));
    /// assert_eq!(table.sharers(PhysAddr::from(0x8000_0000)), 0);
    /// ```
    pub const fn new(ram_start: PhysAddr, counts: &'static [AtomicU32]) -> Self {
        Self {
            first_frame: ram_start.as_usize() >> 12,
            counts,
        }
    }

    /// A table for the frames `[ram_start, ram_start + frames * 4 KiB)` whose counts live in the
    /// memory at `counts`, which this zeroes: what a kernel does at boot with memory it takes
    /// from its allocator for good ([`Self::bytes_for`] bytes).
    ///
    /// # Safety
    ///
    /// `counts` must be aligned for `AtomicU32` and point to `frames * 4` writable bytes that
    /// nothing else uses or frees, for the rest of the program (a `'static` borrow of them is
    /// created).
    pub unsafe fn from_raw_parts(ram_start: PhysAddr, counts: *mut u8, frames: usize) -> Self {
        // SAFETY: the caller gives `frames * 4` writable bytes that only this table uses.
        unsafe { core::ptr::write_bytes(counts, 0, frames * size_of::<AtomicU32>()) };
        // SAFETY: aligned, initialized (zero) and exclusively this table's forever, per the
        // contract; atomics make the shared slice sound under concurrent updates.
        let counts = unsafe { core::slice::from_raw_parts(counts.cast::<AtomicU32>(), frames) };
        Self::new(ram_start, counts)
    }

    /// The bytes of counts a table for `ram_size` bytes of RAM needs (4 per 4 KiB frame).
    pub const fn bytes_for(ram_size: usize) -> usize {
        ram_size.div_ceil(0x1000) * size_of::<AtomicU32>()
    }

    fn slot(&self, paddr: PhysAddr) -> Option<&AtomicU32> {
        let frame = (paddr.as_usize() >> 12).checked_sub(self.first_frame)?;
        self.counts.get(frame)
    }

    /// Whether the table counts the frame holding `paddr`.
    pub fn covers(&self, paddr: PhysAddr) -> bool {
        self.slot(paddr).is_some()
    }

    /// How many mappings share the frame beyond one (0: one mapping, or a frame the table does
    /// not cover).
    pub fn sharers(&self, paddr: PhysAddr) -> u32 {
        self.slot(paddr)
            .map_or(0, |count| count.load(Ordering::Acquire))
    }

    /// Sets a count directly (tests of the limits).
    #[cfg(test)]
    pub(crate) fn set_sharers_for_test(&self, paddr: PhysAddr, sharers: u32) {
        if let Some(count) = self.slot(paddr) {
            count.store(sharers, Ordering::Relaxed);
        }
    }

    /// One more mapping shares the frame.
    ///
    /// # Errors
    ///
    /// [`MappingError::NoMemory`] if the count is at `u32::MAX` or the table does not cover the
    /// frame; nothing changes then.
    pub(crate) fn share(&self, paddr: PhysAddr) -> Result<(), MappingError> {
        let count = self.slot(paddr).ok_or(MappingError::NoMemory)?;
        count
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| n.checked_add(1))
            .map(|_| ())
            .map_err(|_| MappingError::NoMemory)
    }

    /// One mapping of the frame is gone, after the flush that covers it. Returns whether it was
    /// the last one, so the frame must go back to the allocator.
    ///
    /// A count of 0 needs no atomic update: the caller held the frame's only mapping, so no
    /// one else can change the count.
    pub(crate) fn release(&self, paddr: PhysAddr) -> bool {
        let Some(count) = self.slot(paddr) else {
            return true;
        };
        if count.load(Ordering::Acquire) == 0 {
            return true;
        }
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_err()
    }
}
