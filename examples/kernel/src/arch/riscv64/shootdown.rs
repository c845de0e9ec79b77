//! TLB shootdown on RISC-V: this hart fences itself with `sfence.vma` (by ASID where the table
//! has one), the other harts are fenced by one SBI RFENCE call (SBI v1.0 §8: `remote_sfence_vma`
//! / `remote_sfence_vma_asid`), which returns once every target hart has executed it (OpenSBI
//! waits for their acknowledgement). No S-mode IPI handler is involved. (Svinval would let a
//! hart batch its own fences; QEMU 7.2's `virt` harts do not advertise it.)

use vmlayer_paging::{CpuMask, PagingArch, TlbFlush, TlbFlushRequest};

use crate::kernel_space::Arch;

/// Carries out `request` on this hart, and on every hart of `others` in one call.
///
/// This hart fences even when it does not run the table (`local` false): only `sfence.vma`
/// orders its own earlier page-table stores before its later implicit page-table reads
/// (privileged spec §4.2.1), and it may switch to the table later with an ASID and no fence.
pub(crate) fn shootdown(request: &TlbFlushRequest, local: bool, others: CpuMask) {
    let _ = local;
    <Arch as PagingArch>::flush_tlb_local(request);
    if others.is_empty() {
        return;
    }
    // A fence with an ASID spares global (kernel) entries: only for a change without them.
    let asid = (request.asid != 0 && !request.global_changed).then_some(usize::from(request.asid));
    // A fence by address covers leaf entries only: changed tables need the full form, which
    // SBI spells `size = usize::MAX`.
    let (start, size) = match request.flush {
        _ if request.tables_changed => (0, usize::MAX),
        TlbFlush::All => (0, usize::MAX),
        TlbFlush::Page(vaddr) => (vaddr.as_usize() & !0xfff, 0x1000),
        TlbFlush::Range { start, end } => (start.as_usize(), end.as_usize() - start.as_usize()),
    };
    if let Err(error) = super::smp::remote_sfence_vma(others.word(0), start, size, asid) {
        crate::trap::unexpected(format_args!("SBI remote fence failed: error {error}"));
    }
}

/// Runs `f`: this kernel never enables interrupts on this ISA, so they are masked already.
pub(crate) fn with_interrupts_masked<R>(f: impl FnOnce() -> R) -> R {
    f()
}
