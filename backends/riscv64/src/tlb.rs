//! TLB maintenance with `sfence.vma`.
//!
//! # ASIDs
//!
//! Every address space runs with ASID 0 ([`crate::satp`] writes `satp.ASID = 0`), so the TLB
//! never holds two address spaces' translations tagged apart, and:
//!
//! - a page or range flush is `sfence.vma va, x0`: that virtual address in **all** address
//!   spaces, global entries included (upstream passes ASID 0 in a register, which by the spec
//!   matches only ASID 0 and skips global entries);
//! - a full flush is `sfence.vma x0, x0`: everything, global entries included;
//! - switching `satp` is followed by a full flush.
//!
//! A by-address `sfence.vma` is only guaranteed to cover **leaf** entries: after changing or
//! freeing a non-leaf entry (table reclamation) the caller must request [`TlbFlush::All`].
//!
//! `sfence.vma` acts on the executing hart only; other harts are reached through the kernel's
//! flush hook (`paging_arch::set_tlb_flush_hook`), e.g. with an SBI remote fence.
//!
//! Only bare-metal builds (`target_os = "none"`) execute the instruction; elsewhere (hosted unit
//! tests under qemu-user, where it would be an illegal instruction) every function is a no-op.

use memory_addr::VirtAddr;
use paging_arch::TlbFlush;

/// Drops the translation of the page (or superpage) containing `vaddr`, in every address space:
/// `sfence.vma vaddr, x0`.
#[inline]
pub fn flush_page(vaddr: VirtAddr) {
    #[cfg(target_os = "none")]
    // SAFETY: `sfence.vma` only orders page-table accesses and drops cached translations; a
    // bare-metal build of this crate runs in S-mode, where the instruction is permitted.
    unsafe {
        core::arch::asm!(sfence_page!(), in(reg) vaddr.as_usize(), options(nostack));
    }
    #[cfg(not(target_os = "none"))]
    let _ = vaddr;
}

/// Drops every translation of every address space, global ones included: `sfence.vma x0, x0`.
#[inline]
pub fn flush_all() {
    #[cfg(target_os = "none")]
    // SAFETY: as in `flush_page`.
    unsafe {
        core::arch::asm!(sfence_all!(), options(nostack));
    }
}

/// Carries out `flush` on this hart: one `sfence.vma` per 4 KiB page of a range, or a full
/// flush.
pub fn flush_local(flush: TlbFlush) {
    match flush {
        TlbFlush::Page(vaddr) => flush_page(vaddr),
        TlbFlush::Range { start, end } => {
            paging_arch::tlb::pages_in(start, end).for_each(flush_page)
        }
        TlbFlush::All => flush_all(),
    }
}
