//! Unit tests of the area set against a page-granular mock page table.

mod bad_input;
mod large;
mod merging;
mod mock;
mod model;
mod mutants;
mod tree;

use alloc::vec;
use alloc::vec::Vec;

use self::mock::{MockBackend, MockPageTable, Set, areas, assert_consistent};
use crate::{MappingError, MemoryArea, PAGE_SIZE, VirtAddr, VirtAddrRange};

pub(super) const R: u8 = 1;
pub(super) const W: u8 = 2;
pub(super) const X: u8 = 4;
pub(super) const K: usize = PAGE_SIZE;

pub(super) fn va(addr: usize) -> VirtAddr {
    VirtAddr::from_usize(addr)
}

fn area(start: usize, size: usize, flags: u8) -> MemoryArea<u8, MockBackend> {
    MemoryArea::new(va(start), size, flags, MockBackend)
}

fn range(start: usize, end: usize) -> VirtAddrRange {
    VirtAddrRange {
        start: va(start),
        end: va(end),
    }
}

/// A set with areas `[0x10000, 0x14000)` RW and `[0x20000, 0x30000)` R.
fn two_areas() -> (Set, MockPageTable) {
    let mut set = Set::new();
    let mut pt = MockPageTable::default();
    set.map(area(0x10000, 4 * K, R | W), &mut pt, false)
        .unwrap();
    set.map(area(0x20000, 16 * K, R), &mut pt, false).unwrap();
    assert_consistent(&set, &pt);
    (set, pt)
}

#[test]
fn map_inserts_sorted_and_maps_every_page() {
    let (set, pt) = two_areas();
    assert_eq!(
        areas(&set),
        vec![(0x10000, 4 * K, R | W), (0x20000, 16 * K, R)]
    );
    assert_eq!(pt.pages.len(), 20, "4 + 16 pages mapped");
    assert_eq!(set.len(), 2);
    assert!(!set.is_empty());
}

#[test]
fn map_overlap_without_replace_is_already_exists_and_changes_nothing() {
    let (mut set, mut pt) = two_areas();
    for (start, size) in [
        (0x10000, K),
        (0xf000, 2 * K),
        (0x13000, 0x10000),
        (0x1f000, 0x20000),
    ] {
        let err = set.map(area(start, size, X), &mut pt, false);
        assert_eq!(
            err,
            Err(MappingError::AlreadyExists),
            "map at {start:#x}+{size:#x}"
        );
        let err = set.map_noreplace(area(start, size, X), &mut pt);
        assert_eq!(
            err,
            Err(MappingError::AlreadyExists),
            "map_noreplace at {start:#x}"
        );
    }
    assert_eq!(
        areas(&set),
        vec![(0x10000, 4 * K, R | W), (0x20000, 16 * K, R)]
    );
    assert_consistent(&set, &pt);
}

#[test]
fn map_fixed_replaces_overlapped_parts() {
    let (mut set, mut pt) = two_areas();
    // Covers the tail of the first area, the hole and the head of the second.
    set.map(area(0x12000, 0x10000, X), &mut pt, true).unwrap();
    assert_eq!(
        areas(&set),
        vec![
            (0x10000, 2 * K, R | W),
            (0x12000, 0x10000, X),
            (0x22000, 14 * K, R)
        ]
    );
    assert_consistent(&set, &pt);
    // Strictly inside one area: splits it.
    set.map_fixed(area(0x24000, K, W), &mut pt).unwrap();
    assert_eq!(
        areas(&set),
        vec![
            (0x10000, 2 * K, R | W),
            (0x12000, 0x10000, X),
            (0x22000, 2 * K, R),
            (0x24000, K, W),
            (0x25000, 11 * K, R)
        ]
    );
    assert_consistent(&set, &pt);
}

