//! User mode: entering it with a set of user registers and coming back at the next trap.
//!
//! The ISA glue (`arch/<isa>/user.rs`) provides one primitive, [`enter`]: it loads a
//! [`UserContext`] (every user register and the user pc) into the CPU, enters U-mode / EL0 /
//! ring 3 (`sret`, `eret`, `iretq`), and returns to its caller at the next trap from user mode
//! with every user register saved back into the context and the trap classified as a
//! [`UserTrap`]. The kernel is then an ordinary caller again, not inside a trap handler: it
//! serves a system call or a page fault and enters again, or ends the run. Processes
//! (`crate::process`) are built on it, and so is [`run`], the suite's one-shot routine.

use crate::trap::PageFaultInfo;

pub(crate) use crate::arch::UserContext;

/// Why user code stopped running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UserTrap {
    /// A system call (`ecall`, `svc #0`, `int 0x80`): the context's pc is already past it and
    /// [`UserContext::system_call`] says which.
    SystemCall,
    /// A page fault from user mode (`user` is true), decoded by the ISA crate; the context's pc
    /// is the faulting instruction, which runs again if the kernel enters again.
    PageFault(PageFaultInfo),
    /// Any other trap (illegal instruction, breakpoint, misaligned access, ...): the ISA's
    /// cause (`scause`, `ESR_EL1`, vector number).
    Other {
        /// The raw cause.
        cause: usize,
    },
}

/// Runs user code with `context` until its next trap (see the module docs).
pub(crate) fn enter(context: &mut UserContext) -> UserTrap {
    crate::arch::enter_user(context)
}

unsafe extern "C" {
    static example_user_routine_start: u8;
    static example_user_routine_end: u8;
}

/// The machine code of the ISA's user routine (`arch/<isa>/programs.rs`, position
/// independent), which the suite copies into a user-executable page: it takes an operation,
/// an address and a value, reads, writes or calls the address, then traps with a system call
/// (`ecall`, `svc #0`, `int 0x80`) whose return-value register holds the result.
pub(crate) fn routine() -> &'static [u8] {
    // SAFETY: each ISA's `arch::<isa>::programs` assembly defines the two symbols around the
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

/// How a run of the user routine ended.
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

/// Runs the user routine, mapped at `code_address` (a copy of [`routine`], user-executable in
/// the current user space), with its stack below `stack_top`, and returns how it ended. A
/// page fault the current space resolves (`crate::trap::user_fault`: demand paging) enters
/// user mode again at the faulting instruction; the system call, a refused fault or any other
/// trap ends the run.
pub(crate) fn run(
    code_address: usize,
    stack_top: usize,
    operation: UserOperation,
    address: usize,
    value: usize,
) -> UserExit {
    let arguments = [operation as usize, address, value];
    let mut context = UserContext::new(code_address, stack_top, arguments);
    loop {
        match enter(&mut context) {
            UserTrap::SystemCall => {
                return UserExit::SystemCall {
                    value: context.return_value(),
                };
            }
            UserTrap::PageFault(fault) => {
                if !crate::trap::user_fault(fault) {
                    return UserExit::page_fault(fault);
                }
            }
            UserTrap::Other { cause } => return UserExit::Other { cause },
        }
    }
}
