//! x86_64 4-level (48-bit) paging for the ISA-neutral `vmlayer_paging` crate.
//!
//! [`X86_64`] implements [`vmlayer_arch::PagingArch`]: leaf, table and PROT_NONE entries as the
//! Intel SDM (Vol. 3A, §4.5, tables 4-14 to 4-20) defines them, `INVLPG` / CR3 reload for TLB
//! maintenance ([`tlb::flush_plan`]) and CR3 for switching address spaces.
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
    DEFAULT_PHYS_ADDR_BITS, MAX_PHYS_ADDR_BITS, has_1gib_pages, phys_addr_bits,
    phys_addr_bits_from_cpuid,
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

    /// Executes [`tlb::flush_plan`] on bare metal; a no-op on hosted builds.
    #[inline]
    fn flush_tlb_local(request: &TlbFlushRequest) {
        let plan = tlb::flush_plan(request);
        #[cfg(target_os = "none")]
        instructions::execute_flush_plan(plan);
        #[cfg(not(target_os = "none"))]
        let _ = plan;
    }

    #[cfg(target_os = "none")]
    unsafe fn activate(root_paddr: PhysAddr) -> Result<(), ActivateError> {
        // SAFETY: the caller upholds `PagingArch::activate`'s contract.
        unsafe { instructions::write_cr3(root_paddr) };
        Ok(())
    }

    #[cfg(target_os = "none")]
    fn current_root() -> PhysAddr {
        instructions::read_cr3()
    }
}
