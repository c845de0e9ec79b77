//! Tests of the flush plan for every request kind and PCID state (Intel SDM Vol. 3A,
//! §4.10.4.1), of the INVPCID operands and of the CR3 / CR4 values.

use memory_addr::{PhysAddr, VirtAddr};
use vmlayer_arch::tlb::pages_in;
use vmlayer_arch::{TlbFlush, TlbFlushRequest};

use super::*;

/// PCIDs off: every request is one for the current space (PCID 0), as before PCIDs.
const OFF: PcidState = PcidState::DISABLED;

/// PCIDs on, this CPU running `current`.
const fn running(current: u16) -> PcidState {
    PcidState {
        enabled: true,
        current,
    }
}

fn flush_plan_without_pcids(request: &TlbFlushRequest) -> FlushPlan {
    flush_plan(request, OFF)
}

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
        let plan = flush_plan_without_pcids(&request(
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
    let plan = flush_plan_without_pcids(&request(
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
        let plan = flush_plan_without_pcids(&request(
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
            flush_plan_without_pcids(&request(TlbFlush::All, tables_changed, false)),
            FlushPlan::ReloadCr3,
            "non-global, tables {tables_changed}"
        );
        assert_eq!(
            flush_plan_without_pcids(&request(TlbFlush::All, tables_changed, true)),
            FlushPlan::ToggleGlobalPages,
            "global, tables {tables_changed}"
        );
    }
}

const PAGE: TlbFlush = TlbFlush::Page(VirtAddr::from_usize(0x4020_3abc));
const RANGE: TlbFlush = TlbFlush::Range {
    start: VirtAddr::from_usize(0x4020_3000),
    end: VirtAddr::from_usize(0x4020_5000),
};

fn with_asid(
    flush: TlbFlush,
    asid: u16,
    tables_changed: bool,
    global_changed: bool,
) -> TlbFlushRequest {
    let mut request = request(flush, tables_changed, global_changed);
    request.asid = asid;
    request
}

#[test]
fn without_pcids_the_asid_changes_nothing() {
    // With CR4.PCIDE = 0 the CPU caches PCID 0 only: any ASID is flushed as the current space.
    for asid in [0, 1, 0xfff] {
        for tables_changed in [false, true] {
            for global_changed in [false, true] {
                let what = format!("asid {asid} tables {tables_changed} global {global_changed}");
                let plan = |flush| {
                    flush_plan(&with_asid(flush, asid, tables_changed, global_changed), OFF)
                };
                assert_eq!(pages(plan(PAGE)), [0x4020_3000], "page: {what}");
                assert_eq!(
                    pages(plan(RANGE)),
                    [0x4020_3000, 0x4020_4000],
                    "range: {what}"
                );
                let all = if global_changed {
                    FlushPlan::ToggleGlobalPages
                } else {
                    FlushPlan::ReloadCr3
                };
                assert_eq!(plan(TlbFlush::All), all, "all: {what}");
            }
        }
    }
}

#[test]
fn with_pcids_global_changes_invalidate_every_pcid_with_globals() {
    // Kernel-half leaves are not G, so every PCID caches them: INVPCID type 2, whatever the
    // request's PCID and size.
    for (asid, current) in [(0, 0), (0, 5), (5, 5), (5, 6)] {
        for tables_changed in [false, true] {
            for flush in [PAGE, RANGE, TlbFlush::All] {
                let request = with_asid(flush, asid, tables_changed, true);
                assert_eq!(
                    flush_plan(&request, running(current)),
                    FlushPlan::InvalidateAllPcids,
                    "{flush:?} asid {asid} on {current}, tables {tables_changed}"
                );
            }
        }
    }
}

#[test]
fn with_pcids_the_current_pcid_is_flushed_as_before() {
    // INVLPG acts on the current PCID (and every paging-structure-cache entry of it); the CR3
    // reload keeps the PCID and clears bit 63, so it flushes that PCID.
    for asid in [0, 7, 0xfff] {
        for tables_changed in [false, true] {
            let what = format!("asid {asid}, tables {tables_changed}");
            let plan = |flush| {
                flush_plan(
                    &with_asid(flush, asid, tables_changed, false),
                    running(asid),
                )
            };
            assert_eq!(pages(plan(PAGE)), [0x4020_3000], "page: {what}");
            assert_eq!(
                pages(plan(RANGE)),
                [0x4020_3000, 0x4020_4000],
                "range: {what}"
            );
            assert_eq!(plan(TlbFlush::All), FlushPlan::ReloadCr3, "all: {what}");
        }
    }
}

#[test]
fn with_pcids_another_pcid_is_flushed_by_invpcid() {
    // ASID 0 (a space without an ASID) while this CPU runs PCID 3 is another PCID too.
    for (asid, current) in [(7, 3), (0, 3), (0xfff, 0)] {
        let what = format!("asid {asid} on {current}");
        let plan = |flush, tables_changed| {
            flush_plan(
                &with_asid(flush, asid, tables_changed, false),
                running(current),
            )
        };
        assert_eq!(
            plan(PAGE, false),
            FlushPlan::InvalidatePcidPages {
                start: VirtAddr::from(0x4020_3000),
                end: VirtAddr::from(0x4020_3fff),
                pcid: asid
            },
            "page: {what}"
        );
        assert_eq!(
            plan(RANGE, false),
            FlushPlan::InvalidatePcidPages {
                start: VirtAddr::from(0x4020_3000),
                end: VirtAddr::from(0x4020_5000),
                pcid: asid
            },
            "range: {what}"
        );
        // Tables changed: the whole PCID, as strong as INVLPG's paging-structure-cache rule.
        assert_eq!(
            plan(PAGE, true),
            FlushPlan::InvalidatePcid(asid),
            "page, tables: {what}"
        );
        assert_eq!(
            plan(RANGE, true),
            FlushPlan::InvalidatePcid(asid),
            "range, tables: {what}"
        );
        for tables_changed in [false, true] {
            assert_eq!(
                plan(TlbFlush::All, tables_changed),
                FlushPlan::InvalidatePcid(asid),
                "all, tables {tables_changed}: {what}"
            );
        }
    }
}

#[test]
fn invpcid_operands_of_every_plan() {
    let va = VirtAddr::from;
    let pages = FlushPlan::InvalidatePcidPages {
        start: va(0x4020_3000),
        end: va(0x4020_5000),
        pcid: 0x123,
    };
    assert_eq!(
        pages.invpcids().collect::<Vec<_>>(),
        [
            (
                InvpcidType::IndividualAddress,
                InvpcidDescriptor::new(0x123, va(0x4020_3000))
            ),
            (
                InvpcidType::IndividualAddress,
                InvpcidDescriptor::new(0x123, va(0x4020_4000))
            ),
        ],
        "type 0 per page"
    );
    assert_eq!(
        FlushPlan::InvalidatePcid(9).invpcids().collect::<Vec<_>>(),
        [(InvpcidType::SingleContext, InvpcidDescriptor::new(9, va(0)))],
        "type 1"
    );
    assert_eq!(
        FlushPlan::InvalidateAllPcids.invpcids().collect::<Vec<_>>(),
        [(
            InvpcidType::AllContextsIncludingGlobal,
            InvpcidDescriptor::new(0, va(0))
        )],
        "type 2"
    );
    let others = [
        FlushPlan::InvalidatePages {
            start: va(0x1000),
            end: va(0x2000),
        },
        FlushPlan::ReloadCr3,
        FlushPlan::ToggleGlobalPages,
    ];
    for plan in others {
        assert_eq!(plan.invpcids().count(), 0, "{plan:?}: no INVPCID");
    }
    let types = [
        InvpcidType::IndividualAddress,
        InvpcidType::SingleContext,
        InvpcidType::AllContextsIncludingGlobal,
        InvpcidType::AllContexts,
    ];
    for (value, kind) in types.into_iter().enumerate() {
        assert_eq!(kind as u64, value as u64, "{kind:?}");
    }
}

#[test]
fn the_top_page_of_another_pcid_does_not_overflow() {
    let request = with_asid(TlbFlush::Page(VirtAddr::from(usize::MAX)), 2, false, false);
    let plan = flush_plan(&request, running(1));
    assert_eq!(
        plan.invpcids().collect::<Vec<_>>(),
        [(
            InvpcidType::IndividualAddress,
            InvpcidDescriptor::new(2, VirtAddr::from(usize::MAX & !0xfff))
        )]
    );
}

#[test]
fn invpcid_descriptor_layout() {
    // 128 bits: PCID in 11:0, 63:12 reserved (zero), the linear address in 127:64.
    assert_eq!(core::mem::size_of::<InvpcidDescriptor>(), 16);
    assert_eq!(core::mem::offset_of!(InvpcidDescriptor, pcid), 0);
    assert_eq!(core::mem::offset_of!(InvpcidDescriptor, address), 8);
    let descriptor = InvpcidDescriptor::new(0xffff, VirtAddr::from(0xffff_8000_0000_1000));
    assert_eq!(
        descriptor.quadwords(),
        [0xfff, 0xffff_8000_0000_1000],
        "PCID cut to 12 bits, reserved bits zero"
    );
}

#[test]
fn cr3_values_and_pcid_state() {
    let root = PhysAddr::from(0x000f_ffff_ffff_f000);
    assert_eq!(
        cr3_value(root, 0, false),
        0x000f_ffff_ffff_f000,
        "PCID 0, flush"
    );
    assert_eq!(
        cr3_value(root, 0xfff, true),
        0x800f_ffff_ffff_ffff,
        "PCID 4095, keep"
    );
    assert_eq!(
        cr3_value(PhysAddr::from(0x10_2fff), 0x1_001, false),
        0x10_2001,
        "masked"
    );
    let cases = [
        // (CR3, CR4, state)
        (0x10_2000, 0, OFF),
        (0x10_2018, 1 << 7, OFF), // PWT | PCD without PCIDE: not a PCID
        (0x10_2000, CR4_PCIDE, running(0)),
        (0x10_2abc, CR4_PCIDE | (1 << 7), running(0xabc)),
    ];
    for (cr3, cr4, state) in cases {
        assert_eq!(
            PcidState::from_registers(cr3, cr4),
            state,
            "CR3 {cr3:#x} CR4 {cr4:#x}"
        );
    }
}
