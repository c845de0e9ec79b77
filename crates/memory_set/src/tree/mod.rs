//! The area tree: one B+ tree that holds the areas and answers the gap queries, as Linux's maple
//! tree does for its VMAs.
//!
//! Leaves ([`leaf`]) hold up to [`CAP`] areas in address order, with their starts and ends in
//! dense arrays. Inner nodes ([`inner`]) keep, per child, a [`Summary`] of the subtree beneath
//! it: the first start, the last end and the largest gap between two of its areas; and for
//! themselves the largest gap of the node and a bound on the others, so that one changed entry
//! updates a node in O(1). A lookup is one descent by start address (a branch-free search of
//! two cache lines per node, [`rank`]); the lowest free range that fits a request is found by
//! descending only into children whose largest gap is big enough ([`crate::gaps`] has the
//! rules).
//!
//! A change is made at the leaf it found with its one descent, then the summaries are fixed
//! from that leaf upward, stopping at the first level where nothing changed. Non-root nodes
//! keep at least [`MIN`] entries (siblings are merged or balanced below that), so the height
//! stays logarithmic. Nodes live in two arenas (`Vec`s of leaves and of inner nodes) linked by
//! `u32` indices, with parent links and leaf links, so there is no unsafe code; freed nodes
//! stay in the arenas for reuse until the tree is reset or dropped.

mod edit;
mod inner;
mod leaf;
mod search;

use alloc::vec::Vec;

use self::inner::Inner;
use self::leaf::Leaf;

/// The most entries a node holds: 16 starts fill two cache lines.
pub(crate) const CAP: usize = 16;

/// Below this many entries a non-root node is merged with or refilled from a sibling.
const MIN: usize = CAP / 4;

/// The index of no node.
const NIL: u32 = u32::MAX;

/// An item the tree orders: a non-empty range `[lo, hi)`, disjoint from every other item.
pub(crate) trait Extent {
    /// The first address.
    fn lo(&self) -> usize;
    /// One past the last address.
    fn hi(&self) -> usize;
}

/// Where an item is: a leaf and a slot in it. Valid until the next insertion or removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    leaf: u32,
    slot: usize,
}

impl Pos {
    /// Whether `self` and `other` are in the same leaf.
    #[inline]
    pub(crate) fn same_leaf(self, other: Self) -> bool {
        self.leaf == other.leaf
    }
}

/// What a parent keeps about the subtree of one child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Summary {
    /// The start of its first item.
    first: usize,
    /// The end of its last item.
    last: usize,
    /// The largest gap between two consecutive items of the subtree (0 for one item).
    gap: usize,
}

/// How many of `keys` are `<= addr`; `keys` is sorted (unused slots hold `usize::MAX`, so they
/// count only for `addr == usize::MAX`).
///
/// Two rounds of four independent compares without branches: every fourth key first (loads
/// from both cache lines at once), then the four keys of the quarter found. This beats a
/// binary search (a chain of dependent loads), a linear search (a mispredicted branch per
/// lookup) and a counting loop (no 64-bit vector compare in baseline x86-64).
#[inline]
fn rank(keys: &[usize; CAP], addr: usize) -> usize {
    const { assert!(CAP == 16) };
    let le = |i: usize| usize::from(keys[i] <= addr);
    // Whole quarters at or below `addr`; at most 12 so the second round stays in bounds (with
    // all 16 keys at or below, quarter 12..16 then counts 4).
    let base = (4 * (le(3) + le(7) + le(11) + le(15))).min(12);
    base + le(base) + le(base + 1) + le(base + 2) + le(base + 3)
}

/// The areas of a set, in a B+ tree augmented with the gaps between them.
#[derive(Clone)]
pub(crate) struct AreaTree<T> {
    leaves: Vec<Leaf<T>>,
    inners: Vec<Inner>,
    free_leaves: Vec<u32>,
    free_inners: Vec<u32>,
    /// `NIL` when the tree is empty.
    root: u32,
    /// 0 when the root is a leaf.
    height: usize,
    len: usize,
}

