//! TLB maintenance and deferred frees for one page-table operation.
//!
//! Every operation that changes a table records what changed here: the virtual range of changed
//! translations ([`Batch::touch`]), whether a table was linked ([`Batch::table_linked`]) or
//! unlinked ([`Batch::table_unlinked`]), and whether a global (kernel) translation was among
//! them ([`Batch::touch_global`]). Frames it releases (data frames and emptied table pages) go
//! to [`Batch::release`], **after** the change that released them was recorded. They return to
//! the allocator only after a flush request that covers every address that could still
//! translate to them: when the batch is full, at [`Batch::finish`] or on drop, so a flush cannot
//! be forgotten.
//!
//! One operation sends one flush request, however many frames it releases (so a shootdown costs
//! one round per operation, not one per page): past the 256 inline slots, released frames are
//! written into spill pages taken from `H` (511 frames each, chained), returned to `H` right
//! after the frees. Only if `H` has no frame for a spill page does the batch flush early.
//!
//! An early flush (no spill page, or break-before-make) keeps what was recorded: the final flush
//! covers the whole operation again, so a frame released after an early flush is still covered
//! by the flush that frees it.

use alloc::sync::Arc;
use core::marker::PhantomData;
use core::mem::MaybeUninit;

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::PagingHandler;
use vmlayer_arch::{CpuMask, PagingArch, TlbFlush, TlbFlushHook, TlbFlushRequest};

use crate::cpu::TableTlb;
use crate::frames::FrameTable;

/// Frames held back in the batch itself until the next flush (2 KiB of stack); more go to
/// spill pages.
pub(crate) const PENDING_CAPACITY: usize = 256;

/// Frames one spill page holds: its first word links the previous spill page.
const SPILL_CAPACITY: usize = 4096 / 8 - 1;

/// What becomes of the frames that the leaves of an unmapped range point to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeafFrames {
    /// Not the table's: nothing (Linear areas, device memory).
    Borrowed,
    /// The table's backend allocated them from `H`: freed to `H` after the flush.
    Owned,
    /// Someone else's (a kernel's own backend): handed to the batch's sink after the flush.
    Returned,
}

/// Marks a pending frame for the sink instead of `H` (frames are 4 KiB aligned, bit 0 is free).
const SINK_TAG: usize = 1;

/// The flushes and frees of one operation on the table rooted at `root`.
pub(crate) struct Batch<'s, A: PagingArch, H: PagingHandler> {
    root: PhysAddr,
    hook: Option<TlbFlushHook>,
    /// Where [`LeafFrames::Returned`] frames go after the flush.
    sink: Option<&'s mut dyn FnMut(PhysAddr)>,
    /// The counts of shared frames: a released frame goes back to `H` only if it was its last
    /// mapping.
    frames: Option<&'static FrameTable>,
    /// The table's CPU set and ASID, read when a request is sent (a pointer: the batch lives
    /// inside one operation on the table, which keeps the `Arc` alive, while the operation
    /// borrows the table mutably).
    tlb: *const TableTlb,
    /// Send the requests to this CPU only (if it may cache the table): a spurious fault's.
    only_cpu: Option<usize>,
    /// Changed virtual range `[low, high)`; empty when `low >= high`.
    low: usize,
    high: usize,
    /// A table page was unlinked (and may be freed): flush everything, walk caches included.
    flush_all: bool,
    /// A non-leaf entry changed (a table linked or unlinked, a huge leaf replaced).
    tables_changed: bool,
    /// A global (kernel, non-`USER`) translation changed.
    global_changed: bool,
    /// The first `pending_len` are initialized.
    pending: [MaybeUninit<PhysAddr>; PENDING_CAPACITY],
    pending_len: usize,
    /// The spill page being filled (its physical address), 0 if none; each links the previous
    /// one in its first word (0 ends the chain).
    spill: usize,
    /// Frames in the spill page being filled.
    spill_len: usize,
    _marker: PhantomData<(A, fn() -> H)>,
}

