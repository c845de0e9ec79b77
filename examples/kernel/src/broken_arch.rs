//! Test-only: a deliberately broken ISA backend, to show that the suite catches one.
//!
//! With the cargo feature `broken-drop-nx`, the kernel's address spaces use [`NxDroppingArch`]:
//! it delegates everything to the real ISA crate (`paging::Arch`) except that every leaf it
//! encodes is executable — the classic "forgot the execute-never bit" bug. The permission case
//! must then fail on every ISA. No production kernel enables this feature.

use paging_arch::{
    ActivateError, EntryKind, MappingFlags, PagingArch, PhysAddr, TlbFlushRequest, VirtAddr,
};

/// The real ISA with the execute-never bit dropped from every leaf.
pub(crate) struct NxDroppingArch;

// SAFETY: deliberately NOT upheld — leaves are executable whatever the flags say. This type is
// compiled only with the test-only feature `broken-drop-nx`, whose purpose is to demonstrate
// that the conformance suite detects exactly this violation. Everything else (levels, table
// encoding, TLB flush, root switch) is the real ISA crate's.
unsafe impl PagingArch for NxDroppingArch {
    const NAME: &'static str = "broken: execute-never dropped";
    type MetaData = <paging::Arch as PagingArch>::MetaData;
    type Entry = <paging::Arch as PagingArch>::Entry;
    const LEVELS: usize = <paging::Arch as PagingArch>::LEVELS;
    const VA_BITS: usize = <paging::Arch as PagingArch>::VA_BITS;
    const PA_BITS: usize = <paging::Arch as PagingArch>::PA_BITS;
    const LARGEST_LEAF_LEVEL: usize = <paging::Arch as PagingArch>::LARGEST_LEAF_LEVEL;
    const BREAK_BEFORE_MAKE: bool = <paging::Arch as PagingArch>::BREAK_BEFORE_MAKE;
    const ONE_HALF_PER_TABLE: bool = <paging::Arch as PagingArch>::ONE_HALF_PER_TABLE;

    fn largest_leaf_level() -> usize {
        <paging::Arch as PagingArch>::largest_leaf_level()
    }

    fn is_valid_vaddr(vaddr: usize) -> bool {
        <paging::Arch as PagingArch>::is_valid_vaddr(vaddr)
    }

    fn is_valid_paddr(paddr: usize) -> bool {
        <paging::Arch as PagingArch>::is_valid_paddr(paddr)
    }

    fn phys_addr_bits() -> usize {
        <paging::Arch as PagingArch>::phys_addr_bits()
    }

    fn encode_leaf(paddr: PhysAddr, flags: MappingFlags, level: usize) -> u64 {
        <paging::Arch as PagingArch>::encode_leaf(paddr, flags | MappingFlags::EXECUTE, level)
    }

    fn encode_table(paddr: PhysAddr) -> u64 {
        <paging::Arch as PagingArch>::encode_table(paddr)
    }

    fn encode_reserved(paddr: PhysAddr, level: usize) -> u64 {
        <paging::Arch as PagingArch>::encode_reserved(paddr, level)
    }

    fn decode(entry: u64, level: usize) -> EntryKind {
        <paging::Arch as PagingArch>::decode(entry, level)
    }

    fn flush_tlb_local(request: &TlbFlushRequest) {
        <paging::Arch as PagingArch>::flush_tlb_local(request);
    }

    fn sync_instruction_cache(kernel_vaddr: VirtAddr, size: usize) {
        <paging::Arch as PagingArch>::sync_instruction_cache(kernel_vaddr, size);
    }

    unsafe fn activate(root_paddr: PhysAddr) -> Result<(), ActivateError> {
        // SAFETY: forwarded contract.
        unsafe { <paging::Arch as PagingArch>::activate(root_paddr) }
    }

    fn current_root() -> PhysAddr {
        <paging::Arch as PagingArch>::current_root()
    }
}
