//! Map, query, unmap, protect, huge pages, PROT_NONE, rollback.

use page_table_multiarch::PageSize;
use vmlayer_arch::{Access, PageFaultInfo, PagingArch};
use vmlayer_areas::MappingError;

use super::frames::{live_frames, set_allocation_budget};
use super::*;

#[test]
fn linear_map_query_unmap_protect_4k() {
    let mut space = Space::try_new().unwrap();
    space
        .map_linear(va(0x10_0000), pa(0x8000_3000), 0x5000, RW)
        .unwrap();
    for (i, page) in pages(0x10_0000, 0x5000).into_iter().enumerate() {
        assert_eq!(
            lookup(&space, page + 0x123),
            Some((0x8000_3123 + i * 0x1000, normalized(RW), 0x1000)),
            "page {page:#x}"
        );
    }
    assert_eq!(lookup(&space, 0x10_5000), None, "past the end");

    space.protect(va(0x10_1000), 0x2000, READ).unwrap();
    assert_eq!(
        lookup(&space, 0x10_0000),
        Some((0x8000_3000, normalized(RW), 0x1000))
    );
    assert_eq!(
        lookup(&space, 0x10_1000),
        Some((0x8000_4000, normalized(READ), 0x1000))
    );
    assert_eq!(
        lookup(&space, 0x10_2000),
        Some((0x8000_5000, normalized(READ), 0x1000))
    );
    assert_eq!(
        lookup(&space, 0x10_3000),
        Some((0x8000_6000, normalized(RW), 0x1000))
    );

    space.unmap(va(0x10_2000), 0x2000).unwrap();
    assert_eq!(lookup(&space, 0x10_2000), None);
    assert_eq!(lookup(&space, 0x10_3000), None);
    assert_eq!(
        lookup(&space, 0x10_4000),
        Some((0x8000_7000, normalized(RW), 0x1000))
    );
    assert_eq!(space.areas().count(), 3, "areas after protect + unmap");
}

#[test]
fn bad_input_is_a_typed_error_and_changes_nothing() {
    let mut space = Space::try_new().unwrap();
    let before = live_frames();
    assert_eq!(
        space.map_linear(va(0x1001), pa(0x1000), 0x1000, RW),
        Err(MappingError::InvalidParam)
    );
    assert_eq!(
        space.map_linear(va(0x1000), pa(0x1800), 0x1000, RW),
        Err(MappingError::InvalidParam)
    );
    assert_eq!(
        space.map_alloc(va(0x1000), 0, RW, true),
        Err(MappingError::InvalidParam)
    );
    assert_eq!(
        space.map_alloc(va(0x1000), 0x1800, RW, true),
        Err(MappingError::InvalidParam)
    );
    let beyond = 1usize << Arch::VA_BITS;
    assert_eq!(
        space.map_alloc(va(beyond), 0x1000, RW, true),
        Err(MappingError::InvalidParam),
        "non-canonical address {beyond:#x}"
    );
    assert_eq!(
        space.map_alloc(va(beyond - 0x1000), 0x2000, RW, true),
        Err(MappingError::InvalidParam),
        "range ending past the lower half"
    );
    space.map_alloc(va(0x1000), 0x2000, RW, true).unwrap();
    assert_eq!(
        space.map_alloc(va(0x2000), 0x1000, RW, true),
        Err(MappingError::AlreadyExists)
    );
    assert_eq!(
        space.unmap(va(0x1000), 0x800),
        Err(MappingError::InvalidParam)
    );
    assert_eq!(space.areas().count(), 1);
    space.unmap(va(0x1000), 0x2000).unwrap();
    assert_eq!(live_frames(), before, "frames after unmapping everything");
}

#[test]
fn linear_uses_the_largest_entries_range_and_offset_allow() {
    let mut space = Space::try_new().unwrap();
    // 1 GiB aligned on both sides: a single 1 GiB entry.
    space.map_linear(va(GIB), pa(2 * GIB), GIB, RW).unwrap();
    assert_eq!(
        lookup(&space, GIB + 0x1234_5678),
        Some((2 * GIB + 0x1234_5678, normalized(RW), GIB))
    );
    assert_eq!(
        space.page_table().table_page_count(),
        tables_for_one_gib_leaf(),
        "one entry"
    );

    // 2 MiB aligned, 4 MiB + 8 KiB long: 2 MiB entries, then 4 KiB pages.
    space
        .map_linear(va(4 * GIB), pa(0x20_0000), 4 * MIB + 0x2000, READ)
        .unwrap();
    assert_eq!(
        lookup(&space, 4 * GIB + 2 * MIB + 5),
        Some((4 * MIB + 5, normalized(READ), 2 * MIB))
    );
    assert_eq!(
        lookup(&space, 4 * GIB + 4 * MIB + 0x1000),
        Some((6 * MIB + 0x1000, normalized(READ), 0x1000))
    );

    // Offset not 2 MiB aligned: 4 KiB pages only.
    space
        .map_linear(va(8 * GIB), pa(0x1000), 2 * MIB, READ)
        .unwrap();
    assert_eq!(
        lookup(&space, 8 * GIB),
        Some((0x1000, normalized(READ), 0x1000))
    );

    // With 1 GiB leaves disabled (x86_64 CPUs without pdpe1gb), 512 entries of 2 MiB.
    space.set_largest_page_size(PageSize::Size2M).unwrap();
    space
        .map_linear(va(16 * GIB), pa(3 * GIB), GIB, RW)
        .unwrap();
    assert_eq!(
        lookup(&space, 16 * GIB + 0x1234_5678),
        Some((3 * GIB + 0x1234_5678, normalized(RW), 2 * MIB))
    );
}

