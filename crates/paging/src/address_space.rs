//! The address space: an area set, its page table and page-fault handling.

use alloc::vec::Vec;
use core::fmt;

use memory_addr::{PhysAddr, VirtAddr, VirtAddrRange};
use page_table_multiarch::{MappingFlags, PagingHandler};
use vmlayer_arch::{
    ACCESS_FLAGS, Access, FaultCause, PageFaultInfo, PagingArch, TlbFlushHook, table_index,
};
use vmlayer_areas::{MemoryArea, MemorySet};

use crate::backend::{AreaBackend, Backend, checked_range};
use crate::fault::{FaultError, FaultResolution};
use crate::frames::FrameTable;
use crate::table::{PageTable, Translation};
use crate::{Arch, MappingError, MappingResult};

/// The root slots (indices of the top-level table) that `[start, end)` (non-empty) covers.
fn root_slots<A: PagingArch>(start: usize, end: usize) -> core::ops::Range<usize> {
    let top = A::LEVELS - 1;
    table_index(start, top)..table_index(end - 1, top) + 1
}

/// Where [`AddressSpace::mremap`] may put the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remap {
    /// Only in place (no `MREMAP_MAYMOVE`): shrink, or grow into free addresses after it.
    InPlace,
    /// In place if it can grow there, else anywhere free in the space (`MREMAP_MAYMOVE`).
    MayMove,
    /// At this address, unmapping what was there (`MREMAP_MAYMOVE | MREMAP_FIXED`).
    Fixed(VirtAddr),
}

/// What [`AddressSpace::map`] does where the new area overlaps existing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Refuse with [`MappingError::AlreadyExists`] (`MAP_FIXED_NOREPLACE`).
    NoReplace,
    /// Unmap what the range held first (`MAP_FIXED`).
    Fixed,
}

/// The area set type an [`AddressSpace`] uses.
pub type AreaSet<H, A = Arch, B = Backend> = MemorySet<MappingFlags, PageTable<H, A>, B>;

/// One area of an [`AddressSpace`].
pub type Area<B = Backend> = MemoryArea<MappingFlags, B>;

/// A virtual address space: areas with Linux `mmap` rules ([`MemorySet`]) kept in agreement
/// with a hardware [`PageTable`] of ISA `A` whose frames come from `H`.
///
/// Three kinds, all bounded by their [range](Self::range): a plain space ([`Self::try_new`],
/// every translatable address), the kernel's space ([`Self::new_kernel`]) and user spaces
/// created from it ([`Self::new_user`]), which share the kernel half without copying it.
///
/// After any error the areas and the page table still agree. Dropping it unmaps every area
/// (returning every Alloc frame) and frees the table pages it owns.
pub struct AddressSpace<H: PagingHandler, A: PagingArch = Arch, B: AreaBackend<H, A> = Backend> {
    pub(crate) areas: AreaSet<H, A, B>,
    pub(crate) page_table: PageTable<H, A>,
    /// Every area lies inside it; operations outside it are refused.
    range: VirtAddrRange,
    /// Made with [`Self::new_kernel`].
    kernel: bool,
    /// Per CPU, the last fault answered [`FaultResolution::Spurious`] (CPU, then page, access,
    /// user mode), until that CPU's next fault or a change of the table. (Several CPUs may
    /// take the same fault at once; only one CPU taking it twice means the hardware disagrees.)
    pub(crate) last_spurious: Vec<(usize, (usize, Access, bool))>,
}

impl<H: PagingHandler, A: PagingArch, B: AreaBackend<H, A>> AddressSpace<H, A, B> {
    /// An empty address space with a fresh root table.
    ///
    /// # Errors
    ///
    /// [`MappingError::NoMemory`] if `H` has no frame for the root.
    pub fn try_new() -> Result<Self, MappingError> {
        Ok(Self {
            areas: MemorySet::new(),
            page_table: PageTable::try_new()?,
            range: VirtAddrRange::new(VirtAddr::from(0), VirtAddr::from(usize::MAX)),
            kernel: false,
            last_spurious: Vec::new(),
        })
    }

