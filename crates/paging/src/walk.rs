//! The range walker: map, unmap and protect a range in one pass over the tables it touches.
//!
//! Each operation recurses from the root over the entries that cover the range, so a table is
//! visited once per operation and a run of 4 KiB pages is a tight loop over one leaf table
//! (upstream walks from the root for every page). Huge entries straddling the bounds of an
//! unmap or protect are split first, the only step that can fail; tables left empty are freed.

use core::marker::PhantomData;
use core::sync::atomic::Ordering;

use memory_addr::PhysAddr;
use page_table_multiarch::{MappingFlags, PagingHandler};
use vmlayer_arch::{ACCESS_FLAGS, EntryKind, PagingArch, level_size, table_index};

use crate::MappingError;
use crate::batch::{Batch, LeafFrames};
use crate::frames::FrameTable;
use crate::table::{PageTable, Table, alloc_table};

/// Supplies the physical frame for a page or block being mapped.
pub(crate) trait FrameSource {
    /// The frame for the entry at `vaddr` of level `level`, or `Ok(None)` to map that range with
    /// smaller entries. At level 0 it must return a frame or an error.
    fn frame(&mut self, vaddr: usize, level: usize) -> Result<Option<PhysAddr>, MappingError>;
}

/// A failed map: the error, and the first address not mapped (everything from the start of
/// the operation up to it was mapped by it).
struct Failure {
    error: MappingError,
    at: usize,
}

/// The entry for `paddr` at `level` with `flags`: a leaf, or PROT_NONE without access flags.
/// Kernel leaves (without `USER`) are global only in the kernel space's table (`global`): in
/// any other table they are tagged with its ASID like its user leaves, so that a switch to
/// another space never keeps them.
#[inline(always)]
pub(crate) fn encode<A: PagingArch>(
    paddr: PhysAddr,
    flags: MappingFlags,
    level: usize,
    global: bool,
) -> u64 {
    if flags.intersects(ACCESS_FLAGS) {
        let leaf = A::encode_leaf(paddr, flags, level);
        if global { leaf } else { A::non_global(leaf) }
    } else {
        A::encode_reserved(paddr, level)
    }
}

/// The end of the entry of `size` bytes containing `vaddr`, clipped to `end`.
#[inline(always)]
fn chunk_end(vaddr: usize, size: usize, end: usize) -> usize {
    (vaddr & !(size - 1))
        .checked_add(size)
        .map_or(end, |entry_end| entry_end.min(end))
}

impl<H: PagingHandler, A: PagingArch> PageTable<H, A> {
    /// A batch for one operation on this table.
    pub(crate) fn batch<'s>(&self) -> Batch<'s, A, H> {
        Batch::new(self.root, self.flush_hook, self.frames, &self.tlb)
    }

    /// Maps `[start, end)` (validated, 4 KiB aligned) with frames from `source`. Fails with
    /// `AlreadyExists` on a non-empty entry or with the source's or the table allocator's error,
    /// and then unmaps what it mapped, freeing frames to `H` if `owns_frames` (else the frames
    /// stay the source's, no longer mapped and flushed when this returns).
    pub(crate) fn map_range<S: FrameSource>(
        &mut self,
        start: usize,
        end: usize,
        flags: MappingFlags,
        source: &mut S,
        owns_frames: bool,
    ) -> Result<(), MappingError> {
        let owns_frames = if owns_frames {
            LeafFrames::Owned
        } else {
            LeafFrames::Borrowed
        };
        let mut batch = self.batch();
        if !flags.contains(MappingFlags::USER) {
            batch.touch_global();
        }
        let top = A::LEVELS - 1;
        let result = self.map_in(self.root, top, start, end, flags, source, &mut batch);
        if let Err(failure) = result {
            self.unmap_in(self.root, top, start, failure.at, owns_frames, &mut batch);
            return Err(failure.error);
        }
        batch.finish();
        Ok(())
    }

