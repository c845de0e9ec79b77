//! One test per page-table defect of page_table_multiarch 0.6.2 listed in
//! `/work/shared/notes/upstream-defects.md` (and the address-space ones of ArceOS axmm that
//! concern page tables). Each name says which defect it pins down.

use std::alloc::{Layout, alloc_zeroed, dealloc};

use vmlayer_arch::{
    Access, EntryKind, PageFaultInfo, PagingArch, TlbFlush, TlbFlushRequest, level_size,
};
use vmlayer_areas::MappingError;

use super::frames::{frame_counts, live_frames, record_flush, set_allocation_budget, take_flushes};
use super::*;

/// Upstream: `map_region` has no rollback on failure.
#[test]
fn defect_map_region_without_rollback() {
    let mut space = Space::try_new().unwrap();
    // 1 GiB of 4 KiB pages (offset not 2 MiB aligned) needs 1 + 512 table pages; allow 100
    // (10 under Miri: the same rollback over fewer tables).
    set_allocation_budget(Some(if cfg!(miri) { 10 } else { 100 }));
    assert_eq!(
        space.map_linear(va(GIB), pa(0x1000), GIB, RW),
        Err(MappingError::NoMemory)
    );
    set_allocation_budget(None);
    assert_eq!(
        space.page_table().table_page_count(),
        1,
        "no table page left behind"
    );
    assert_eq!(live_frames(), 1);
    for address in [GIB, GIB + 98 * 2 * MIB, 2 * GIB - 0x1000] {
        assert_eq!(
            lookup(&space, address),
            None,
            "{address:#x} still mapped after the failure"
        );
    }
    // And the failure did not poison the range: mapping it again works.
    space.map_linear(va(GIB), pa(0x1000), 4 * MIB, RW).unwrap();
    assert_eq!(
        lookup(&space, GIB + 4 * MIB - 0x1000),
        Some((0x1000 + 4 * MIB - 0x1000, normalized(RW), 0x1000))
    );
}

/// Upstream: `unmap_region` stops at the first unmapped hole.
#[test]
fn defect_unmap_region_stops_at_a_hole() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x100_0000), 0x10_0000, RW, false)
        .unwrap();
    for page in [0x100_0000, 0x100_5000, 0x10f_f000] {
        let fault = PageFaultInfo::new(va(page), Access::Write, false);
        assert_eq!(
            space.handle_page_fault(fault),
            Ok(crate::FaultResolution::Populated)
        );
    }
    space.unmap(va(0x100_0000), 0x10_0000).unwrap();
    assert_eq!(lookup(&space, 0x10f_f000), None, "page after the holes");
    assert_eq!(live_frames(), 1, "all three frames and the tables returned");
}

/// Upstream: a partial unmap or protect inside a 2 MiB page rewrites or clears the whole
/// 2 MiB entry, then panics on an assert.
#[test]
fn defect_partial_operations_inside_a_2mib_page() {
    let mut space = Space::try_new().unwrap();
    space
        .map_linear(va(2 * MIB), pa(2 * MIB), 2 * MIB, RW)
        .unwrap();
    space.protect(va(2 * MIB + 0x1000), 0x1000, READ).unwrap();
    space.unmap(va(2 * MIB + 0x3000), 0x1000).unwrap();
    assert_eq!(
        lookup(&space, 2 * MIB),
        Some((2 * MIB, normalized(RW), 0x1000))
    );
    assert_eq!(
        lookup(&space, 2 * MIB + 0x1000),
        Some((2 * MIB + 0x1000, normalized(READ), 0x1000))
    );
    assert_eq!(
        lookup(&space, 2 * MIB + 0x2000),
        Some((2 * MIB + 0x2000, normalized(RW), 0x1000))
    );
    assert_eq!(lookup(&space, 2 * MIB + 0x3000), None);
    assert_eq!(
        lookup(&space, 4 * MIB - 0x1000),
        Some((4 * MIB - 0x1000, normalized(RW), 0x1000))
    );
}

