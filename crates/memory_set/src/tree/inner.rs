//! An inner node of the area tree: up to [`CAP`] children with the summary of each, and the
//! largest gap of the whole node kept up to date as entries change.

use super::{CAP, NIL, Summary, rank};

/// The part of a child's [`Summary`] that a descent does not read.
#[derive(Clone, Copy, Default)]
pub(super) struct Tail {
    /// [`Summary::last`].
    pub(super) last: usize,
    /// [`Summary::gap`].
    pub(super) gap: usize,
}

/// Up to `CAP` children in address order, with the summary of each.
///
/// The gaps of the node are its *candidates*: number `2c` is the largest gap inside child `c`,
/// number `2c + 1` the gap between children `c` and `c + 1`. The node keeps the largest
/// candidate (`best`, exact, at `best_at`) and a bound on the others (`runner_up`, at least
/// the largest of them), so that when one entry changes the new largest is known without a
/// scan unless the largest shrinks below the bound.
///
/// Laid out for the cache: a descent reads the two lines of `first` and the line that holds
/// the header and most of `children`; an update reads one line of `tails` and the last line.
#[derive(Clone)]
#[repr(C, align(64))]
pub(super) struct Inner {
    /// Per child, [`Summary::first`]; unused slots hold `usize::MAX`.
    pub(super) first: [usize; CAP],
    /// Per child, the rest of its summary.
    pub(super) tails: [Tail; CAP],
    len: u8,
    /// Whether the children are leaves.
    pub(super) leaf_children: bool,
    /// The index of this node among its parent's children.
    pub(super) slot: u8,
    best_at: u8,
    pub(super) parent: u32,
    /// The children; unused slots hold `NIL`.
    pub(super) children: [u32; CAP],
    best: usize,
    runner_up: usize,
    /// The end of the last child: [`Summary::last`] of the whole node.
    last: usize,
}

