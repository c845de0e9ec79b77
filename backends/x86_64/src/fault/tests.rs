//! Tests of the `#PF` decoding against the Intel SDM (Vol. 3A, §4.7 and §4.6.1).

use memory_addr::VirtAddr;
use vmlayer_arch::{Access, FaultCause, PageFaultInfo};

use super::*;

/// RFLAGS as the CPU saves it for ordinary kernel code: IF and the reserved bit 1.
const RFLAGS: u64 = 0x202;
/// CR4 as the example kernel runs: PAE only (no SMAP).
const CR4_NO_SMAP: u64 = 0x20;
/// CR4 with SMAP on.
const CR4_WITH_SMAP: u64 = 0x20 | CR4_SMAP;

fn fault(access: Access, user: bool, cause: FaultCause, user_memory_access: bool) -> PageFaultInfo {
    let mut fault = PageFaultInfo::new(VirtAddr::from(0xffff_8000_0000_1000), access, user);
    fault.cause = cause;
    fault.user_memory_access = user_memory_access;
    fault
}

#[test]
fn page_fault_error_codes_decode_to_access_mode_and_cause() {
    use FaultCause::{NotPresent, Permission};
    let cases = [
        (0b0_0000, fault(Access::Read, false, NotPresent, true)),
        (0b0_0001, fault(Access::Read, false, Permission, true)),
        (0b0_0010, fault(Access::Write, false, NotPresent, true)),
        (0b0_0011, fault(Access::Write, false, Permission, true)),
        (0b0_0111, fault(Access::Write, true, Permission, false)),
        (0b0_0100, fault(Access::Read, true, NotPresent, false)),
        (0b1_0000, fault(Access::Execute, false, NotPresent, true)),
        (0b1_0101, fault(Access::Execute, true, Permission, false)),
    ];
    for (code, expected) in cases {
        assert_eq!(
            decode_page_fault(code, 0xffff_8000_0000_1000, RFLAGS, CR4_NO_SMAP),
            expected,
            "error code {code:#b}"
        );
    }
}

#[test]
fn reserved_bit_faults_are_reported_as_such_whatever_p_says() {
    // The CPU sets P = 1 with RSVD (the entry was present); RSVD wins either way.
    for code in [0b0_1001, 0b0_1011, 0b0_1101, 0b1_1001, 0b0_1000] {
        assert_eq!(
            decode_page_fault(code, 0x1000, RFLAGS, CR4_NO_SMAP).cause,
            FaultCause::ReservedBit,
            "error code {code:#b}"
        );
    }
}

#[test]
fn smap_and_rflags_ac_decide_kernel_access_to_user_memory() {
    // (error code, RFLAGS, CR4, expected user_memory_access)
    let cases = [
        (0b0_0001, RFLAGS, CR4_NO_SMAP, true, "kernel, no SMAP"),
        (
            0b0_0001,
            RFLAGS,
            CR4_WITH_SMAP,
            false,
            "kernel, SMAP, AC = 0",
        ),
        (
            0b0_0001,
            RFLAGS | RFLAGS_AC,
            CR4_WITH_SMAP,
            true,
            "kernel, SMAP, AC = 1 (STAC)",
        ),
        (
            0b0_0011,
            RFLAGS | RFLAGS_AC,
            CR4_NO_SMAP,
            true,
            "kernel, no SMAP, AC = 1",
        ),
        (
            0b0_0101,
            RFLAGS | RFLAGS_AC,
            CR4_NO_SMAP,
            false,
            "user fault: always false",
        ),
        (
            0b0_0101,
            RFLAGS,
            CR4_WITH_SMAP,
            false,
            "user fault under SMAP",
        ),
    ];
    for (code, rflags, cr4, expected, what) in cases {
        assert_eq!(
            decode_page_fault(code, 0x1000, rflags, cr4).user_memory_access,
            expected,
            "{what}: error code {code:#b}, RFLAGS {rflags:#x}, CR4 {cr4:#x}"
        );
    }
}
