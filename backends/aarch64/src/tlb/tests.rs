//! Tests of the `TLBI` operand layout and the hosted no-op flushes.

use memory_addr::VirtAddr;

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

#[test]
fn hosted_flushes_are_no_ops() {
    // Under qemu-user TLBI at EL0 would be an undefined instruction: these must return.
    flush(TlbFlush::Page(VirtAddr::from(0x1000)));
    flush(TlbFlush::Range {
        start: VirtAddr::from(0xffff_ffff_ffff_d000),
        end: VirtAddr::from(0xffff_ffff_ffff_f000),
    });
    flush(TlbFlush::All);
    flush_page_in_address_space(VirtAddr::from(0x1000), 3);
}
