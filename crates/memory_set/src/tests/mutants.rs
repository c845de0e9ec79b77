//! Cases that `cargo mutants` showed the other tests did not pin down (see `MUTANTS.md` at the
//! workspace root).

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use super::mock::{Flags, MergingSet, MockBackend, MockPageTable, Set, areas, assert_consistent};
use super::{K, R, W, X, area, merging, range, two_areas, va};
use crate::{
    MappingBackend, MappingError, MappingResult, MemoryArea, MemorySet, PAGE_SIZE, VirtAddr,
};

#[test]
fn errors_have_their_linux_errno_and_a_message() {
    let all = [
        (MappingError::InvalidParam, 22, "invalid parameter"),
        (
            MappingError::AlreadyExists,
            17,
            "range overlaps an existing mapping",
        ),
        (
            MappingError::BadState,
            14,
            "page table is in an unexpected state",
        ),
        (MappingError::NoMemory, 12, "out of memory"),
        (MappingError::NotMapped, 12, "the range is not mapped"),
    ];
    for (error, errno, message) in all {
        assert_eq!(error.errno(), errno, "{error:?}");
        assert_eq!(format!("{error}"), message);
    }
}

#[test]
fn iter_range_in_a_gap_yields_nothing() {
    let (set, _) = two_areas();
    // The area below the range ends before it starts.
    assert_eq!(set.iter_range(range(0x15000, 0x16000)).count(), 0);
    assert_eq!(set.iter_range(range(0x14000, 0x20000)).count(), 0);
    // Past the last area.
    assert_eq!(set.iter_range(range(0x30000, 0x31000)).count(), 0);
    // From inside the gap into the second area.
    let hits: Vec<_> = set
        .iter_range(range(0x15000, 0x21000))
        .map(|a| a.start().as_usize())
        .collect();
    assert_eq!(hits, vec![0x20000]);
}

#[test]
fn map_over_part_of_an_area_counts_the_areas_it_leaves() {
    // Replacing the middle of an area leaves three where there was one.
    let (mut set, mut pt) = two_areas();
    set.set_max_areas(3);
    assert_eq!(
        set.map(area(0x21000, K, W), &mut pt, true),
        Err(MappingError::NoMemory),
        "2 + 2 areas > 3"
    );
    // Replacing the tail of an area adds one.
    set.set_max_areas(2);
    assert_eq!(
        set.map(area(0x13000, 2 * K, W), &mut pt, true),
        Err(MappingError::NoMemory),
        "2 + 1 areas > 2"
    );
    assert_eq!(
        areas(&set),
        vec![(0x10000, 4 * K, R | W), (0x20000, 16 * K, R)]
    );
    assert_consistent(&set, &pt);
    // With room for them, both go through.
    set.set_max_areas(5);
    set.map(area(0x21000, K, W), &mut pt, true).unwrap();
    set.map(area(0x13000, 2 * K, W), &mut pt, true).unwrap();
    assert_eq!(set.len(), 5);
    assert_consistent(&set, &pt);
}

/// [`MockBackend`] that can also move its pages (`mremap`), which the area set's `relocate`
/// needs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Moving;

impl MappingBackend<Flags, MockPageTable> for Moving {
    fn map(
        &self,
        start: VirtAddr,
        size: usize,
        flags: Flags,
        pt: &mut MockPageTable,
    ) -> MappingResult {
        MockBackend.map(start, size, flags, pt)
    }

    fn unmap(&self, start: VirtAddr, size: usize, pt: &mut MockPageTable) -> MappingResult {
        MockBackend.unmap(start, size, pt)
    }

    fn protect(
        &self,
        start: VirtAddr,
        size: usize,
        flags: Flags,
        pt: &mut MockPageTable,
    ) -> MappingResult {
        MockBackend.protect(start, size, flags, pt)
    }

    fn relocate(
        &self,
        from: VirtAddr,
        to: VirtAddr,
        size: usize,
        pt: &mut MockPageTable,
    ) -> MappingResult<Self> {
        let (from, to) = (from.as_usize() / PAGE_SIZE, to.as_usize() / PAGE_SIZE);
        let moved: Vec<Flags> = (from..from + size / PAGE_SIZE)
            .map(|page| {
                pt.pages
                    .remove(&page)
                    .expect("relocate of an unmapped page")
            })
            .collect();
        for (i, flags) in moved.into_iter().enumerate() {
            assert!(
                pt.pages.insert(to + i, flags).is_none(),
                "relocate over a page"
            );
        }
        Ok(Moving)
    }
}

