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
//! - `sfence.vma va, asid` / `sfence.vma x0, asid` (rs2 ≠ x0) do the same for the one address
//!   space whose ASID is in rs2, **except global mappings**, which they never drop.
//!
//! Hence [`flush_plan`]: a full fence when the request is [`TlbFlush::All`] or says
//! `tables_changed`, else one fence by address per 4 KiB page; tagged with the request's ASID
//! when it has one and no global translation changed, else with rs2 = x0 (every address space,
//! global entries included). A request with ASID 0 (a space without an ASID) always uses x0:
//! rs2 must be x0, not a register holding 0, to reach global entries and every ASID.
//!
//! # ASIDs
//!
//! A space that runs with an ASID ([`crate::satp`]'s switch with a non-zero `satp.ASID`, no
//! fence) keeps its translations across switches, so a flush of its table must reach them
//! whether or not this hart runs it now: a fence with its ASID does exactly that. Its leaves
//! are never global (`vmlayer_arch::PagingArch::non_global`), so an ASID fence drops all of
//! them. (Upstream passes ASID 0 in a register for its page flush, which by the spec matches
//! only ASID 0 and skips global entries.)
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
    /// `sfence.vma page, rs2` for each 4 KiB page of `[start, end)`.
    FencePages {
        /// First page (4 KiB aligned).
        start: VirtAddr,
        /// One past the last byte to cover.
        end: VirtAddr,
        /// rs2: the ASID, or `None` for x0 (every address space, global entries included).
        asid: Option<u16>,
    },
    /// `sfence.vma x0, rs2`: every translation (all levels) of the ASID, or of everything with
    /// `None` (x0).
    FenceAll {
        /// rs2, as in [`FlushPlan::FencePages`].
        asid: Option<u16>,
    },
}

/// The plan for `request` (see the module docs for the rules).
///
/// ```
/// use vmlayer_arch::{PhysAddr, TlbFlush, TlbFlushRequest, VirtAddr};
/// use vmlayer_riscv64::tlb::{FlushPlan, flush_plan};
///
/// let mut request = TlbFlushRequest::new(PhysAddr::from(0x8000_0000), TlbFlush::Page(VirtAddr::from(0x1000)));
/// let fence_page = |asid| FlushPlan::FencePages {
///     start: VirtAddr::from(0x1000),
///     end: VirtAddr::from(0x1fff),
///     asid,
/// };
/// assert_eq!(flush_plan(&request), fence_page(None));
/// request.asid = 5;
/// assert_eq!(flush_plan(&request), fence_page(Some(5)));
/// request.tables_changed = true;
/// assert_eq!(flush_plan(&request), FlushPlan::FenceAll { asid: Some(5) });
/// request.global_changed = true;
/// assert_eq!(flush_plan(&request), FlushPlan::FenceAll { asid: None });
/// ```
pub const fn flush_plan(request: &TlbFlushRequest) -> FlushPlan {
    let asid = if request.asid != 0 && !request.global_changed {
        Some(request.asid)
    } else {
        None
    };
    if request.tables_changed {
        return FlushPlan::FenceAll { asid };
    }
    match request.flush {
        TlbFlush::Page(vaddr) => {
            let start = vaddr.as_usize() & !0xfff;
            FlushPlan::FencePages {
                start: VirtAddr::from_usize(start),
                end: VirtAddr::from_usize(start + 0xfff),
                asid,
            }
        }
        TlbFlush::Range { start, end } => FlushPlan::FencePages {
            start: VirtAddr::from_usize(start.as_usize() & !0xfff),
            end,
            asid,
        },
        TlbFlush::All => FlushPlan::FenceAll { asid },
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

/// `sfence.vma vaddr, asid`: the non-global leaf translation of one page in one address space.
#[inline]
pub fn flush_page_asid(vaddr: VirtAddr, asid: u16) {
    #[cfg(target_os = "none")]
    // SAFETY: as in `flush_page`.
    unsafe {
        core::arch::asm!(
            sfence_page_asid!(),
            in(reg) vaddr.as_usize(),
            in(reg) usize::from(asid),
            options(nostack),
        );
    }
    #[cfg(not(target_os = "none"))]
    let _ = (vaddr, asid);
}

/// `sfence.vma x0, asid`: every non-global translation of one address space, all levels.
#[inline]
pub fn flush_asid(asid: u16) {
    #[cfg(target_os = "none")]
    // SAFETY: as in `flush_page`.
    unsafe {
        core::arch::asm!(sfence_asid!(), in(reg) usize::from(asid), options(nostack));
    }
    #[cfg(not(target_os = "none"))]
    let _ = asid;
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
        FlushPlan::FencePages {
            start,
            end,
            asid: None,
        } => vmlayer_arch::tlb::pages_in(start, end).for_each(flush_page),
        FlushPlan::FencePages {
            start,
            end,
            asid: Some(asid),
        } => vmlayer_arch::tlb::pages_in(start, end).for_each(|page| flush_page_asid(page, asid)),
        FlushPlan::FenceAll { asid: None } => flush_all(),
        FlushPlan::FenceAll { asid: Some(asid) } => flush_asid(asid),
    }
}

/// Carries out `request` on this hart: [`execute`] of [`flush_plan`].
pub fn flush_local(request: &TlbFlushRequest) {
    execute(flush_plan(request));
}
