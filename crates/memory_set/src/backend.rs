//! The interface between the area set and a page table.

use memory_addr::VirtAddr;

use crate::{MappingResult, MemoryArea};

/// How the pages of one kind of area are put into, taken out of and re-protected in a page
/// table.
///
/// The [`MemorySet`](crate::MemorySet) decides *which* ranges change; the backend changes them.
/// Every range the set passes is 4 KiB aligned, non-empty and lies inside one area that used this
/// backend.
///
/// # Contract
///
/// A backend call that returns `Err` must leave the page table as it was before the call for the
/// whole range it was given (undo its own partial work). The set relies on this to keep areas and
/// page table in agreement after any error. A backend that cannot undo must return
/// [`MappingError::BadState`](crate::MappingError::BadState) and document what it left behind.
///
/// A backend is cloned when an area is split in two; both halves keep using the clone.
pub trait MappingBackend<F: Copy, PT>: Clone {
    /// Maps `[start, start + size)` with `flags`.
    ///
    /// # Errors
    ///
    /// Whatever the page table reports, typically [`NoMemory`](crate::MappingError::NoMemory)
    /// or [`AlreadyExists`](crate::MappingError::AlreadyExists).
    fn map(&self, start: VirtAddr, size: usize, flags: F, page_table: &mut PT) -> MappingResult;

    /// Unmaps `[start, start + size)`.
    ///
    /// # Errors
    ///
    /// Whatever the page table reports; the range must then still be mapped as before.
    fn unmap(&self, start: VirtAddr, size: usize, page_table: &mut PT) -> MappingResult;

    /// Changes the flags of `[start, start + size)` to `new_flags`.
    ///
    /// # Errors
    ///
    /// Whatever the page table reports; the range must then keep its old flags.
    fn protect(
        &self,
        start: VirtAddr,
        size: usize,
        new_flags: F,
        page_table: &mut PT,
    ) -> MappingResult;

    /// Whether `left` and `right`, adjacent areas of this backend (`left` ends where `right`
    /// starts), may become one area, as Linux merges compatible VMAs: the set then keeps `left`,
    /// grown over `right`, with `left`'s backend, so the answer must be `true` only where that
    /// backend describes both ranges exactly (equal flags, and for example the same
    /// physical offset for a linear mapping). The default never merges.
    fn can_merge(&self, left: &MemoryArea<F, Self>, right: &MemoryArea<F, Self>) -> bool {
        let _ = (left, right);
        false
    }

    /// Moves the mappings of `[from, from + size)` to `[to, to + size)` (`mremap`), where the
    /// page table holds nothing, and returns the backend of the moved range (a linear backend's
    /// offset changes with the move). Like every call it must be atomic: on `Err` both ranges
    /// are as they were. The default refuses with
    /// [`MappingError::InvalidParam`](crate::MappingError::InvalidParam).
    ///
    /// # Errors
    ///
    /// Whatever the page table reports.
    fn relocate(
        &self,
        from: VirtAddr,
        to: VirtAddr,
        size: usize,
        page_table: &mut PT,
    ) -> MappingResult<Self> {
        let _ = (from, to, size, page_table);
        Err(crate::MappingError::InvalidParam)
    }
}
