//! The area set: the areas in the area tree, changed through their backends.

use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use memory_addr::{VirtAddr, VirtAddrRange};

use crate::tree::{AreaTree, Pos};
use crate::{MappingBackend, MappingError, MappingResult, MemoryArea, PAGE_SIZE};

/// A set of non-overlapping memory areas and the page table they are mapped in.
///
/// `F` is the flags type, `PT` the page table, `B` the backend. For `n` areas, an operation that
/// touches `k` areas costs O(log n + k), plus the backend calls. After any error, the set still
/// describes exactly what the backends have mapped (see the crate docs for the rules).
pub struct MemorySet<F, PT, B> {
    /// The areas in address order, with the gaps between them.
    areas: AreaTree<MemoryArea<F, B>>,
    max_areas: usize,
    _page_table: PhantomData<fn(&mut PT)>,
}

/// One piece changed by [`MemorySet::protect`], kept to roll it back if a later piece fails.
#[derive(Clone, Copy)]
struct Protected<F> {
    start: usize,
    end: usize,
    old: F,
    split_left: bool,
    split_right: bool,
}

/// The pieces a protect changed, in order: the first few inline, so that protecting one area
/// does not allocate.
struct Changed<F> {
    inline: [Option<Protected<F>>; 3],
    more: Vec<Protected<F>>,
}

impl<F: Copy> Changed<F> {
    const fn new() -> Self {
        Self {
            inline: [None; 3],
            more: Vec::new(),
        }
    }

    fn push(&mut self, piece: Protected<F>) {
        match self.inline.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(piece),
            None => self.more.push(piece),
        }
    }

    fn is_empty(&self) -> bool {
        self.inline[0].is_none()
    }

    /// The pieces, last changed first.
    fn into_rev(self) -> impl Iterator<Item = Protected<F>> {
        let inline = self.inline.into_iter().rev().flatten();
        self.more.into_iter().rev().chain(inline)
    }
}

/// Why [`MemorySet::unmap_run`] stopped.
enum RunEnd {
    /// At an area that starts at or after the end of the range, or after the last area.
    Beyond,
    /// At an area that starts inside the range and ends after it; its start.
    Straddler(usize),
    /// At the end of the leaf.
    LeafEnd,
    /// At a backend failure.
    Failed(MappingError),
}

/// Checks the granule rules and returns `[start, end)` as numbers.
fn page_range(start: VirtAddr, size: usize) -> MappingResult<(usize, usize)> {
    let start = start.as_usize();
    if !start.is_multiple_of(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
        return Err(MappingError::InvalidParam);
    }
    let end = start.checked_add(size).ok_or(MappingError::InvalidParam)?;
    Ok((start, end))
}

impl<F, PT, B> Default for MemorySet<F, PT, B> {
    fn default() -> Self {
        Self {
            areas: AreaTree::new(),
            max_areas: usize::MAX,
            _page_table: PhantomData,
        }
    }
}

impl<F: Copy, PT, B: MappingBackend<F, PT>> MemorySet<F, PT, B> {
    /// Creates an empty set with no limit on the number of areas. Does not allocate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates an empty set that refuses, with [`MappingError::NoMemory`] and before changing
    /// anything, an operation that would leave more than `max_areas` areas (Linux's
    /// `vm.max_map_count`, 65530 by default).
    pub fn with_max_areas(max_areas: usize) -> Self {
        Self {
            max_areas,
            ..Self::default()
        }
    }

    /// Changes the limit on the number of areas (Linux's `vm.max_map_count`). Areas already
    /// there stay; an operation that would add areas beyond the new limit fails with
    /// [`MappingError::NoMemory`].
    pub fn set_max_areas(&mut self, max_areas: usize) {
        self.max_areas = max_areas;
    }

    /// A copy of the areas (with clones of their backends) and of the limit, for `fork`: the
    /// copy describes mappings that its caller must make in the new page table (as a backend's
    /// own fork does), since nothing is mapped by this call.
    pub fn duplicate(&self) -> Self {
        Self {
            areas: self.areas.clone(),
            max_areas: self.max_areas,
            _page_table: PhantomData,
        }
    }

    /// The limit on the number of areas (`usize::MAX` when unlimited).
    pub fn max_areas(&self) -> usize {
        self.max_areas
    }

    /// The number of areas.
    pub fn len(&self) -> usize {
        self.areas.len()
    }

