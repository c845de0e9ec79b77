//! Every entry point × bad arguments: the documented answer, no panic, nothing changed.

use alloc::vec;
use alloc::vec::Vec;

use super::mock::{MockBackend, MockPageTable, Set, areas, assert_consistent};
use crate::{MappingError, MemoryArea, PAGE_SIZE, VirtAddr, VirtAddrRange};

const K: usize = PAGE_SIZE;
const TOP_PAGE: usize = usize::MAX - K + 1;

fn va(addr: usize) -> VirtAddr {
    VirtAddr::from_usize(addr)
}

/// (start, size, what is wrong) for ranges every mutating entry point must refuse.
fn bad_ranges() -> Vec<(usize, usize, &'static str)> {
    vec![
        (0x10001, K, "unaligned start"),
        (0x10800, K, "start aligned to 2 KiB only"),
        (0x10000, K + 1, "unaligned size"),
        (0x10000, 0x800, "size below the granule"),
        (0x10000, usize::MAX, "size of the whole space"),
        (
            0x10000,
            usize::MAX - 0xfff,
            "aligned size whose end overflows",
        ),
        (TOP_PAGE, K, "the top page: end would be 2^64"),
        (TOP_PAGE, 2 * K, "past the top of the address space"),
        (usize::MAX, 0, "unaligned start, zero size"),
    ]
}

fn populated() -> (Set, MockPageTable) {
    let mut set = Set::new();
    let mut pt = MockPageTable::default();
    set.map(
        MemoryArea::new(va(0x10000), 4 * K, 3, MockBackend),
        &mut pt,
        false,
    )
    .unwrap();
    set.map(
        MemoryArea::new(va(0x20000), 4 * K, 1, MockBackend),
        &mut pt,
        false,
    )
    .unwrap();
    (set, pt)
}

/// Runs `op` on a populated set and checks the answer and that nothing changed.
fn check(
    what: &str,
    expected: Result<(), MappingError>,
    op: impl FnOnce(&mut Set, &mut MockPageTable) -> Result<(), MappingError>,
) {
    let (mut set, mut pt) = populated();
    let (before, calls) = (areas(&set), pt.calls);
    assert_eq!(op(&mut set, &mut pt), expected, "{what}");
    assert_eq!(areas(&set), before, "{what}: areas changed");
    assert_eq!(pt.calls, calls, "{what}: the backend was called");
    assert_consistent(&set, &pt);
}

#[test]
fn mutating_entry_points_refuse_bad_ranges() {
    for (start, size, why) in bad_ranges() {
        let invalid = Err(MappingError::InvalidParam);
        for replace in [false, true] {
            check(
                &alloc::format!("map(replace={replace}) {why}"),
                invalid,
                |set, pt| {
                    set.map(
                        MemoryArea::new(va(start), size, 7, MockBackend),
                        pt,
                        replace,
                    )
                },
            );
        }
        // A zero size is fine for unmap/protect (a no-op) but only when the start is aligned.
        check(&alloc::format!("unmap {why}"), invalid, |set, pt| {
            set.unmap(va(start), size, pt)
        });
        check(&alloc::format!("protect {why}"), invalid, |set, pt| {
            set.protect(va(start), size, |_| Some(7), pt)
        });
    }
}

#[test]
fn zero_sizes() {
    let invalid = Err(MappingError::InvalidParam);
    check("map size 0", invalid, |set, pt| {
        set.map(MemoryArea::new(va(0x40000), 0, 1, MockBackend), pt, false)
    });
    check("map_fixed size 0", invalid, |set, pt| {
        set.map_fixed(MemoryArea::new(va(0x10000), 0, 1, MockBackend), pt)
    });
    check("unmap size 0 inside an area", Ok(()), |set, pt| {
        set.unmap(va(0x11000), 0, pt)
    });
    check("protect size 0 inside an area", Ok(()), |set, pt| {
        set.protect(va(0x11000), 0, |_| Some(0), pt)
    });
    check("unmap size 0 at the top page", Ok(()), |set, pt| {
        set.unmap(va(TOP_PAGE), 0, pt)
    });
}

#[test]
fn find_free_area_refuses_bad_requests() {
    let (set, _) = populated();
    let all = VirtAddrRange {
        start: va(0),
        end: va(usize::MAX),
    };
    let r = |s: usize, e: usize| VirtAddrRange {
        start: va(s),
        end: va(e),
    };
    let cases: Vec<(usize, usize, VirtAddrRange, usize, &str)> = vec![
        (0, 0, all, K, "size 0"),
        (0, K + 1, all, K, "unaligned size"),
        (0, usize::MAX, all, K, "size of the whole space"),
        (0, K, all, 0, "align 0"),
        (0, K, all, 3, "align 3"),
        (0, K, all, 0x800, "align below 4 KiB"),
        (0, K, all, 0x1800, "align not a power of two"),
        (0, K, all, usize::MAX, "align usize::MAX"),
        (0, K, r(0x30000, 0x20000), K, "reversed limit"),
        (0, K, r(0x30000, 0x30000), K, "empty limit"),
        (0, 2 * K, r(0x30000, 0x31000), K, "limit smaller than size"),
        (
            0,
            K,
            r(0x10000, 0x14000),
            K,
            "limit fully covered by an area",
        ),
        (
            0,
            K,
            r(0x10000, 0x14fff),
            K,
            "limit ends inside the only free page",
        ),
        (
            TOP_PAGE,
            K,
            r(TOP_PAGE, usize::MAX),
            K,
            "only the top page, which no area may hold",
        ),
        (
            usize::MAX,
            K,
            r(usize::MAX - 1, usize::MAX),
            K,
            "hint and limit at the very top",
        ),
        (
            0,
            K,
            all,
            1 << 63,
            "alignment 2^63 leaves only 0 and 2^63, then the end overflows",
        ),
    ];
    for (hint, size, limit, align, why) in cases {
        let got = set.find_free_area(va(hint), size, limit, align);
        let expected = if why.starts_with("alignment 2^63") {
            Some(va(0))
        } else {
            None
        };
        assert_eq!(got, expected, "find_free_area: {why}");
    }
}

#[test]
fn lookups_never_panic_at_the_edges() {
    let (set, _) = populated();
    for addr in [0, 0xfff, usize::MAX, TOP_PAGE, 0x14000] {
        assert_eq!(
            set.find(va(addr)).map(|a| a.start()),
            None,
            "find({addr:#x})"
        );
    }
    let r = |s: usize, e: usize| VirtAddrRange {
        start: va(s),
        end: va(e),
    };
    assert!(!set.overlaps(r(usize::MAX, 0)), "reversed range");
    assert!(
        !set.overlaps(r(0x11000, 0x11000)),
        "empty range inside an area"
    );
    assert!(set.overlaps(r(0, usize::MAX)), "whole space");
    assert_eq!(
        set.iter_range(r(usize::MAX, 0)).count(),
        0,
        "reversed range iterates nothing"
    );
}