/// Upstream: empty table pages are never freed before drop (515 table frames remain after
/// unmapping 1 GiB).
#[test]
fn defect_empty_tables_never_freed() {
    let mut space = Space::try_new().unwrap();
    // 1 GiB of 4 KiB pages; 16 MiB under Miri (the same walk, 8 leaf tables instead of 512).
    let size = if cfg!(miri) { 16 * MIB } else { GIB };
    space.map_linear(va(GIB), pa(0x1000), size, RW).unwrap();
    assert_eq!(
        space.page_table().table_page_count(),
        1 + (Arch::LEVELS - 3) + 1 + size / (2 * MIB),
        "tables for {size:#x} bytes of 4 KiB pages"
    );
    space.unmap(va(GIB), size).unwrap();
    assert_eq!(
        space.page_table().table_page_count(),
        1,
        "only the root after unmapping {size:#x} bytes"
    );
    // Map/unmap cycles do not grow memory.
    for cycle in 0..20 {
        space
            .map_alloc(va(0x7000_0000 + cycle * 0x3000), 0x5000, RW, true)
            .unwrap();
        space
            .unmap(va(0x7000_0000 + cycle * 0x3000), 0x5000)
            .unwrap();
        assert_eq!(live_frames(), 1, "cycle {cycle}");
    }
}

/// Upstream: a 2 MiB map over a range that once held 4 KiB pages fails with AlreadyMapped.
#[test]
fn defect_huge_map_cannot_reuse_a_range_that_held_small_pages() {
    let mut space = Space::try_new().unwrap();
    space.map_alloc(va(2 * MIB), 2 * MIB, RW, true).unwrap();
    space.unmap(va(2 * MIB), 2 * MIB).unwrap();
    space
        .map_linear(va(2 * MIB), pa(6 * MIB), 2 * MIB, RW)
        .unwrap();
    assert_eq!(
        lookup(&space, 2 * MIB + 7),
        Some((6 * MIB + 7, normalized(RW), 2 * MIB)),
        "one 2 MiB entry"
    );
}

/// Upstream: protecting to empty flags and back loses the page, and a later unmap does not
/// hand back the frame.
#[test]
fn defect_prot_none_loses_the_page_and_leaks_the_frame() {
    let mut space = Space::try_new().unwrap();
    space.map_alloc(va(0x1000), 0x1000, RW, true).unwrap();
    let frame = lookup(&space, 0x1000).unwrap().0;
    space.protect(va(0x1000), 0x1000, NONE).unwrap();
    space.protect(va(0x1000), 0x1000, RW).unwrap();
    assert_eq!(
        lookup(&space, 0x1000),
        Some((frame, normalized(RW), 0x1000))
    );
    space.protect(va(0x1000), 0x1000, NONE).unwrap();
    space.unmap(va(0x1000), 0x1000).unwrap();
    let (allocated, freed) = frame_counts();
    assert_eq!(allocated - freed, 1, "every frame but the root's came back");
}