impl<T> AreaTree<T> {
    /// An empty tree; does not allocate.
    pub(crate) const fn new() -> Self {
        Self {
            leaves: Vec::new(),
            inners: Vec::new(),
            free_leaves: Vec::new(),
            free_inners: Vec::new(),
            root: NIL,
            height: 0,
            len: 0,
        }
    }

    /// The number of items.
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// Drops every item and node.
    pub(crate) fn reset(&mut self) {
        *self = Self::new();
    }

    /// The item at `pos`.
    pub(crate) fn get(&self, pos: Pos) -> &T {
        self.leaves[pos.leaf as usize].item(pos.slot)
    }

    /// The item at `pos`, to change anything but its range (or to change its range and then
    /// call [`Self::fix`]).
    pub(crate) fn get_mut(&mut self, pos: Pos) -> &mut T {
        self.leaves[pos.leaf as usize].item_mut(pos.slot)
    }

    /// The position after `pos`.
    pub(crate) fn next(&self, pos: Pos) -> Option<Pos> {
        let leaf = &self.leaves[pos.leaf as usize];
        if pos.slot + 1 < leaf.len() {
            return Some(Pos {
                leaf: pos.leaf,
                slot: pos.slot + 1,
            });
        }
        (leaf.next != NIL).then_some(Pos {
            leaf: leaf.next,
            slot: 0,
        })
    }

    /// The position before `pos`.
    pub(crate) fn prev(&self, pos: Pos) -> Option<Pos> {
        if pos.slot > 0 {
            return Some(Pos {
                leaf: pos.leaf,
                slot: pos.slot - 1,
            });
        }
        let prev = self.leaves[pos.leaf as usize].prev;
        (prev != NIL).then(|| Pos {
            leaf: prev,
            slot: self.leaves[prev as usize].len() - 1,
        })
    }

    /// The position of the first item.
    pub(crate) fn first(&self) -> Option<Pos> {
        (self.root != NIL).then(|| Pos {
            leaf: self.descend(0),
            slot: 0,
        })
    }

    /// The items from `pos` on, in address order.
    pub(crate) fn iter_from(&self, pos: Option<Pos>) -> Iter<'_, T> {
        let (leaf, slot) = pos.map_or((NIL, 0), |pos| (pos.leaf, pos.slot));
        Iter {
            tree: self,
            leaf,
            slot,
        }
    }

    /// Every item, in address order.
    pub(crate) fn iter(&self) -> Iter<'_, T> {
        self.iter_from(self.first())
    }

    /// The leaf whose items are the last ones with start `<= addr` (the first leaf if none
    /// is). The tree must not be empty.
    fn descend(&self, addr: usize) -> u32 {
        // No item starts at usize::MAX, so this changes no answer, and unused slots (which
        // hold usize::MAX) never count.
        let addr = addr.min(usize::MAX - 1);
        let mut node = self.root;
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            node = inner.children[inner.child_for(addr)];
        }
        node
    }

    /// The parent of `node` and the index of `node` among its children.
    fn parent_of(&self, node: u32, is_leaf: bool) -> (u32, usize) {
        if is_leaf {
            let leaf = &self.leaves[node as usize];
            (leaf.parent, leaf.slot as usize)
        } else {
            let inner = &self.inners[node as usize];
            (inner.parent, usize::from(inner.slot))
        }
    }

    /// Points the parent link of the `c`-th child of `parent` at it.
    fn link(&mut self, parent: u32, c: usize) {
        let inner = &self.inners[parent as usize];
        let child = inner.children[c];
        if inner.leaf_children {
            let leaf = &mut self.leaves[child as usize];
            leaf.parent = parent;
            leaf.slot = c as u32;
        } else {
            let inner = &mut self.inners[child as usize];
            inner.parent = parent;
            inner.slot = c as u8;
        }
    }

    /// [`Self::link`] for the children from the `from`-th on, after entries moved.
    fn relink(&mut self, parent: u32, from: usize) {
        for c in from..self.inners[parent as usize].len() {
            self.link(parent, c);
        }
    }
}