impl Inner {
    pub(super) fn new(leaf_children: bool) -> Self {
        Self {
            first: [usize::MAX; CAP],
            tails: [Tail::default(); CAP],
            len: 0,
            leaf_children,
            slot: 0,
            best_at: 0,
            parent: NIL,
            children: [NIL; CAP],
            best: 0,
            runner_up: 0,
            last: 0,
        }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// The child whose subtree holds the items with start `<= addr`, if any does (else the
    /// first). `addr` must be below `usize::MAX`, so the unused slots do not count.
    #[inline]
    pub(super) fn child_for(&self, addr: usize) -> usize {
        rank(&self.first, addr).saturating_sub(1)
    }

    #[inline]
    pub(super) fn summary(&self, c: usize) -> Summary {
        Summary {
            first: self.first[c],
            last: self.tails[c].last,
            gap: self.tails[c].gap,
        }
    }

    /// The summary of the whole node.
    #[inline]
    pub(super) fn own_summary(&self) -> Summary {
        Summary {
            first: self.first[0],
            last: self.last,
            gap: self.best,
        }
    }

    /// Candidate `k` (see the type's docs); `k < 2 * len - 1`.
    #[inline]
    fn candidate(&self, k: usize) -> usize {
        let c = k / 2;
        if k.is_multiple_of(2) {
            self.tails[c].gap
        } else {
            self.first[c + 1] - self.tails[c].last
        }
    }

    /// Candidates `2c - 1`, `2c` and `2c + 1`: the gaps that the entry of child `c` takes part
    /// in (0 for one that does not exist).
    #[inline]
    fn around(&self, c: usize) -> [usize; 3] {
        let before = if c > 0 {
            self.first[c] - self.tails[c - 1].last
        } else {
            0
        };
        let after = if c + 1 < self.len() {
            self.first[c + 1] - self.tails[c].last
        } else {
            0
        };
        [before, self.tails[c].gap, after]
    }

    /// Sets the entry of child `c` to `s` and updates the largest gap. Returns whether
    /// anything changed.
    #[inline]
    pub(super) fn replace(&mut self, c: usize, s: Summary) -> bool {
        let (first, tail) = (self.first[c], self.tails[c]);
        if first == s.first && tail.last == s.last {
            // Only the gap inside the child changed (or nothing did): one candidate.
            if tail.gap == s.gap {
                return false;
            }
            self.tails[c].gap = s.gap;
            self.update(2 * c, s.gap);
            return true;
        }
        let old = self.around(c);
        self.put(c, s);
        let new = self.around(c);
        for (i, (&before, &now)) in old.iter().zip(&new).enumerate() {
            // Only candidates that exist change: for c == 0, i > 0.
            if now != before && !self.update(2 * c + i - 1, now) {
                return true;
            }
        }
        true
    }

    /// Takes note that candidate `k` is now `now`. Returns `false` if that took a scan of
    /// every candidate (after which no more updates are needed).
    #[inline]
    fn update(&mut self, k: usize, now: usize) -> bool {
        if k == usize::from(self.best_at) {
            if now < self.runner_up {
                // The largest shrank and another may now be larger.
                self.rescan();
                return false;
            }
            self.best = now;
        } else if now > self.best {
            self.runner_up = self.best;
            self.best = now;
            self.best_at = k as u8;
        } else {
            self.runner_up = self.runner_up.max(now);
        }
        true
    }

    /// Sets the entry of child `c` to `s` without updating the largest gap: the caller calls
    /// [`Self::rescan`] when done.
    #[inline]
    pub(super) fn put(&mut self, c: usize, s: Summary) {
        self.first[c] = s.first;
        self.tails[c] = Tail {
            last: s.last,
            gap: s.gap,
        };
        if c + 1 == self.len() {
            self.last = s.last;
        }
    }

    /// Finds the largest gap and the runner-up by looking at every candidate.
    pub(super) fn rescan(&mut self) {
        let (mut best, mut best_at, mut runner_up) = (0, 0, 0);
        for k in 0..2 * self.len() - 1 {
            let gap = self.candidate(k);
            if gap > best {
                runner_up = best;
                best = gap;
                best_at = k;
            } else if gap > runner_up {
                runner_up = gap;
            }
        }
        self.best = best;
        self.best_at = best_at as u8;
        self.runner_up = runner_up;
        self.last = self.tails[self.len() - 1].last;
    }

    /// Inserts the entry of `child` at index `c`; the node must have room. The caller calls
    /// [`Self::rescan`] when done.
    pub(super) fn insert_entry(&mut self, c: usize, child: u32, summary: Summary) {
        let n = self.len();
        self.first.copy_within(c..n, c + 1);
        self.tails.copy_within(c..n, c + 1);
        self.children.copy_within(c..n, c + 1);
        self.put(c, summary);
        self.children[c] = child;
        self.len += 1;
    }

    /// Removes the entry at index `c`. The caller calls [`Self::rescan`] when done.
    pub(super) fn remove_entry(&mut self, c: usize) {
        let n = self.len();
        self.first.copy_within(c + 1..n, c);
        self.tails.copy_within(c + 1..n, c);
        self.children.copy_within(c + 1..n, c);
        self.first[n - 1] = usize::MAX;
        self.children[n - 1] = NIL;
        self.len -= 1;
    }

    /// Checks the largest gap and the bound on the others against a scan (for tests).
    #[cfg(test)]
    pub(super) fn check(&self) {
        let best_at = usize::from(self.best_at);
        let others = (0..2 * self.len() - 1)
            .filter(|&k| k != best_at)
            .map(|k| self.candidate(k))
            .max()
            .unwrap_or(0);
        assert_eq!(self.candidate(best_at), self.best, "largest gap's position");
        assert!(self.best >= others, "largest gap of an inner node");
        assert!(self.runner_up >= others, "bound on the other gaps");
        assert_eq!(
            self.last,
            self.tails[self.len() - 1].last,
            "end of the last child"
        );
    }
}