    /// Whether the set holds no area.
    pub fn is_empty(&self) -> bool {
        self.areas.len() == 0
    }

    /// The areas in ascending order of start address.
    pub fn iter(&self) -> impl Iterator<Item = &MemoryArea<F, B>> {
        self.areas.iter()
    }

    /// The areas that overlap `range`, in ascending order.
    pub fn iter_range(&self, range: VirtAddrRange) -> impl Iterator<Item = &MemoryArea<F, B>> {
        let (start, end) = (range.start.as_usize(), range.end.as_usize());
        let first = if start < end {
            match self.areas.seek_le(start) {
                Some(pos) if self.areas.get(pos).end_usize() > start => Some(pos),
                Some(pos) => self.areas.next(pos),
                None => self.areas.first(),
            }
        } else {
            None
        };
        self.areas
            .iter_from(first)
            .take_while(move |a| a.start_usize() < end)
    }

    /// Whether any area overlaps `range`. An empty or reversed range overlaps nothing.
    pub fn overlaps(&self, range: VirtAddrRange) -> bool {
        let (start, end) = (range.start.as_usize(), range.end.as_usize());
        start < end
            && self
                .areas
                .seek_lt(end)
                .is_some_and(|pos| self.areas.get(pos).end_usize() > start)
    }

    /// The area that contains `addr`.
    pub fn find(&self, addr: VirtAddr) -> Option<&MemoryArea<F, B>> {
        let addr = addr.as_usize();
        let pos = self.areas.seek_le(addr)?;
        (addr < self.areas.end(pos)).then(|| self.areas.get(pos))
    }

    /// Finds room for `size` bytes: the lowest `a`, a multiple of `align`, with
    /// `a >= max(hint, limit.start)`, `[a, a + size)` inside `limit` and free of every area; if
    /// there is none, the lowest such `a` in `[limit.start, hint)`.
    ///
    /// Returns `None` when `size` is zero or not a multiple of 4 KiB, `align` is not a power of
    /// two of at least 4 KiB, `limit` is empty or reversed, or nothing fits. Costs O(log n) for
    /// 4 KiB alignment.
    pub fn find_free_area(
        &self,
        hint: VirtAddr,
        size: usize,
        limit: VirtAddrRange,
        align: usize,
    ) -> Option<VirtAddr> {
        let (lo, hi, hint) = (
            limit.start.as_usize(),
            limit.end.as_usize(),
            hint.as_usize(),
        );
        if size == 0
            || !size.is_multiple_of(PAGE_SIZE)
            || !align.is_power_of_two()
            || align < PAGE_SIZE
        {
            return None;
        }
        if lo >= hi {
            return None;
        }
        let found = self
            .areas
            .lowest_fit(hint.max(lo), hi, size, align)
            .or_else(|| {
                // Below the hint: any fit here starts below `hint`, so it ends below `hint + size`.
                (hint > lo).then(|| {
                    self.areas
                        .lowest_fit(lo, hi.min(hint.saturating_add(size)), size, align)
                })?
            });
        found.map(VirtAddr::from_usize)
    }

    /// Adds `area` and maps it through its backend.
    ///
    /// If the range overlaps existing areas: with `unmap_overlap == false` nothing changes and
    /// the result is [`MappingError::AlreadyExists`] (`MAP_FIXED_NOREPLACE`); with `true` the
    /// overlapped parts are unmapped first, shrinking or splitting those areas (`MAP_FIXED`).
    ///
    /// # Errors
    ///
    /// - [`MappingError::InvalidParam`]: start or size not 4 KiB aligned, size zero, or the end
    ///   overflows. Nothing changes.
    /// - [`MappingError::AlreadyExists`]: see above. Nothing changes.
    /// - [`MappingError::NoMemory`]: the area limit would be exceeded. Nothing changes.
    /// - Any backend error. Without overlap nothing changes. With `unmap_overlap`, as in Linux,
    ///   the replaced range may already be unmapped: the set reports exactly what is still
    ///   mapped.
    pub fn map(
        &mut self,
        area: MemoryArea<F, B>,
        page_table: &mut PT,
        unmap_overlap: bool,
    ) -> MappingResult {
        let (start, end) = page_range(area.start(), area.size())?;
        if start == end {
            return Err(MappingError::InvalidParam);
        }
        // The last area that starts below `end`: the range is free exactly when that area ends
        // at or below `start`, and then the new area goes right after it.
        let mut prev = self.areas.seek_lt(end);
        if prev.is_none_or(|pos| self.areas.end(pos) <= start) {
            self.check_room(1, || 1)?;
        } else {
            if !unmap_overlap {
                return Err(MappingError::AlreadyExists);
            }
            let range = VirtAddrRange::from_start_size(area.start(), area.size());
            self.check_room(2, || {
                let removed = self
                    .iter_range(range)
                    .filter(|a| a.start_usize() >= start && a.end_usize() <= end)
                    .count();
                (1 + self.split_cost(start, end)).saturating_sub(removed)
            })?;
            self.unmap_range(start, end, page_table)?;
            prev = self.areas.seek_lt(end);
            if prev.is_some_and(|pos| self.areas.end(pos) > start) {
                debug_assert!(false, "map: range not free after unmapping it");
                return Err(MappingError::BadState);
            }
        }
        area.backend()
            .map(area.start(), area.size(), area.flags(), page_table)?;
        let pos = self.areas.insert_after(prev, area);
        self.merge_new(pos);
        Ok(())
    }

