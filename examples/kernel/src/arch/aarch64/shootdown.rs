//! TLB shootdown on AArch64: no IPI. When another CPU may cache the table, the broadcast forms
//! (`TLBI VAE1IS` / `ASIDE1IS` by ASID, `VAAE1IS` / `VMALLE1IS` for global changes) between
//! `DSB ISHST` and `DSB ISH` reach every CPU of the Inner Shareable domain and complete before
//! the `DSB ISH` does (Arm ARM D8.13 "TLB maintenance"); when only this CPU does, the local
//! forms (`TLBI VAE1` …, `DSB NSH`) suffice and no other CPU is disturbed.

use vmlayer_paging::isa::tlb;
use vmlayer_paging::{CpuMask, TlbFlushRequest};

/// Carries out `request` on this CPU if `local`, and on every CPU of `others`.
pub(crate) fn shootdown(request: &TlbFlushRequest, local: bool, others: CpuMask) {
    if !others.is_empty() {
        tlb::flush_broadcast(request);
    } else if local {
        tlb::flush_this_cpu(request);
    }
}

/// Runs `f`: this kernel never enables interrupts on this ISA, so they are masked already.
pub(crate) fn with_interrupts_masked<R>(f: impl FnOnce() -> R) -> R {
    f()
}
