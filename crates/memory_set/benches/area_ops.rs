//! Area bookkeeping, ours versus memory_set 0.4.1, side by side in one run, with a no-op
//! backend: N disjoint 4 KiB areas separated by 4 KiB holes (plus one 1 GiB area above them),
//! N = 100, 1k, 10k, 100k.
//!
//! `cargo bench -p vmlayer_areas --bench area_ops` prints the tables of BENCHMARKS.md: per row
//! a pair of operations that returns the set to its shape, on random targets of its own. Each
//! round times one batch of 64 pairs (16 for the split) of every row on each crate, alternating
//! which crate goes first; a figure is the median over the rounds of the time per pair, and
//! "× find" the median over the rounds of ours / ours' find in the same round. Lookups are
//! also compared alone, in a phase before the others with both trees warmed by a sweep (in the
//! main phase 0.4.1 walks all its areas in most rows, which keeps its tree in the cache and
//! ours out). Then the heap bytes per area, from a counting global allocator. Arguments select
//! sizes and rows (`-- 100000 unmap_map find`), by default all of them.
//!
//! Instruction counts: `AREAS_BENCH_ONCE=1` runs every pair a fixed number of times inside the
//! functions of the [`once`] module, for callgrind:
//!
//! ```text
//! AREAS_BENCH_ONCE=1 valgrind --tool=callgrind --toggle-collect='*once::*' <bench binary> 100
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep once::
//! ```
//!
//! and divide each function's count by [`once::PAIRS`]. With `--cache-sim=yes` callgrind also
//! counts the cache misses of a simulated cache (`--D1=32768,8,64 --LL=1048576,16,64`: the L1d
//! and L2 of the development machine), a repeatable proxy for the cost of a cold operation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use memory_addr::{AddrRange, VirtAddr, VirtAddrRange};

const K: usize = 0x1000;
const BASE: usize = 0x1000_0000;
const GIB: usize = 1 << 30;
/// The 1 GiB area of the split case sits above the small areas.
const BIG: usize = 0x100_0000_0000;

/// Counts live heap bytes, for the memory per area.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc` is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The address of small area `i`; hole `i` follows it.
fn area_at(i: usize) -> usize {
    BASE + 2 * K * i
}

/// One implementation under test, seen through the operations we time.
trait Subject: Sized {
    const NAME: &'static str;
    fn build(n: usize) -> Self;
    fn map(&mut self, start: usize, size: usize);
    fn unmap(&mut self, start: usize, size: usize);
    fn protect(&mut self, start: usize, size: usize, flags: u8);
    fn find(&self, addr: usize) -> bool;
    fn find_free(&self, hint: usize, size: usize) -> Option<usize>;
}

/// Builds the set of the benchmark: `n` small areas, then the 1 GiB one.
fn build_with<S: Subject>(set: &mut S, n: usize) {
    (0..n).for_each(|i| set.map(area_at(i), K));
    set.map(BIG, GIB);
}

mod ours {
    use super::*;
    use vmlayer_areas::{MappingBackend, MappingResult, MemoryArea, MemorySet};

    #[derive(Clone)]
    pub(crate) struct Noop;
    impl MappingBackend<u8, ()> for Noop {
        fn map(&self, _: VirtAddr, _: usize, _: u8, _: &mut ()) -> MappingResult {
            Ok(())
        }
        fn unmap(&self, _: VirtAddr, _: usize, _: &mut ()) -> MappingResult {
            Ok(())
        }
        fn protect(&self, _: VirtAddr, _: usize, _: u8, _: &mut ()) -> MappingResult {
            Ok(())
        }
    }

    pub(crate) struct Ours(MemorySet<u8, (), Noop>);