    /// The kernel's address space, holding kernel mappings in `range` only (typically the
    /// upper half). User spaces made from it with [`Self::new_user`] share its mappings.
    ///
    /// Where one root translates both halves (x86_64, RISC-V), a table is linked into every
    /// root slot `range` covers now (one 4 KiB page per 512 GiB on x86_64, per 1 GiB on Sv39,
    /// per 512 GiB on Sv48), so that those root entries never change: a kernel mapping made at
    /// any time reaches every user space. Huge leaves in the root itself are therefore never
    /// used for this space (1 GiB leaves on Sv39). On AArch64 the kernel space is the table of
    /// `TTBR1_EL1` and user spaces are those of `TTBR0_EL1`: nothing is linked.
    ///
    /// # Errors
    ///
    /// [`MappingError::InvalidParam`] for a range that is empty, not 4 KiB aligned or not
    /// translatable (on AArch64: not inside one half); [`MappingError::NoMemory`].
    pub fn new_kernel(range: VirtAddrRange) -> Result<Self, MappingError> {
        let (start, end) = checked_range::<A>(range.start, range.size())?;
        let mut space = Self::try_new()?;
        space.range = range;
        space.kernel = true;
        space.page_table.tlb = alloc::sync::Arc::new(crate::cpu::TableTlb::new(true));
        if !A::ONE_HALF_PER_TABLE {
            space
                .page_table
                .share_root_slots(root_slots::<A>(start, end))?;
        }
        Ok(space)
    }

    /// A user address space whose areas lie in `range`, sharing the kernel half of `kernel` (a
    /// space made with [`Self::new_kernel`]): on x86_64 and RISC-V its root links the kernel's
    /// shared root slots, on AArch64 it is a separate table for `TTBR0_EL1`. It costs one table
    /// page (the root) until something is mapped, and dropping it never touches the kernel's
    /// tables: they are freed with the last space that shares them. It inherits the kernel's
    /// flush hook and largest page size.
    ///
    /// # Errors
    ///
    /// [`MappingError::InvalidParam`] for a range that is empty, not 4 KiB aligned or not
    /// translatable, that shares a root slot with the kernel's range (x86_64, RISC-V) or that
    /// lies in the kernel's half (AArch64), or if `kernel` is not a kernel space;
    /// [`MappingError::NoMemory`] for the root.
    pub fn new_user<K: AreaBackend<H, A>>(
        kernel: &AddressSpace<H, A, K>,
        range: VirtAddrRange,
    ) -> Result<Self, MappingError> {
        let (start, end) = checked_range::<A>(range.start, range.size())?;
        let slots = root_slots::<A>(start, end);
        if A::ONE_HALF_PER_TABLE {
            let top_bit = |address: usize| address >> (usize::BITS - 1);
            if kernel.is_unbounded() || top_bit(start) == top_bit(kernel.range.start.as_usize()) {
                return Err(MappingError::InvalidParam);
            }
        } else {
            let shared = kernel.page_table.shared.as_ref();
            let kernel_slots = shared.map(|shared| shared.slots.clone());
            match kernel_slots {
                Some(kernel_slots)
                    if slots.end <= kernel_slots.start || kernel_slots.end <= slots.start => {}
                _ => return Err(MappingError::InvalidParam),
            }
        }
        let mut space = Self::try_new()?;
        space.range = range;
        space.page_table.link_shared_slots(&kernel.page_table);
        space.page_table.flush_hook = kernel.page_table.flush_hook;
        space.page_table.largest_leaf_level = kernel.page_table.largest_leaf_level;
        space.page_table.frames = kernel.page_table.frames;
        Ok(space)
    }

    /// Counts shared frames in `frames` from now on: what [`Self::fork`] and
    /// [`Backend::Shared`] areas need. Set it on the kernel space before creating user spaces
    /// (they inherit it, as do forks); a space must not change tables while it maps frames
    /// (the counts of its frames would be lost).
    ///
    /// # Errors
    ///
    /// [`MappingError::BadState`] if the space already counts in another table and maps
    /// anything.
    pub fn set_frame_table(&mut self, frames: &'static FrameTable) -> MappingResult {
        let same = self
            .page_table
            .frames
            .is_some_and(|current| core::ptr::eq(current, frames));
        if !same && self.page_table.frames.is_some() && !self.areas.is_empty() {
            return Err(MappingError::BadState);
        }
        self.page_table.frames = Some(frames);
        Ok(())
    }

