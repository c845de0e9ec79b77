//! A small, fixed-capacity set of physical address ranges (sorted, disjoint, never adjacent),
//! used before any heap exists: the firmware's RAM banks and reserved areas, the RAM the kernel
//! may use, and the frame pool's untouched frames.

use core::fmt;
use core::ops::Range;

/// Most ranges one list holds. QEMU's machines describe fewer than ten banks and reserved areas;
/// a description with more is refused (the firmware readers return `None`).
pub(crate) const CAPACITY: usize = 32;

/// A sorted list of disjoint, non-adjacent, non-empty ranges.
#[derive(Clone)]
pub(crate) struct RangeList {
    ranges: [Range<usize>; CAPACITY],
    len: usize,
}

impl RangeList {
    /// The empty list.
    pub(crate) const fn new() -> Self {
        Self {
            ranges: [const { 0..0 }; CAPACITY],
            len: 0,
        }
    }

    /// The ranges, lowest first.
    pub(crate) fn as_slice(&self) -> &[Range<usize>] {
        &self.ranges[..self.len]
    }

    /// The ranges, lowest first, for shrinking them in place (the caller keeps them sorted and
    /// disjoint; ranges that become empty stay until the next `add`/`remove`).
    pub(crate) fn as_mut_slice(&mut self) -> &mut [Range<usize>] {
        &mut self.ranges[..self.len]
    }

    /// Whether the list holds no range.
    pub(crate) fn is_empty(&self) -> bool {
        self.as_slice().iter().all(|range| range.is_empty())
    }

    /// Total bytes covered.
    pub(crate) fn total(&self) -> usize {
        self.as_slice()
            .iter()
            .map(|range| range.end - range.start)
            .sum()
    }

    /// Adds `range`, merged with the ranges it overlaps or touches. Returns `false` (and leaves
    /// the list as it was) when the list is full.
    #[must_use = "a full list drops the range"]
    pub(crate) fn add(&mut self, range: Range<usize>) -> bool {
        if range.is_empty() {
            return true;
        }
        let (mut start, mut end) = (range.start, range.end);
        let mut result = Self::new();
        let mut placed = false;
        for existing in self.as_slice().iter().filter(|range| !range.is_empty()) {
            if existing.end < start {
                result.push(existing.clone());
            } else if existing.start > end {
                if !placed {
                    result.push(start..end);
                    placed = true;
                }
                result.push(existing.clone());
            } else {
                start = start.min(existing.start);
                end = end.max(existing.end);
            }
        }
        if !placed {
            result.push(start..end);
        }
        if result.len > CAPACITY {
            return false;
        }
        *self = result;
        true
    }

    /// Removes `range` from the list. If cutting a hole would overflow the list, the smaller
    /// remainder is dropped too (losing usable RAM is safe; handing out a reserved area is not).
    pub(crate) fn remove(&mut self, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        let mut result = Self::new();
        for existing in self.as_slice().iter().filter(|range| !range.is_empty()) {
            let below = existing.start..existing.end.min(range.start);
            let above = existing.start.max(range.end)..existing.end;
            match (below.is_empty(), above.is_empty()) {
                (true, true) => {}
                (false, true) => result.push(below),
                (true, false) => result.push(above),
                (false, false) if result.len + 2 <= CAPACITY => {
                    result.push(below);
                    result.push(above);
                }
                (false, false) => result.push(if below.len() >= above.len() {
                    below
                } else {
                    above
                }),
            }
        }
        result.len = result.len.min(CAPACITY);
        *self = result;
    }

    /// Keeps only the parts of the ranges inside `window`.
    pub(crate) fn clip(&mut self, window: Range<usize>) {
        self.remove(0..window.start);
        self.remove(window.end..usize::MAX);
    }

    /// Appends `range` (above every range already there); counts past the capacity so that
    /// `add` can detect the overflow, and stores nothing once full.
    fn push(&mut self, range: Range<usize>) {
        if let Some(slot) = self.ranges.get_mut(self.len) {
            *slot = range;
        }
        self.len += 1;
    }
}

/// `0x1000..0x9f000, 0x100000..0x7fe0000`, or `none`.
impl fmt::Display for RangeList {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ranges = self.as_slice().iter().filter(|range| !range.is_empty());
        match ranges.next() {
            None => formatter.write_str("none"),
            Some(first) => {
                write!(formatter, "{:#x}..{:#x}", first.start, first.end)?;
                ranges.try_for_each(|range| {
                    write!(formatter, ", {:#x}..{:#x}", range.start, range.end)
                })
            }
        }
    }
}
