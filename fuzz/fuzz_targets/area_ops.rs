//! `area_ops`: sequences of area-set operations on `vmlayer_areas::MemorySet` against a
//! page-granular model, with backend failures injected.
//!
//! The backend keeps its "page table" as a map page -> flags and fails the n-th call of an
//! operation (or every call from the n-th on) when the input says so; it panics if the set asks
//! it for something the `MappingBackend` contract forbids (an unaligned or empty range, a map
//! over mapped pages, an unmap or protect of unmapped pages, a relocation onto mapped pages).
//!
//! After every operation: the areas are sorted, disjoint and non-empty; they describe exactly
//! the pages the backend holds; the model agrees with both; an operation refused without an
//! injected failure changed nothing, and one whose backend failed left what its contract says
//! (nothing, a rolled-back `protect`, or an exact lowest-first prefix of an unmap); queries
//! (`find`, `overlaps`, `iter_range`, `find_free_area`) answer what the model answers; and with
//! a merging backend no two adjacent areas with equal flags are left after a clean run.

#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vmlayer_areas::{
    MappingBackend, MappingError, MappingResult, MemoryArea, MemorySet, PAGE_SIZE, VirtAddr,
    VirtAddrRange,
};

type Flags = u8;

/// One past the last page number an area may use: the end of an area must not overflow, so the
/// last page (the one holding `usize::MAX`) is never part of one.
const TOP_PAGE: usize = usize::MAX / PAGE_SIZE;

/// An operation that would map more pages than this is skipped (a valid 2^50-byte map would
/// make the mock page table allocate for every page).
const MAX_MAP_PAGES: usize = 4096;

/// Operations per input.
const MAX_OPS: usize = 96;

/// The mock page table: page number -> flags, and the failure schedule of the current
/// operation.
#[derive(Default, Debug)]
struct PageTable {
    pages: BTreeMap<usize, Flags>,
    /// Backend calls in the current operation.
    calls: usize,
    /// Fail the call with this index (with every later one if `fail_after`).
    fail_at: Option<usize>,
    fail_after: bool,
    /// Whether a call actually failed in the current operation.
    failed: bool,
}

impl PageTable {
    fn should_fail(&mut self) -> bool {
        let call = self.calls;
        self.calls += 1;
        let fail = match self.fail_at {
            Some(at) if self.fail_after => call >= at,
            Some(at) => call == at,
            None => false,
        };
        self.failed |= fail;
        fail
    }
}

/// Page numbers of a range the set hands to the backend, which must be 4 KiB aligned,
/// non-empty and not overflowing (the `MappingBackend` contract).
fn backend_pages(start: VirtAddr, size: usize) -> core::ops::Range<usize> {
    let start = start.as_usize();
    assert!(
        start.is_multiple_of(PAGE_SIZE) && size.is_multiple_of(PAGE_SIZE) && size > 0,
        "backend got a bad range {start:#x} + {size:#x}"
    );
    let end = start
        .checked_add(size)
        .expect("backend got an overflowing range");
    start / PAGE_SIZE..end / PAGE_SIZE
}

/// A backend that is atomic (a failing call changes nothing) and optionally merges areas of
/// equal flags.
#[derive(Clone, Debug)]
struct FuzzBackend {
    merge: bool,
}

impl MappingBackend<Flags, PageTable> for FuzzBackend {
    fn map(&self, start: VirtAddr, size: usize, flags: Flags, pt: &mut PageTable) -> MappingResult {
        let pages = backend_pages(start, size);
        if pt.should_fail() {
            return Err(MappingError::BadState);
        }
        assert!(
            pt.pages.range(pages.clone()).next().is_none(),
            "the set maps {pages:?} over mapped pages"
        );
        pt.pages.extend(pages.map(|page| (page, flags)));
        Ok(())
    }