#[test]
fn unmap_shrinks_splits_removes_and_skips_holes() {
    let (mut set, mut pt) = two_areas();
    set.unmap(va(0x11000), K, &mut pt).unwrap(); // split
    assert_eq!(
        areas(&set),
        vec![
            (0x10000, K, R | W),
            (0x12000, 2 * K, R | W),
            (0x20000, 16 * K, R)
        ]
    );
    set.unmap(va(0x13000), 0xe000, &mut pt).unwrap(); // tail of one, hole, head of next
    assert_eq!(
        areas(&set),
        vec![
            (0x10000, K, R | W),
            (0x12000, K, R | W),
            (0x21000, 15 * K, R)
        ]
    );
    set.unmap(va(0), 0x21000, &mut pt).unwrap(); // two whole areas and holes
    assert_eq!(areas(&set), vec![(0x21000, 15 * K, R)]);
    set.unmap(va(0x2f000), 0x100000, &mut pt).unwrap(); // shrink end
    assert_eq!(areas(&set), vec![(0x21000, 14 * K, R)]);
    set.unmap(va(0x40000), 0x1000, &mut pt).unwrap(); // pure hole
    assert_eq!(areas(&set), vec![(0x21000, 14 * K, R)]);
    assert_consistent(&set, &pt);
    set.unmap(va(0x21000), 14 * K, &mut pt).unwrap();
    assert!(set.is_empty());
    assert_consistent(&set, &pt);
}

#[test]
fn unmap_zero_size_changes_nothing() {
    let (mut set, mut pt) = two_areas();
    let calls = pt.calls;
    assert_eq!(set.unmap(va(0x10000), 0, &mut pt), Ok(()));
    assert_eq!(pt.calls, calls, "no backend call for an empty range");
    assert_eq!(
        areas(&set),
        vec![(0x10000, 4 * K, R | W), (0x20000, 16 * K, R)]
    );
}

#[test]
fn protect_splits_at_range_bounds_and_skips_holes() {
    let (mut set, mut pt) = two_areas();
    set.protect(va(0x12000), 0x10000, |_| Some(R | X), &mut pt)
        .unwrap();
    assert_eq!(
        areas(&set),
        vec![
            (0x10000, 2 * K, R | W),
            (0x12000, 2 * K, R | X),
            (0x20000, 2 * K, R | X),
            (0x22000, 14 * K, R)
        ]
    );
    assert_eq!(pt.pages[&0x13], R | X);
    assert_eq!(pt.pages[&0x22], R);
    assert_consistent(&set, &pt);
}

#[test]
fn protect_none_leaves_part_alone_without_split() {
    let (mut set, mut pt) = two_areas();
    let calls = pt.calls;
    // Only areas that are writable change.
    let drop_write = |f: u8| (f & W != 0).then_some(f & !W);
    set.protect(va(0x11000), 0x18000, drop_write, &mut pt)
        .unwrap();
    assert_eq!(
        areas(&set),
        vec![
            (0x10000, K, R | W),
            (0x11000, 3 * K, R),
            (0x20000, 16 * K, R)
        ],
        "the read-only area is not split"
    );
    assert_eq!(
        pt.calls,
        calls + 1,
        "one backend call, for the writable part only"
    );
    assert_consistent(&set, &pt);
}

#[test]
fn protect_inside_one_area_splits_in_three() {
    let (mut set, mut pt) = two_areas();
    set.protect(va(0x24000), 2 * K, |_| Some(0), &mut pt)
        .unwrap();
    assert_eq!(
        areas(&set),
        vec![
            (0x10000, 4 * K, R | W),
            (0x20000, 4 * K, R),
            (0x24000, 2 * K, 0),
            (0x26000, 10 * K, R)
        ]
    );
    assert_consistent(&set, &pt);
    assert_eq!(
        set.protect(va(0x24000), 0, |_| Some(R), &mut pt),
        Ok(()),
        "zero size is a no-op"
    );
    assert_eq!(set.len(), 4);
}

#[test]
fn find_and_overlaps() {
    let (set, _) = two_areas();
    assert_eq!(set.find(va(0x10000)).map(|a| a.start()), Some(va(0x10000)));
    assert_eq!(set.find(va(0x13fff)).map(|a| a.start()), Some(va(0x10000)));
    assert_eq!(set.find(va(0x14000)).map(|a| a.start()), None);
    assert_eq!(set.find(va(0x2ffff)).map(|a| a.start()), Some(va(0x20000)));
    assert_eq!(set.find(va(0)).map(|a| a.start()), None);
    assert!(set.overlaps(range(0x13000, 0x14000)));
    assert!(set.overlaps(range(0x0, 0x10001)));
    assert!(!set.overlaps(range(0x14000, 0x20000)));
    assert!(
        !set.overlaps(range(0x13000, 0x13000)),
        "empty range overlaps nothing"
    );
    assert!(
        !set.overlaps(range(0x30000, 0x10000)),
        "reversed range overlaps nothing"
    );
    let hits: Vec<_> = set
        .iter_range(range(0x13000, 0x21000))
        .map(|a| a.start().as_usize())
        .collect();
    assert_eq!(hits, vec![0x10000, 0x20000]);
}