#[test]
fn partial_unmap_of_a_huge_entry_splits_it_and_keeps_the_rest() {
    let mut space = Space::try_new().unwrap();
    space.map_linear(va(GIB), pa(4 * GIB), GIB, RX).unwrap();
    // Unmap one 4 KiB page in the middle of the 1 GiB entry.
    let hole = GIB + 300 * MIB + 0x5000;
    space.unmap(va(hole), 0x1000).unwrap();
    assert_eq!(lookup(&space, hole), None, "the hole");
    assert_eq!(
        lookup(&space, hole - 0x1000),
        Some((4 * GIB + 300 * MIB + 0x4000, normalized(RX), 0x1000))
    );
    assert_eq!(
        lookup(&space, hole + 0x1000),
        Some((4 * GIB + 300 * MIB + 0x6000, normalized(RX), 0x1000))
    );
    assert_eq!(
        lookup(&space, GIB),
        Some((4 * GIB, normalized(RX), 2 * MIB)),
        "rest of the 1 GiB"
    );
    assert_eq!(
        lookup(&space, 2 * GIB - 1),
        Some((5 * GIB - 1, normalized(RX), 2 * MIB))
    );
    assert_eq!(space.areas().count(), 2);
    // Unmapping the rest frees the split tables again.
    space.unmap(va(GIB), GIB).unwrap();
    assert_eq!(
        space.page_table().table_page_count(),
        1,
        "only the root is left"
    );
}

#[test]
fn partial_protect_of_a_huge_entry_splits_it_and_keeps_the_rest() {
    let mut space = Space::try_new().unwrap();
    space
        .map_linear(va(2 * MIB), pa(8 * MIB), 2 * MIB, RW)
        .unwrap();
    space.protect(va(3 * MIB), 0x3000, READ).unwrap();
    assert_eq!(
        lookup(&space, 2 * MIB),
        Some((8 * MIB, normalized(RW), 0x1000))
    );
    assert_eq!(
        lookup(&space, 3 * MIB - 0x1000),
        Some((9 * MIB - 0x1000, normalized(RW), 0x1000))
    );
    for page in pages(3 * MIB, 0x3000) {
        assert_eq!(
            lookup(&space, page),
            Some((page + 6 * MIB, normalized(READ), 0x1000)),
            "{page:#x}"
        );
    }
    assert_eq!(
        lookup(&space, 3 * MIB + 0x3000),
        Some((9 * MIB + 0x3000, normalized(RW), 0x1000))
    );
    assert_eq!(
        lookup(&space, 4 * MIB - 1),
        Some((10 * MIB - 1, normalized(RW), 0x1000))
    );
    // Protecting a whole huge entry re-flags it without a split.
    space.map_linear(va(GIB), pa(GIB), GIB, RW).unwrap();
    let tables = space.page_table().table_page_count();
    space.protect(va(GIB), GIB, READ).unwrap();
    assert_eq!(
        lookup(&space, GIB + 5),
        Some((GIB + 5, normalized(READ), GIB))
    );
    assert_eq!(space.page_table().table_page_count(), tables, "no split");
}

#[test]
fn a_failed_split_changes_nothing() {
    let mut space = Space::try_new().unwrap();
    space.map_linear(va(GIB), pa(GIB), GIB, RW).unwrap();
    let frames = live_frames();
    // Splitting at GIB + 4 KiB needs two table pages (1 GiB -> 2 MiB -> 4 KiB); allow one.
    set_allocation_budget(Some(1));
    assert_eq!(
        space.protect(va(GIB + 0x1000), 0x1000, READ),
        Err(MappingError::NoMemory)
    );
    assert_eq!(
        space.unmap(va(GIB + 0x1000), 0x1000),
        Err(MappingError::NoMemory)
    );
    set_allocation_budget(None);
    assert_eq!(live_frames(), frames, "the half-done split was undone");
    assert_eq!(
        lookup(&space, GIB + 0x1000),
        Some((GIB + 0x1000, normalized(RW), GIB))
    );
    assert_eq!(space.areas().count(), 1, "areas unchanged");
    assert_eq!(space.find_area(va(GIB + 0x1000)).unwrap().flags(), RW);
}

