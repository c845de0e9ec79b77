//! A page-granular mock page table and a backend over it that can be told to fail.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::{
    MappingBackend, MappingError, MappingResult, MemoryArea, MemorySet, PAGE_SIZE, VirtAddr,
};

/// Test flags: bit 0 read, bit 1 write, bit 2 execute.
pub(crate) type Flags = u8;

/// Page number → flags, plus a failure switch.
#[derive(Default, Debug)]
pub(crate) struct MockPageTable {
    pub(crate) pages: BTreeMap<usize, Flags>,
    /// Backend calls made so far.
    pub(crate) calls: usize,
    /// Fail the backend call with this index (0-based) with `BadState`, changing nothing.
    pub(crate) fail_at: Option<usize>,
    /// Fail every call from `fail_at` on, not only that one.
    pub(crate) fail_after: bool,
}

impl MockPageTable {
    fn should_fail(&mut self) -> bool {
        let call = self.calls;
        self.calls += 1;
        match self.fail_at {
            Some(at) if self.fail_after => call >= at,
            Some(at) => call == at,
            None => false,
        }
    }
}

fn pages(start: VirtAddr, size: usize) -> core::ops::Range<usize> {
    assert_eq!(
        start.as_usize() % PAGE_SIZE,
        0,
        "backend got an unaligned start"
    );
    assert_eq!(size % PAGE_SIZE, 0, "backend got an unaligned size");
    assert!(size > 0, "backend got an empty range");
    start.as_usize() / PAGE_SIZE..start.as_usize() / PAGE_SIZE + size / PAGE_SIZE
}

/// A backend that is atomic: on failure it changes nothing, as the trait contract requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MockBackend;

impl MappingBackend<Flags, MockPageTable> for MockBackend {
    fn map(
        &self,
        start: VirtAddr,
        size: usize,
        flags: Flags,
        pt: &mut MockPageTable,
    ) -> MappingResult {
        let range = pages(start, size);
        if pt.should_fail() {
            return Err(MappingError::BadState);
        }
        if range.clone().any(|p| pt.pages.contains_key(&p)) {
            return Err(MappingError::AlreadyExists);
        }
        pt.pages.extend(range.map(|p| (p, flags)));
        Ok(())
    }

    fn unmap(&self, start: VirtAddr, size: usize, pt: &mut MockPageTable) -> MappingResult {
        let range = pages(start, size);
        if pt.should_fail() {
            return Err(MappingError::BadState);
        }
        assert!(
            range.clone().all(|p| pt.pages.contains_key(&p)),
            "unmap of unmapped pages"
        );
        for p in range {
            pt.pages.remove(&p);
        }
        Ok(())
    }

    fn protect(
        &self,
        start: VirtAddr,
        size: usize,
        flags: Flags,
        pt: &mut MockPageTable,
    ) -> MappingResult {
        let range = pages(start, size);
        if pt.should_fail() {
            return Err(MappingError::BadState);
        }
        assert!(
            range.clone().all(|p| pt.pages.contains_key(&p)),
            "protect of unmapped pages"
        );
        for p in range {
            pt.pages.insert(p, flags);
        }
        Ok(())
    }
}

/// [`MockBackend`] whose adjacent areas merge when their flags are equal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MergingBackend;

impl MappingBackend<Flags, MockPageTable> for MergingBackend {
    fn map(
        &self,
        start: VirtAddr,
        size: usize,
        flags: Flags,
        pt: &mut MockPageTable,
    ) -> MappingResult {
        MockBackend.map(start, size, flags, pt)
    }

    fn unmap(&self, start: VirtAddr, size: usize, pt: &mut MockPageTable) -> MappingResult {
        MockBackend.unmap(start, size, pt)
    }

    fn protect(
        &self,
        start: VirtAddr,
        size: usize,
        flags: Flags,
        pt: &mut MockPageTable,
    ) -> MappingResult {
        MockBackend.protect(start, size, flags, pt)
    }

    fn can_merge(&self, left: &MemoryArea<Flags, Self>, right: &MemoryArea<Flags, Self>) -> bool {
        left.flags() == right.flags()
    }
}

pub(crate) type Set = MemorySet<Flags, MockPageTable, MockBackend>;

/// A set whose areas merge.
pub(crate) type MergingSet = MemorySet<Flags, MockPageTable, MergingBackend>;

/// The areas as `(start, size, flags)`.
pub(crate) fn areas<B: MappingBackend<Flags, MockPageTable>>(
    set: &MemorySet<Flags, MockPageTable, B>,
) -> Vec<(usize, usize, Flags)> {
    set.iter()
        .map(|a| (a.start().as_usize(), a.size(), a.flags()))
        .collect()
}

/// What the areas say the page table holds, page by page.
pub(crate) fn expected_pages<B: MappingBackend<Flags, MockPageTable>>(
    set: &MemorySet<Flags, MockPageTable, B>,
) -> BTreeMap<usize, Flags> {
    set.iter()
        .flat_map(|a| pages(a.start(), a.size()).map(move |p| (p, a.flags())))
        .collect()
}

/// Asserts that the set and page table agree, that areas are sorted, disjoint and non-empty,
/// and that the gap index is exactly the complement of the areas.
pub(crate) fn assert_consistent<B: MappingBackend<Flags, MockPageTable>>(
    set: &MemorySet<Flags, MockPageTable, B>,
    pt: &MockPageTable,
) {
    assert_eq!(
        expected_pages(set),
        pt.pages,
        "area set and page table disagree"
    );
    let mut gaps = Vec::new();
    let mut prev_end = 0;
    for a in set.iter() {
        assert!(a.size() > 0, "empty area {a:?}");
        assert!(
            a.start().as_usize() >= prev_end,
            "areas overlap or are unsorted at {a:?}"
        );
        if a.start().as_usize() > prev_end {
            gaps.push((prev_end, a.start().as_usize()));
        }
        prev_end = a.end().as_usize();
    }
    gaps.push((prev_end, crate::gaps::TOP));
    let (real, empty): (Vec<_>, Vec<_>) = set.gap_list().into_iter().partition(|&(s, e)| s < e);
    assert_eq!(real, gaps, "gap index does not match the areas");
    for (s, _) in empty {
        assert!(
            set.find(VirtAddr::from_usize(s))
                .is_some_and(|a| a.start().as_usize() == s),
            "empty gap at {s:#x} is not at an area start"
        );
        assert!(
            real.iter().all(|&(_, e)| e != s),
            "empty gap at {s:#x} beside a real gap ending there"
        );
    }
}
