//! The probes of `crate::probe` in x86_64 assembly: each arms `PROBE_RECOVERY` with the rip and
//! rsp of its label `1:`, makes the access, disarms and returns 0; a faulting access lands on `1:`
//! and returns 1 (for the execute probe the recovery rsp drops the pushed return address).

use core::arch::global_asm;

/// `ret`: what the execute probe calls.
pub(crate) const RETURN_INSTRUCTION: &[u8] = &[0xc3];

global_asm!(
    ".section .text",
    ".globl example_probe_read",
    "example_probe_read:",
    "    leaq 1f(%rip), %rax",
    "    movq %rax, {recovery}(%rip)",
    "    movq %rsp, {recovery}+8(%rip)",
    "    movq (%rdi), %rdx",
    "    movq $0, {recovery}(%rip)",
    "    movq %rdx, (%rsi)",
    "    xorl %eax, %eax",
    "    ret",
    "1:  movl $1, %eax",
    "    ret",
    "",
    ".globl example_probe_write",
    "example_probe_write:",
    "    leaq 1f(%rip), %rax",
    "    movq %rax, {recovery}(%rip)",
    "    movq %rsp, {recovery}+8(%rip)",
    "    movq %rsi, (%rdi)",
    "    movq $0, {recovery}(%rip)",
    "    xorl %eax, %eax",
    "    ret",
    "1:  movl $1, %eax",
    "    ret",
    "",
    ".globl example_probe_execute",
    "example_probe_execute:",
    "    leaq 1f(%rip), %rax",
    "    movq %rax, {recovery}(%rip)",
    "    movq %rsp, {recovery}+8(%rip)",
    "    call *%rdi",
    "    movq $0, {recovery}(%rip)",
    "    xorl %eax, %eax",
    "    ret",
    "1:  movl $1, %eax",
    "    ret",
    recovery = sym crate::probe::PROBE_RECOVERY,
    options(att_syntax),
);

unsafe extern "C" {
    /// Reads the word at `address` into `*value`; 0 on success, 1 after a recovered fault.
    ///
    /// # Safety
    /// `value` must be valid for an 8-byte write; a read of `address` must have no side effects
    /// (not MMIO). A fault is recovered only if the page-fault handler does not fix it.
    #[link_name = "example_probe_read"]
    pub(crate) fn probe_read(address: usize, value: *mut u64) -> usize;
    /// Writes `value` at `address`; 0 on success, 1 after a recovered fault.
    ///
    /// # Safety
    /// If the write succeeds it must not clobber memory that Rust code owns or relies on.
    #[link_name = "example_probe_write"]
    pub(crate) fn probe_write(address: usize, value: u64) -> usize;
    /// Calls `address`; 0 on success, 1 after a recovered fetch fault.
    ///
    /// # Safety
    /// If the fetch succeeds, the code at `address` runs as kernel code: it must be exactly
    /// [`RETURN_INSTRUCTION`].
    #[link_name = "example_probe_execute"]
    pub(crate) fn probe_execute(address: usize) -> usize;
}