impl<'s, A: PagingArch, H: PagingHandler> Batch<'s, A, H> {
    /// An empty batch for the table at `root`; `hook` overrides the global flush hook.
    pub(crate) fn new(
        root: PhysAddr,
        hook: Option<TlbFlushHook>,
        frames: Option<&'static FrameTable>,
        tlb: &Arc<TableTlb>,
    ) -> Self {
        Self {
            root,
            hook,
            sink: None,
            frames,
            tlb: Arc::as_ptr(tlb),
            only_cpu: None,
            low: usize::MAX,
            high: 0,
            flush_all: false,
            tables_changed: false,
            global_changed: false,
            pending: [const { MaybeUninit::uninit() }; PENDING_CAPACITY],
            pending_len: 0,
            spill: 0,
            spill_len: 0,
            _marker: PhantomData,
        }
    }

    /// Whether kernel leaves are global in this table (only in the kernel space's).
    #[inline(always)]
    pub(crate) fn global_leaves(&self) -> bool {
        self.table_tlb().kernel
    }

    fn table_tlb(&self) -> &TableTlb {
        // SAFETY: `tlb` points into the `Arc` of the table this batch works on, which outlives
        // the batch (created and finished inside one operation on the table); `TableTlb` is
        // only read through shared references (atomics).
        unsafe { &*self.tlb }
    }

    /// Limits the requests to `cpu`: only it may hold the entries to drop (a spurious fault's
    /// stale entry). Nothing is freed after such a request.
    pub(crate) fn only_on(&mut self, cpu: usize) {
        self.only_cpu = Some(cpu);
    }

    /// Records that the translations of `[start, start + size)` changed.
    #[inline]
    pub(crate) fn touch(&mut self, start: usize, size: usize) {
        self.low = self.low.min(start);
        self.high = self.high.max(start.saturating_add(size));
    }

    /// Records that a global (kernel) translation may have changed: a kernel leaf (without
    /// `USER`), which is global only in a kernel space's table ([`Self::global_leaves`]); in
    /// any other table it is tagged with the table's ASID and needs no all-ASID flush.
    #[inline]
    pub(crate) fn touch_global(&mut self) {
        if self.global_leaves() {
            self.global_changed = true;
        }
    }

    /// Records that global translations may have changed whatever the table (a drop that
    /// frees the shared kernel tables).
    pub(crate) fn force_global(&mut self) {
        self.global_changed = true;
    }

    /// Records that a table was linked or a huge leaf replaced by a table (non-leaf entries
    /// changed in the touched range).
    #[inline]
    pub(crate) fn table_linked(&mut self) {
        self.tables_changed = true;
    }

    /// Records that a table page was unlinked: paging-structure caches must go everywhere.
    pub(crate) fn table_unlinked(&mut self) {
        self.flush_all = true;
        self.tables_changed = true;
    }

    /// Sends the frames released with [`LeafFrames::Returned`] to `sink`, each after the flush
    /// that covers it.
    pub(crate) fn set_sink(&mut self, sink: &'s mut dyn FnMut(PhysAddr)) {
        self.sink = Some(sink);
    }

    /// Releases the 4 KiB frame of an unmapped leaf as `frames` says.
    #[inline]
    pub(crate) fn release_leaf(&mut self, paddr: PhysAddr, frames: LeafFrames) {
        match frames {
            LeafFrames::Borrowed => {}
            LeafFrames::Owned => self.release(paddr),
            LeafFrames::Returned => self.release(paddr + SINK_TAG),
        }
    }

    /// Hands the 4 KiB frame at `paddr` back to the allocator after the next flush. The change
    /// that stopped the table from using it must already be recorded.
    #[inline]
    pub(crate) fn release(&mut self, paddr: PhysAddr) {
        debug_assert!(
            self.flush_all || self.low < self.high,
            "a frame released before its change was recorded"
        );
        if self.pending_len < PENDING_CAPACITY {
            self.pending[self.pending_len] = MaybeUninit::new(paddr);
            self.pending_len += 1;
            return;
        }
        if (self.spill == 0 || self.spill_len == SPILL_CAPACITY) && !self.new_spill_page() {
            // No frame to hold more: flush now (what was recorded stays recorded).
            self.flush();
            self.pending[0] = MaybeUninit::new(paddr);
            self.pending_len = 1;
            return;
        }
        let slot = 1 + self.spill_len;
        self.spill_words()[slot] = paddr.as_usize();
        self.spill_len += 1;
    }

