//! Decoding an AArch64 abort (`ESR_EL1`, `FAR_EL1`, `SPSR_EL1`) into a [`PageFaultInfo`].
//!
//! Plain functions over the register values, so they are tested on any host; the exception
//! vector reads the registers and passes them in.
//!
//! Only the aborts a page table can cause and the kernel can resolve are page faults:
//! translation faults (nothing mapped, or PROT_NONE), access-flag faults and permission faults,
//! from an instruction fetch or a data access, from EL0 or EL1. Address-size faults
//! (a misconfigured `TCR_EL1`), alignment faults, external aborts and aborts whose `FAR_EL1` is
//! not valid (`FnV`) are not.

use memory_addr::VirtAddr;
use vmlayer_arch::{Access, FaultCause, PageFaultInfo};

#[cfg(test)]
mod tests;

/// `ESR_EL1.EC` (bits 31:26): instruction abort from a lower exception level (EL0).
pub const EC_INSTRUCTION_ABORT_LOWER_EL: u64 = 0x20;
/// `ESR_EL1.EC`: instruction abort taken without a change of exception level (EL1).
pub const EC_INSTRUCTION_ABORT_SAME_EL: u64 = 0x21;
/// `ESR_EL1.EC`: data abort from a lower exception level (EL0).
pub const EC_DATA_ABORT_LOWER_EL: u64 = 0x24;
/// `ESR_EL1.EC`: data abort taken without a change of exception level (EL1).
pub const EC_DATA_ABORT_SAME_EL: u64 = 0x25;
/// `ISS.WnR` (bit 6) of a data abort: the access was a write.
pub const ISS_WRITE_NOT_READ: u64 = 1 << 6;
/// `ISS.CM` (bit 8) of a data abort: a cache-maintenance instruction faulted (it reports
/// `WnR = 1` but does not write).
pub const ISS_CACHE_MAINTENANCE: u64 = 1 << 8;
/// `ISS.FnV` (bit 10): `FAR_EL1` does not hold the faulting address.
pub const ISS_FAR_NOT_VALID: u64 = 1 << 10;
/// `SPSR_EL1.PAN` (bit 22): the value of `PSTATE.PAN` when the exception was taken (Arm ARM,
/// register description of `SPSR_EL1`, and D1 "PSTATE.PAN"; FEAT_PAN). With `PAN = 1`, EL1
/// data accesses to pages accessible from EL0 fault with a permission fault.
pub const SPSR_PAN: u64 = 1 << 22;

/// The kind of a page-table abort, from the `DFSC`/`IFSC` field (bits 5:0) of the ISS.
///
/// `lookup_level` is Arm's numbering: 0 is the root table, 3 the table of 4 KiB pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultStatus {
    /// `0b0001LL`: no valid descriptor at this lookup level (unmapped or PROT_NONE).
    Translation {
        /// The lookup level the walk stopped at.
        lookup_level: u8,
    },
    /// `0b0010LL`: the descriptor has `AF = 0`.
    AccessFlag {
        /// The lookup level of the descriptor.
        lookup_level: u8,
    },
    /// `0b0011LL`: the access is not permitted by `AP`, `UXN` or `PXN`.
    Permission {
        /// The lookup level of the descriptor.
        lookup_level: u8,
    },
}

impl FaultStatus {
    /// The neutral cause: translation → [`FaultCause::NotPresent`], permission →
    /// [`FaultCause::Permission`], access flag → [`FaultCause::AccessFlag`].
    pub const fn cause(self) -> FaultCause {
        match self {
            Self::Translation { .. } => FaultCause::NotPresent,
            Self::AccessFlag { .. } => FaultCause::AccessFlag,
            Self::Permission { .. } => FaultCause::Permission,
        }
    }
}