#[test]
fn find_free_area_lowest_at_or_above_hint_then_wraps() {
    let (set, _) = two_areas();
    let limit = range(0x10000, 0x40000);
    // At the hint when free.
    assert_eq!(
        set.find_free_area(va(0x14000), 0xc000, limit, K),
        Some(va(0x14000))
    );
    // Hole too small above hint: next fit after the second area.
    assert_eq!(
        set.find_free_area(va(0x14000), 0xd000, limit, K),
        Some(va(0x30000))
    );
    // Hint inside an area: the first free address after it.
    assert_eq!(
        set.find_free_area(va(0x21000), K, limit, K),
        Some(va(0x30000))
    );
    // Nothing fits above the hint: wraps to the lowest fit below it.
    assert_eq!(
        set.find_free_area(va(0x38000), 0x9000, limit, K),
        Some(va(0x14000))
    );
    // Never past limit.end.
    assert_eq!(
        set.find_free_area(va(0x30000), 0x10000, limit, K),
        Some(va(0x30000))
    );
    assert_eq!(set.find_free_area(va(0x30000), 0x11000, limit, K), None);
    // Unaligned hint is rounded up; alignment honoured.
    assert_eq!(
        set.find_free_area(va(0x14001), K, limit, K),
        Some(va(0x15000))
    );
    assert_eq!(
        set.find_free_area(va(0x14000), K, limit, 0x10000),
        Some(va(0x30000))
    );
    // Hint below the limit: starts at limit.start.
    assert_eq!(
        set.find_free_area(va(0), K, range(0x12000, 0x40000), K),
        Some(va(0x14000))
    );
}

#[test]
fn find_free_area_on_empty_set_and_at_the_top() {
    let set = Set::new();
    let all = range(0, usize::MAX);
    assert_eq!(set.find_free_area(va(0), K, all, K), Some(va(0)));
    let top = usize::MAX - K + 1; // 0xffff_ffff_ffff_f000
    let from_top = range(top, usize::MAX);
    assert_eq!(
        set.find_free_area(va(top), K, from_top, K),
        None,
        "the last page cannot be an area"
    );
    assert_eq!(
        set.find_free_area(va(top), K, range(top - K, usize::MAX), K),
        Some(va(top - K))
    );
    assert_eq!(
        set.find_free_area(va(top), K, all, K),
        Some(va(0)),
        "wraps below the hint"
    );
}

#[test]
fn clear_unmaps_everything_and_resets_the_gaps() {
    let (mut set, mut pt) = two_areas();
    set.clear(&mut pt).unwrap();
    assert!(set.is_empty());
    assert!(pt.pages.is_empty());
    assert_consistent(&set, &pt);
}

#[test]
fn max_areas_refuses_before_changing_anything() {
    let mut set = Set::with_max_areas(2);
    let mut pt = MockPageTable::default();
    set.map(area(0x10000, 4 * K, R), &mut pt, false).unwrap();
    set.map(area(0x20000, 4 * K, R), &mut pt, false).unwrap();
    assert_eq!(
        set.map(area(0x30000, K, R), &mut pt, false),
        Err(MappingError::NoMemory)
    );
    assert_eq!(
        set.unmap(va(0x11000), K, &mut pt),
        Err(MappingError::NoMemory),
        "split needs a third"
    );
    assert_eq!(
        set.protect(va(0x21000), K, |_| Some(W), &mut pt),
        Err(MappingError::NoMemory)
    );
    assert_eq!(areas(&set), vec![(0x10000, 4 * K, R), (0x20000, 4 * K, R)]);
    assert_consistent(&set, &pt);
    // Replacing one whole area keeps the count: allowed.
    set.map(area(0x20000, 4 * K, W), &mut pt, true).unwrap();
    // Shrinking needs no extra area: allowed.
    set.unmap(va(0x10000), K, &mut pt).unwrap();
    set.protect(va(0x11000), 3 * K, |_| Some(X), &mut pt)
        .unwrap();
    assert_eq!(areas(&set), vec![(0x11000, 3 * K, X), (0x20000, 4 * K, W)]);
    assert_consistent(&set, &pt);
}