    fn unmap(&self, start: VirtAddr, size: usize, pt: &mut PageTable) -> MappingResult {
        let pages = backend_pages(start, size);
        if pt.should_fail() {
            return Err(MappingError::BadState);
        }
        assert_eq!(
            pt.pages.range(pages.clone()).count(),
            pages.len(),
            "the set unmaps {pages:?}, not wholly mapped"
        );
        for page in pages {
            pt.pages.remove(&page);
        }
        Ok(())
    }

    fn protect(
        &self,
        start: VirtAddr,
        size: usize,
        flags: Flags,
        pt: &mut PageTable,
    ) -> MappingResult {
        let pages = backend_pages(start, size);
        if pt.should_fail() {
            return Err(MappingError::BadState);
        }
        assert_eq!(
            pt.pages.range(pages.clone()).count(),
            pages.len(),
            "the set protects {pages:?}, not wholly mapped"
        );
        for (_, old) in pt.pages.range_mut(pages) {
            *old = flags;
        }
        Ok(())
    }

    fn can_merge(&self, left: &MemoryArea<Flags, Self>, right: &MemoryArea<Flags, Self>) -> bool {
        self.merge && left.flags() == right.flags()
    }

    fn relocate(
        &self,
        from: VirtAddr,
        to: VirtAddr,
        size: usize,
        pt: &mut PageTable,
    ) -> MappingResult<Self> {
        let from = backend_pages(from, size);
        let to = backend_pages(to, size);
        if pt.should_fail() {
            return Err(MappingError::BadState);
        }
        assert_eq!(
            pt.pages.range(from.clone()).count(),
            from.len(),
            "the set relocates {from:?}, not wholly mapped"
        );
        assert!(
            pt.pages.range(to.clone()).next().is_none(),
            "the set relocates onto mapped pages {to:?}"
        );
        let moved: Vec<Flags> = from
            .clone()
            .map(|page| pt.pages.remove(&page).unwrap())
            .collect();
        pt.pages.extend(to.zip(moved));
        Ok(self.clone())
    }
}

type Set = MemorySet<Flags, PageTable, FuzzBackend>;

/// An address: mostly page numbers in small windows (so that operations collide), sometimes
/// near the top of the address space or raw bytes (unaligned, overflowing).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Addr {
    Low(u8),
    Mid(u16),
    High(u8),
    Raw(u64),
}

impl Addr {
    fn bytes(self) -> usize {
        match self {
            Self::Low(page) => usize::from(page % 96) * PAGE_SIZE,
            Self::Mid(page) => usize::from(page) * PAGE_SIZE,
            Self::High(back) => (TOP_PAGE - 1 - usize::from(back % 64)) * PAGE_SIZE,
            Self::Raw(bytes) => bytes as usize,
        }
    }
}

/// A size: mostly a few pages, sometimes raw bytes (unaligned, huge, overflowing).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Size {
    Pages(u8),
    Raw(u64),
}

impl Size {
    fn bytes(self) -> usize {
        match self {
            Self::Pages(pages) => usize::from(pages % 40) * PAGE_SIZE,
            Self::Raw(bytes) => bytes as usize,
        }
    }
}

/// Which backend call of the operation fails, and whether every later one fails too.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Fail {
    call: u8,
    after: bool,
}

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    Map {
        at: Addr,
        size: Size,
        flags: u8,
        replace: bool,
        fail: Option<Fail>,
    },
    /// `count` maps of `pages` pages every `stride` pages: builds trees of many areas.
    MapMany {
        at: Addr,
        count: u8,
        stride: u8,
        pages: u8,
        flags: u8,
    },
    Unmap {
        at: Addr,
        size: Size,
        fail: Option<Fail>,
    },
    /// Changes parts whose flags intersect `only_if` (all parts if 0).
    Protect {
        at: Addr,
        size: Size,
        flags: u8,
        only_if: u8,
        fail: Option<Fail>,
    },
    Resize {
        at: Addr,
        size: Size,
        fail: Option<Fail>,
    },
    Relocate {
        at: Addr,
        size: Size,
        to: Addr,
        fail: Option<Fail>,
    },
    FindFree {
        hint: Addr,
        size: Size,
        lo: Addr,
        hi: Addr,
        align_shift: u8,
    },
    Probe {
        at: Addr,
        size: Size,
    },
    Clear {
        fail: Option<Fail>,
    },
    SetMaxAreas {
        max: Option<u8>,
    },
    Duplicate,
}