    /// Like [`Self::map`] with `unmap_overlap == false`: fails with
    /// [`MappingError::AlreadyExists`] instead of replacing anything (`MAP_FIXED_NOREPLACE`).
    ///
    /// # Errors
    ///
    /// As [`Self::map`].
    pub fn map_noreplace(&mut self, area: MemoryArea<F, B>, page_table: &mut PT) -> MappingResult {
        self.map(area, page_table, false)
    }

    /// Like [`Self::map`] with `unmap_overlap == true`: replaces whatever the range held
    /// (`MAP_FIXED`).
    ///
    /// # Errors
    ///
    /// As [`Self::map`].
    pub fn map_fixed(&mut self, area: MemoryArea<F, B>, page_table: &mut PT) -> MappingResult {
        self.map(area, page_table, true)
    }

    /// Unmaps every page in `[start, start + size)`. Areas partly inside are shrunk or split;
    /// holes are skipped. A zero size changes nothing.
    ///
    /// # Errors
    ///
    /// - [`MappingError::InvalidParam`]: unaligned start or size, or the end overflows. Nothing
    ///   changes.
    /// - [`MappingError::NoMemory`]: splitting an area would exceed the area limit. Nothing
    ///   changes.
    /// - A backend error: areas are processed from the lowest address up and the first failure
    ///   stops the operation; what was unmapped before it is gone from the set, the failing area
    ///   and those above it are unchanged.
    pub fn unmap(&mut self, start: VirtAddr, size: usize, page_table: &mut PT) -> MappingResult {
        let (start, end) = page_range(start, size)?;
        if start == end {
            return Ok(());
        }
        self.check_room(1, || self.split_cost(start, end))?;
        self.unmap_range(start, end, page_table)
    }

    /// Changes the flags of every page in `[start, start + size)`.
    ///
    /// For each part of an area inside the range, `update_flags(old)` decides: `None` leaves the
    /// part alone (and does not split the area), `Some(new)` changes it, splitting the area at the
    /// range bounds. Holes are skipped. A zero size changes nothing.
    ///
    /// # Errors
    ///
    /// - [`MappingError::InvalidParam`]: unaligned start or size, or the end overflows. Nothing
    ///   changes.
    /// - [`MappingError::NoMemory`]: the splits would exceed the area limit. Nothing changes.
    /// - A backend error: the parts already changed are protected back to their old flags and
    ///   joined again, then the error is returned. A part whose backend refuses even that keeps
    ///   its new flags, as its own area, so the set still matches the page table.
    pub fn protect(
        &mut self,
        start: VirtAddr,
        size: usize,
        update_flags: impl Fn(F) -> Option<F>,
        page_table: &mut PT,
    ) -> MappingResult {
        let (start, end) = page_range(start, size)?;
        if start == end {
            return Ok(());
        }
        self.check_room(2, || self.protect_split_cost(start, end, &update_flags))?;

        let mut done = Changed::new();
        let result = self.protect_range(start, end, &update_flags, page_table, &mut done);
        if result.is_err() {
            self.roll_back_protect(done, page_table);
        } else if !done.is_empty() {
            self.merge_boundaries(start, end);
        }
        result
    }

