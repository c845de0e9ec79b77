//! mremap: shrink, grow in place, move by moving entries.

use page_table_multiarch::PageSize;

use super::frames::{frame_counts, live_frames, record_flush, set_allocation_budget, take_flushes};
use super::test_arch::TestArch;
use super::*;
use crate::{MappingError, Remap};

const USER_RW: MappingFlags = RW.union(MappingFlags::USER);

fn frames_of(space: &Space, start: usize, pages: usize) -> Vec<Option<usize>> {
    (0..pages)
        .map(|page| {
            space
                .query(va(start + page * 0x1000))
                .map(|t| t.paddr.as_usize())
        })
        .collect()
}

#[test]
fn a_move_carries_the_frames_and_the_old_addresses_fault() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x8000, USER_RW, true)
        .unwrap();
    space
        .write_user(va(0x10_0ff0), b"crosses a page boundary")
        .unwrap();
    let before = frames_of(&space, 0x10_0000, 8);
    let frames = live_frames();
    let moved = space
        .mremap(va(0x10_0000), 0x8000, 0x8000, Remap::Fixed(va(0x7000_0000)))
        .unwrap();
    assert_eq!(moved, va(0x7000_0000));
    assert_eq!(
        frames_of(&space, 0x7000_0000, 8),
        before,
        "the same frames, no copy"
    );
    assert_eq!(
        frames_of(&space, 0x10_0000, 8),
        std::vec![None; 8],
        "the old range is empty"
    );
    let mut seen = [0u8; 23];
    space.read_user(va(0x7000_0ff0), &mut seen).unwrap();
    assert_eq!(&seen, b"crosses a page boundary");
    assert!(space.find_area(va(0x10_0000)).is_none());
    assert!(
        live_frames() <= frames + 4,
        "at most the new tables, and the old ones freed"
    );
}

#[test]
fn grow_in_place_when_free_else_move_and_shrink_in_place() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x4000, USER_RW, true)
        .unwrap();
    assert_eq!(
        space.mremap(va(0x10_0000), 0x4000, 0x6000, Remap::InPlace),
        Ok(va(0x10_0000))
    );
    assert_eq!(space.find_area(va(0x10_0000)).unwrap().size(), 0x6000);
    space.map_alloc(va(0x10_6000), 0x1000, RW, false).unwrap();
    assert_eq!(
        space.mremap(va(0x10_0000), 0x6000, 0x8000, Remap::InPlace),
        Err(MappingError::NoMemory),
        "the next area is in the way"
    );
    assert_eq!(
        space.find_area(va(0x10_0000)).unwrap().size(),
        0x6000,
        "unchanged"
    );
    space.write_user(va(0x10_0000), b"kept").unwrap();
    let first = frames_of(&space, 0x10_0000, 1)[0];
    let moved = space
        .mremap(va(0x10_0000), 0x6000, 0x8000, Remap::MayMove)
        .unwrap();
    assert_ne!(moved, va(0x10_0000));
    assert_eq!(frames_of(&space, moved.as_usize(), 1)[0], first);
    assert_eq!(space.find_area(moved).unwrap().size(), 0x8000);
    let mut seen = [0u8; 4];
    space.read_user(moved, &mut seen).unwrap();
    assert_eq!(&seen, b"kept");
    assert_eq!(
        space.mremap(moved, 0x8000, 0x2000, Remap::MayMove),
        Ok(moved),
        "shrinks in place"
    );
    assert_eq!(space.find_area(moved).unwrap().size(), 0x2000);
}

#[test]
fn a_huge_entry_moves_as_one_entry_when_aligned_and_as_pages_otherwise() {
    let mut space = Space::try_new().unwrap();
    space
        .map_linear(va(0x4000_0000), pa(0x8000_0000), 0x20_0000, RW)
        .unwrap();
    assert_eq!(
        space.query(va(0x4000_0000)).unwrap().page_size,
        PageSize::Size2M
    );
    space
        .mremap(
            va(0x4000_0000),
            0x20_0000,
            0x20_0000,
            Remap::Fixed(va(0x6000_0000)),
        )
        .unwrap();
    let moved = space.query(va(0x6000_1234)).unwrap();
    assert_eq!(
        (moved.paddr, moved.page_size),
        (pa(0x8000_1234), PageSize::Size2M)
    );
    assert_eq!(
        space
            .find_area(va(0x6000_0000))
            .unwrap()
            .backend()
            .linear_paddr(va(0x6000_0000)),
        Some(pa(0x8000_0000))
    );
    space
        .mremap(
            va(0x6000_0000),
            0x20_0000,
            0x20_0000,
            Remap::Fixed(va(0x7000_1000)),
        )
        .unwrap();
    let moved = space.query(va(0x7000_1234)).unwrap();
    assert_eq!(
        (moved.paddr, moved.page_size),
        (pa(0x8000_0234), PageSize::Size4K)
    );
    assert_eq!(space.query(va(0x7020_0fff)).unwrap().paddr, pa(0x801f_ffff));
}

