//! Tests of the physical-address width.

use super::*;

#[test]
fn every_parange_value_gives_its_width_capped_at_48() {
    let cases = [
        (0, 32),
        (1, 36),
        (2, 40),
        (3, 42),
        (4, 44),
        (5, 48),
        (6, 48), // 52 bits need FEAT_LPA descriptors: capped
        (7, 48), // reserved
        (0xf, 48),
        (0x0000_1122_0010_0f05, 48), // a full register: only bits 3:0 count
        (0x0000_1122_0010_0f04, 44),
    ];
    for (mmfr0, bits) in cases {
        assert_eq!(
            phys_addr_bits_of_parange(mmfr0),
            bits,
            "ID_AA64MMFR0_EL1 {mmfr0:#x}"
        );
    }
}

#[test]
fn hosted_builds_use_the_documented_default() {
    assert_eq!(phys_addr_bits(), DEFAULT_PHYS_ADDR_BITS, "hosted");
    assert_eq!(phys_addr_bits(), 48, "cached");
}
