//! The mapping backends: how an area's pages get their frames.

use core::fmt;
use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::{MappingFlags, PagingHandler};
use vmlayer_arch::{PagingArch, level_size};

use vmlayer_areas::{MappingBackend, MappingResult, MemoryArea};

use crate::MappingError;
use crate::batch::LeafFrames;
use crate::fault::{FaultError, FaultResolution};
use crate::table::{PageTable, alloc_zeroed_frame};
use crate::walk::FrameSource;

/// How the pages of an area are backed. Used as the `B` of
/// [`MemorySet`](vmlayer_areas::MemorySet) by [`AddressSpace`](crate::AddressSpace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Virtual address `va` maps physical address `va - pa_va_offset` (kernel image, physical
    /// memory window, MMIO with [`MappingFlags::DEVICE`]). Uses 2 MiB / 1 GiB entries where the
    /// range and the offset allow; unmapping or protecting part of one splits it. The frames are
    /// not owned: unmapping frees nothing but emptied table pages. The offset is the same for
    /// every page, so splitting the area keeps it right.
    Linear {
        /// `va - pa`, modulo 2^64; a multiple of 4 KiB.
        pa_va_offset: usize,
    },
    /// Each page gets its own zeroed 4 KiB frame from the [`PagingHandler`], at map time if
    /// `populate`, else at the first fault. Frames are owned: unmap, clear and drop return
    /// every one; PROT_NONE keeps them with their data.
    Alloc {
        /// Allocate every frame when mapping (eager) instead of on fault (lazy).
        populate: bool,
    },
    /// Shared anonymous memory (`MAP_SHARED | MAP_ANONYMOUS`): zeroed frames allocated when
    /// the area is mapped (all of them, so that every sharer sees the same frame for every
    /// page), which [`fork`](crate::AddressSpace::fork) shares writable instead of copying:
    /// writes from either process are seen by both. Frames are counted in the space's
    /// [`FrameTable`](crate::FrameTable) and freed with their last mapping.
    Shared,
}

impl Backend {
    /// A Linear backend that maps `vaddr` to `paddr` (and the pages after it likewise).
    pub const fn linear_for(vaddr: VirtAddr, paddr: PhysAddr) -> Self {
        Self::Linear {
            pa_va_offset: vaddr.as_usize().wrapping_sub(paddr.as_usize()),
        }
    }

    /// The physical address a Linear backend maps `vaddr` to; `None` for Alloc.
    pub const fn linear_paddr(&self, vaddr: VirtAddr) -> Option<PhysAddr> {
        match *self {
            Self::Linear { pa_va_offset } => Some(PhysAddr::from_usize(
                vaddr.as_usize().wrapping_sub(pa_va_offset),
            )),
            Self::Alloc { .. } | Self::Shared => None,
        }
    }
}

/// Linear frames: `va - offset`, as a block when aligned.
pub(crate) struct LinearFrames {
    pub(crate) pa_va_offset: usize,
}

impl FrameSource for LinearFrames {
    #[inline(always)]
    fn frame(&mut self, vaddr: usize, level: usize) -> Result<Option<PhysAddr>, MappingError> {
        let paddr = vaddr.wrapping_sub(self.pa_va_offset);
        Ok((paddr & (level_size(level) - 1) == 0).then(|| PhysAddr::from(paddr)))
    }
}

/// Fresh zeroed 4 KiB frames from `H`, made coherent for instruction fetches when they are
/// mapped executable.
pub(crate) struct AllocFrames<H, A> {
    executable: bool,
    _marker: core::marker::PhantomData<fn() -> (H, A)>,
}

impl<H, A> AllocFrames<H, A> {
    /// A source of fresh frames for a mapping with `flags`.
    pub(crate) const fn new(flags: MappingFlags) -> Self {
        Self {
            executable: flags.contains(MappingFlags::EXECUTE),
            _marker: core::marker::PhantomData,
        }
    }
}