    /// Starts a spill page linked to the current one; `false` if `H` has no frame.
    #[cold]
    fn new_spill_page(&mut self) -> bool {
        let Some(page) = H::alloc_frame() else {
            return false;
        };
        let previous = self.spill;
        self.spill = page.as_usize();
        self.spill_len = 0;
        self.spill_words()[0] = previous;
        true
    }

    /// The words of the spill page being filled.
    fn spill_words(&mut self) -> &mut [usize; 512] {
        // SAFETY: `spill` is a frame `H` gave this batch, reachable at `phys_to_virt`, aligned
        // and used by nothing else (no table, no hardware: it was never mapped anywhere) until
        // the batch gives it back; the borrow ends with `&mut self`'s.
        unsafe {
            &mut *(H::phys_to_virt(PhysAddr::from(self.spill)).as_mut_ptr() as *mut [usize; 512])
        }
    }

    /// Frees one released frame (after the flush that covers it).
    #[inline]
    fn free(&mut self, paddr: PhysAddr) {
        if paddr.as_usize() & SINK_TAG == 0 {
            if self.frames.is_none_or(|frames| frames.release(paddr)) {
                H::dealloc_frame(paddr);
            }
        } else if let Some(sink) = self.sink.as_mut() {
            sink(paddr - SINK_TAG);
        } else {
            debug_assert!(false, "a returned frame without a sink");
        }
    }

    /// The request covering everything recorded so far, if anything was.
    fn request(&self) -> Option<TlbFlushRequest> {
        let flush = if self.flush_all {
            Some(TlbFlush::All)
        } else {
            TlbFlush::covering(VirtAddr::from(self.low), VirtAddr::from(self.high))
        }?;
        let (mut cpus, asid) = self.table_tlb().flush_target();
        if let Some(cpu) = self.only_cpu {
            cpus = match CpuMask::single(cpu) {
                Some(only) if cpus.contains(cpu) => only,
                _ => CpuMask::EMPTY,
            };
        }
        Some(TlbFlushRequest {
            root_paddr: self.root,
            asid,
            cpus,
            flush,
            tables_changed: self.tables_changed,
            global_changed: self.global_changed,
        })
    }

    /// Flushes everything recorded so far, then frees the pending frames. What was recorded
    /// stays recorded (see the module docs).
    pub(crate) fn flush(&mut self) {
        if let Some(request) = self.request() {
            match self.hook {
                Some(hook) => hook(&request),
                None => vmlayer_arch::tlb::flush::<A>(&request),
            }
        }
        for index in 0..self.pending_len {
            // SAFETY: `release` initialized every slot below `pending_len`.
            let paddr = unsafe { self.pending[index].assume_init() };
            self.free(paddr);
        }
        self.pending_len = 0;
        while self.spill != 0 {
            let words = *self.spill_words();
            for &paddr in &words[1..=self.spill_len] {
                self.free(PhysAddr::from(paddr));
            }
            H::dealloc_frame(PhysAddr::from(self.spill));
            self.spill = words[0];
            self.spill_len = SPILL_CAPACITY;
        }
    }

    /// Flushes and frees, then forgets what was recorded.
    fn complete(&mut self) {
        self.flush();
        self.low = usize::MAX;
        self.high = 0;
        self.flush_all = false;
        self.tables_changed = false;
        self.global_changed = false;
    }

    /// Ends the operation: flush and free. (By reference: moving the batch would copy its
    /// 2 KiB of pending slots, measurably, on every operation.)
    pub(crate) fn finish(&mut self) {
        self.complete();
    }
}

impl<A: PagingArch, H: PagingHandler> Drop for Batch<'_, A, H> {
    fn drop(&mut self) {
        self.complete();
    }
}
