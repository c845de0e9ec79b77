//! The area tree on its own, against a `BTreeMap` model, with enough items for three and more
//! levels: random insertions, removals (single and runs), range changes, lookups and gap
//! searches, checking every invariant of the tree after each step.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use proptest::prelude::*;

use crate::gaps::TOP;
use crate::tree::{AreaTree, CAP, Extent};

/// A range `[lo, hi)`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Item(usize, usize);

impl Extent for Item {
    fn lo(&self) -> usize {
        self.0
    }
    fn hi(&self) -> usize {
        self.1
    }
}

/// The model: start -> end.
type Model = BTreeMap<usize, usize>;

#[derive(Clone, Debug)]
enum Op {
    /// Insert `[at, at + len)` if free.
    Insert { at: usize, len: usize },
    /// Remove the item at or after `at`.
    Remove { at: usize },
    /// Remove up to `count` items from the one at or after `at`, within its leaf.
    RemoveRun { at: usize, count: usize },
    /// Move the end of the item at or after `at` by `delta` (within the free space).
    Resize { at: usize, delta: isize },
    /// Look up, and search for `len` units aligned to `1 << shift` in `[lo, hi)`.
    Query {
        at: usize,
        len: usize,
        lo: usize,
        hi: usize,
        shift: u32,
    },
}

/// The space the items live in: small enough that they collide, big enough for many levels.
const SPACE: usize = 6000;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..SPACE, 1..6usize).prop_map(|(at, len)| Op::Insert { at, len }),
        2 => (0..SPACE).prop_map(|at| Op::Remove { at }),
        1 => (0..SPACE, 1..2 * CAP).prop_map(|(at, count)| Op::RemoveRun { at, count }),
        2 => (0..SPACE, -3..4isize).prop_map(|(at, delta)| Op::Resize { at, delta }),
        3 => (0..SPACE + 10, 1..8usize, 0..SPACE, 0..SPACE + 10, 0..3u32)
            .prop_map(|(at, len, lo, hi, shift)| Op::Query { at, len, lo, hi, shift }),
    ]
}

/// The model's lowest fit, by brute force over its gaps.
fn model_fit(model: &Model, lo: usize, hi: usize, len: usize, align: usize) -> Option<usize> {
    let mut gaps = Vec::new();
    let mut prev = 0;
    for (&s, &e) in model {
        gaps.push((prev, s));
        prev = e;
    }
    gaps.push((prev, TOP));
    gaps.into_iter()
        .find_map(|(gs, ge)| crate::gaps::fit_in(gs, ge, lo, hi, len, align))
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut tree = AreaTree::new();
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Insert { at, len } => {
                let free = model
                    .range(..at + len)
                    .next_back()
                    .is_none_or(|(_, &e)| e <= at);
                if free {
                    let pos = tree.insert(Item(at, at + len));
                    prop_assert_eq!(tree.get(pos), &Item(at, at + len), "insert position");
                    model.insert(at, at + len);
                }
            }
            Op::Remove { at } => {
                if let Some(pos) = tree.seek_ge(at) {
                    let item = tree.remove(pos);
                    prop_assert_eq!(model.remove(&item.0), Some(item.1), "removed item");
                }
            }
            Op::RemoveRun { at, count } => {
                if let Some(first) = tree.seek_ge(at) {
                    let mut run = Vec::new();
                    let mut next = Some(first);
                    while let Some(pos) = next.filter(|p| p.same_leaf(first) && run.len() < count) {
                        run.push(tree.get(pos).0);
                        next = tree.next(pos);
                    }
                    tree.remove_run(first, run.len());
                    for start in run {
                        model.remove(&start);
                    }
                }
            }
            Op::Resize { at, delta } => {
                if let Some(pos) = tree.seek_ge(at) {
                    let Item(lo, hi) = tree.get(pos).clone();
                    let limit = model.range(hi..).next().map_or(TOP, |(&s, _)| s);
                    let new_hi = hi.saturating_add_signed(delta).clamp(lo + 1, limit);
                    tree.get_mut(pos).1 = new_hi;
                    tree.fix(pos);
                    model.insert(lo, new_hi);
                }
            }
            Op::Query {
                at,
                len,
                lo,
                hi,
                shift,
            } => {
                let want = model.range(..=at).next_back().map(|(&s, &e)| (s, e));
                let got = tree.seek_le(at).map(|p| (tree.get(p).0, tree.get(p).1));
                prop_assert_eq!(got, want, "seek_le({})", at);
                let want_ge = model.range(at..).next().map(|(&s, _)| s);
                prop_assert_eq!(tree.seek_ge(at).map(|p| tree.get(p).0), want_ge, "seek_ge");
                let span = match want {
                    Some((_, e)) if e > at => None,
                    _ => {
                        let start = want.map_or(0, |(_, e)| e);
                        Some((start, want_ge.unwrap_or(TOP)))
                    }
                };
                prop_assert_eq!(tree.free_span(at), span, "free_span({})", at);
                let align = 1 << shift;
                prop_assert_eq!(
                    tree.lowest_fit(lo, hi, len, align),
                    model_fit(&model, lo, hi, len, align),
                    "lowest_fit({}, {}, {}, {})",
                    lo,
                    hi,
                    len,
                    align
                );
            }
        }
        tree.check();
        prop_assert_eq!(tree.len(), model.len(), "len");
    }
    let items: Vec<_> = tree.iter().map(|i| (i.0, i.1)).collect();
    let want: Vec<_> = model.into_iter().collect();
    prop_assert_eq!(items, want, "items in order");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: super::proptest_cases(if cfg!(miri) { 2 } else { 64 }),
        ..ProptestConfig::default()
    })]

    #[test]
    fn tree_matches_a_btreemap(ops in proptest::collection::vec(op(), 1..if cfg!(miri) { 300 } else { 3000 })) {
        run(ops)?;
    }
}

