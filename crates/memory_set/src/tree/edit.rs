//! Insertion and removal: node splits on the way in, merges and rebalancing on the way out.

use alloc::vec::Vec;
use core::mem;

use super::{AreaTree, CAP, Extent, Inner, Leaf, MIN, NIL, Pos, Summary, Tail, rank};

impl<T> AreaTree<T> {
    fn new_leaf(&mut self) -> u32 {
        let fresh = Leaf {
            starts: [usize::MAX; CAP],
            ends: [0; CAP],
            items: Vec::new(),
            parent: NIL,
            slot: 0,
            prev: NIL,
            next: NIL,
        };
        if let Some(id) = self.free_leaves.pop() {
            let leaf = &mut self.leaves[id as usize];
            // Keep the allocation of the freed leaf's (empty) item vector.
            let items = mem::take(&mut leaf.items);
            *leaf = Leaf { items, ..fresh };
            return id;
        }
        self.leaves.push(Leaf {
            items: Vec::with_capacity(CAP),
            ..fresh
        });
        node_id(self.leaves.len())
    }

    fn free_leaf(&mut self, id: u32) {
        self.leaves[id as usize].items.clear();
        self.free_leaves.push(id);
    }

    fn new_inner(&mut self, leaf_children: bool) -> u32 {
        let fresh = Inner {
            first: [usize::MAX; CAP],
            children: [NIL; CAP],
            tails: [Tail::default(); CAP],
            len: 0,
            leaf_children,
            slot: 0,
            parent: NIL,
        };
        if let Some(id) = self.free_inners.pop() {
            self.inners[id as usize] = fresh;
            return id;
        }
        self.inners.push(fresh);
        node_id(self.inners.len())
    }
}

/// The index of the node just pushed onto an arena of `len` nodes.
fn node_id(len: usize) -> u32 {
    // An arena of 2^32 nodes would hold 2^36 areas: far more than any address space.
    debug_assert!(len <= NIL as usize, "area tree: arena overflow");
    (len - 1) as u32
}

impl Inner {
    /// Inserts the entry of `child` at index `c`; the node must have room.
    #[inline]
    fn insert_entry(&mut self, c: usize, child: u32, summary: Summary) {
        let n = self.len();
        self.first.copy_within(c..n, c + 1);
        self.tails.copy_within(c..n, c + 1);
        self.children.copy_within(c..n, c + 1);
        self.set_summary(c, summary);
        self.children[c] = child;
        self.len += 1;
    }

    /// Removes the entry at index `c`.
    #[inline]
    fn remove_entry(&mut self, c: usize) {
        let n = self.len();
        self.first.copy_within(c + 1..n, c);
        self.tails.copy_within(c + 1..n, c);
        self.children.copy_within(c + 1..n, c);
        self.first[n - 1] = usize::MAX;
        self.children[n - 1] = NIL;
        self.len -= 1;
    }
}

impl<T: Extent> AreaTree<T> {
    /// Adds `item`, which overlaps no item of the tree, and returns its position.
    pub(crate) fn insert(&mut self, item: T) -> Pos {
        if self.root == NIL {
            return self.insert_first(item);
        }
        let key = item.lo();
        let leaf = self.descend(key);
        // No start equals `key` (items are disjoint), so this counts the starts below it.
        let slot = rank(&self.leaves[leaf as usize].starts, key);
        self.insert_at(leaf, slot, item)
    }

    /// Adds `item` right after the item at `prev` (first if `None`): the caller has checked
    /// that it overlaps nothing and belongs there. Saves the descent of [`Self::insert`].
    pub(crate) fn insert_after(&mut self, prev: Option<Pos>, item: T) -> Pos {
        match prev {
            Some(pos) => self.insert_at(pos.leaf, pos.slot + 1, item),
            None if self.root == NIL => self.insert_first(item),
            None => {
                let leaf = self.descend(0);
                self.insert_at(leaf, 0, item)
            }
        }
    }