#[test]
fn errors_leave_both_ranges_as_they_were() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x4000, USER_RW, true)
        .unwrap();
    space.map_alloc(va(0x10_4000), 0x1000, RW, true).unwrap();
    let before = frames_of(&space, 0x10_0000, 5);
    let areas = std::string::ToString::to_string(&space);
    let attempts = [
        (
            0x10_0000,
            0x5000,
            0x5000,
            Remap::MayMove,
            MappingError::NotMapped,
        ),
        (
            0x10_2000,
            0x1000,
            0x1000,
            Remap::Fixed(va(0x10_2800)),
            MappingError::InvalidParam,
        ),
        (
            0x10_0000,
            0x4000,
            0x4000,
            Remap::Fixed(va(0x10_2000)),
            MappingError::InvalidParam,
        ),
        (
            0x10_0000,
            0x4000,
            0,
            Remap::MayMove,
            MappingError::InvalidParam,
        ),
        (
            0x20_0000,
            0x1000,
            0x1000,
            Remap::MayMove,
            MappingError::NotMapped,
        ),
    ];
    for (old, old_size, new_size, how, error) in attempts {
        assert_eq!(
            space.mremap(va(old), old_size, new_size, how),
            Err(error),
            "{old:#x} {how:?}"
        );
    }
    // No table page for the destination: the move is refused before any entry moves.
    set_allocation_budget(Some(0));
    let result = space.mremap(
        va(0x10_0000),
        0x4000,
        0x4000,
        Remap::Fixed(va(0x30_0000_0000)),
    );
    set_allocation_budget(None);
    assert_eq!(result, Err(MappingError::NoMemory));
    assert_eq!(frames_of(&space, 0x10_0000, 5), before);
    assert_eq!(std::string::ToString::to_string(&space), areas);
    assert_eq!(space.query(va(0x30_0000_0000)), None);
}

#[test]
fn whole_tables_of_pages_move_as_one_entry() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x20_0000), 0x40_0000, USER_RW, true)
        .unwrap();
    let before = frames_of(&space, 0x20_0000, 0x400);
    let tables = space.page_table().table_page_count();
    let frames = live_frames();
    space
        .mremap(
            va(0x20_0000),
            0x40_0000,
            0x40_0000,
            Remap::Fixed(va(0x1_0000_0000)),
        )
        .unwrap();
    assert_eq!(frames_of(&space, 0x1_0000_0000, 0x400), before);
    assert_eq!(
        space.page_table().table_page_count(),
        tables,
        "the two leaf tables moved"
    );
    assert_eq!(live_frames(), frames);
    let mut seen = [1u8; 8];
    space.read_user(va(0x1_003f_fff8), &mut seen).unwrap();
    assert_eq!(seen, [0; 8]);
}

#[test]
fn a_move_at_the_top_of_the_address_space_does_not_overflow() {
    let mut space = Space::try_new().unwrap();
    // The last 64 KiB of the upper half but the very last page, and a destination 1 MiB lower
    // whose offset in its 2 MiB window differs.
    let source = usize::MAX - 0x1_0000 + 1;
    space.map_alloc(va(source), 0xf000, USER_RW, true).unwrap();
    space.write_user(va(source + 0xe000), b"top").unwrap();
    let target = source - 0x10_3000;
    assert_eq!(
        space.mremap(va(source), 0xf000, 0xf000, Remap::Fixed(va(target))),
        Ok(va(target))
    );
    let mut seen = [0u8; 3];
    space.read_user(va(target + 0xe000), &mut seen).unwrap();
    assert_eq!(&seen, b"top");
    assert_eq!(space.query(va(source)), None);
    // A user pointer in the very last page is an error, not an overflow.
    let mut buffer = [0u8; 8];
    assert_eq!(
        space.read_user(va(usize::MAX - 0x7ff), &mut buffer),
        Err(crate::FaultError::NoArea)
    );
}

#[test]
fn shrink_in_place_unmaps_only_the_tail_of_the_range() {
    // The range is the head of a larger area: what lies after the range stays.
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x4000, USER_RW, true)
        .unwrap();
    let before = frames_of(&space, 0x10_0000, 4);
    let kept = space
        .mremap(va(0x10_0000), 0x2000, 0x1000, Remap::MayMove)
        .unwrap();
    assert_eq!(kept, va(0x10_0000));
    let after = frames_of(&space, 0x10_0000, 4);
    assert_eq!(after, [before[0], None, before[2], before[3]]);
}

