//! TLB maintenance and deferred frees for one page-table operation.
//!
//! Every operation that changes a table records the changed virtual range here and hands the
//! frames it releases (data frames and emptied table pages) to [`Batch::release`]. They go back
//! to the allocator only after the TLB flush that stops every CPU from using them, which happens
//! when the batch is full, at [`Batch::finish`] or on drop, so a flush cannot be forgotten.

use core::marker::PhantomData;
use core::mem::MaybeUninit;

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::PagingHandler;
use paging_arch::{PagingArch, TlbFlush, TlbFlushHook, TlbFlushRequest};

/// Frames held back until the next flush; one more flushes early (2 KiB of stack).
const PENDING_CAPACITY: usize = 256;

/// The flushes and frees of one operation on the table rooted at `root`.
pub(crate) struct Batch<A: PagingArch, H: PagingHandler> {
    root: PhysAddr,
    hook: Option<TlbFlushHook>,
    /// Changed virtual range `[low, high)`; empty when `low >= high`.
    low: usize,
    high: usize,
    /// A table page was freed or replaced: flush everything (non-leaf caches).
    flush_all: bool,
    /// The first `pending_len` are initialized.
    pending: [MaybeUninit<PhysAddr>; PENDING_CAPACITY],
    pending_len: usize,
    _marker: PhantomData<(A, fn() -> H)>,
}

impl<A: PagingArch, H: PagingHandler> Batch<A, H> {
    /// An empty batch for the table at `root`; `hook` overrides the global flush hook.
    pub(crate) fn new(root: PhysAddr, hook: Option<TlbFlushHook>) -> Self {
        Self {
            root,
            hook,
            low: usize::MAX,
            high: 0,
            flush_all: false,
            pending: [const { MaybeUninit::uninit() }; PENDING_CAPACITY],
            pending_len: 0,
            _marker: PhantomData,
        }
    }

    /// Records that the translations of `[start, start + size)` changed.
    #[inline]
    pub(crate) fn touch(&mut self, start: usize, size: usize) {
        self.low = self.low.min(start);
        self.high = self.high.max(start.saturating_add(size));
    }

    /// Records that a table page was unlinked: paging-structure caches must go too.
    pub(crate) fn touch_all(&mut self) {
        self.flush_all = true;
    }

    /// Hands the 4 KiB frame at `paddr` back to the allocator after the next flush.
    #[inline]
    pub(crate) fn release(&mut self, paddr: PhysAddr) {
        if self.pending_len == PENDING_CAPACITY {
            self.flush();
        }
        self.pending[self.pending_len] = MaybeUninit::new(paddr);
        self.pending_len += 1;
    }

    /// Flushes what changed so far, then frees the pending frames.
    pub(crate) fn flush(&mut self) {
        let flush = if self.flush_all {
            Some(TlbFlush::All)
        } else {
            TlbFlush::covering(VirtAddr::from(self.low), VirtAddr::from(self.high))
        };
        if let Some(flush) = flush {
            let request = TlbFlushRequest {
                root_paddr: self.root,
                flush,
                tables_changed: self.flush_all,
                global_changed: true,
            };
            match self.hook {
                Some(hook) => hook(&request),
                None => paging_arch::tlb::flush::<A>(&request),
            }
        }
        self.low = usize::MAX;
        self.high = 0;
        self.flush_all = false;
        for slot in &self.pending[..self.pending_len] {
            // SAFETY: `release` initialized every slot below `pending_len`.
            H::dealloc_frame(unsafe { slot.assume_init() });
        }
        self.pending_len = 0;
    }

    /// Ends the operation: flush and free.
    pub(crate) fn finish(mut self) {
        self.flush();
    }
}

impl<A: PagingArch, H: PagingHandler> Drop for Batch<A, H> {
    fn drop(&mut self) {
        self.flush();
    }
}
