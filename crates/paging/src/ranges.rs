//! The page table's public range operations: what a kernel's own [`AreaBackend`] (shared,
//! file-backed or device memory) builds on. They keep the rules the built-in backends keep:
//! one walk per operation, huge entries split where a range cuts them, emptied tables
//! reclaimed, every change flushed through the table's flush hook, and frames handed back only
//! after the flush that covers them.
//!
//! [`AreaBackend`]: crate::AreaBackend

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::{MappingFlags, PagingHandler};
use vmlayer_arch::{PagingArch, table_index};

use crate::MappingError;
use crate::backend::{LinearFrames, check_linear_paddr, checked_range};
use crate::batch::LeafFrames;
use crate::table::PageTable;
use crate::walk::FrameSource;

impl<H: PagingHandler, A: PagingArch> PageTable<H, A> {
    /// `checked_range`, and for a table that links root slots another table created (a user
    /// space's kernel half), a range clear of them: a backend of a user space must not reach
    /// the kernel's tables.
    fn checked_own_range(
        &self,
        vaddr: VirtAddr,
        size: usize,
    ) -> Result<(usize, usize), MappingError> {
        let (start, end) = checked_range::<A>(vaddr, size)?;
        if !self.shares_own_slots && self.shared.is_some() {
            let top = A::LEVELS - 1;
            let slots = table_index(start, top)..=table_index(end - 1, top);
            if slots.into_iter().any(|index| self.is_shared_slot(index)) {
                return Err(MappingError::InvalidParam);
            }
        }
        Ok((start, end))
    }

    /// Maps `[vaddr, vaddr + size)` to the physical range `[paddr, paddr + size)` with `flags`,
    /// using 2 MiB / 1 GiB entries where the addresses and size allow (up to
    /// [`Self::set_largest_page_size`]). The frames are not the table's: unmapping them with
    /// [`Self::unmap`] frees nothing.
    ///
    /// # Errors
    ///
    /// [`MappingError::InvalidParam`] for an unaligned, empty or untranslatable range, a range
    /// in the kernel half a user space shares, or a physical range the CPU cannot address; [`MappingError::AlreadyExists`] if a page is
    /// mapped already; [`MappingError::NoMemory`] for a table page. Nothing changes on error.
    pub fn map_contiguous(
        &mut self,
        vaddr: VirtAddr,
        paddr: PhysAddr,
        size: usize,
        flags: MappingFlags,
    ) -> Result<(), MappingError> {
        let (start, end) = self.checked_own_range(vaddr, size)?;
        let pa_va_offset = start.wrapping_sub(paddr.as_usize());
        check_linear_paddr(self, start, size, pa_va_offset)?;
        self.map_range(start, end, flags, &mut LinearFrames { pa_va_offset }, false)
    }

    /// Maps each 4 KiB page of `[vaddr, vaddr + size)` to the frame `frame_of(page)` returns
    /// (a page-cache page, a shared-memory frame). The frames stay the caller's; unmap them with
    /// [`Self::unmap_and_return`] to learn when the hardware can no longer reach them. Frames
    /// mapped executable have their instruction caches synchronized first.
    ///
    /// # Errors
    ///
    /// As [`Self::map_contiguous`], and whatever `frame_of` returns; a frame that is not 4 KiB
    /// aligned or not addressable is [`MappingError::InvalidParam`]. On error every page this
    /// call mapped is unmapped again and flushed before it returns; the frames stay the
    /// caller's.
    pub fn map_frames(
        &mut self,
        vaddr: VirtAddr,
        size: usize,
        flags: MappingFlags,
        frame_of: impl FnMut(VirtAddr) -> Result<PhysAddr, MappingError>,
    ) -> Result<(), MappingError> {
        let (start, end) = self.checked_own_range(vaddr, size)?;
        let mut source = CallerFrames::<_, H, A> {
            frame_of,
            phys_addr_bits: self.phys_addr_bits,
            executable: flags.contains(MappingFlags::EXECUTE),
            _marker: core::marker::PhantomData,
        };
        self.map_range(start, end, flags, &mut source, false)
    }

    /// Unmaps `[vaddr, vaddr + size)` (holes are fine), splitting huge entries it cuts. The
    /// frames are not the table's (as [`Self::map_contiguous`] mapped them): nothing is handed
    /// back.
    ///
    /// # Errors
    ///
    /// [`MappingError::InvalidParam`] for a bad range; [`MappingError::NoMemory`] when a huge
    /// entry must be split and no table page is left. Nothing changes on error.
    pub fn unmap(&mut self, vaddr: VirtAddr, size: usize) -> Result<(), MappingError> {
        let (start, end) = self.checked_own_range(vaddr, size)?;
        self.unmap_range(start, end, LeafFrames::Borrowed, None)
    }

    /// Unmaps `[vaddr, vaddr + size)` like [`Self::unmap`] and calls `release` with the
    /// physical address of every 4 KiB frame that a removed entry mapped (PROT_NONE entries
    /// included), each only **after** the TLB flush that covers it has returned: from then on no
    /// CPU can reach the frame through this table, and the caller may drop its reference.
    ///
    /// # Errors
    ///
    /// As [`Self::unmap`]; `release` is not called then.
    pub fn unmap_and_return(
        &mut self,
        vaddr: VirtAddr,
        size: usize,
        mut release: impl FnMut(PhysAddr),
    ) -> Result<(), MappingError> {
        let (start, end) = self.checked_own_range(vaddr, size)?;
        self.unmap_range(start, end, LeafFrames::Returned, Some(&mut release))
    }

    /// Gives every mapped page of `[vaddr, vaddr + size)` the flags `flags`, keeping its frame
    /// (flags without `READ`, `WRITE`, `EXECUTE` make it PROT_NONE), splitting huge entries it
    /// cuts. Frames that become executable have their instruction caches synchronized first.
    ///
    /// # Errors
    ///
    /// As [`Self::unmap`].
    pub fn protect(
        &mut self,
        vaddr: VirtAddr,
        size: usize,
        flags: MappingFlags,
    ) -> Result<(), MappingError> {
        let (start, end) = self.checked_own_range(vaddr, size)?;
        self.protect_range(start, end, flags, true, false)
    }
}

/// Frames from the caller, one per 4 KiB page, checked before they are mapped.
struct CallerFrames<F, H, A> {
    frame_of: F,
    phys_addr_bits: usize,
    executable: bool,
    _marker: core::marker::PhantomData<fn() -> (H, A)>,
}

impl<F, H, A> FrameSource for CallerFrames<F, H, A>
where
    F: FnMut(VirtAddr) -> Result<PhysAddr, MappingError>,
    H: PagingHandler,
    A: PagingArch,
{
    fn frame(&mut self, vaddr: usize, level: usize) -> Result<Option<PhysAddr>, MappingError> {
        if level > 0 {
            return Ok(None);
        }
        let frame = (self.frame_of)(VirtAddr::from(vaddr))?;
        let paddr = frame.as_usize();
        let addressable = paddr.checked_add(0xfff).is_some_and(|last| {
            self.phys_addr_bits >= usize::BITS as usize || last >> self.phys_addr_bits == 0
        });
        if paddr & 0xfff != 0 || !A::is_valid_paddr(paddr) || !addressable {
            return Err(MappingError::InvalidParam);
        }
        if self.executable {
            vmlayer_arch::cache::sync_instruction_cache::<A>(H::phys_to_virt(frame), 0x1000);
        }
        Ok(Some(frame))
    }
}
