//! Test-only: a deliberately broken ISA backend, to show that the suite catches one.
//!
//! With the cargo feature `broken-drop-nx`, the kernel's address spaces use [`NxDroppingArch`]:
//! it delegates everything to the real ISA crate (`vmlayer_paging::Arch`) except that every leaf it
//! encodes is executable — the classic "forgot the execute-never bit" bug. The permission case
//! must then fail on every ISA. No production kernel enables this feature.

use vmlayer_paging::{
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
    type MetaData = <vmlayer_paging::Arch as PagingArch>::MetaData;
    type Entry = <vmlayer_paging::Arch as PagingArch>::Entry;
    const LEVELS: usize = <vmlayer_paging::Arch as PagingArch>::LEVELS;
    const VA_BITS: usize = <vmlayer_paging::Arch as PagingArch>::VA_BITS;
    const PA_BITS: usize = <vmlayer_paging::Arch as PagingArch>::PA_BITS;
    const LARGEST_LEAF_LEVEL: usize = <vmlayer_paging::Arch as PagingArch>::LARGEST_LEAF_LEVEL;
    const BREAK_BEFORE_MAKE: bool = <vmlayer_paging::Arch as PagingArch>::BREAK_BEFORE_MAKE;
    const ONE_HALF_PER_TABLE: bool = <vmlayer_paging::Arch as PagingArch>::ONE_HALF_PER_TABLE;

    fn largest_leaf_level() -> usize {
        <vmlayer_paging::Arch as PagingArch>::largest_leaf_level()
    }

    fn is_valid_vaddr(vaddr: usize) -> bool {
        <vmlayer_paging::Arch as PagingArch>::is_valid_vaddr(vaddr)
    }

    fn is_valid_paddr(paddr: usize) -> bool {
        <vmlayer_paging::Arch as PagingArch>::is_valid_paddr(paddr)
    }

    fn phys_addr_bits() -> usize {
        <vmlayer_paging::Arch as PagingArch>::phys_addr_bits()
    }

    fn encode_leaf(paddr: PhysAddr, flags: MappingFlags, level: usize) -> u64 {
        <vmlayer_paging::Arch as PagingArch>::encode_leaf(
            paddr,
            flags | MappingFlags::EXECUTE,
            level,
        )
    }

    fn encode_table(paddr: PhysAddr) -> u64 {
        <vmlayer_paging::Arch as PagingArch>::encode_table(paddr)
    }

    fn encode_reserved(paddr: PhysAddr, level: usize) -> u64 {
        <vmlayer_paging::Arch as PagingArch>::encode_reserved(paddr, level)
    }

    fn decode(entry: u64, level: usize) -> EntryKind {
        <vmlayer_paging::Arch as PagingArch>::decode(entry, level)
    }

    fn flush_tlb_local(request: &TlbFlushRequest) {
        <vmlayer_paging::Arch as PagingArch>::flush_tlb_local(request);
    }

    fn sync_instruction_cache(kernel_vaddr: VirtAddr, size: usize) {
        <vmlayer_paging::Arch as PagingArch>::sync_instruction_cache(kernel_vaddr, size);
    }

    unsafe fn activate(root_paddr: PhysAddr) -> Result<(), ActivateError> {
        // SAFETY: forwarded contract.
        unsafe { <vmlayer_paging::Arch as PagingArch>::activate(root_paddr) }
    }

    fn current_root() -> PhysAddr {
        <vmlayer_paging::Arch as PagingArch>::current_root()
    }
}
