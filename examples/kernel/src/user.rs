//! Running a short piece of code in user mode (U-mode, EL0, ring 3) and coming back.
//!
//! The per-ISA user routine (assembly in `arch/<isa>/user.rs` between the symbols
//! `example_user_routine_start` and `_end`, position independent; see [`routine`]) takes an operation, an
//! address and a value: it reads, writes or calls the address, then makes a system call
//! (`ecall`, `svc #0`, `int 0x80`). A page fault that the address space fixes (demand paging,
//! `crate::trap::user_fault`) resumes user mode at the faulting instruction; the system call or
//! any other trap ends the run and returns to the kernel.

use crate::trap::PageFaultInfo;

unsafe extern "C" {
    static example_user_routine_start: u8;
    static example_user_routine_end: u8;
}

/// The machine code of the ISA's user routine, to be copied into a user-executable page.
pub(crate) fn routine() -> &'static [u8] {
    // SAFETY: each ISA's `arch::<isa>::user` assembly defines the two symbols around the
    // routine's bytes in a read-only section; they are immutable for the kernel's lifetime.
    unsafe {
        let start = &raw const example_user_routine_start;
        let length = &raw const example_user_routine_end as usize - start as usize;
        core::slice::from_raw_parts(start, length)
    }
}

/// What the user routine does with its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum UserOperation {
    /// Load a 64-bit word and return it.
    Read = 0,
    /// Store the value.
    Write = 1,
    /// Call the address (a user-executable return instruction).
    Execute = 2,
}

/// How a user-mode run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UserExit {
    /// The routine reached its system call; `value` is its result register: the word read, or
    /// the operation number after a write or a call.
    SystemCall {
        /// The user's return-value register at the system call.
        value: usize,
    },
    /// A page fault ended the run: its address, access and mode (what the hardware added,
    /// `cause` and `user_memory_access`, is left at `PageFaultInfo::new`'s values so that
    /// cases compare the neutral part; see [`UserExit::page_fault`]).
    PageFault(PageFaultInfo),
    /// Any other trap (ISA-specific cause code).
    Other {
        /// The raw cause (scause, ESR_EL1, vector number).
        cause: usize,
    },
}

impl UserExit {
    /// The exit for a page fault the address space refused: address, access and mode only.
    pub(crate) fn page_fault(fault: PageFaultInfo) -> Self {
        Self::PageFault(PageFaultInfo::new(fault.address, fault.access, fault.user))
    }
}

/// Runs the user routine, already mapped at `code_address` (user-executable), with its stack
/// below `stack_top` (user-writable), and returns how it ended.
///
/// # Safety
/// `code_address` must map a copy of [`routine`] with USER|READ|EXECUTE and
/// `stack_top` must be the end of a USER|READ|WRITE mapping in the active address space.
pub(crate) unsafe fn run(
    code_address: usize,
    stack_top: usize,
    operation: UserOperation,
    address: usize,
    value: usize,
) -> UserExit {
    // SAFETY: forwarded contract.
    unsafe { crate::arch::run_user(code_address, stack_top, operation as usize, address, value) }
}
