//! What [`AddressSpace::handle_page_fault`](crate::AddressSpace::handle_page_fault) answers.

use core::fmt;

/// A fault the address space resolved: the faulting access may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultResolution {
    /// A lazy page got a fresh zeroed frame, mapped with the area's flags.
    Populated,
    /// The page table already allowed the access: the TLB held a stale entry (or another CPU
    /// was first, or a break-before-make window just closed). The page was flushed.
    Spurious,
    /// A write to a page shared copy-on-write: the page got a private copy of the frame.
    CopiedOnWrite,
    /// A write to a page that was shared copy-on-write and whose other sharers are gone: the
    /// frame was made writable in place, without a copy.
    ReusedOnWrite,
}

/// A fault the address space refuses: retrying the access would fault again, so the kernel
/// must deliver it (a signal to a user program, an oops for the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultError {
    /// No area contains the address (a segmentation fault).
    NoArea,
    /// The area's flags forbid the access: a write to a read-only area, a fetch from a
    /// non-executable one, any access to a PROT_NONE one.
    AccessDenied,
    /// A user-mode access to a kernel (non-`USER`) area.
    KernelArea,
    /// A kernel-mode instruction fetch from a `USER` area (SMEP, PXN and RISC-V S-mode never
    /// execute user pages).
    KernelExecutesUserPage,
    /// A kernel-mode load or store to a `USER` page while the CPU forbids it (RISC-V
    /// `sstatus.SUM = 0`, AArch64 `PSTATE.PAN = 1`, x86 SMAP with `RFLAGS.AC = 0`): see
    /// [`PageFaultInfo::user_memory_access`](crate::PageFaultInfo::user_memory_access).
    UserMemoryBlocked,
    /// The lazy page could not get a frame (or a table page).
    NoMemory,
    /// The hardware reported a reserved bit set in a paging-structure entry (x86 `RSVD`): the
    /// table is corrupt, this is never an ordinary fault.
    CorruptTable,
    /// The same fault again right after it was answered [`FaultResolution::Spurious`], with no
    /// change of the page table in between: the hardware disagrees with the table for a
    /// reason this layer does not model, so retrying would loop.
    Repeated,
    /// The area has no entry for the page and its backend cannot populate it (a Linear area
    /// whose entry is missing: the table and the area set disagree).
    NotPopulatable,
}

impl FaultError {
    /// The Linux errno a system call answers with when it met this error while touching user
    /// memory for the caller ([`AddressSpace::read_user`](crate::AddressSpace::read_user) and
    /// the other user-memory helpers): `ENOMEM` (12) for [`Self::NoMemory`], `EFAULT` (14) for
    /// every other reason (a bad pointer).
    pub const fn errno(self) -> i32 {
        match self {
            Self::NoMemory => 12,
            _ => 14,
        }
    }

    /// The `si_code` of the `SIGSEGV` a user program receives for a refused page fault:
    /// `SEGV_MAPERR` (1) when no area holds the address, `SEGV_ACCERR` (2) when the areas'
    /// permissions or the CPU forbid the access, and `None` for [`Self::NoMemory`] (Linux runs
    /// the out-of-memory killer, a kernel may kill the process with `SIGKILL` or `SIGBUS`).
    pub const fn segv_code(self) -> Option<i32> {
        match self {
            Self::NoArea => Some(1),
            Self::NoMemory => None,
            _ => Some(2),
        }
    }
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoArea => "no area contains the address",
            Self::AccessDenied => "the area's permissions forbid the access",
            Self::KernelArea => "user access to a kernel area",
            Self::KernelExecutesUserPage => "kernel instruction fetch from a user page",
            Self::UserMemoryBlocked => "kernel access to user memory while the CPU forbids it",
            Self::NoMemory => "no memory for the page",
            Self::CorruptTable => "reserved bit set in a page-table entry",
            Self::Repeated => "the same fault repeated after its page was flushed",
            Self::NotPopulatable => "the area's backend cannot populate the page",
        })
    }
}

impl core::error::Error for FaultError {}
