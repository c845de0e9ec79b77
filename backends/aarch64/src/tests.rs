//! Contract conformance and geometry of the AArch64 backend.

use vmlayer_arch::PagingArch;
use vmlayer_arch::conformance::assert_conforms;

use super::*;

#[test]
fn aarch64_conforms_to_the_paging_arch_contract() {
    assert_conforms::<AArch64>();
}

#[test]
fn geometry_and_both_halves() {
    assert_eq!(
        (AArch64::LEVELS, AArch64::VA_BITS, AArch64::PA_BITS),
        (4, 48, 48),
        "4 levels, 48 bits"
    );
    let cases = [
        (
            AArch64::is_valid_vaddr(0x0000_ffff_ffff_f000),
            "top of TTBR0's half",
        ),
        (
            AArch64::is_valid_vaddr(0xffff_0000_0000_0000),
            "bottom of TTBR1's half",
        ),
        (
            !AArch64::is_valid_vaddr(0x0001_0000_0000_0000),
            "bit 48 set: neither half",
        ),
    ];
    for (holds, what) in cases {
        assert!(holds, "{what}");
    }
}