#[test]
fn ascending_inserts_fill_leaves_and_descending_removals_empty_the_tree() {
    // Three levels above the leaves (fewer under Miri, which is slow).
    let n = if cfg!(miri) { 700 } else { 5000 };
    let mut tree = AreaTree::new();
    for i in 0..n {
        tree.insert(Item(2 * i, 2 * i + 1));
    }
    tree.check();
    assert_eq!(tree.len(), n, "all inserted");
    assert_eq!(
        tree.lowest_fit(0, TOP, 2, 1),
        Some(2 * n - 1),
        "the first gap of 2 is after the last item"
    );
    for i in (0..n).rev() {
        let pos = tree.seek_le(2 * i).expect("item present");
        assert_eq!(tree.remove(pos), Item(2 * i, 2 * i + 1), "removed item {i}");
        if i % 97 == 0 {
            tree.check();
        }
    }
    tree.check();
    assert_eq!(tree.len(), 0, "tree empty");
    assert_eq!(tree.first(), None, "no first item");
}

/// `0..n` in a scattered order (`n` must not be a multiple of 7919, a prime).
fn scattered(n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |i| (i * 7919) % n)
}

/// The number of items in each leaf, in order.
fn leaf_sizes(tree: &AreaTree<Item>) -> Vec<usize> {
    let mut sizes: Vec<usize> = Vec::new();
    let mut previous = None;
    let mut pos = tree.first();
    while let Some(here) = pos {
        match sizes.last_mut() {
            Some(size) if previous.is_some_and(|p: crate::tree::Pos| p.same_leaf(here)) => {
                *size += 1;
            }
            _ => sizes.push(1),
        }
        previous = Some(here);
        pos = tree.next(here);
    }
    sizes
}

