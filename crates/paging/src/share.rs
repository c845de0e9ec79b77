//! Frame sharing between page tables: copying a range's entries into a child table for `fork`
//! (copy-on-write or shared), and breaking copy-on-write on a write fault.

use core::sync::atomic::Ordering;

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::{MappingFlags, PagingHandler};
use vmlayer_arch::{EntryKind, PagingArch, level_size, table_index};

use crate::MappingError;
use crate::batch::{Batch, LeafFrames};
use crate::fault::{FaultError, FaultResolution};
use crate::frames::FrameTable;
use crate::table::{PageTable, Table, alloc_table};
use crate::walk::encode;

impl<H: PagingHandler, A: PagingArch> PageTable<H, A> {
    /// Copies every entry of `[start, end)` (validated, inside one area of 4 KiB pages) into
    /// `child`, which must hold nothing there, counting one more mapping of each frame in
    /// `frames`. With `cow`, writable entries become read-only in both tables (and this table
    /// is flushed): the first write on either side faults and [`Self::break_cow`] copies.
    /// PROT_NONE entries are copied as they are (their frame is shared too). Only populated
    /// tables are visited: the cost is proportional to the populated pages.
    ///
    /// # Errors
    ///
    /// [`MappingError::NoMemory`] for a child table or a frame whose count is full. The entries
    /// copied so far stay in `child` with their counts (dropping the child releases them); this
    /// table keeps its entries, some of them read-only (a later write fault finds the frame
    /// unshared and makes it writable in place).
    pub(crate) fn share_range(
        &mut self,
        child: &mut Self,
        start: usize,
        end: usize,
        cow: bool,
        frames: &FrameTable,
    ) -> Result<(), MappingError> {
        let mut batch = self.batch();
        let top = A::LEVELS - 1;
        let result = share_in::<A, H>(
            self.root, child.root, top, start, end, cow, frames, &mut batch,
        );
        batch.finish();
        result
    }

    /// Makes the frame of the page at `page` (a 4 KiB leaf, present or PROT_NONE, whose frame
    /// is, or was, shared copy-on-write) private to this mapping and gives the entry `flags`: the last
    /// mapping keeps its frame and is rewritten in place, any other copies the frame into a
    /// fresh one and maps that (break-before-make where the ISA requires it), then lets go of
    /// the old frame after the flush. A write fault passes the area's (writable) flags; the
    /// loader, writing a shared read-only page, passes the area's flags as they are.
    ///
    /// # Errors
    ///
    /// [`FaultError::AccessDenied`] if the page is not a 4 KiB leaf or the table counts no
    /// frames; [`FaultError::NoMemory`] if no frame is left for the copy.
    pub(crate) fn break_cow(
        &mut self,
        page: usize,
        flags: MappingFlags,
    ) -> Result<FaultResolution, FaultError> {
        let frames = self.frames.ok_or(FaultError::AccessDenied)?;
        let (table, index, old) = self.leaf_slot(page).ok_or(FaultError::AccessDenied)?;
        // A PROT_NONE page too (the loader writes it): its copy stays PROT_NONE.
        let (EntryKind::Leaf { paddr, .. } | EntryKind::Reserved { paddr }) = A::decode(old, 0)
        else {
            return Err(FaultError::AccessDenied);
        };
        let mut batch = self.batch();
        if !flags.contains(MappingFlags::USER) {
            batch.touch_global();
        }
        batch.touch(page, 0x1000);
        if frames.sharers(paddr) == 0 {
            // The last mapping: the frame is ours alone, write it in place.
            table.store(index, encode::<A>(paddr, flags, 0, self.global_leaves()));
            batch.finish();
            return Ok(FaultResolution::ReusedOnWrite);
        }
        let copy = H::alloc_frame().ok_or(FaultError::NoMemory)?;
        // SAFETY: `copy` is a fresh frame from `H`; `paddr` is a frame this table maps
        // read-only, which every sharer maps read-only too, so nobody writes it during the
        // copy. `phys_to_virt` maps both.
        unsafe {
            core::ptr::copy_nonoverlapping(
                H::phys_to_virt(paddr).as_ptr(),
                H::phys_to_virt(copy).as_mut_ptr(),
                0x1000,
            );
        }
        if flags.contains(MappingFlags::EXECUTE) {
            vmlayer_arch::cache::sync_instruction_cache::<A>(H::phys_to_virt(copy), 0x1000);
        }
        if A::BREAK_BEFORE_MAKE {
            // The output address changes: the old entry must be gone from every TLB first.
            table.store(index, 0);
            batch.flush();
        }
        table.store(index, encode::<A>(copy, flags, 0, self.global_leaves()));
        batch.release_leaf(paddr, LeafFrames::Owned);
        batch.finish();
        Ok(FaultResolution::CopiedOnWrite)
    }