#[derive(Arbitrary, Debug)]
struct Input {
    merging: bool,
    ops: Vec<Op>,
}

/// `[start, start + size)` as page numbers if it is aligned and does not overflow.
fn page_range(start: usize, size: usize) -> Option<(usize, usize)> {
    if !start.is_multiple_of(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
        return None;
    }
    let end = start.checked_add(size)?;
    Some((start / PAGE_SIZE, end / PAGE_SIZE))
}

/// The model: page number -> flags.
type Model = BTreeMap<usize, Flags>;

fn remove_range(model: &mut Model, first: usize, end: usize) {
    let keys: Vec<usize> = model.range(first..end).map(|(&page, _)| page).collect();
    for page in keys {
        model.remove(&page);
    }
}

/// The model's `find_free_area`, in pages, by walking the gaps between mapped runs (in `u128`
/// so that nothing overflows).
fn model_find_free(
    model: &Model,
    hint: usize,
    size: usize,
    lo: usize,
    hi: usize,
    align: usize,
) -> Option<usize> {
    if size == 0 || !size.is_multiple_of(PAGE_SIZE) || !align.is_power_of_two() || align < PAGE_SIZE
    {
        return None;
    }
    if lo >= hi {
        return None;
    }
    // Free byte ranges [start, end) of the whole address space [0, usize::MAX).
    let mut gaps: Vec<(u128, u128)> = Vec::new();
    let mut free_from: u128 = 0;
    let mut run: Option<(usize, usize)> = None;
    for &page in model.keys() {
        run = match run {
            Some((first, last)) if last + 1 == page => Some((first, page)),
            Some((first, last)) => {
                gaps.push((free_from, first as u128 * PAGE_SIZE as u128));
                free_from = (last as u128 + 1) * PAGE_SIZE as u128;
                Some((page, page))
            }
            None => Some((page, page)),
        };
    }
    if let Some((first, last)) = run {
        gaps.push((free_from, first as u128 * PAGE_SIZE as u128));
        free_from = (last as u128 + 1) * PAGE_SIZE as u128;
    }
    gaps.push((free_from, usize::MAX as u128));
    let (size, align) = (size as u128, align as u128);
    let fit = |from: u128, below: u128| {
        gaps.iter().find_map(|&(start, end)| {
            let a = start.max(from).div_ceil(align) * align;
            (a + size <= end.min(hi as u128) && a < below).then_some(a as usize)
        })
    };
    let (lo, hint) = (lo as u128, hint as u128);
    fit(hint.max(lo), u128::MAX).or_else(|| fit(lo, hint))
}

/// What the set's areas say the page table holds, after checking that they are sorted,
/// disjoint, non-empty and inside the address space.
fn area_pages(set: &Set) -> Model {
    let mut pages = Model::new();
    let mut previous_end = 0;
    for area in set.iter() {
        let (start, size) = (area.start().as_usize(), area.size());
        assert!(size > 0, "empty area {area:?}");
        assert!(
            start.is_multiple_of(PAGE_SIZE) && size.is_multiple_of(PAGE_SIZE),
            "unaligned area {area:?}"
        );
        let end = start.checked_add(size).expect("area overflows");
        assert!(
            start >= previous_end,
            "areas unsorted or overlapping at {area:?}"
        );
        previous_end = end;
        pages.extend((start / PAGE_SIZE..end / PAGE_SIZE).map(|page| (page, area.flags())));
    }
    assert_eq!(set.len(), set.iter().count(), "len disagrees with iter");
    assert_eq!(set.is_empty(), set.iter().next().is_none());
    pages
}

