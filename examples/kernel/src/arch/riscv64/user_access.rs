//! Kernel access to user pages: S-mode may load and store `U` pages only while `sstatus.SUM`
//! is set (RISC-V privileged spec, "Supervisor Status Register"); it never fetches from them.
//! This kernel keeps `SUM = 0`, so a stray kernel pointer into user memory faults.

/// `sstatus.SUM` (bit 18): permit supervisor user memory access.
const SSTATUS_SUM: usize = 1 << 18;

/// Keeps `SUM` clear (the reset value under OpenSBI; cleared explicitly to be sure). Returns
/// what this kernel enforces, for the boot log.
pub(crate) fn protect_user_memory() -> &'static str {
    // SAFETY: clearing SUM only restricts what S-mode may access; no kernel code relies on it.
    unsafe { core::arch::asm!("csrc sstatus, {0}", in(reg) SSTATUS_SUM, options(nostack)) };
    "sstatus.SUM = 0"
}

/// Whether a kernel load or store to a user page faults right now (`SUM = 0`).
pub(crate) fn user_memory_blocked() -> bool {
    let sstatus: usize;
    // SAFETY: reading sstatus has no side effect.
    unsafe { core::arch::asm!("csrr {0}, sstatus", out(reg) sstatus, options(nomem, nostack)) };
    sstatus & SSTATUS_SUM == 0
}
