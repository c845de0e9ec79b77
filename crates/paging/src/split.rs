//! Splitting huge entries at the bounds of an unmap or protect, with undo on failure.

use memory_addr::PhysAddr;
use page_table_multiarch::{MappingFlags, PagingHandler};
use vmlayer_arch::{ENTRY_COUNT, EntryKind, PagingArch, level_size, table_index};

use crate::MappingError;
use crate::batch::Batch;
use crate::table::{PageTable, Table, alloc_table};
use crate::walk::encode;

/// A split to undo if a later split of the same operation fails.
#[derive(Clone, Copy)]
struct Split {
    table: PhysAddr,
    index: usize,
    old_entry: u64,
    child: PhysAddr,
}

/// At most `LEVELS - 1` splits per bound, two bounds per operation.
const MAX_SPLITS: usize = 6;

impl<H: PagingHandler, A: PagingArch> PageTable<H, A> {
    /// Splits the huge entries that straddle `start` or `end`, so that the range can be changed
    /// entry by entry. On failure every split of this call is undone.
    pub(crate) fn split_bounds(
        &mut self,
        start: usize,
        end: usize,
        batch: &mut Batch<'_, A, H>,
    ) -> Result<(), MappingError> {
        let mut splits = [None; MAX_SPLITS];
        let mut count = 0;
        let result = self
            .split_at(start, batch, &mut splits, &mut count)
            .and_then(|()| self.split_at(end, batch, &mut splits, &mut count));
        if result.is_err() {
            for split in splits[..count].iter().rev().flatten() {
                // SAFETY: `split.table` is a live table page of this table, written by
                // `split_at` in this operation.
                let table = unsafe { Table::new::<H>(split.table) };
                batch.table_unlinked();
                if A::BREAK_BEFORE_MAKE {
                    table.store(split.index, 0);
                    batch.flush();
                }
                table.store(split.index, split.old_entry);
                batch.release(split.child);
            }
        }
        result
    }

    /// Splits, level by level, the huge entry that contains `vaddr` unless `vaddr` is on its
    /// boundary, recording each split in `splits`.
    fn split_at(
        &mut self,
        vaddr: usize,
        batch: &mut Batch<'_, A, H>,
        splits: &mut [Option<Split>; MAX_SPLITS],
        count: &mut usize,
    ) -> Result<(), MappingError> {
        if vaddr & (level_size(A::LARGEST_LEAF_LEVEL) - 1) == 0 {
            return Ok(());
        }
        let mut table_paddr = self.root;
        for level in (1..A::LEVELS).rev() {
            // SAFETY: as in `map_in`.
            let table = unsafe { Table::new::<H>(table_paddr) };
            let index = table_index(vaddr, level);
            let old_entry = table.load(index);
            let size = level_size(level);
            let (paddr, flags) = match A::decode(old_entry, level) {
                EntryKind::Empty => return Ok(()),
                EntryKind::Table(child) => {
                    table_paddr = child;
                    continue;
                }
                EntryKind::Leaf { paddr, flags } => (paddr, flags),
                EntryKind::Reserved { paddr } => (paddr, MappingFlags::empty()),
            };
            if vaddr & (size - 1) == 0 {
                return Ok(());
            }
            let child = alloc_table::<H>()?;
            let child_size = level_size(level - 1);
            // SAFETY: `child` was just allocated for this table and is not yet linked.
            let child_table = unsafe { Table::new::<H>(child) };
            for i in 0..ENTRY_COUNT {
                child_table.store(
                    i,
                    encode::<A>(
                        paddr + i * child_size,
                        flags,
                        level - 1,
                        self.global_leaves(),
                    ),
                );
            }
            if A::BREAK_BEFORE_MAKE {
                table.store(index, 0);
                batch.touch(vaddr & !(size - 1), size);
                batch.flush();
            }
            table.publish(index, A::encode_table(child));
            batch.touch(vaddr & !(size - 1), size);
            batch.table_linked();
            splits[*count] = Some(Split {
                table: table_paddr,
                index,
                old_entry,
                child,
            });
            *count += 1;
            table_paddr = child;
        }
        Ok(())
    }
}