#[test]
fn scattered_and_descending_inserts_and_removals_keep_every_invariant() {
    // Enough items for three levels above the leaves, so that inner nodes split and rebalance
    // at every position, not only at their ends.
    let n = if cfg!(miri) { 700 } else { 5000 };
    for order in [
        scattered(n).collect::<Vec<_>>(),
        (0..n).rev().collect::<Vec<_>>(),
    ] {
        let mut tree = AreaTree::new();
        for (k, &i) in order.iter().enumerate() {
            tree.insert(Item(2 * i, 2 * i + 1));
            if k % 97 == 0 {
                tree.check();
            }
        }
        tree.check();
        assert!(
            tree.iter().eq((0..n)
                .map(|i| Item(2 * i, 2 * i + 1))
                .collect::<Vec<_>>()
                .iter()),
            "items in order"
        );
        for (k, i) in scattered(n).enumerate() {
            let pos = tree.seek_le(2 * i).expect("item present");
            assert_eq!(tree.remove(pos), Item(2 * i, 2 * i + 1));
            if k % 97 == 0 {
                tree.check();
                assert_eq!(tree.len(), n - k - 1);
            }
        }
        tree.check();
        assert_eq!(tree.first(), None);
    }
}

#[test]
fn ascending_inserts_leave_full_leaves_but_for_room_at_the_split() {
    // An item added after a full leaf's last moves `MIN - 1 = CAP / 4 - 1` items to the new
    // leaf, so every leaf but the last keeps `CAP + 1 - CAP / 4`.
    let mut tree = AreaTree::new();
    for i in 0..200 {
        tree.insert(Item(2 * i, 2 * i + 1));
    }
    tree.check();
    let sizes = leaf_sizes(&tree);
    let (last, full) = sizes.split_last().unwrap();
    assert!(full.iter().all(|&n| n == CAP + 1 - CAP / 4), "{sizes:?}");
    assert!(*last <= CAP, "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 200);
}

#[test]
fn ascending_inserts_leave_full_inner_nodes_but_for_room_at_the_split() {
    // As with leaves: a child added after a full inner node's last moves `MIN - 1` entries to
    // the new node, so every node but the last of each level keeps `CAP + 1 - MIN = 13`.
    // 5000 items: 384 leaves of 13 and one of 8; above them 29 nodes of 13 and one of 8, then
    // 2 of 13 and one of 4, then the root: 385 leaves and 34 inner nodes.
    let mut tree = AreaTree::new();
    for i in 0..5000 {
        tree.insert(Item(2 * i, 2 * i + 1));
    }
    tree.check();
    assert_eq!(tree.node_counts(), (385, 34));
    // The last leaf is not full: its free slots are not items at or below any address.
    let last = tree.seek_le(usize::MAX).map(|pos| tree.get(pos).clone());
    assert_eq!(last, Some(Item(9998, 9999)), "seek_le(usize::MAX)");
    // Emptied, the tree keeps no node in use: every one went back to the free lists.
    for i in (0..5000).rev() {
        let pos = tree.seek_le(2 * i).expect("item present");
        tree.remove(pos);
    }
    assert_eq!(tree.node_counts(), (0, 0), "nodes in use when empty");
}

#[test]
fn an_inner_node_that_underflows_borrows_from_a_fuller_right_sibling() {
    // Ascending inserts: leaves of 13 items, inner nodes of 13 leaves (the second starts at
    // item 169). Two leaf splits in the second inner node give it 15 children; emptying the
    // first from the left then leaves it too small to merge with its right sibling, so it
    // borrows entries from it. The largest gap (item 175 left out) is among the entries that
    // move: both nodes' gap summaries must follow.
    let mut tree = AreaTree::new();
    for i in (0..400).filter(|&i| i != 175) {
        tree.insert(Item(10 * i, 10 * i + 1));
    }
    for (leaf_start, extra) in [(169, 5), (182, 4)] {
        for k in 0..extra {
            let at = 10 * (leaf_start + k) + 5;
            tree.insert(Item(at, at + 1));
        }
    }
    tree.check();
    for i in (0..200).filter(|&i| i != 175) {
        let pos = tree.seek_le(10 * i).expect("item present");
        assert_eq!(tree.remove(pos), Item(10 * i, 10 * i + 1));
        tree.check();
    }
    assert_eq!(tree.len(), 399 + 9 - 199);
}
