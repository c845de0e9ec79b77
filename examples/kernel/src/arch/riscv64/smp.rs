//! Secondary CPUs (placeholder until bring-up lands: only the boot CPU runs).

use alloc::vec;
use alloc::vec::Vec;

/// The hardware ids of the CPUs the firmware lists, the boot CPU (`boot_cpu`) first.
pub(crate) fn discover_cpus(boot_argument: usize, boot_cpu: usize) -> Vec<usize> {
    let _ = boot_argument;
    vec![boot_cpu]
}

/// Starts the CPU `hardware_id` as CPU `index` on the stack ending at `stack_top`.
///
/// # Safety
/// `stack_top` must end a stack that belongs to that CPU from now on.
pub(crate) unsafe fn start_cpu(
    index: usize,
    hardware_id: usize,
    stack_top: usize,
) -> Result<(), &'static str> {
    let _ = (index, hardware_id, stack_top);
    Err("not implemented")
}

/// The index of this CPU (0 = boot CPU): the per-CPU register `tp`, which `_start` sets to 0
/// and `example_user_trap` restores after user code (`user.rs`). The compiler never allocates
/// `tp` (the psABI reserves it as the thread pointer).
pub(crate) fn cpu_index() -> usize {
    let index: usize;
    // SAFETY: reading `tp` has no side effect; the kernel keeps the CPU index there.
    unsafe {
        core::arch::asm!("mv {0}, tp", out(reg) index, options(pure, nomem, nostack, preserves_flags))
    };
    index
}