    /// Maps the one 4 KiB page at `vaddr` (validated, aligned) with a frame from `source`: the
    /// demand-paging path, an iterative descent without the range machinery. Fails with
    /// `AlreadyExists` if the page (or a huge entry over it) is mapped, or with the source's or
    /// the table allocator's error; then the tables it linked are unlinked and freed again.
    pub(crate) fn map_page<S: FrameSource>(
        &mut self,
        vaddr: usize,
        flags: MappingFlags,
        source: &mut S,
    ) -> Result<(), MappingError> {
        let mut batch = self.batch();
        if !flags.contains(MappingFlags::USER) {
            batch.touch_global();
        }
        // The tables this call linked, as (parent, index, child), top first.
        let mut linked = [(PhysAddr::from(0), 0, PhysAddr::from(0)); 8];
        let mut linked_count = 0;
        let mut table_paddr = self.root;
        let mut result = Ok(());
        for level in (1..A::LEVELS).rev() {
            // SAFETY: the root or a table reached through this table's entries: live, kept
            // allocated by `&mut self`.
            let table = unsafe { Table::new::<H>(table_paddr) };
            let index = table_index(vaddr, level);
            match A::decode(table.load(index), level) {
                EntryKind::Table(child) => table_paddr = child,
                EntryKind::Empty => match alloc_table::<H>() {
                    Ok(child) => {
                        table.publish(index, A::encode_table(child));
                        batch.table_linked();
                        linked[linked_count] = (table_paddr, index, child);
                        linked_count += 1;
                        table_paddr = child;
                    }
                    Err(error) => {
                        result = Err(error);
                        break;
                    }
                },
                EntryKind::Leaf { .. } | EntryKind::Reserved { .. } => {
                    result = Err(MappingError::AlreadyExists);
                    break;
                }
            }
        }
        if result.is_ok() {
            // SAFETY: as above, the level-0 table of `vaddr`.
            let table = unsafe { Table::new::<H>(table_paddr) };
            let index = table_index(vaddr, 0);
            result = if matches!(A::decode(table.load(index), 0), EntryKind::Empty) {
                match source.frame(vaddr, 0) {
                    Ok(Some(paddr)) => {
                        table.store(index, encode::<A>(paddr, flags, 0, self.global_leaves()));
                        batch.touch(vaddr, 0x1000);
                        Ok(())
                    }
                    Ok(None) => Err(MappingError::InvalidParam),
                    Err(error) => Err(error),
                }
            } else {
                Err(MappingError::AlreadyExists)
            };
        }
        if result.is_err() {
            // Unlink what this call linked (empty tables), lowest first.
            for &(parent, index, child) in linked[..linked_count].iter().rev() {
                // SAFETY: `parent` is a live table page of this table.
                unsafe { Table::new::<H>(parent) }.store(index, 0);
                batch.table_unlinked();
                batch.release(child);
            }
        }
        batch.finish();
        result
    }

    /// Unmaps `[start, end)` (validated), splitting huge entries at the bounds first; the frames
    /// of removed leaves go where `frames` says (to `sink` for [`LeafFrames::Returned`]), each
    /// after the flush that covers it. Holes are skipped.
    ///
    /// Fails only with `NoMemory` when a split needs a table page; nothing changed then.
    pub(crate) fn unmap_range(
        &mut self,
        start: usize,
        end: usize,
        owns_frames: LeafFrames,
        sink: Option<&mut dyn FnMut(PhysAddr)>,
    ) -> Result<(), MappingError> {
        let mut batch = self.batch();
        if let Some(sink) = sink {
            batch.set_sink(sink);
        }
        if self.global_in_range {
            batch.touch_global();
        }
        self.split_bounds(start, end, &mut batch)?;
        self.unmap_in(
            self.root,
            A::LEVELS - 1,
            start,
            end,
            owns_frames,
            &mut batch,
        );
        batch.finish();
        Ok(())
    }

    /// Gives every entry in `[start, end)` (validated) the flags `flags`, keeping its frame
    /// (PROT_NONE without access flags), after splitting huge entries at the bounds. Holes
    /// are skipped. With `sync_execute` (frames the kernel may have written, Alloc), a frame
    /// that becomes executable has its instruction cache synchronized first.
    ///
    /// Fails only with `NoMemory` when a split needs a table page; nothing changed then.
    pub(crate) fn protect_range(
        &mut self,
        start: usize,
        end: usize,
        flags: MappingFlags,
        sync_execute: bool,
        copy_on_write: bool,
    ) -> Result<(), MappingError> {
        let mut batch = self.batch();
        if self.global_in_range || !flags.contains(MappingFlags::USER) {
            batch.touch_global();
        }
        self.split_bounds(start, end, &mut batch)?;
        let top = A::LEVELS - 1;
        if A::BREAK_BEFORE_MAKE && flags.intersects(ACCESS_FLAGS) {
            // Break: live leaves whose memory type or user/kernel ownership (nG on AArch64)
            // changes become invalid (PROT_NONE keeps the frame), and the TLB is flushed before
            // the new entries are made below.
            let mut breaker = Break::<A> {
                kept: decoded_attributes::<A>(flags),
                broke: false,
                _arch: PhantomData,
            };
            self.rewrite_in(self.root, top, start, end, &mut batch, &mut breaker);
            if breaker.broke {
                batch.flush();
            }
        }
        let mut protect = Protect::<A> {
            flags,
            global: self.global_leaves(),
            copy_on_write: self
                .frames
                .filter(|_| copy_on_write && flags.contains(MappingFlags::WRITE)),
            _arch: PhantomData,
        };
        if sync_execute && flags.contains(MappingFlags::EXECUTE) {
            let mut protect = SyncExecutable::<A, H> {
                protect,
                _handler: PhantomData,
            };
            self.rewrite_in(self.root, top, start, end, &mut batch, &mut protect);
        } else {
            self.rewrite_in(self.root, top, start, end, &mut batch, &mut protect);
        }
        batch.finish();
        Ok(())
    }