impl FaultStatus {
    /// The page-table fault kind of a `DFSC`/`IFSC` value, or `None` for every other status
    /// (address size, alignment, external abort, TLB conflict, ...).
    ///
    /// ```
    /// use vmlayer_aarch64::fault::FaultStatus;
    ///
    /// assert_eq!(FaultStatus::from_status_code(0b000111), Some(FaultStatus::Translation { lookup_level: 3 }));
    /// assert_eq!(FaultStatus::from_status_code(0b100001), None); // alignment fault
    /// ```
    pub const fn from_status_code(code: u64) -> Option<Self> {
        let lookup_level = (code & 0b11) as u8;
        match code & 0b11_1100 {
            0b00_0100 => Some(Self::Translation { lookup_level }),
            0b00_1000 => Some(Self::AccessFlag { lookup_level }),
            0b00_1100 => Some(Self::Permission { lookup_level }),
            _ => None,
        }
    }
}

/// A decoded page-table abort: the neutral fault and the Arm-specific status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort {
    /// Address, access and mode of the fault.
    pub fault: PageFaultInfo,
    /// Why the translation failed.
    pub status: FaultStatus,
}

/// The page-table abort described by `esr` (`ESR_EL1`), `far` (`FAR_EL1`) and `spsr`
/// (`SPSR_EL1` as saved at exception entry), or `None` if the exception is not one (see the
/// module docs).
///
/// - access: a data abort is a write when `WnR = 1` and it is not a cache-maintenance
///   operation (`CM = 0`); an instruction abort is an execute access (Arm ARM, `ESR_EL1`, "ISS
///   encoding for an exception from a Data Abort" / "... from an Instruction Abort");
/// - mode: EL0 aborts (`EC` 0x20, 0x24) are user faults, EL1 aborts (0x21, 0x25) kernel faults;
/// - cause: from `DFSC`/`IFSC` ([`FaultStatus::cause`]);
/// - `user_memory_access` of an EL1 abort: `SPSR_EL1.PAN = 0` ([`SPSR_PAN`]); `false` for an
///   EL0 abort.
///
/// ```
/// use vmlayer_aarch64::fault::{decode_abort, Abort, FaultStatus};
/// use vmlayer_aarch64::{Access, PageFaultInfo, VirtAddr};
/// use vmlayer_arch::FaultCause;
///
/// // EL1 store to an unmapped page: EC 0x25, IL, WnR, DFSC = level-3 translation fault;
/// // SPSR_EL1 = EL1h with DAIF masked and PAN = 0.
/// let abort = decode_abort(0x9600_0047, 0x4040_0000, 0x3c5).unwrap();
/// assert_eq!(abort.status, FaultStatus::Translation { lookup_level: 3 });
/// assert_eq!(abort.fault.address, VirtAddr::from(0x4040_0000));
/// assert_eq!((abort.fault.access, abort.fault.user), (Access::Write, false));
/// assert_eq!(abort.fault.cause, FaultCause::NotPresent);
/// assert!(abort.fault.user_memory_access);
/// ```
pub const fn decode_abort(esr: u64, far: u64, spsr: u64) -> Option<Abort> {
    let exception_class = (esr >> 26) & 0x3f;
    let (data_abort, user) = match exception_class {
        EC_INSTRUCTION_ABORT_LOWER_EL => (false, true),
        EC_INSTRUCTION_ABORT_SAME_EL => (false, false),
        EC_DATA_ABORT_LOWER_EL => (true, true),
        EC_DATA_ABORT_SAME_EL => (true, false),
        _ => return None,
    };
    if esr & ISS_FAR_NOT_VALID != 0 {
        return None;
    }
    let Some(status) = FaultStatus::from_status_code(esr & 0x3f) else {
        return None;
    };
    let access = if !data_abort {
        Access::Execute
    } else if esr & ISS_WRITE_NOT_READ != 0 && esr & ISS_CACHE_MAINTENANCE == 0 {
        Access::Write
    } else {
        Access::Read
    };
    let mut fault = PageFaultInfo::new(VirtAddr::from_usize(far as usize), access, user);
    fault.cause = status.cause();
    fault.user_memory_access = !user && spsr & SPSR_PAN == 0;
    Some(Abort { fault, status })
}

/// The neutral page fault of `esr`, `far` and `spsr`, or `None` if the exception is not a
/// page-table abort: [`decode_abort`] without the Arm-specific status.
pub const fn decode_page_fault(esr: u64, far: u64, spsr: u64) -> Option<PageFaultInfo> {
    match decode_abort(esr, far, spsr) {
        Some(abort) => Some(abort.fault),
        None => None,
    }
}