    /// `fork`: a new space with the same range, areas and settings (flush hook, largest page
    /// size, area limit, frame table) whose kernel half is shared like any user space's, and
    /// whose pages are this space's: private anonymous pages shared copy-on-write (both sides
    /// read-only until the first write, which copies; the last sharer writes in place), shared
    /// anonymous pages ([`Backend::Shared`]) shared writable, linear areas mapped again, lazy
    /// pages still lazy, PROT_NONE pages shared as they are. The cost is proportional to the
    /// populated pages: unpopulated ranges are never walked, and no data is copied. This space
    /// is flushed for the pages it made read-only.
    ///
    /// # Errors
    ///
    /// [`MappingError::InvalidParam`] without a [frame table](Self::set_frame_table), or for a
    /// kernel space (made with [`Self::new_kernel`]: its root slots are shared by every space);
    /// [`MappingError::NoMemory`] for a table page of the child or a frame shared `u32::MAX`
    /// times. Nothing of the child remains then, and this space is unchanged except that some
    /// of its pages may be read-only (their next write makes them writable again, in place).
    pub fn fork(&mut self) -> Result<Self, MappingError> {
        // A kernel space is not forked: its root slots are the ones every space shares.
        if self.page_table.frames.is_none() || self.kernel {
            return Err(MappingError::InvalidParam);
        }
        let mut child = Self {
            areas: self.areas.duplicate(),
            page_table: PageTable::try_new()?,
            range: self.range,
            kernel: false,
            last_spurious: Vec::new(),
        };
        child.page_table.link_shared_slots(&self.page_table);
        child.page_table.flush_hook = self.page_table.flush_hook;
        child.page_table.largest_leaf_level = self.page_table.largest_leaf_level;
        child.page_table.frames = self.page_table.frames;
        self.last_spurious.clear();
        for area in self.areas.iter() {
            area.backend()
                .fork(area, &mut self.page_table, &mut child.page_table)?;
        }
        Ok(child)
    }

    /// The range every area of this space lies in: the user range of a user space, the kernel
    /// range of a kernel space, every address for a plain one.
    pub fn range(&self) -> VirtAddrRange {
        self.range
    }

    fn is_unbounded(&self) -> bool {
        self.range.start.as_usize() == 0 && self.range.end.as_usize() == usize::MAX
    }

    /// Fails with [`MappingError::InvalidParam`] unless `[vaddr, vaddr + size)` lies in the
    /// space's range (an empty range passes: it changes nothing).
    fn check_in_range(&self, vaddr: VirtAddr, size: usize) -> MappingResult {
        let start = vaddr.as_usize();
        let inside = size == 0
            || start.checked_add(size).is_some_and(|end| {
                start >= self.range.start.as_usize() && end <= self.range.end.as_usize()
            });
        if inside {
            Ok(())
        } else {
            Err(MappingError::InvalidParam)
        }
    }

    /// Adds `area` (any [`Backend`], e.g. `Area::new(vaddr, size, flags, Backend::Alloc {
    /// populate: false })`), as `mmap` with `MAP_FIXED_NOREPLACE` or `MAP_FIXED` does. It merges
    /// with adjacent areas of equal flags and a compatible backend.
    ///
    /// # Errors
    ///
    /// As [`Self::map_linear`] and [`Self::map_alloc`]; with [`Placement::Fixed`] a failure
    /// after the replaced range was unmapped leaves it unmapped (as Linux), and the areas say so.
    pub fn map(&mut self, area: Area<B>, placement: Placement) -> MappingResult {
        checked_range::<A>(area.start(), area.size())?;
        self.check_in_range(area.start(), area.size())?;
        self.check_half(area.start())?;
        let fixed = placement == Placement::Fixed;
        if fixed {
            // Before the area set unmaps what the map replaces: nothing changes on a refusal.
            // (Without replacement the area set's own checks come first: an overlap is
            // `AlreadyExists` whatever the backend would say.)
            area.backend().check(&area, &self.page_table)?;
        }
        self.last_spurious.clear();
        self.with_global_hint(area.start(), area.size(), |areas, page_table| {
            areas.map(area, page_table, fixed)
        })
    }

    /// Unmaps every page in `[vaddr, vaddr + size)`, shrinking or splitting the areas it cuts
    /// (and huge entries). Holes are skipped.
    ///
    /// # Errors
    ///
    /// [`MappingError::InvalidParam`] for an unaligned range; [`MappingError::NoMemory`] when
    /// a huge entry must be split and no table page is left (that area is unchanged).
    pub fn unmap(&mut self, vaddr: VirtAddr, size: usize) -> MappingResult {
        self.check_in_range(vaddr, size)?;
        self.last_spurious.clear();
        self.with_global_hint(vaddr, size, |areas, page_table| {
            areas.unmap(vaddr, size, page_table)
        })
    }

