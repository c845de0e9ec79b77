//! The area set: an ordered map of areas plus the gap index, driven through a backend.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use memory_addr::{VirtAddr, VirtAddrRange};

use crate::gaps::GapIndex;
use crate::{MappingBackend, MappingError, MappingResult, MemoryArea, PAGE_SIZE};

/// A set of non-overlapping memory areas and the page table they are mapped in.
///
/// `F` is the flags type, `PT` the page table, `B` the backend. For `n` areas, an operation that
/// touches `k` areas costs O(log n + k), plus the backend calls. After any error, the set still
/// describes exactly what the backends have mapped (see the crate docs for the rules).
pub struct MemorySet<F, PT, B> {
    /// Areas keyed by their start address.
    areas: BTreeMap<usize, MemoryArea<F, B>>,
    gaps: GapIndex,
    max_areas: usize,
    _page_table: PhantomData<fn(&mut PT)>,
}

/// One piece changed by [`MemorySet::protect`], kept to roll it back if a later piece fails.
struct Protected<F> {
    start: usize,
    end: usize,
    old: F,
    split_left: bool,
    split_right: bool,
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
            areas: BTreeMap::new(),
            gaps: GapIndex::new(),
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
            gaps: self.gaps.clone(),
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
        self.areas.is_empty()
    }

    /// The areas in ascending order of start address.
    pub fn iter(&self) -> impl Iterator<Item = &MemoryArea<F, B>> {
        self.areas.values()
    }

    /// The areas that overlap `range`, in ascending order.
    pub fn iter_range(&self, range: VirtAddrRange) -> impl Iterator<Item = &MemoryArea<F, B>> {
        let (start, end) = (range.start.as_usize(), range.end.as_usize());
        let first = self
            .areas
            .range(..start)
            .next_back()
            .map(|(_, a)| a)
            .filter(|a| a.end_usize() > start && start < end);
        let rest = self.areas.range(start..end.max(start)).map(|(_, a)| a);
        first.into_iter().chain(rest)
    }

    /// Whether any area overlaps `range`. An empty or reversed range overlaps nothing.
    pub fn overlaps(&self, range: VirtAddrRange) -> bool {
        let (start, end) = (range.start.as_usize(), range.end.as_usize());
        start < end
            && self
                .areas
                .range(..end)
                .next_back()
                .is_some_and(|(_, a)| a.end_usize() > start)
    }

    /// The area that contains `addr`.
    pub fn find(&self, addr: VirtAddr) -> Option<&MemoryArea<F, B>> {
        let addr = addr.as_usize();
        self.areas
            .range(..=addr)
            .next_back()
            .map(|(_, a)| a)
            .filter(|a| addr < a.end_usize())
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
            .gaps
            .lowest_fit(hint.max(lo), hi, size, align)
            .or_else(|| {
                // Below the hint: any fit here starts below `hint`, so it ends below `hint + size`.
                (hint > lo).then(|| {
                    self.gaps
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
        let range = VirtAddrRange::from_start_size(area.start(), area.size());
        // The range is free exactly when one gap holds all of it.
        let mut span = self
            .gaps
            .free_span(start)
            .filter(|&(_, gap_end)| gap_end >= end);
        if span.is_none() {
            if !unmap_overlap {
                return Err(MappingError::AlreadyExists);
            }
            self.check_room(2, || {
                let removed = self
                    .iter_range(range)
                    .filter(|a| a.start_usize() >= start && a.end_usize() <= end)
                    .count();
                (1 + self.split_cost(start, end)).saturating_sub(removed)
            })?;
            self.unmap_range(start, end, page_table)?;
            span = self.gaps.free_span(start);
        } else {
            self.check_room(1, || 1)?;
        }
        let Some(span) = span else {
            debug_assert!(false, "map: range not free after unmapping it");
            return Err(MappingError::BadState);
        };
        area.backend()
            .map(area.start(), area.size(), area.flags(), page_table)?;
        self.gaps.occupy(span, start, end);
        self.areas.insert(start, area);
        self.merge_boundaries(start, end);
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

        let mut done: Vec<Protected<F>> = Vec::new();
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
        let Some(area) = self.areas.get(&start) else {
            return Err(MappingError::NotMapped);
        };
        let end = area.end_usize();
        if new_end <= end {
            return self.unmap(VirtAddr::from_usize(new_end), end - new_end, page_table);
        }
        let span = self
            .gaps
            .free_span(end)
            .filter(|&(_, gap_end)| gap_end >= new_end)
            .ok_or(MappingError::AlreadyExists)?;
        area.backend().map(
            VirtAddr::from_usize(end),
            new_end - end,
            area.flags(),
            page_table,
        )?;
        self.gaps.occupy(span, end, new_end);
        // Filled exactly, the gap stays as an empty gap at `end`, which is no area start.
        self.gaps.forget_empty(end);
        if let Some(area) = self.areas.get_mut(&start) {
            area.set_end(new_end);
        }
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
        while let Some(entry) = self.areas.first_entry() {
            let area = entry.get();
            area.backend()
                .unmap(area.start(), area.size(), page_table)?;
            let area = entry.remove();
            self.gaps.release(area.start_usize(), area.end_usize());
        }
        self.gaps.reset();
        Ok(())
    }

    /// The gap index as `(start, end)` pairs, for consistency checks.
    #[cfg(test)]
    pub(crate) fn gap_list(&self) -> Vec<(usize, usize)> {
        self.gaps.to_vec()
    }

    /// Fails with [`MappingError::NoMemory`] if the operation would leave more areas than the
    /// limit. It adds at most `at_most` areas; `exact` counts them precisely and is only called
    /// near the limit.
    fn check_room(&self, at_most: usize, exact: impl FnOnce() -> usize) -> MappingResult {
        let len = self.areas.len();
        if len.saturating_add(at_most) <= self.max_areas
            || len.saturating_add(exact()) <= self.max_areas
        {
            return Ok(());
        }
        Err(MappingError::NoMemory)
    }

    /// 1 if removing `[start, end)` splits one area in two, else 0.
    fn split_cost(&self, start: usize, end: usize) -> usize {
        self.areas
            .range(..start)
            .next_back()
            .is_some_and(|(_, a)| a.end_usize() > end)
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
            self.areas.range(..addr).next_back().is_some_and(|(_, a)| {
                a.end_usize() > addr && a.start_usize() < addr && update(a.flags()).is_some()
            })
        };
        usize::from(cuts(start)) + usize::from(cuts(end))
    }

    /// Splits the area at `key` so that `[start, end)` (inside it) is an area of its own, and
    /// returns that area.
    fn isolate(&mut self, key: usize, start: usize, end: usize) -> Option<&mut MemoryArea<F, B>> {
        let area = self.areas.get_mut(&key)?;
        let right = (end < area.end_usize()).then(|| area.split_off(end));
        let middle = (start > key).then(|| area.split_off(start));
        if let Some(right) = right {
            self.areas.insert(end, right);
        }
        match middle {
            Some(middle) => Some(self.areas.entry(start).or_insert(middle)),
            None => self.areas.get_mut(&key),
        }
    }

    /// Merges the area starting at `right` into the one that ends there; both came from one
    /// area, so they share a backend.
    fn rejoin(&mut self, right: usize) {
        let Some(right_area) = self.areas.remove(&right) else {
            return;
        };
        match self.areas.range_mut(..right).next_back() {
            Some((_, left)) if left.end_usize() == right => left.set_end(right_area.end_usize()),
            _ => {
                self.areas.insert(right, right_area);
            }
        }
    }

    /// Protects `[start, end)` (non-empty, validated), lowest area first, recording every
    /// changed piece in `done`: the area that straddles `start`, then the areas that start inside
    /// (changed in place in one pass over the B-tree), then the one that reaches past `end`.
    /// O(log n + k) for `k` areas, plus the backend calls. Stops at the first backend failure.
    fn protect_range(
        &mut self,
        start: usize,
        end: usize,
        update: &impl Fn(F) -> Option<F>,
        page_table: &mut PT,
        done: &mut Vec<Protected<F>>,
    ) -> MappingResult {
        let mut cursor = start;
        if let Some((&key, area)) = self.areas.range(..start).next_back()
            && area.end_usize() > start
        {
            cursor = area.end_usize().min(end);
            self.protect_part(key, start, end, update, page_table, done)?;
        }
        let mut straddler = None;
        for (&key, area) in self.areas.range_mut(cursor..end.max(cursor)) {
            if area.end_usize() > end {
                straddler = Some(key);
                break;
            }
            let old = area.flags();
            let Some(new) = update(old) else {
                continue;
            };
            area.backend()
                .protect(area.start(), area.size(), new, page_table)?;
            area.set_flags(new);
            done.push(Protected {
                start: key,
                end: area.end_usize(),
                old,
                split_left: false,
                split_right: false,
            });
        }
        if let Some(key) = straddler {
            self.protect_part(key, start, end, update, page_table, done)?;
        }
        Ok(())
    }

    /// Protects the part of the area at `key` inside `[start, end)`, splitting it off as an area
    /// of its own.
    fn protect_part(
        &mut self,
        key: usize,
        start: usize,
        end: usize,
        update: &impl Fn(F) -> Option<F>,
        page_table: &mut PT,
        done: &mut Vec<Protected<F>>,
    ) -> MappingResult {
        let Some(area) = self.areas.get(&key) else {
            return Ok(());
        };
        let (a_start, a_end) = (key, area.end_usize());
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
        if let Some(piece) = self.isolate(key, p_start, p_end) {
            piece.set_flags(new);
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
        let Some((&key, area)) = self.areas.range(..=start).next_back() else {
            return Err(MappingError::NotMapped);
        };
        if area.end_usize() < end {
            return Err(MappingError::NotMapped);
        }
        let span = self
            .gaps
            .free_span(new_start)
            .filter(|&(_, gap_end)| gap_end >= new_end)
            .ok_or(MappingError::AlreadyExists)?;
        let splits = usize::from(key < start) + usize::from(area.end_usize() > end);
        self.check_room(splits, || splits)?;
        let backend = area.backend().relocate(
            VirtAddr::from_usize(start),
            VirtAddr::from_usize(new_start),
            size,
            page_table,
        )?;
        let flags = area.flags();
        self.isolate(key, start, end);
        self.areas.remove(&start);
        self.gaps.occupy(span, new_start, new_end);
        self.gaps.release(start, end);
        self.areas.insert(
            new_start,
            MemoryArea::new(VirtAddr::from_usize(new_start), size, flags, backend),
        );
        self.merge_boundaries(new_start, new_end);
        Ok(())
    }

    /// Merges compatible neighbours ([`MappingBackend::can_merge`]) at every area start in
    /// `[low, high]`: the bounds of a range an operation changed and the area starts inside it.
    /// O(log n) per area start.
    fn merge_boundaries(&mut self, low: usize, high: usize) {
        let mut cursor = low;
        while cursor <= high {
            let Some((&key, _)) = self.areas.range(cursor..=high).next() else {
                break;
            };
            self.merge_into_previous(key);
            match key.checked_add(1) {
                Some(next) => cursor = next,
                None => break,
            }
        }
    }

    /// Merges the area starting at `key` into the one that ends there, if their backend allows.
    fn merge_into_previous(&mut self, key: usize) {
        let Some(right) = self.areas.get(&key) else {
            return;
        };
        let Some((_, left)) = self.areas.range(..key).next_back() else {
            return;
        };
        if left.end_usize() != key || !left.backend().can_merge(left, right) {
            return;
        }
        let Some(right) = self.areas.remove(&key) else {
            return;
        };
        if let Some((_, left)) = self.areas.range_mut(..key).next_back() {
            left.set_end(right.end_usize());
        }
        self.gaps.forget_empty(key);
    }

    fn roll_back_protect(&mut self, done: Vec<Protected<F>>, page_table: &mut PT) {
        for piece in done.into_iter().rev() {
            let Some(area) = self.areas.get(&piece.start) else {
                continue;
            };
            let restored = area
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
            if let Some(area) = self.areas.get_mut(&piece.start) {
                area.set_flags(piece.old);
            }
            if piece.split_right {
                self.rejoin(piece.end);
            }
            if piece.split_left {
                self.rejoin(piece.start);
            }
        }
    }

    /// Unmaps `[start, end)` (non-empty, validated), lowest area first: the area that straddles
    /// `start`, then every area wholly inside (removed in one pass over the B-tree, their gaps
    /// joined in one cut of the gap index), then the area that straddles `end`. O(log n + k) for
    /// `k` areas, plus the backend calls. The first backend failure stops it.
    fn unmap_range(&mut self, start: usize, end: usize, page_table: &mut PT) -> MappingResult {
        if let Some((&key, area)) = self.areas.range(..start).next_back()
            && area.end_usize() > start
        {
            self.unmap_part(key, start, end, page_table)?;
        }
        let mut failure = None;
        let mut straddler = None;
        let mut removed: Option<(usize, usize)> = None;
        let mut count = 0usize;
        let inside = self.areas.extract_if(start..end, |&key, area| {
            if failure.is_some() {
                return false;
            }
            if area.end_usize() > end {
                straddler = Some(key);
                return false;
            }
            match area.backend().unmap(area.start(), area.size(), page_table) {
                Ok(()) => true,
                Err(err) => {
                    failure = Some(err);
                    false
                }
            }
        });
        for (_, area) in inside {
            let first = removed.map_or(area.start_usize(), |(first, _)| first);
            removed = Some((first, area.end_usize()));
            count += 1;
        }
        if let Some((first, last_end)) = removed {
            if count == 1 {
                self.gaps.release(first, last_end);
            } else {
                self.gaps.release_span(first, last_end);
            }
        }
        if let Some(err) = failure {
            return Err(err);
        }
        if let Some(key) = straddler {
            self.unmap_part(key, start, end, page_table)?;
        }
        Ok(())
    }

    /// Unmaps the part of the area at `key` inside `[start, end)`, shrinking, splitting or
    /// removing it.
    fn unmap_part(
        &mut self,
        key: usize,
        start: usize,
        end: usize,
        page_table: &mut PT,
    ) -> MappingResult {
        let Some(area) = self.areas.get_mut(&key) else {
            return Ok(());
        };
        let (a_start, a_end) = (key, area.end_usize());
        let (p_start, p_end) = (a_start.max(start), a_end.min(end));
        area.backend()
            .unmap(VirtAddr::from_usize(p_start), p_end - p_start, page_table)?;
        if p_start == a_start {
            // The head goes: the area is removed, or re-keyed at its new start.
            if let Some(mut area) = self.areas.remove(&key)
                && p_end < a_end
            {
                area.shrink_start(p_end);
                self.areas.insert(p_end, area);
            }
        } else {
            // The tail or the middle goes.
            let right = (p_end < a_end).then(|| area.split_off(p_end));
            area.set_end(p_start);
            if let Some(right) = right {
                self.areas.insert(p_end, right);
            }
        }
        self.gaps.release(p_start, p_end);
        Ok(())
    }
}

impl<F: fmt::Debug + Copy, PT, B> fmt::Debug for MemorySet<F, PT, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.areas.values()).finish()
    }
}
