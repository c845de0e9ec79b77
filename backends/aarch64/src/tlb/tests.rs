//! Tests of the `TLBI` operand layout, the flush plans for every request kind and scope, and the
//! hosted no-op flushes.

use memory_addr::{PhysAddr, VirtAddr};
use vmlayer_arch::{CpuMask, TlbFlush, TlbFlushRequest};

use super::*;

#[test]
fn tlbi_operand_layout() {
    let cases = [
        (0x0000_0000_0000_1000, 0, 0x1),
        (0x0000_ffff_ffff_f000, 0, 0xf_ffff_ffff),
        // VA[55:12] keeps bits 55:48 of an upper-half address in operand bits 43:36.
        (0xffff_ffff_ffff_f000, 0, 0xfff_ffff_ffff),
        (0x4020_3fff, 0xffff, 0xffff_0000_0004_0203),
    ];
    for (vaddr, asid, operand) in cases {
        assert_eq!(
            tlbi_operand(VirtAddr::from(vaddr), asid),
            operand,
            "{vaddr:#x} asid {asid}"
        );
    }
    assert_eq!(asid_operand(0), 0, "ASID 0");
    assert_eq!(asid_operand(0xff), 0x00ff_0000_0000_0000, "8-bit ASID");
    assert_eq!(asid_operand(0xffff), 0xffff_0000_0000_0000, "16-bit ASID");
}

/// The address a `TLBI` by-VA operand names, as the CPU reads it for the EL1&0 regime with
/// 48-bit halves and top-byte-ignore off: `VA[55:12]` from bits 43:0, bits 63:56 a copy of
/// bit 55 (so the operand selects the `TTBR1_EL1` half when bit 55 is set).
fn operand_address(operand: u64) -> usize {
    (((operand << 20) as i64) >> 8) as usize
}

#[test]
fn upper_half_operands_name_the_upper_half_address() {
    // Kernel-half pages (a linear map at 0xffff_8000_0000_0000 + pa, a window below it, the
    // first and last page of the half) and lower-half pages, with and without an ASID.
    let pages = [
        0xffff_8000_4010_0000,
        0xffff_8010_0000_0000,
        0xffff_7fff_c000_0000,
        0xffff_0000_0000_0000,
        0xffff_ffff_ffff_e000,
        0x0000_0000_4020_3000,
        0x0000_7fff_c000_0000,
        0x0000_ffff_ffff_f000,
    ];
    for vaddr in pages {
        for asid in [0, 1, 0xffff] {
            let operand = tlbi_operand(VirtAddr::from(vaddr), asid);
            assert_eq!(operand_address(operand), vaddr, "{vaddr:#x} asid {asid}");
            assert_eq!(operand >> 48, u64::from(asid), "{vaddr:#x}: ASID field");
            // Bits 47:44 are the FEAT_TTL level hint: zero means "any level", which is what
            // these all-levels invalidations need; an address must never leak into them.
            assert_eq!((operand >> 44) & 0xf, 0, "{vaddr:#x}: TTL hint");
        }
    }
}

fn request(
    flush: TlbFlush,
    asid: u16,
    tables_changed: bool,
    global_changed: bool,
) -> TlbFlushRequest {
    let mut request = TlbFlushRequest::new(PhysAddr::from(0x4010_0000), flush);
    request.asid = asid;
    request.tables_changed = tables_changed;
    request.global_changed = global_changed;
    request.cpus = CpuMask::single(1).unwrap();
    request
}

/// The whole sequence `execute` assembles for `request` in `scope`: each line of the barriers
/// and each `TLBI` with its operand register value.
fn sequence(request: &TlbFlushRequest, scope: Scope) -> Vec<(String, u64)> {
    let (begin, end) = match scope {
        Scope::InnerShareable => (tlbi_begin!(is), tlbi_end!(is)),
        Scope::ThisCpu => (tlbi_begin!(local), tlbi_end!(local)),
    };
    let barrier = |text: &str| {
        text.lines()
            .map(|line| (line.to_owned(), 0))
            .collect::<Vec<_>>()
    };
    let mut lines = barrier(begin);
    lines.extend(
        flush_plan(request)
            .tlbis()
            .map(|tlbi| (tlbi.instruction(scope).to_owned(), tlbi.operand())),
    );
    lines.extend(barrier(end));
    lines
}

