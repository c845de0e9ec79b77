//! The ISA contract of the paging layer.
//!
//! The ISA-neutral crate `vmlayer_paging` walks page tables, splits huge pages, reclaims empty tables
//! and handles page faults once for every ISA. What it cannot know is written once per ISA, in
//! a crate that implements [`PagingArch`]:
//!
//! - **entry encoding**: [`PagingArch::encode_leaf`], [`PagingArch::encode_table`] and
//!   [`PagingArch::decode`] translate between raw 64-bit entries and [`EntryKind`];
//! - **PROT_NONE**: [`PagingArch::encode_reserved`] builds an entry the hardware treats as
//!   invalid but that keeps the frame (never a present entry, never a RISC-V table pointer);
//! - **TLB maintenance**: [`PagingArch::flush_tlb_local`], called through [`tlb::flush`], which
//!   prefers a kernel-installed [`TlbFlushHook`] (SMP shootdown);
//! - **instruction caches**: [`PagingArch::sync_instruction_cache`], called through
//!   [`cache::sync_instruction_cache`] before an executable frame becomes visible, which
//!   prefers a kernel-installed [`InstructionSyncHook`] (other CPUs);
//! - **physical-address width**: [`PagingArch::phys_addr_bits`], what this CPU can address;
//! - **address-space switch**: `PagingArch::activate` and `PagingArch::current_root`
//!   (`satp`, `TTBR0_EL1`, `CR3`), compiled only for bare metal (`target_os = "none"`).
//!
//! # Implementing an ISA crate
//!
//! Write a unit struct (e.g. `pub struct Sv39;`) and `unsafe impl PagingArch for Sv39`. Set
//! `MetaData`/`Entry` to page_table_multiarch's types for the ISA; the level count, VA and PA
//! widths default to the metadata's. Encode leaves from [`MappingFlags`] with the ISA manual's
//! bits (page_table_entry's conversions where they are right), pick a software-available bit
//! for the reserved (PROT_NONE) entry and keep the physical address in it, and make `decode`
//! classify by level (a leaf at level 0 is a page, at higher levels a block; a table pointer is
//! never valid at level 0). Keep every privileged instruction behind
//! `#[cfg(target_os = "none")]`, so `flush_tlb_local` is a no-op in hosted unit tests. Decode the
//! ISA's trap registers into a [`PageFaultInfo`] with a plain function over numbers. In the
//! crate's tests, call [`conformance::assert_conforms`] and add a table test of every flag
//! combination against the bits the manual requires.
//!
//! # Example
//!
//! Flush requests are built from ranges and carried out by the hook if one is installed:
//!
//! ```
//! use vmlayer_arch::{TlbFlush, TlbFlushRequest, PhysAddr, VirtAddr};
//!
//! fn shootdown(request: &TlbFlushRequest) {
//!     // A kernel would flush locally and send an IPI to the CPUs using request.root_paddr.
//!     assert_eq!(request.root_paddr, PhysAddr::from(0x8000));
//!     // ... and only return once every CPU has completed the invalidation.
//! }
//!
//! vmlayer_arch::set_tlb_flush_hook(Some(shootdown));
//! assert!(vmlayer_arch::tlb_flush_hook().is_some());
//! let flush = TlbFlush::covering(VirtAddr::from(0x1000), VirtAddr::from(0x3000));
//! assert_eq!(flush, Some(TlbFlush::Range { start: VirtAddr::from(0x1000), end: VirtAddr::from(0x3000) }));
//! vmlayer_arch::set_tlb_flush_hook(None);
//! assert!(vmlayer_arch::tlb_flush_hook().is_none());
//! ```

#![no_std]

#[cfg(test)]
mod tests;

mod arch;
pub mod cache;
pub mod conformance;
mod cpus;
mod fault;
mod hook;
pub mod tlb;

pub use memory_addr::{PhysAddr, VirtAddr};
pub use page_table_multiarch::{GenericPTE, MappingFlags, PagingHandler, PagingMetaData};

pub use self::arch::{
    ACCESS_FLAGS, ActivateError, ENTRY_COUNT, EntryKind, PagingArch, level_size, table_index,
};
pub use self::cache::{InstructionSyncHook, set_instruction_sync_hook};
pub use self::cpus::{CpuMask, CpuSet, MAX_CPUS};
pub use self::fault::{Access, FaultCause, PageFaultInfo};
pub use self::tlb::{
    FLUSH_ALL_THRESHOLD_PAGES, TlbFlush, TlbFlushHook, TlbFlushRequest, set_tlb_flush_hook,
    tlb_flush_hook,
};