    /// Gives every page in `[vaddr, vaddr + size)` the flags `flags` (taken as they are:
    /// include `USER`, `DEVICE`, ... as needed; [`Self::mprotect`] changes only the access
    /// flags). Flags without `READ`, `WRITE` or `EXECUTE` make the pages PROT_NONE: every access
    /// faults, frames and data are kept, and a later `protect` restores them. Holes are
    /// skipped; an area whose flags are already `flags` is left alone (never split), and areas
    /// left with equal flags merge again.
    ///
    /// Where the ISA requires break-before-make ([`PagingArch::BREAK_BEFORE_MAKE`], AArch64),
    /// pages whose memory type (`DEVICE`, `UNCACHED`) or `USER` changes are briefly invalid
    /// (and flushed) before their new entries are written; an access in that window faults
    /// and, once this call returns, [`Self::handle_page_fault`] lets it retry.
    ///
    /// # Errors
    ///
    /// As [`Self::unmap`]; on error every area keeps its old flags.
    pub fn protect(&mut self, vaddr: VirtAddr, size: usize, flags: MappingFlags) -> MappingResult {
        self.protect_with(vaddr, size, |old| (old != flags).then_some(flags))
    }

    /// `mprotect`: sets the access flags (`READ`, `WRITE`, `EXECUTE`; none for PROT_NONE) of
    /// every page in `[vaddr, vaddr + size)` and keeps the others (`USER`, `DEVICE`, ...).
    /// Unlike [`Self::protect`], the range must be mapped without holes, as Linux requires.
    ///
    /// # Errors
    ///
    /// [`MappingError::NotMapped`] (`ENOMEM`) if a page of the range is in no area, and
    /// [`MappingError::InvalidParam`] for flags other than access flags; nothing changes then.
    /// Otherwise as [`Self::protect`].
    pub fn mprotect(
        &mut self,
        vaddr: VirtAddr,
        size: usize,
        access: MappingFlags,
    ) -> MappingResult {
        if !ACCESS_FLAGS.contains(access) {
            return Err(MappingError::InvalidParam);
        }
        self.check_in_range(vaddr, size)?;
        let start = vaddr.as_usize();
        let end = start.checked_add(size).ok_or(MappingError::InvalidParam)?;
        let mut next = start;
        while next < end {
            let area = self
                .areas
                .find(VirtAddr::from(next))
                .ok_or(MappingError::NotMapped)?;
            next = area.end().as_usize();
        }
        self.protect_with(vaddr, size, |old| {
            let new = (old - ACCESS_FLAGS) | access;
            (new != old).then_some(new)
        })
    }

    /// Changes the flags of every page in `[vaddr, vaddr + size)` as `update(old flags)` says
    /// for each area: `None` leaves it alone (no split), `Some(new)` gives it `new`. Holes are
    /// skipped. See [`Self::protect`] for PROT_NONE, break-before-make and merging.
    ///
    /// # Errors
    ///
    /// As [`Self::protect`].
    pub fn protect_with(
        &mut self,
        vaddr: VirtAddr,
        size: usize,
        update: impl Fn(MappingFlags) -> Option<MappingFlags>,
    ) -> MappingResult {
        self.check_in_range(vaddr, size)?;
        self.last_spurious.clear();
        self.with_global_hint(vaddr, size, |areas, page_table| {
            areas.protect(vaddr, size, update, page_table)
        })
    }

    /// Resizes in place the area that starts at `vaddr` to `new_size` bytes: `brk`, stack
    /// growth, `mremap` without moving. Areas merge, so the area may start below where the
    /// caller mapped it (a heap merged with the data segment): find it with
    /// [`Self::find_area`], or grow with `map_alloc` of the pages above and shrink with
    /// `unmap`, as [`Self::mremap`] and a `brk` do. Growing maps the new pages as the area's backend does
    /// (lazily for a lazy Alloc area), shrinking unmaps the tail (freeing its frames after the
    /// flush), and 0 unmaps the area.
    ///
    /// # Errors
    ///
    /// [`MappingError::NotMapped`] if no area starts at `vaddr`; [`MappingError::AlreadyExists`]
    /// if growing needs addresses another area holds; [`MappingError::InvalidParam`] for an
    /// unaligned size or a new end outside the space's range; `NoMemory`. Nothing changes then.
    pub fn resize_area(&mut self, vaddr: VirtAddr, new_size: usize) -> MappingResult {
        self.check_in_range(vaddr, new_size)?;
        self.last_spurious.clear();
        let old_size = self.areas.find(vaddr).map_or(0, |area| area.size());
        self.with_global_hint(vaddr, old_size.max(new_size), |areas, page_table| {
            areas.resize(vaddr, new_size, page_table)
        })
    }

