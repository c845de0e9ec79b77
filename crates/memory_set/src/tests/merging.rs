//! Merging of compatible neighbours, resizing in place, the area limit changed later.

use super::mock::{MergingBackend, MergingSet, MockPageTable, areas, assert_consistent};
use super::{K, R, W, X, va};
use crate::{MappingError, MemoryArea};

/// A merging area of `size` bytes at `start`.
pub(super) fn area(start: usize, size: usize, flags: u8) -> MemoryArea<u8, MergingBackend> {
    MemoryArea::new(va(start), size, flags, MergingBackend)
}

#[test]
fn adjacent_maps_with_equal_flags_become_one_area() {
    let mut set = MergingSet::new();
    let mut pt = MockPageTable::default();
    set.map(area(0x10000, 2 * K, R | W), &mut pt, false)
        .unwrap();
    set.map(area(0x14000, 2 * K, R | W), &mut pt, false)
        .unwrap();
    set.map(area(0x16000, K, R), &mut pt, false).unwrap();
    assert_eq!(
        areas(&set),
        [
            (0x10000, 2 * K, R | W),
            (0x14000, 2 * K, R | W),
            (0x16000, K, R)
        ]
    );
    // Filling the hole joins the three pieces with equal flags; the read-only one stays apart.
    set.map(area(0x12000, 2 * K, R | W), &mut pt, false)
        .unwrap();
    assert_eq!(areas(&set), [(0x10000, 6 * K, R | W), (0x16000, K, R)]);
    assert_consistent(&set, &pt);
}

#[test]
fn protect_merges_what_it_makes_equal_and_a_round_trip_restores_one_area() {
    let mut set = MergingSet::new();
    let mut pt = MockPageTable::default();
    set.map(area(0x10000, 8 * K, R | W), &mut pt, false)
        .unwrap();
    set.protect(va(0x12000), 2 * K, |_| Some(R), &mut pt)
        .unwrap();
    assert_eq!(areas(&set).len(), 3);
    set.protect(va(0x12000), 2 * K, |_| Some(R | W), &mut pt)
        .unwrap();
    assert_eq!(areas(&set), [(0x10000, 8 * K, R | W)]);
    // Two separately mapped neighbours merge once protect makes them equal.
    set.map(area(0x18000, 4 * K, R | X), &mut pt, false)
        .unwrap();
    assert_eq!(areas(&set).len(), 2);
    set.protect(va(0x18000), 4 * K, |_| Some(R | W), &mut pt)
        .unwrap();
    assert_eq!(areas(&set), [(0x10000, 12 * K, R | W)]);
    assert_consistent(&set, &pt);
}

#[test]
fn resize_grows_and_shrinks_in_place_and_refuses_what_it_cannot_do() {
    let mut set = MergingSet::new();
    let mut pt = MockPageTable::default();
    set.map(area(0x10000, K, R | W), &mut pt, false).unwrap();
    set.map(area(0x18000, K, R), &mut pt, false).unwrap();
    set.resize(va(0x10000), 4 * K, &mut pt).unwrap();
    assert_eq!(areas(&set)[0], (0x10000, 4 * K, R | W));
    assert_eq!(pt.pages.len(), 5, "the grown pages are mapped");
    assert_eq!(
        set.resize(va(0x10000), 9 * K, &mut pt),
        Err(MappingError::AlreadyExists),
        "the next area is in the way"
    );
    assert_eq!(
        set.resize(va(0x11000), 2 * K, &mut pt),
        Err(MappingError::NotMapped)
    );
    assert_eq!(
        set.resize(va(0x10000), 0x800, &mut pt),
        Err(MappingError::InvalidParam)
    );
    assert_eq!(areas(&set)[0], (0x10000, 4 * K, R | W), "nothing changed");
    set.resize(va(0x10000), 2 * K, &mut pt).unwrap();
    assert_eq!(areas(&set)[0], (0x10000, 2 * K, R | W));
    set.resize(va(0x10000), 0, &mut pt).unwrap();
    assert_eq!(areas(&set), [(0x18000, K, R)]);
    assert_consistent(&set, &pt);
    // Growing up to a compatible neighbour merges with it.
    set.map(area(0x14000, K, R), &mut pt, false).unwrap();
    set.resize(va(0x14000), 4 * K, &mut pt).unwrap();
    assert_eq!(areas(&set), [(0x14000, 5 * K, R)]);
    assert_consistent(&set, &pt);
}

#[test]
fn a_failing_grow_changes_nothing() {
    let mut set = MergingSet::new();
    let mut pt = MockPageTable::default();
    set.map(area(0x10000, K, R), &mut pt, false).unwrap();
    pt.fail_at = Some(pt.calls);
    assert_eq!(
        set.resize(va(0x10000), 3 * K, &mut pt),
        Err(MappingError::BadState)
    );
    assert_eq!(areas(&set), [(0x10000, K, R)]);
    assert_consistent(&set, &pt);
}

#[test]
fn the_area_limit_can_change_later() {
    let mut set = MergingSet::new();
    let mut pt = MockPageTable::default();
    set.map(area(0x10000, K, R), &mut pt, false).unwrap();
    set.set_max_areas(1);
    assert_eq!(set.max_areas(), 1);
    assert_eq!(
        set.map(area(0x20000, K, R), &mut pt, false),
        Err(MappingError::NoMemory)
    );
    // A map that merges into an existing area still needs room for the moment it is new.
    assert_eq!(set.len(), 1);
    assert_consistent(&set, &pt);
}
