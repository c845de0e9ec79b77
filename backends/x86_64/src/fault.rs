//! Decoding the `#PF` error code, CR2, RFLAGS and CR4 (Intel SDM Vol. 3A, §4.7 "Page-Fault
//! Exceptions", figure 4-12; SMAP: §4.6.1 "Determination of Access Rights").

use memory_addr::VirtAddr;
use vmlayer_arch::{Access, FaultCause, PageFaultInfo};

#[cfg(test)]
mod tests;

/// `CR4.SMAP` (bit 21): supervisor-mode access prevention (Intel SDM Vol. 3A, §2.5 "Control
/// Registers").
pub const CR4_SMAP: u64 = 1 << 21;
/// `RFLAGS.AC` (bit 18): with `CR4.SMAP = 1`, a supervisor access to a user page is allowed only
/// while `AC = 1` (Intel SDM Vol. 3A, §4.6.1; set by `STAC`, cleared by `CLAC`).
pub const RFLAGS_AC: u64 = 1 << 18;

/// The bits of the error code the CPU pushes for a page fault (vector 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFaultErrorCode(pub u64);

impl PageFaultErrorCode {
    /// P: the fault was a protection violation (0: the page was not present).
    pub const PROTECTION_VIOLATION: u64 = 1 << 0;
    /// W/R: the access was a write.
    pub const WRITE: u64 = 1 << 1;
    /// U/S: the access came from user mode (CPL 3).
    pub const USER: u64 = 1 << 2;
    /// RSVD: a reserved bit was set in a paging-structure entry.
    pub const RESERVED_BIT: u64 = 1 << 3;
    /// I/D: the access was an instruction fetch.
    pub const INSTRUCTION_FETCH: u64 = 1 << 4;

    /// Whether every bit of `mask` is set.
    pub const fn contains(self, mask: u64) -> bool {
        self.0 & mask == mask
    }
}

/// Describes the page fault with error code `error_code` at address `cr2`, taken while the
/// interrupted code ran with `rflags` (as saved in the interrupt frame) and `cr4`.
///
/// - access: an instruction fetch (I/D = 1) is [`Access::Execute`], else a write (W/R = 1)
///   [`Access::Write`], else [`Access::Read`];
/// - cause (SDM Vol. 3A, §4.7): RSVD = 1 is [`FaultCause::ReservedBit`] (a corrupt table, or a
///   physical address above `MAXPHYADDR`: never an ordinary fault, whatever P says), else
///   P = 1 is [`FaultCause::Permission`] and P = 0 [`FaultCause::NotPresent`];
/// - `user_memory_access` of a kernel fault: `CR4.SMAP = 0` or `RFLAGS.AC = 1` (SDM Vol. 3A,
///   §4.6.1: with SMAP on and AC clear, every supervisor data access to a user-mode page
///   faults); always `false` for a user fault.
///
/// ```
/// use vmlayer_arch::{Access, FaultCause, VirtAddr};
/// use vmlayer_x86_64::decode_page_fault;
///
/// // A user-mode write to a not-present page at 0x4000_1234.
/// let fault = decode_page_fault(0b110, 0x4000_1234, 0x202, 0);
/// assert_eq!(fault.address, VirtAddr::from(0x4000_1234));
/// assert_eq!((fault.access, fault.user), (Access::Write, true));
/// assert_eq!(fault.cause, FaultCause::NotPresent);
/// assert!(!fault.user_memory_access);
/// ```
pub const fn decode_page_fault(error_code: u64, cr2: u64, rflags: u64, cr4: u64) -> PageFaultInfo {
    let code = PageFaultErrorCode(error_code);
    let access = if code.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
        Access::Execute
    } else if code.contains(PageFaultErrorCode::WRITE) {
        Access::Write
    } else {
        Access::Read
    };
    let cause = if code.contains(PageFaultErrorCode::RESERVED_BIT) {
        FaultCause::ReservedBit
    } else if code.contains(PageFaultErrorCode::PROTECTION_VIOLATION) {
        FaultCause::Permission
    } else {
        FaultCause::NotPresent
    };
    let user = code.contains(PageFaultErrorCode::USER);
    let user_memory_access = !user && (cr4 & CR4_SMAP == 0 || rflags & RFLAGS_AC != 0);
    let mut fault = PageFaultInfo::new(VirtAddr::from_usize(cr2 as usize), access, user);
    fault.cause = cause;
    fault.user_memory_access = user_memory_access;
    fault
}
