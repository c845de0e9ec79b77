//! x86_64 4-level (48-bit) paging for the ISA-neutral `vmlayer_paging` crate.
//!
//! [`X86_64`] implements [`vmlayer_arch::PagingArch`]: leaf, table and PROT_NONE entries as the
//! Intel SDM (Vol. 3A, §4.5, tables 4-14 to 4-20) defines them, `INVLPG` / CR3 reload / INVPCID
//! for TLB maintenance ([`tlb::flush_plan`]) and CR3 for switching address spaces, with a PCID
//! (`PagingArch::activate_asid`) or without.
//! [`decode_page_fault`] turns the `#PF` error code, CR2, RFLAGS and CR4 into a neutral
//! [`PageFaultInfo`](vmlayer_arch::PageFaultInfo). [`phys_addr_bits`] reads `MAXPHYADDR` with
//! CPUID (on hosted builds too: CPUID is unprivileged, so tests see the host CPU's width).
//!
//! Everything except the privileged instructions is plain code tested on any x86_64 host; the
//! instructions are compiled only for bare metal (`target_os = "none"`). The crate is empty on
//! other architectures (page_table_entry's x86_64 types exist only there).
//!
//! # Requirements on the CPU set-up
//!
//! Non-executable pages carry the XD bit, so `EFER.NXE` must be set before a table built here is
//! loaded; `CR0.WP` should be set so that kernel writes to read-only pages fault. 1 GiB leaves
//! need the `pdpe1gb` CPU feature ([`has_1gib_pages`]): on bare metal
//! [`PagingArch::largest_leaf_level`] checks it, so page tables use 2 MiB blocks on CPUs
//! without it (QEMU's default `qemu64` model).
//!
//! # PCIDs
//!
//! Address spaces may run with a PCID (the ASID of `vmlayer_arch`, 12 bits) where CPUID reports
//! both PCID and INVPCID ([`asid_bits`]): `PagingArch::activate_asid` sets `CR4.PCIDE` on its
//! first non-zero PCID and writes CR3 with bit 63, so the space's translations survive the
//! switch; a flush request for another space's PCID is carried out with INVPCID (see [`tlb`]).
//! `PagingArch::activate` (PCID 0) flushes as before. Leaves are never global (no G bit, the
//! kernel half included, whose translations are therefore cached per PCID), so
//! `PagingArch::non_global` keeps its default.
//!
//! # Example
//!
//! ```
//! # #[cfg(target_arch = "x86_64")] {
//! use vmlayer_arch::{EntryKind, MappingFlags, PagingArch, PhysAddr};
//! use vmlayer_x86_64::X86_64;
//!
//! // A user read-write page: P | R/W | U/S | A | D | XD.
//! let flags = MappingFlags::READ | MappingFlags::WRITE | MappingFlags::USER;
//! let entry = X86_64::encode_leaf(PhysAddr::from(0x5000), flags, 0);
//! assert_eq!(entry, 0x8000_0000_0000_5067);
//! assert_eq!(X86_64::decode(entry, 0), EntryKind::Leaf { paddr: PhysAddr::from(0x5000), flags });
//!
//! // PROT_NONE: not present, frame kept.
//! let reserved = X86_64::encode_reserved(PhysAddr::from(0x5000), 0);
//! assert_eq!(reserved & 1, 0);
//! assert_eq!(X86_64::decode(reserved, 0), EntryKind::Reserved { paddr: PhysAddr::from(0x5000) });
//! # }
//! ```

#![cfg_attr(not(test), no_std)]
#![cfg(target_arch = "x86_64")]

mod entry;
mod fault;
mod instructions;
pub mod tlb;

#[cfg(test)]
mod tests;

use memory_addr::PhysAddr;
use page_table_multiarch::MappingFlags;
use page_table_multiarch::x86_64::X64PagingMetaData;
#[cfg(target_os = "none")]
use vmlayer_arch::ActivateError;
use vmlayer_arch::{EntryKind, PagingArch, TlbFlushRequest};