    /// Resizes in place the area that starts at `start` to `new_size` bytes (`brk`, stack
    /// growth, `mremap` without moving): shrinking unmaps its tail, growing maps
    /// `[end, start + new_size)` with the area's flags through its backend, and a size of zero
    /// unmaps it. A grown area merges with the next one where the backend allows.
    ///
    /// # Errors
    ///
    /// - [`MappingError::InvalidParam`]: unaligned `start` or size, or the new end overflows.
    /// - [`MappingError::NotMapped`]: no area starts at `start`.
    /// - [`MappingError::AlreadyExists`]: growing needs addresses another area holds.
    /// - A backend error. Nothing changes on any error, except as [`Self::unmap`] says for a
    ///   failing shrink.
    pub fn resize(
        &mut self,
        start: VirtAddr,
        new_size: usize,
        page_table: &mut PT,
    ) -> MappingResult {
        let (start, new_end) = page_range(start, new_size)?;
        let Some(pos) = self.area_at(start) else {
            return Err(MappingError::NotMapped);
        };
        let area = self.areas.get(pos);
        let end = area.end_usize();
        if new_end <= end {
            return self.unmap(VirtAddr::from_usize(new_end), end - new_end, page_table);
        }
        let blocked = self
            .areas
            .next(pos)
            .is_some_and(|next| self.areas.get(next).start_usize() < new_end);
        if blocked {
            return Err(MappingError::AlreadyExists);
        }
        area.backend().map(
            VirtAddr::from_usize(end),
            new_end - end,
            area.flags(),
            page_table,
        )?;
        self.areas.get_mut(pos).set_end(new_end);
        self.areas.fix(pos);
        self.merge_boundaries(new_end, new_end);
        Ok(())
    }

    /// Unmaps every area, lowest first.
    ///
    /// # Errors
    ///
    /// A backend error stops the operation: the areas already unmapped are gone, the failing one
    /// and those above it remain.
    pub fn clear(&mut self, page_table: &mut PT) -> MappingResult {
        while let Some(first) = self.areas.first() {
            // The areas of the first leaf, removed together.
            let (count, stop) = self.unmap_run(first, usize::MAX, page_table);
            if count > 0 {
                self.areas.remove_run(first, count);
            }
            if let RunEnd::Failed(err) = stop {
                return Err(err);
            }
        }
        self.areas.reset();
        Ok(())
    }

    /// The gaps as `(start, end)` pairs, for consistency checks (after checking the tree's
    /// invariants).
    #[cfg(test)]
    pub(crate) fn gap_list(&self) -> Vec<(usize, usize)> {
        self.areas.gap_list()
    }

    /// Fails with [`MappingError::NoMemory`] if the operation adds areas and would leave more
    /// than the limit. It adds at most `at_most` areas; `exact` counts them precisely and is
    /// only called near the limit. An operation that adds none (a whole-area unmap, a shrink)
    /// passes even above a limit lowered with [`Self::set_max_areas`], as Linux's `munmap`
    /// checks `map_count` only to split.
    fn check_room(&self, at_most: usize, exact: impl FnOnce() -> usize) -> MappingResult {
        let len = self.areas.len();
        if len.saturating_add(at_most) <= self.max_areas {
            return Ok(());
        }
        let added = exact();
        if added == 0 || len.saturating_add(added) <= self.max_areas {
            return Ok(());
        }
        Err(MappingError::NoMemory)
    }

    /// The position of the area that starts at `start`.
    fn area_at(&self, start: usize) -> Option<Pos> {
        self.areas
            .seek_le(start)
            .filter(|&pos| self.areas.get(pos).start_usize() == start)
    }

    /// 1 if removing `[start, end)` splits one area in two, else 0.
    fn split_cost(&self, start: usize, end: usize) -> usize {
        self.areas
            .seek_lt(start)
            .is_some_and(|pos| self.areas.get(pos).end_usize() > end)
            .into()
    }

    /// How many areas protecting `[start, end)` adds: one per range bound that falls strictly
    /// inside an area whose flags change.
    fn protect_split_cost(
        &self,
        start: usize,
        end: usize,
        update: &impl Fn(F) -> Option<F>,
    ) -> usize {
        let cuts = |addr: usize| {
            self.areas.seek_lt(addr).is_some_and(|pos| {
                let a = self.areas.get(pos);
                a.end_usize() > addr && a.start_usize() < addr && update(a.flags()).is_some()
            })
        };
        usize::from(cuts(start)) + usize::from(cuts(end))
    }