    /// `mremap`: resizes `[old, old + old_size)`, which must lie inside one area, to
    /// `new_size` bytes and returns where it is now. Shrinking unmaps the tail in place; growing
    /// extends it in place when the addresses after it are free and it ends its area; else,
    /// as `how` allows, the range moves: its entries move (never the data, never a frame copy;
    /// a huge entry as one entry where the new address is aligned for it), then it grows at the
    /// new place. The old addresses fault afterwards.
    ///
    /// # Errors
    ///
    /// - [`MappingError::InvalidParam`]: unaligned addresses or sizes, a zero `new_size`, a
    ///   fixed destination that overlaps the old range or leaves the space's range.
    /// - [`MappingError::NotMapped`] (`EFAULT` in Linux): the old range is not inside one area.
    /// - [`MappingError::NoMemory`]: it cannot grow in place and may not move, no free range is
    ///   large enough, or no table page is left.
    ///
    /// Both ranges are as they were on any error, with three exceptions, in which the areas and
    /// the page table still agree: with [`Remap::Fixed`] the destination's old mappings are
    /// gone (as Linux unmaps them first); if a moved range must then shrink and the unmap of
    /// its tail needs a table page there is none of, it stays moved; and if growing at the new
    /// place fails, the range is moved back, and should even that fail, that error is returned
    /// with the range at the new place.
    pub fn mremap(
        &mut self,
        old: VirtAddr,
        old_size: usize,
        new_size: usize,
        how: Remap,
    ) -> Result<VirtAddr, MappingError> {
        let start = old.as_usize();
        let aligned = start.is_multiple_of(0x1000)
            && old_size.is_multiple_of(0x1000)
            && new_size.is_multiple_of(0x1000);
        if new_size == 0 || !aligned {
            return Err(MappingError::InvalidParam);
        }
        self.check_in_range(old, old_size)?;
        let old_end = start
            .checked_add(old_size)
            .ok_or(MappingError::InvalidParam)?;
        let area = self.areas.find(old).ok_or(MappingError::NotMapped)?;
        let (area_start, area_end) = (area.start().as_usize(), area.end().as_usize());
        if old_size == 0 {
            return Err(MappingError::InvalidParam);
        }
        if old_end > area_end {
            return Err(MappingError::NotMapped);
        }
        self.last_spurious.clear();
        if let Remap::InPlace | Remap::MayMove = how {
            if new_size <= old_size {
                self.unmap(VirtAddr::from(start + new_size), old_size - new_size)?;
                return Ok(old);
            }
            let grown = start
                .checked_add(new_size)
                .ok_or(MappingError::InvalidParam)?;
            let room = old_end == area_end
                && self.check_in_range(old, new_size).is_ok()
                && !self.areas.overlaps(VirtAddrRange::new(
                    VirtAddr::from(old_end),
                    VirtAddr::from(grown),
                ));
            if room {
                self.resize_area(VirtAddr::from(area_start), grown - area_start)?;
                return Ok(old);
            }
            if how == Remap::InPlace {
                return Err(MappingError::NoMemory);
            }
        }
        let target = match how {
            Remap::Fixed(target) => {
                self.check_in_range(target, new_size)?;
                let target_start = target.as_usize();
                if !target_start.is_multiple_of(0x1000)
                    || (target_start < old_end && start < target_start + new_size)
                {
                    return Err(MappingError::InvalidParam);
                }
                self.unmap(target, new_size)?;
                target
            }
            _ => self
                .find_free_area(old, new_size, 0x1000)
                .ok_or(MappingError::NoMemory)?,
        };
        let moved = old_size.min(new_size);
        self.with_global_hint(old, old_size, |areas, page_table| {
            areas.relocate(old, moved, target, page_table)
        })?;
        if old_size > new_size {
            self.unmap(VirtAddr::from(start + new_size), old_size - new_size)?;
        } else if new_size > old_size {
            let target_area = self.areas.find(target).map(|area| area.start());
            let area_start = target_area.ok_or(MappingError::BadState)?;
            let grown = target.as_usize() + new_size - area_start.as_usize();
            if let Err(error) = self.resize_area(area_start, grown) {
                // Put the range back where it was, so that the error changes nothing.
                self.with_global_hint(target, moved, |areas, page_table| {
                    areas.relocate(target, moved, old, page_table)
                })?;
                return Err(error);
            }
        }
        Ok(target)
    }

