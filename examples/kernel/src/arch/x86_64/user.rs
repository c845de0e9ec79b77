//! Ring-3 runs: `iretq` into the user routine with TSS.RSP0 = the kernel stack; the first trap
//! from ring 3 (the `int 0x80` or a fault) records its cause and returns from `run_user`.

use core::arch::global_asm;
use core::cell::UnsafeCell;

use paging_x86_64::decode_page_fault;

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
    "    leaq {record}(%rip), %rdi",
    "    movq 112(%rsp), %rax",
    "    movq %rax, 0(%rdi)",
    "    movq 120(%rsp), %rax",
    "    movq %rax, 8(%rdi)",
    "    movq 128(%rsp), %rax",
    "    movq %rax, 16(%rdi)",
    "    movq %cr2, %rax",
    "    movq %rax, 24(%rdi)",
    "    movq 136(%rsp), %rax",
    "    movq %rax, 32(%rdi)",
    "    movq 40(%rdi), %rsp",
    "    popq %r15",
    "    popq %r14",
    "    popq %r13",
    "    popq %r12",
    "    popq %rbp",
    "    popq %rbx",
    "    ret",
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
    options(att_syntax),
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

const PAGE_FAULT_VECTOR: usize = 14;

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
    // SAFETY: the caller maps the routine and its stack; the routine ends in a trap that returns
    // here with every callee-saved register restored.
    unsafe { example_run_user(code, stack_top, operation, address, value) };
    // SAFETY: the user-trap path wrote the record before returning.
    let [value, vector, error_code, cr2, _rip, _] = unsafe { USER_EXIT.0.get().read_volatile() };
    if vector == super::descriptors::SYSTEM_CALL_VECTOR {
        return UserExit::SystemCall { value };
    }
    if vector == PAGE_FAULT_VECTOR {
        return UserExit::PageFault(decode_page_fault(error_code as u64, cr2 as u64));
    }
    UserExit::Other { cause: vector }
}
