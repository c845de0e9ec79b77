//! ISA-neutral page tables and address spaces for `no_std` kernels.
//!
//! One implementation for x86_64, AArch64 and RISC-V: the ISA crate ([`Arch`], picked by cargo
//! feature or by the build target) only encodes entries, flushes TLBs and switches roots (see
//! [`vmlayer_arch`]). This crate holds everything else:
//!
//! - [`PageTable`]: a hardware page table walked range by range (one visit per table, a tight
//!   loop per leaf table), with 2 MiB / 1 GiB leaves, splitting of huge leaves on partial
//!   unmap / protect, reclamation of emptied table pages, and rollback of failed maps;
//! - [`Backend`]: the [`Linear`](Backend::Linear) and [`Alloc`](Backend::Alloc) mapping
//!   backends, implementing [`vmlayer_areas::MappingBackend`];
//! - [`AddressSpace`]: a [`vmlayer_areas::MemorySet`] plus its page table: `map_linear`,
//!   `map_alloc`, `unmap`, `protect`, `handle_page_fault` (typed: [`FaultResolution`] or
//!   [`FaultError`]), printed like `/proc/self/maps`.
//!
//! PROT_NONE (flags without `READ`, `WRITE`, `EXECUTE`) is an entry the hardware treats as
//! invalid that keeps its frame, so protecting back restores the same frames and data. Every
//! change to a table is flushed through [`vmlayer_arch::tlb`] (a kernel-installed shootdown hook,
//! else the local flush; a no-op in hosted tests) before released frames return to the
//! allocator, and table memory is only ever read and written through atomic accesses (the MMU
//! and other CPUs share it).
//!
//! # Example
//!
//! Frames come from a [`PagingHandler`]; here from the host heap, with physical = virtual:
//!
//! ```
//! use vmlayer_paging::{AddressSpace, Access, FaultError, FaultResolution, MappingFlags, PageFaultInfo};
//! use vmlayer_paging::{PagingHandler, PhysAddr, VirtAddr};
//! use std::alloc::{Layout, alloc, dealloc};
//!
//! struct HeapFrames;
//! impl PagingHandler for HeapFrames {
//!     fn alloc_frames(count: usize, align: usize) -> Option<PhysAddr> {
//!         // This crate asks for 4 KiB-aligned frames only; refusing other alignments keeps
//!         // `dealloc_frames` using the very layout `alloc` was given.
//!         if align != 4096 || count == 0 {
//!             return None;
//!         }
//!         let layout = Layout::from_size_align(count * 4096, 4096).ok()?;
//!         // SAFETY: the layout has a non-zero size.
//!         let pointer = unsafe { alloc(layout) };
//!         (!pointer.is_null()).then(|| PhysAddr::from(pointer as usize))
//!     }
//!     fn dealloc_frames(paddr: PhysAddr, count: usize) {
//!         let layout = Layout::from_size_align(count * 4096, 4096).unwrap();
//!         // SAFETY: allocated by `alloc_frames` with this layout.
//!         unsafe { dealloc(paddr.as_usize() as *mut u8, layout) }
//!     }
//!     fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
//!         VirtAddr::from(paddr.as_usize())
//!     }
//! }
//!
//! let mut space = AddressSpace::<HeapFrames>::try_new()?;
//! let rw = MappingFlags::READ | MappingFlags::WRITE;
//!
//! // A 2 MiB aligned physical window becomes one 2 MiB entry.
//! space.map_linear(VirtAddr::from(0x4000_0000), PhysAddr::from(0x8020_0000), 0x20_0000, rw)?;
//! let translation = space.query(VirtAddr::from(0x4000_1234)).unwrap();
//! assert_eq!(translation.paddr, PhysAddr::from(0x8020_1234));
//! assert_eq!(translation.page_size, vmlayer_paging::PageSize::Size2M);
//!
//! // A lazy heap: nothing is mapped until the first legal access faults.
//! space.map_alloc(VirtAddr::from(0x1000_0000), 0x4000, rw, false)?;
//! assert_eq!(space.query(VirtAddr::from(0x1000_0000)), None);
//! let write = PageFaultInfo::new(VirtAddr::from(0x1000_0010), Access::Write, false);
//! assert_eq!(space.handle_page_fault(write), Ok(FaultResolution::Populated));
//! assert_eq!(space.query(VirtAddr::from(0x1000_0000)).unwrap().flags & rw, rw);
//! let fetch = PageFaultInfo::new(VirtAddr::from(0x1000_0010), Access::Execute, false);
//! assert_eq!(space.handle_page_fault(fetch), Err(FaultError::AccessDenied), "not executable");
//!
//! assert_eq!(
//!     space.to_string(),
//!     "0000000010000000-0000000010004000 rw-p alloc\n\
//!      0000000040000000-0000000040200000 rw-p linear pa 0x80200000\n"
//! );
//! # Ok::<(), vmlayer_paging::MappingError>(())
//! ```

#![no_std]

extern crate alloc;

mod address_space;
mod arch_select;
mod backend;
mod batch;
mod fault;
mod ranges;
mod split;
mod table;
mod user_access;
mod walk;

#[cfg(test)]
extern crate std;
#[cfg(test)]
mod tests;

pub use memory_addr::{PhysAddr, VirtAddr, VirtAddrRange};
pub use page_table_multiarch::{MappingFlags, PageSize, PagingHandler};
pub use vmlayer_arch::{
    Access, FaultCause, PageFaultInfo, PagingArch, TlbFlush, TlbFlushHook, TlbFlushRequest,
    set_tlb_flush_hook,
};
pub use vmlayer_areas::{MappingError, MappingResult, MemorySet};

pub use self::address_space::{AddressSpace, Area, AreaSet, Placement};
pub use self::arch_select::{Arch, isa};
pub use self::backend::{AreaBackend, Backend};
pub use self::fault::{FaultError, FaultResolution};
pub use self::table::{PageTable, Translation};
