//! Tests of the flush plan for every request kind (Intel SDM Vol. 3A, §4.10.4.1).

use memory_addr::{PhysAddr, VirtAddr};
use vmlayer_arch::tlb::pages_in;
use vmlayer_arch::{TlbFlush, TlbFlushRequest};

use super::*;

fn request(flush: TlbFlush, tables_changed: bool, global_changed: bool) -> TlbFlushRequest {
    let mut request = TlbFlushRequest::new(PhysAddr::from(0x10_0000), flush);
    request.tables_changed = tables_changed;
    request.global_changed = global_changed;
    request
}

fn pages(plan: FlushPlan) -> Vec<usize> {
    match plan {
        FlushPlan::InvalidatePages { start, end } => {
            pages_in(start, end).map(VirtAddr::as_usize).collect()
        }
        other => panic!("expected INVLPGs, got {other:?}"),
    }
}

#[test]
fn a_page_is_one_invlpg_whatever_changed() {
    // INVLPG drops global entries and every paging-structure-cache level for the address.
    for (tables_changed, global_changed) in
        [(false, false), (true, false), (false, true), (true, true)]
    {
        let plan = flush_plan(&request(
            TlbFlush::Page(VirtAddr::from(0x4020_3abc)),
            tables_changed,
            global_changed,
        ));
        assert_eq!(
            pages(plan),
            [0x4020_3000],
            "tables {tables_changed}, global {global_changed}"
        );
    }
}

#[test]
fn the_top_page_does_not_overflow() {
    let plan = flush_plan(&request(
        TlbFlush::Page(VirtAddr::from(usize::MAX)),
        false,
        true,
    ));
    assert_eq!(pages(plan), [usize::MAX & !0xfff], "top page");
}

#[test]
fn a_range_is_one_invlpg_per_page_whatever_changed() {
    for (tables_changed, global_changed) in
        [(false, false), (true, false), (false, true), (true, true)]
    {
        let plan = flush_plan(&request(
            TlbFlush::Range {
                start: VirtAddr::from(0xffff_8000_0000_1000),
                end: VirtAddr::from(0xffff_8000_0000_4000),
            },
            tables_changed,
            global_changed,
        ));
        assert_eq!(
            pages(plan),
            [
                0xffff_8000_0000_1000,
                0xffff_8000_0000_2000,
                0xffff_8000_0000_3000
            ],
            "tables {tables_changed}, global {global_changed}"
        );
    }
}

#[test]
fn everything_is_a_cr3_reload_unless_global_entries_changed() {
    for tables_changed in [false, true] {
        assert_eq!(
            flush_plan(&request(TlbFlush::All, tables_changed, false)),
            FlushPlan::ReloadCr3,
            "non-global, tables {tables_changed}"
        );
        assert_eq!(
            flush_plan(&request(TlbFlush::All, tables_changed, true)),
            FlushPlan::ToggleGlobalPages,
            "global, tables {tables_changed}"
        );
    }
}
