//! The probes of `crate::probe` in x86_64 assembly: each arms this CPU's record in
//! `PROBE_RECOVERY` (at `PROBE_RECOVERY + 16 * cpu_index`, the index passed in by the Rust
//! wrapper) with the rip and rsp of its label `1:`, makes the access, disarms and returns 0; a
//! faulting access lands on `1:` and returns 1 (for the execute probe the recovery rsp drops the
//! pushed return address).

use core::arch::global_asm;

/// `ret`: what the execute probe calls.
pub(crate) const RETURN_INSTRUCTION: &[u8] = &[0xc3];

global_asm!(
    ".section .text",
    // rdi = address, rsi = where to store the value, rdx = this CPU's index.
    ".globl example_probe_read",
    "example_probe_read:",
    "    shlq $4, %rdx",
    "    leaq {recovery}(%rip), %rcx",
    "    addq %rcx, %rdx",
    "    leaq 1f(%rip), %rax",
    "    movq %rax, (%rdx)",
    "    movq %rsp, 8(%rdx)",
    "    movq (%rdi), %rcx",
    "    movq $0, (%rdx)",
    "    movq %rcx, (%rsi)",
    "    xorl %eax, %eax",
    "    ret",
    "1:  movl $1, %eax",
    "    ret",
    "",
    // rdi = address, rsi = value, rdx = this CPU's index.
    ".globl example_probe_write",
    "example_probe_write:",
    "    shlq $4, %rdx",
    "    leaq {recovery}(%rip), %rcx",
    "    addq %rcx, %rdx",
    "    leaq 1f(%rip), %rax",
    "    movq %rax, (%rdx)",
    "    movq %rsp, 8(%rdx)",
    "    movq %rsi, (%rdi)",
    "    movq $0, (%rdx)",
    "    xorl %eax, %eax",
    "    ret",
    "1:  movl $1, %eax",
    "    ret",
    "",
    // rdi = address, rsi = this CPU's index. The record's address stays in rsi across the
    // call: the code called is a lone `ret`, which keeps every register.
    ".globl example_probe_execute",
    "example_probe_execute:",
    "    shlq $4, %rsi",
    "    leaq {recovery}(%rip), %rcx",
    "    addq %rcx, %rsi",
    "    leaq 1f(%rip), %rax",
    "    movq %rax, (%rsi)",
    "    movq %rsp, 8(%rsi)",
    "    call *%rdi",
    "    movq $0, (%rsi)",
    "    xorl %eax, %eax",
    "    ret",
    "1:  movl $1, %eax",
    "    ret",
    recovery = sym crate::probe::PROBE_RECOVERY,
    options(att_syntax),
);

// Each record is `[pc, sp]`, 16 bytes: the assembly's `shl $4`.
const _: () = assert!(core::mem::size_of::<crate::probe::ProbeRecovery>() == 16);

unsafe extern "C" {
    fn example_probe_read(address: usize, value: *mut u64, cpu: usize) -> usize;
    fn example_probe_write(address: usize, value: u64, cpu: usize) -> usize;
    fn example_probe_execute(address: usize, cpu: usize) -> usize;
}

/// Reads the word at `address` into `*value`; 0 on success, 1 after a recovered fault.
///
/// # Safety
/// `value` must be valid for an 8-byte write; a read of `address` must have no side effects
/// (not MMIO). A fault is recovered only if the page-fault handler does not fix it.
pub(crate) unsafe fn probe_read(address: usize, value: *mut u64) -> usize {
    // SAFETY: forwarded contract; the record of this CPU (its index from the per-CPU register)
    // is used by this CPU only, and the kernel never moves a running call to another CPU.
    unsafe { example_probe_read(address, value, super::smp::cpu_index()) }
}

/// Writes `value` at `address`; 0 on success, 1 after a recovered fault.
///
/// # Safety
/// If the write succeeds it must not clobber memory that Rust code owns or relies on.
pub(crate) unsafe fn probe_write(address: usize, value: u64) -> usize {
    // SAFETY: as in `probe_read`.
    unsafe { example_probe_write(address, value, super::smp::cpu_index()) }
}

/// Calls `address`; 0 on success, 1 after a recovered fetch fault.
///
/// # Safety
/// If the fetch succeeds, the code at `address` runs as kernel code: it must be exactly
/// [`RETURN_INSTRUCTION`].
pub(crate) unsafe fn probe_execute(address: usize) -> usize {
    // SAFETY: as in `probe_read`.
    unsafe { example_probe_execute(address, super::smp::cpu_index()) }
}
