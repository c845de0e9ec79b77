//! Cases that `cargo mutants` showed the other tests did not pin down (see `MUTANTS.md` at the
//! workspace root).

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use super::mock::{areas, assert_consistent};
use super::{K, R, W, area, range, two_areas};
use crate::MappingError;

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