    /// Whether the table linked at `index` of a table at `level` may be unlinked and freed when
    /// it becomes empty: every table but those of shared root slots (the kernel half, see
    /// [`SharedSlots`](crate::table::SharedSlots)), which stay for the lifetime of the sharing.
    #[inline(always)]
    pub(crate) fn may_unlink(&self, level: usize, index: usize) -> bool {
        level != A::LEVELS - 1 || !self.is_shared_slot(index)
    }

    /// Flushes the translation of one page after a spurious fault on a stale TLB entry. The
    /// stale entry may be a cached non-leaf entry (a table linked since), so the request says
    /// that tables changed (RISC-V then fences everything, see [`vmlayer_arch::TlbFlushRequest`]).
    pub(crate) fn flush_page(&self, vaddr: usize, global: bool, only_cpu: Option<usize>) {
        let mut batch = self.batch();
        if let Some(cpu) = only_cpu {
            batch.only_on(cpu);
        }
        batch.touch(vaddr & !0xfff, 0x1000);
        batch.table_linked();
        if global {
            batch.touch_global();
        }
        batch.finish();
    }

    #[expect(clippy::too_many_arguments, reason = "one recursive step of the walk")]
    fn map_in<S: FrameSource>(
        &self,
        table: PhysAddr,
        level: usize,
        start: usize,
        end: usize,
        flags: MappingFlags,
        source: &mut S,
        batch: &mut Batch<'_, A, H>,
    ) -> Result<(), Failure> {
        // SAFETY: `table` is the root or was reached through a table entry of this page table,
        // so it is a live table page; `&mut self` of the caller keeps it allocated.
        let table = unsafe { Table::new::<H>(table) };
        if level == 0 {
            return map_leaves::<A, S>(table, start, end, flags, source, batch);
        }
        let size = level_size(level);
        let mut vaddr = start;
        while vaddr < end {
            let next = chunk_end(vaddr, size, end);
            let index = table_index(vaddr, level);
            let child = match A::decode(table.load(index), level) {
                EntryKind::Leaf { .. } | EntryKind::Reserved { .. } => {
                    return Err(Failure {
                        error: MappingError::AlreadyExists,
                        at: vaddr,
                    });
                }
                EntryKind::Table(child) => child,
                EntryKind::Empty => {
                    if next - vaddr == size && level <= self.largest_leaf_level {
                        let frame = source
                            .frame(vaddr, level)
                            .map_err(|error| Failure { error, at: vaddr })?;
                        if let Some(paddr) = frame {
                            table.store(
                                index,
                                encode::<A>(paddr, flags, level, self.global_leaves()),
                            );
                            batch.touch(vaddr, size);
                            vaddr = next;
                            continue;
                        }
                    }
                    let child = alloc_table::<H>().map_err(|error| Failure { error, at: vaddr })?;
                    table.publish(index, A::encode_table(child));
                    batch.table_linked();
                    child
                }
            };
            if let Err(failure) = self.map_in(child, level - 1, vaddr, next, flags, source, batch) {
                // SAFETY: `child` is a live table page of this table.
                if self.may_unlink(level, index) && unsafe { Table::new::<H>(child) }.is_empty() {
                    table.store(index, 0);
                    batch.table_unlinked();
                    batch.release(child);
                }
                return Err(failure);
            }
            vaddr = next;
        }
        Ok(())
    }

