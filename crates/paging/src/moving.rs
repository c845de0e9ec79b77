//! Moving a range's entries to another address (`mremap`): no frame is copied or freed, only
//! entries move; a huge entry moves as one entry where the new address is aligned for it.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use memory_addr::PhysAddr;
use page_table_multiarch::PagingHandler;
use vmlayer_arch::{EntryKind, PagingArch, level_size, table_index};

use crate::MappingError;
use crate::batch::Batch;
use crate::table::{PageTable, Table, alloc_table};
use crate::walk::encode;

/// A table linked by a move's preparation: `(parent table, index, new table)`.
type Linked = (PhysAddr, usize, PhysAddr);

impl<H: PagingHandler, A: PagingArch> PageTable<H, A> {
    /// Moves every entry of `[from, from + size)` (validated) to `[to, to + size)` (validated,
    /// empty, not overlapping): the frames stay where they are and keep their flags; only the
    /// virtual addresses change. Tables the destination needs are allocated first, so the move
    /// itself cannot fail; source tables left empty are freed; both ranges are flushed.
    ///
    /// # Errors
    ///
    /// [`MappingError::NoMemory`] for a table page (or a split of a huge entry at the source's
    /// bounds). Both ranges then translate as before (a huge entry at a bound may be split into
    /// smaller entries mapping the same frames).
    pub(crate) fn move_range(
        &mut self,
        from: usize,
        to: usize,
        size: usize,
    ) -> Result<(), MappingError> {
        let mut batch = self.batch();
        if self.global_in_range {
            batch.touch_global();
        }
        let end = from + size;
        self.split_bounds(from, end, &mut batch)?;
        let delta = to.wrapping_sub(from);
        let top = A::LEVELS - 1;
        let mut linked = Vec::new();
        if let Err(error) = self.prepare_in(self.root, top, from, end, delta, &mut linked) {
            for &(parent, index, child) in linked.iter().rev() {
                // SAFETY: `parent` is a live table page of this table, linked by this call.
                unsafe { Table::new::<H>(parent) }.store(index, 0);
                batch.table_unlinked();
                batch.release(child);
            }
            batch.finish();
            return Err(error);
        }
        if !linked.is_empty() {
            batch.table_linked();
        }
        self.move_in(self.root, top, from, end, delta, &mut batch);
        batch.touch(from, size);
        batch.touch(to, size);
        batch.finish();
        Ok(())
    }

    /// Whether the table linked at `level` for `[vaddr, next)` moves as one entry: the range
    /// covers all of it, the destination is aligned the same way, and it is not a root entry
    /// (root slots may be shared with the kernel half).
    fn relinkable(&self, level: usize, vaddr: usize, next: usize, delta: usize) -> bool {
        let size = level_size(level);
        level < A::LEVELS - 1
            && next - vaddr == size
            && delta & (size - 1) == 0
            && self.slot_is_free(vaddr.wrapping_add(delta), level)
    }

    /// Whether the entry of `level` for `vaddr` is empty (or its table does not exist yet).
    fn slot_is_free(&self, vaddr: usize, level: usize) -> bool {
        let mut table_paddr = self.root;
        for above in (level..A::LEVELS).rev() {
            // SAFETY: the root or a table linked below it.
            let table = unsafe { Table::new::<H>(table_paddr) };
            match A::decode(table.load(table_index(vaddr, above)), above) {
                EntryKind::Empty => return true,
                EntryKind::Table(next) if above > level => table_paddr = next,
                _ => return false,
            }
        }
        false
    }

    /// The table holding the entries of `level` for `vaddr`, linking empty tables on the way
    /// and recording them in `linked` (the preparation), or, without `linked` (the move
    /// itself, which must not allocate), failing where a table is missing.
    fn table_for(
        &self,
        vaddr: usize,
        level: usize,
        mut linked: Option<&mut Vec<Linked>>,
    ) -> Result<PhysAddr, MappingError> {
        let mut table_paddr = self.root;
        for above in (level + 1..A::LEVELS).rev() {
            // SAFETY: the root or a table linked below it: live while `&mut self` is held.
            let table = unsafe { Table::new::<H>(table_paddr) };
            let index = table_index(vaddr, above);
            table_paddr = match A::decode(table.load(index), above) {
                EntryKind::Table(next) => next,
                EntryKind::Empty => {
                    let Some(linked) = linked.as_deref_mut() else {
                        return Err(MappingError::BadState);
                    };
                    let next = alloc_table::<H>()?;
                    table.publish(index, A::encode_table(next));
                    linked.push((table_paddr, index, next));
                    next
                }
                EntryKind::Leaf { .. } | EntryKind::Reserved { .. } => {
                    return Err(MappingError::AlreadyExists);
                }
            };
        }
        Ok(table_paddr)
    }

