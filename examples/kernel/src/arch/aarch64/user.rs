//! EL0 runs: `eret` into the user routine; the synchronous exception from EL0 lands on the
//! kernel stack that `run_user` left in SP_EL1, records ESR/FAR and returns from `run_user`.

use core::arch::global_asm;
use core::cell::UnsafeCell;

use paging_aarch64::fault::decode_page_fault;

use crate::user::UserExit;

/// `[x0, ESR_EL1, FAR_EL1, ELR_EL1]` at the exception that ended the last user run.
#[repr(C)]
pub(crate) struct UserExitRecord(UnsafeCell<[usize; 4]>);

// SAFETY: single hart, interrupts off; written by the user-exception path while `run_user` waits.
unsafe impl Sync for UserExitRecord {}

static USER_EXIT: UserExitRecord = UserExitRecord(UnsafeCell::new([0; 4]));

const EC_SVC64: usize = 0x15;

global_asm!(
    ".section .text",
    ".globl example_run_user",
    "example_run_user:",
    "    sub sp, sp, #96",
    "    stp x19, x20, [sp, #0]",
    "    stp x21, x22, [sp, #16]",
    "    stp x23, x24, [sp, #32]",
    "    stp x25, x26, [sp, #48]",
    "    stp x27, x28, [sp, #64]",
    "    stp x29, x30, [sp, #80]",
    "    msr elr_el1, x0",
    "    msr sp_el0, x1",
    // EL0t with D, A, I, F masked.
    "    mov x5, #0x3c0",
    "    msr spsr_el1, x5",
    "    mov x0, x2",
    "    mov x1, x3",
    "    mov x2, x4",
    "    eret",
    "",
    ".globl example_user_sync",
    "example_user_sync:",
    "    adrp x9, {record}",
    "    add x9, x9, :lo12:{record}",
    "    mrs x10, esr_el1",
    "    stp x0, x10, [x9]",
    "    mrs x10, far_el1",
    "    mrs x11, elr_el1",
    "    stp x10, x11, [x9, #16]",
    "    ldp x19, x20, [sp, #0]",
    "    ldp x21, x22, [sp, #16]",
    "    ldp x23, x24, [sp, #32]",
    "    ldp x25, x26, [sp, #48]",
    "    ldp x27, x28, [sp, #64]",
    "    ldp x29, x30, [sp, #80]",
    "    add sp, sp, #96",
    "    ret",
    "",
    // The user routine: x0 = operation, x1 = address, x2 = value. Position independent; copied
    // into a user page by the suite. It lives in rodata: the kernel never executes it.
    ".section .rodata.example_user_routine, \"a\"",
    ".balign 4",
    ".globl example_user_routine_start",
    "example_user_routine_start:",
    "    cbz x0, 1f",
    "    cmp x0, #1",
    "    b.eq 2f",
    "    blr x1",
    "    b 3f",
    "1:  ldr x0, [x1]",
    "    b 3f",
    "2:  str x2, [x1]",
    "3:  svc #0",
    "4:  b 4b",
    ".globl example_user_routine_end",
    "example_user_routine_end:",
    record = sym USER_EXIT,
);

unsafe extern "C" {
    fn example_run_user(
        code: usize,
        stack_top: usize,
        operation: usize,
        address: usize,
        value: usize,
    );
    static example_user_routine_start: u8;
    static example_user_routine_end: u8;
}

/// The machine code of the user routine, to be copied into a user-executable page.
pub(crate) fn user_routine() -> &'static [u8] {
    // SAFETY: the two symbols delimit the routine's bytes in rodata (above), immutable forever.
    unsafe {
        let start = &raw const example_user_routine_start;
        let length = &raw const example_user_routine_end as usize - start as usize;
        core::slice::from_raw_parts(start, length)
    }
}

/// See `crate::user::run`.
///
/// # Safety
/// See `crate::user::run`.
pub(crate) unsafe fn run_user(
    code: usize,
    stack_top: usize,
    operation: usize,
    address: usize,
    value: usize,
) -> UserExit {
    // SAFETY: the caller maps the routine and its stack; the routine ends in an exception that
    // returns here with every callee-saved register restored.
    unsafe { example_run_user(code, stack_top, operation, address, value) };
    // SAFETY: the user-exception path wrote the record before returning.
    let [value, esr, far, _elr] = unsafe { USER_EXIT.0.get().read_volatile() };
    if esr >> 26 == EC_SVC64 {
        return UserExit::SystemCall { value };
    }
    match decode_page_fault(esr as u64, far as u64) {
        Some(fault) => UserExit::PageFault(fault),
        None => UserExit::Other { cause: esr },
    }
}
