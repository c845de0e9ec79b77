//! Decoding a RISC-V page-fault trap (`scause`, `stval`, `sstatus`) into a [`PageFaultInfo`].
//!
//! Plain functions over the register values, so they are tested on any host; the trap handler
//! reads the CSRs and passes them in.

use memory_addr::VirtAddr;
use vmlayer_arch::{Access, FaultCause, PageFaultInfo};

#[cfg(test)]
mod tests;

/// `scause` bit 63: the trap is an interrupt, not an exception.
pub const SCAUSE_INTERRUPT: u64 = 1 << 63;
/// `scause` exception code 12: instruction page fault.
pub const INSTRUCTION_PAGE_FAULT: u64 = 12;
/// `scause` exception code 13: load page fault.
pub const LOAD_PAGE_FAULT: u64 = 13;
/// `scause` exception code 15: store/AMO page fault.
pub const STORE_PAGE_FAULT: u64 = 15;
/// `sstatus.SPP` (bit 8): the privilege the trap came from, 1 = supervisor, 0 = user.
pub const SSTATUS_SPP: u64 = 1 << 8;
/// `sstatus.SUM` (bit 18): with `SUM = 0`, S-mode loads and stores to `U = 1` pages fault
/// (RISC-V Privileged Architecture, §4.1.1.2 "Memory Privilege in sstatus Register"; also
/// §4.3.1: "SUM ... S-mode memory accesses to pages that are accessible by U-mode").
pub const SSTATUS_SUM: u64 = 1 << 18;

/// The access of a page-fault `scause`, or `None` for any other trap (interrupts, access
/// faults 1/5/7, misaligned accesses, ecalls, ...).
///
/// ```
/// use vmlayer_riscv64::fault::access_of_scause;
/// use vmlayer_riscv64::Access;
///
/// assert_eq!(access_of_scause(15), Some(Access::Write));
/// assert_eq!(access_of_scause(7), None); // store access fault (PMP), not a page fault
/// ```
pub const fn access_of_scause(scause: u64) -> Option<Access> {
    if scause & SCAUSE_INTERRUPT != 0 {
        return None;
    }
    match scause {
        INSTRUCTION_PAGE_FAULT => Some(Access::Execute),
        LOAD_PAGE_FAULT => Some(Access::Read),
        STORE_PAGE_FAULT => Some(Access::Write),
        _ => None,
    }
}

/// The page fault described by a trap's `scause`, `stval` (the faulting virtual address) and
/// `sstatus` as saved at the trap, or `None` if the trap is not a page fault.
///
/// - `sstatus.SPP` says whether the trap came from user mode;
/// - the cause is [`FaultCause::Unspecified`]: a RISC-V page fault names only the access, not
///   whether the entry was invalid or forbade it (Privileged Architecture, §4.1.9
///   "Supervisor Cause Register");
/// - `user_memory_access` of an S-mode fault is `sstatus.SUM` ([`SSTATUS_SUM`]); `false` for a
///   U-mode fault.
///
/// An AMO that faults is a store/AMO page fault, so it reports [`Access::Write`].
///
/// ```
/// use vmlayer_arch::FaultCause;
/// use vmlayer_riscv64::fault::decode_page_fault;
/// use vmlayer_riscv64::{Access, PageFaultInfo, VirtAddr};
///
/// // A user-mode load from 0x1000: scause 13, sstatus.SPP = 0.
/// assert_eq!(
///     decode_page_fault(13, 0x1000, 0x0),
///     Some(PageFaultInfo::new(VirtAddr::from(0x1000), Access::Read, true))
/// );
/// // An S-mode store with sstatus.SUM = 1 (SPP = 1).
/// let fault = decode_page_fault(15, 0x2000, (1 << 18) | (1 << 8)).unwrap();
/// assert_eq!((fault.user, fault.cause, fault.user_memory_access), (false, FaultCause::Unspecified, true));
/// ```
pub const fn decode_page_fault(scause: u64, stval: u64, sstatus: u64) -> Option<PageFaultInfo> {
    let Some(access) = access_of_scause(scause) else {
        return None;
    };
    let user = sstatus & SSTATUS_SPP == 0;
    let mut fault = PageFaultInfo::new(VirtAddr::from_usize(stval as usize), access, user);
    fault.cause = FaultCause::Unspecified;
    fault.user_memory_access = !user && sstatus & SSTATUS_SUM != 0;
    Some(fault)
}