    /// Links every table the destination of the populated entries of `[start, end)` needs.
    fn prepare_in(
        &self,
        table_paddr: PhysAddr,
        level: usize,
        start: usize,
        end: usize,
        delta: usize,
        linked: &mut Vec<Linked>,
    ) -> Result<(), MappingError> {
        // SAFETY: the root or a table reached through this table's entries.
        let table = unsafe { Table::new::<H>(table_paddr) };
        let size = level_size(level);
        let mut vaddr = start;
        while vaddr < end {
            let next = (vaddr & !(size - 1)).saturating_add(size).min(end);
            let entry = table.load(table_index(vaddr, level));
            match A::decode(entry, level) {
                EntryKind::Empty => {}
                EntryKind::Table(child) => {
                    if self.relinkable(level, vaddr, next, delta) {
                        self.table_for(vaddr.wrapping_add(delta), level, Some(linked))?;
                    } else {
                        self.prepare_in(child, level - 1, vaddr, next, delta, linked)?;
                    }
                }
                EntryKind::Leaf { .. } | EntryKind::Reserved { .. } => {
                    let target = vaddr.wrapping_add(delta);
                    if level == 0 || target & (size - 1) == 0 {
                        self.table_for(target, level, Some(linked))?;
                    } else {
                        // Misaligned for a huge entry: 4 KiB entries in every leaf table the
                        // destination window touches (the destination is a validated range,
                        // so `target + size` does not overflow).
                        let window = level_size(1);
                        let mut page = target;
                        while page < target + size {
                            self.table_for(page, 0, Some(linked))?;
                            match (page & !(window - 1)).checked_add(window) {
                                Some(next_window) => page = next_window,
                                None => break,
                            }
                        }
                    }
                }
            }
            vaddr = next;
        }
        Ok(())
    }

    /// Moves the entries of `[start, end)` by `delta` into tables [`Self::prepare_in`] linked,
    /// freeing the source tables it empties.
    fn move_in(
        &self,
        table_paddr: PhysAddr,
        level: usize,
        start: usize,
        end: usize,
        delta: usize,
        batch: &mut Batch<'_, A, H>,
    ) {
        // SAFETY: as in `prepare_in`.
        let table = unsafe { Table::new::<H>(table_paddr) };
        if level == 0 {
            let mut vaddr = start;
            while vaddr < end {
                // The run of pages that lands in one destination leaf table.
                let target = vaddr.wrapping_add(delta);
                let window = level_size(1);
                let run_end = end.min(vaddr.saturating_add(window - (target & (window - 1))));
                let count = (run_end - vaddr) >> 12;
                let source = table.slots(table_index(vaddr, 0), count);
                if source.iter().all(|slot| slot.load(Ordering::Relaxed) == 0) {
                    // Nothing to move: the preparation linked no table for this run.
                    vaddr = run_end;
                    continue;
                }
                let Ok(destination) = self.table_for(target, 0, None) else {
                    debug_assert!(false, "move: a destination table was not prepared");
                    return;
                };
                // SAFETY: a live leaf table of this table, prepared for the destination.
                let destination = unsafe { Table::new::<H>(destination) };
                let target_slots = destination.slots(table_index(target, 0), count);
                for (from, to) in source.iter().zip(target_slots) {
                    let entry = from.load(Ordering::Relaxed);
                    if entry != 0 {
                        to.store(entry, Ordering::Relaxed);
                        from.store(0, Ordering::Relaxed);
                    }
                }
                vaddr = run_end;
            }
            return;
        }
        let size = level_size(level);
        let mut vaddr = start;
        while vaddr < end {
            let next = (vaddr & !(size - 1)).saturating_add(size).min(end);
            let index = table_index(vaddr, level);
            let entry = table.load(index);
            match A::decode(entry, level) {
                EntryKind::Empty => {}
                EntryKind::Table(_) if self.relinkable(level, vaddr, next, delta) => {
                    // A whole table of entries moves as one entry (as Linux moves PMD tables):
                    // the destination slot at this level is empty (the range is free).
                    let target = vaddr.wrapping_add(delta);
                    if let Ok(destination) = self.table_for(target, level, None) {
                        table.store(index, 0);
                        // SAFETY: a live table of this table, prepared for the destination.
                        unsafe { Table::new::<H>(destination) }
                            .publish(table_index(target, level), entry);
                        batch.table_unlinked();
                    }
                }
                EntryKind::Table(child) => {
                    self.move_in(child, level - 1, vaddr, next, delta, batch);
                    // SAFETY: `child` is a live table page of this table.
                    let empty = unsafe { Table::new::<H>(child) }.is_empty();
                    if empty && self.may_unlink(level, index) {
                        table.store(index, 0);
                        batch.table_unlinked();
                        batch.release(child);
                    }
                }
                kind @ (EntryKind::Leaf { .. } | EntryKind::Reserved { .. }) => {
                    let target = vaddr.wrapping_add(delta);
                    table.store(index, 0);
                    if target & (size - 1) == 0 {
                        if let Ok(destination) = self.table_for(target, level, None) {
                            // SAFETY: a live table of this table, prepared for the destination.
                            unsafe { Table::new::<H>(destination) }
                                .store(table_index(target, level), entry);
                        }
                    } else {
                        for offset in (0..size).step_by(0x1000) {
                            let small = match kind {
                                EntryKind::Leaf { paddr, flags } => {
                                    encode::<A>(paddr + offset, flags, 0, self.global_leaves())
                                }
                                EntryKind::Reserved { paddr } => {
                                    A::encode_reserved(paddr + offset, 0)
                                }
                                _ => 0,
                            };
                            if let Ok(destination) = self.table_for(target + offset, 0, None) {
                                // SAFETY: as above, a prepared leaf table.
                                unsafe { Table::new::<H>(destination) }
                                    .store(table_index(target + offset, 0), small);
                            }
                        }
                    }
                }
            }
            vaddr = next;
        }
    }
}
