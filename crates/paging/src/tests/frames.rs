//! A frame allocator for tests: host heap pages, physical = virtual, counted per thread, with
//! failure injection.

use std::alloc::{Layout, alloc, dealloc};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::PagingHandler;
use std::boxed::Box;
use std::sync::atomic::AtomicU32;
use vmlayer_arch::TlbFlushRequest;

use crate::FrameTable;

#[derive(Default)]
struct State {
    allocated: usize,
    freed: usize,
    live: BTreeSet<usize>,
    /// Layout of every live allocation, by start address.
    layouts: BTreeMap<usize, Layout>,
    /// Allocations that still succeed; `None`: unlimited.
    budget: Option<usize>,
    /// Calls to `alloc_frames` so far, refused ones included.
    calls: usize,
    /// The call (a value of `calls`, counted from 1) that is refused, whatever the budget.
    fail_call: Option<usize>,
    /// A contiguous pool single frames come from, if the test asked for one: `(start, end,
    /// free frames)`. A [`FrameTable`] can cover it, which the host heap's addresses cannot.
    pool: Option<(usize, usize, Vec<usize>)>,
    flushes: Vec<TlbFlushRequest>,
}

std::thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
    /// The frame table of this thread's pool, if it has one.
    static POOL_TABLE: std::cell::Cell<Option<&'static FrameTable>> = const { std::cell::Cell::new(None) };
}

/// The test [`PagingHandler`]. Each test runs on its own thread, so counts are per test.
pub(super) struct TestFrames;

impl PagingHandler for TestFrames {
    fn alloc_frames(count: usize, align: usize) -> Option<PhysAddr> {
        let allowed = STATE.with_borrow_mut(|state| {
            state.calls += 1;
            if state.fail_call == Some(state.calls) {
                return false;
            }
            match &mut state.budget {
                Some(0) => false,
                Some(left) => {
                    *left -= 1;
                    true
                }
                None => true,
            }
        });
        if !allowed {
            return None;
        }
        if count == 1 && align <= 0x1000 {
            let pooled = STATE.with_borrow_mut(|state| {
                let (_, _, free) = state.pool.as_mut()?;
                let frame = free.pop();
                assert!(frame.is_some(), "the test's frame pool is exhausted");
                let frame = frame?;
                state.allocated += 1;
                state.live.insert(frame);
                Some(frame)
            });
            if let Some(frame) = pooled {
                // SAFETY: a free frame of the pool, 4 KiB; poisoned as below.
                unsafe { std::ptr::write_bytes(frame as *mut u8, 0xa5, 0x1000) };
                return Some(PhysAddr::from(frame));
            }
        }
        let layout = Layout::from_size_align(count * 0x1000, align.max(0x1000)).ok()?;
        // SAFETY: the layout has a non-zero size.
        let pointer = unsafe { alloc(layout) } as usize;
        assert_ne!(pointer, 0, "host out of memory");
        // Poison the frame: the page table must zero what it uses.
        // SAFETY: freshly allocated, `layout.size()` bytes.
        unsafe { std::ptr::write_bytes(pointer as *mut u8, 0xa5, layout.size()) };
        STATE.with_borrow_mut(|state| {
            state.allocated += count;
            state.layouts.insert(pointer, layout);
            for frame in 0..count {
                state.live.insert(pointer + frame * 0x1000);
            }
        });
        Some(PhysAddr::from(pointer))
    }

    fn dealloc_frames(paddr: PhysAddr, count: usize) {
        super::tlb_model::on_free(paddr.as_usize(), count);
        let pooled = STATE.with_borrow_mut(|state| {
            let (start, end, free) = state.pool.as_mut()?;
            if count != 1 || paddr.as_usize() < *start || paddr.as_usize() >= *end {
                return None;
            }
            free.push(paddr.as_usize());
            assert!(
                state.live.remove(&paddr.as_usize()),
                "freeing {paddr:?}, which is not live"
            );
            state.freed += 1;
            Some(())
        });
        if pooled.is_some() {
            return;
        }
        let layout = STATE.with_borrow_mut(|state| {
            for frame in 0..count {
                let address = paddr.as_usize() + frame * 0x1000;
                assert!(
                    state.live.remove(&address),
                    "freeing {address:#x}, which is not live"
                );
            }
            state.freed += count;
            let layout = state.layouts.remove(&paddr.as_usize());
            layout.expect("freeing part of an allocation")
        });
        assert_eq!(
            layout.size(),
            count * 0x1000,
            "freeing {count} frames of another size"
        );
        // SAFETY: allocated by `alloc_frames` with exactly this layout, freed once (checked).
        unsafe { dealloc(paddr.as_usize() as *mut u8, layout) }
    }

    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        VirtAddr::from(paddr.as_usize())
    }
}