    /// Adds the first item of an empty tree.
    fn insert_first(&mut self, item: T) -> Pos {
        let leaf = self.new_leaf();
        self.root = leaf;
        self.height = 0;
        self.len = 1;
        self.leaf_insert(leaf, 0, item);
        Pos { leaf, slot: 0 }
    }

    /// Adds `item` at `slot` of `leaf`, splitting the leaf if it is full.
    fn insert_at(&mut self, leaf: u32, slot: usize, item: T) -> Pos {
        self.len += 1;
        let n = self.leaves[leaf as usize].items.len();
        if n < CAP {
            self.leaf_insert(leaf, slot, item);
            self.refresh_up(leaf, true);
            return Pos { leaf, slot };
        }
        // Full: split. An item added at the end moves only `MIN - 1` items to the new leaf, so
        // areas mapped in ascending order leave their leaves almost full; otherwise both
        // halves get room.
        let at = if slot == CAP { CAP + 1 - MIN } else { CAP / 2 };
        let right = self.new_leaf();
        self.move_to_right(leaf, right, CAP - at);
        let next = self.leaves[leaf as usize].next;
        self.leaves[right as usize].prev = leaf;
        self.leaves[right as usize].next = next;
        self.leaves[leaf as usize].next = right;
        if next != NIL {
            self.leaves[next as usize].prev = right;
        }
        let pos = if slot <= at {
            Pos { leaf, slot }
        } else {
            Pos {
                leaf: right,
                slot: slot - at,
            }
        };
        self.leaf_insert(pos.leaf, pos.slot, item);
        self.add_sibling(leaf, right, true);
        pos
    }

    fn leaf_insert(&mut self, leaf: u32, slot: usize, item: T) {
        let l = &mut self.leaves[leaf as usize];
        let n = l.items.len();
        l.starts.copy_within(slot..n, slot + 1);
        l.ends.copy_within(slot..n, slot + 1);
        l.starts[slot] = item.lo();
        l.ends[slot] = item.hi();
        l.items.insert(slot, item);
    }

    /// Moves the last `count` items of leaf `left` to the front of leaf `right`.
    fn move_to_right(&mut self, left: u32, right: u32, count: usize) {
        let mut items = mem::take(&mut self.leaves[left as usize].items);
        let n = items.len();
        let (starts, ends) = {
            let l = &self.leaves[left as usize];
            (l.starts, l.ends)
        };
        let r = &mut self.leaves[right as usize];
        let rn = r.items.len();
        r.items.splice(0..0, items.drain(n - count..));
        r.starts.copy_within(0..rn, count);
        r.ends.copy_within(0..rn, count);
        r.starts[..count].copy_from_slice(&starts[n - count..n]);
        r.ends[..count].copy_from_slice(&ends[n - count..n]);
        let l = &mut self.leaves[left as usize];
        l.items = items;
        l.starts[n - count..n].fill(usize::MAX);
        l.ends[n - count..n].fill(0);
    }

    /// Moves the first `count` items of leaf `right` to the end of leaf `left`.
    fn move_to_left(&mut self, left: u32, right: u32, count: usize) {
        let mut items = mem::take(&mut self.leaves[right as usize].items);
        let rn = items.len();
        let (starts, ends) = {
            let r = &self.leaves[right as usize];
            (r.starts, r.ends)
        };
        let l = &mut self.leaves[left as usize];
        let ln = l.items.len();
        l.items.extend(items.drain(..count));
        l.starts[ln..ln + count].copy_from_slice(&starts[..count]);
        l.ends[ln..ln + count].copy_from_slice(&ends[..count]);
        let r = &mut self.leaves[right as usize];
        r.items = items;
        r.starts.copy_within(count..rn, 0);
        r.ends.copy_within(count..rn, 0);
        r.starts[rn - count..rn].fill(usize::MAX);
        r.ends[rn - count..rn].fill(0);
    }

