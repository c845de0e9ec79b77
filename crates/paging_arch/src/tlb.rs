//! TLB maintenance requests and the replaceable flush hook.
//!
//! The page-table code never executes a TLB instruction itself. After every change to a table
//! it builds a [`TlbFlushRequest`] and hands it to [`flush`], which calls the installed hook if
//! there is one (a kernel installs an SMP shootdown hook with [`set_tlb_flush_hook`]) or else the
//! ISA's local flush ([`PagingArch::flush_tlb_local`]), which hosted builds compile as a no-op.

use memory_addr::{PhysAddr, VirtAddr};

use crate::hook::HookSlot;
use crate::{CpuMask, PagingArch};

/// A range with more pages than this is flushed as a whole address space instead of page by
/// page (the same order of magnitude Linux uses: `tlb_single_page_flush_ceiling` = 33).
pub const FLUSH_ALL_THRESHOLD_PAGES: usize = 32;

/// What must be dropped from the TLBs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlbFlush {
    /// The translation of the 4 KiB page (or the huge page) containing this address.
    Page(VirtAddr),
    /// Every translation in `[start, end)`; at most [`FLUSH_ALL_THRESHOLD_PAGES`] pages.
    Range {
        /// First address, 4 KiB aligned.
        start: VirtAddr,
        /// One past the last address, 4 KiB aligned.
        end: VirtAddr,
    },
    /// Every translation of the address space. Whether translations marked global (kernel
    /// leaves: RISC-V `G`, AArch64 `nG = 0`) must go too is said by
    /// [`TlbFlushRequest::global_changed`].
    All,
}

impl TlbFlush {
    /// The cheapest request that covers `[start, end)`: one page, a range, or everything past
    /// [`FLUSH_ALL_THRESHOLD_PAGES`]. `None` for an empty range.
    ///
    /// ```
    /// use vmlayer_arch::{TlbFlush, VirtAddr};
    ///
    /// let va = |a: usize| VirtAddr::from(a);
    /// assert_eq!(TlbFlush::covering(va(0x1000), va(0x1000)), None);
    /// assert_eq!(TlbFlush::covering(va(0x1000), va(0x2000)), Some(TlbFlush::Page(va(0x1000))));
    /// assert_eq!(
    ///     TlbFlush::covering(va(0x1000), va(0x3000)),
    ///     Some(TlbFlush::Range { start: va(0x1000), end: va(0x3000) })
    /// );
    /// assert_eq!(TlbFlush::covering(va(0), va(0x10_0000)), Some(TlbFlush::All));
    /// ```
    pub fn covering(start: VirtAddr, end: VirtAddr) -> Option<Self> {
        let (start_usize, end_usize) = (start.as_usize(), end.as_usize());
        if end_usize <= start_usize {
            return None;
        }
        let pages = (end_usize - start_usize).div_ceil(0x1000);
        Some(if pages == 1 {
            Self::Page(start)
        } else if pages <= FLUSH_ALL_THRESHOLD_PAGES {
            Self::Range { start, end }
        } else {
            Self::All
        })
    }
}

/// The 4 KiB pages a by-address flush of `[start, end)` visits: the page containing `start`,
/// then every page start below `end`. Each ISA's range flush iterates this.
///
/// ```
/// use vmlayer_arch::{VirtAddr, tlb::pages_in};
///
/// let pages: Vec<_> = pages_in(VirtAddr::from(0x1800), VirtAddr::from(0x3001)).collect();
/// assert_eq!(pages, [VirtAddr::from(0x1000), VirtAddr::from(0x2000), VirtAddr::from(0x3000)]);
/// let top = usize::MAX & !0xfff;
/// assert_eq!(pages_in(VirtAddr::from(top), VirtAddr::from(usize::MAX)).count(), 1);
/// ```
pub fn pages_in(start: VirtAddr, end: VirtAddr) -> impl Iterator<Item = VirtAddr> {
    (start.as_usize() & !0xfff..end.as_usize())
        .step_by(0x1000)
        .map(VirtAddr::from)
}