    impl Subject for Ours {
        const NAME: &'static str = "ours";
        fn build(n: usize) -> Self {
            let mut s = Ours(MemorySet::new());
            build_with(&mut s, n);
            s
        }
        fn map(&mut self, start: usize, size: usize) {
            let area = MemoryArea::new(VirtAddr::from(start), size, 1, Noop);
            self.0.map(area, &mut (), false).expect("map");
        }
        fn unmap(&mut self, start: usize, size: usize) {
            self.0
                .unmap(VirtAddr::from(start), size, &mut ())
                .expect("unmap");
        }
        fn protect(&mut self, start: usize, size: usize, flags: u8) {
            self.0
                .protect(VirtAddr::from(start), size, |_| Some(flags), &mut ())
                .expect("protect");
        }
        fn find(&self, addr: usize) -> bool {
            self.0.find(VirtAddr::from(addr)).is_some()
        }
        fn find_free(&self, hint: usize, size: usize) -> Option<usize> {
            let limit = VirtAddrRange::from_start_size(VirtAddr::from(BASE), BIG - BASE);
            self.0
                .find_free_area(VirtAddr::from(hint), size, limit, K)
                .map(|a| a.as_usize())
        }
    }
}

mod upstream {
    use super::*;
    use memory_set_upstream::{MappingBackend, MemoryArea, MemorySet};

    #[derive(Clone)]
    pub(crate) struct Noop;
    impl MappingBackend for Noop {
        type Addr = VirtAddr;
        type Flags = u8;
        type PageTable = ();
        fn map(&self, _: VirtAddr, _: usize, _: u8, _: &mut ()) -> bool {
            true
        }
        fn unmap(&self, _: VirtAddr, _: usize, _: &mut ()) -> bool {
            true
        }
        fn protect(&self, _: VirtAddr, _: usize, _: u8, _: &mut ()) -> bool {
            true
        }
    }

    pub(crate) struct Upstream(MemorySet<Noop>);

    impl Subject for Upstream {
        const NAME: &'static str = "0.4.1";
        fn build(n: usize) -> Self {
            let mut s = Upstream(MemorySet::new());
            build_with(&mut s, n);
            s
        }
        fn map(&mut self, start: usize, size: usize) {
            let area = MemoryArea::new(VirtAddr::from(start), size, 1, Noop);
            self.0.map(area, &mut (), false).expect("map");
        }
        fn unmap(&mut self, start: usize, size: usize) {
            self.0
                .unmap(VirtAddr::from(start), size, &mut ())
                .expect("unmap");
        }
        fn protect(&mut self, start: usize, size: usize, flags: u8) {
            self.0
                .protect(VirtAddr::from(start), size, |_| Some(flags), &mut ())
                .expect("protect");
        }
        fn find(&self, addr: usize) -> bool {
            self.0.find(VirtAddr::from(addr)).is_some()
        }
        fn find_free(&self, hint: usize, size: usize) -> Option<usize> {
            let limit = AddrRange::from_start_size(VirtAddr::from(BASE), BIG - BASE);
            self.0
                .find_free_area(VirtAddr::from(hint), size, limit, K)
                .map(|a| a.as_usize())
        }
    }
}

/// The rows: each a pair of operations (or one lookup) on target `i`, an index below N.
#[derive(Clone, Copy, PartialEq)]
enum Row {
    UnmapMap,
    SplitJoin,
    MapUnmap,
    ProtectBack,
    Find,
    FindFree,
    /// Find, in a phase of its own before the others (both trees warmed by a sweep), so no
    /// other row runs between the two crates' batches.
    FindAlone,
}

/// Each row with the name that selects it on the command line and its label.
const ROWS: [(Row, &str, &str); 6] = [
    (
        Row::UnmapMap,
        "unmap_map",
        "unmap a 4 KiB area + map it back",
    ),
    (
        Row::SplitJoin,
        "split_join",
        "unmap 4 KiB from the middle of a 1 GiB area + map it back",
    ),
    (
        Row::MapUnmap,
        "map_unmap",
        "map 4 KiB into a hole + unmap it",
    ),
    (
        Row::ProtectBack,
        "protect_back",
        "protect the last area + protect it back",
    ),
    (Row::Find, "find", "find(random address)"),
    (
        Row::FindFree,
        "find_free",
        "find_free_area, worst case (8 KiB, no hole fits)",
    ),
];

