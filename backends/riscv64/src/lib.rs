//! The RISC-V backend of the paging layer: Sv39 (and Sv48) page-table entries, `sfence.vma`,
//! `satp` and page-fault decoding, implementing [`vmlayer_arch::PagingArch`] as [`Sv39`] and
//! [`Sv48`].
//!
//! Only what is RISC-V specific lives here; the walker, the mapping backends and the address
//! space are ISA-neutral (crate `vmlayer_paging`). The crate compiles to nothing on other architectures
//! (page_table_entry gates its RISC-V types); its tests run under qemu-user.
//!
//! - [`entry`]: [`MappingFlags`] ↔ PTE bits. A leaf always has `R` or `X` (never the
//!   `V = 1, R = W = X = 0` table pointer page_table_entry builds for PROT_NONE), write-only is
//!   granted read, and PROT_NONE is `V = 0` with the frame kept and a software marker.
//! - [`tlb`]: `sfence.vma` per page or all, by ASID or for every address space
//!   ([`tlb::flush_plan`]); [`satp`]: root switch with or without an ASID, which fails if the
//!   hart refuses the mode, and the ASIDLEN probe; [`cache`]: `fence.i` before new code runs.
//! - [`fault`]: `scause` + `stval` + `sstatus` → [`PageFaultInfo`].
//!
//! # ASIDs
//!
//! A user space may run with an ASID (as many bits as the hart keeps in `satp.ASID`, probed by
//! `satp::probe_asid_bits`): `PagingArch::activate_asid` writes `satp` with the ASID and no
//! fence (`satp::switch_keeping_asid`; `sfence.vma x0, x0` right after the write when a
//! rollover asks for it); `PagingArch::activate` (ASID 0) fences everything as before. The
//! space's leaves are then all non-global (`PagingArch::non_global` clears `G`: kernel leaves
//! of a user table too), and its flush requests fence by ASID (`sfence.vma va, asid` /
//! `x0, asid`, see [`tlb`]); the kernel space runs with ASID 0 and global kernel leaves, and a
//! request for it (ASID 0, or `global_changed`) fences with rs2 = x0 (every address space,
//! global entries included).
//!
//! # Example
//!
//! ```
//! # #[cfg(target_arch = "riscv64")] {
//! use vmlayer_arch::{EntryKind, PagingArch};
//! use vmlayer_riscv64::{MappingFlags, PhysAddr, Sv39};
//!
//! let frame = PhysAddr::from(0x8040_0000);
//! let flags = MappingFlags::READ | MappingFlags::WRITE | MappingFlags::USER;
//! let entry = Sv39::encode_leaf(frame, flags, 0);
//! assert_eq!(entry, 0x2010_00d7); // PPN 0x80400, V R W U A D
//! assert_eq!(Sv39::decode(entry, 0), EntryKind::Leaf { paddr: frame, flags });
//!
//! // PROT_NONE keeps the frame but is invalid to the hardware.
//! let none = Sv39::encode_reserved(frame, 1);
//! assert_eq!(none & 1, 0);
//! assert_eq!(Sv39::decode(none, 1), EntryKind::Reserved { paddr: frame });
//! # }
//! ```

#![cfg_attr(not(test), no_std)]
// page_table_entry defines the RISC-V entry type only when compiling for RISC-V; elsewhere the
// crate is empty so that a workspace-wide host build still succeeds.
#![cfg(target_arch = "riscv64")]

#[macro_use]
mod sequences;

pub mod cache;
pub mod entry;
pub mod fault;
pub mod satp;
pub mod tlb;

#[cfg(test)]
mod tests;

pub use memory_addr::{PhysAddr, VirtAddr};
pub use page_table_multiarch::MappingFlags;
pub use vmlayer_arch::{Access, PageFaultInfo};

use page_table_entry::riscv::Rv64PTE;
use page_table_multiarch::riscv::{Sv39MetaData, Sv48MetaData};
use vmlayer_arch::{EntryKind, PagingArch, TlbFlushRequest};

/// RISC-V Sv39: three levels, 39-bit virtual addresses, 4 KiB pages, 2 MiB and 1 GiB leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sv39;

/// RISC-V Sv48: four levels, 48-bit virtual addresses (same entry format as [`Sv39`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sv48;

