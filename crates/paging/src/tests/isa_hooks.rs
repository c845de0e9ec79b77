//! What the walker asks of the ISA beyond entries: the CPU's physical-address width and
//! instruction-cache synchronization, through an ISA wrapper that reports a 36-bit CPU and
//! records every synchronization.

use std::vec::Vec;

use vmlayer_arch::{Access, PageFaultInfo};

use super::frames::TestFrames;
use super::test_arch::{TestArch, take_synced};
use super::*;
use crate::{FaultResolution, MappingError};

const NARROW_BITS: usize = 36;

/// The build target's ISA on a CPU with 36 physical-address bits, recording instruction-cache
/// synchronizations.
type Narrow = TestArch<false, NARROW_BITS>;

type NarrowSpace = AddressSpace<TestFrames, Narrow>;

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
