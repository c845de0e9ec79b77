//! The frame-release rule on every path that frees, checked against the model TLB
//! ([`super::tlb_model`]): unmap, drop, rollback of a failed map, table reclamation and the
//! undo of a failed huge-page split.

use super::frames::{live_frames, set_allocation_budget};
use super::tlb_model;
use super::*;
use crate::MappingError;

/// Runs `operation` on `space` with the model attached (everything cached first) and asserts
/// that no frame was freed while a cached entry used it.
fn assert_no_early_free(space: &mut Space, what: &str, operation: impl FnOnce(&mut Space)) {
    space.set_tlb_flush_hook(Some(tlb_model::flush_hook));
    tlb_model::attach(space);
    operation(space);
    let (violations, flushes) = tlb_model::detach();
    assert_eq!(violations, Vec::<std::string::String>::new(), "{what}");
    assert!(flushes > 0, "{what}: no flush at all");
}

/// Populated pages for the unmap case: four times the batch of deferred frees (under Miri a
/// little more than two batches, over two leaf tables all the same).
const MANY_PAGES: usize = if cfg!(miri) { 520 } else { 1024 };

#[test]
fn unmap_of_more_pages_than_a_batch_frees_each_frame_after_a_covering_flush() {
    let mut space = Space::try_new().unwrap();
    let size = MANY_PAGES * 0x1000;
    space.map_alloc(va(0x4000_0000), size, RW, true).unwrap();
    assert_eq!(live_frames(), 1 + MANY_PAGES + tables_for_pages());
    assert_no_early_free(&mut space, "unmap of many pages", |space| {
        space.unmap(va(0x4000_0000), size).unwrap();
    });
    assert_eq!(live_frames(), 1, "every frame and table page returned");

    // One page more than a batch, inside one leaf table.
    space
        .map_alloc(va(0x4000_0000), 257 * 0x1000, RW, true)
        .unwrap();
    assert_no_early_free(&mut space, "unmap of 257 pages", |space| {
        space.unmap(va(0x4000_0000), 257 * 0x1000).unwrap();
    });
    assert_eq!(live_frames(), 1);
}

/// Table pages below the root for [`MANY_PAGES`] pages at 1 GiB: two leaf tables and one
/// table per level between them and the root.
fn tables_for_pages() -> usize {
    2 + (Arch::LEVELS - 2)
}

#[test]
fn drop_frees_frames_and_table_pages_after_a_covering_flush() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x4000_0000), 300 * 0x1000, RW, true)
        .unwrap();
    space.map_linear(va(2 * GIB), pa(GIB), 4 * MIB, RW).unwrap();
    space.set_tlb_flush_hook(Some(tlb_model::flush_hook));
    tlb_model::attach(&space);
    // Switched away before the drop, as the contract asks; cached entries stay until flushed.
    tlb_model::deactivate();
    drop(space);
    let (violations, _) = tlb_model::detach();
    assert_eq!(violations, Vec::<std::string::String>::new(), "drop");
    assert_eq!(live_frames(), 0, "root and every frame returned");
}

#[test]
fn clear_frees_after_a_covering_flush() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x4000_0000), 300 * 0x1000, RW, true)
        .unwrap();
    space.map_alloc(va(0x8000_0000), 0x1000, RW, true).unwrap();
    assert_no_early_free(&mut space, "clear", |space| space.clear().unwrap());
    assert_eq!(live_frames(), 1);
}

#[test]
fn a_failed_map_rolls_back_after_a_covering_flush() {
    let mut space = Space::try_new().unwrap();
    space.map_alloc(va(0x8000_0000), 0x1000, RW, true).unwrap();
    let before = live_frames();
    assert_no_early_free(&mut space, "rollback", |space| {
        // The 300th frame is refused: 299 pages (and their tables) are mapped, then unmapped
        // (more than a batch of deferred frees).
        set_allocation_budget(Some(300));
        let result = space.map_alloc(va(0x4000_0000), 4 * MIB, RW, true);
        set_allocation_budget(None);
        assert_eq!(result, Err(MappingError::NoMemory));
    });
    assert_eq!(
        live_frames(),
        before,
        "everything the failed map took is back"
    );
    assert_eq!(lookup(&space, 0x4000_0000), None);
}

#[test]
fn an_undone_split_frees_its_table_after_a_covering_flush() {
    let mut space = Space::try_new().unwrap();
    space.map_linear(va(GIB), pa(GIB), 4 * MIB, RW).unwrap();
    let before = live_frames();
    assert_no_early_free(&mut space, "split undo", |space| {
        // Both 2 MiB blocks must split; the second split finds no table page.
        set_allocation_budget(Some(1));
        let result = space.unmap(va(GIB + 0x1000), 2 * MIB);
        set_allocation_budget(None);
        assert_eq!(result, Err(MappingError::NoMemory));
    });
    assert_eq!(live_frames(), before);
    assert_eq!(
        lookup(&space, GIB + 0x1000).map(|(_, _, size)| size),
        Some(2 * MIB)
    );
}

#[test]
fn reclaimed_tables_are_freed_after_a_flush_of_the_walk_caches() {
    let mut space = Space::try_new().unwrap();
    space.map_alloc(va(0x4000_0000), 0x2000, RW, true).unwrap();
    space.map_alloc(va(0x8000_0000), 0x1000, RW, true).unwrap();
    let before = live_frames();
    assert_no_early_free(&mut space, "table reclamation", |space| {
        space.unmap(va(0x4000_0000), 0x2000).unwrap();
    });
    assert!(
        live_frames() < before - 2,
        "the emptied leaf table was reclaimed with the two frames"
    );
}

#[test]
fn an_unmap_without_spill_frames_flushes_early_and_still_frees_after_a_covering_flush() {
    let mut space = Space::try_new().unwrap();
    // Past the batch's inline slots (by a few pages only under Miri).
    let size = if cfg!(miri) { 260 } else { MANY_PAGES } * 0x1000;
    space.map_alloc(va(0x4000_0000), size, RW, true).unwrap();
    // No frame for a spill page: the batch flushes each time its inline slots are full.
    set_allocation_budget(Some(0));
    space.set_tlb_flush_hook(Some(tlb_model::flush_hook));
    tlb_model::attach(&space);
    space.unmap(va(0x4000_0000), size).unwrap();
    let (violations, flushes) = tlb_model::detach();
    set_allocation_budget(None);
    assert_eq!(violations, Vec::<std::string::String>::new());
    assert!(flushes > 1, "early flushes: {flushes}");
    assert_eq!(live_frames(), 1, "every frame and table page returned");
}