struct World {
    set: Set,
    pt: PageTable,
    model: Model,
    merging: bool,
    /// No backend failure and no limit refusal since the last clean state: neighbours that
    /// could merge must have merged.
    clean: bool,
}

/// `Ok`, or the error an operation returned.
fn describe(op: &Op, result: MappingResult) -> String {
    format!("{op:?} -> {result:?}")
}

impl World {
    /// Whether the area limit refuses an operation that adds `added` areas (net, before any
    /// merge): only one that adds areas (`set_max_areas`: "an operation that would add areas
    /// beyond the new limit fails"), so a whole-area unmap or a protect that splits nothing
    /// succeeds even above a lowered limit, as Linux's `munmap` and `mprotect` check
    /// `map_count` only to split.
    fn refused(&self, added: usize) -> bool {
        added > 0 && self.set.len().saturating_add(added) > self.set.max_areas()
    }

    /// The areas as `(start, end, flags)` in bytes.
    fn areas(&self) -> Vec<(usize, usize, Flags)> {
        self.set
            .iter()
            .map(|area| (area.start().as_usize(), area.end().as_usize(), area.flags()))
            .collect()
    }

    /// 1 if removing `[start, end)` splits an area in two.
    fn unmap_splits(&self, start: usize, end: usize) -> usize {
        usize::from(
            self.areas()
                .iter()
                .any(|&(a_start, a_end, _)| a_start < start && end < a_end),
        )
    }

    fn arm(&mut self, fail: Option<Fail>) {
        self.pt.calls = 0;
        self.pt.failed = false;
        self.pt.fail_at = fail.map(|fail| usize::from(fail.call % 4));
        self.pt.fail_after = fail.is_some_and(|fail| fail.after);
    }

    fn disarm(&mut self) -> bool {
        self.pt.fail_at = None;
        self.pt.fail_after = false;
        std::mem::take(&mut self.pt.failed)
    }

    /// After a failed backend call: the page table kept every page outside `[first, end)` as
    /// it was, gained nothing, and lost a lowest-first prefix of what the range held. The model
    /// takes what is left.
    fn accept_unmap_prefix(&mut self, before: &Model, first: usize, end: usize, what: &str) {
        for (page, flags) in before {
            let now = self.pt.pages.get(page);
            if (first..end).contains(page) {
                assert!(
                    now.is_none() || now == Some(flags),
                    "{what}: page {page:#x} changed"
                );
            } else {
                assert_eq!(
                    now,
                    Some(flags),
                    "{what}: page {page:#x} outside the range changed"
                );
            }
        }
        assert!(
            self.pt.pages.keys().all(|page| before.contains_key(page)),
            "{what}: a failed unmap added pages"
        );
        let kept_low = before
            .range(first..end)
            .find(|(page, _)| self.pt.pages.contains_key(page))
            .map(|(&page, _)| page);
        if let Some(kept_low) = kept_low {
            assert!(
                before
                    .range(kept_low..end)
                    .all(|(page, _)| self.pt.pages.contains_key(page)),
                "{what}: a failed unmap is not a lowest-first prefix"
            );
        }
        self.model = self.pt.pages.clone();
    }