fn owned(lines: &[(&str, u64)]) -> Vec<(String, u64)> {
    lines
        .iter()
        .map(|&(text, operand)| (text.to_owned(), operand))
        .collect()
}

const PAGE: TlbFlush = TlbFlush::Page(VirtAddr::from_usize(0x4020_3abc));
const RANGE: TlbFlush = TlbFlush::Range {
    start: VirtAddr::from_usize(0x4020_3000),
    end: VirtAddr::from_usize(0x4020_5000),
};

#[test]
fn with_an_asid_pages_are_flushed_in_that_asid_only() {
    for tables_changed in [false, true] {
        let page = request(PAGE, 9, tables_changed, false);
        assert_eq!(
            flush_plan(&page),
            FlushPlan::PagesOfAsid {
                start: VirtAddr::from(0x4020_3000),
                end: VirtAddr::from(0x4020_3fff),
                asid: 9
            },
            "tables {tables_changed}"
        );
        assert_eq!(
            sequence(&page, Scope::InnerShareable),
            owned(&[
                ("dsb ishst", 0),
                ("tlbi vae1is, {0}", 0x0009_0000_0004_0203),
                ("dsb ish", 0),
                ("isb", 0),
            ]),
            "page, broadcast, tables {tables_changed}"
        );
        let range = request(RANGE, 0xffff, tables_changed, false);
        assert_eq!(
            sequence(&range, Scope::ThisCpu),
            owned(&[
                ("dsb nshst", 0),
                ("tlbi vae1, {0}", 0xffff_0000_0004_0203),
                ("tlbi vae1, {0}", 0xffff_0000_0004_0204),
                ("dsb nsh", 0),
                ("isb", 0),
            ]),
            "range, this CPU, tables {tables_changed}"
        );
    }
}

#[test]
fn with_an_asid_everything_is_that_asid() {
    for tables_changed in [false, true] {
        let all = request(TlbFlush::All, 0x42, tables_changed, false);
        assert_eq!(flush_plan(&all), FlushPlan::Asid(0x42));
        assert_eq!(
            sequence(&all, Scope::InnerShareable),
            owned(&[
                ("dsb ishst", 0),
                ("tlbi aside1is, {0}", 0x0042_0000_0000_0000),
                ("dsb ish", 0),
                ("isb", 0),
            ]),
            "broadcast, tables {tables_changed}"
        );
        assert_eq!(
            sequence(&all, Scope::ThisCpu)[1],
            ("tlbi aside1, {0}".to_owned(), 0x0042_0000_0000_0000),
            "this CPU, tables {tables_changed}"
        );
    }
}