    /// Limits the number of areas (Linux's `vm.max_map_count`); an operation that would
    /// exceed it fails with [`MappingError::NoMemory`] and changes nothing.
    pub fn set_max_areas(&mut self, max_areas: usize) {
        self.areas.set_max_areas(max_areas);
    }

    /// Runs an unmap or protect of `[vaddr, vaddr + size)` telling the walker whether the range
    /// may hold global (kernel, non-`USER`) leaves, from the flags of the areas it overlaps.
    fn with_global_hint(
        &mut self,
        vaddr: VirtAddr,
        size: usize,
        operation: impl FnOnce(&mut AreaSet<H, A, B>, &mut PageTable<H, A>) -> MappingResult,
    ) -> MappingResult {
        let range = VirtAddrRange::new(vaddr, vaddr.as_usize().saturating_add(size).into());
        self.page_table.global_in_range = self
            .areas
            .iter_range(range)
            .any(|area| !area.flags().contains(MappingFlags::USER));
        let result = operation(&mut self.areas, &mut self.page_table);
        self.page_table.global_in_range = true;
        result
    }

    /// Unmaps every area.
    ///
    /// # Errors
    ///
    /// None in practice (whole areas never need splits); a backend error stops it with the
    /// remaining areas intact.
    pub fn clear(&mut self) -> MappingResult {
        self.last_spurious.clear();
        self.areas.clear(&mut self.page_table)
    }

    /// Handles a page fault: `Ok` if the access may now be retried, else why not.
    ///
    /// - A legal access to an unpopulated Alloc page gets a fresh zeroed frame mapped with the
    ///   area's flags: [`FaultResolution::Populated`].
    /// - A legal access to a page the table already allows (a stale TLB entry, another CPU was
    ///   first, a break-before-make window that closed) flushes that page:
    ///   [`FaultResolution::Spurious`] (the flush request names only `fault.cpu`). The same
    ///   fault again on the same CPU, with no change to the table and no other fault of that
    ///   CPU in between, is [`FaultError::Repeated`]: the hardware disagrees with the table,
    ///   and answering "retry" again would loop forever. Other CPUs taking the same fault at
    ///   the same time (they all raced for the page) are each answered `Spurious` once.
    ///
    /// # Errors
    ///
    /// A [`FaultError`] saying why the access is refused: no area, the area's permissions, a
    /// user access to a kernel area, a kernel instruction fetch from a user page, a kernel
    /// access to a user page while the CPU forbids it (RISC-V `SUM`, Arm PAN, x86 SMAP: see
    /// [`PageFaultInfo::user_memory_access`]), no memory, a corrupt table (x86 `RSVD`). Nothing
    /// changes in the page table then.
    pub fn handle_page_fault(
        &mut self,
        fault: PageFaultInfo,
    ) -> Result<FaultResolution, FaultError> {
        let last_spurious = self
            .last_spurious
            .iter()
            .position(|&(cpu, _)| cpu == fault.cpu)
            .map(|index| self.last_spurious.swap_remove(index).1);
        if fault.cause == FaultCause::ReservedBit {
            return Err(FaultError::CorruptTable);
        }
        let area = self.areas.find(fault.address).ok_or(FaultError::NoArea)?;
        let flags = area.flags();
        let user_page = flags.contains(MappingFlags::USER);
        if fault.user && !user_page {
            return Err(FaultError::KernelArea);
        }
        if !flags.contains(fault.access.required_flag()) {
            return Err(FaultError::AccessDenied);
        }
        if !fault.user && user_page {
            // The kernel never executes user pages (PXN / SMEP / RISC-V S-mode), and touches
            // them only while the CPU allows it: populating or "retrying" such an access would
            // only fault again, forever.
            if fault.access == Access::Execute {
                return Err(FaultError::KernelExecutesUserPage);
            }
            if !fault.user_memory_access {
                return Err(FaultError::UserMemoryBlocked);
            }
        }
        let page = fault.address.as_usize() & !0xfff;
        if let Some(translation) = self.page_table.query(VirtAddr::from(page)) {
            if !translation.flags.contains(fault.required_flags()) {
                // A present, read-only page of a writable area: copy-on-write after a fork.
                let copy_on_write = fault.access == Access::Write
                    && !translation.is_prot_none()
                    && !translation.flags.contains(MappingFlags::WRITE);
                if copy_on_write {
                    let resolution = area.backend().write_fault(
                        area,
                        VirtAddr::from(page),
                        &mut self.page_table,
                    );
                    // The entry changed (and on a break-before-make ISA was invalid for a
                    // moment): another CPU's fault on it is not a repeat.
                    self.last_spurious.clear();
                    return resolution;
                }
                return Err(FaultError::AccessDenied);
            }
            let key = (page, fault.access, fault.user);
            if last_spurious == Some(key) {
                return Err(FaultError::Repeated);
            }
            // Only the faulting CPU holds the stale entry.
            self.page_table
                .flush_page(page, !user_page, Some(fault.cpu));
            self.last_spurious.push((fault.cpu, key));
            return Ok(FaultResolution::Spurious);
        }
        let resolution = area
            .backend()
            .populate(area, VirtAddr::from(page), &mut self.page_table)
            .map(|()| FaultResolution::Populated);
        self.last_spurious.clear();
        resolution
    }

