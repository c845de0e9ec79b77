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
