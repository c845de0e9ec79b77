//! The gap queries: the free range around an address, and the lowest free range that fits a
//! request, found by descending only into subtrees whose largest gap is big enough.

use super::{AreaTree, Extent, NIL};
use crate::gaps::{Span, TOP, fit_in};

impl<T: Extent> AreaTree<T> {
    /// The free range that contains `addr`, as `(start, end)`; `None` if an item holds `addr`.
    pub(crate) fn free_span(&self, addr: usize) -> Option<Span> {
        let Some(pos) = self.seek_le(addr) else {
            let end = self.first().map_or(TOP, |first| self.start(first));
            return Some((0, end));
        };
        let start = self.end(pos);
        if start > addr {
            return None;
        }
        let end = self.next(pos).map_or(TOP, |next| self.start(next));
        Some((start, end))
    }

    /// The lowest `a`, a multiple of `align` (a power of two), with `lo <= a`, `a + size <= hi`
    /// and `[a, a + size)` free. `size` must be non-zero.
    pub(crate) fn lowest_fit(
        &self,
        lo: usize,
        hi: usize,
        size: usize,
        align: usize,
    ) -> Option<usize> {
        if self.root == NIL {
            return fit_in(0, TOP, lo, hi, size, align);
        }
        let all = self.summary(self.root, self.height == 0);
        fit_in(0, all.first, lo, hi, size, align)
            .or_else(|| {
                (all.gap >= size)
                    .then(|| self.fit_inside(self.root, self.height, lo, hi, size, align))?
            })
            .or_else(|| fit_in(all.last, TOP, lo, hi, size, align))
    }

    /// The lowest fit in a gap between two items of the subtree at `node`, `height` levels
    /// above the leaves.
    fn fit_inside(
        &self,
        node: u32,
        height: usize,
        lo: usize,
        hi: usize,
        size: usize,
        align: usize,
    ) -> Option<usize> {
        if height == 0 {
            let leaf = &self.leaves[node as usize];
            let n = leaf.len();
            for (&start, &next) in leaf.ends[..n - 1].iter().zip(&leaf.starts[1..n]) {
                if start >= hi {
                    return None;
                }
                if next - start >= size
                    && let Some(a) = fit_in(start, next, lo, hi, size, align)
                {
                    return Some(a);
                }
            }
            return None;
        }
        let inner = &self.inners[node as usize];
        for c in 0..inner.len() {
            if c > 0 {
                // The gap between the previous child's last item and this child's first.
                let start = inner.tails[c - 1].last;
                if start >= hi {
                    return None;
                }
                if let Some(a) = fit_in(start, inner.first[c], lo, hi, size, align) {
                    return Some(a);
                }
            }
            // Gaps inside the child lie in (first, last): skip children below `lo` or above
            // `hi`, and those without a gap big enough.
            if inner.tails[c].gap >= size
                && inner.tails[c].last > lo
                && inner.first[c] < hi
                && let Some(a) = self.fit_inside(inner.children[c], height - 1, lo, hi, size, align)
            {
                return Some(a);
            }
        }
        None
    }
}

#[cfg(test)]
impl<T: Extent> AreaTree<T> {
    /// The number of leaves and of inner nodes in use.
    pub(crate) fn node_counts(&self) -> (usize, usize) {
        (
            self.leaves.len() - self.free_leaves.len(),
            self.inners.len() - self.free_inners.len(),
        )
    }

    /// The non-empty gaps between items and around them in `[0, TOP)`, after checking every
    /// invariant of the tree (panics on a broken one).
    pub(crate) fn gap_list(&self) -> alloc::vec::Vec<Span> {
        self.check();
        let mut gaps = alloc::vec::Vec::new();
        let mut prev = 0;
        for item in self.iter() {
            if item.lo() > prev {
                gaps.push((prev, item.lo()));
            }
            prev = item.hi();
        }
        gaps.push((prev, TOP));
        gaps
    }

    /// Checks order, links, fill, summaries and the item count.
    pub(crate) fn check(&self) {
        use super::{CAP, MIN, Summary};
        if self.root == NIL {
            assert_eq!(self.len, 0, "empty tree with items counted");
            return;
        }
        // Walk the tree, checking each node against its parent's entry.
        let mut leaves_in_order = alloc::vec::Vec::new();
        let mut stack = alloc::vec![(self.root, self.height, NIL, 0, None::<Summary>)];
        let mut count = 0;
        while let Some((node, height, parent, slot, entry)) = stack.pop() {
            let is_root = parent == NIL;
            let summary = if height == 0 {
                let leaf = &self.leaves[node as usize];
                let n = leaf.len();
                assert!(n > 0 && n <= CAP, "leaf with {n} items");
                assert!(is_root || n >= MIN, "leaf below MIN: {n}");
                assert_eq!(leaf.parent, parent, "leaf parent link");
                assert!(is_root || leaf.slot as usize == slot, "leaf slot");
                leaf.check();
                count += n;
                leaves_in_order.push(node);
                self.leaf_summary(node)
            } else {
                let inner = &self.inners[node as usize];
                let n = inner.len();
                assert!((2..=CAP).contains(&n), "inner node with {n} children");
                assert!(is_root || n >= MIN, "inner node below MIN: {n}");
                assert_eq!(inner.parent, parent, "inner parent link");
                assert!(is_root || usize::from(inner.slot) == slot, "inner slot");
                assert_eq!(inner.leaf_children, height == 1, "leaf_children flag");
                inner.check();
                assert!(
                    inner.first[n..].iter().all(|&s| s == usize::MAX),
                    "sentinels"
                );
                assert!(
                    inner.children[n..].iter().all(|&c| c == NIL),
                    "unused children"
                );
                // Children pushed in reverse so they pop in address order.
                for c in (0..n).rev() {
                    stack.push((
                        inner.children[c],
                        height - 1,
                        node,
                        c,
                        Some(inner.summary(c)),
                    ));
                }
                inner.own_summary()
            };
            if let Some(entry) = entry {
                assert_eq!(entry, summary, "stale summary of node {node}");
            }
        }
        assert_eq!(count, self.len, "item count");
        // Leaf links follow the address order, and the items are sorted and disjoint.
        for pair in leaves_in_order.windows(2) {
            assert_eq!(self.leaves[pair[0] as usize].next, pair[1], "next link");
            assert_eq!(self.leaves[pair[1] as usize].prev, pair[0], "prev link");
        }
        let (first, last) = (
            leaves_in_order[0],
            leaves_in_order[leaves_in_order.len() - 1],
        );
        assert_eq!(self.leaves[first as usize].prev, NIL, "first leaf prev");
        assert_eq!(self.leaves[last as usize].next, NIL, "last leaf next");
        let items: alloc::vec::Vec<_> = self.iter().map(|i| (i.lo(), i.hi())).collect();
        assert_eq!(items.len(), self.len, "iteration count");
        assert!(
            items.windows(2).all(|w| w[0].1 <= w[1].0),
            "items unsorted or overlapping"
        );
    }
}