pub use self::entry::{ENTRY_ADDRESS_MASK, RESERVED_MARKER};
pub use self::fault::{CR4_SMAP, PageFaultErrorCode, RFLAGS_AC, decode_page_fault};
#[cfg(target_os = "none")]
pub use self::instructions::read_cr4;
pub use self::instructions::{
    CPUID_01_ECX_PCID, CPUID_07_EBX_INVPCID, DEFAULT_PHYS_ADDR_BITS, MAX_PHYS_ADDR_BITS, PCID_BITS,
    asid_bits, asid_bits_from_cpuid, has_1gib_pages, phys_addr_bits, phys_addr_bits_from_cpuid,
};

/// x86_64 4-level paging (PML4, 48-bit virtual addresses, 4 KiB / 2 MiB / 1 GiB pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct X86_64;

// SAFETY: `entry.rs` implements the encodings as the Intel SDM defines them: a reserved entry has
// P = 0 (invalid at every level), a table entry has P = 1 and PS = 0 at level >= 1, and `decode`
// is their inverse; `assert_conforms` and the table tests in `tests.rs` check it.
unsafe impl PagingArch for X86_64 {
    const NAME: &'static str = "x86_64";
    type MetaData = X64PagingMetaData;
    type Entry = page_table_entry::x86_64::X64PTE;

    /// 1 GiB leaves only where CPUID reports `pdpe1gb` (bare metal; hosted builds, where no
    /// table is ever loaded, always allow them).
    fn largest_leaf_level() -> usize {
        if cfg!(target_os = "none") && !has_1gib_pages() {
            1
        } else {
            2
        }
    }

    /// `MAXPHYADDR` from `CPUID.80000008H:EAX[7:0]` (see [`phys_addr_bits`]; hosted builds
    /// read the host CPU).
    fn phys_addr_bits() -> usize {
        phys_addr_bits()
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

    /// Executes [`tlb::flush_plan`] for this CPU's PCID state (`CR4.PCIDE` and CR3's PCID) on
    /// bare metal: the current space by `INVLPG` / CR3 reload, another PCID by INVPCID, global
    /// changes by a `CR4.PGE` toggle or, with PCIDs, INVPCID type 2. A no-op on hosted builds.
    #[inline]
    fn flush_tlb_local(request: &TlbFlushRequest) {
        #[cfg(target_os = "none")]
        instructions::execute_flush_plan(tlb::flush_plan(request, instructions::pcid_state()));
        #[cfg(not(target_os = "none"))]
        let _ = tlb::flush_plan(request, tlb::PcidState::DISABLED);
    }

    /// 12 (PCIDs) when CPUID reports both PCID and INVPCID, else 0, on bare metal; 0 on hosted
    /// builds (see [`asid_bits`]).
    fn asid_bits() -> u32 {
        asid_bits()
    }

    #[cfg(target_os = "none")]
    unsafe fn activate(root_paddr: PhysAddr) -> Result<(), ActivateError> {
        // SAFETY: the caller upholds `PagingArch::activate`'s contract.
        unsafe { instructions::write_cr3(root_paddr) };
        Ok(())
    }

    /// `asid == 0`: [`Self::activate`] (`MOV CR3` with PCID 0, which flushes PCID 0's
    /// entries). Otherwise sets `CR4.PCIDE` if needed, with `flush_local` drops every
    /// non-global translation of every PCID (INVPCID type 3), and writes CR3 = root | `asid` |
    /// bit 63 (keep the PCID's translations); see the module docs of [`tlb`].
    #[cfg(target_os = "none")]
    unsafe fn activate_asid(
        root_paddr: PhysAddr,
        asid: u16,
        flush_local: bool,
    ) -> Result<(), ActivateError> {
        if asid == 0 {
            // SAFETY: the caller upholds `PagingArch::activate`'s contract.
            return unsafe { Self::activate(root_paddr) };
        }
        // SAFETY: the caller upholds `PagingArch::activate_asid`'s contract: a non-zero `asid`
        // fits in `asid_bits()`, which is 12 only on CPUs with PCIDs and INVPCID, and what this
        // CPU cached for it is this table's (or `flush_local` is set).
        unsafe { instructions::activate_pcid(root_paddr, asid, flush_local) };
        Ok(())
    }

    #[cfg(target_os = "none")]
    fn current_root() -> PhysAddr {
        instructions::read_cr3()
    }
}