type MovingSet = MemorySet<Flags, MockPageTable, Moving>;

fn moving_area(start: usize, size: usize, flags: Flags) -> MemoryArea<Flags, Moving> {
    MemoryArea::new(va(start), size, flags, Moving)
}

/// One area `[0x10000, 0x14000)` RW that can move.
fn one_moving_area() -> (MovingSet, MockPageTable) {
    let mut set = MovingSet::new();
    let mut pt = MockPageTable::default();
    set.map(moving_area(0x10000, 4 * K, R | W), &mut pt, false)
        .unwrap();
    (set, pt)
}

#[test]
fn relocate_to_a_destination_that_touches_the_source() {
    let (mut set, mut pt) = one_moving_area();
    // Right above the source: adjacent, not overlapping.
    set.relocate(va(0x10000), 4 * K, va(0x14000), &mut pt)
        .unwrap();
    assert_eq!(areas(&set), vec![(0x14000, 4 * K, R | W)]);
    assert_consistent(&set, &pt);
    // Right below it.
    set.relocate(va(0x14000), 4 * K, va(0x10000), &mut pt)
        .unwrap();
    assert_eq!(areas(&set), vec![(0x10000, 4 * K, R | W)]);
    // Far below it.
    set.relocate(va(0x10000), 4 * K, va(0x2000), &mut pt)
        .unwrap();
    assert_eq!(areas(&set), vec![(0x2000, 4 * K, R | W)]);
    assert_consistent(&set, &pt);
    // Overlapping either way: refused.
    for to in [0x3000, 0x1000] {
        assert_eq!(
            set.relocate(va(0x2000), 4 * K, va(to), &mut pt),
            Err(MappingError::InvalidParam),
            "to {to:#x}"
        );
    }
    assert_eq!(areas(&set), vec![(0x2000, 4 * K, R | W)]);
}

#[test]
fn relocate_the_tail_of_an_area() {
    let (mut set, mut pt) = one_moving_area();
    set.relocate(va(0x12000), 2 * K, va(0x40000), &mut pt)
        .unwrap();
    assert_eq!(
        areas(&set),
        vec![(0x10000, 2 * K, R | W), (0x40000, 2 * K, R | W)]
    );
    assert_consistent(&set, &pt);
    // Past the end of the area: not inside one area.
    assert_eq!(
        set.relocate(va(0x11000), 2 * K, va(0x50000), &mut pt),
        Err(MappingError::NotMapped)
    );
}

#[test]
fn relocate_counts_the_areas_its_splits_add() {
    // Moving the middle out leaves three areas where there was one.
    let (mut set, mut pt) = one_moving_area();
    set.set_max_areas(2);
    assert_eq!(
        set.relocate(va(0x11000), K, va(0x40000), &mut pt),
        Err(MappingError::NoMemory)
    );
    assert_eq!(areas(&set), vec![(0x10000, 4 * K, R | W)]);
    assert_consistent(&set, &pt);
    // The head or the tail: two.
    set.relocate(va(0x10000), K, va(0x40000), &mut pt).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(
        set.relocate(va(0x13000), K, va(0x50000), &mut pt),
        Err(MappingError::NoMemory),
        "a third area"
    );
    // A whole area: no new one.
    set.relocate(va(0x11000), 3 * K, va(0x60000), &mut pt)
        .unwrap();
    assert_eq!(
        areas(&set),
        vec![(0x40000, K, R | W), (0x60000, 3 * K, R | W)]
    );
    // The middle needs two more.
    set.set_max_areas(3);
    assert_eq!(
        set.relocate(va(0x61000), K, va(0x70000), &mut pt),
        Err(MappingError::NoMemory)
    );
    set.set_max_areas(4);
    set.relocate(va(0x61000), K, va(0x70000), &mut pt).unwrap();
    assert_eq!(set.len(), 4);
    assert_consistent(&set, &pt);
}