    /// Splits the area at `pos` so that `[start, end)` (inside it) is an area of its own, and
    /// returns that area's position.
    fn isolate(&mut self, pos: Pos, start: usize, end: usize) -> Option<Pos> {
        let area = self.areas.get_mut(pos);
        let right = (end < area.end_usize()).then(|| area.split_off(end));
        let middle = (start > area.start_usize()).then(|| area.split_off(start));
        if right.is_none() && middle.is_none() {
            return Some(pos);
        }
        self.areas.fix(pos);
        // The piece inserted last keeps its position.
        let right = right.map(|right| self.areas.insert(right));
        match middle {
            Some(middle) => Some(self.areas.insert(middle)),
            None => self.areas.prev(right?),
        }
    }

    /// Merges the area at `pos` into the one before it, which must end where it starts; the
    /// merged area keeps the left one's backend. Returns the merged area's position.
    fn join_with_previous(&mut self, pos: Pos) -> Option<Pos> {
        let right = self.areas.remove(pos);
        let left = self.areas.seek_lt(right.start_usize())?;
        self.areas.get_mut(left).set_end(right.end_usize());
        self.areas.fix(left);
        Some(left)
    }

    /// Whether the area at `pos` may merge into the one before it.
    fn mergeable_with_previous(&self, pos: Pos) -> bool {
        self.areas.prev(pos).is_some_and(|prev| {
            let (left, right) = (self.areas.get(prev), self.areas.get(pos));
            self.areas.end(prev) == self.areas.start(pos) && left.backend().can_merge(left, right)
        })
    }

    /// [`Self::merge_boundaries`] over a newly added area at `pos`: with the area before it,
    /// then with the one after it. O(1) without a merge.
    fn merge_new(&mut self, pos: Pos) {
        let end = self.areas.end(pos);
        let pos = if self.mergeable_with_previous(pos) {
            self.join_with_previous(pos)
        } else {
            Some(pos)
        };
        let next = pos.and_then(|pos| self.areas.next(pos));
        if let Some(next) = next.filter(|&next| self.areas.start(next) == end)
            && self.mergeable_with_previous(next)
        {
            self.join_with_previous(next);
        }
    }

    /// Merges the area starting at `right` into the one that ends there; both came from one
    /// area, so they share a backend.
    fn rejoin(&mut self, right: usize) {
        let Some(pos) = self.area_at(right) else {
            return;
        };
        let adjacent = self
            .areas
            .prev(pos)
            .is_some_and(|left| self.areas.end(left) == right);
        if adjacent {
            self.join_with_previous(pos);
        }
    }

    /// Protects `[start, end)` (non-empty, validated), lowest area first, recording every
    /// changed piece in `done`: the area that straddles `start`, then the areas that start
    /// inside (changed in place), then the one that reaches past `end`. O(log n + k) for `k`
    /// areas, plus the backend calls. Stops at the first backend failure.
    fn protect_range(
        &mut self,
        start: usize,
        end: usize,
        update: &impl Fn(F) -> Option<F>,
        page_table: &mut PT,
        done: &mut Changed<F>,
    ) -> MappingResult {
        let mut next = match self.areas.seek_lt(start) {
            Some(pos) if self.areas.get(pos).end_usize() > start => {
                let cursor = self.areas.get(pos).end_usize().min(end);
                self.protect_part(pos, start, end, update, page_table, done)?;
                self.areas.seek_ge(cursor)
            }
            Some(pos) => self.areas.next(pos),
            None => self.areas.first(),
        };
        let mut straddler = None;
        while let Some(pos) = next {
            let area = self.areas.get_mut(pos);
            if area.start_usize() >= end {
                break;
            }
            if area.end_usize() > end {
                straddler = Some(area.start_usize());
                break;
            }
            let old = area.flags();
            if let Some(new) = update(old) {
                area.backend()
                    .protect(area.start(), area.size(), new, page_table)?;
                area.set_flags(new);
                done.push(Protected {
                    start: area.start_usize(),
                    end: area.end_usize(),
                    old,
                    split_left: false,
                    split_right: false,
                });
            }
            next = self.areas.next(pos);
        }
        if let Some(pos) = straddler.and_then(|key| self.area_at(key)) {
            self.protect_part(pos, start, end, update, page_table, done)?;
        }
        Ok(())
    }

