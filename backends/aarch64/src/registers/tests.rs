//! Tests of the TTBR field layout and the address-space halves.

use memory_addr::PhysAddr;

use super::*;

#[test]
fn ttbr_fields() {
    let root = PhysAddr::from(0x4010_2000);
    assert_eq!(ttbr_value(root, 0), 0x4010_2000, "ASID 0");
    assert_eq!(
        ttbr_value(root, 0xbeef),
        0xbeef_0000_4010_2000,
        "ASID in 63:48"
    );
    assert_eq!(
        root_of_ttbr(0xbeef_0000_4010_2001),
        root,
        "CnP bit 0 ignored"
    );
    let top = PhysAddr::from((1usize << 48) - 0x1000);
    assert_eq!(root_of_ttbr(ttbr_value(top, 1)), top, "48-bit PA");
}

#[test]
fn halves_of_the_address_space() {
    let cases = [
        (0, Some(Half::Lower)),
        (0x0000_8000_0000_0000, Some(Half::Lower)),
        (0x0000_ffff_ffff_ffff, Some(Half::Lower)),
        (0x0001_0000_0000_0000, None),
        (0xfffe_ffff_ffff_ffff, None),
        (0xffff_0000_0000_0000, Some(Half::Upper)),
        (0xffff_7fff_ffff_ffff, Some(Half::Upper)),
        (usize::MAX, Some(Half::Upper)),
    ];
    for (vaddr, half) in cases {
        assert_eq!(Half::of(vaddr), half, "{vaddr:#x}");
    }
}
