//! Tests of the fence plan for every request kind (privileged spec §4.2.1) and of the hosted
//! no-op execution.

use memory_addr::{PhysAddr, VirtAddr};
use vmlayer_arch::tlb::pages_in;
use vmlayer_arch::{TlbFlush, TlbFlushRequest};

use super::*;

fn request(flush: TlbFlush, tables_changed: bool, global_changed: bool) -> TlbFlushRequest {
    let mut request = TlbFlushRequest::new(PhysAddr::from(0x8020_0000), flush);
    request.tables_changed = tables_changed;
    request.global_changed = global_changed;
    request
}

fn pages(plan: FlushPlan) -> Vec<usize> {
    match plan {
        FlushPlan::FencePages {
            start,
            end,
            asid: None,
        } => pages_in(start, end).map(VirtAddr::as_usize).collect(),
        other => panic!("expected fences by address in every address space, got {other:?}"),
    }
}

const PAGE: TlbFlush = TlbFlush::Page(VirtAddr::from_usize(0xffff_ffc0_8040_1234));
const RANGE: TlbFlush = TlbFlush::Range {
    start: VirtAddr::from_usize(0x1000),
    end: VirtAddr::from_usize(0x4000),
};

#[test]
fn leaf_only_changes_fence_by_address_global_or_not() {
    // rs2 = x0: a fence by address covers global entries too.
    for global_changed in [false, true] {
        assert_eq!(
            pages(flush_plan(&request(PAGE, false, global_changed))),
            [0xffff_ffc0_8040_1000],
            "page, global {global_changed}"
        );
        assert_eq!(
            pages(flush_plan(&request(RANGE, false, global_changed))),
            [0x1000, 0x2000, 0x3000],
            "range, global {global_changed}"
        );
    }
}

#[test]
fn changed_tables_always_fence_everything() {
    // A fence by address only covers leaf entries: a linked, unlinked or split table needs
    // sfence.vma x0, x0.
    for flush in [PAGE, RANGE, TlbFlush::All] {
        for global_changed in [false, true] {
            assert_eq!(
                flush_plan(&request(flush, true, global_changed)),
                FlushPlan::FenceAll { asid: None },
                "{flush:?}, global {global_changed}"
            );
        }
    }
}

#[test]
fn everything_is_a_full_fence() {
    for global_changed in [false, true] {
        assert_eq!(
            flush_plan(&request(TlbFlush::All, false, global_changed)),
            FlushPlan::FenceAll { asid: None },
            "global {global_changed}"
        );
    }
}

#[test]
fn hosted_flushes_are_no_ops() {
    // Under qemu-user `sfence.vma` would be an illegal instruction: these must return.
    for flush in [PAGE, RANGE, TlbFlush::All] {
        for tables_changed in [false, true] {
            flush_local(&request(flush, tables_changed, true));
        }
    }
}

fn with_asid(flush: TlbFlush, tables_changed: bool, global_changed: bool) -> TlbFlushRequest {
    let mut request = request(flush, tables_changed, global_changed);
    request.asid = 7;
    request
}

#[test]
fn a_space_with_an_asid_is_fenced_by_its_asid() {
    assert_eq!(
        flush_plan(&with_asid(PAGE, false, false)),
        FlushPlan::FencePages {
            start: VirtAddr::from(0xffff_ffc0_8040_1000),
            end: VirtAddr::from(0xffff_ffc0_8040_1fff),
            asid: Some(7),
        }
    );
    assert_eq!(
        flush_plan(&with_asid(RANGE, false, false)),
        FlushPlan::FencePages {
            start: VirtAddr::from(0x1000),
            end: VirtAddr::from(0x4000),
            asid: Some(7),
        }
    );
    // `sfence.vma x0, asid` covers every level of that address space: tables changed or all.
    for (flush, tables) in [(PAGE, true), (RANGE, true), (TlbFlush::All, false)] {
        assert_eq!(
            flush_plan(&with_asid(flush, tables, false)),
            FlushPlan::FenceAll { asid: Some(7) },
            "{flush:?}, tables {tables}"
        );
    }
}

#[test]
fn a_global_change_never_uses_the_asid_operand() {
    // rs2 != x0 spares global entries (privileged spec §4.2.1): a kernel change must use x0.
    assert_eq!(
        pages(flush_plan(&with_asid(PAGE, false, true))),
        [0xffff_ffc0_8040_1000]
    );
    for flush in [PAGE, RANGE, TlbFlush::All] {
        assert_eq!(
            flush_plan(&with_asid(flush, true, true)),
            FlushPlan::FenceAll { asid: None },
            "{flush:?}"
        );
    }
}

#[test]
fn hosted_asid_flushes_are_no_ops() {
    for flush in [PAGE, RANGE, TlbFlush::All] {
        for tables_changed in [false, true] {
            flush_local(&with_asid(flush, tables_changed, false));
        }
    }
}
