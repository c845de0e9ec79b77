//! The area-set vocabulary on the address space: MAP_FIXED, mprotect, merging, resizing, the
//! area limit.

use super::frames::live_frames;
use super::*;
use crate::{Area, Backend, MappingError, Placement};

const USER_RW: MappingFlags = RW.union(MappingFlags::USER);
const USER_RX: MappingFlags = RX.union(MappingFlags::USER);

fn alloc_area(start: usize, size: usize, flags: MappingFlags) -> Area {
    Area::new(va(start), size, flags, Backend::Alloc { populate: true })
}

#[test]
fn map_fixed_lets_two_segments_share_a_page_and_noreplace_refuses() {
    let mut space = Space::try_new().unwrap();
    space
        .map(alloc_area(0x40_0000, 0x2000, USER_RX), Placement::NoReplace)
        .unwrap();
    let data_segment = alloc_area(0x40_1000, 0x2000, USER_RW);
    assert_eq!(
        space.map(data_segment.clone(), Placement::NoReplace),
        Err(MappingError::AlreadyExists)
    );
    space.map(data_segment, Placement::Fixed).unwrap();
    let flags = |address| space.query(va(address)).map(|t| t.flags);
    assert_eq!(flags(0x40_0000), Some(normalized(USER_RX)));
    assert_eq!(flags(0x40_1000), Some(normalized(USER_RW)));
    assert_eq!(flags(0x40_2000), Some(normalized(USER_RW)));
    assert_eq!(space.areas().count(), 2);
}

#[test]
fn mprotect_changes_access_flags_only_and_refuses_holes_like_linux() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x2000, USER_RW, true)
        .unwrap();
    space
        .map_alloc(va(0x10_3000), 0x1000, USER_RW, true)
        .unwrap();
    assert_eq!(
        space.mprotect(va(0x10_0000), 0x4000, READ),
        Err(MappingError::NotMapped),
        "a hole at 0x102000"
    );
    assert_eq!(MappingError::NotMapped.errno(), 12, "ENOMEM");
    assert_eq!(
        space.query(va(0x10_0000)).unwrap().flags,
        normalized(USER_RW),
        "unchanged"
    );
    assert_eq!(
        space.mprotect(va(0x10_0000), 0x1000, READ | MappingFlags::USER),
        Err(MappingError::InvalidParam)
    );
    space.mprotect(va(0x10_0000), 0x1000, READ).unwrap();
    let user_read = READ | MappingFlags::USER;
    assert_eq!(
        space.query(va(0x10_0000)).unwrap().flags,
        normalized(user_read),
        "USER kept"
    );
    assert_eq!(space.find_area(va(0x10_0000)).unwrap().flags(), user_read);
    space.mprotect(va(0x10_0000), 0x1000, RW).unwrap();
    assert_eq!(
        space.areas().count(),
        2,
        "protected back, the pieces merged again"
    );
}

#[test]
fn a_protect_that_changes_nothing_splits_nothing() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x10_000, USER_RW, false)
        .unwrap();
    space.protect(va(0x10_4000), 0x1000, USER_RW).unwrap();
    space.mprotect(va(0x10_4000), 0x1000, RW).unwrap();
    assert_eq!(space.areas().count(), 1);
}

#[test]
fn adjacent_compatible_areas_merge_and_incompatible_ones_do_not() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x1000, USER_RW, false)
        .unwrap();
    space
        .map_alloc(va(0x10_1000), 0x1000, USER_RW, false)
        .unwrap();
    assert_eq!(space.areas().count(), 1, "two lazy Alloc areas merge");
    space
        .map_alloc(va(0x10_3000), 0x1000, USER_RW, true)
        .unwrap();
    assert_eq!(
        space.areas().count(),
        2,
        "an eager area does not join a lazy one"
    );
    space.unmap(va(0x10_3000), 0x1000).unwrap();
    space
        .map_alloc(va(0x10_2000), 0x1000, USER_RX, false)
        .unwrap();
    assert_eq!(space.areas().count(), 2, "other flags");
    space
        .map_linear(va(0x20_0000), pa(0x8000_0000), 0x1000, RW)
        .unwrap();
    space
        .map_linear(va(0x20_1000), pa(0x8000_1000), 0x1000, RW)
        .unwrap();
    assert_eq!(
        space.areas().count(),
        3,
        "contiguous physical memory merges"
    );
    space
        .map_linear(va(0x20_2000), pa(0x9000_0000), 0x1000, RW)
        .unwrap();
    assert_eq!(space.areas().count(), 4, "a physical jump does not");
    assert_eq!(
        std::string::ToString::to_string(&space).lines().nth(2),
        Some("0000000000200000-0000000000202000 rw-p linear pa 0x80000000")
    );
}

#[test]
fn brk_grows_and_shrinks_one_area_in_place_with_its_data() {
    let mut space = Space::try_new().unwrap();
    let heap = 0x100_0000;
    space.map_alloc(va(heap), 0x1000, USER_RW, false).unwrap();
    space.write_user(va(heap + 8), b"brk data").unwrap();
    let before = live_frames();
    for pages in 2..=8 {
        space.resize_area(va(heap), pages * 0x1000).unwrap();
    }
    assert_eq!(space.areas().count(), 1, "one area, not one per growth");
    assert_eq!(space.find_area(va(heap)).unwrap().size(), 0x8000);
    space.write_user(va(heap + 0x7ff8), b"top page").unwrap();
    let mut back = [0u8; 8];
    space.read_user(va(heap + 8), &mut back).unwrap();
    assert_eq!(&back, b"brk data");
    space.resize_area(va(heap), 0x1000).unwrap();
    assert_eq!(
        live_frames(),
        before,
        "the top page's frame went back (the table stays)"
    );
    assert_eq!(space.query(va(heap + 0x7000)), None);
    space
        .map_alloc(va(heap + 0x2000), 0x1000, RW, false)
        .unwrap();
    assert_eq!(
        space.resize_area(va(heap), 0x4000),
        Err(MappingError::AlreadyExists)
    );
    assert_eq!(
        space.resize_area(va(heap + 0x1000), 0x1000),
        Err(MappingError::NotMapped)
    );
    space.resize_area(va(heap), 0).unwrap();
    assert!(
        space.find_area(va(heap)).is_none(),
        "size 0: the heap area is gone"
    );
}

#[test]
fn the_area_limit_refuses_before_changing_anything() {
    let mut space = Space::try_new().unwrap();
    space.set_max_areas(2);
    space
        .map_alloc(va(0x10_0000), 0x3000, USER_RW, false)
        .unwrap();
    space
        .map_alloc(va(0x20_0000), 0x1000, USER_RW, false)
        .unwrap();
    assert_eq!(
        space.map_alloc(va(0x30_0000), 0x1000, USER_RW, false),
        Err(MappingError::NoMemory)
    );
    assert_eq!(
        space.unmap(va(0x10_1000), 0x1000),
        Err(MappingError::NoMemory),
        "a split"
    );
    assert_eq!(space.areas().count(), 2);
    assert_eq!(MappingError::NoMemory.errno(), 12);
}