#[test]
fn prot_none_round_trip_keeps_frames_and_data() {
    let mut space = Space::try_new().unwrap();
    space.map_alloc(va(0x40_0000), 0x3000, RW, true).unwrap();
    let frames: Vec<_> = pages(0x40_0000, 0x3000)
        .into_iter()
        .map(|p| lookup(&space, p).unwrap().0)
        .collect();
    for (i, page) in pages(0x40_0000, 0x3000).into_iter().enumerate() {
        assert_eq!(read_u64(&space, page), 0, "fresh frames are zeroed");
        write_u64(&space, page, 0xdead_0000 + i as u64);
    }
    let live = live_frames();

    space.protect(va(0x40_0000), 0x3000, NONE).unwrap();
    for (i, page) in pages(0x40_0000, 0x3000).into_iter().enumerate() {
        assert_eq!(
            lookup(&space, page),
            Some((frames[i], NONE, 0x1000)),
            "PROT_NONE {page:#x}"
        );
        for access in [Access::Read, Access::Write, Access::Execute] {
            let fault = PageFaultInfo::new(va(page), access, false);
            assert_eq!(
                space.handle_page_fault(fault),
                Err(crate::FaultError::AccessDenied),
                "{access:?} of a PROT_NONE page must be refused"
            );
        }
    }
    assert_eq!(live_frames(), live, "PROT_NONE keeps the frames");

    space.protect(va(0x40_0000), 0x3000, RW).unwrap();
    for (i, page) in pages(0x40_0000, 0x3000).into_iter().enumerate() {
        assert_eq!(
            lookup(&space, page),
            Some((frames[i], normalized(RW), 0x1000))
        );
        assert_eq!(
            read_u64(&space, page),
            0xdead_0000 + i as u64,
            "data survives PROT_NONE"
        );
    }
    // PROT_NONE again, then unmap: the frames come back.
    space.protect(va(0x40_1000), 0x1000, NONE).unwrap();
    space.unmap(va(0x40_0000), 0x3000).unwrap();
    assert_eq!(live_frames(), 1, "only the root table is left");
}

#[test]
fn eager_alloc_out_of_memory_returns_every_frame_and_maps_nothing() {
    let mut space = Space::try_new().unwrap();
    let before = live_frames();
    set_allocation_budget(Some(40));
    assert_eq!(
        space.map_alloc(va(0x40_0000), 0x100_000, RW, true),
        Err(MappingError::NoMemory)
    );
    set_allocation_budget(None);
    assert_eq!(live_frames(), before, "every frame and table page returned");
    assert_eq!(space.areas().count(), 0);
    assert_eq!(lookup(&space, 0x40_0000), None);
    assert_eq!(space.page_table().table_page_count(), 1);
}

#[test]
fn upper_half_and_the_top_of_the_address_space() {
    let mut space = Space::try_new().unwrap();
    let upper = usize::MAX << (Arch::VA_BITS - 1);
    space
        .map_linear(va(upper), pa(0x8000_0000), 2 * GIB, RW)
        .unwrap();
    assert_eq!(
        lookup(&space, upper + GIB + 5),
        Some((0xc000_0005, normalized(RW), GIB))
    );
    // The second-to-last page (the last one's end would overflow, which vmlayer_areas refuses).
    let top = usize::MAX - 0x1fff;
    space
        .map_alloc(va(top - 0x20_0000), 0x20_1000, RW, true)
        .unwrap();
    assert_eq!(
        lookup(&space, top).map(|(_, f, s)| (f, s)),
        Some((normalized(RW), 0x1000))
    );
    assert_eq!(lookup(&space, top + 0x1000), None);
    space
        .protect(va(upper + GIB - 0x1000), 0x2000, READ)
        .unwrap();
    assert_eq!(
        lookup(&space, upper + GIB),
        Some((0xc000_0000, normalized(READ), 0x1000))
    );
    assert_eq!(
        lookup(&space, upper + GIB + 0x2000),
        Some((0xc000_2000, normalized(RW), 0x1000))
    );
    space.unmap(va(upper), 2 * GIB).unwrap();
    space.unmap(va(top - 0x20_0000), 0x20_1000).unwrap();
    assert_eq!(space.page_table().table_page_count(), 1);
    assert_eq!(live_frames(), 1);
}