/// Pairs in one split batch: each leaves two more areas, undone between batches.
const SPLIT_BATCH: usize = 16;

/// Runs `row` on targets `targets` (indices below `n`).
fn run_row<S: Subject>(set: &mut S, row: Row, n: usize, targets: &[usize]) {
    match row {
        Row::UnmapMap => {
            for &i in targets {
                set.unmap(area_at(i), K);
                set.map(area_at(i), K);
            }
        }
        Row::SplitJoin => {
            for &i in targets {
                let at = BIG + GIB / 2 + 2 * K * (i % (GIB / (4 * K)));
                set.unmap(at, K);
                set.map(at, K);
            }
        }
        Row::MapUnmap => {
            for &i in targets {
                set.map(area_at(i) + K, K);
                set.unmap(area_at(i) + K, K);
            }
        }
        Row::ProtectBack => {
            for _ in targets {
                set.protect(area_at(n - 1), K, 3);
                set.protect(area_at(n - 1), K, 1);
            }
        }
        Row::Find | Row::FindAlone => {
            for &i in targets {
                black_box(set.find(black_box(area_at(i) + 0x800)));
            }
        }
        Row::FindFree => {
            for _ in targets {
                black_box(set.find_free(black_box(0), black_box(2 * K)));
            }
        }
    }
}

/// Undoes what `row` left (only the split pairs change the set's shape).
fn restore<S: Subject>(set: &mut S, row: Row) {
    if row == Row::SplitJoin {
        set.unmap(BIG, GIB);
        set.map(BIG, GIB);
    }
}

/// A fixed pseudo-random sequence of targets below `n`.
fn targets(n: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut x = seed | 1;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What one row measured at one N.
struct Measured {
    row: Row,
    /// Median ns per pair, ours.
    ours: f64,
    /// Median ns per pair, 0.4.1.
    upstream: f64,
    /// Median over the rounds of ours / ours' find in the same round.
    per_find: f64,
}

/// Runs `rounds` rounds; each times one batch of every row on each crate (alternating which
/// goes first), so a row and the find it is compared with are measured seconds apart.
fn measure(
    n: usize,
    rows: &[(Row, &str, &str)],
    ours: &mut ours::Ours,
    up: &mut upstream::Upstream,
) -> Vec<Measured> {
    // 0.4.1 is O(n) per change: fewer rounds at large N keep the run short.
    let lookups_only = rows.iter().all(|r| r.0 == Row::Find);
    let rounds = if n >= 10_000 && !lookups_only {
        15
    } else {
        101
    };
    let mut times = vec![(Vec::new(), Vec::new()); rows.len()];
    for round in 0..rounds {
        for (i, (&(row, _, _), (a, b))) in rows.iter().zip(&mut times).enumerate() {
            let batch = match row {
                Row::SplitJoin => SPLIT_BATCH,
                _ => 64,
            };
            // Targets of their own per row and round: no row finds its lines warmed by another.
            let seed = 0x9e37_79b9_7f4a_7c15 ^ ((round as u64) << 32) ^ ((i as u64) << 16);
            let t = targets(n, batch, seed);
            let time = |run: &mut dyn FnMut()| {
                let start = Instant::now();
                run();
                start.elapsed().as_secs_f64() * 1e9 / batch as f64
            };
            // Alternate which crate goes first, so drift in the machine's load hits both.
            if round % 2 == 0 {
                a.push(time(&mut || run_row(ours, row, n, &t)));
                b.push(time(&mut || run_row(up, row, n, &t)));
            } else {
                b.push(time(&mut || run_row(up, row, n, &t)));
                a.push(time(&mut || run_row(ours, row, n, &t)));
            }
            restore(ours, row);
            restore(up, row);
        }
    }
    let find = rows
        .iter()
        .position(|r| r.0 == Row::Find)
        .expect("find row");
    let finds = times[find].0.clone();
    rows.iter()
        .zip(times)
        .map(|(&(row, _, _), (a, b))| {
            // The first round warms caches and branch predictors.
            let ratios = a.iter().zip(&finds).skip(1).map(|(x, f)| x / f).collect();
            Measured {
                row,
                ours: median(a[1..].to_vec()),
                upstream: median(b[1..].to_vec()),
                per_find: median(ratios),
            }
        })
        .collect()
}

/// Live heap bytes per area after building a set of `n` small areas.
fn bytes_per_area<S: Subject>(n: usize) -> f64 {
    let before = LIVE.load(Ordering::Relaxed);
    let set = S::build(n);
    let after = LIVE.load(Ordering::Relaxed);
    drop(set);
    // The 1 GiB area counts as one more.
    (after - before) as f64 / (n + 1) as f64
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

/// The sizes (numbers) and rows (names) given on the command line; all of them by default.
fn selection() -> (Vec<usize>, Vec<(Row, &'static str, &'static str)>) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![100, 1_000, 10_000, 100_000];
    }
    let named: Vec<_> = ROWS
        .into_iter()
        .filter(|(_, name, _)| args.iter().any(|a| a == name))
        .collect();
    // The ratio table needs find.
    let rows = if named.is_empty() {
        ROWS.to_vec()
    } else {
        ROWS.into_iter()
            .filter(|r| r.0 == Row::Find || named.iter().any(|n| n.0 == r.0))
            .collect()
    };
    (sizes, rows)
}