#[test]
fn a_fixed_move_may_end_or_start_where_the_old_range_does() {
    for (old, target) in [(0x10_0000, 0x10_2000), (0x10_2000, 0x10_0000)] {
        let mut space = Space::try_new().unwrap();
        space.map_alloc(va(old), 0x2000, USER_RW, true).unwrap();
        let before = frames_of(&space, old, 2);
        let moved = space
            .mremap(va(old), 0x2000, 0x2000, Remap::Fixed(va(target)))
            .unwrap();
        assert_eq!(moved, va(target), "adjacent, not overlapping");
        assert_eq!(frames_of(&space, target, 2), before);
        assert_eq!(frames_of(&space, old, 2), [None, None]);
    }
}

#[test]
fn a_fixed_move_that_shrinks_moves_the_head_and_unmaps_the_tail() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x4000, USER_RW, true)
        .unwrap();
    space.map_alloc(va(0x10_4000), 0x1000, RW, true).unwrap();
    space.write_user(va(0x10_0000), b"head").unwrap();
    let before = frames_of(&space, 0x10_0000, 4);
    let (frames, tables) = (live_frames(), space.page_table().table_page_count());
    let moved = space
        .mremap(va(0x10_0000), 0x4000, 0x2000, Remap::Fixed(va(0x7000_0000)))
        .unwrap();
    assert_eq!(moved, va(0x7000_0000));
    assert_eq!(
        frames_of(&space, 0x7000_0000, 4),
        [before[0], before[1], None, None]
    );
    assert_eq!(
        frames_of(&space, 0x10_0000, 4),
        [None; 4],
        "the tail is gone too"
    );
    assert!(space.find_area(va(0x10_2000)).is_none());
    assert!(
        space.find_area(va(0x10_4000)).is_some(),
        "the next area stays"
    );
    let mut seen = [0u8; 4];
    space.read_user(va(0x7000_0000), &mut seen).unwrap();
    assert_eq!(&seen, b"head");
    let new_tables = space.page_table().table_page_count() - tables;
    assert_eq!(
        live_frames() + 2,
        frames + new_tables,
        "the tail's two frames are freed"
    );
}

#[test]
fn a_moved_table_is_relinked_not_allocated_again() {
    // Two 2 MiB windows, one page written in each: two leaf tables.
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x20_0000), 0x40_0000, USER_RW, false)
        .unwrap();
    space.write_user(va(0x20_0000), b"first").unwrap();
    space.write_user(va(0x5f_f000), b"second").unwrap();
    let (allocated, _) = frame_counts();
    space
        .mremap(
            va(0x20_0000),
            0x40_0000,
            0x40_0000,
            Remap::Fixed(va(0x1_0000_0000)),
        )
        .unwrap();
    // Only the table above the two leaf tables is new at the destination.
    assert_eq!(frame_counts().0 - allocated, 1, "no leaf table allocated");
    let mut seen = [0u8; 6];
    space.read_user(va(0x1_003f_f000), &mut seen).unwrap();
    assert_eq!(&seen, b"second");
}

#[test]
fn a_move_of_part_of_a_table_leaves_the_rest_in_place() {
    // The destination is aligned like a whole leaf table, but only half of it moves.
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x20_0000), 0x20_0000, USER_RW, false)
        .unwrap();
    let page = |base: usize, index: usize| base + index * 0x1000;
    for index in [0, 0xff, 0x100, 0x1ff] {
        space.write_user(va(page(0x20_0000, index)), &[1]).unwrap();
    }
    let frame = |space: &Space, base, index| frames_of(space, page(base, index), 1)[0];
    let before = [0, 0xff, 0x100, 0x1ff].map(|index| frame(&space, 0x20_0000, index));
    space
        .mremap(
            va(0x20_0000),
            0x10_0000,
            0x10_0000,
            Remap::Fixed(va(0x1_0000_0000)),
        )
        .unwrap();
    let (to, from) = (0x1_0000_0000, 0x20_0000);
    assert_eq!(
        [frame(&space, to, 0), frame(&space, to, 0xff)],
        [before[0], before[1]]
    );
    assert_eq!(
        [frame(&space, from, 0x100), frame(&space, from, 0x1ff)],
        [before[2], before[3]],
        "the second half stays"
    );
    assert_eq!(
        [frame(&space, to, 0x100), frame(&space, to, 0x1ff)],
        [None, None]
    );
    assert_eq!(
        [frame(&space, from, 0), frame(&space, from, 0xff)],
        [None, None]
    );
}

