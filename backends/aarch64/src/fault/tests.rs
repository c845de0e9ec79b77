//! Tests of the abort decoding from `ESR_EL1`, `FAR_EL1` and `SPSR_EL1`.

use memory_addr::VirtAddr;
use vmlayer_arch::{Access, FaultCause, PageFaultInfo};

use super::*;

/// `SPSR_EL1` of an exception from EL1h (M = 0b0101) with DAIF masked, PAN = 0.
const SPSR_FROM_EL1: u64 = 0x3c5;
/// The same with PAN = 1.
const SPSR_FROM_EL1_PAN: u64 = SPSR_FROM_EL1 | SPSR_PAN;
/// `SPSR_EL1` of an exception from EL0t (M = 0), PAN = 0.
const SPSR_FROM_EL0: u64 = 0;

/// The fault expected from an abort with `SPSR_FROM_EL1` / `SPSR_FROM_EL0`: cause from the
/// status, kernel access to user memory allowed for EL1 aborts (PAN = 0).
fn fault(address: usize, access: Access, user: bool, status: FaultStatus) -> PageFaultInfo {
    let mut fault = PageFaultInfo::new(VirtAddr::from(address), access, user);
    fault.cause = status.cause();
    fault.user_memory_access = !user;
    fault
}

#[test]
fn register_values_of_real_aborts() {
    // (ESR_EL1, FAR_EL1, expected). IL (bit 25) is set for 32-bit instructions.
    let cases = [
        // EL1 store, level-3 translation fault (the example kernel's probe of an unmapped page).
        (
            0x9600_0047,
            0x4040_0000,
            fault(
                0x4040_0000,
                Access::Write,
                false,
                FaultStatus::Translation { lookup_level: 3 },
            ),
            FaultStatus::Translation { lookup_level: 3 },
        ),
        // EL1 load, level-2 translation fault.
        (
            0x9600_0006,
            0x4080_0010,
            fault(
                0x4080_0010,
                Access::Read,
                false,
                FaultStatus::Translation { lookup_level: 2 },
            ),
            FaultStatus::Translation { lookup_level: 2 },
        ),
        // EL1 store to a read-only page: level-3 permission fault.
        (
            0x9600_004f,
            0xffff_0000_4000_1008,
            fault(
                0xffff_0000_4000_1008,
                Access::Write,
                false,
                FaultStatus::Permission { lookup_level: 3 },
            ),
            FaultStatus::Permission { lookup_level: 3 },
        ),
        // EL0 load from a kernel-only page: EC 0x24, permission fault level 3.
        (
            0x9200_000f,
            0x1000,
            fault(
                0x1000,
                Access::Read,
                true,
                FaultStatus::Permission { lookup_level: 3 },
            ),
            FaultStatus::Permission { lookup_level: 3 },
        ),
        // EL0 store to PROT_NONE: translation fault level 3.
        (
            0x9200_0047,
            0x7fff_f000,
            fault(
                0x7fff_f000,
                Access::Write,
                true,
                FaultStatus::Translation { lookup_level: 3 },
            ),
            FaultStatus::Translation { lookup_level: 3 },
        ),
        // EL0 instruction fetch from a non-executable page: EC 0x20, IFSC permission level 3.
        (
            0x8200_000f,
            0x40_0000,
            fault(
                0x40_0000,
                Access::Execute,
                true,
                FaultStatus::Permission { lookup_level: 3 },
            ),
            FaultStatus::Permission { lookup_level: 3 },
        ),
        // EL1 instruction fetch from a user page (PXN): EC 0x21.
        (
            0x8600_000f,
            0x40_0000,
            fault(
                0x40_0000,
                Access::Execute,
                false,
                FaultStatus::Permission { lookup_level: 3 },
            ),
            FaultStatus::Permission { lookup_level: 3 },
        ),
        // EL1 access-flag fault level 3.
        (
            0x9600_000b,
            0x5000,
            fault(
                0x5000,
                Access::Read,
                false,
                FaultStatus::AccessFlag { lookup_level: 3 },
            ),
            FaultStatus::AccessFlag { lookup_level: 3 },
        ),
        // A DC IVAC on an unmapped page: WnR = 1 and CM = 1 is not a write.
        (
            0x9600_0147,
            0x6000,
            fault(
                0x6000,
                Access::Read,
                false,
                FaultStatus::Translation { lookup_level: 3 },
            ),
            FaultStatus::Translation { lookup_level: 3 },
        ),
    ];
    for (esr, far, expected_fault, expected_status) in cases {
        let spsr = if expected_fault.user {
            SPSR_FROM_EL0
        } else {
            SPSR_FROM_EL1
        };
        assert_eq!(
            decode_abort(esr, far, spsr),
            Some(Abort {
                fault: expected_fault,
                status: expected_status
            }),
            "ESR {esr:#x}"
        );
        assert_eq!(
            decode_page_fault(esr, far, spsr),
            Some(expected_fault),
            "ESR {esr:#x}"
        );
    }
}