    /// Moves the last `count` entries of inner node `left` to the front of `right`.
    fn move_entries_to_right(&mut self, left: u32, right: u32, count: usize) {
        let l = self.inners[left as usize].clone();
        let n = l.len();
        let r = &mut self.inners[right as usize];
        for c in (0..r.len()).rev() {
            let (child, s) = (r.children[c], r.summary(c));
            r.children[c + count] = child;
            r.set_summary(c + count, s);
        }
        for i in 0..count {
            r.children[i] = l.children[n - count + i];
            r.set_summary(i, l.summary(n - count + i));
        }
        r.len += count as u8;
        let l = &mut self.inners[left as usize];
        l.first[n - count..n].fill(usize::MAX);
        l.children[n - count..n].fill(NIL);
        l.len -= count as u8;
        self.relink(right, 0);
    }

    /// Moves the first `count` entries of inner node `right` to the end of `left`.
    fn move_entries_to_left(&mut self, left: u32, right: u32, count: usize) {
        let r = self.inners[right as usize].clone();
        let l = &mut self.inners[left as usize];
        let ln = l.len();
        for i in 0..count {
            l.children[ln + i] = r.children[i];
            l.set_summary(ln + i, r.summary(i));
        }
        l.len += count as u8;
        for _ in 0..count {
            self.inners[right as usize].remove_entry(0);
        }
        self.relink(left, ln);
        self.relink(right, 0);
    }

    /// Registers `right`, a new node, as the next sibling of `left` (both leaves or both inner
    /// nodes of one level), splitting parents that are full and growing a new root if `left`
    /// was the root; then fixes the summaries above.
    fn add_sibling(&mut self, left: u32, right: u32, is_leaf: bool) {
        let (parent, c) = self.parent_of(left, is_leaf);
        let (ls, rs) = (self.summary(left, is_leaf), self.summary(right, is_leaf));
        if parent == NIL {
            let root = self.new_inner(is_leaf);
            let r = &mut self.inners[root as usize];
            r.insert_entry(0, left, ls);
            r.insert_entry(1, right, rs);
            self.relink(root, 0);
            self.root = root;
            self.height += 1;
            return;
        }
        let p = &mut self.inners[parent as usize];
        p.set_summary(c, ls);
        if p.len() < CAP {
            p.insert_entry(c + 1, right, rs);
            self.relink(parent, c + 1);
            self.refresh_up(parent, false);
            return;
        }
        let at = if c + 1 == CAP { CAP + 1 - MIN } else { CAP / 2 };
        let sibling = self.new_inner(is_leaf);
        self.move_entries_to_right(parent, sibling, CAP - at);
        let (node, index) = if c < at {
            (parent, c + 1)
        } else {
            (sibling, c + 1 - at)
        };
        self.inners[node as usize].insert_entry(index, right, rs);
        self.relink(node, index);
        self.add_sibling(parent, sibling, false);
    }

    /// Removes and returns the item at `pos`.
    pub(crate) fn remove(&mut self, pos: Pos) -> T {
        let l = &mut self.leaves[pos.leaf as usize];
        let n = l.items.len();
        let item = l.items.remove(pos.slot);
        l.starts.copy_within(pos.slot + 1..n, pos.slot);
        l.ends.copy_within(pos.slot + 1..n, pos.slot);
        l.starts[n - 1] = usize::MAX;
        l.ends[n - 1] = 0;
        self.len -= 1;
        self.leaf_shrunk(pos.leaf);
        item
    }

    /// Drops the `count` items from `pos` on, which must all be in the leaf of `pos`.
    pub(crate) fn remove_run(&mut self, pos: Pos, count: usize) {
        let l = &mut self.leaves[pos.leaf as usize];
        let n = l.items.len();
        l.items.drain(pos.slot..pos.slot + count);
        l.starts.copy_within(pos.slot + count..n, pos.slot);
        l.ends.copy_within(pos.slot + count..n, pos.slot);
        l.starts[n - count..n].fill(usize::MAX);
        l.ends[n - count..n].fill(0);
        self.len -= count;
        self.leaf_shrunk(pos.leaf);
    }