    /// Protects the part of the area at `pos` inside `[start, end)`, splitting it off as an
    /// area of its own.
    fn protect_part(
        &mut self,
        pos: Pos,
        start: usize,
        end: usize,
        update: &impl Fn(F) -> Option<F>,
        page_table: &mut PT,
        done: &mut Changed<F>,
    ) -> MappingResult {
        let area = self.areas.get(pos);
        let (a_start, a_end) = (area.start_usize(), area.end_usize());
        let (p_start, p_end) = (a_start.max(start), a_end.min(end));
        let old = area.flags();
        let Some(new) = update(old) else {
            return Ok(());
        };
        area.backend().protect(
            VirtAddr::from_usize(p_start),
            p_end - p_start,
            new,
            page_table,
        )?;
        if let Some(piece) = self.isolate(pos, p_start, p_end) {
            self.areas.get_mut(piece).set_flags(new);
        }
        done.push(Protected {
            start: p_start,
            end: p_end,
            old,
            split_left: p_start > a_start,
            split_right: p_end < a_end,
        });
        Ok(())
    }

    /// Moves `[start, start + size)`, which must lie inside one area, to `new_start` (`mremap`
    /// with `MREMAP_MAYMOVE`): the backend moves the mappings
    /// ([`MappingBackend::relocate`]), the area is split where the range cuts it, and the
    /// moved part becomes an area of its own at `new_start` (merging with compatible
    /// neighbours). The destination must be free.
    ///
    /// # Errors
    ///
    /// - [`MappingError::InvalidParam`]: unaligned, empty or overflowing ranges, or ranges that
    ///   overlap.
    /// - [`MappingError::NotMapped`]: the range is not inside one area.
    /// - [`MappingError::AlreadyExists`]: the destination is not free.
    /// - [`MappingError::NoMemory`]: the area limit would be exceeded.
    /// - A backend error. Nothing changes on any error.
    pub fn relocate(
        &mut self,
        start: VirtAddr,
        size: usize,
        new_start: VirtAddr,
        page_table: &mut PT,
    ) -> MappingResult {
        let (start, end) = page_range(start, size)?;
        let (new_start, new_end) = page_range(new_start, size)?;
        if start == end || (new_start < end && start < new_end) {
            return Err(MappingError::InvalidParam);
        }
        let Some(pos) = self.areas.seek_le(start) else {
            return Err(MappingError::NotMapped);
        };
        let area = self.areas.get(pos);
        let (key, area_end) = (area.start_usize(), area.end_usize());
        if area_end < end {
            return Err(MappingError::NotMapped);
        }
        let free = self
            .areas
            .free_span(new_start)
            .is_some_and(|(_, gap_end)| gap_end >= new_end);
        if !free {
            return Err(MappingError::AlreadyExists);
        }
        let splits = usize::from(key < start) + usize::from(area_end > end);
        self.check_room(splits, || splits)?;
        let backend = area.backend().relocate(
            VirtAddr::from_usize(start),
            VirtAddr::from_usize(new_start),
            size,
            page_table,
        )?;
        let flags = area.flags();
        if let Some(moved) = self.isolate(pos, start, end) {
            self.areas.remove(moved);
        }
        self.areas.insert(MemoryArea::new(
            VirtAddr::from_usize(new_start),
            size,
            flags,
            backend,
        ));
        self.merge_boundaries(new_start, new_end);
        Ok(())
    }

    /// Merges compatible neighbours ([`MappingBackend::can_merge`]) at every area start in
    /// `[low, high]`: the bounds of a range an operation changed and the area starts inside it.
    /// One descent, then O(1) per area start without a merge and O(log n) per merge.
    fn merge_boundaries(&mut self, low: usize, high: usize) {
        let mut next = self.areas.seek_ge(low);
        while let Some(pos) = next {
            let right = self.areas.get(pos);
            let key = right.start_usize();
            if key > high {
                break;
            }
            let mergeable = self.areas.prev(pos).is_some_and(|prev| {
                let left = self.areas.get(prev);
                left.end_usize() == key && left.backend().can_merge(left, right)
            });
            if !mergeable {
                next = self.areas.next(pos);
                continue;
            }
            self.join_with_previous(pos);
            next = key
                .checked_add(1)
                .and_then(|after| self.areas.seek_ge(after));
        }
    }