#[test]
fn other_exceptions_are_not_page_faults() {
    let cases = [
        (0x5600_0000, "SVC from AArch64"),
        (0x0200_0000, "unknown reason"),
        (0x9600_0000, "address size fault, level 0"),
        (0x9600_0021, "alignment fault"),
        (0x9600_0010, "synchronous external abort"),
        (0x9600_0030, "TLB conflict"),
        (0x9600_0447, "translation fault with FnV: FAR not valid"),
        (0x8a00_0000, "PC alignment fault (EC 0x22)"),
        (0x9a00_0000, "SP alignment fault (EC 0x26)"),
    ];
    for (esr, what) in cases {
        assert_eq!(
            decode_abort(esr, 0x1000, SPSR_FROM_EL1),
            None,
            "{what}: ESR {esr:#x}"
        );
    }
}

#[test]
fn every_level_of_each_fault_kind() {
    for level in 0..4u64 {
        let lookup_level = level as u8;
        assert_eq!(
            FaultStatus::from_status_code(0b0100 | level),
            Some(FaultStatus::Translation { lookup_level })
        );
        assert_eq!(
            FaultStatus::from_status_code(0b1000 | level),
            Some(FaultStatus::AccessFlag { lookup_level })
        );
        assert_eq!(
            FaultStatus::from_status_code(0b1100 | level),
            Some(FaultStatus::Permission { lookup_level })
        );
        assert_eq!(
            FaultStatus::from_status_code(level),
            None,
            "address size level {level}"
        );
    }
}

#[test]
fn the_fault_status_gives_the_neutral_cause() {
    for lookup_level in 0..4 {
        let cases = [
            (
                FaultStatus::Translation { lookup_level },
                FaultCause::NotPresent,
            ),
            (
                FaultStatus::Permission { lookup_level },
                FaultCause::Permission,
            ),
            (
                FaultStatus::AccessFlag { lookup_level },
                FaultCause::AccessFlag,
            ),
        ];
        for (status, cause) in cases {
            assert_eq!(status.cause(), cause, "{status:?}");
        }
    }
}

#[test]
fn pan_in_the_saved_spsr_decides_kernel_access_to_user_memory() {
    // (ESR, SPSR, expected user_memory_access)
    let cases = [
        (0x9600_000f, SPSR_FROM_EL1, true, "EL1 load, PAN = 0"),
        (0x9600_000f, SPSR_FROM_EL1_PAN, false, "EL1 load, PAN = 1"),
        (0x9600_004f, SPSR_FROM_EL1_PAN, false, "EL1 store, PAN = 1"),
        (0x8600_000f, SPSR_FROM_EL1, true, "EL1 fetch, PAN = 0"),
        (0x9200_000f, SPSR_FROM_EL0, false, "EL0 load: always false"),
        (
            0x9200_000f,
            SPSR_PAN,
            false,
            "EL0 load with PAN set: still false",
        ),
    ];
    for (esr, spsr, expected, what) in cases {
        let fault = decode_page_fault(esr, 0x1000, spsr)
            .unwrap_or_else(|| panic!("{what}: ESR {esr:#x} not decoded"));
        assert_eq!(fault.user_memory_access, expected, "{what}");
        assert_eq!(
            fault.cause,
            FaultCause::Permission,
            "{what}: permission fault"
        );
    }
}
