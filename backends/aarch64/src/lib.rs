//! The AArch64 backend of the paging layer: VMSAv8-64 stage-1 descriptors (4 KiB granule,
//! 48-bit virtual and physical addresses, 4 levels), `TLBI`, `TTBR0_EL1`/`TTBR1_EL1` and
//! `ESR_EL1`/`FAR_EL1` decoding, implementing [`vmlayer_arch::PagingArch`] as [`AArch64`].
//!
//! Only what is AArch64 specific lives here; the walker, the mapping backends and the address
//! space are ISA-neutral (crate `vmlayer_paging`). The crate compiles to nothing on other architectures
//! (page_table_entry gates its AArch64 types); its tests run under qemu-user.
//!
//! - [`entry`]: [`MappingFlags`] ↔ descriptor bits: kernel pages `UXN`, user pages `PXN` and
//!   `nG`, `AF` always set, memory type through `MAIR_EL1` = [`entry::MAIR_VALUE`], and
//!   PROT_NONE as an invalid descriptor that keeps the frame.
//! - [`tlb`]: `TLBI` by ASID or for every ASID, broadcast or on this CPU, with the barriers
//!   around it; [`registers`]: TTBR switch (with an ASID or flushing) and the kernel-half story.
//! - [`fault`]: `ESR_EL1` + `FAR_EL1` + `SPSR_EL1` → [`PageFaultInfo`].
//! - [`cache`]: the `DC CVAU` / `IC IVAU` sequence before new code runs, line sizes from
//!   `CTR_EL0`; [`cpu`]: the physical-address width from `ID_AA64MMFR0_EL1.PARange` and the
//!   ASID width from `ID_AA64MMFR0_EL1.ASIDBits` and `TCR_EL1.AS`.
//!
//! # ASIDs
//!
//! A user space may run with an ASID (8 or 16 bits, [`cpu::asid_bits`]):
//! `PagingArch::activate_asid` writes it into `TTBR0_EL1` with the root and keeps the TLB
//! ([`registers::switch_user_root_asid`]); `PagingArch::activate` (ASID 0) flushes this CPU's
//! TLB as before. The space's leaves are then all `nG` (`PagingArch::non_global`: kernel leaves
//! of a user table too), and its flush requests are carried out by ASID (`TLBI VAE1IS`,
//! `ASIDE1IS`, see [`tlb`]); the kernel space (`TTBR1_EL1`) runs with ASID 0 and global leaves,
//! flushed in every ASID. The ASID comes from `TTBR0_EL1`: `TCR_EL1.A1` must be 0.
//!
//! # Example
//!
//! ```
//! # #[cfg(target_arch = "aarch64")] {
//! use vmlayer_arch::{EntryKind, PagingArch};
//! use vmlayer_aarch64::{AArch64, MappingFlags, PhysAddr};
//!
//! let frame = PhysAddr::from(0x4040_0000);
//! let flags = MappingFlags::READ | MappingFlags::WRITE | MappingFlags::USER;
//! let entry = AArch64::encode_leaf(frame, flags, 0);
//! // UXN PXN | address | nG AF SH=11 AP=01 AttrIndx=1 page valid
//! assert_eq!(entry, 0x0060_0000_4040_0f47);
//! assert_eq!(AArch64::decode(entry, 0), EntryKind::Leaf { paddr: frame, flags });
//!
//! // PROT_NONE keeps the frame but is invalid to the hardware.
//! let none = AArch64::encode_reserved(frame, 1);
//! assert_eq!(none & 1, 0);
//! assert_eq!(AArch64::decode(none, 1), EntryKind::Reserved { paddr: frame });
//! # }
//! ```

#![cfg_attr(not(test), no_std)]
// page_table_entry defines the AArch64 descriptor type only when compiling for AArch64;
// elsewhere the crate is empty so that a workspace-wide host build still succeeds.
#![cfg(target_arch = "aarch64")]

#[macro_use]
mod sequences;

pub mod cache;
pub mod cpu;
pub mod entry;
pub mod fault;
pub mod registers;
pub mod tlb;

#[cfg(test)]
mod tests;

pub use memory_addr::{PhysAddr, VirtAddr};
pub use page_table_multiarch::MappingFlags;
pub use vmlayer_arch::{Access, PageFaultInfo};

use page_table_entry::aarch64::A64PTE;
use page_table_multiarch::aarch64::A64PagingMetaData;
use vmlayer_arch::{EntryKind, PagingArch, TlbFlushRequest};

/// AArch64 VMSAv8-64 stage 1, EL1&0 regime, 4 KiB granule, 48-bit addresses: 4 KiB pages,
/// 2 MiB and 1 GiB blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AArch64;

