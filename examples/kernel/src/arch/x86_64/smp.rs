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

/// The index of this CPU (0 = boot CPU).
pub(crate) fn cpu_index() -> usize {
    0
}