    /// Clears every entry in `[start, end)`; leaves must not straddle the bounds (see
    /// [`Self::split_bounds`]). Frees tables that become empty.
    fn unmap_in(
        &self,
        table_paddr: PhysAddr,
        level: usize,
        start: usize,
        end: usize,
        owns_frames: LeafFrames,
        batch: &mut Batch<'_, A, H>,
    ) {
        // SAFETY: as in `map_in`.
        let table = unsafe { Table::new::<H>(table_paddr) };
        if level == 0 {
            // Recorded before the first release: a full batch flushes what is recorded.
            batch.touch(start, end - start);
            let slots = table.slots(table_index(start, 0), (end - start) >> 12);
            if owns_frames == LeafFrames::Borrowed {
                // Nothing to hand back: clear the slots (empty ones stay zero).
                for slot in slots {
                    slot.store(0, Ordering::Relaxed);
                }
                return;
            }
            for slot in slots {
                let entry = slot.load(Ordering::Relaxed);
                if entry == 0 {
                    continue;
                }
                slot.store(0, Ordering::Relaxed);
                if let EntryKind::Leaf { paddr, .. } | EntryKind::Reserved { paddr } =
                    A::decode(entry, 0)
                {
                    batch.release_leaf(paddr, owns_frames);
                }
            }
            return;
        }
        let size = level_size(level);
        let mut vaddr = start;
        while vaddr < end {
            let next = chunk_end(vaddr, size, end);
            let index = table_index(vaddr, level);
            match A::decode(table.load(index), level) {
                EntryKind::Empty => {}
                EntryKind::Leaf { paddr, .. } | EntryKind::Reserved { paddr } => {
                    debug_assert_eq!(next - vaddr, size, "unmap of a straddled block");
                    table.store(index, 0);
                    batch.touch(vaddr, size);
                    if owns_frames != LeafFrames::Borrowed {
                        for frame in 0..size >> 12 {
                            batch.release_leaf(paddr + (frame << 12), owns_frames);
                        }
                    }
                }
                EntryKind::Table(child) => {
                    self.unmap_in(child, level - 1, vaddr, next, owns_frames, batch);
                    // SAFETY: `child` is a live table page of this table.
                    let emptied =
                        next - vaddr == size || unsafe { Table::new::<H>(child) }.is_empty();
                    if emptied && self.may_unlink(level, index) {
                        table.store(index, 0);
                        batch.table_unlinked();
                        batch.release(child);
                    }
                }
            }
            vaddr = next;
        }
    }

    /// Replaces every entry in `[start, end)` that is not a table pointer by
    /// `rewrite.rewrite(entry, level)` where it returns `Some`; leaves must not straddle the
    /// bounds.
    fn rewrite_in(
        &self,
        table_paddr: PhysAddr,
        level: usize,
        start: usize,
        end: usize,
        batch: &mut Batch<'_, A, H>,
        rewrite: &mut impl Rewrite,
    ) {
        // SAFETY: as in `map_in`.
        let table = unsafe { Table::new::<H>(table_paddr) };
        if level == 0 {
            for slot in table.slots(table_index(start, 0), (end - start) >> 12) {
                if let Some(entry) = rewrite.rewrite(slot.load(Ordering::Relaxed), 0) {
                    slot.store(entry, Ordering::Relaxed);
                }
            }
            batch.touch(start, end - start);
            return;
        }
        let size = level_size(level);
        let mut vaddr = start;
        while vaddr < end {
            let next = chunk_end(vaddr, size, end);
            let index = table_index(vaddr, level);
            let old = table.load(index);
            if let EntryKind::Table(child) = A::decode(old, level) {
                self.rewrite_in(child, level - 1, vaddr, next, batch, rewrite);
            } else if let Some(entry) = rewrite.rewrite(old, level) {
                debug_assert_eq!(next - vaddr, size, "rewrite of a straddled block");
                table.store(index, entry);
                batch.touch(vaddr, size);
            }
            vaddr = next;
        }
    }
}

/// How [`PageTable::rewrite_in`] changes one entry (a trait, not a closure, so that the hot
/// loop over a leaf table inlines it).
trait Rewrite {
    /// The new value of `entry` (at `level`, not a table pointer), or `None` to keep it.
    fn rewrite(&mut self, entry: u64, level: usize) -> Option<u64>;
}

/// `flags` without `WRITE`, for a frame shared copy-on-write: still a present entry (`READ`
/// added where nothing else is left: a write-only page), so that its next write faults as a
/// permission fault that copies it, never as a PROT_NONE entry that refuses it. (No ISA can
/// express write-only anyway: each grants `READ` with `WRITE`.)
pub(crate) fn read_only(flags: MappingFlags) -> MappingFlags {
    let read_only = flags - MappingFlags::WRITE;
    if flags.contains(MappingFlags::WRITE) && !read_only.intersects(ACCESS_FLAGS) {
        read_only | MappingFlags::READ
    } else {
        read_only
    }
}

