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
//!   `map_alloc`, `map` (`MAP_FIXED` / `MAP_FIXED_NOREPLACE`), `unmap`, `protect`, `mprotect`,
//!   `resize_area`, areas that merge, `handle_page_fault` (typed: [`FaultResolution`] or
//!   [`FaultError`], with `errno` and `si_code`), printed like `/proc/self/maps`;
//! - kernel and user spaces: [`AddressSpace::new_kernel`] and [`AddressSpace::new_user`]
//!   share the kernel half without copying it, and every space is bounded by its
//!   [range](AddressSpace::range);
//! - user memory without `unsafe` in the kernel: [`AddressSpace::read_user`],
//!   [`write_user`](AddressSpace::write_user), [`load`](AddressSpace::load),
//!   [`populate`](AddressSpace::populate), [`translate_user`](AddressSpace::translate_user);
//! - `fork` with copy-on-write: [`AddressSpace::fork`] over a [`FrameTable`] of reference
//!   counts (private pages shared read-only until written, [`Backend::Shared`] pages shared
//!   writable), and [`AddressSpace::mremap`], which moves entries, never data;
//! - open backends: a kernel's own [`AreaBackend`] (shared memory, files, devices) over the
//!   page table's public range operations ([`PageTable::map_frames`],
//!   [`PageTable::unmap_and_return`], ...), which keep the flush and frame-release rules.
//!
//! PROT_NONE (flags without `READ`, `WRITE`, `EXECUTE`) is an entry the hardware treats as
//! invalid that keeps its frame, so protecting back restores the same frames and data. Every
//! change to a table is flushed through [`vmlayer_arch::tlb`] (a kernel-installed shootdown hook,
//! else the local flush; a no-op in hosted tests) before released frames return to the
//! allocator, and table memory is only ever read and written through atomic accesses (the MMU
//! and other CPUs share it).
//!
//! What every entry point answers to bad input, per ISA, is tabulated in the repository's
//! `docs/bad-input.md` (a test computes the table, so it cannot drift from the code).
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
//!
//! # Processes
//!
//! The flow of a kernel with processes: one kernel space, user spaces that share its half, a
//! loader, faults and system calls that touch user memory, exit. (A kernel switches to a
//! space with `PagingArch::activate(space.root_paddr())`; the host cannot.)
//!
//! ```
//! # use std::alloc::{Layout, alloc, dealloc};
//! # use vmlayer_paging::{PagingHandler, PhysAddr, VirtAddr};
//! # struct Frames;
//! # impl PagingHandler for Frames {
//! #     fn alloc_frames(count: usize, align: usize) -> Option<PhysAddr> {
//! #         if align != 4096 || count == 0 { return None; }
//! #         let layout = Layout::from_size_align(count * 4096, 4096).ok()?;
//! #         // SAFETY: non-zero size.
//! #         let pointer = unsafe { alloc(layout) };
//! #         (!pointer.is_null()).then(|| PhysAddr::from(pointer as usize))
//! #     }
//! #     fn dealloc_frames(paddr: PhysAddr, count: usize) {
//! #         let layout = Layout::from_size_align(count * 4096, 4096).unwrap();
//! #         // SAFETY: allocated by `alloc_frames` with this layout.
//! #         unsafe { dealloc(paddr.as_usize() as *mut u8, layout) }
//! #     }
//! #     fn phys_to_virt(paddr: PhysAddr) -> VirtAddr { VirtAddr::from(paddr.as_usize()) }
//! # }
//! use vmlayer_paging::{Access, AddressSpace, Arch, FaultError, FaultResolution, MappingFlags};
//! use vmlayer_paging::{PageFaultInfo, PagingArch, VirtAddrRange};
//!
//! let (r, w, x, user) = (MappingFlags::READ, MappingFlags::WRITE, MappingFlags::EXECUTE,
//!                        MappingFlags::USER);
//! // Boot: the kernel's space holds the upper half (here its first 1 GiB).
//! let half = 1usize << (Arch::VA_BITS - 1); // the size of each half
//! let upper = half.wrapping_neg();
//! let kernel_range = VirtAddrRange::from_start_size(VirtAddr::from(upper), 0x4000_0000);
//! let kernel = AddressSpace::<Frames>::new_kernel(kernel_range)?;
//!
//! // Create a process and load its program: the loader writes read-only and executable pages.
//! let user_range = VirtAddrRange::new(VirtAddr::from(0x1000), VirtAddr::from(half));
//! let mut process = AddressSpace::<Frames>::new_user(&kernel, user_range)?;
//! let text = VirtAddr::from(0x40_0000);
//! process.map_alloc(text, 0x1000, user | r | x, false)?;
//! process.load(text, &[0x13, 0, 0, 0]).expect("inside the text area");
//! let data = VirtAddr::from(0x50_0000);
//! process.map_alloc(data, 0x1000, user | r | w, false)?;
//!
//! // A first store from user mode faults: the page is populated and the store retried.
//! let store = PageFaultInfo::new(VirtAddr::from(0x50_0010), Access::Write, true);
//! assert_eq!(process.handle_page_fault(store), Ok(FaultResolution::Populated));
//! // A store to the text is refused: deliver SIGSEGV with this si_code.
//! let bad = PageFaultInfo::new(text, Access::Write, true);
//! assert_eq!(process.handle_page_fault(bad).map_err(FaultError::segv_code), Err(Some(2)));
//!
//! // A system call copies from user memory; a bad pointer is EFAULT, never a kernel fault.
//! process.write_user(VirtAddr::from(0x50_0010), b"hello").expect("writable");
//! let mut buffer = [0; 5];
//! process.read_user(VirtAddr::from(0x50_0010), &mut buffer).expect("readable");
//! assert_eq!(&buffer, b"hello");
//! let kernel_pointer = VirtAddr::from(upper);
//! assert_eq!(process.read_user(kernel_pointer, &mut buffer).map_err(FaultError::errno), Err(14));
//!
//! // Exit: dropping the space returns every frame and table page it owns; the kernel's stay.
//! drop(process);
//! # Ok::<(), vmlayer_paging::MappingError>(())
//! ```
//!
//! # Several CPUs
//!
//! - Each CPU switches through its own [`CpuContext`] (and every CPU calls
//!   [`CpuContext::join_kernel`] once at bring-up): each table then knows the CPUs that may
//!   cache it and its ASID ([`asid::AsidAllocator`], one per machine, as wide as
//!   `PagingArch::asid_bits` says), so switching spaces flushes nothing.
//! - Every change sends **one** [`TlbFlushRequest`] per operation to the flush hook, naming the
//!   ASID and exactly those CPUs ([`TlbFlushRequest::cpus`]); the hook reaches them (x86 IPIs,
//!   RISC-V SBI RFENCE, AArch64 broadcast `TLBI …IS`) and returns once all completed; only then
//!   do the released frames go back to the allocator.
//! - The kernel serializes the calls that take `&mut AddressSpace` with one lock per space;
//!   faults from several CPUs in one space are then correct ([`PageFaultInfo::cpu`] tells
//!   them apart), and other CPUs may run user code in the space meanwhile. The whole model is
//!   in `ARCHITECTURE.md` ("Concurrency model").

#![no_std]

extern crate alloc;

mod address_space;
mod arch_select;
pub mod asid;
mod backend;
mod batch;
mod cpu;
mod fault;
mod frames;
mod moving;
mod ranges;
mod share;
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
    Access, ActivateError, CpuMask, CpuSet, EntryKind, FaultCause, InstructionSyncHook, MAX_CPUS,
    PageFaultInfo, PagingArch, TlbFlush, TlbFlushHook, TlbFlushRequest, cache,
    set_instruction_sync_hook, set_tlb_flush_hook,
};
pub use vmlayer_areas::{MappingError, MappingResult, MemorySet};

pub use self::address_space::{AddressSpace, Area, AreaSet, Placement, Remap};
pub use self::arch_select::{Arch, isa};
pub use self::backend::{AreaBackend, Backend};
pub use self::cpu::{CpuContext, SwitchError, SwitchPlan};
pub use self::fault::{FaultError, FaultResolution};
pub use self::frames::FrameTable;
pub use self::table::{PageTable, Translation};
