//! Decoding the `#PF` error code and CR2 (Intel SDM Vol. 3A, §4.7, figure 4-12).

use memory_addr::VirtAddr;
use paging_arch::{Access, PageFaultInfo};

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

/// Describes the page fault with error code `error_code` at address `cr2`.
///
/// An instruction fetch is [`Access::Execute`], else a write [`Access::Write`], else
/// [`Access::Read`]. A fault with the RSVD bit set means a corrupt table, not a missing page:
/// check [`PageFaultErrorCode::RESERVED_BIT`] before handling it.
///
/// ```
/// use paging_arch::{Access, PageFaultInfo, VirtAddr};
/// use paging_x86_64::decode_page_fault;
///
/// // A user-mode write to a not-present page at 0x4000_1234.
/// assert_eq!(
///     decode_page_fault(0b110, 0x4000_1234),
///     PageFaultInfo::new(VirtAddr::from(0x4000_1234), Access::Write, true)
/// );
/// ```
pub fn decode_page_fault(error_code: u64, cr2: u64) -> PageFaultInfo {
    let code = PageFaultErrorCode(error_code);
    let access = if code.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
        Access::Execute
    } else if code.contains(PageFaultErrorCode::WRITE) {
        Access::Write
    } else {
        Access::Read
    };
    PageFaultInfo::new(
        VirtAddr::from(cr2 as usize),
        access,
        code.contains(PageFaultErrorCode::USER),
    )
}
