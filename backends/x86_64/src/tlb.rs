//! Which TLB instructions carry out a [`TlbFlushRequest`], as a pure function (tested on any
//! host); `PagingArch::flush_tlb_local` executes the plan on bare metal.
//!
//! The rules (Intel SDM Vol. 3A, §4.10.4.1 "Operations that Invalidate TLBs and
//! Paging-Structure Caches"):
//!
//! - `INVLPG` invalidates the TLB entries for the page, **global ones included**, and all
//!   paging-structure-cache entries (every level), so a by-address flush needs nothing more when
//!   tables changed (`tables_changed`) or global leaves changed (`global_changed`).
//! - `MOV to CR3` (PCID 0 here, `CR4.PCIDE = 0`) invalidates every non-global TLB entry and
//!   every paging-structure-cache entry.
//! - `MOV to CR4` that changes `CR4.PGE` invalidates every TLB entry, global ones included, and
//!   every paging-structure-cache entry. With `CR4.PGE = 0` the G bit is ignored (§4.10.2.4
//!   "Global Pages"): no entry is global and a CR3 reload drops everything.

use memory_addr::VirtAddr;
use vmlayer_arch::{TlbFlush, TlbFlushRequest};

#[cfg(test)]
mod tests;

/// The instructions one flush executes on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPlan {
    /// `INVLPG` for each 4 KiB page of `[start, end)` (see [`vmlayer_arch::tlb::pages_in`]);
    /// `start` is page aligned.
    InvalidatePages {
        /// The first page.
        start: VirtAddr,
        /// One past the last byte to cover.
        end: VirtAddr,
    },
    /// Reload CR3 with its value: every non-global entry.
    ReloadCr3,
    /// Clear then restore `CR4.PGE` if it is set (every entry, global ones included), else
    /// reload CR3 (nothing is global then).
    ToggleGlobalPages,
}

/// The plan for `request`: pages by `INVLPG` (whatever `tables_changed` and `global_changed`
/// say, since `INVLPG` covers both), everything by a CR3 reload, or by toggling `CR4.PGE` when
/// global entries changed.
///
/// ```
/// use vmlayer_arch::{PhysAddr, TlbFlush, TlbFlushRequest, VirtAddr};
/// use vmlayer_x86_64::tlb::{FlushPlan, flush_plan};
///
/// let mut request = TlbFlushRequest::new(PhysAddr::from(0x1000), TlbFlush::All);
/// assert_eq!(flush_plan(&request), FlushPlan::ReloadCr3);
/// request.global_changed = true;
/// assert_eq!(flush_plan(&request), FlushPlan::ToggleGlobalPages);
/// ```
pub const fn flush_plan(request: &TlbFlushRequest) -> FlushPlan {
    match request.flush {
        TlbFlush::Page(vaddr) => {
            let start = vaddr.as_usize() & !0xfff;
            FlushPlan::InvalidatePages {
                start: VirtAddr::from_usize(start),
                end: VirtAddr::from_usize(start.wrapping_add(0x1000).wrapping_sub(1)),
            }
        }
        TlbFlush::Range { start, end } => FlushPlan::InvalidatePages {
            start: VirtAddr::from_usize(start.as_usize() & !0xfff),
            end,
        },
        TlbFlush::All if request.global_changed => FlushPlan::ToggleGlobalPages,
        TlbFlush::All => FlushPlan::ReloadCr3,
    }
}