    fn roll_back_protect(&mut self, done: Changed<F>, page_table: &mut PT) {
        for piece in done.into_rev() {
            let Some(pos) = self.area_at(piece.start) else {
                continue;
            };
            let restored = self
                .areas
                .get(pos)
                .backend()
                .protect(
                    VirtAddr::from_usize(piece.start),
                    piece.end - piece.start,
                    piece.old,
                    page_table,
                )
                .is_ok();
            if !restored {
                continue;
            }
            self.areas.get_mut(pos).set_flags(piece.old);
            if piece.split_right {
                self.rejoin(piece.end);
            }
            if piece.split_left {
                self.rejoin(piece.start);
            }
        }
    }

    /// Unmaps, through their backends, the areas from `first` on in the leaf of `first` that
    /// lie inside `[.., end)`, lowest first. Returns how many were unmapped (the caller removes
    /// them) and why it stopped.
    fn unmap_run(&mut self, first: Pos, end: usize, page_table: &mut PT) -> (usize, RunEnd) {
        let mut count = 0;
        let mut next = Some(first);
        while let Some(pos) = next {
            if !pos.same_leaf(first) {
                return (count, RunEnd::LeafEnd);
            }
            let (a_start, a_end) = (self.areas.start(pos), self.areas.end(pos));
            if a_start >= end {
                return (count, RunEnd::Beyond);
            }
            if a_end > end {
                return (count, RunEnd::Straddler(a_start));
            }
            let area = self.areas.get(pos);
            if let Err(err) = area.backend().unmap(area.start(), area.size(), page_table) {
                return (count, RunEnd::Failed(err));
            }
            count += 1;
            next = self.areas.next(pos);
        }
        (count, RunEnd::Beyond)
    }

    /// Unmaps `[start, end)` (non-empty, validated), lowest area first: the area that straddles
    /// `start`, then every area wholly inside (removed a leaf at a time), then the area that
    /// straddles `end`. O(log n + k) for `k` areas, plus the backend calls. The first backend
    /// failure stops it.
    fn unmap_range(&mut self, start: usize, end: usize, page_table: &mut PT) -> MappingResult {
        let mut next = match self.areas.seek_lt(start) {
            Some(pos) if self.areas.end(pos) > start => {
                self.unmap_part(pos, start, end, page_table)?;
                self.areas.seek_ge(start)
            }
            Some(pos) => self.areas.next(pos),
            None => self.areas.first(),
        };
        while let Some(first) = next {
            let (count, stop) = self.unmap_run(first, end, page_table);
            if count > 0 {
                self.areas.remove_run(first, count);
            }
            match stop {
                RunEnd::Beyond => return Ok(()),
                RunEnd::Failed(err) => return Err(err),
                RunEnd::LeafEnd => next = self.areas.seek_ge(start),
                RunEnd::Straddler(key) => {
                    let pos = if count == 0 {
                        Some(first)
                    } else {
                        self.area_at(key)
                    };
                    return match pos {
                        Some(pos) => self.unmap_part(pos, start, end, page_table),
                        None => Ok(()),
                    };
                }
            }
        }
        Ok(())
    }

    /// Unmaps the part of the area at `pos` inside `[start, end)`, shrinking, splitting or
    /// removing it.
    fn unmap_part(
        &mut self,
        pos: Pos,
        start: usize,
        end: usize,
        page_table: &mut PT,
    ) -> MappingResult {
        let area = self.areas.get_mut(pos);
        let (a_start, a_end) = (area.start_usize(), area.end_usize());
        let (p_start, p_end) = (a_start.max(start), a_end.min(end));
        area.backend()
            .unmap(VirtAddr::from_usize(p_start), p_end - p_start, page_table)?;
        if p_start == a_start {
            // The head goes: the area is removed, or starts later.
            if p_end < a_end {
                area.shrink_start(p_end);
                self.areas.fix(pos);
            } else {
                self.areas.remove(pos);
            }
        } else {
            // The tail or the middle goes.
            let right = (p_end < a_end).then(|| area.split_off(p_end));
            area.set_end(p_start);
            self.areas.fix(pos);
            if let Some(right) = right {
                self.areas.insert(right);
            }
        }
        Ok(())
    }
}

impl<F: fmt::Debug + Copy, PT, B> fmt::Debug for MemorySet<F, PT, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.areas.iter()).finish()
    }
}
