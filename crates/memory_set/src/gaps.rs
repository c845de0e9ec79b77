//! The free ranges between areas ("gaps") and the rules for fitting a request into one.
//!
//! The gaps are not stored: they are the complement of the areas in `[0, TOP)`, and the area
//! tree ([`crate::tree`]) keeps for every subtree the largest gap between two of its areas
//! (Linux keeps the same augmentation, once as `rb_subtree_gap`, now in the maple tree). A
//! search for the lowest fitting address descends only into subtrees whose largest gap is at
//! least the requested size, so with 4 KiB alignment it is O(log n): every subtree it enters
//! either holds a fit or straddles a bound of the search range.

/// The exclusive end of the address space. The byte at `usize::MAX` can never be part of an
/// area: an area is 4 KiB aligned and its end must not overflow.
pub(crate) const TOP: usize = usize::MAX;

/// A free range `(start, end)`.
pub(crate) type Span = (usize, usize);

/// The lowest aligned `a` in the gap `[gs, ge)` with `lo <= a` and `a + size <= hi`.
#[inline]
pub(crate) fn fit_in(
    gs: usize,
    ge: usize,
    lo: usize,
    hi: usize,
    size: usize,
    align: usize,
) -> Option<usize> {
    let from = gs.max(lo);
    let a = from.checked_add(align - 1)? & !(align - 1);
    let end = a.checked_add(size)?;
    (end <= ge.min(hi)).then_some(a)
}