/// From now on, single frames of this thread come from a contiguous pool of `frames` frames
/// (never freed to the host), and the returned table counts them.
pub(super) fn use_frame_pool(frames: usize) -> &'static FrameTable {
    // A thread reuses its pool (a property test asks for one per case): every frame of it must
    // be free again, so every count is 0.
    if let Some(table) = POOL_TABLE.with(|cached| cached.get()) {
        let (size, free) = STATE.with_borrow(|state| {
            let (start, end, free) = state.pool.as_ref().expect("a pool with its table");
            ((end - start) / 0x1000, free.len())
        });
        assert_eq!(
            size, free,
            "a new pool while frames of the old one are live"
        );
        if size >= frames {
            return table;
        }
    }
    let layout = Layout::from_size_align(frames * 0x1000, 0x1000).expect("pool layout");
    // SAFETY: non-zero size; the pool is leaked with the thread's test.
    let pool = unsafe { alloc(layout) };
    let start = pool as usize;
    assert_ne!(start, 0, "host out of memory");
    let end = start + frames * 0x1000;
    STATE.with_borrow_mut(|state| {
        state.pool = Some((start, end, (start..end).step_by(0x1000).rev().collect()));
    });
    let counts: Vec<AtomicU32> = (0..frames).map(|_| AtomicU32::new(0)).collect();
    let table: &'static FrameTable = Box::leak(Box::new(FrameTable::new(
        PhysAddr::from(start),
        Box::leak(counts.into_boxed_slice()),
    )));
    POOL_TABLE.with(|cached| cached.set(Some(table)));
    // Reachable from a static for the rest of the run: Miri's leak check then knows it is kept
    // on purpose.
    KEPT.lock().expect("kept pools").push(KeptPool(pool, table));
    table
}

/// A pool and its table, kept until the test binary exits.
#[expect(dead_code, reason = "kept only to be reachable, never read")]
struct KeptPool(*mut u8, &'static FrameTable);

// SAFETY: the pointer is only kept (never dereferenced through this type), so moving it to
// another thread changes nothing.
unsafe impl Send for KeptPool {}

static KEPT: std::sync::Mutex<Vec<KeptPool>> = std::sync::Mutex::new(Vec::new());

/// Frames allocated and not yet freed on this thread.
pub(super) fn live_frames() -> usize {
    STATE.with_borrow(|state| state.live.len())
}

/// (allocated, freed) frame counts on this thread.
pub(super) fn frame_counts() -> (usize, usize) {
    STATE.with_borrow(|state| (state.allocated, state.freed))
}

/// Lets only the next `count` allocations succeed (`None`: all).
pub(super) fn set_allocation_budget(count: Option<usize>) {
    STATE.with_borrow_mut(|state| state.budget = count);
}

/// Calls to `alloc_frames` on this thread so far, refused ones included.
pub(super) fn allocation_calls() -> usize {
    STATE.with_borrow(|state| state.calls)
}

/// Refuses exactly the `nth` call to `alloc_frames` from now on (1: the next one) and lets the
/// others through (as the budget says); `None`: refuses none.
pub(super) fn fail_nth_allocation(nth: Option<usize>) {
    STATE.with_borrow_mut(|state| state.fail_call = nth.map(|nth| state.calls + nth));
}

/// A TLB flush hook that records every request on this thread.
pub(super) fn record_flush(request: &TlbFlushRequest) {
    STATE.with_borrow_mut(|state| state.flushes.push(*request));
}

/// The recorded flush requests since the last call.
pub(super) fn take_flushes() -> Vec<TlbFlushRequest> {
    STATE.with_borrow_mut(|state| std::mem::take(&mut state.flushes))
}
