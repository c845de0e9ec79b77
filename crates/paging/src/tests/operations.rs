//! Map, query, unmap, protect, huge pages, PROT_NONE, faults, TLB flushes.

use memory_set::MappingError;
use page_table_multiarch::{MappingFlags, PageSize};
use paging_arch::{Access, PageFaultInfo, PagingArch, TlbFlush, TlbFlushRequest};

use super::frames::{
    live_frames, record_flush, record_live_frames, set_allocation_budget, take_flushes,
    take_live_at_flush,
};
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
            let fault = PageFaultInfo {
                address: va(page),
                access,
                user: false,
            };
            assert!(
                !space.handle_page_fault(fault),
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
fn lazy_pages_fault_in_and_forbidden_accesses_are_refused() {
    let mut space = Space::try_new().unwrap();
    let user_rw = RW | MappingFlags::USER;
    space
        .map_alloc(va(0x100_0000), 0x4000, user_rw, false)
        .unwrap();
    space
        .map_alloc(va(0x200_0000), 0x1000, READ, false)
        .unwrap();
    let after_map = live_frames();
    assert_eq!(after_map, 1, "a lazy map allocates nothing");
    let fault = |address, access, user| PageFaultInfo {
        address: va(address),
        access,
        user,
    };

    assert!(space.handle_page_fault(fault(0x100_1008, Access::Write, true)));
    assert_eq!(
        lookup(&space, 0x100_1000).map(|(_, f, s)| (f, s)),
        Some((normalized(user_rw), 0x1000))
    );
    assert_eq!(read_u64(&space, 0x100_1000), 0, "lazy frames are zeroed");
    assert_eq!(
        lookup(&space, 0x100_0000),
        None,
        "only the faulting page is populated"
    );
    let populated = live_frames();
    assert!(populated > after_map, "a frame (and tables) were allocated");
    // A second fault on the same page (stale TLB) is handled without allocating.
    assert!(space.handle_page_fault(fault(0x100_1000, Access::Read, true)));
    assert_eq!(live_frames(), populated);

    assert!(
        !space.handle_page_fault(fault(0x100_2000, Access::Execute, true)),
        "no EXECUTE"
    );
    assert!(
        !space.handle_page_fault(fault(0x200_0000, Access::Write, false)),
        "read-only area"
    );
    assert!(
        !space.handle_page_fault(fault(0x200_0000, Access::Read, true)),
        "kernel area, user access"
    );
    assert!(
        !space.handle_page_fault(fault(0x300_0000, Access::Read, false)),
        "no area"
    );
    assert_eq!(live_frames(), populated, "refused faults allocate nothing");
    assert!(space.handle_page_fault(fault(0x200_0000, Access::Read, false)));

    // Out of memory: the fault is not handled and nothing changes.
    set_allocation_budget(Some(0));
    assert!(!space.handle_page_fault(fault(0x100_3000, Access::Read, true)));
    set_allocation_budget(None);
    assert_eq!(lookup(&space, 0x100_3000), None);
}

#[test]
fn protect_applies_to_lazy_pages_that_fault_in_later() {
    // ArceOS axmm defect: an untouched lazy page of an mprotect(READ) region faulted in
    // writable with the old flags.
    let mut space = Space::try_new().unwrap();
    space.map_alloc(va(0x100_0000), 0x2000, RW, false).unwrap();
    space.protect(va(0x100_0000), 0x2000, READ).unwrap();
    let write = PageFaultInfo {
        address: va(0x100_0000),
        access: Access::Write,
        user: false,
    };
    assert!(
        !space.handle_page_fault(write),
        "write to a now read-only lazy page"
    );
    let read = PageFaultInfo {
        access: Access::Read,
        ..write
    };
    assert!(space.handle_page_fault(read));
    assert_eq!(
        lookup(&space, 0x100_0000).map(|(_, f, _)| f),
        Some(normalized(READ))
    );
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
fn every_change_is_flushed_through_the_hook() {
    let mut space = Space::try_new().unwrap();
    space.set_tlb_flush_hook(Some(record_flush));
    take_flushes();
    let root = space.root_paddr();
    let request = |flush| TlbFlushRequest {
        root_paddr: root,
        flush,
    };

    space.map_alloc(va(0x40_0000), 0x2000, RW, true).unwrap();
    assert_eq!(
        take_flushes(),
        [request(TlbFlush::Range {
            start: va(0x40_0000),
            end: va(0x40_2000)
        })]
    );
    space.protect(va(0x40_1000), 0x1000, READ).unwrap();
    assert_eq!(take_flushes(), [request(TlbFlush::Page(va(0x40_1000)))]);
    space.unmap(va(0x40_0000), 0x1000).unwrap();
    assert_eq!(take_flushes(), [request(TlbFlush::Page(va(0x40_0000)))]);
    space.map_linear(va(GIB), pa(0), 64 * 0x1000, RW).unwrap();
    assert_eq!(
        take_flushes(),
        [request(TlbFlush::All)],
        "past the threshold"
    );
    // Freeing table pages flushes everything (paging-structure caches).
    space.unmap(va(0x40_1000), 0x1000).unwrap();
    assert_eq!(take_flushes(), [request(TlbFlush::All)]);
    // A lazy map changes no entry and flushes nothing.
    space.map_alloc(va(0x80_0000), 0x1000, RW, false).unwrap();
    assert_eq!(take_flushes(), []);
}

#[test]
fn frames_are_freed_only_after_the_flush() {
    let mut space = Space::try_new().unwrap();
    space.map_alloc(va(0x40_0000), 0x3000, RW, true).unwrap();
    let live = live_frames();
    space.set_tlb_flush_hook(Some(record_live_frames));
    space.unmap(va(0x40_0000), 0x3000).unwrap();
    assert_eq!(
        take_live_at_flush(),
        [live],
        "3 frames and the tables still live at the flush"
    );
    assert_eq!(live_frames(), 1, "freed after it");
    // More frames than the batch holds: flushes happen before each batch of frees.
    space.map_alloc(va(0x40_0000), 0x200_000, RW, true).unwrap();
    let live = live_frames();
    space.unmap(va(0x40_0000), 0x200_000).unwrap();
    let seen = take_live_at_flush();
    assert_eq!(seen.first(), Some(&live), "first flush before any free");
    assert_eq!(seen.len(), 3, "512 frames + tables in batches of 256");
}

#[test]
fn display_lists_areas_like_proc_maps() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x1000), 0x2000, RW | MappingFlags::USER, true)
        .unwrap();
    space
        .map_linear(
            va(0x40_0000),
            pa(0x9000_0000),
            0x1000,
            RW | MappingFlags::DEVICE,
        )
        .unwrap();
    space.map_alloc(va(0x80_0000), 0x1000, RX, false).unwrap();
    space
        .protect(va(0x2000), 0x1000, NONE | MappingFlags::USER)
        .unwrap();
    assert_eq!(
        std::format!("{space}"),
        "0000000000001000-0000000000002000 rw-p alloc populated user\n\
         0000000000002000-0000000000003000 ---p alloc populated user\n\
         0000000000400000-0000000000401000 rw-p linear pa 0x90000000 device\n\
         0000000000800000-0000000000801000 r-xp alloc lazy\n"
    );
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
    // The second-to-last page (the last one's end would overflow, which memory_set refuses).
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