#[test]
fn sets_and_areas_debug_print_their_ranges_and_flags() {
    let (set, _) = two_areas();
    let shown = format!("{set:?}");
    let listed: Vec<_> = set.iter().map(|a| format!("{a:?}")).collect();
    assert_eq!(shown, format!("[{}]", listed.join(", ")));
    assert!(
        listed[0].starts_with("MemoryArea { va_range: ") && listed[0].contains("flags: 3"),
        "{}",
        listed[0]
    );
    assert!(listed[1].contains("flags: 1"), "{}", listed[1]);
}

#[test]
fn a_failed_protect_rejoins_only_the_pieces_it_split() {
    // [A: R][B: RW][C: R], adjacent: the protect cuts A, changes B in place and fails on C.
    // Rolling back A's piece rejoins it with the rest of A, never with B.
    let mut set = Set::new();
    let mut pt = MockPageTable::default();
    set.map(area(0x10000, 2 * K, R), &mut pt, false).unwrap();
    set.map(area(0x12000, 2 * K, R | W), &mut pt, false)
        .unwrap();
    set.map(area(0x14000, 2 * K, R), &mut pt, false).unwrap();
    let before = areas(&set);
    pt.fail_at = Some(pt.calls + 2);
    assert_eq!(
        set.protect(va(0x11000), 0x5000, |_| Some(X), &mut pt),
        Err(MappingError::BadState)
    );
    assert_eq!(areas(&set), before);
    assert_consistent(&set, &pt);
}

#[test]
fn find_at_the_last_address_sees_no_area_past_the_last() {
    let (set, _) = two_areas();
    assert!(set.find(va(usize::MAX)).is_none());
    assert!(set.find(va(usize::MAX - 1)).is_none());
    let mut top = Set::new();
    let mut pt = MockPageTable::default();
    top.map(area(usize::MAX - 0xfff - 0x1000, K, R), &mut pt, false)
        .unwrap();
    assert!(top.find(va(usize::MAX)).is_none(), "the top page is free");
}

#[test]
fn an_empty_range_inside_an_area_overlaps_nothing() {
    let (set, _) = two_areas();
    assert_eq!(set.iter_range(range(0x11000, 0x11000)).count(), 0);
    assert!(!set.overlaps(range(0x11000, 0x11000)));
}

#[test]
fn the_area_limit_is_reported() {
    assert_eq!(Set::new().max_areas(), usize::MAX, "unlimited");
    assert_eq!(Set::with_max_areas(5).max_areas(), 5);
}

#[test]
fn a_protect_that_changes_nothing_leaves_the_areas_alone() {
    // A refused rollback leaves a piece with its new flags next to an area with the same
    // flags (of a backend that merges); a later protect that changes no area must not touch
    // them, not even merge them.
    let mut set = MergingSet::new();
    let mut pt = MockPageTable::default();
    set.map(merging::area(0x10000, 2 * K, R | W), &mut pt, false)
        .unwrap();
    set.map(merging::area(0x12000, 2 * K, X), &mut pt, false)
        .unwrap();
    pt.fail_at = Some(pt.calls + 1);
    pt.fail_after = true;
    assert_eq!(
        set.protect(va(0x11000), 0x3000, |_| Some(X), &mut pt),
        Err(MappingError::BadState)
    );
    pt.fail_at = None;
    let before = areas(&set);
    assert_eq!(before[1..], [(0x11000, K, X), (0x12000, 2 * K, X)]);
    assert_eq!(set.protect(va(0x10000), 0x4000, |_| None, &mut pt), Ok(()));
    assert_eq!(areas(&set), before);
    assert_consistent(&set, &pt);
}

#[test]
fn a_protect_that_cuts_one_area_once_counts_one_more_area() {
    let mut set = Set::with_max_areas(2);
    let mut pt = MockPageTable::default();
    set.map(area(0x10000, 4 * K, R), &mut pt, false).unwrap();
    set.map(area(0x20000, 4 * K, R), &mut pt, false).unwrap();
    for (start, what) in [(0x20000, "the head"), (0x23000, "the tail")] {
        assert_eq!(
            set.protect(va(start), K, |_| Some(W), &mut pt),
            Err(MappingError::NoMemory),
            "{what} of an area needs a third"
        );
    }
    assert_eq!(areas(&set), vec![(0x10000, 4 * K, R), (0x20000, 4 * K, R)]);
}
