//! A leaf of the area tree: up to [`CAP`] items in address order.

use alloc::vec::Vec;

use super::{CAP, Extent, NIL};

/// Up to `CAP` items in address order, with their bounds in dense arrays, so that a search
/// reads the two cache lines of `starts` and a summary the two of `ends`, not the items.
///
/// The items themselves stay where they were put, in any order: `order` lists them in address
/// order. Adding or removing one then moves one item at most (the last, into the hole), not
/// every item above it.
#[repr(C, align(64))]
pub(super) struct Leaf<T> {
    /// The start of the `i`-th item; unused slots hold `usize::MAX`.
    pub(super) starts: [usize; CAP],
    /// The end of the `i`-th item; unused slots hold 0.
    pub(super) ends: [usize; CAP],
    /// The `i`-th item is `items[order[i]]`.
    order: [u8; CAP],
    /// Allocated once with capacity `CAP`, kept when the leaf is freed.
    items: Vec<T>,
    pub(super) parent: u32,
    /// The index of this leaf among its parent's children.
    pub(super) slot: u32,
    pub(super) prev: u32,
    pub(super) next: u32,
}

impl<T: Clone> Clone for Leaf<T> {
    fn clone(&self) -> Self {
        let mut items = Vec::with_capacity(CAP);
        items.extend(self.items.iter().cloned());
        Self {
            starts: self.starts,
            ends: self.ends,
            order: self.order,
            items,
            parent: self.parent,
            slot: self.slot,
            prev: self.prev,
            next: self.next,
        }
    }
}

impl<T> Leaf<T> {
    /// An empty leaf with no links, reusing `items`' allocation.
    pub(super) fn new(mut items: Vec<T>) -> Self {
        items.clear();
        if items.capacity() < CAP {
            items.reserve_exact(CAP);
        }
        Self {
            starts: [usize::MAX; CAP],
            ends: [0; CAP],
            order: [0; CAP],
            items,
            parent: NIL,
            slot: 0,
            prev: NIL,
            next: NIL,
        }
    }

    /// Empties the leaf and hands back its item vector, for reuse.
    pub(super) fn take_items(&mut self) -> Vec<T> {
        let mut items = core::mem::take(&mut self.items);
        items.clear();
        items
    }

    /// The number of items.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// The `i`-th item.
    #[inline]
    pub(super) fn item(&self, i: usize) -> &T {
        &self.items[usize::from(self.order[i])]
    }

    /// The `i`-th item, mutably.
    #[inline]
    pub(super) fn item_mut(&mut self, i: usize) -> &mut T {
        &mut self.items[usize::from(self.order[i])]
    }
}

impl<T: Extent> Leaf<T> {
    /// Makes `item` the `i`-th; the leaf must have room.
    pub(super) fn insert(&mut self, i: usize, item: T) {
        let n = self.len();
        self.starts.copy_within(i..n, i + 1);
        self.ends.copy_within(i..n, i + 1);
        self.order.copy_within(i..n, i + 1);
        self.starts[i] = item.lo();
        self.ends[i] = item.hi();
        // At most CAP items: the index fits in a u8.
        self.order[i] = n as u8;
        self.items.push(item);
    }

    /// Removes and returns the `i`-th item.
    pub(super) fn remove(&mut self, i: usize) -> T {
        let n = self.len();
        let at = self.order[i];
        // The last item moves into the hole: point its entry there.
        let last = (n - 1) as u8;
        if at != last
            && let Some(entry) = self.order[..n].iter_mut().find(|k| **k == last)
        {
            *entry = at;
        }
        self.starts.copy_within(i + 1..n, i);
        self.ends.copy_within(i + 1..n, i);
        self.order.copy_within(i + 1..n, i);
        self.starts[n - 1] = usize::MAX;
        self.ends[n - 1] = 0;
        self.items.swap_remove(usize::from(at))
    }

    /// Takes note that the range of the `i`-th item changed.
    pub(super) fn fix(&mut self, i: usize) {
        let (lo, hi) = {
            let item = self.item(i);
            (item.lo(), item.hi())
        };
        self.starts[i] = lo;
        self.ends[i] = hi;
    }

    /// Checks that the arrays describe the items (for tests).
    #[cfg(test)]
    pub(super) fn check(&self) {
        let n = self.len();
        let mut seen = [false; CAP];
        for i in 0..n {
            let k = usize::from(self.order[i]);
            assert!(k < n && !seen[k], "order is not a permutation");
            seen[k] = true;
            assert_eq!(self.starts[i], self.item(i).lo(), "starts[{i}]");
            assert_eq!(self.ends[i], self.item(i).hi(), "ends[{i}]");
        }
        assert!(
            self.starts[n..].iter().all(|&s| s == usize::MAX),
            "sentinels"
        );
    }
}