/// Fixed-count runs for callgrind: each function runs [`PAIRS`] pairs of one row on one crate.
mod once {
    /// Pairs (or lookups) per function, in batches of `SPLIT_BATCH` that each start with a cold
    /// cache (the split row restores the set after each).
    pub(crate) const PAIRS: usize = 256;

    macro_rules! once_fns {
        ($subject:ty, $($name:ident: $row:expr;)*) => {$(
            #[inline(never)]
            pub(crate) fn $name(set: &mut $subject, n: usize, targets: &[usize]) {
                run_row(set, $row, n, targets);
            }
        )*};
    }

    macro_rules! once_mod {
        ($module:ident, $subject:ty) => {
            /// The measured functions for one crate.
            pub(crate) mod $module {
                use super::super::*;

                once_fns! {
                    $subject,
                    unmap_map: Row::UnmapMap;
                    split_join: Row::SplitJoin;
                    map_unmap: Row::MapUnmap;
                    protect_back: Row::ProtectBack;
                    find: Row::Find;
                    find_free: Row::FindFree;
                }
            }
        };
    }

    once_mod!(ours, crate::ours::Ours);
    once_mod!(upstream, crate::upstream::Upstream);
}

/// The measured functions of one crate, in the order of [`ROWS`].
type OnceFns<S> = [fn(&mut S, usize, &[usize]); 6];

/// Runs every function of [`once`] for one crate on a fresh set of `n` areas.
fn run_once<S: Subject>(n: usize, fns: OnceFns<S>) {
    let mut set = S::build(n);
    // Larger than the simulated L2: touched between batches, so that every batch starts cold,
    // as in the timed runs (where the other crate's batch runs in between).
    let mut evict = vec![0u8; 8 << 20];
    for (i, (f, (row, _, _))) in fns.iter().zip(ROWS).enumerate() {
        // Targets of their own, so no function finds its lines in the cache from the last.
        let t = targets(n, once::PAIRS, 0x5eed + i as u64);
        for chunk in t.chunks(SPLIT_BATCH) {
            evict
                .iter_mut()
                .step_by(64)
                .for_each(|b| *b = b.wrapping_add(1));
            f(&mut set, n, chunk);
            restore(&mut set, row);
        }
    }
    black_box(&evict);
    eprintln!("{}: N = {n}, {} pairs per function", S::NAME, once::PAIRS);
}