/// `protect`: every leaf and PROT_NONE entry gets `flags`, keeping its frame; with
/// `copy_on_write`, a frame other mappings share stays read-only (its first write copies it).
struct Protect<A> {
    flags: MappingFlags,
    /// Whether kernel leaves are global in this table (see [`encode`]).
    global: bool,
    copy_on_write: Option<&'static FrameTable>,
    _arch: PhantomData<A>,
}

impl<A: PagingArch> Rewrite for Protect<A> {
    #[inline(always)]
    fn rewrite(&mut self, entry: u64, level: usize) -> Option<u64> {
        match A::decode(entry, level) {
            EntryKind::Leaf { paddr, .. } | EntryKind::Reserved { paddr } => {
                let flags = match self.copy_on_write {
                    Some(frames) if frames.sharers(paddr) > 0 => read_only(self.flags),
                    _ => self.flags,
                };
                Some(encode::<A>(paddr, flags, level, self.global))
            }
            _ => None,
        }
    }
}

/// `protect` to executable flags of frames the kernel may have written (Alloc): a frame that
/// was not executable has its instruction cache synchronized before its new entry is written.
struct SyncExecutable<A, H> {
    protect: Protect<A>,
    _handler: PhantomData<fn() -> H>,
}

impl<A: PagingArch, H: PagingHandler> Rewrite for SyncExecutable<A, H> {
    fn rewrite(&mut self, entry: u64, level: usize) -> Option<u64> {
        let (paddr, was_executable) = match A::decode(entry, level) {
            EntryKind::Leaf { paddr, flags } => (paddr, flags.contains(MappingFlags::EXECUTE)),
            EntryKind::Reserved { paddr } => (paddr, false),
            _ => return None,
        };
        if !was_executable {
            vmlayer_arch::cache::sync_instruction_cache::<A>(
                H::phys_to_virt(paddr),
                level_size(level),
            );
        }
        self.protect.rewrite(entry, level)
    }
}

/// The break of break-before-make: a live leaf whose [`BREAK_ATTRIBUTES`] differ from `kept`
/// becomes PROT_NONE (invalid, frame kept); `broke` records that one did.
struct Break<A> {
    kept: MappingFlags,
    broke: bool,
    _arch: PhantomData<A>,
}

impl<A: PagingArch> Rewrite for Break<A> {
    #[inline(always)]
    fn rewrite(&mut self, entry: u64, level: usize) -> Option<u64> {
        match A::decode(entry, level) {
            EntryKind::Leaf { paddr, flags } if flags & BREAK_ATTRIBUTES != self.kept => {
                self.broke = true;
                Some(A::encode_reserved(paddr, level))
            }
            _ => None,
        }
    }
}

/// The attributes whose change on a live leaf needs break-before-make where the ISA requires
/// it (the Arm ARM: memory type and shareability, and global to non-global via `USER`).
const BREAK_ATTRIBUTES: MappingFlags = MappingFlags::USER
    .union(MappingFlags::DEVICE)
    .union(MappingFlags::UNCACHED);

/// The [`BREAK_ATTRIBUTES`] a leaf encoded with `flags` (which has an access flag) decodes to.
fn decoded_attributes<A: PagingArch>(flags: MappingFlags) -> MappingFlags {
    if let EntryKind::Leaf { flags: decoded, .. } =
        A::decode(A::encode_leaf(PhysAddr::from(0), flags, 0), 0)
    {
        decoded & BREAK_ATTRIBUTES
    } else {
        flags & BREAK_ATTRIBUTES
    }
}

/// Fills the level-0 entries of `[start, end)`: the hot loop of every map.
#[inline(always)]
fn map_leaves<A: PagingArch, S: FrameSource>(
    table: Table,
    start: usize,
    end: usize,
    flags: MappingFlags,
    source: &mut S,
    batch: &mut Batch<'_, A, impl PagingHandler>,
) -> Result<(), Failure> {
    let mut vaddr = start;
    let mut result = Ok(());
    for slot in table.slots(table_index(start, 0), (end - start) >> 12) {
        let entry = slot.load(Ordering::Relaxed);
        if entry != 0 && !matches!(A::decode(entry, 0), EntryKind::Empty) {
            result = Err(MappingError::AlreadyExists);
            break;
        }
        match source.frame(vaddr, 0) {
            Ok(Some(paddr)) => slot.store(
                encode::<A>(paddr, flags, 0, batch.global_leaves()),
                Ordering::Relaxed,
            ),
            Ok(None) => {
                result = Err(MappingError::InvalidParam);
                break;
            }
            Err(error) => {
                result = Err(error);
                break;
            }
        }
        vaddr += 0x1000;
    }
    batch.touch(start, vaddr - start);
    result.map_err(|error| Failure { error, at: vaddr })
}
