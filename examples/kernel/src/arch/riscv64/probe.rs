//! The probes of `crate::probe` in RISC-V assembly: each arms this CPU's record of
//! `PROBE_RECOVERY` (at `PROBE_RECOVERY + 16 * tp`, `tp` being the CPU index, see `smp.rs`) with
//! the pc and sp of its label `1:`, makes the access, disarms and returns 0; a faulting access
//! lands on `1:` and returns 1.

use core::arch::global_asm;

/// `ret` (`jalr x0, 0(ra)`), little endian: what the execute probe calls.
pub(crate) const RETURN_INSTRUCTION: &[u8] = &0x0000_8067u32.to_le_bytes();

global_asm!(
    ".section .text",
    ".globl example_probe_read",
    "example_probe_read:",
    "    la t0, {recovery}",
    "    slli t3, tp, 4",
    "    add t0, t0, t3",
    "    la t1, 1f",
    "    sd t1, 0(t0)",
    "    sd sp, 8(t0)",
    "    ld t2, 0(a0)",
    "    sd zero, 0(t0)",
    "    sd t2, 0(a1)",
    "    li a0, 0",
    "    ret",
    "1:  li a0, 1",
    "    ret",
    "",
    ".globl example_probe_write",
    "example_probe_write:",
    "    la t0, {recovery}",
    "    slli t3, tp, 4",
    "    add t0, t0, t3",
    "    la t1, 1f",
    "    sd t1, 0(t0)",
    "    sd sp, 8(t0)",
    "    sd a1, 0(a0)",
    "    sd zero, 0(t0)",
    "    li a0, 0",
    "    ret",
    "1:  li a0, 1",
    "    ret",
    "",
    ".globl example_probe_execute",
    "example_probe_execute:",
    "    addi sp, sp, -16",
    "    sd ra, 0(sp)",
    "    la t0, {recovery}",
    "    slli t3, tp, 4",
    "    add t0, t0, t3",
    "    la t1, 1f",
    "    sd t1, 0(t0)",
    "    sd sp, 8(t0)",
    "    fence.i",
    "    jalr a0",
    "    la t0, {recovery}",
    "    slli t3, tp, 4",
    "    add t0, t0, t3",
    "    sd zero, 0(t0)",
    "    li a0, 0",
    "    j 2f",
    "1:  li a0, 1",
    "2:  ld ra, 0(sp)",
    "    addi sp, sp, 16",
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
