//! A model TLB and walk cache, driven by the flush hook, that checks the frame-release rule:
//! a frame (data or table page) goes back to the allocator only after a flush that covers every
//! address that could still translate to it, or walk through it.
//!
//! The model is an adversarial CPU: whenever it runs (at [`access_all`] and right after every
//! flush) it caches every translation and every table the page table holds at that moment. A
//! flush request drops the cached leaves whose range it covers, and the cached tables whose
//! range it covers when it says that tables changed (a conservative model of RISC-V, where a
//! fence by address keeps non-leaf entries). Freeing a frame that a cached entry still uses is a
//! violation, recorded here (the allocator must not panic mid-operation).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::format;
use std::string::String;
use std::vec::Vec;

use vmlayer_arch::{ENTRY_COUNT, EntryKind, PagingArch, TlbFlush, TlbFlushRequest, level_size};

use super::Space;
use crate::Arch;

/// One cached entry: what it translates and which physical memory it uses (ordered by that
/// memory first, so a free looks up only the entries near the freed frames).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Cached {
    /// The physical memory it uses: the page or block, or the table page.
    frame_start: usize,
    frame_end: usize,
    /// The virtual range the entry translates (or, for a table, the range below it).
    start: usize,
    end: usize,
    /// A table (walk cache) rather than a leaf (TLB).
    table: bool,
}

struct Model {
    root: usize,
    /// Re-cache what the table holds after every flush (the table is active on a CPU).
    active: bool,
    cached: BTreeSet<Cached>,
    violations: Vec<String>,
    flushes: usize,
}

std::thread_local! {
    static MODEL: RefCell<Option<Model>> = const { RefCell::new(None) };
}

/// Starts modelling the TLB of `space` (active on a CPU), with everything it maps cached.
pub(super) fn attach(space: &Space) {
    let root = space.root_paddr().as_usize();
    MODEL.with_borrow_mut(|model| {
        *model = Some(Model {
            root,
            active: true,
            cached: BTreeSet::new(),
            violations: Vec::new(),
            flushes: 0,
        })
    });
    access_all();
}

/// The CPU touches every page the table maps: every translation and table is cached.
pub(super) fn access_all() {
    MODEL.with_borrow_mut(|model| {
        let model = model.as_mut().expect("model attached");
        let root = model.root;
        snapshot(root, Arch::LEVELS - 1, 0, &mut model.cached);
    });
}

/// The space is switched away from (as before it is dropped): nothing is cached anew, but what
/// is cached stays until flushed.
pub(super) fn deactivate() {
    MODEL.with_borrow_mut(|model| model.as_mut().expect("model attached").active = false);
}

/// Stops modelling; returns the violations and the number of flushes seen.
pub(super) fn detach() -> (Vec<String>, usize) {
    MODEL.with_borrow_mut(|model| {
        let model = model.take().expect("model attached");
        (model.violations, model.flushes)
    })
}

/// The flush hook: drops what the request covers, then re-caches what the table holds.
pub(super) fn flush_hook(request: &TlbFlushRequest) {
    MODEL.with_borrow_mut(|model| {
        let Some(model) = model.as_mut() else { return };
        if request.root_paddr.as_usize() != model.root {
            return;
        }
        model.flushes += 1;
        let (start, end) = match request.flush {
            TlbFlush::Page(vaddr) => {
                let page = vaddr.as_usize() & !0xfff;
                (page, page + 0x1000)
            }
            TlbFlush::Range { start, end } => (start.as_usize(), end.as_usize()),
            TlbFlush::All => (0, usize::MAX),
        };
        model.cached.retain(|entry| {
            let overlaps = entry.start < end && start < entry.end;
            !(overlaps && (!entry.table || request.tables_changed))
        });
        if model.active {
            let root = model.root;
            snapshot(root, Arch::LEVELS - 1, 0, &mut model.cached);
        }
    });
}

/// Called by the test allocator before `count` frames at `paddr` are freed.
pub(super) fn on_free(paddr: usize, count: usize) {
    MODEL.with_borrow_mut(|model| {
        let Some(model) = model.as_mut() else { return };
        let end = paddr + count * 0x1000;
        let below_end = Cached {
            frame_start: end,
            frame_end: 0,
            start: 0,
            end: 0,
            table: false,
        };
        // Entries starting below `end`, nearest first; none is larger than a 1 GiB block.
        for entry in model.cached.range(..below_end).rev() {
            if entry.frame_start.saturating_add(level_size(2)) <= paddr {
                break;
            }
            if paddr < entry.frame_end {
                model.violations.push(format!(
                    "frame {paddr:#x} freed while a cached {} for {:#x}..{:#x} uses it (after {} flushes)",
                    if entry.table { "table" } else { "translation" },
                    entry.start,
                    entry.end,
                    model.flushes
                ));
                return;
            }
        }
    });
}

/// Caches the table at `table` (at `level`, translating from `base`) and everything below it.
fn snapshot(table: usize, level: usize, base: usize, cached: &mut BTreeSet<Cached>) {
    cached.insert(Cached {
        start: base,
        end: base.saturating_add(level_size(level + 1)),
        frame_start: table,
        frame_end: table + 0x1000,
        table: true,
    });
    for index in 0..ENTRY_COUNT {
        // SAFETY: test tables are live host memory at physical = virtual (the hook runs before
        // the batch frees anything).
        let entry = unsafe { (table as *const u64).add(index).read_volatile() };
        let start = base + index * level_size(level);
        let end = start.saturating_add(level_size(level));
        match Arch::decode(entry, level) {
            EntryKind::Table(next) => snapshot(next.as_usize(), level - 1, start, cached),
            EntryKind::Leaf { paddr, .. } => {
                cached.insert(Cached {
                    start,
                    end,
                    frame_start: paddr.as_usize(),
                    frame_end: paddr.as_usize() + level_size(level),
                    table: false,
                });
            }
            // PROT_NONE and empty entries are invalid: the hardware caches nothing for them.
            EntryKind::Reserved { .. } | EntryKind::Empty => {}
        }
    }
}