/// Implements the contract for one translation mode; the entry format is the same for both.
macro_rules! impl_paging_arch {
    ($arch:ty, $name:literal, $metadata:ty, $mode:expr) => {
        // SAFETY: `entry::decode` inverts the encoders exactly (see the `entry` module and its
        // exhaustive tests, and `conformance::assert_conforms` in this crate's tests): leaves
        // always carry `R` or `X` and are never taken for table pointers, the reserved entry has
        // `V = 0` with a non-zero marker, and a table pointer is refused at level 0.
        unsafe impl PagingArch for $arch {
            const NAME: &'static str = $name;
            type MetaData = $metadata;
            type Entry = Rv64PTE;

            /// 56 ([`cache::PHYS_ADDR_BITS`]): the PPN width of the entry format.
            fn phys_addr_bits() -> usize {
                cache::PHYS_ADDR_BITS
            }

            fn encode_leaf(paddr: PhysAddr, flags: MappingFlags, _level: usize) -> u64 {
                entry::encode_leaf(paddr, flags)
            }

            fn encode_table(paddr: PhysAddr) -> u64 {
                entry::encode_table(paddr)
            }

            /// Clears `G`.
            fn non_global(entry: u64) -> u64 {
                entry & !entry::GLOBAL
            }

            /// ASIDLEN, probed by writing every `satp.ASID` bit (`satp::probe_asid_bits`);
            /// hosted builds: 0.
            fn asid_bits() -> u32 {
                #[cfg(target_os = "none")]
                return satp::probe_asid_bits();
                #[cfg(not(target_os = "none"))]
                0
            }

            fn encode_reserved(paddr: PhysAddr, _level: usize) -> u64 {
                entry::encode_reserved(paddr)
            }

            fn decode(entry: u64, level: usize) -> EntryKind {
                entry::decode(entry, level)
            }

            /// [`tlb::flush_plan`]: a full fence when tables changed, else by address.
            fn flush_tlb_local(request: &TlbFlushRequest) {
                tlb::flush_local(request);
            }

            /// `fence.i` on this hart ([`cache::fence_i`]); the range needs no operand.
            fn sync_instruction_cache(kernel_vaddr: VirtAddr, size: usize) {
                let _ = (kernel_vaddr, size);
                cache::fence_i();
            }

            /// Writes `satp` and reads it back: `Err(ModeNotSupported)` (old `satp`
            /// restored) if the hart did not take the mode, see [`satp::switch_to`].
            #[cfg(target_os = "none")]
            unsafe fn activate(root_paddr: PhysAddr) -> Result<(), vmlayer_arch::ActivateError> {
                // SAFETY: forwarded from this function's contract.
                unsafe { satp::switch_to($mode, root_paddr) }
            }

            /// ASID 0: [`Self::activate`]. Otherwise `satp` with the ASID and no fence
            /// (`satp::switch_keeping_asid`), then `sfence.vma x0, x0` if `flush_local`.
            #[cfg(target_os = "none")]
            unsafe fn activate_asid(
                root_paddr: PhysAddr,
                asid: u16,
                flush_local: bool,
            ) -> Result<(), vmlayer_arch::ActivateError> {
                if asid == 0 {
                    // SAFETY: forwarded from this function's contract.
                    return unsafe { satp::switch_to($mode, root_paddr) };
                }
                // SAFETY: forwarded from this function's contract (with `flush_local`, the
                // fence below drops what the hart cached for the ASID before any access
                // through the new root).
                unsafe { satp::switch_keeping_asid($mode, root_paddr, asid) }?;
                if flush_local {
                    // After the write, as Linux's `set_mm_asid` does: until it, the old root
                    // could refill translations under the old ASID, which a rollover may have
                    // given to another space.
                    tlb::flush_all();
                }
                Ok(())
            }

            #[cfg(target_os = "none")]
            fn current_root() -> PhysAddr {
                satp::root_of_satp(satp::read_satp())
            }
        }
    };
}

impl_paging_arch!(
    Sv39,
    "riscv64-sv39",
    Sv39MetaData<VirtAddr>,
    satp::TranslationMode::Sv39
);
impl_paging_arch!(
    Sv48,
    "riscv64-sv48",
    Sv48MetaData<VirtAddr>,
    satp::TranslationMode::Sv48
);
