//! Property test: random sequences of map / unmap / protect / fault, with random allocation
//! failures, keep the page table in agreement with the area set page by page, and frames
//! allocated == frames freed at the end.

use std::collections::BTreeSet;
use std::vec::Vec;

use proptest::prelude::*;

use crate::Backend;
use vmlayer_arch::{Access, PageFaultInfo};

use super::frames::{frame_counts, live_frames, set_allocation_budget};
use super::*;

/// The window the operations work in: 4 MiB around the 1 GiB boundary, so they touch two
/// 1 GiB regions, several tables and 2 MiB-aligned ranges.
const WINDOW: usize = GIB - 2 * MIB;
const WINDOW_PAGES: usize = 1024;

#[derive(Debug, Clone)]
enum Operation {
    MapAlloc {
        page: usize,
        pages: usize,
        flags: MappingFlags,
        populate: bool,
    },
    MapLinear {
        page: usize,
        pages: usize,
        flags: MappingFlags,
        huge_offset: bool,
    },
    Unmap {
        page: usize,
        pages: usize,
    },
    Protect {
        page: usize,
        pages: usize,
        flags: MappingFlags,
    },
    Fault {
        page: usize,
        access: Access,
        user: bool,
    },
}

fn flags() -> impl Strategy<Value = MappingFlags> {
    prop::sample::select(std::vec![NONE, READ, RW, RX, RW | MappingFlags::USER])
}

/// A range of pages: small anywhere, or a whole 2 MiB-aligned 2 MiB.
fn range() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![
        3 => (0..WINDOW_PAGES - 16, 1..16usize),
        1 => (0..2usize).prop_map(|half| (half * 512, 512)),
    ]
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        (range(), flags(), any::<bool>()).prop_map(|((page, pages), flags, populate)| {
            Operation::MapAlloc {
                page,
                pages,
                flags,
                populate,
            }
        }),
        (range(), flags(), any::<bool>()).prop_map(|((page, pages), flags, huge_offset)| {
            Operation::MapLinear {
                page,
                pages,
                flags,
                huge_offset,
            }
        }),
        range().prop_map(|(page, pages)| Operation::Unmap { page, pages }),
        (range(), flags()).prop_map(|((page, pages), flags)| Operation::Protect {
            page,
            pages,
            flags
        }),
        (
            0..WINDOW_PAGES,
            prop::sample::select(std::vec![Access::Read, Access::Write, Access::Execute]),
            any::<bool>()
        )
            .prop_map(|(page, access, user)| Operation::Fault { page, access, user }),
    ]
}

fn apply(space: &mut Space, operation: &Operation) {
    let address = |page: usize| va(WINDOW + page * 0x1000);
    // Results are not asserted here: failures (overlaps, injected out-of-memory) are legal, and
    // `check` verifies that whatever happened left areas and table in agreement.
    let _ = match *operation {
        Operation::MapAlloc {
            page,
            pages,
            flags,
            populate,
        } => space.map_alloc(address(page), pages * 0x1000, flags, populate),
        Operation::MapLinear {
            page,
            pages,
            flags,
            huge_offset,
        } => {
            let offset = if huge_offset { 8 * GIB } else { 0x1000 };
            let paddr = pa(WINDOW + page * 0x1000 + offset);
            space.map_linear(address(page), paddr, pages * 0x1000, flags)
        }
        Operation::Unmap { page, pages } => space.unmap(address(page), pages * 0x1000),
        Operation::Protect { page, pages, flags } => {
            space.protect(address(page), pages * 0x1000, flags)
        }
        Operation::Fault { page, access, user } => {
            let address = address(page);
            // Refused faults change nothing; the model checks the outcome below.
            let _ = space.handle_page_fault(PageFaultInfo::new(address, access, user));
            Ok(())
        }
    };
}

/// Pages between two checked pages: all of them natively; under Miri, which is here to find
/// undefined behaviour rather than to re-check the model, every 37th (a stride that lands on
/// different offsets in every 2 MiB and leaf table).
const CHECK_STRIDE: usize = if cfg!(miri) { 37 } else { 1 };