/// Found by the `area_ops` fuzz target: above a limit lowered with `set_max_areas`, an
/// operation that adds no area (a whole-area unmap, `resize` to 0 or smaller, a protect that
/// splits nothing) was refused with `NoMemory`, so a set over its limit could not even give
/// areas back.
#[test]
fn operations_that_add_no_area_pass_above_a_lowered_limit() {
    let mut set = Set::new();
    let mut pt = MockPageTable::default();
    for i in 0..4 {
        set.map(area(0x10000 + i * 2 * K, 2 * K, R), &mut pt, false)
            .unwrap();
    }
    set.set_max_areas(1);
    set.unmap(va(0x10000), 2 * K, &mut pt).unwrap();
    set.resize(va(0x12000), 0, &mut pt).unwrap();
    set.resize(va(0x14000), K, &mut pt).unwrap();
    set.protect(va(0x14000), K, |_| Some(W), &mut pt).unwrap();
    // Replacing a whole area keeps the count.
    set.map(area(0x16000, 2 * K, X), &mut pt, true).unwrap();
    assert_eq!(areas(&set), vec![(0x14000, K, W), (0x16000, 2 * K, X)]);
    assert_consistent(&set, &pt);
    // What adds an area is still refused.
    assert_eq!(
        set.unmap(va(0x16000), K, &mut pt)
            .and(set.unmap(va(0x14000), K, &mut pt)),
        Ok(()),
        "cutting heads and whole areas adds none"
    );
    assert_eq!(
        set.map(area(0x30000, K, R), &mut pt, false),
        Err(MappingError::NoMemory)
    );
    assert_consistent(&set, &pt);
}

#[test]
fn failing_map_without_overlap_changes_nothing() {
    let (mut set, mut pt) = two_areas();
    pt.fail_at = Some(pt.calls);
    assert_eq!(
        set.map(area(0x40000, K, R), &mut pt, false),
        Err(MappingError::BadState)
    );
    assert_eq!(
        areas(&set),
        vec![(0x10000, 4 * K, R | W), (0x20000, 16 * K, R)]
    );
    assert_consistent(&set, &pt);
}

#[test]
fn failing_unmap_stops_and_set_matches_page_table() {
    let (mut set, mut pt) = two_areas();
    // Areas are unmapped from the bottom: the tail of the first goes (call 0), cutting the head
    // of the second fails (call 1).
    pt.fail_at = Some(pt.calls + 1);
    assert_eq!(
        set.unmap(va(0x11000), 0x10000, &mut pt),
        Err(MappingError::BadState)
    );
    assert_eq!(areas(&set), vec![(0x10000, K, R | W), (0x20000, 16 * K, R)]);
    assert_consistent(&set, &pt);
}

#[test]
fn unmap_of_many_areas_removes_them_and_joins_the_gaps() {
    let mut set = Set::new();
    let mut pt = MockPageTable::default();
    for i in 0..10 {
        set.map(area(0x10000 + i * 2 * K, K, R), &mut pt, false)
            .unwrap();
    }
    // Cuts into nothing at the edges; removes areas 1..=8 whole.
    set.unmap(va(0x12000), 16 * K, &mut pt).unwrap();
    assert_eq!(areas(&set), vec![(0x10000, K, R), (0x22000, K, R)]);
    assert_consistent(&set, &pt);
    // A failure in the middle of a run of whole areas: the ones below are gone.
    for i in 1..9 {
        set.map(area(0x10000 + i * 2 * K, K, W), &mut pt, false)
            .unwrap();
    }
    pt.fail_at = Some(pt.calls + 3);
    assert_eq!(
        set.unmap(va(0x10000), 0x20000, &mut pt),
        Err(MappingError::BadState)
    );
    let left: Vec<_> = areas(&set).iter().map(|a| a.0).collect();
    assert_eq!(
        left,
        vec![
            0x16000, 0x18000, 0x1a000, 0x1c000, 0x1e000, 0x20000, 0x22000
        ]
    );
    assert_consistent(&set, &pt);
}