    /// The level-0 table, index and entry of the 4 KiB page at `page`, if its tables exist.
    fn leaf_slot(&self, page: usize) -> Option<(Table, usize, u64)> {
        let mut table_paddr = self.root;
        for level in (1..A::LEVELS).rev() {
            // SAFETY: the root or a table reached through this table's entries; `&self` keeps
            // them allocated.
            let table = unsafe { Table::new::<H>(table_paddr) };
            match A::decode(table.load(table_index(page, level)), level) {
                EntryKind::Table(next) => table_paddr = next,
                _ => return None,
            }
        }
        // SAFETY: as above.
        let table = unsafe { Table::new::<H>(table_paddr) };
        let index = table_index(page, 0);
        Some((table, index, table.load(index)))
    }

    /// Whether the frame of the page at `page` is shared with other mappings.
    pub(crate) fn is_shared_page(&self, page: VirtAddr) -> bool {
        let Some(frames) = self.frames else {
            return false;
        };
        match self.leaf_slot(page.as_usize()) {
            Some((_, _, entry)) => match A::decode(entry, 0) {
                EntryKind::Leaf { paddr, .. } | EntryKind::Reserved { paddr } => {
                    frames.sharers(paddr) > 0
                }
                _ => false,
            },
            None => false,
        }
    }
}

/// One level of [`PageTable::share_range`]: `parent` and `child` are tables of `level`.
#[expect(clippy::too_many_arguments, reason = "one recursive step of the walk")]
fn share_in<A: PagingArch, H: PagingHandler>(
    parent: PhysAddr,
    child: PhysAddr,
    level: usize,
    start: usize,
    end: usize,
    cow: bool,
    frames: &FrameTable,
    batch: &mut Batch<'_, A, H>,
) -> Result<(), MappingError> {
    // SAFETY: live table pages of the two page tables (the caller holds both mutably).
    let (parent, child) = unsafe { (Table::new::<H>(parent), Table::new::<H>(child)) };
    if level == 0 {
        let first = table_index(start, 0);
        let count = (end - start) >> 12;
        let parent_slots = parent.slots(first, count);
        let child_slots = child.slots(first, count);
        for (index, (from, to)) in parent_slots.iter().zip(child_slots).enumerate() {
            let entry = from.load(Ordering::Relaxed);
            if entry == 0 {
                continue;
            }
            let shared = match A::decode(entry, 0) {
                EntryKind::Leaf { paddr, flags } => {
                    frames.share(paddr)?;
                    if cow && flags.contains(MappingFlags::WRITE) {
                        let read_only = encode::<A>(
                            paddr,
                            flags - MappingFlags::WRITE,
                            0,
                            batch.global_leaves(),
                        );
                        from.store(read_only, Ordering::Relaxed);
                        batch.touch(start + (index << 12), 0x1000);
                        read_only
                    } else {
                        entry
                    }
                }
                EntryKind::Reserved { paddr } => {
                    frames.share(paddr)?;
                    entry
                }
                EntryKind::Empty | EntryKind::Table(_) => continue,
            };
            to.store(shared, Ordering::Relaxed);
        }
        return Ok(());
    }
    let size = level_size(level);
    let mut vaddr = start;
    while vaddr < end {
        let next = (vaddr & !(size - 1)).saturating_add(size).min(end);
        let index = table_index(vaddr, level);
        match A::decode(parent.load(index), level) {
            EntryKind::Table(from) => {
                let to = match A::decode(child.load(index), level) {
                    EntryKind::Table(to) => to,
                    _ => {
                        let to = alloc_table::<H>()?;
                        // The child is not live on any CPU: linking needs no flush.
                        child.publish(index, A::encode_table(to));
                        to
                    }
                };
                share_in::<A, H>(from, to, level - 1, vaddr, next, cow, frames, batch)?;
            }
            EntryKind::Empty => {}
            // Huge leaves belong to Linear areas, which fork maps again; never here.
            EntryKind::Leaf { .. } | EntryKind::Reserved { .. } => {}
        }
        vaddr = next;
    }
    Ok(())
}
