//! TLB shootdown on x86_64: this CPU flushes itself (INVLPG / INVPCID / CR3, by the request's
//! PCID), each other CPU gets the request in its slot (`crate::smp::post_shootdown`) and a
//! fixed-delivery IPI (`smp::send_ipi`), flushes in the interrupt handler and acknowledges;
//! the sender waits for every acknowledgement (Intel SDM Vol. 3A §4.10.5 "Propagation of
//! Paging-Structure Changes to Multiple Processors": the initiator must wait until every other
//! processor has invalidated before it reuses the memory).

use vmlayer_paging::{CpuMask, PagingArch, TlbFlushRequest};

use crate::kernel_space::Arch;

/// Carries out `request` on this CPU if `local`, and on every CPU of `others`, in one round.
pub(crate) fn shootdown(request: &TlbFlushRequest, local: bool, others: CpuMask) {
    if local {
        <Arch as PagingArch>::flush_tlb_local(request);
    }
    if others.is_empty() {
        return;
    }
    crate::smp::post_shootdown(request, others);
    for cpu in others.iter() {
        super::smp::send_ipi(cpu);
    }
    crate::smp::wait_acknowledged(others);
}

/// Runs `f` with interrupts masked on this CPU and restores `RFLAGS.IF` afterwards. The
/// application processors run their jobs with interrupts on (to take shootdown IPIs), so the
/// polling side of `crate::smp::serve_pending` masks them: the IPI's handler must not serve a
/// slot the interrupted loop is serving.
pub(crate) fn with_interrupts_masked<R>(f: impl FnOnce() -> R) -> R {
    let flags: u64;
    // SAFETY: reads RFLAGS through the stack (balanced push/pop) and clears IF; no memory
    // the compiler knows of is touched.
    unsafe { core::arch::asm!("pushfq", "pop {}", "cli", out(reg) flags, options(nomem)) };
    let result = f();
    if flags & (1 << 9) != 0 {
        // SAFETY: interrupts were on before: turning them back on restores the caller's state.
        unsafe { core::arch::asm!("sti", options(nomem, nostack)) };
    }
    result
}