#[test]
fn failing_protect_rolls_back_and_rejoins() {
    let (mut set, mut pt) = two_areas();
    // The first piece succeeds, the second fails: the first is protected back and rejoined.
    pt.fail_at = Some(pt.calls + 1);
    assert_eq!(
        set.protect(va(0x11000), 0x12000, |_| Some(X), &mut pt),
        Err(MappingError::BadState)
    );
    assert_eq!(
        areas(&set),
        vec![(0x10000, 4 * K, R | W), (0x20000, 16 * K, R)]
    );
    assert_consistent(&set, &pt);
}

#[test]
fn protect_of_many_areas_and_its_rollback() {
    let mut set = Set::new();
    let mut pt = MockPageTable::default();
    for i in 0..6 {
        set.map(area(0x10000 + i * 4 * K, 2 * K, R), &mut pt, false)
            .unwrap();
    }
    let before = areas(&set);
    // Cuts the first and last areas, changes the four between in place; the fifth backend call
    // (the fifth area) fails: the four pieces already changed are restored and rejoined.
    pt.fail_at = Some(pt.calls + 4);
    let err = set.protect(va(0x11000), 0x14000, |_| Some(R | W), &mut pt);
    assert_eq!(err, Err(MappingError::BadState));
    assert_eq!(areas(&set), before, "rolled back completely");
    assert_consistent(&set, &pt);
    set.protect(va(0x11000), 0x14000, |_| Some(R | W), &mut pt)
        .unwrap();
    assert_eq!(
        areas(&set),
        vec![
            (0x10000, K, R),
            (0x11000, K, R | W),
            (0x14000, 2 * K, R | W),
            (0x18000, 2 * K, R | W),
            (0x1c000, 2 * K, R | W),
            (0x20000, 2 * K, R | W),
            (0x24000, K, R | W),
            (0x25000, K, R)
        ]
    );
    assert_consistent(&set, &pt);
}

#[test]
fn failing_protect_whose_rollback_fails_keeps_the_new_flags() {
    let (mut set, mut pt) = two_areas();
    pt.fail_at = Some(pt.calls + 1);
    pt.fail_after = true;
    assert_eq!(
        set.protect(va(0x11000), 0x12000, |_| Some(X), &mut pt),
        Err(MappingError::BadState)
    );
    assert_eq!(
        areas(&set),
        vec![
            (0x10000, K, R | W),
            (0x11000, 3 * K, X),
            (0x20000, 16 * K, R)
        ],
        "the piece the backend could not restore stays an area with its new flags"
    );
    assert_consistent(&set, &pt);
}

#[test]
fn failing_map_fixed_leaves_replaced_range_unmapped() {
    let (mut set, mut pt) = two_areas();
    // Call 0 unmaps the overlapped part, call 1 (the new map) fails.
    pt.fail_at = Some(pt.calls + 1);
    assert_eq!(
        set.map(area(0x12000, 4 * K, X), &mut pt, true),
        Err(MappingError::BadState)
    );
    assert_eq!(
        areas(&set),
        vec![(0x10000, 2 * K, R | W), (0x20000, 16 * K, R)]
    );
    assert_consistent(&set, &pt);
}

#[test]
fn area_accessors() {
    let a = area(0x5000, 3 * K, R | X);
    assert_eq!(a.start(), va(0x5000));
    assert_eq!(a.end(), va(0x8000));
    assert_eq!(a.size(), 3 * K);
    assert_eq!(a.flags(), R | X);
    assert_eq!(a.backend(), &MockBackend);
    assert_eq!(a.va_range(), range(0x5000, 0x8000));
    // Overflowing areas can be built (no panic); their end saturates.
    let huge = area(usize::MAX - K + 1, 2 * K, R);
    assert_eq!(huge.end(), va(usize::MAX));
}

#[test]
fn display_of_errors() {
    use alloc::string::ToString;
    assert_eq!(MappingError::InvalidParam.to_string(), "invalid parameter");
    assert_eq!(MappingError::NoMemory.to_string(), "out of memory");
    let err: &dyn core::error::Error = &MappingError::AlreadyExists;
    assert_eq!(err.to_string(), "range overlaps an existing mapping");
}

/// The number of cases a property test runs: `default`, or fewer when the environment's
/// `PROPTEST_CASES` asks for fewer (mutation testing runs the suite once per mutant; see
/// `MUTANTS.md`). It never raises the number.
pub(super) fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse::<u32>().ok())
        .map_or(default, |cases| cases.clamp(1, default))
}
