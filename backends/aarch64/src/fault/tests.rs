//! Tests of the abort decoding from `ESR_EL1` and `FAR_EL1`.

use memory_addr::VirtAddr;
use paging_arch::{Access, PageFaultInfo};

use super::*;

fn fault(address: usize, access: Access, user: bool) -> PageFaultInfo {
    PageFaultInfo::new(VirtAddr::from(address), access, user)
}

#[test]
fn register_values_of_real_aborts() {
    // (ESR_EL1, FAR_EL1, expected). IL (bit 25) is set for 32-bit instructions.
    let cases = [
        // EL1 store, level-3 translation fault (the example kernel's probe of an unmapped page).
        (
            0x9600_0047,
            0x4040_0000,
            fault(0x4040_0000, Access::Write, false),
            FaultStatus::Translation { lookup_level: 3 },
        ),
        // EL1 load, level-2 translation fault.
        (
            0x9600_0006,
            0x4080_0010,
            fault(0x4080_0010, Access::Read, false),
            FaultStatus::Translation { lookup_level: 2 },
        ),
        // EL1 store to a read-only page: level-3 permission fault.
        (
            0x9600_004f,
            0xffff_0000_4000_1008,
            fault(0xffff_0000_4000_1008, Access::Write, false),
            FaultStatus::Permission { lookup_level: 3 },
        ),
        // EL0 load from a kernel-only page: EC 0x24, permission fault level 3.
        (
            0x9200_000f,
            0x1000,
            fault(0x1000, Access::Read, true),
            FaultStatus::Permission { lookup_level: 3 },
        ),
        // EL0 store to PROT_NONE: translation fault level 3.
        (
            0x9200_0047,
            0x7fff_f000,
            fault(0x7fff_f000, Access::Write, true),
            FaultStatus::Translation { lookup_level: 3 },
        ),
        // EL0 instruction fetch from a non-executable page: EC 0x20, IFSC permission level 3.
        (
            0x8200_000f,
            0x40_0000,
            fault(0x40_0000, Access::Execute, true),
            FaultStatus::Permission { lookup_level: 3 },
        ),
        // EL1 instruction fetch from a user page (PXN): EC 0x21.
        (
            0x8600_000f,
            0x40_0000,
            fault(0x40_0000, Access::Execute, false),
            FaultStatus::Permission { lookup_level: 3 },
        ),
        // EL1 access-flag fault level 3.
        (
            0x9600_000b,
            0x5000,
            fault(0x5000, Access::Read, false),
            FaultStatus::AccessFlag { lookup_level: 3 },
        ),
        // A DC IVAC on an unmapped page: WnR = 1 and CM = 1 is not a write.
        (
            0x9600_0147,
            0x6000,
            fault(0x6000, Access::Read, false),
            FaultStatus::Translation { lookup_level: 3 },
        ),
    ];
    for (esr, far, expected_fault, expected_status) in cases {
        assert_eq!(
            decode_abort(esr, far),
            Some(Abort {
                fault: expected_fault,
                status: expected_status
            }),
            "ESR {esr:#x}"
        );
        assert_eq!(
            decode_page_fault(esr, far),
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
        assert_eq!(decode_abort(esr, 0x1000), None, "{what}: ESR {esr:#x}");
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
