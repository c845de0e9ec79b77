//! TLB maintenance with `sfence.vma`.
//!
//! # The rules (RISC-V Privileged Architecture, §4.2.1 "Supervisor Memory-Management Fence
//! Instruction")
//!
//! - `sfence.vma x0, x0` orders all earlier page-table stores before later implicit accesses
//!   and invalidates every cached translation, leaf and non-leaf, of every address space,
//!   global entries included.
//! - `sfence.vma va, x0` does so "only for the leaf page table entries corresponding to the
//!   virtual address in rs1", in every address space, global entries included. Cached
//!   **non-leaf** entries are not guaranteed to be dropped, so after a non-leaf entry changed (a
//!   table linked or unlinked, a superpage split into a table) only the full form is correct.
//!
//! Hence [`flush_plan`]: a full fence when the request is [`TlbFlush::All`] or says
//! `tables_changed`, else one fence by address per 4 KiB page. `global_changed` needs nothing
//! more: no fence of this crate passes an ASID (rs2 is always x0), so none spares global
//! entries.
//!
//! # ASIDs
//!
//! Every address space runs with ASID 0 ([`crate::satp`] writes `satp.ASID = 0`), so the TLB
//! never holds two address spaces' translations tagged apart; switching `satp` is followed by a
//! full fence. (Upstream passes ASID 0 in a register for its page flush, which by the spec
//! matches only ASID 0 and skips global entries.)
//!
//! `sfence.vma` acts on the executing hart only; other harts are reached through the kernel's
//! flush hook (`vmlayer_arch::set_tlb_flush_hook`), e.g. with an SBI remote fence.
//!
//! Only bare-metal builds (`target_os = "none"`) execute the instruction; elsewhere (hosted unit
//! tests under qemu-user, where it would be an illegal instruction) every function is a no-op.

use memory_addr::VirtAddr;
use vmlayer_arch::{TlbFlush, TlbFlushRequest};

#[cfg(test)]
mod tests;

/// The fences one flush executes on this hart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPlan {
    /// `sfence.vma va, x0` for each 4 KiB page of `[start, end)` (see
    /// [`vmlayer_arch::tlb::pages_in`]): leaf entries of those addresses only.
    FencePages {
        /// The first page, 4 KiB aligned.
        start: VirtAddr,
        /// One past the last byte to cover.
        end: VirtAddr,
    },
    /// `sfence.vma x0, x0`: every entry, leaf and non-leaf, global ones included.
    FenceAll,
}

/// The plan for `request` (see the module docs for the rules).
///
/// ```
/// use vmlayer_arch::{PhysAddr, TlbFlush, TlbFlushRequest, VirtAddr};
/// use vmlayer_riscv64::tlb::{FlushPlan, flush_plan};
///
/// let mut request = TlbFlushRequest::new(PhysAddr::from(0x8000_0000), TlbFlush::Page(VirtAddr::from(0x1000)));
/// assert_eq!(
///     flush_plan(&request),
///     FlushPlan::FencePages { start: VirtAddr::from(0x1000), end: VirtAddr::from(0x1fff) }
/// );
/// request.tables_changed = true;
/// assert_eq!(flush_plan(&request), FlushPlan::FenceAll);
/// ```
pub const fn flush_plan(request: &TlbFlushRequest) -> FlushPlan {
    if request.tables_changed {
        return FlushPlan::FenceAll;
    }
    match request.flush {
        TlbFlush::Page(vaddr) => {
            let start = vaddr.as_usize() & !0xfff;
            FlushPlan::FencePages {
                start: VirtAddr::from_usize(start),
                end: VirtAddr::from_usize(start + 0xfff),
            }
        }
        TlbFlush::Range { start, end } => FlushPlan::FencePages {
            start: VirtAddr::from_usize(start.as_usize() & !0xfff),
            end,
        },
        TlbFlush::All => FlushPlan::FenceAll,
    }
}

/// Drops the leaf translation of the page (or superpage) containing `vaddr`, in every address
/// space: `sfence.vma vaddr, x0`.
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

/// Drops every translation of every address space, leaf and non-leaf, global ones included:
/// `sfence.vma x0, x0`.
#[inline]
pub fn flush_all() {
    #[cfg(target_os = "none")]
    // SAFETY: as in `flush_page`.
    unsafe {
        core::arch::asm!(sfence_all!(), options(nostack));
    }
}

/// Executes `plan` on this hart (a no-op on hosted builds).
pub fn execute(plan: FlushPlan) {
    match plan {
        FlushPlan::FencePages { start, end } => {
            vmlayer_arch::tlb::pages_in(start, end).for_each(flush_page)
        }
        FlushPlan::FenceAll => flush_all(),
    }
}

/// Carries out `request` on this hart: [`execute`] of [`flush_plan`].
pub fn flush_local(request: &TlbFlushRequest) {
    execute(flush_plan(request));
}
