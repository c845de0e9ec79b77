//! The set with hundreds of areas, so that its tree has several levels and operations cross
//! leaves: random map (with and without replacing), unmap, protect, resize and free-range
//! searches against a page-granular model, with and without merging backends.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::mock::{MergingBackend, MockBackend, MockPageTable, assert_consistent};
use crate::{MappingBackend, MappingError, MemoryArea, MemorySet, PAGE_SIZE, VirtAddr};
use crate::{VirtAddrRange, tree::CAP};

/// Pages `0..SPACE`: room for far more areas than one leaf holds.
const SPACE: usize = 256 * CAP;

#[derive(Clone, Debug)]
enum Op {
    Map {
        page: usize,
        pages: usize,
        flags: u8,
        replace: bool,
    },
    Unmap {
        page: usize,
        pages: usize,
    },
    Protect {
        page: usize,
        pages: usize,
        flags: u8,
    },
    Resize {
        page: usize,
        pages: usize,
    },
    FindFree {
        hint: usize,
        pages: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..SPACE, 1..4usize, 0..4u8, proptest::bool::weighted(0.2))
            .prop_map(|(page, pages, flags, replace)| Op::Map { page, pages, flags, replace }),
        2 => (0..SPACE, 1..24usize).prop_map(|(page, pages)| Op::Unmap { page, pages }),
        2 => (0..SPACE, 1..48usize, 0..4u8)
            .prop_map(|(page, pages, flags)| Op::Protect { page, pages, flags }),
        1 => (0..SPACE, 0..6usize).prop_map(|(page, pages)| Op::Resize { page, pages }),
        1 => (0..SPACE, 1..6usize).prop_map(|(hint, pages)| Op::FindFree { hint, pages }),
    ]
}

fn va(page: usize) -> VirtAddr {
    VirtAddr::from_usize(page * PAGE_SIZE)
}

fn run<B: MappingBackend<u8, MockPageTable>>(
    ops: Vec<Op>,
    backend: B,
) -> Result<(), TestCaseError> {
    let mut set = MemorySet::<u8, MockPageTable, B>::new();
    let mut pt = MockPageTable::default();
    let mut model: BTreeMap<usize, u8> = BTreeMap::new();
    for op in ops {
        match op.clone() {
            Op::Map {
                page,
                pages,
                flags,
                replace,
            } => {
                let area = MemoryArea::new(va(page), pages * PAGE_SIZE, flags, backend.clone());
                let res = set.map(area, &mut pt, replace);
                let overlap = (page..page + pages).any(|p| model.contains_key(&p));
                if overlap && !replace {
                    prop_assert_eq!(res, Err(MappingError::AlreadyExists));
                } else {
                    prop_assert_eq!(res, Ok(()));
                    model.extend((page..page + pages).map(|p| (p, flags)));
                }
            }
            Op::Unmap { page, pages } => {
                prop_assert_eq!(set.unmap(va(page), pages * PAGE_SIZE, &mut pt), Ok(()));
                (page..page + pages).for_each(|p| {
                    model.remove(&p);
                });
            }
            Op::Protect { page, pages, flags } => {
                let res = set.protect(va(page), pages * PAGE_SIZE, |_| Some(flags), &mut pt);
                prop_assert_eq!(res, Ok(()));
                for p in page..page + pages {
                    if let Some(f) = model.get_mut(&p) {
                        *f = flags;
                    }
                }
            }
            Op::Resize { page, pages } => {
                let Some(area) = set.find(va(page)) else {
                    continue;
                };
                let (start, flags) = (area.start().as_usize() / PAGE_SIZE, area.flags());
                let old = area.size() / PAGE_SIZE;
                let res = set.resize(va(start), pages * PAGE_SIZE, &mut pt);
                let blocked = (start + old..start + pages).any(|p| model.contains_key(&p));
                if blocked {
                    prop_assert_eq!(res, Err(MappingError::AlreadyExists));
                } else {
                    prop_assert_eq!(res, Ok(()));
                    (start + pages..start + old).for_each(|p| {
                        model.remove(&p);
                    });
                    model.extend((start + old..start + pages).map(|p| (p, flags)));
                }
            }
            Op::FindFree { hint, pages } => {
                let limit = VirtAddrRange::from_start_size(va(0), SPACE * PAGE_SIZE);
                let got = set.find_free_area(va(hint), pages * PAGE_SIZE, limit, PAGE_SIZE);
                let fits = |a: &usize| (*a..*a + pages).all(|p| !model.contains_key(&p));
                let want = (hint..SPACE + 1 - pages)
                    .find(fits)
                    .or_else(|| (0..hint.min(SPACE + 1 - pages)).find(fits))
                    .map(va);
                prop_assert_eq!(got, want, "find_free_area({:?})", op);
            }
        }
        prop_assert_eq!(
            &pt.pages,
            &model,
            "page table differs from the model after {:?}",
            op
        );
        assert_consistent(&set, &pt);
    }
    let copy = set.duplicate();
    prop_assert!(
        copy.iter()
            .map(|a| (a.start(), a.size(), a.flags()))
            .eq(set.iter().map(|a| (a.start(), a.size(), a.flags()))),
        "duplicate differs"
    );
    set.clear(&mut pt).expect("clear");
    prop_assert!(
        set.is_empty() && pt.pages.is_empty(),
        "clear left something"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: super::proptest_cases(if cfg!(miri) { 2 } else { 48 }),
        ..ProptestConfig::default()
    })]

    #[test]
    fn many_areas_agree_with_the_model(ops in proptest::collection::vec(op(), 1..if cfg!(miri) { 120 } else { 1500 })) {
        run(ops, MockBackend)?;
    }

    #[test]
    fn many_merging_areas_agree_with_the_model(ops in proptest::collection::vec(op(), 1..if cfg!(miri) { 120 } else { 1500 })) {
        run(ops, MergingBackend)?;
    }
}
