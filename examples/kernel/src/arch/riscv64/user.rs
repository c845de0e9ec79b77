//! U-mode runs: `sret` into the user routine with `sscratch` = kernel sp; every trap from U-mode
//! lands in [`example_user_trap`]: a page fault the address space fixes resumes U-mode, anything
//! else is recorded and returns from `run_user`.

use core::arch::global_asm;
use core::cell::UnsafeCell;

use vmlayer_riscv64::fault::decode_page_fault;

use super::trap::TrapFrame;
use crate::user::UserExit;

/// `[a0, scause, stval, sepc]` at the trap that ended the last user run.
#[repr(C)]
pub(crate) struct UserExitRecord(UnsafeCell<[usize; 4]>);

// SAFETY: single hart, interrupts off; written by the user-trap path while `run_user` waits.
unsafe impl Sync for UserExitRecord {}

static USER_EXIT: UserExitRecord = UserExitRecord(UnsafeCell::new([0; 4]));

const ECALL_FROM_USER: usize = 8;

global_asm!(
    ".section .text",
    ".globl example_run_user",
    "example_run_user:",
    "    addi sp, sp, -112",
    "    sd ra, 0(sp)",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11",
    "    sd s\\n, (\\n+1)*8(sp)",
    ".endr",
    "    csrw sscratch, sp",
    "    csrw sepc, a0",
    "    li t0, 0x120",
    "    csrc sstatus, t0",
    "    mv sp, a1",
    "    mv a0, a2",
    "    mv a1, a3",
    "    mv a2, a4",
    "    sret",
    "",
    ".globl example_user_trap",
    "example_user_trap:",
    // sp = the kernel sp saved by example_run_user, sscratch = the user sp.
    "    addi sp, sp, -{frame_size}",
    "    sd x1, 1*8(sp)",
    ".irp n, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    sd x\\n, \\n*8(sp)",
    ".endr",
    "    csrr t0, sscratch",
    "    sd t0, 2*8(sp)",
    "    csrw sscratch, zero",
    "    csrr t0, sepc",
    "    sd t0, 32*8(sp)",
    "    csrr t0, sstatus",
    "    sd t0, 33*8(sp)",
    "    mv a0, sp",
    "    call {user_trap}",
    "    bnez a0, 1f",
    // End of the run: back to example_run_user's caller.
    "    addi sp, sp, {frame_size}",
    "    ld ra, 0(sp)",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11",
    "    ld s\\n, (\\n+1)*8(sp)",
    ".endr",
    "    addi sp, sp, 112",
    "    ret",
    // Handled fault: resume user mode at the faulting instruction.
    "1:  ld t0, 32*8(sp)",
    "    csrw sepc, t0",
    "    ld t0, 33*8(sp)",
    "    csrw sstatus, t0",
    "    addi t0, sp, {frame_size}",
    "    csrw sscratch, t0",
    "    ld x1, 1*8(sp)",
    ".irp n, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    ld x\\n, \\n*8(sp)",
    ".endr",
    "    ld sp, 2*8(sp)",
    "    sret",
    "",
    // The user routine: a0 = operation, a1 = address, a2 = value. Position independent; copied
    // into a user page by the suite. It lives in rodata: the kernel never executes it.
    ".section .rodata.example_user_routine, \"a\"",
    ".balign 4",
    ".globl example_user_routine_start",
    "example_user_routine_start:",
    "    beqz a0, 1f",
    "    li t0, 1",
    "    beq a0, t0, 2f",
    "    jalr a1",
    "    j 3f",
    "1:  ld a0, 0(a1)",
    "    j 3f",
    "2:  sd a2, 0(a1)",
    "3:  ecall",
    "4:  j 4b",
    ".globl example_user_routine_end",
    "example_user_routine_end:",
    frame_size = const core::mem::size_of::<TrapFrame>(),
    user_trap = sym user_trap,
);

/// Every trap from U-mode: a page fault the handler fixes resumes user mode (returns 1); anything
/// else is recorded in `USER_EXIT` and ends the run (returns 0).
extern "C" fn user_trap(frame: &mut TrapFrame) -> usize {
    let (scause, stval): (usize, usize);
    // SAFETY: reading trap CSRs has no side effects.
    unsafe {
        core::arch::asm!("csrr {0}, scause", "csrr {1}, stval", out(reg) scause, out(reg) stval)
    };
    // sstatus.SPP = 0: the trap came from U-mode.
    if let Some(fault) = decode_page_fault(scause as u64, stval as u64, 0)
        && crate::trap::user_fault(fault)
    {
        return 1;
    }
    // SAFETY: see `UserExitRecord`; `run_user` reads it after this run ends.
    unsafe {
        USER_EXIT
            .0
            .get()
            .write_volatile([frame.register(10), scause, stval, frame.pc()])
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
    pub(super) fn example_user_trap();
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
    // SAFETY: the caller maps the routine and its stack; the routine ends in a trap that returns
    // here with every callee-saved register restored.
    unsafe { example_run_user(code, stack_top, operation, address, value) };
    // SAFETY: the user-trap path wrote the record before returning.
    let [value, scause, stval, _sepc] = unsafe { USER_EXIT.0.get().read_volatile() };
    if scause == ECALL_FROM_USER {
        return UserExit::SystemCall { value };
    }
    // sstatus.SPP = 0: the trap came from U-mode.
    match decode_page_fault(scause as u64, stval as u64, 0) {
        Some(fault) => UserExit::page_fault(fault),
        None => UserExit::Other { cause: scause },
    }
}
