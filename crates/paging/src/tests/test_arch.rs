//! An ISA for tests: the build target's, with the knobs the contract leaves to the ISA turned:
//! break-before-make required or not, the CPU's physical-address width, and every
//! instruction-cache synchronization recorded.

use std::cell::RefCell;
use std::vec::Vec;

use vmlayer_arch::TlbFlushRequest;

use super::*;

/// The build target's ISA, requiring break-before-make if `BREAK_BEFORE_MAKE`, on a CPU with
/// `PHYS_BITS` physical-address bits (0: the real ISA's answer).
pub(super) struct TestArch<const BREAK_BEFORE_MAKE: bool, const PHYS_BITS: usize>;

std::thread_local! {
    static SYNCED: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

/// The instruction-cache synchronizations (kernel address, size) since the last call.
pub(super) fn take_synced() -> Vec<(usize, usize)> {
    SYNCED.with_borrow_mut(core::mem::take)
}

// SAFETY: every encoding is the real ISA's (which upholds the contract); only what the
// contract leaves to the ISA differs: break-before-make, the reported physical-address width
// (narrower than the entry format) and the cache hook.
unsafe impl<const BREAK_BEFORE_MAKE: bool, const PHYS_BITS: usize> PagingArch
    for TestArch<BREAK_BEFORE_MAKE, PHYS_BITS>
{
    const NAME: &'static str = "test";
    type MetaData = <Arch as PagingArch>::MetaData;
    type Entry = <Arch as PagingArch>::Entry;
    const LEVELS: usize = Arch::LEVELS;
    const VA_BITS: usize = Arch::VA_BITS;
    const PA_BITS: usize = Arch::PA_BITS;
    const BREAK_BEFORE_MAKE: bool = BREAK_BEFORE_MAKE;
    const ONE_HALF_PER_TABLE: bool = Arch::ONE_HALF_PER_TABLE;

    fn phys_addr_bits() -> usize {
        if PHYS_BITS == 0 {
            Arch::phys_addr_bits()
        } else {
            PHYS_BITS
        }
    }

    fn is_valid_vaddr(vaddr: usize) -> bool {
        Arch::is_valid_vaddr(vaddr)
    }

    fn encode_leaf(paddr: PhysAddr, flags: MappingFlags, level: usize) -> u64 {
        Arch::encode_leaf(paddr, flags, level)
    }

    fn encode_table(paddr: PhysAddr) -> u64 {
        Arch::encode_table(paddr)
    }

    fn encode_reserved(paddr: PhysAddr, level: usize) -> u64 {
        Arch::encode_reserved(paddr, level)
    }

    fn decode(entry: u64, level: usize) -> EntryKind {
        Arch::decode(entry, level)
    }

    fn flush_tlb_local(request: &TlbFlushRequest) {
        Arch::flush_tlb_local(request);
    }

    fn sync_instruction_cache(kernel_vaddr: VirtAddr, size: usize) {
        SYNCED.with_borrow_mut(|synced| synced.push((kernel_vaddr.as_usize(), size)));
    }
}