impl<T: Extent> AreaTree<T> {
    /// The position of the last item with start `<= addr`.
    pub(crate) fn seek_le(&self, addr: usize) -> Option<Pos> {
        if self.root == NIL {
            return None;
        }
        let leaf = self.descend(addr);
        let below = rank(&self.leaves[leaf as usize].starts, addr.min(usize::MAX - 1));
        // Only the first leaf can have no start <= addr: then no item does.
        let slot = below.checked_sub(1)?;
        Some(Pos { leaf, slot })
    }

    /// The position of the last item with start `< addr`.
    pub(crate) fn seek_lt(&self, addr: usize) -> Option<Pos> {
        self.seek_le(addr.checked_sub(1)?)
    }

    /// The position of the first item with start `>= addr`.
    pub(crate) fn seek_ge(&self, addr: usize) -> Option<Pos> {
        match self.seek_lt(addr) {
            Some(pos) => self.next(pos),
            None => self.first(),
        }
    }

    /// The start of the item at `pos`.
    #[inline]
    pub(crate) fn start(&self, pos: Pos) -> usize {
        self.leaves[pos.leaf as usize].starts[pos.slot]
    }

    /// The end of the item at `pos`.
    #[inline]
    pub(crate) fn end(&self, pos: Pos) -> usize {
        self.leaves[pos.leaf as usize].ends[pos.slot]
    }

    fn leaf_summary(&self, leaf: u32) -> Summary {
        let l = &self.leaves[leaf as usize];
        let n = l.len();
        let gap = l.ends[..n - 1]
            .iter()
            .zip(&l.starts[1..n])
            .fold(0, |gap, (&end, &next)| gap.max(next - end));
        Summary {
            first: l.starts[0],
            last: l.ends[n - 1],
            gap,
        }
    }

    fn summary(&self, node: u32, is_leaf: bool) -> Summary {
        if is_leaf {
            self.leaf_summary(node)
        } else {
            self.inners[node as usize].own_summary()
        }
    }

    /// Writes the summary of `node` into its parent and on up, stopping at the first parent
    /// whose entry already says the same. Each parent updates its largest gap from the one
    /// entry that changed (see [`Inner`]).
    fn refresh_up(&mut self, node: u32, is_leaf: bool) {
        let summary = self.summary(node, is_leaf);
        self.refresh_up_with(node, is_leaf, summary);
    }

    /// [`Self::refresh_up`] with the new summary of `node` already known.
    fn refresh_up_with(&mut self, node: u32, is_leaf: bool, mut summary: Summary) {
        let (mut parent, mut c) = self.parent_of(node, is_leaf);
        while parent != NIL {
            let p = &mut self.inners[parent as usize];
            if !p.replace(c, summary) {
                return;
            }
            summary = p.own_summary();
            (parent, c) = (p.parent, usize::from(p.slot));
        }
    }

    /// Takes note that the range of the item at `pos` changed (the caller kept the items
    /// ordered and disjoint).
    pub(crate) fn fix(&mut self, pos: Pos) {
        self.leaves[pos.leaf as usize].fix(pos.slot);
        self.refresh_up(pos.leaf, true);
    }
}

/// The items of a tree in address order, from some position on.
pub(crate) struct Iter<'a, T> {
    tree: &'a AreaTree<T>,
    /// The leaf of the next item (`NIL` at the end) and its index there.
    leaf: u32,
    slot: usize,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        while self.leaf != NIL {
            let leaf = &self.tree.leaves[self.leaf as usize];
            if self.slot < leaf.len() {
                self.slot += 1;
                return Some(leaf.item(self.slot - 1));
            }
            self.leaf = leaf.next;
            self.slot = 0;
        }
        None
    }
}