#[test]
fn without_an_asid_or_with_global_changes_every_asid_is_flushed() {
    // ASID 0 (no ASID), or global entries changed with or without one.
    for (asid, global_changed) in [(0, false), (0, true), (5, true)] {
        for tables_changed in [false, true] {
            let what = format!("asid {asid} global {global_changed} tables {tables_changed}");
            let page = request(PAGE, asid, tables_changed, global_changed);
            assert_eq!(
                sequence(&page, Scope::InnerShareable),
                owned(&[
                    ("dsb ishst", 0),
                    ("tlbi vaae1is, {0}", 0x4_0203),
                    ("dsb ish", 0),
                    ("isb", 0),
                ]),
                "page: {what}"
            );
            let range = request(RANGE, asid, tables_changed, global_changed);
            assert_eq!(
                flush_plan(&range),
                FlushPlan::Pages {
                    start: VirtAddr::from(0x4020_3000),
                    end: VirtAddr::from(0x4020_5000)
                },
                "range: {what}"
            );
            assert_eq!(
                sequence(&range, Scope::ThisCpu),
                owned(&[
                    ("dsb nshst", 0),
                    ("tlbi vaae1, {0}", 0x4_0203),
                    ("tlbi vaae1, {0}", 0x4_0204),
                    ("dsb nsh", 0),
                    ("isb", 0),
                ]),
                "range: {what}"
            );
            let all = request(TlbFlush::All, asid, tables_changed, global_changed);
            assert_eq!(flush_plan(&all), FlushPlan::All, "all: {what}");
            assert_eq!(
                sequence(&all, Scope::InnerShareable),
                owned(&[
                    ("dsb ishst", 0),
                    ("tlbi vmalle1is", 0),
                    ("dsb ish", 0),
                    ("isb", 0)
                ]),
                "all, broadcast: {what}"
            );
            assert_eq!(
                sequence(&all, Scope::ThisCpu),
                owned(&[
                    ("dsb nshst", 0),
                    ("tlbi vmalle1", 0),
                    ("dsb nsh", 0),
                    ("isb", 0)
                ]),
                "all, this CPU: {what}"
            );
        }
    }
}

#[test]
fn the_plan_does_not_depend_on_the_cpus() {
    // Which CPUs may cache the table is the shootdown hook's business (broadcast or this CPU),
    // never the plan's.
    for cpus in [
        CpuMask::EMPTY,
        CpuMask::single(0).unwrap(),
        CpuMask::single(200).unwrap(),
    ] {
        let mut all = request(TlbFlush::All, 3, false, false);
        all.cpus = cpus;
        assert_eq!(flush_plan(&all), FlushPlan::Asid(3), "{cpus:?}");
    }
}

#[test]
fn the_top_page_does_not_overflow() {
    for asid in [0, 1] {
        let top = request(
            TlbFlush::Page(VirtAddr::from(usize::MAX)),
            asid,
            false,
            false,
        );
        let tlbis: Vec<_> = flush_plan(&top).tlbis().collect();
        let operand = tlbi_operand(VirtAddr::from(usize::MAX & !0xfff), asid);
        let expected = if asid == 0 {
            Tlbi::Vaae1(operand)
        } else {
            Tlbi::Vae1(operand)
        };
        assert_eq!(tlbis, [expected], "asid {asid}");
    }
}

#[test]
fn every_instruction_has_its_broadcast_and_its_local_form() {
    let cases = [
        (Tlbi::Vae1(1), "tlbi vae1is, {0}", "tlbi vae1, {0}"),
        (Tlbi::Vaae1(1), "tlbi vaae1is, {0}", "tlbi vaae1, {0}"),
        (
            Tlbi::Aside1(1 << 48),
            "tlbi aside1is, {0}",
            "tlbi aside1, {0}",
        ),
        (Tlbi::Vmalle1, "tlbi vmalle1is", "tlbi vmalle1"),
    ];
    for (tlbi, broadcast, local) in cases {
        assert_eq!(tlbi.instruction(Scope::InnerShareable), broadcast);
        assert_eq!(tlbi.instruction(Scope::ThisCpu), local);
    }
    assert_eq!(Tlbi::Vmalle1.operand(), 0, "no operand");
}

#[test]
fn hosted_flushes_are_no_ops() {
    // Under qemu-user TLBI at EL0 would be an undefined instruction: these must return.
    flush(TlbFlush::Page(VirtAddr::from(0x1000)));
    flush(TlbFlush::Range {
        start: VirtAddr::from(0xffff_ffff_ffff_d000),
        end: VirtAddr::from(0xffff_ffff_ffff_f000),
    });
    flush(TlbFlush::All);
    flush_page(VirtAddr::from(0x1000));
    flush_range(VirtAddr::from(0x1000), VirtAddr::from(0x3000));
    flush_all();
    flush_page_in_address_space(VirtAddr::from(0x1000), 3);
    let request = request(TlbFlush::All, 3, true, false);
    flush_broadcast(&request);
    flush_this_cpu(&request);
}