fn main() {
    let (sizes, mut rows) = selection();
    if std::env::var_os("AREAS_BENCH_ONCE").is_some() {
        for &n in &sizes {
            use once::{ours as a, upstream as b};
            let fns = [
                a::unmap_map,
                a::split_join,
                a::map_unmap,
                a::protect_back,
                a::find,
                a::find_free,
            ];
            run_once::<ours::Ours>(n, fns);
            let fns = [
                b::unmap_map,
                b::split_join,
                b::map_unmap,
                b::protect_back,
                b::find,
                b::find_free,
            ];
            run_once::<upstream::Upstream>(n, fns);
        }
        return;
    }
    let measured_rows = rows.clone();
    rows.push((
        Row::FindAlone,
        "",
        "find(random address), lookups alone (both trees warm)",
    ));
    println!("ns per pair, ours / 0.4.1 (median of interleaved batches):\n");
    let mut header = String::from("| operation |");
    let mut line = String::from("|---|");
    for n in &sizes {
        header += &format!(" N={n} ours | N={n} 0.4.1 |");
        line += "---|---|";
    }
    println!("{header}\n{line}");
    let mut results = Vec::new();
    for &n in &sizes {
        let mut ours = ours::Ours::build(n);
        let mut up = upstream::Upstream::build(n);
        // Lookups compared on their own first, both trees warmed by a sweep over every area:
        // between two find batches of the main phase, 0.4.1 walks all its areas in most rows,
        // which keeps its tree in the cache and ours out of it.
        (0..n).for_each(|i| {
            black_box(ours.find(area_at(i)));
            black_box(up.find(area_at(i)));
        });
        let find_row = [(Row::Find, "find", "")];
        let alone = measure(n, &find_row, &mut ours, &mut up).remove(0);
        let mut measured = measure(n, &measured_rows, &mut ours, &mut up);
        measured.push(Measured {
            row: Row::FindAlone,
            per_find: 1.0,
            ..alone
        });
        results.push((n, measured));
        let expected = Some(area_at(n) - K);
        assert_eq!(ours.find_free(0, 2 * K), expected, "ours: find_free_area");
        assert_eq!(up.find_free(0, 2 * K), expected, "0.4.1: find_free_area");
    }
    let get = |n: usize, row: Row| {
        results
            .iter()
            .find(|r| r.0 == n)
            .and_then(|r| r.1.iter().find(|m| m.row == row))
            .expect("measured")
    };
    for &(row, _, label) in &rows {
        let mut cells = format!("| {label} |");
        for &n in &sizes {
            let m = get(n, row);
            cells += &format!(" {} | {} |", fmt_ns(m.ours), fmt_ns(m.upstream));
        }
        println!("{cells}");
    }

    println!(
        "\nRatios: 0.4.1 / ours (≥ 1 means ours is faster), and ours / ours' find in the same \
         round (median over rounds):\n"
    );
    let mut header = String::from("| operation |");
    let mut line = String::from("|---|");
    for n in &sizes {
        header += &format!(" N={n} speed-up | N={n} × find |");
        line += "---|---|";
    }
    println!("{header}\n{line}");
    for &(row, _, label) in &rows {
        let mut cells = format!("| {label} |");
        for &n in &sizes {
            let m = get(n, row);
            cells += &format!(" {:.2}× | {:.1} |", m.upstream / m.ours, m.per_find);
        }
        println!("{cells}");
    }

    println!("\nHeap bytes per area (counting allocator, set built in ascending order):\n");
    println!("| N | ours | 0.4.1 | difference |\n|---|---|---|---|");
    for &n in &sizes {
        let a = bytes_per_area::<ours::Ours>(n);
        let b = bytes_per_area::<upstream::Upstream>(n);
        println!("| {n} | {a:.1} | {b:.1} | {:+.1} |", a - b);
    }
}
