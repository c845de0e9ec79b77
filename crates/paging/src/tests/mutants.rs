//! Cases that `cargo mutants` showed the other tests did not pin down (see `MUTANTS.md` at the
//! workspace root).

use super::frames::{frame_counts, record_flush, set_allocation_budget, take_flushes};
use super::*;
use crate::asid::{AsidAllocator, AsidContext};

#[test]
fn a_context_reports_the_asid_of_its_last_switch() {
    let mut asids = AsidAllocator::new(2, 1).unwrap();
    let mut first = AsidContext::NEW;
    let mut second = AsidContext::NEW;
    assert_eq!(first.asid(), 0, "never ran");
    let switch = asids.switch(0, &mut first);
    assert_eq!((switch.asid, first.asid()), (1, 1));
    let switch = asids.switch(0, &mut second);
    assert_eq!((switch.asid, second.asid()), (2, 2));
    assert_eq!(first.asid(), 1, "unchanged while the generation holds");
}

#[test]
fn a_few_released_frames_wait_inline_without_a_spill_page() {
    let mut space = Space::try_new().unwrap();
    space.set_tlb_flush_hook(Some(record_flush));
    let (start, size) = (va(0x4000_0000), 8 * 0x1000);
    space.map_alloc(start, size, RW, true).unwrap();
    take_flushes();
    let (allocated, _) = frame_counts();
    space.unmap(start, size).unwrap();
    assert_eq!(frame_counts().0, allocated, "no spill page for 8 frames");
    assert_eq!(take_flushes().len(), 1);
    // With no frame to spare for a spill page, still one request.
    space.map_alloc(start, size, RW, true).unwrap();
    take_flushes();
    set_allocation_budget(Some(0));
    let result = space.unmap(start, size);
    set_allocation_budget(None);
    result.unwrap();
    assert_eq!(take_flushes().len(), 1, "no early flush");
}
