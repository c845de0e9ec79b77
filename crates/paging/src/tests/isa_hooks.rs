//! What the walker asks of the ISA beyond entries: the CPU's physical-address width and
//! instruction-cache synchronization, through an ISA wrapper that reports a 36-bit CPU and
//! records every synchronization.

use std::cell::RefCell;
use std::vec::Vec;

use paging_arch::{Access, PageFaultInfo, TlbFlushRequest};

use super::frames::TestFrames;
use super::*;
use crate::{FaultResolution, MappingError};

/// The build target's ISA on a CPU with 36 physical-address bits, recording instruction-cache
/// synchronizations.
struct Narrow;

const NARROW_BITS: usize = 36;

std::thread_local! {
    static SYNCED: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

// SAFETY: every encoding is the real ISA's (which upholds the contract); only the reported
// physical-address width and the cache hook differ, which the contract leaves to the ISA.
unsafe impl PagingArch for Narrow {
    const NAME: &'static str = "narrow";
    type MetaData = <Arch as PagingArch>::MetaData;
    type Entry = <Arch as PagingArch>::Entry;
    const LEVELS: usize = Arch::LEVELS;
    const VA_BITS: usize = Arch::VA_BITS;
    const PA_BITS: usize = Arch::PA_BITS;

    fn phys_addr_bits() -> usize {
        NARROW_BITS
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

type NarrowSpace = AddressSpace<TestFrames, Narrow>;

fn take_synced() -> Vec<(usize, usize)> {
    SYNCED.with_borrow_mut(core::mem::take)
}

#[test]
fn physical_addresses_beyond_the_cpu_width_are_refused_before_anything_changes() {
    let mut space = NarrowSpace::try_new().unwrap();
    assert_eq!(space.page_table().phys_addr_bits(), NARROW_BITS);
    let limit = 1usize << NARROW_BITS;
    let tables = live_frames();
    for (paddr, size) in [(limit, 0x1000), (limit - 0x1000, 0x2000), (limit, 2 * MIB)] {
        assert_eq!(
            space.map_linear(va(GIB), pa(paddr), size, RW),
            Err(MappingError::InvalidParam),
            "{paddr:#x} + {size:#x}"
        );
    }
    assert_eq!(space.areas().count(), 0, "no area");
    assert_eq!(live_frames(), tables, "no table page");
    // The last page the CPU can address is fine.
    space
        .map_linear(va(GIB), pa(limit - 0x1000), 0x1000, RW)
        .unwrap();
    assert_eq!(lookup_narrow(&space, GIB), Some(limit - 0x1000));
}

fn live_frames() -> usize {
    super::frames::live_frames()
}

fn lookup_narrow(space: &NarrowSpace, address: usize) -> Option<usize> {
    space.query(va(address)).map(|t| t.paddr.as_usize())
}

#[test]
fn the_host_isa_reports_its_width_and_the_table_enforces_it() {
    let mut space = Space::try_new().unwrap();
    let bits = space.page_table().phys_addr_bits();
    assert_eq!(bits, Arch::phys_addr_bits().min(Arch::PA_BITS));
    assert!((32..=Arch::PA_BITS).contains(&bits), "{bits} bits");
    assert_eq!(
        space.map_linear(va(GIB), pa(1 << bits), 0x1000, RW),
        Err(MappingError::InvalidParam)
    );
    space
        .map_linear(va(GIB), pa((1 << bits) - 0x1000), 0x1000, RW)
        .unwrap();
}

#[test]
fn executable_alloc_frames_are_synchronized_before_they_are_mapped() {
    let mut space = NarrowSpace::try_new().unwrap();
    take_synced();
    // Eager executable pages: each frame, once, with its kernel alias (physical = virtual).
    space.map_alloc(va(0x40_0000), 0x2000, RX, true).unwrap();
    let frames: Vec<(usize, usize)> = [0x40_0000, 0x40_1000]
        .map(|page| (lookup_narrow(&space, page).unwrap(), 0x1000))
        .to_vec();
    assert_eq!(take_synced(), frames, "populated executable pages");
    // Not executable: nothing to synchronize.
    space.map_alloc(va(0x80_0000), 0x2000, RW, true).unwrap();
    assert_eq!(take_synced(), [], "data pages");
    // Lazy executable page: synchronized when the fault populates it.
    space.map_alloc(va(0xc0_0000), 0x1000, RX, false).unwrap();
    assert_eq!(take_synced(), [], "lazy map");
    let fetch = PageFaultInfo::new(va(0xc0_0000), Access::Execute, false);
    assert_eq!(
        space.handle_page_fault(fetch),
        Ok(FaultResolution::Populated)
    );
    let frame = lookup_narrow(&space, 0xc0_0000).unwrap();
    assert_eq!(
        take_synced(),
        [(frame, 0x1000)],
        "lazily faulted executable page"
    );
    // Data pages made executable (the kernel loaded code into them): each frame once.
    space.protect(va(0x80_0000), 0x2000, RX).unwrap();
    let frames: Vec<(usize, usize)> = [0x80_0000, 0x80_1000]
        .map(|page| (lookup_narrow(&space, page).unwrap(), 0x1000))
        .to_vec();
    assert_eq!(take_synced(), frames, "protect to executable");
    space.protect(va(0x80_0000), 0x2000, RX).unwrap();
    assert_eq!(take_synced(), [], "already executable");
    // Linear memory is the kernel's own business.
    space.map_linear(va(GIB), pa(GIB), 0x1000, RX).unwrap();
    assert_eq!(take_synced(), [], "linear");
}
