//! State-machine property test: random operations, some with a backend call that fails, against
//! a page-granular model. After every operation, Ok or Err, set, page table and model agree.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::mock::{MergingBackend, MockBackend, MockPageTable, assert_consistent};
use crate::{MappingBackend, MemorySet};
use crate::{MappingError, MemoryArea, PAGE_SIZE, VirtAddr, VirtAddrRange};

/// The model address space: pages `0..SPACE`. Small, so operations collide often.
const SPACE: usize = 48;

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
    /// `only_if`: change only parts whose flags contain this bit (tests `None` from the closure).
    Protect {
        page: usize,
        pages: usize,
        flags: u8,
        only_if: u8,
    },
    FindFree {
        hint: usize,
        pages: usize,
        lo: usize,
        hi: usize,
        align_shift: u32,
    },
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..SPACE, 0..12usize, 0..8u8, any::<bool>())
            .prop_map(|(page, pages, flags, replace)| Op::Map { page, pages, flags, replace }),
        3 => (0..SPACE, 0..16usize).prop_map(|(page, pages)| Op::Unmap { page, pages }),
        3 => (0..SPACE, 0..16usize, 0..8u8, 0..8u8)
            .prop_map(|(page, pages, flags, only_if)| Op::Protect { page, pages, flags, only_if }),
        2 => (0..SPACE + 8, 0..8usize, 0..SPACE, 0..SPACE + 8, 0..3u32).prop_map(
            |(hint, pages, lo, hi, align_shift)| Op::FindFree { hint, pages, lo, hi, align_shift }
        ),
        1 => Just(Op::Clear),
    ]
}

fn va(page: usize) -> VirtAddr {
    VirtAddr::from_usize(page * PAGE_SIZE)
}

/// The model's answer to find_free_area, by brute force over pages.
fn model_find_free(
    model: &BTreeMap<usize, u8>,
    hint: usize,
    pages: usize,
    lo: usize,
    hi: usize,
    align: usize,
) -> Option<usize> {
    if pages == 0 || lo >= hi {
        return None;
    }
    let fits = |a: usize| {
        a.is_multiple_of(align)
            && a >= lo
            && a + pages <= hi
            && (a..a + pages).all(|p| !model.contains_key(&p))
    };
    (hint.max(lo)..hi)
        .find(|&a| fits(a))
        .or_else(|| (lo..hint.min(hi)).find(|&a| fits(a)))
}

/// Runs `ops` on a set of areas backed by `backend`; with `merges`, also checks after every
/// operation without an injected failure that no two adjacent areas have equal flags (merging
/// leaves no mergeable neighbours behind).
fn run<B: MappingBackend<u8, MockPageTable>>(
    ops: Vec<(Op, Option<usize>)>,
    backend: B,
    merges: bool,
) -> Result<(), TestCaseError> {
    let mut set = MemorySet::<u8, MockPageTable, B>::new();
    let mut pt = MockPageTable::default();
    let mut model: BTreeMap<usize, u8> = BTreeMap::new();
    for (op, fail_in) in ops {
        // `fail_in = Some(n)`: the n-th backend call of this operation fails.
        pt.fail_at = fail_in.map(|n| pt.calls + n);
        let before = model.clone();
        let result = match op.clone() {
            Op::Map {
                page,
                pages,
                flags,
                replace,
            } => {
                let res = set.map(
                    MemoryArea::new(va(page), pages * PAGE_SIZE, flags, backend.clone()),
                    &mut pt,
                    replace,
                );
                let overlap = (page..page + pages).any(|p| model.contains_key(&p));
                match (pages, overlap, replace) {
                    (0, ..) => prop_assert_eq!(res, Err(MappingError::InvalidParam)),
                    (_, true, false) => prop_assert_eq!(res, Err(MappingError::AlreadyExists)),
                    _ if res.is_ok() => model.extend((page..page + pages).map(|p| (p, flags))),
                    _ => {}
                }
                res
            }
            Op::Unmap { page, pages } => {
                let res = set.unmap(va(page), pages * PAGE_SIZE, &mut pt);
                if res.is_ok() {
                    (page..page + pages).for_each(|p| {
                        model.remove(&p);
                    });
                }
                res
            }
            Op::Protect {
                page,
                pages,
                flags,
                only_if,
            } => {
                let update = |old: u8| (only_if == 0 || old & only_if != 0).then_some(flags);
                let res = set.protect(va(page), pages * PAGE_SIZE, update, &mut pt);
                if res.is_ok() {
                    for p in page..page + pages {
                        if let Some(f) = model.get_mut(&p)
                            && let Some(new) = update(*f)
                        {
                            *f = new;
                        }
                    }
                } else {
                    // A single failing call is rolled back completely.
                    prop_assert_eq!(&pt.pages, &before, "failed protect was not rolled back");
                }
                res
            }
            Op::FindFree {
                hint,
                pages,
                lo,
                hi,
                align_shift,
            } => {
                let align = PAGE_SIZE << align_shift;
                let limit = VirtAddrRange {
                    start: va(lo),
                    end: va(hi),
                };
                let got = set.find_free_area(va(hint), pages * PAGE_SIZE, limit, align);
                let want = model_find_free(&model, hint, pages, lo, hi, 1 << align_shift).map(va);
                prop_assert_eq!(got, want, "find_free_area({:?})", op);
                Ok(())
            }
            Op::Clear => {
                let res = set.clear(&mut pt);
                if res.is_ok() {
                    model.clear();
                }
                res
            }
        };
        if result.is_err() && fail_in.is_some() {
            // A backend failure may legitimately have unmapped a prefix (unmap, MAP_FIXED):
            // the page table is the truth, and it must never have gained pages.
            prop_assert!(
                pt.pages.keys().all(|p| before.contains_key(p)) || matches!(op, Op::Map { .. }),
                "a failed operation added pages: {:?}",
                op
            );
            model = pt.pages.clone();
        }
        if result.is_err() && fail_in.is_none() {
            prop_assert_eq!(
                &model,
                &before,
                "an operation refused without backend failure changed the model"
            );
        }
        prop_assert_eq!(
            &pt.pages,
            &model,
            "page table differs from the model after {:?}",
            op
        );
        assert_consistent(&set, &pt);
        if merges && fail_in.is_none() {
            let areas: Vec<_> = set.iter().collect();
            for pair in areas.windows(2) {
                prop_assert!(
                    pair[0].end() != pair[1].start() || pair[0].flags() != pair[1].flags(),
                    "mergeable neighbours left after {:?}: {:?}",
                    op,
                    pair
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Fewer cases under Miri, same operations.
        cases: super::proptest_cases(if cfg!(miri) { 16 } else { 512 }),
        ..ProptestConfig::default()
    })]

    #[test]
    fn set_page_table_and_model_agree(ops in proptest::collection::vec((op(), proptest::option::weighted(0.15, 0..3usize)), 1..60)) {
        run(ops, MockBackend, false)?;
    }

    #[test]
    fn merging_set_page_table_and_model_agree(ops in proptest::collection::vec((op(), proptest::option::weighted(0.15, 0..3usize)), 1..60)) {
        run(ops, MergingBackend, true)?;
    }
}
