//! The gap index: the free ranges between areas, ordered by address and augmented with the
//! largest gap of every subtree, so that the lowest gap that fits a request is found in
//! O(log n) (Linux keeps the same augmentation as `rb_subtree_gap`, now in the maple tree).
//!
//! The index is a treap stored in an arena (`Vec` of nodes linked by `u32` indices), so it needs
//! no unsafe code. Priorities come from a fixed-seed xorshift generator, which makes every run
//! reproducible.
//!
//! Invariant: the non-empty gaps are exactly the complement of the areas in `[0, TOP)`. A gap
//! that an area fills exactly is not removed but left as an *empty* gap `[s, s)` at the area's
//! start `s` (a tombstone, cheaper than a treap removal); it is reused when the area's head is
//! released again. Empty gaps sit only at area starts, which never lie inside a free range, so they
//! never hide a real gap from [`GapIndex::free_span`], and they never fit a request.

use alloc::vec::Vec;

/// The exclusive end of the address space the index covers. The byte at `usize::MAX` can never
/// be part of an area: an area is 4 KiB aligned and its end must not overflow.
pub(crate) const TOP: usize = usize::MAX;

const NIL: u32 = u32::MAX;

/// The deepest path [`GapIndex::reshape`] follows without recursion.
const MAX_PATH: usize = 48;

/// A free range `(start, end)`.
pub(crate) type Span = (usize, usize);

#[derive(Clone, Copy)]
struct Node {
    start: usize,
    end: usize,
    /// The largest `end - start` in the subtree rooted here.
    max_len: usize,
    prio: u32,
    left: u32,
    right: u32,
}

/// The free ranges `[start, end)` of `[0, TOP)` not covered by any area.
#[derive(Clone)]
pub(crate) struct GapIndex {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    rng: u32,
    /// Until the first area is added, the whole space is one implicit gap (keeps `new` free of
    /// allocation and `const`).
    populated: bool,
}

impl GapIndex {
    pub(crate) const fn new() -> Self {
        Self {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            rng: 0x9e37_79b9,
            populated: false,
        }
    }

    /// Forgets every area: the whole space is free again.
    pub(crate) fn reset(&mut self) {
        self.nodes.clear();
        self.free.clear();
        self.root = NIL;
        self.populated = false;
    }

    fn populate(&mut self) {
        if !self.populated {
            self.populated = true;
            let n = self.alloc(0, TOP);
            self.root = n;
        }
    }

    fn next_prio(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    fn alloc(&mut self, start: usize, end: usize) -> u32 {
        let node = Node {
            start,
            end,
            max_len: end - start,
            prio: self.next_prio(),
            left: NIL,
            right: NIL,
        };
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    fn max_len(&self, t: u32) -> usize {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].max_len
        }
    }

    fn pull(&mut self, t: u32) {
        let n = self.nodes[t as usize];
        let m = (n.end - n.start)
            .max(self.max_len(n.left))
            .max(self.max_len(n.right));
        self.nodes[t as usize].max_len = m;
    }

