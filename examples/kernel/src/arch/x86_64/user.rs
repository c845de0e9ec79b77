//! Ring-3 runs: `iretq` into the user routine with TSS.RSP0 = the kernel stack; a page fault
//! from ring 3 that the address space fixes resumes ring 3, any other trap (the `int 0x80`, a
//! refused fault) records its cause and returns from `run_user`.

use core::arch::global_asm;
use core::cell::UnsafeCell;

use vmlayer_x86_64::decode_page_fault;

use super::trap::TrapFrame;
use crate::user::UserExit;

/// `[rax, vector, error code, cr2, rip, saved kernel rsp]` of the trap that ended the last run.
#[repr(C)]
pub(crate) struct UserExitRecord(UnsafeCell<[usize; 6]>);

// SAFETY: single hart, interrupts off; written by the user-trap path while `run_user` waits.
unsafe impl Sync for UserExitRecord {}

static USER_EXIT: UserExitRecord = UserExitRecord(UnsafeCell::new([0; 6]));

global_asm!(
    ".section .text",
    ".globl example_run_user",
    "example_run_user:",
    "    pushq %rbx",
    "    pushq %rbp",
    "    pushq %r12",
    "    pushq %r13",
    "    pushq %r14",
    "    pushq %r15",
    "    movq %rsp, {record}+40(%rip)",
    "    movq %rsp, {tss}+4(%rip)",
    "    pushq $0x1b",
    "    pushq %rsi",
    "    pushq $0x2",
    "    pushq $0x23",
    "    pushq %rdi",
    "    movq %rdx, %rdi",
    "    movq %rcx, %rsi",
    "    movq %r8, %rdx",
    "    iretq",
    "",
    ".globl example_user_trap",
    "example_user_trap:",
    // rsp = the frame the stub built on the TSS.RSP0 stack.
    "    movq %rsp, %rdi",
    "    cld",
    "    call {user_trap}",
    "    testq %rax, %rax",
    "    jnz 1f",
    // End of the run: back to example_run_user's caller.
    "    movq {record}+40(%rip), %rsp",
    "    popq %r15",
    "    popq %r14",
    "    popq %r13",
    "    popq %r12",
    "    popq %rbp",
    "    popq %rbx",
    "    ret",
    // Handled fault: resume ring 3 at the faulting instruction.
    "1:  popq %r15",
    "    popq %r14",
    "    popq %r13",
    "    popq %r12",
    "    popq %r11",
    "    popq %r10",
    "    popq %r9",
    "    popq %r8",
    "    popq %rbp",
    "    popq %rdi",
    "    popq %rsi",
    "    popq %rdx",
    "    popq %rcx",
    "    popq %rbx",
    "    popq %rax",
    "    addq $16, %rsp",
    "    iretq",
    "",
    // The user routine: rdi = operation, rsi = address, rdx = value. Position independent;
    // copied into a user page by the suite. It lives in rodata: the kernel never executes it.
    ".section .rodata.example_user_routine, \"a\"",
    ".globl example_user_routine_start",
    "example_user_routine_start:",
    "    movq %rdi, %rax",
    "    testq %rdi, %rdi",
    "    jz 1f",
    "    cmpq $1, %rdi",
    "    je 2f",
    "    call *%rsi",
    "    jmp 3f",
    "1:  movq (%rsi), %rax",
    "    jmp 3f",
    "2:  movq %rdx, (%rsi)",
    "3:  int $0x80",
    "4:  jmp 4b",
    ".globl example_user_routine_end",
    "example_user_routine_end:",
    record = sym USER_EXIT,
    tss = sym super::descriptors::EXAMPLE_TSS,
    user_trap = sym user_trap,
    options(att_syntax),
);

/// Every trap from ring 3: a page fault the handler fixes resumes ring 3 (returns 1); anything
/// else is recorded in `USER_EXIT` and ends the run (returns 0).
extern "C" fn user_trap(frame: &mut TrapFrame) -> usize {
    let cr2 = super::trap::read_cr2();
    if frame.vector() == PAGE_FAULT_VECTOR as u64
        && crate::trap::user_fault(super::trap::decode_or_stop(frame, cr2))
    {
        return 1;
    }
    let record = USER_EXIT.0.get();
    // SAFETY: see `UserExitRecord`; only the first five words are written, the sixth (the saved
    // kernel rsp) is still needed by the assembly that returns from `run_user`.
    unsafe {
        let words = record.cast::<usize>();
        words.write_volatile(frame.rax() as usize);
        words.add(1).write_volatile(frame.vector() as usize);
        words.add(2).write_volatile(frame.error_code() as usize);
        words.add(3).write_volatile(cr2);
        words.add(4).write_volatile(frame.pc());
    }
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

const PAGE_FAULT_VECTOR: usize = 14;

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
    let [value, vector, error_code, cr2, _rip, _] = unsafe { USER_EXIT.0.get().read_volatile() };
    if vector == super::descriptors::SYSTEM_CALL_VECTOR {
        return UserExit::SystemCall { value };
    }
    if vector == PAGE_FAULT_VECTOR {
        // A user fault: RFLAGS.AC and CR4.SMAP do not matter (`user_memory_access` is false),
        // and RSVD faults already stopped the kernel in `user_trap`.
        return UserExit::page_fault(decode_page_fault(error_code as u64, cr2 as u64, 0, 0));
    }
    UserExit::Other { cause: vector }
}