    /// After items left `leaf`: fixes the summaries, or merges or rebalances the leaf with a
    /// sibling if it holds fewer than `MIN`.
    fn leaf_shrunk(&mut self, leaf: u32) {
        let n = self.leaves[leaf as usize].items.len();
        // Leaves and inner nodes are numbered apart: a leaf is the root only at height 0.
        if self.height == 0 {
            if n == 0 {
                self.free_leaf(leaf);
                self.root = NIL;
            }
            return;
        }
        if n >= MIN {
            self.refresh_up(leaf, true);
            return;
        }
        let (parent, c) = self.parent_of(leaf, true);
        let p = &self.inners[parent as usize];
        // Every inner node has at least two children (the root too).
        let (lc, left, right) = if c > 0 {
            (c - 1, p.children[c - 1], leaf)
        } else {
            (0, leaf, p.children[1])
        };
        let ln = self.leaves[left as usize].items.len();
        let rn = self.leaves[right as usize].items.len();
        if ln + rn <= CAP {
            self.move_to_left(left, right, rn);
            let next = self.leaves[right as usize].next;
            self.leaves[left as usize].next = next;
            if next != NIL {
                self.leaves[next as usize].prev = left;
            }
            self.free_leaf(right);
            let s = self.leaf_summary(left);
            let p = &mut self.inners[parent as usize];
            p.set_summary(lc, s);
            p.remove_entry(lc + 1);
            self.relink(parent, lc + 1);
            self.inner_shrunk(parent);
            return;
        }
        let half = (ln + rn) / 2;
        if ln < half {
            self.move_to_left(left, right, half - ln);
        } else {
            self.move_to_right(left, right, ln - half);
        }
        let (ls, rs) = (self.leaf_summary(left), self.leaf_summary(right));
        let p = &mut self.inners[parent as usize];
        p.set_summary(lc, ls);
        p.set_summary(lc + 1, rs);
        self.refresh_up(parent, false);
    }

    /// After entries left inner node `node`: as [`Self::leaf_shrunk`] one level up; a root
    /// with one child gives way to it.
    fn inner_shrunk(&mut self, node: u32) {
        let n = self.inners[node as usize].len();
        if node == self.root {
            if n == 1 {
                let inner = &self.inners[node as usize];
                let (child, leaf_child) = (inner.children[0], inner.leaf_children);
                if leaf_child {
                    self.leaves[child as usize].parent = NIL;
                } else {
                    self.inners[child as usize].parent = NIL;
                }
                self.root = child;
                self.height -= 1;
                self.free_inners.push(node);
            }
            return;
        }
        if n >= MIN {
            self.refresh_up(node, false);
            return;
        }
        let (parent, c) = self.parent_of(node, false);
        let p = &self.inners[parent as usize];
        let (lc, left, right) = if c > 0 {
            (c - 1, p.children[c - 1], node)
        } else {
            (0, node, p.children[1])
        };
        let ln = self.inners[left as usize].len();
        let rn = self.inners[right as usize].len();
        if ln + rn <= CAP {
            self.move_entries_to_left(left, right, rn);
            self.free_inners.push(right);
            let s = self.inners[left as usize].own_summary();
            let p = &mut self.inners[parent as usize];
            p.set_summary(lc, s);
            p.remove_entry(lc + 1);
            self.relink(parent, lc + 1);
            self.inner_shrunk(parent);
            return;
        }
        let half = (ln + rn) / 2;
        if ln < half {
            self.move_entries_to_left(left, right, half - ln);
        } else {
            self.move_entries_to_right(left, right, ln - half);
        }
        let ls = self.inners[left as usize].own_summary();
        let rs = self.inners[right as usize].own_summary();
        let p = &mut self.inners[parent as usize];
        p.set_summary(lc, ls);
        p.set_summary(lc + 1, rs);
        self.refresh_up(parent, false);
    }
}