// SAFETY: `entry::decode` inverts the encoders exactly (see the `entry` module, its exhaustive
// tests and `conformance::assert_conforms` in this crate's tests): the reserved entry has bit 0
// clear and a non-zero software marker, a table descriptor (bits 1:0 = 11) is decoded as a table
// only at levels 1-3 (Arm lookup levels 2-0), and a leaf is a page (11) at level 0 or a block (01)
// at levels 1-2.
unsafe impl PagingArch for AArch64 {
    const NAME: &'static str = "aarch64";
    type MetaData = A64PagingMetaData;
    type Entry = A64PTE;

    /// The Arm ARM's break-before-make rule for translation table updates requires an invalid
    /// entry and a TLB invalidation between a block and the table that replaces it (or back),
    /// unless FEAT_BBM level 2 is implemented, which we do not assume.
    const BREAK_BEFORE_MAKE: bool = true;

    /// Both halves index a table with bits 47:12 (see [`registers`]): one table, one half.
    const ONE_HALF_PER_TABLE: bool = true;

    /// Both halves are translatable (bits 63:48 all zero for `TTBR0_EL1` or all one for
    /// `TTBR1_EL1`, see [`registers`]), not only sign-extended 48-bit addresses.
    fn is_valid_vaddr(vaddr: usize) -> bool {
        registers::Half::of(vaddr).is_some()
    }

    /// From `ID_AA64MMFR0_EL1.PARange` on bare metal, capped at 48; 48 on hosted builds (see
    /// [`cpu::phys_addr_bits`]).
    fn phys_addr_bits() -> usize {
        cpu::phys_addr_bits()
    }

    #[inline]
    fn encode_leaf(paddr: PhysAddr, flags: MappingFlags, level: usize) -> u64 {
        entry::encode_leaf(paddr, flags, level)
    }

    #[inline]
    fn encode_table(paddr: PhysAddr) -> u64 {
        entry::encode_table(paddr)
    }

    #[inline]
    fn encode_reserved(paddr: PhysAddr, _level: usize) -> u64 {
        entry::encode_reserved(paddr)
    }

    #[inline]
    fn decode(entry: u64, level: usize) -> EntryKind {
        entry::decode(entry, level)
    }

    /// Broadcast `TLBI` ([`tlb::flush_broadcast`]): with the request's ASID (not 0, and no
    /// global entry changed) `VAE1IS` per page and `ASIDE1IS` for everything, else `VAAE1IS`
    /// per page and `VMALLE1IS`. All of them invalidate every level of the walk (so
    /// `tables_changed` needs nothing more), and the all-ASID forms global entries too (for
    /// `global_changed`); see [`tlb`]. Broadcast to the Inner Shareable domain: it covers every
    /// CPU, not only this one ([`tlb::flush_this_cpu`] is the local form).
    fn flush_tlb_local(request: &TlbFlushRequest) {
        tlb::flush_broadcast(request);
    }

    /// 16 if `ID_AA64MMFR0_EL1.ASIDBits` and `TCR_EL1.AS` say so, else 8, on bare metal;
    /// [`cpu::HOSTED_ASID_BITS`] (0) on hosted builds (see [`cpu::asid_bits`]).
    fn asid_bits() -> u32 {
        cpu::asid_bits()
    }

    /// Sets `nG` (bit 11) on a valid leaf (page or block descriptor): the translation is
    /// tagged with the ASID of the `TTBR0_EL1` it was walked through. Anything else (PROT_NONE
    /// entries, which the hardware ignores) is returned as it is.
    #[inline]
    fn non_global(entry: u64) -> u64 {
        entry::non_global(entry)
    }

    /// `DC CVAU`, `DSB ISH`, `IC IVAU`, `DSB ISH`, `ISB` over the range with the line sizes of
    /// `CTR_EL0` ([`cache::sync_instruction_cache`]); a no-op on hosted builds.
    fn sync_instruction_cache(kernel_vaddr: VirtAddr, size: usize) {
        cache::sync_instruction_cache(kernel_vaddr.as_usize(), size);
    }

    #[cfg(target_os = "none")]
    unsafe fn activate(root_paddr: PhysAddr) -> Result<(), vmlayer_arch::ActivateError> {
        // SAFETY: forwarded from this function's contract.
        unsafe { registers::switch_user_root(root_paddr) };
        Ok(())
    }

    /// `TTBR0_EL1` = root | `asid` << 48 without a TLB flush, after `TLBI VMALLE1` on this
    /// CPU with `flush_local`; `asid == 0`: [`Self::activate`] (see
    /// [`registers::switch_user_root_asid`]).
    #[cfg(target_os = "none")]
    unsafe fn activate_asid(
        root_paddr: PhysAddr,
        asid: u16,
        flush_local: bool,
    ) -> Result<(), vmlayer_arch::ActivateError> {
        // SAFETY: forwarded from this function's contract (`PagingArch::activate_asid`: the
        // allocator keeps `asid` within `asid_bits()` and its translations this table's).
        unsafe { registers::switch_user_root_asid(root_paddr, asid, flush_local) };
        Ok(())
    }

    #[cfg(target_os = "none")]
    fn current_root() -> PhysAddr {
        registers::root_of_ttbr(registers::read_ttbr0())
    }
}
