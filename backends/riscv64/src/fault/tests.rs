//! Tests of the page-fault decoding from `scause`, `stval` and `sstatus`.

use memory_addr::VirtAddr;
use vmlayer_arch::{Access, FaultCause, PageFaultInfo};

use super::*;

/// `sstatus` as OpenSBI leaves it after a trap from S-mode: SPP = 1, SPIE = 1, FS = initial.
const SSTATUS_FROM_KERNEL: u64 = 0x2000_0120;
/// The same after a trap from U-mode: SPP = 0.
const SSTATUS_FROM_USER: u64 = 0x2000_0020;

#[test]
fn kernel_store_page_fault_as_seen_by_the_example_kernel() {
    // A store to an unmapped page at 0xffff_ffc0_8040_0000 from S-mode.
    assert_eq!(
        decode_page_fault(0xf, 0xffff_ffc0_8040_0000, SSTATUS_FROM_KERNEL),
        Some(PageFaultInfo::new(
            VirtAddr::from(0xffff_ffc0_8040_0000),
            Access::Write,
            false
        )),
    );
}

#[test]
fn each_page_fault_cause_from_each_mode() {
    let cases = [
        (12, SSTATUS_FROM_USER, Access::Execute, true),
        (13, SSTATUS_FROM_USER, Access::Read, true),
        (15, SSTATUS_FROM_USER, Access::Write, true),
        (12, SSTATUS_FROM_KERNEL, Access::Execute, false),
        (13, SSTATUS_FROM_KERNEL, Access::Read, false),
        (15, SSTATUS_FROM_KERNEL, Access::Write, false),
    ];
    for (scause, sstatus, access, user) in cases {
        assert_eq!(
            decode_page_fault(scause, 0x4000_1234, sstatus),
            Some(PageFaultInfo::new(
                VirtAddr::from(0x4000_1234),
                access,
                user
            )),
            "scause {scause}, sstatus {sstatus:#x}"
        );
    }
}

#[test]
fn other_traps_are_not_page_faults() {
    // 1/5/7: instruction/load/store access faults (PMP), 2: illegal instruction, 8: ecall from
    // U, 14: reserved; interrupts with codes 12/13/15 must not be taken for page faults either.
    for scause in [
        0,
        1,
        2,
        5,
        6,
        7,
        8,
        9,
        14,
        16,
        SCAUSE_INTERRUPT | 5,
        SCAUSE_INTERRUPT | 13,
    ] {
        assert_eq!(
            decode_page_fault(scause, 0x1000, SSTATUS_FROM_USER),
            None,
            "scause {scause:#x}"
        );
    }
}

#[test]
fn sum_decides_kernel_access_to_user_memory_and_the_cause_is_unspecified() {
    let cases = [
        (SSTATUS_FROM_KERNEL, true, false, "S-mode, SUM = 0"),
        (
            SSTATUS_FROM_KERNEL | SSTATUS_SUM,
            true,
            true,
            "S-mode, SUM = 1",
        ),
        (SSTATUS_FROM_USER, false, false, "U-mode, SUM = 0"),
        (
            SSTATUS_FROM_USER | SSTATUS_SUM,
            false,
            false,
            "U-mode, SUM = 1: still false",
        ),
    ];
    for (sstatus, kernel, expected, what) in cases {
        for scause in [12, 13, 15] {
            let fault = decode_page_fault(scause, 0x4000_1000, sstatus);
            let fault = fault.unwrap_or_else(|| panic!("{what}: scause {scause} not decoded"));
            assert_eq!(fault.user, !kernel, "{what}: mode");
            assert_eq!(fault.cause, FaultCause::Unspecified, "{what}: cause");
            assert_eq!(
                fault.user_memory_access, expected,
                "{what}: scause {scause}"
            );
        }
    }
}