#[test]
fn a_root_entry_never_moves_as_one_entry() {
    // A root entry's worth of blocks one level down (a physical offset aligned to the block
    // size only), under one root entry: root slots may be shared with the kernel half, so the
    // destination gets a table of its own.
    use vmlayer_arch::{PagingArch, level_size};
    // A CPU that addresses every physical address the entries can hold (x86_64 maps 1..513 GiB).
    const BITS: usize = <crate::Arch as PagingArch>::PA_BITS;
    let top = <crate::Arch as PagingArch>::LEVELS - 1;
    let (size, block) = (level_size(top), level_size(top - 1));
    let mut space = AddressSpace::<TestFrames, TestArch<false, BITS>>::try_new().unwrap();
    space
        .map_linear(va(size), PhysAddr::from(block), size, RW)
        .unwrap();
    let (allocated, _) = frame_counts();
    space
        .mremap(va(size), size, size, Remap::Fixed(va(2 * size)))
        .unwrap();
    assert_eq!(
        frame_counts().0 - allocated,
        1,
        "a table for the destination"
    );
    let moved = space.query(va(2 * size + block + 0x1000)).unwrap();
    assert_eq!(moved.paddr, PhysAddr::from(2 * block + 0x1000));
}

#[test]
fn a_move_says_whether_it_linked_tables() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x20_0000), 0x4000, USER_RW, true)
        .unwrap();
    space.set_tlb_flush_hook(Some(record_flush));
    take_flushes();
    // Within the leaf table: no table linked or freed.
    space
        .mremap(va(0x20_0000), 0x1000, 0x1000, Remap::Fixed(va(0x20_8000)))
        .unwrap();
    let flushes = take_flushes();
    assert!(
        !flushes.is_empty() && flushes.iter().all(|r| !r.tables_changed),
        "{flushes:?}"
    );
    // To a new leaf table, leaving the old one in use: tables linked.
    space
        .mremap(
            va(0x20_1000),
            0x1000,
            0x1000,
            Remap::Fixed(va(0x1_0000_0000)),
        )
        .unwrap();
    let flushes = take_flushes();
    assert!(flushes.iter().any(|r| r.tables_changed), "{flushes:?}");
}

#[test]
fn huge_moves_prepare_exactly_the_tables_they_fill_and_carry_prot_none() {
    let mut space = Space::try_new().unwrap();
    space
        .map_linear(va(0x4000_0000), pa(0x8000_0000), 0x20_0000, RW)
        .unwrap();
    let tables = space.page_table().table_page_count();
    let frames = live_frames();
    // Aligned, in the same 1 GiB window: the block moves into the same table, nothing new.
    space
        .mremap(
            va(0x4000_0000),
            0x20_0000,
            0x20_0000,
            Remap::Fixed(va(0x6000_0000)),
        )
        .unwrap();
    assert_eq!(space.page_table().table_page_count(), tables, "aligned");
    assert_eq!(
        live_frames(),
        frames,
        "no table allocated for an aligned block"
    );
    // PROT_NONE, then misaligned: 4 KiB entries in the two leaf tables the destination spans.
    space
        .protect(va(0x6000_0000), 0x20_0000, MappingFlags::empty())
        .unwrap();
    space
        .mremap(
            va(0x6000_0000),
            0x20_0000,
            0x20_0000,
            Remap::Fixed(va(0x7000_1000)),
        )
        .unwrap();
    assert_eq!(
        space.page_table().table_page_count(),
        tables + 2,
        "misaligned"
    );
    assert!(space.query(va(0x7000_1000)).unwrap().is_prot_none());
    space.protect(va(0x7000_1000), 0x20_0000, RW).unwrap();
    for (address, frame) in [
        (0x7000_1234, 0x8000_0234),
        (0x7010_0000, 0x800f_f000),
        (0x7020_0fff, 0x801f_ffff),
    ] {
        assert_eq!(
            space.query(va(address)).unwrap().paddr,
            pa(frame),
            "{address:#x}"
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "moves 262,144 entries")]
fn a_block_moved_by_less_than_its_size_fills_the_leaf_tables_it_spans_and_no_more() {
    // A 1 GiB block moved 2 MiB off its alignment: its end is on a leaf table's boundary. A
    // misaligned block becomes 4 KiB entries (`moving.rs`; 2 MiB blocks would do here, but the
    // move does not look for the largest size that fits), so 512 leaf tables are filled.
    let mut space = Space::try_new().unwrap();
    space
        .map_linear(va(0x4000_0000), pa(0x4000_0000), 0x4000_0000, RW)
        .unwrap();
    assert_eq!(
        space.query(va(0x4000_0000)).unwrap().page_size,
        PageSize::Size1G
    );
    let frames = live_frames();
    space
        .mremap(
            va(0x4000_0000),
            0x4000_0000,
            0x4000_0000,
            Remap::Fixed(va(0x8020_0000)),
        )
        .unwrap();
    // 512 leaf tables and the two tables above them (1 GiB windows 2 and 3).
    assert_eq!(live_frames(), frames + 514);
    assert_eq!(space.query(va(0x8020_0000)).unwrap().paddr, pa(0x4000_0000));
    assert_eq!(space.query(va(0xc01f_f000)).unwrap().paddr, pa(0x7fff_f000));
}