/// Upstream (security, RISC-V): a leaf protected to flags without R/W/X became V=1, RWX=0,
/// i.e. a pointer to a next-level table, so the walker read user data as a page table. On every
/// ISA, a PROT_NONE 2 MiB block whose memory is full of plausible entries must stay a
/// reserved block.
#[test]
fn defect_prot_none_huge_leaf_becomes_a_table_pointer() {
    let layout = Layout::from_size_align(2 * MIB, 2 * MIB).unwrap();
    // SAFETY: non-zero size.
    let block = unsafe { alloc_zeroed(layout) } as usize;
    assert_ne!(block, 0);
    // Plant RWX user leaves (and table pointers) to an attacker's frame all over the block.
    let evil = Arch::encode_leaf(pa(0x6660_0000), RW | RX | MappingFlags::USER, 0);
    let evil_table = Arch::encode_table(pa(block));
    for i in 0..(2 * MIB / 8) {
        // SAFETY: inside the allocation.
        unsafe {
            (block as *mut u64)
                .add(i)
                .write(if i % 2 == 0 { evil } else { evil_table })
        };
    }

    let mut space = Space::try_new().unwrap();
    space
        .map_linear(va(2 * MIB), pa(block), 2 * MIB, RW | MappingFlags::USER)
        .unwrap();
    space.protect(va(2 * MIB), 2 * MIB, NONE).unwrap();
    for offset in [0, 0x1000, 0x12_3456, 2 * MIB - 8] {
        assert_eq!(
            lookup(&space, 2 * MIB + offset),
            Some((block + offset, NONE, 2 * MIB)),
            "PROT_NONE block at offset {offset:#x}"
        );
    }
    // Splitting it (partial protect) keeps every part reserved.
    space.protect(va(2 * MIB), 0x1000, READ).unwrap();
    assert_eq!(
        lookup(&space, 2 * MIB),
        Some((block, normalized(READ), 0x1000))
    );
    assert_eq!(
        lookup(&space, 2 * MIB + 0x5000),
        Some((block + 0x5000, NONE, 0x1000))
    );
    space.unmap(va(2 * MIB), 2 * MIB).unwrap();
    // SAFETY: allocated above with this layout; no longer mapped.
    unsafe { dealloc(block as *mut u8, layout) };
}

/// Upstream (x86_64): PROT_NONE encoded as "USER only" left a present, user-readable entry.
/// On every ISA the raw PROT_NONE entry must decode as reserved (the ISA crates check it is not
/// valid to the hardware).
#[test]
fn defect_prot_none_is_a_present_entry() {
    for level in 0..=Arch::LARGEST_LEAF_LEVEL {
        let entry = Arch::encode_reserved(pa(level_size(level)), level);
        assert_eq!(
            Arch::decode(entry, level),
            EntryKind::Reserved {
                paddr: pa(level_size(level))
            }
        );
        if level > 0 {
            assert_ne!(
                Arch::decode(entry, level),
                EntryKind::Table(pa(level_size(level))),
                "level {level}"
            );
        }
    }
}

/// axmm: out of memory during eager populate leaves holes and still reports success.
#[test]
fn defect_eager_populate_out_of_memory_reports_success() {
    let mut space = Space::try_new().unwrap();
    set_allocation_budget(Some(10));
    let result = space.map_alloc(va(0x1000), 0x20_000, RW, true);
    set_allocation_budget(None);
    assert_eq!(result, Err(MappingError::NoMemory));
    assert_eq!(lookup(&space, 0x1000), None);
    assert_eq!(live_frames(), 1);
}

/// Upstream: no cross-CPU shootdown; the cursor flushes only the local TLB. Here every change
/// goes through the globally installed hook (a kernel's IPI shootdown) with the root it
/// concerns.
#[test]
fn defect_no_tlb_shootdown() {
    let mut space = Space::try_new().unwrap();
    take_flushes();
    // Other tests running meanwhile record into their own thread's list, never into this one.
    vmlayer_arch::set_tlb_flush_hook(Some(record_flush));
    space.map_alloc(va(0x1000), 0x1000, RW, true).unwrap();
    space.unmap(va(0x1000), 0x1000).unwrap();
    vmlayer_arch::set_tlb_flush_hook(None);
    let root = space.root_paddr();
    assert_eq!(
        take_flushes(),
        [
            TlbFlushRequest {
                root_paddr: root,
                asid: 0,
                cpus: vmlayer_arch::CpuMask::EMPTY,
                flush: TlbFlush::Page(va(0x1000)),
                tables_changed: true,
                global_changed: false,
            },
            TlbFlushRequest {
                root_paddr: root,
                asid: 0,
                cpus: vmlayer_arch::CpuMask::EMPTY,
                flush: TlbFlush::All,
                tables_changed: true,
                global_changed: false,
            },
        ],
        "map links tables and flushes the page; unmap frees tables, so it flushes everything \
         (a user table: its kernel leaves are tagged with its ASID, not global)"
    );
}
