//! Insertion and removal: node splits on the way in, merges and rebalancing on the way out.

use alloc::vec::Vec;

use super::{AreaTree, CAP, Extent, Inner, Leaf, MIN, NIL, Pos, Summary, rank};

impl<T> AreaTree<T> {
    fn new_leaf(&mut self) -> u32 {
        if let Some(id) = self.free_leaves.pop() {
            let leaf = &mut self.leaves[id as usize];
            // Keep the allocation of the freed leaf's (empty) item vector.
            *leaf = Leaf::new(leaf.take_items());
            return id;
        }
        self.leaves.push(Leaf::new(Vec::new()));
        node_id(self.leaves.len())
    }

    fn free_leaf(&mut self, id: u32) {
        let items = self.leaves[id as usize].take_items();
        self.leaves[id as usize] = Leaf::new(items);
        self.free_leaves.push(id);
    }

    fn new_inner(&mut self, leaf_children: bool) -> u32 {
        let fresh = Inner::new(leaf_children);
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
        let n = self.leaves[leaf as usize].len();
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
        self.leaves[leaf as usize].insert(slot, item);
    }

    /// Moves the last `count` items of leaf `left` to the front of leaf `right`.
    fn move_to_right(&mut self, left: u32, right: u32, count: usize) {
        for _ in 0..count {
            let last = self.leaves[left as usize].len() - 1;
            let item = self.leaves[left as usize].remove(last);
            self.leaves[right as usize].insert(0, item);
        }
    }

    /// Moves the first `count` items of leaf `right` to the end of leaf `left`.
    fn move_to_left(&mut self, left: u32, right: u32, count: usize) {
        for _ in 0..count {
            let item = self.leaves[right as usize].remove(0);
            let end = self.leaves[left as usize].len();
            self.leaves[left as usize].insert(end, item);
        }
    }

    /// Moves the last `count` entries of inner node `left` to the front of `right`.
    fn move_entries_to_right(&mut self, left: u32, right: u32, count: usize) {
        for _ in 0..count {
            let l = &mut self.inners[left as usize];
            let c = l.len() - 1;
            let (child, s) = (l.children[c], l.summary(c));
            l.remove_entry(c);
            self.inners[right as usize].insert_entry(0, child, s);
        }
        self.inners[left as usize].rescan();
        self.inners[right as usize].rescan();
        self.relink(right, 0);
    }

    /// Moves the first `count` entries of inner node `right` to the end of `left`.
    fn move_entries_to_left(&mut self, left: u32, right: u32, count: usize) {
        let ln = self.inners[left as usize].len();
        for i in 0..count {
            let r = &mut self.inners[right as usize];
            let (child, s) = (r.children[0], r.summary(0));
            r.remove_entry(0);
            self.inners[left as usize].insert_entry(ln + i, child, s);
        }
        self.inners[left as usize].rescan();
        if self.inners[right as usize].len() > 0 {
            self.inners[right as usize].rescan();
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
            r.rescan();
            self.relink(root, 0);
            self.root = root;
            self.height += 1;
            return;
        }
        let p = &mut self.inners[parent as usize];
        p.put(c, ls);
        if p.len() < CAP {
            p.insert_entry(c + 1, right, rs);
            p.rescan();
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
        self.inners[node as usize].rescan();
        self.relink(node, index);
        self.add_sibling(parent, sibling, false);
    }

    /// Removes and returns the item at `pos`.
    pub(crate) fn remove(&mut self, pos: Pos) -> T {
        let item = self.leaves[pos.leaf as usize].remove(pos.slot);
        self.len -= 1;
        self.leaf_shrunk(pos.leaf, pos.slot);
        item
    }

    /// Drops the `count` items from `pos` on, which must all be in the leaf of `pos`.
    pub(crate) fn remove_run(&mut self, pos: Pos, count: usize) {
        // Highest first: each removal then shifts only the entries above the run.
        for i in (pos.slot..pos.slot + count).rev() {
            self.leaves[pos.leaf as usize].remove(i);
        }
        self.len -= count;
        self.leaf_shrunk(pos.leaf, pos.slot);
    }

    /// After items left `leaf` (a run that ended just before its `hole`-th item now): fixes the
    /// summaries, or merges or rebalances the leaf with a sibling if it holds fewer than `MIN`.
    fn leaf_shrunk(&mut self, leaf: u32, hole: usize) {
        let n = self.leaves[leaf as usize].len();
        // Leaves and inner nodes are numbered apart: a leaf is the root only at height 0.
        if self.height == 0 {
            if n == 0 {
                self.free_leaf(leaf);
                self.root = NIL;
            }
            return;
        }
        let (parent, c) = self.parent_of(leaf, true);
        if n >= MIN {
            let l = &self.leaves[leaf as usize];
            if hole > 0 && hole < n {
                // Removed from the middle: the first and last stay, and the only new gap is the
                // one the removal opened, which joined the gaps on either side.
                let old = self.inners[parent as usize].summary(c);
                let opened = l.starts[hole] - l.ends[hole - 1];
                let summary = Summary {
                    gap: old.gap.max(opened),
                    ..old
                };
                self.refresh_up_with(leaf, true, summary);
            } else {
                self.refresh_up(leaf, true);
            }
            return;
        }
        let p = &self.inners[parent as usize];
        // Every inner node has at least two children (the root too).
        let (lc, left, right) = if c > 0 {
            (c - 1, p.children[c - 1], leaf)
        } else {
            (0, leaf, p.children[1])
        };
        let ln = self.leaves[left as usize].len();
        let rn = self.leaves[right as usize].len();
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
            p.put(lc, s);
            p.remove_entry(lc + 1);
            p.rescan();
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
        p.put(lc, ls);
        p.put(lc + 1, rs);
        p.rescan();
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
            p.put(lc, s);
            p.remove_entry(lc + 1);
            p.rescan();
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
        p.put(lc, ls);
        p.put(lc + 1, rs);
        p.rescan();
        self.refresh_up(parent, false);
    }
}
