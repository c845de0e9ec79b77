//! The probes of `crate::probe` in AArch64 assembly: each arms this CPU's `PROBE_RECOVERY` record
//! (at `PROBE_RECOVERY + 16 * TPIDR_EL1`, the CPU's index, see `smp.rs`) with the pc and sp of its
//! label `1:`, makes the access, disarms and returns 0; a faulting access lands on `1:` and
//! returns 1.

use core::arch::global_asm;

/// `ret`, little endian: what the execute probe calls.
pub(crate) const RETURN_INSTRUCTION: &[u8] = &0xd65f_03c0u32.to_le_bytes();

global_asm!(
    ".section .text",
    ".globl example_probe_read",
    "example_probe_read:",
    "    adrp x9, {recovery}",
    "    add x9, x9, :lo12:{recovery}",
    "    mrs x10, tpidr_el1",
    "    add x9, x9, x10, lsl #4",
    "    adr x10, 1f",
    "    mov x11, sp",
    "    stp x10, x11, [x9]",
    "    ldr x12, [x0]",
    "    str xzr, [x9]",
    "    str x12, [x1]",
    "    mov x0, #0",
    "    ret",
    "1:  mov x0, #1",
    "    ret",
    "",
    ".globl example_probe_write",
    "example_probe_write:",
    "    adrp x9, {recovery}",
    "    add x9, x9, :lo12:{recovery}",
    "    mrs x10, tpidr_el1",
    "    add x9, x9, x10, lsl #4",
    "    adr x10, 1f",
    "    mov x11, sp",
    "    stp x10, x11, [x9]",
    "    str x1, [x0]",
    "    str xzr, [x9]",
    "    mov x0, #0",
    "    ret",
    "1:  mov x0, #1",
    "    ret",
    "",
    ".globl example_probe_execute",
    "example_probe_execute:",
    "    stp x29, x30, [sp, #-16]!",
    "    adrp x9, {recovery}",
    "    add x9, x9, :lo12:{recovery}",
    "    mrs x10, tpidr_el1",
    "    add x9, x9, x10, lsl #4",
    "    adr x10, 1f",
    "    mov x11, sp",
    "    stp x10, x11, [x9]",
    "    blr x0",
    "    adrp x9, {recovery}",
    "    add x9, x9, :lo12:{recovery}",
    "    mrs x10, tpidr_el1",
    "    add x9, x9, x10, lsl #4",
    "    str xzr, [x9]",
    "    mov x0, #0",
    "    b 2f",
    "1:  mov x0, #1",
    "2:  ldp x29, x30, [sp], #16",
    "    ret",
    recovery = sym crate::probe::PROBE_RECOVERY,
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