/// Every page of the window agrees with its area, and the live frames are exactly the table
/// pages plus one frame per Alloc page that has an entry (that count needs every page, so it is
/// skipped under Miri; the drop at the end of each case still checks that nothing leaks).
fn check(space: &Space, step: usize) {
    let mut alloc_frames = BTreeSet::new();
    for page in (0..WINDOW_PAGES).step_by(CHECK_STRIDE) {
        let address = WINDOW + page * 0x1000;
        let found = lookup(space, address);
        let Some(area) = space.find_area(va(address)) else {
            assert_eq!(
                found, None,
                "step {step}: {address:#x} mapped outside any area"
            );
            continue;
        };
        let expected_flags = normalized(area.flags());
        match *area.backend() {
            Backend::Shared => panic!("step {step}: the model maps no shared areas"),
            Backend::Linear { .. } => {
                let paddr = area.backend().linear_paddr(va(address)).unwrap().as_usize();
                let (found_paddr, found_flags, _) =
                    found.unwrap_or_else(|| panic!("step {step}: linear {address:#x} unmapped"));
                assert_eq!(
                    (found_paddr, found_flags),
                    (paddr, expected_flags),
                    "step {step}: linear {address:#x}"
                );
            }
            Backend::Alloc { populate } => match found {
                Some((paddr, flags, size)) => {
                    assert_eq!(
                        (flags, size),
                        (expected_flags, 0x1000),
                        "step {step}: alloc {address:#x}"
                    );
                    assert!(
                        alloc_frames.insert(paddr),
                        "step {step}: frame {paddr:#x} mapped twice"
                    );
                }
                None => assert!(
                    !populate,
                    "step {step}: populated alloc page {address:#x} unmapped"
                ),
            },
        }
    }
    if CHECK_STRIDE == 1 {
        assert_eq!(
            live_frames(),
            space.page_table().table_page_count() + alloc_frames.len(),
            "step {step}: live frames = table pages + alloc frames"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Fewer cases under Miri (every step walks the whole window), same operations.
        cases: proptest_cases(if cfg!(miri) { 2 } else { 48 }),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operations_keep_table_and_areas_in_agreement_and_free_every_frame(
        steps in prop::collection::vec((operation(), prop::option::weighted(0.15, 0..6usize)), 1..40)
    ) {
        let before = frame_counts();
        {
            let mut space = Space::try_new().unwrap();
            for (step, (operation, budget)) in steps.iter().enumerate() {
                set_allocation_budget(*budget);
                apply(&mut space, operation);
                set_allocation_budget(None);
                check(&space, step);
            }
        }
        let after = frame_counts();
        prop_assert_eq!(after.0 - before.0, after.1 - before.1, "allocated == freed after drop");
        prop_assert_eq!(live_frames(), 0);
    }
}

/// The property test's operations, as a plain list, also run once deterministically.
#[test]
fn a_fixed_sequence_keeps_the_invariant() {
    let sequence: Vec<Operation> = std::vec![
        Operation::MapLinear {
            page: 0,
            pages: 512,
            flags: RW,
            huge_offset: true
        },
        Operation::Protect {
            page: 10,
            pages: 3,
            flags: NONE
        },
        Operation::MapAlloc {
            page: 512,
            pages: 40,
            flags: RW,
            populate: false
        },
        Operation::Fault {
            page: 520,
            access: Access::Write,
            user: false
        },
        Operation::Protect {
            page: 500,
            pages: 30,
            flags: READ
        },
        Operation::Unmap {
            page: 5,
            pages: 520
        },
    ];
    {
        let mut space = Space::try_new().unwrap();
        for (step, operation) in sequence.iter().enumerate() {
            apply(&mut space, operation);
            check(&space, step);
        }
        assert_eq!(
            lookup(&space, WINDOW + 4 * 0x1000).map(|(_, _, size)| size),
            Some(0x1000),
            "split"
        );
        assert_eq!(
            lookup(&space, WINDOW + 525 * 0x1000).map(|(_, f, _)| f),
            None,
            "unmapped lazy page"
        );
    }
    assert_eq!(live_frames(), 0);
}
