//! EL0 runs: `eret` into the user routine; a synchronous exception from EL0 lands on the kernel
//! stack that `run_user` left in SP_EL1: a page fault the address space fixes resumes EL0,
//! anything else records ESR/FAR and returns from `run_user`.

use core::arch::global_asm;
use core::cell::UnsafeCell;

use vmlayer_aarch64::fault::decode_page_fault;

use super::trap::TrapFrame;
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
    // sp = SP_EL1 = the kernel sp left by example_run_user.
    "    sub sp, sp, #{frame_size}",
    "    stp x0, x1, [sp, #0]",
    "    stp x2, x3, [sp, #16]",
    "    stp x4, x5, [sp, #32]",
    "    stp x6, x7, [sp, #48]",
    "    stp x8, x9, [sp, #64]",
    "    stp x10, x11, [sp, #80]",
    "    stp x12, x13, [sp, #96]",
    "    stp x14, x15, [sp, #112]",
    "    stp x16, x17, [sp, #128]",
    "    stp x18, x19, [sp, #144]",
    "    stp x20, x21, [sp, #160]",
    "    stp x22, x23, [sp, #176]",
    "    stp x24, x25, [sp, #192]",
    "    stp x26, x27, [sp, #208]",
    "    stp x28, x29, [sp, #224]",
    "    mrs x0, sp_el0",
    "    stp x30, x0, [sp, #240]",
    "    mrs x0, elr_el1",
    "    mrs x1, spsr_el1",
    "    stp x0, x1, [sp, #256]",
    "    mov x0, sp",
    "    bl {user_trap}",
    "    cbnz x0, 1f",
    // End of the run: back to example_run_user's caller.
    "    add sp, sp, #{frame_size}",
    "    ldp x19, x20, [sp, #0]",
    "    ldp x21, x22, [sp, #16]",
    "    ldp x23, x24, [sp, #32]",
    "    ldp x25, x26, [sp, #48]",
    "    ldp x27, x28, [sp, #64]",
    "    ldp x29, x30, [sp, #80]",
    "    add sp, sp, #96",
    "    ret",
    // Handled fault: resume EL0 at the faulting instruction.
    "1:  ldp x0, x1, [sp, #256]",
    "    msr elr_el1, x0",
    "    msr spsr_el1, x1",
    "    ldp x30, x0, [sp, #240]",
    "    msr sp_el0, x0",
    "    ldp x0, x1, [sp, #0]",
    "    ldp x2, x3, [sp, #16]",
    "    ldp x4, x5, [sp, #32]",
    "    ldp x6, x7, [sp, #48]",
    "    ldp x8, x9, [sp, #64]",
    "    ldp x10, x11, [sp, #80]",
    "    ldp x12, x13, [sp, #96]",
    "    ldp x14, x15, [sp, #112]",
    "    ldp x16, x17, [sp, #128]",
    "    ldp x18, x19, [sp, #144]",
    "    ldp x20, x21, [sp, #160]",
    "    ldp x22, x23, [sp, #176]",
    "    ldp x24, x25, [sp, #192]",
    "    ldp x26, x27, [sp, #208]",
    "    ldp x28, x29, [sp, #224]",
    "    add sp, sp, #{frame_size}",
    "    eret",
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
    frame_size = const core::mem::size_of::<TrapFrame>(),
    user_trap = sym user_trap,
);

/// Every synchronous exception from EL0: a page fault the handler fixes resumes EL0 (returns 1);
/// anything else is recorded in `USER_EXIT` and ends the run (returns 0).
extern "C" fn user_trap(frame: &mut TrapFrame) -> usize {
    let (esr, far): (usize, usize);
    // SAFETY: reading the syndrome registers has no side effects.
    unsafe { core::arch::asm!("mrs {0}, esr_el1", "mrs {1}, far_el1", out(reg) esr, out(reg) far) };
    if let Some(fault) = decode_page_fault(esr as u64, far as u64, frame.spsr() as u64)
        && crate::trap::user_fault(fault)
    {
        return 1;
    }
    // SAFETY: see `UserExitRecord`; `run_user` reads it after this run ends.
    unsafe {
        USER_EXIT
            .0
            .get()
            .write_volatile([frame.register(0), esr, far, frame.pc()])
    };
    0
}

unsafe extern "C" {
    fn example_run_user(
        code: usize,
        stack_top: usize,
        operation: usize,
        address: usize,
        value: usize,
    );
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
    // An EL0 abort: SPSR_EL1.PAN does not matter (`user_memory_access` is false for it).
    match decode_page_fault(esr as u64, far as u64, 0) {
        Some(fault) => UserExit::page_fault(fault),
        None => UserExit::Other { cause: esr },
    }
}