    fn map(&mut self, start: usize, size: usize, flags: Flags, replace: bool, fail: Option<Fail>) {
        let Some((first, end)) = page_range(start, size) else {
            let area = MemoryArea::new(VirtAddr::from(start), size, flags, self.backend());
            let result = self.set.map(area, &mut self.pt, replace);
            assert_eq!(
                result,
                Err(MappingError::InvalidParam),
                "map {start:#x} + {size:#x}"
            );
            return;
        };
        if end - first > MAX_MAP_PAGES {
            return;
        }
        let before = self.model.clone();
        let len_before = self.set.len();
        let overlap = self.model.range(first..end).next().is_some();
        let added = if overlap {
            let removed = self
                .areas()
                .iter()
                .filter(|&&(a_start, a_end, _)| start <= a_start && a_end <= start + size)
                .count();
            (1 + self.unmap_splits(start, start + size)).saturating_sub(removed)
        } else {
            1
        };
        let refused = first != end && (replace || !overlap) && self.refused(added);
        let areas_before = self.areas();
        let area = MemoryArea::new(VirtAddr::from(start), size, flags, self.backend());
        self.arm(fail);
        let result = if replace {
            self.set.map_fixed(area, &mut self.pt)
        } else {
            self.set.map_noreplace(area, &mut self.pt)
        };
        let failed = self.disarm();
        let what = format!("map {start:#x} + {size:#x} replace={replace}");
        match result {
            _ if first == end => assert_eq!(result, Err(MappingError::InvalidParam), "{what}"),
            _ if overlap && !replace => {
                assert_eq!(result, Err(MappingError::AlreadyExists), "{what}")
            }
            _ if refused => assert_eq!(result, Err(MappingError::NoMemory), "{what}"),
            Ok(()) => {
                assert!(!failed, "{what}: Ok although a backend call failed");
                remove_range(&mut self.model, first, end);
                self.model.extend((first..end).map(|page| (page, flags)));
                self.check_limit(len_before, &what);
            }
            Err(MappingError::BadState) if failed => {
                self.clean = false;
                if overlap {
                    self.accept_unmap_prefix(&before, first, end, &what);
                }
            }
            Err(error) => panic!(
                "{what}: unexpected {error:?} ({len_before} areas, limit {}, {added} added, areas \
                 before {:x?})",
                self.set.max_areas(),
                areas_before,
            ),
        }
    }

    fn backend(&self) -> FuzzBackend {
        FuzzBackend {
            merge: self.merging,
        }
    }

    /// An operation that succeeded added areas only up to the limit.
    fn check_limit(&self, len_before: usize, what: &str) {
        assert!(
            self.set.len() <= len_before || self.set.len() <= self.set.max_areas(),
            "{what}: {} areas, beyond the limit {}",
            self.set.len(),
            self.set.max_areas()
        );
    }