/// One flush, with the page table it concerns and the CPUs that may cache its translations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlbFlushRequest {
    /// Physical address of the root table that was changed.
    pub root_paddr: PhysAddr,
    /// The ASID (x86: PCID) the table's non-global translations are tagged with; 0 for a table
    /// that runs without one (ASID 0 is never handed out to an address space). A flush by ASID
    /// drops only that ASID's entries, so a CPU may carry it out while it runs another space.
    pub asid: u16,
    /// The CPUs that may hold translations of this table: those that switched to it through
    /// `vmlayer_paging`'s `CpuContext` and have not dropped them since, read after the entries
    /// were written. A shootdown hook flushes on exactly these CPUs: none at all if the set is
    /// empty (nobody ran the table), only locally if it holds only the current CPU. A kernel
    /// that switches roots without `CpuContext` must ignore it and flush everywhere.
    pub cpus: CpuMask,
    /// Which translations to drop.
    pub flush: TlbFlush,
    /// Non-leaf entries changed in the range (a table linked or unlinked, a huge leaf split
    /// into a table or a table replaced): cached non-leaf entries (paging-structure / walk
    /// caches) must go too. On RISC-V this makes the fence a full `sfence.vma x0, x0`, because
    /// a fence by address only covers leaf entries (privileged spec, "Supervisor
    /// Memory-Management Fence Instruction"); x86 `INVLPG` and AArch64 `TLBI VAAE1IS` already
    /// cover every level for the address.
    pub tables_changed: bool,
    /// Global translations (kernel leaves: RISC-V `G = 1`, AArch64 `nG = 0`) may be among
    /// those that changed, so a flush must not spare global entries (RISC-V: no ASID operand;
    /// AArch64: the all-ASID forms; x86: `CR4.PGE` toggled for a full flush).
    pub global_changed: bool,
}

impl TlbFlushRequest {
    /// A request for `flush` in the table at `root_paddr` that changed only leaf entries of
    /// user (non-global) pages, without an ASID and with no CPU known to cache it.
    ///
    /// ```
    /// use vmlayer_arch::{CpuMask, PhysAddr, TlbFlush, TlbFlushRequest};
    ///
    /// let request = TlbFlushRequest::new(PhysAddr::from(0x8000), TlbFlush::All);
    /// assert!(!request.tables_changed && !request.global_changed);
    /// assert_eq!((request.asid, request.cpus), (0, CpuMask::EMPTY));
    /// ```
    pub const fn new(root_paddr: PhysAddr, flush: TlbFlush) -> Self {
        Self {
            root_paddr,
            asid: 0,
            cpus: CpuMask::EMPTY,
            flush,
            tables_changed: false,
            global_changed: false,
        }
    }
}

/// A function that carries out a flush request: typically flushes locally with
/// [`PagingArch::flush_tlb_local`] if the current CPU is in `request.cpus`, and makes every
/// other CPU of `request.cpus` do the same (x86: an IPI; RISC-V: SBI RFENCE; AArch64: the
/// broadcast `TLBI …IS` forms, no IPI), in one round for the whole request.
///
/// # Contract
///
/// The page-table code calls it after the page-table entries were written and **before** the
/// page-table pages and frames that the change released go back to the frame allocator. So it
/// must return only when the invalidation has **completed on every CPU** that may still use the
/// old translations (acknowledged IPIs; on AArch64 the `DSB ISH` after the broadcast `TLBI`
/// does this). Returning earlier lets a CPU keep reading or writing a frame that the allocator
/// has already handed to someone else. It must not call back into the page table being changed.
pub type TlbFlushHook = fn(&TlbFlushRequest);

/// The installed hook; empty means the local operation.
// SAFETY: `TlbFlushHook` is a function-pointer type.
static HOOK: HookSlot<TlbFlushHook> = unsafe { HookSlot::new() };

/// Installs `hook` for every page table in the system, replacing any previous one, or restores
/// the default local flush with `None`.
pub fn set_tlb_flush_hook(hook: Option<TlbFlushHook>) {
    HOOK.set(hook);
}

/// The installed hook, if any.
pub fn tlb_flush_hook() -> Option<TlbFlushHook> {
    HOOK.get()
}

/// Carries out `request`: through the installed hook, or else with `A`'s local flush.
pub fn flush<A: PagingArch>(request: &TlbFlushRequest) {
    match tlb_flush_hook() {
        Some(hook) => hook(request),
        None => A::flush_tlb_local(request),
    }
}