    /// The physical address of the root table, for `satp` / `TTBR0_EL1` / `CR3` (AArch64 kernel
    /// space: `TTBR1_EL1`).
    pub fn root_paddr(&self) -> PhysAddr {
        self.page_table.root_paddr()
    }

    /// What the page table holds at `vaddr` (`None` if nothing is mapped, or on AArch64 if
    /// `vaddr` is in the other half than the areas; PROT_NONE pages are found with empty
    /// flags).
    pub fn query(&self, vaddr: VirtAddr) -> Option<Translation> {
        self.check_in_range(vaddr, 1).ok()?;
        self.check_half(vaddr).ok()?;
        self.page_table.query(vaddr)
    }

    /// Where the ISA translates the two halves through separate tables
    /// ([`PagingArch::ONE_HALF_PER_TABLE`], AArch64), fails with
    /// [`MappingError::InvalidParam`] if `vaddr` is in the other half than the areas (an
    /// address there would alias one of theirs in this table).
    fn check_half(&self, vaddr: VirtAddr) -> MappingResult {
        if !A::ONE_HALF_PER_TABLE {
            return Ok(());
        }
        let Some(first) = self.areas.iter().next() else {
            return Ok(());
        };
        let top_bit = |address: VirtAddr| address.as_usize() >> (usize::BITS - 1);
        if top_bit(first.start()) != top_bit(vaddr) {
            return Err(MappingError::InvalidParam);
        }
        Ok(())
    }

    /// The area containing `vaddr`.
    pub fn find_area(&self, vaddr: VirtAddr) -> Option<&Area<B>> {
        self.areas.find(vaddr)
    }

    /// The areas in address order.
    pub fn areas(&self) -> impl Iterator<Item = &Area<B>> {
        self.areas.iter()
    }

    /// The lowest free, `align`-aligned range of `size` bytes at or above `hint` inside the
    /// space's [range](Self::range) (else below `hint`), as [`MemorySet::find_free_area`].
    pub fn find_free_area(&self, hint: VirtAddr, size: usize, align: usize) -> Option<VirtAddr> {
        self.areas.find_free_area(hint, size, self.range, align)
    }

    /// The page table (for lookups and statistics).
    pub fn page_table(&self) -> &PageTable<H, A> {
        &self.page_table
    }

    /// Replaces the TLB flush hook of this address space only (see
    /// [`PageTable::set_tlb_flush_hook`]).
    pub fn set_tlb_flush_hook(&mut self, hook: Option<TlbFlushHook>) {
        self.page_table.set_tlb_flush_hook(hook);
    }

    /// Limits the Linear backend's leaves (see [`PageTable::set_largest_page_size`]).
    ///
    /// # Errors
    ///
    /// [`MappingError::InvalidParam`] for a size the ISA has no leaf for.
    pub fn set_largest_page_size(
        &mut self,
        largest: page_table_multiarch::PageSize,
    ) -> MappingResult {
        self.page_table.set_largest_page_size(largest)
    }
}