    fn run(&mut self, op: &Op) {
        match *op {
            Op::Map {
                at,
                size,
                flags,
                replace,
                fail,
            } => self.map(at.bytes(), size.bytes(), flags % 8, replace, fail),
            Op::MapMany {
                at,
                count,
                stride,
                pages,
                flags,
            } => {
                let stride = usize::from(stride % 8 + 1) * PAGE_SIZE;
                let size = usize::from(pages % 4 + 1) * PAGE_SIZE;
                for index in 0..usize::from(count % 64) {
                    let Some(start) = at.bytes().checked_add(index * stride) else {
                        break;
                    };
                    let flags = (flags.wrapping_add(index as u8 / 3)) % 8;
                    self.map(start, size, flags, false, None);
                }
            }
            Op::Unmap { at, size, fail } => {
                let (start, size) = (at.bytes(), size.bytes());
                let before = self.model.clone();
                let len_before = self.set.len();
                let refused = size > 0
                    && start
                        .checked_add(size)
                        .is_some_and(|end| self.refused(self.unmap_splits(start, end)));
                self.arm(fail);
                let result = self.set.unmap(VirtAddr::from(start), size, &mut self.pt);
                let failed = self.disarm();
                let what = describe(op, result);
                let Some((first, end)) = page_range(start, size) else {
                    assert_eq!(result, Err(MappingError::InvalidParam), "{what}");
                    return;
                };
                match result {
                    _ if refused => assert_eq!(result, Err(MappingError::NoMemory), "{what}"),
                    Ok(()) => {
                        assert!(!failed, "{what}: Ok although a backend call failed");
                        remove_range(&mut self.model, first, end);
                        self.check_limit(len_before, &what);
                    }
                    Err(MappingError::BadState) if failed => {
                        self.clean = false;
                        self.accept_unmap_prefix(&before, first, end, &what);
                    }
                    Err(error) => panic!("{what}: unexpected {error:?}"),
                }
            }
            Op::Protect {
                at,
                size,
                flags,
                only_if,
                fail,
            } => {
                let (start, size, flags, only_if) =
                    (at.bytes(), size.bytes(), flags % 8, only_if % 8);
                let update =
                    move |old: Flags| (only_if == 0 || old & only_if != 0).then_some(flags);
                let before = self.model.clone();
                let len_before = self.set.len();
                let cuts = |addr: usize| {
                    self.areas().iter().any(|&(a_start, a_end, flags)| {
                        a_start < addr && addr < a_end && update(flags).is_some()
                    })
                };
                let refused = size > 0
                    && start.checked_add(size).is_some_and(|end| {
                        self.refused(usize::from(cuts(start)) + usize::from(cuts(end)))
                    });
                self.arm(fail);
                let result = self
                    .set
                    .protect(VirtAddr::from(start), size, update, &mut self.pt);
                let failed = self.disarm();
                let what = describe(op, result);
                let Some((first, end)) = page_range(start, size) else {
                    assert_eq!(result, Err(MappingError::InvalidParam), "{what}");
                    return;
                };
                match result {
                    _ if refused => assert_eq!(result, Err(MappingError::NoMemory), "{what}"),
                    Ok(()) => {
                        assert!(!failed, "{what}: Ok although a backend call failed");
                        for (_, old) in self.model.range_mut(first..end) {
                            if let Some(new) = update(*old) {
                                *old = new;
                            }
                        }
                        self.check_limit(len_before, &what);
                    }
                    Err(MappingError::BadState) if failed => {
                        self.clean = false;
                        let one_failure = fail.is_some_and(|fail| !fail.after);
                        if one_failure {
                            // One failing call: the rollback succeeds, so nothing changed.
                            assert_eq!(self.pt.pages, before, "{what}: not rolled back");
                        } else {
                            // The rollback may fail too: each page keeps its old flags or has
                            // the new ones; the set must say which.
                            assert_eq!(
                                self.pt.pages.keys().collect::<Vec<_>>(),
                                before.keys().collect::<Vec<_>>(),
                                "{what}: a failed protect changed which pages are mapped"
                            );
                            for (page, &now) in &self.pt.pages {
                                let old = before[page];
                                let allowed = now == old
                                    || ((first..end).contains(page) && Some(now) == update(old));
                                assert!(allowed, "{what}: page {page:#x} has flags {now}");
                            }
                            self.model = self.pt.pages.clone();
                        }
                    }
                    Err(error) => panic!("{what}: unexpected {error:?}"),
                }
            }
            Op::Resize { at, size, fail } => {
                let (start, new_size) = (at.bytes(), size.bytes());
                let Some((_, new_end)) = page_range(start, new_size) else {
                    let result = self
                        .set
                        .resize(VirtAddr::from(start), new_size, &mut self.pt);
                    assert_eq!(result, Err(MappingError::InvalidParam), "{op:?}");
                    return;
                };
                let area = self
                    .set
                    .iter()
                    .find(|area| area.start().as_usize() == start)
                    .map(|area| (area.end().as_usize() / PAGE_SIZE, area.flags()));
                if let Some((end, _)) = area
                    && new_end > end
                    && new_end - end > MAX_MAP_PAGES
                {
                    return;
                }
                let before = self.model.clone();
                let len_before = self.set.len();
                self.arm(fail);
                let result = self
                    .set
                    .resize(VirtAddr::from(start), new_size, &mut self.pt);
                let failed = self.disarm();
                let what = describe(op, result);
                let Some((end, flags)) = area else {
                    assert_eq!(result, Err(MappingError::NotMapped), "{what}");
                    return;
                };
                let blocked = new_end > end && self.model.range(end..new_end).next().is_some();
                match result {
                    _ if blocked => assert_eq!(result, Err(MappingError::AlreadyExists), "{what}"),
                    Ok(()) => {
                        assert!(!failed, "{what}: Ok although a backend call failed");
                        if new_end <= end {
                            remove_range(&mut self.model, new_end, end);
                        } else {
                            self.model.extend((end..new_end).map(|page| (page, flags)));
                        }
                        self.check_limit(len_before, &what);
                    }
                    Err(MappingError::BadState) if failed => {
                        self.clean = false;
                        assert_eq!(
                            self.pt.pages, before,
                            "{what}: a failed resize changed pages"
                        );
                    }
                    Err(error) => panic!("{what}: unexpected {error:?}"),
                }
            }
            Op::Relocate { at, size, to, fail } => {
                let (start, size, new_start) = (at.bytes(), size.bytes(), to.bytes());
                let ranges = page_range(start, size).zip(page_range(new_start, size));
                if ranges.is_some_and(|((first, end), _)| end - first > MAX_MAP_PAGES) {
                    return;
                }
                let len_before = self.set.len();
                let before = self.model.clone();
                let splits = self.set.find(VirtAddr::from(start)).map_or(0, |area| {
                    usize::from(area.start().as_usize() < start)
                        + usize::from(start.saturating_add(size) < area.end().as_usize())
                });
                let inside_one_area = self.set.find(VirtAddr::from(start)).is_some_and(|area| {
                    start
                        .checked_add(size)
                        .is_some_and(|end| area.end().as_usize() >= end)
                });
                self.arm(fail);
                let result = self.set.relocate(
                    VirtAddr::from(start),
                    size,
                    VirtAddr::from(new_start),
                    &mut self.pt,
                );
                let failed = self.disarm();
                let what = describe(op, result);
                let Some(((first, end), (new_first, new_end))) = ranges else {
                    assert_eq!(result, Err(MappingError::InvalidParam), "{what}");
                    return;
                };
                if first == end || (new_first < end && first < new_end) {
                    assert_eq!(result, Err(MappingError::InvalidParam), "{what}");
                    return;
                }
                if !inside_one_area {
                    assert_eq!(result, Err(MappingError::NotMapped), "{what}");
                    return;
                }
                if self.model.range(new_first..new_end).next().is_some() {
                    assert_eq!(result, Err(MappingError::AlreadyExists), "{what}");
                    return;
                }
                if self.refused(splits) {
                    assert_eq!(result, Err(MappingError::NoMemory), "{what}");
                    return;
                }
                match result {
                    Ok(()) => {
                        assert!(!failed, "{what}: Ok although a backend call failed");
                        let moved: Vec<Flags> = (first..end)
                            .map(|page| self.model.remove(&page).unwrap())
                            .collect();
                        self.model.extend((new_first..new_end).zip(moved));
                        self.check_limit(len_before, &what);
                    }
                    Err(MappingError::BadState) if failed => {
                        self.clean = false;
                        assert_eq!(
                            self.pt.pages, before,
                            "{what}: a failed relocate changed pages"
                        );
                    }
                    Err(error) => panic!("{what}: unexpected {error:?}"),
                }
            }
            Op::FindFree {
                hint,
                size,
                lo,
                hi,
                align_shift,
            } => {
                let align = match align_shift % 24 {
                    22 => 0x800,  // below 4 KiB: refused
                    23 => 0x3000, // not a power of two: refused
                    shift => PAGE_SIZE << shift,
                };
                let (hint, size, lo, hi) = (hint.bytes(), size.bytes(), lo.bytes(), hi.bytes());
                let limit = VirtAddrRange {
                    start: VirtAddr::from(lo),
                    end: VirtAddr::from(hi),
                };
                let got = self
                    .set
                    .find_free_area(VirtAddr::from(hint), size, limit, align);
                let want = model_find_free(&self.model, hint, size, lo, hi, align);
                assert_eq!(
                    got.map(VirtAddr::as_usize),
                    want,
                    "{op:?} (align {align:#x})"
                );
            }
            Op::Probe { at, size } => {
                let (start, size) = (at.bytes(), size.bytes());
                let found = self.set.find(VirtAddr::from(start));
                let page = start / PAGE_SIZE;
                assert_eq!(
                    found.map(|area| area.flags()),
                    self.model.get(&page).copied(),
                    "find({start:#x})"
                );
                if let Some(area) = found {
                    assert!(area.va_range().contains(VirtAddr::from(start)));
                }
                let end = start.saturating_add(size);
                let range = VirtAddrRange {
                    start: VirtAddr::from(start),
                    end: VirtAddr::from(end),
                };
                let want = start < end
                    && self
                        .model
                        .range(start / PAGE_SIZE..end.div_ceil(PAGE_SIZE))
                        .next()
                        .is_some();
                assert_eq!(
                    self.set.overlaps(range),
                    want,
                    "overlaps({start:#x}..{end:#x})"
                );
                let listed: Vec<(usize, usize)> = self
                    .set
                    .iter_range(range)
                    .map(|area| (area.start().as_usize(), area.end().as_usize()))
                    .collect();
                let all: Vec<(usize, usize)> = self
                    .set
                    .iter()
                    .map(|area| (area.start().as_usize(), area.end().as_usize()))
                    .filter(|&(a_start, a_end)| start < end && a_start < end && start < a_end)
                    .collect();
                assert_eq!(listed, all, "iter_range({start:#x}..{end:#x})");
            }
            Op::Clear { fail } => {
                let before = self.model.clone();
                self.arm(fail);
                let result = self.set.clear(&mut self.pt);
                let failed = self.disarm();
                let what = describe(op, result);
                match result {
                    Ok(()) => {
                        assert!(!failed, "{what}: Ok although a backend call failed");
                        self.model.clear();
                        self.clean = true;
                    }
                    Err(MappingError::BadState) if failed => {
                        self.clean = false;
                        self.accept_unmap_prefix(&before, 0, TOP_PAGE, &what);
                    }
                    Err(error) => panic!("{what}: unexpected {error:?}"),
                }
            }
            Op::SetMaxAreas { max } => {
                self.set
                    .set_max_areas(max.map_or(usize::MAX, |max| usize::from(max % 64)));
            }
            Op::Duplicate => {
                let copy = self.set.duplicate();
                assert_eq!(copy.max_areas(), self.set.max_areas());
                let areas = |set: &Set| -> Vec<(usize, usize, Flags)> {
                    set.iter()
                        .map(|area| (area.start().as_usize(), area.size(), area.flags()))
                        .collect()
                };
                assert_eq!(areas(&copy), areas(&self.set), "duplicate");
            }
        }
    }

    fn check(&self, op: &Op) {
        let pages = area_pages(&self.set);
        assert_eq!(
            pages, self.pt.pages,
            "after {op:?}: areas and page table disagree"
        );
        assert_eq!(
            self.model, self.pt.pages,
            "after {op:?}: model and page table disagree"
        );
        if self.merging && self.clean {
            let areas: Vec<_> = self.set.iter().collect();
            for pair in areas.windows(2) {
                assert!(
                    pair[0].end() != pair[1].start() || pair[0].flags() != pair[1].flags(),
                    "after {op:?}: mergeable neighbours left: {pair:?}"
                );
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let mut world = World {
        set: Set::new(),
        pt: PageTable::default(),
        model: Model::new(),
        merging: input.merging,
        clean: true,
    };
    for op in input.ops.iter().take(MAX_OPS) {
        world.run(op);
        world.check(op);
    }
    world.set.clear(&mut world.pt).expect("final clear");
    assert!(world.pt.pages.is_empty(), "pages left after clear");
});
