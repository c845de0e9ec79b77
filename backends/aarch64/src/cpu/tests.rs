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

#[test]
fn asid_width_needs_both_the_cpu_and_tcr() {
    let cases = [
        // (ID_AA64MMFR0_EL1, TCR_EL1, bits)
        (0x00, 0, 8),
        (0x00, TCR_AS_16_BIT, 8), // 8-bit CPU: TCR_EL1.AS is RES0, ignored
        (0x20, 0, 8),             // 16-bit CPU, 8-bit ASIDs selected
        (0x20, TCR_AS_16_BIT, 16),
        (0x10, TCR_AS_16_BIT, 8), // reserved ASIDBits values: 8
        (0xf0, TCR_AS_16_BIT, 8),
        // Full registers: only ASIDBits (7:4) and AS (36) count.
        (
            0x0000_1122_0010_0f25,
            0x0000_0005_b510_3510 | TCR_AS_16_BIT,
            16,
        ),
        (
            0x0000_1122_0010_0f05,
            0x0000_0005_b510_3510 | TCR_AS_16_BIT,
            8,
        ),
        (0x0000_1122_0010_0f25, 0x0000_0005_b510_3510, 8),
        // QEMU's cortex-a72 (ASIDBits = 2) with the example kernel's TCR (AS clear).
        (0x0000_0000_0000_1124, 0x0000_0005_b510_3510, 8),
    ];
    for (mmfr0, tcr, bits) in cases {
        assert_eq!(
            asid_bits_of(mmfr0, tcr),
            bits,
            "ID_AA64MMFR0_EL1 {mmfr0:#x}, TCR_EL1 {tcr:#x}"
        );
    }
}

#[test]
fn hosted_builds_have_no_asids() {
    assert_eq!(asid_bits(), HOSTED_ASID_BITS);
    assert_eq!(HOSTED_ASID_BITS, 0, "the PagingArch default");
}