impl<H: PagingHandler, A: PagingArch> FrameSource for AllocFrames<H, A> {
    fn frame(&mut self, _vaddr: usize, level: usize) -> Result<Option<PhysAddr>, MappingError> {
        if level > 0 {
            return Ok(None);
        }
        let frame = alloc_zeroed_frame::<H>()?;
        if self.executable {
            // The zeroes were written through the data side: make them what instruction fetches
            // see before the entry makes the frame reachable.
            vmlayer_arch::cache::sync_instruction_cache::<A>(H::phys_to_virt(frame), 0x1000);
        }
        Ok(Some(frame))
    }
}

/// What an [`AddressSpace`](crate::AddressSpace) needs from its areas' backend beyond mapping,
/// unmapping and protecting ranges: filling a page on demand and naming itself in the maps
/// listing. [`Backend`] implements it for linear and anonymous memory; a kernel implements it
/// for its own kinds of area (shared memory, files, devices) over the page table's public
/// range operations ([`PageTable::map_frames`], [`PageTable::unmap_and_return`], ...), which
/// keep the flush and frame-release rules, and usually wraps [`Backend`] in an enum with a
/// `From<Backend>` conversion so that [`map_linear`](crate::AddressSpace::map_linear) and
/// [`map_alloc`](crate::AddressSpace::map_alloc) keep working.
pub trait AreaBackend<H: PagingHandler, A: PagingArch>:
    MappingBackend<MappingFlags, PageTable<H, A>>
{
    /// Maps the page at `page` (4 KiB aligned, inside `area`, not mapped) after a legal fault
    /// or a kernel access through the user-memory helpers found it missing (demand paging),
    /// with `area`'s flags.
    ///
    /// # Errors
    ///
    /// [`FaultError::NoMemory`], or [`FaultError::NotPopulatable`] (the default) for a backend
    /// that maps every page when the area is mapped: a missing page means the page table and
    /// the areas disagree.
    fn populate(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        page: VirtAddr,
        page_table: &mut PageTable<H, A>,
    ) -> Result<(), FaultError> {
        let _ = (area, page, page_table);
        Err(FaultError::NotPopulatable)
    }

    /// Gives `child` (a fresh table of a forked space) the mappings of `area`, which `parent`
    /// holds. The default maps the area again in the child with [`MappingBackend::map`]: right
    /// for memory that is not the space's own (devices, a file's pages mapped by `map`).
    ///
    /// # Errors
    ///
    /// As `map`. The child is dropped then; `parent` must be left as it was, or changed only in
    /// ways that keep it correct (entries made read-only for copy-on-write).
    fn fork(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        parent: &mut PageTable<H, A>,
        child: &mut PageTable<H, A>,
    ) -> MappingResult {
        let _ = parent;
        self.map(area.start(), area.size(), area.flags(), child)
    }

    /// Resolves a write fault on a present, read-only page of a writable `area` (copy-on-write
    /// after a fork). The default refuses it with [`FaultError::AccessDenied`].
    ///
    /// # Errors
    ///
    /// [`FaultError::AccessDenied`], or [`FaultError::NoMemory`] for a copy.
    fn write_fault(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        page: VirtAddr,
        page_table: &mut PageTable<H, A>,
    ) -> Result<FaultResolution, FaultError> {
        let _ = (area, page, page_table);
        Err(FaultError::AccessDenied)
    }

    /// Refuses `area` before anything changes, for a map that may replace what is there
    /// ([`Placement::Fixed`](crate::Placement::Fixed)): what `map` would refuse only after the
    /// area set unmapped the old areas (a physical range the CPU cannot address). Default:
    /// `Ok`.
    ///
    /// # Errors
    ///
    /// [`MappingError::InvalidParam`] (or what the backend's `map` would return up front).
    fn check(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        page_table: &PageTable<H, A>,
    ) -> MappingResult {
        let _ = (area, page_table);
        Ok(())
    }

    /// Writes what the maps listing shows for `area` after its permissions, e.g.
    /// `linear pa 0x80000000` or a file's name.
    ///
    /// # Errors
    ///
    /// The formatter's.
    fn describe(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result;
}

impl<H: PagingHandler, A: PagingArch> AreaBackend<H, A> for Backend {
    /// Linear: the physical range must be valid and addressable (`InvalidParam`).
    fn check(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        page_table: &PageTable<H, A>,
    ) -> MappingResult {
        match self {
            Self::Linear { pa_va_offset } => check_linear_paddr(
                page_table,
                area.start().as_usize(),
                area.size(),
                *pa_va_offset,
            ),
            Self::Alloc { .. } | Self::Shared => Ok(()),
        }
    }

    /// Linear: mapped again. Alloc: every populated page shared copy-on-write (both sides
    /// read-only, one more count per frame). Shared: every page shared writable.
    fn fork(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        parent: &mut PageTable<H, A>,
        child: &mut PageTable<H, A>,
    ) -> MappingResult {
        let (start, end) = checked_range::<A>(area.start(), area.size())?;
        let cow = match self {
            Self::Linear { .. } => return self.map(area.start(), area.size(), area.flags(), child),
            Self::Alloc { .. } => true,
            Self::Shared => false,
        };
        let frames = parent.frames.ok_or(MappingError::InvalidParam)?;
        parent.share_range(child, start, end, cow, frames)
    }

    /// Alloc: copy-on-write (a copy, or the last mapping made writable in place).
    fn write_fault(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        page: VirtAddr,
        page_table: &mut PageTable<H, A>,
    ) -> Result<FaultResolution, FaultError> {
        match self {
            Self::Alloc { .. } => page_table.break_cow(page.as_usize(), area.flags()),
            Self::Linear { .. } | Self::Shared => Err(FaultError::AccessDenied),
        }
    }

    /// A lazy Alloc page gets a fresh zeroed frame; a Linear area is always fully mapped.
    fn populate(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        page: VirtAddr,
        page_table: &mut PageTable<H, A>,
    ) -> Result<(), FaultError> {
        match self {
            Self::Alloc { .. } => {
                let mut frames = AllocFrames::<H, A>::new(area.flags());
                page_table
                    .map_page(page.as_usize(), area.flags(), &mut frames)
                    .map_err(|_| FaultError::NoMemory)
            }
            Self::Linear { .. } | Self::Shared => Err(FaultError::NotPopulatable),
        }
    }

    /// `linear pa <physical start>` or `alloc`.
    fn describe(
        &self,
        area: &MemoryArea<MappingFlags, Self>,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        match self.linear_paddr(area.start()) {
            Some(paddr) => write!(f, "linear pa {:#x}", paddr.as_usize()),
            None => f.write_str("alloc"),
        }
    }
}

/// Checks that `[start, start + size)` is a 4 KiB aligned, non-empty range the ISA can
/// translate, and returns it as numbers.
pub(crate) fn checked_range<A: PagingArch>(
    start: VirtAddr,
    size: usize,
) -> Result<(usize, usize), MappingError> {
    let start = start.as_usize();
    if start & 0xfff != 0 || size & 0xfff != 0 || size == 0 {
        return Err(MappingError::InvalidParam);
    }
    let end = start.checked_add(size).ok_or(MappingError::InvalidParam)?;
    let last = end - 1;
    if !A::is_valid_vaddr(start) || !A::is_valid_vaddr(last) || (start ^ last) >> A::VA_BITS != 0 {
        return Err(MappingError::InvalidParam);
    }
    Ok((start, end))
}

/// Checks that a Linear area's physical range is valid for the ISA's entries and addressable
/// by the CPU (an entry beyond the CPU's width has reserved bits set: on x86 every access
/// faults with `RSVD`, forever).
pub(crate) fn check_linear_paddr<H: PagingHandler, A: PagingArch>(
    page_table: &PageTable<H, A>,
    start: usize,
    size: usize,
    pa_va_offset: usize,
) -> Result<(), MappingError> {
    let paddr = start.wrapping_sub(pa_va_offset);
    let valid = pa_va_offset & 0xfff == 0
        && A::is_valid_paddr(paddr)
        && paddr.checked_add(size - 1).is_some_and(A::is_valid_paddr)
        && page_table.is_addressable(paddr, size);
    if valid {
        Ok(())
    } else {
        Err(MappingError::InvalidParam)
    }
}

impl<H: PagingHandler, A: PagingArch> MappingBackend<MappingFlags, PageTable<H, A>> for Backend {
    /// Equal flags and: two Linear areas with the same physical offset (contiguous physical
    /// memory), two Alloc areas that are both eager or both lazy (an eager area promises that
    /// every page is mapped), or two Shared areas.
    fn can_merge(
        &self,
        left: &vmlayer_areas::MemoryArea<MappingFlags, Self>,
        right: &vmlayer_areas::MemoryArea<MappingFlags, Self>,
    ) -> bool {
        left.flags() == right.flags()
            && match (left.backend(), right.backend()) {
                (Self::Linear { pa_va_offset: a }, Self::Linear { pa_va_offset: b }) => a == b,
                // Equal `populate` only: an eager area says every page is mapped.
                (Self::Alloc { populate: a }, Self::Alloc { populate: b }) => a == b,
                (Self::Shared, Self::Shared) => true,
                _ => false,
            }
    }

    /// Maps the range. Linear writes every entry (huge where possible); Alloc with `populate`
    /// allocates a zeroed frame per page, lazy Alloc leaves the range empty. On failure
    /// everything this call mapped is unmapped again and its frames are returned.
    fn map(
        &self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        page_table: &mut PageTable<H, A>,
    ) -> MappingResult {
        let (start_usize, end) = checked_range::<A>(start, size)?;
        match *self {
            Self::Linear { pa_va_offset } => {
                check_linear_paddr(page_table, start_usize, size, pa_va_offset)?;
                let mut source = LinearFrames { pa_va_offset };
                page_table.map_range(start_usize, end, flags, &mut source, false)
            }
            Self::Alloc { populate: true } => page_table.map_range(
                start_usize,
                end,
                flags,
                &mut AllocFrames::<H, A>::new(flags),
                true,
            ),
            Self::Alloc { populate: false } => Ok(()),
            Self::Shared => page_table.map_range(
                start_usize,
                end,
                flags,
                &mut AllocFrames::<H, A>::new(flags),
                true,
            ),
        }
    }

    /// Unmaps the range (holes are fine), splitting huge entries at its bounds; Alloc returns
    /// every frame, also of PROT_NONE pages. Fails only with `NoMemory` for a split, changing
    /// nothing.
    fn unmap(
        &self,
        start: VirtAddr,
        size: usize,
        page_table: &mut PageTable<H, A>,
    ) -> MappingResult {
        let (start, end) = checked_range::<A>(start, size)?;
        let frames = match self {
            Self::Alloc { .. } | Self::Shared => LeafFrames::Owned,
            Self::Linear { .. } => LeafFrames::Borrowed,
        };
        page_table.unmap_range(start, end, frames, None)
    }

    /// Changes the flags of every mapped page in the range, keeping the frames (flags without
    /// READ/WRITE/EXECUTE make them PROT_NONE). Not-yet-populated lazy pages stay empty and take
    /// the area's new flags when they fault in. Fails only with `NoMemory` for a split,
    /// changing nothing.
    fn protect(
        &self,
        start: VirtAddr,
        size: usize,
        new_flags: MappingFlags,
        page_table: &mut PageTable<H, A>,
    ) -> MappingResult {
        let (start, end) = checked_range::<A>(start, size)?;
        // Alloc frames may hold what the kernel wrote: synchronize the instruction cache for
        // those that become executable. Linear memory is the kernel's to manage.
        let sync_execute = !matches!(self, Self::Linear { .. });
        // A private frame another space shares (after fork) stays read-only: its first write
        // copies it.
        let copy_on_write = matches!(self, Self::Alloc { .. });
        page_table.protect_range(start, end, new_flags, sync_execute, copy_on_write)
    }

    /// Moves the entries (never the data; a huge entry as one where `to` is aligned for it).
    /// A Linear backend's offset moves with the range.
    fn relocate(
        &self,
        from: VirtAddr,
        to: VirtAddr,
        size: usize,
        page_table: &mut PageTable<H, A>,
    ) -> MappingResult<Self> {
        let (from_usize, _) = checked_range::<A>(from, size)?;
        let (to_usize, _) = checked_range::<A>(to, size)?;
        page_table.move_range(from_usize, to_usize, size)?;
        Ok(match *self {
            Self::Linear { pa_va_offset } => Self::Linear {
                pa_va_offset: pa_va_offset.wrapping_add(to_usize.wrapping_sub(from_usize)),
            },
            other => other,
        })
    }
}
