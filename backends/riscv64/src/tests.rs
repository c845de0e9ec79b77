//! Contract conformance, geometry and hosted flushes of Sv39 and Sv48.

use vmlayer_arch::conformance::assert_conforms;
use vmlayer_arch::{PagingArch, TlbFlush};

use super::*;

#[test]
fn sv39_conforms_to_the_paging_arch_contract() {
    assert_conforms::<Sv39>();
}

#[test]
fn sv48_conforms_to_the_paging_arch_contract() {
    assert_conforms::<Sv48>();
}

#[test]
fn geometry_of_both_modes() {
    assert_eq!(
        (Sv39::LEVELS, Sv39::VA_BITS, Sv39::PA_BITS),
        (3, 39, 56),
        "Sv39"
    );
    assert_eq!(
        (Sv48::LEVELS, Sv48::VA_BITS, Sv48::PA_BITS),
        (4, 48, 56),
        "Sv48"
    );
    let cases = [
        (
            Sv39::is_valid_vaddr(0x3f_ffff_ffff),
            "Sv39: top of the lower half",
        ),
        (
            !Sv39::is_valid_vaddr(0x40_0000_0000),
            "Sv39: bit 38 set, not sign-extended",
        ),
        (
            Sv39::is_valid_vaddr(0xffff_ffc0_0000_0000),
            "Sv39: bottom of the upper half",
        ),
        (Sv48::is_valid_vaddr(0x7fff_ffff_f000), "Sv48: lower half"),
        (!Sv48::is_valid_vaddr(0x8000_0000_0000), "Sv48: hole"),
    ];
    for (holds, what) in cases {
        assert!(holds, "{what}");
    }
}

#[test]
fn hosted_flush_and_instruction_sync_are_no_ops() {
    // Under qemu-user `sfence.vma` is an illegal instruction at U-mode: these must return.
    let root = PhysAddr::from(0x8020_0000);
    let mut request =
        vmlayer_arch::TlbFlushRequest::new(root, TlbFlush::Page(VirtAddr::from(0x1000)));
    Sv39::flush_tlb_local(&request);
    request.tables_changed = true;
    Sv48::flush_tlb_local(&request);
    Sv39::sync_instruction_cache(VirtAddr::from(0x1000), 0x1000);
}

#[test]
fn physical_addresses_have_56_bits_in_both_modes() {
    // A PPN of 44 bits (PTE bits 53:10) plus the 12-bit page offset.
    assert_eq!(Sv39::phys_addr_bits(), 56, "Sv39");
    assert_eq!(Sv48::phys_addr_bits(), 56, "Sv48");
}