    /// Splits `t` into the nodes with `start < key` and those with `start >= key`.
    fn split(&mut self, t: u32, key: usize) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let n = self.nodes[t as usize];
        if n.start < key {
            let (l, r) = self.split(n.right, key);
            self.nodes[t as usize].right = l;
            self.pull(t);
            (t, r)
        } else {
            let (l, r) = self.split(n.left, key);
            self.nodes[t as usize].left = r;
            self.pull(t);
            (l, t)
        }
    }

    /// Joins two treaps where every key of `a` is below every key of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let r = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = r;
            self.pull(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = l;
            self.pull(b);
            b
        }
    }

    fn insert_at(&mut self, t: u32, n: u32) -> u32 {
        if t == NIL {
            return n;
        }
        let key = self.nodes[n as usize].start;
        if self.nodes[n as usize].prio > self.nodes[t as usize].prio {
            let (l, r) = self.split(t, key);
            self.nodes[n as usize].left = l;
            self.nodes[n as usize].right = r;
            self.pull(n);
            return n;
        }
        if key < self.nodes[t as usize].start {
            let l = self.insert_at(self.nodes[t as usize].left, n);
            self.nodes[t as usize].left = l;
        } else {
            let r = self.insert_at(self.nodes[t as usize].right, n);
            self.nodes[t as usize].right = r;
        }
        self.pull(t);
        t
    }

    fn insert(&mut self, start: usize, end: usize) {
        debug_assert!(start < end);
        let n = self.alloc(start, end);
        self.root = self.insert_at(self.root, n);
    }

    fn remove_at(&mut self, t: u32, key: usize) -> u32 {
        debug_assert!(t != NIL, "gap index: removing a gap that is not there");
        if t == NIL {
            return NIL;
        }
        let n = self.nodes[t as usize];
        if key == n.start {
            self.free.push(t);
            return self.merge(n.left, n.right);
        }
        if key < n.start {
            let l = self.remove_at(n.left, key);
            self.nodes[t as usize].left = l;
        } else {
            let r = self.remove_at(n.right, key);
            self.nodes[t as usize].right = r;
        }
        self.pull(t);
        t
    }

    fn remove(&mut self, start: usize) {
        self.root = self.remove_at(self.root, start);
    }

    /// Sets the bounds of the gap keyed `key` to `[start, end)`; the caller keeps the key order
    /// (no other gap starts between `key` and `start`).
    ///
    /// Walks down once, then fixes the subtree maxima bottom-up and stops as soon as one is
    /// unchanged: filling or growing a small gap rarely changes the maxima above it.
    fn reshape(&mut self, key: usize, start: usize, end: usize) {
        let mut path = [NIL; MAX_PATH];
        let mut depth = 0;
        let mut t = self.root;
        while t != NIL && self.nodes[t as usize].start != key {
            if depth == MAX_PATH {
                // A treap this deep is astronomically unlikely; stay correct anyway.
                return self.reshape_at(self.root, key, start, end);
            }
            path[depth] = t;
            depth += 1;
            let n = &self.nodes[t as usize];
            t = if key < n.start { n.left } else { n.right };
        }
        if t == NIL {
            debug_assert!(false, "gap index: reshaping a gap that is not there");
            return;
        }
        self.nodes[t as usize].start = start;
        self.nodes[t as usize].end = end;
        for &node in [t].iter().chain(path[..depth].iter().rev()) {
            let before = self.nodes[node as usize].max_len;
            self.pull(node);
            if self.nodes[node as usize].max_len == before {
                break;
            }
        }
    }

    /// Recursive form of [`Self::reshape`], for paths longer than `MAX_PATH`.
    fn reshape_at(&mut self, t: u32, key: usize, start: usize, end: usize) {
        if t == NIL {
            debug_assert!(false, "gap index: reshaping a gap that is not there");
            return;
        }
        let n = self.nodes[t as usize];
        if key == n.start {
            self.nodes[t as usize].start = start;
            self.nodes[t as usize].end = end;
        } else if key < n.start {
            self.reshape_at(n.left, key, start, end);
        } else {
            self.reshape_at(n.right, key, start, end);
        }
        self.pull(t);
    }

    /// The gap with the largest start `<= addr` and the gap with the smallest start `> addr`,
    /// found in one descent.
    fn around(&self, addr: usize) -> (Option<Span>, Option<Span>) {
        let mut t = self.root;
        let (mut before, mut after) = (None, None);
        while t != NIL {
            let n = &self.nodes[t as usize];
            if n.start <= addr {
                before = Some((n.start, n.end));
                t = n.right;
            } else {
                after = Some((n.start, n.end));
                t = n.left;
            }
        }
        (before, after)
    }

    /// The free range that contains `addr`, as `(start, end)`; `None` if an area holds `addr`.
    pub(crate) fn free_span(&self, addr: usize) -> Option<Span> {
        if !self.populated {
            return Some((0, TOP));
        }
        self.around(addr).0.filter(|&(_, end)| end > addr)
    }

    /// Marks `[start, end)` as used by an area. It must lie inside the free range `span`, as
    /// returned by [`Self::free_span`] with nothing changed since.
    pub(crate) fn occupy(&mut self, span: Span, start: usize, end: usize) {
        self.populate();
        let (gs, ge) = span;
        debug_assert!(
            gs <= start && end <= ge,
            "gap index: occupying a range that is not free"
        );
        match (gs < start, end < ge) {
            // Split the gap in two.
            (true, true) => {
                self.reshape(gs, gs, start);
                self.insert(end, ge);
            }
            // Cut the tail.
            (true, false) => self.reshape(gs, gs, start),
            // Cut the head: re-key the gap at `end`; no key lies in `(start, end]`.
            (false, true) => self.reshape(gs, end, ge),
            // Filled exactly: keep the node as an empty gap at the area's start (see the module
            // docs) instead of paying for a removal.
            (false, false) => self.reshape(gs, gs, gs),
        }
    }

    /// Drops the empty gap at `at`, if there is one: `at` stops being an area start (two areas
    /// merged there), and empty gaps sit only at area starts.
    pub(crate) fn forget_empty(&mut self, at: usize) {
        if self.populated && self.around(at).0 == Some((at, at)) {
            self.remove(at);
        }
    }

    /// Marks `[start, end)` as free again, joining it with the gaps on either side.
    pub(crate) fn release(&mut self, start: usize, end: usize) {
        self.populate();
        // No gap starts inside the range that was in use, so the next gap after `start` is the
        // one that may start exactly at `end`.
        let (before, after) = self.around(start);
        let before = before.filter(|&(_, ge)| ge == start);
        let after = after.filter(|&(gs, _)| gs == end).map(|(_, ge)| ge);
        match (before, after) {
            (Some((bs, _)), Some(ae)) => {
                self.remove(end);
                self.reshape(bs, bs, ae);
            }
            (Some((bs, _)), None) => self.reshape(bs, bs, end),
            // Re-keying the gap at `end` to `start` keeps the order, as no gap starts between.
            (None, Some(ae)) => self.reshape(end, start, ae),
            (None, None) => self.insert(start, end),
        }
    }

    /// Marks `[start, end)` as free again when it held several areas and the gaps between them:
    /// those gaps are cut out of the treap at once (two splits and a merge, O(log n), plus O(k)
    /// to recycle their nodes), then the range is released as one.
    pub(crate) fn release_span(&mut self, start: usize, end: usize) {
        self.populate();
        let (left, rest) = self.split(self.root, start);
        let (inside, right) = self.split(rest, end);
        self.recycle(inside);
        self.root = self.merge(left, right);
        self.release(start, end);
    }

    /// Returns every node of the subtree `t` to the free list.
    fn recycle(&mut self, t: u32) {
        if t != NIL {
            let n = self.nodes[t as usize];
            self.recycle(n.left);
            self.recycle(n.right);
            self.free.push(t);
        }
    }

    /// The lowest `a`, a multiple of `align` (a power of two), with `lo <= a`, `a + size <= hi`
    /// and `[a, a + size)` inside one gap. `size` must be non-zero.
    pub(crate) fn lowest_fit(
        &self,
        lo: usize,
        hi: usize,
        size: usize,
        align: usize,
    ) -> Option<usize> {
        if !self.populated {
            return fit_in(0, TOP, lo, hi, size, align);
        }
        self.lowest_fit_at(self.root, lo, hi, size, align)
    }

    fn lowest_fit_at(
        &self,
        t: u32,
        lo: usize,
        hi: usize,
        size: usize,
        align: usize,
    ) -> Option<usize> {
        if t == NIL {
            return None;
        }
        let n = &self.nodes[t as usize];
        if n.max_len < size {
            return None;
        }
        if n.start >= hi {
            // This gap and all to its right start too high; only the left subtree can fit.
            return self.lowest_fit_at(n.left, lo, hi, size, align);
        }
        if n.start > lo {
            // Gaps to the left end at or before `n.start`, so they may still reach above `lo`.
            if let Some(a) = self.lowest_fit_at(n.left, lo, hi, size, align) {
                return Some(a);
            }
        }
        if let Some(a) = fit_in(n.start, n.end, lo, hi, size, align) {
            return Some(a);
        }
        self.lowest_fit_at(n.right, lo, hi, size, align)
    }

    /// Every gap, empty ones included, in address order, for consistency checks in tests.
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<(usize, usize)> {
        fn walk(g: &GapIndex, t: u32, out: &mut Vec<(usize, usize)>) {
            if t != NIL {
                let n = g.nodes[t as usize];
                walk(g, n.left, out);
                out.push((n.start, n.end));
                walk(g, n.right, out);
            }
        }
        if !self.populated {
            return alloc::vec![(0, TOP)];
        }
        let mut out = Vec::new();
        walk(self, self.root, &mut out);
        out
    }
}

/// The lowest aligned `a` in the gap `[gs, ge)` with `lo <= a` and `a + size <= hi`.
fn fit_in(gs: usize, ge: usize, lo: usize, hi: usize, size: usize, align: usize) -> Option<usize> {
    let from = gs.max(lo);
    let a = from.checked_add(align - 1)? & !(align - 1);
    let end = a.checked_add(size)?;
    (end <= ge.min(hi)).then_some(a)
}