/// The built-in backends, for every address space whose backend type can hold them (the default
/// [`Backend`], or a kernel's own enum with a `From<Backend>` conversion).
impl<H: PagingHandler, A: PagingArch, B: AreaBackend<H, A> + From<Backend>> AddressSpace<H, A, B> {
    /// Maps `[vaddr, vaddr + size)` to `[paddr, paddr + size)` with `flags` (a Linear area),
    /// using 2 MiB / 1 GiB entries where `vaddr`, `paddr` and `size` allow.
    ///
    /// # Errors
    ///
    /// - [`MappingError::InvalidParam`]: an address or the size is not 4 KiB aligned, the size
    ///   is zero, a range is not translatable / addressable on this ISA, or (AArch64) `vaddr`
    ///   is in the other half of the address space than the existing areas.
    /// - [`MappingError::AlreadyExists`]: the range overlaps an area.
    /// - [`MappingError::NoMemory`]: no frame for a table page.
    ///
    /// Nothing changes on error.
    pub fn map_linear(
        &mut self,
        vaddr: VirtAddr,
        paddr: PhysAddr,
        size: usize,
        flags: MappingFlags,
    ) -> MappingResult {
        if paddr.as_usize() & 0xfff != 0 {
            return Err(MappingError::InvalidParam);
        }
        self.check_in_range(vaddr, size)?;
        self.check_half(vaddr)?;
        let area = MemoryArea::new(
            vaddr,
            size,
            flags,
            B::from(Backend::linear_for(vaddr, paddr)),
        );
        self.last_spurious.clear();
        self.areas.map_noreplace(area, &mut self.page_table)
    }

    /// Maps `[vaddr, vaddr + size)` with fresh zeroed frames (an Alloc area): all of them now
    /// if `populate`, else each on its first legal access ([`Self::handle_page_fault`]).
    ///
    /// # Errors
    ///
    /// As [`Self::map_linear`]; with `populate`, `NoMemory` also when the frames run out, and
    /// every frame taken so far is returned.
    pub fn map_alloc(
        &mut self,
        vaddr: VirtAddr,
        size: usize,
        flags: MappingFlags,
        populate: bool,
    ) -> MappingResult {
        checked_range::<A>(vaddr, size)?;
        self.check_in_range(vaddr, size)?;
        self.check_half(vaddr)?;
        let area = MemoryArea::new(vaddr, size, flags, B::from(Backend::Alloc { populate }));
        self.last_spurious.clear();
        self.areas.map_noreplace(area, &mut self.page_table)
    }
}

impl<H: PagingHandler, A: PagingArch, B: AreaBackend<H, A>> Drop for AddressSpace<H, A, B> {
    fn drop(&mut self) {
        // Whole areas never need a split, so this cannot fail; if a backend ever did, the frames
        // of the areas left would leak rather than be freed while mapped.
        let _ = self.areas.clear(&mut self.page_table);
    }
}

/// Prints one line per area, like `/proc/self/maps`:
/// `start-end rwxp kind`, e.g. `0000000000400000-0000000000401000 r-xp linear pa 0x80000000`.
impl<H: PagingHandler, A: PagingArch, B: AreaBackend<H, A>> fmt::Display for AddressSpace<H, A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for area in self.areas.iter() {
            let flags = area.flags();
            let bit = |flag, c| if flags.contains(flag) { c } else { '-' };
            write!(
                f,
                "{:016x}-{:016x} {}{}{}p ",
                area.start().as_usize(),
                area.end().as_usize(),
                bit(MappingFlags::READ, 'r'),
                bit(MappingFlags::WRITE, 'w'),
                bit(MappingFlags::EXECUTE, 'x'),
            )?;
            area.backend().describe(area, f)?;
            for (flag, name) in [
                (MappingFlags::USER, " user"),
                (MappingFlags::DEVICE, " device"),
                (MappingFlags::UNCACHED, " uncached"),
            ] {
                if flags.contains(flag) {
                    f.write_str(name)?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl<H: PagingHandler, A: PagingArch, B: AreaBackend<H, A>> fmt::Debug for AddressSpace<H, A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressSpace")
            .field("arch", &A::NAME)
            .field("root", &self.root_paddr())
            .field("areas", &self.areas.len())
            .finish()
    }
}
