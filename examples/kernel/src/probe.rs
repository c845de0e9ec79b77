//! Probes: a read, write or instruction fetch at an address that may fault.
//!
//! The per-ISA assembly routine stores a recovery point (pc and sp of a label inside itself) in
//! [`PROBE_RECOVERY`] right before the access. When the access faults and no page-fault handler
//! fixes it, the trap code records the fault and resumes at that label, and the routine returns 1.
//! This is how "this access must fault" is tested without killing the kernel.

use core::cell::UnsafeCell;

use crate::arch::TrapFrame;
use crate::global_cell::GlobalCell;
use crate::smp::MAX_CPUS;
use crate::trap::PageFaultInfo;

/// `[recovery pc, recovery sp]`, written by the assembly probes, cleared by [`recover`]. A zero pc
/// means "no probe armed". One per CPU: the assembly adds `16 * arch::cpu_index()` to the
/// symbol's address.
#[repr(C)]
pub(crate) struct ProbeRecovery(UnsafeCell<[usize; 2]>);

// SAFETY: each CPU uses only its own record (indexed by its per-CPU register), written only by
// the probe routine and by the trap taken inside it on that CPU.
unsafe impl Sync for ProbeRecovery {}

/// The recovery records shared with the assembly probes (by symbol name), one per CPU.
#[unsafe(no_mangle)]
pub(crate) static PROBE_RECOVERY: [ProbeRecovery; MAX_CPUS] =
    [const { ProbeRecovery(UnsafeCell::new([0; 2])) }; MAX_CPUS];

/// The fault each CPU's last probe recorded.
static LAST_FAULT: [GlobalCell<Option<PageFaultInfo>>; MAX_CPUS] =
    [const { GlobalCell::new(None) }; MAX_CPUS];

/// If a probe is armed, records `fault`, points `frame` at the recovery label and returns `true`.
pub(crate) fn recover(frame: &mut TrapFrame, fault: PageFaultInfo) -> bool {
    let cpu = crate::smp::this_cpu();
    let record = PROBE_RECOVERY[cpu].0.get();
    // SAFETY: see `ProbeRecovery`; volatile because the assembly writes it behind Rust's back.
    let [pc, sp] = unsafe { record.read_volatile() };
    if pc == 0 {
        return false;
    }
    // SAFETY: as above.
    unsafe { record.write_volatile([0, 0]) };
    LAST_FAULT[cpu].with(|last| *last = Some(fault));
    frame.resume_at(pc, sp);
    true
}

fn take_fault() -> PageFaultInfo {
    LAST_FAULT[crate::smp::this_cpu()]
        .with(|last| last.take())
        .expect("a probe returned 'faulted' but no fault was recorded")
}

/// Reads the 64-bit word at `address`; `Err` holds the fault when the read faulted.
pub(crate) fn read(address: usize) -> Result<u64, PageFaultInfo> {
    let mut value = 0u64;
    // SAFETY: the probe only touches `address` (a fault there is recovered) and `value`.
    match unsafe { crate::arch::probe_read(address, &mut value) } {
        0 => Ok(value),
        _ => Err(take_fault()),
    }
}

/// Writes the 64-bit `value` at `address`; `Err` holds the fault when the write faulted.
///
/// # Safety
/// A write that succeeds must not clobber memory the kernel uses (the suite only probes its own
/// test mappings).
pub(crate) unsafe fn write(address: usize, value: u64) -> Result<(), PageFaultInfo> {
    // SAFETY: the caller vouches for the target; a fault there is recovered.
    match unsafe { crate::arch::probe_write(address, value) } {
        0 => Ok(()),
        _ => Err(take_fault()),
    }
}

/// Calls the code at `address` (which must be a lone return instruction, see
/// [`crate::arch::RETURN_INSTRUCTION`]); `Err` holds the fault when the fetch faulted.
///
/// # Safety
/// If the fetch succeeds, the bytes at `address` run as kernel code: they must be exactly the
/// return instruction.
pub(crate) unsafe fn execute(address: usize) -> Result<(), PageFaultInfo> {
    // SAFETY: the caller vouches for the code; a fetch fault is recovered.
    match unsafe { crate::arch::probe_execute(address) } {
        0 => Ok(()),
        _ => Err(take_fault()),
    }
}
