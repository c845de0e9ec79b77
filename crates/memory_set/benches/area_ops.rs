//! Area bookkeeping, ours versus memory_set 0.4.1, side by side in one run, with a no-op
//! backend: N disjoint 4 KiB areas separated by 4 KiB holes, N = 100, 10k, 100k.
//!
//! Operations that change the set run in batches over distinct targets, with the set restored
//! between batches outside the timed region, so every timed operation sees about N areas.

#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use memory_addr::{AddrRange, VirtAddr, VirtAddrRange};

const K: usize = 0x1000;
const BASE: usize = 0x1000_0000;
const GIB: usize = 1 << 30;
/// The 1 GiB area of the "unmap 4 KiB from the middle" case sits above the small areas.
const BIG: usize = 0x100_0000_0000;

/// The address of small area `i`; hole `i` follows it.
fn area_at(i: usize) -> usize {
    BASE + 2 * K * i
}

/// One implementation under test, seen through the operations we time.
trait Subject: Sized {
    fn build(n: usize, with_big: bool) -> Self;
    fn map(&mut self, start: usize, size: usize);
    fn unmap(&mut self, start: usize, size: usize);
    fn protect(&mut self, start: usize, size: usize, flags: u8);
    fn find(&self, addr: usize) -> bool;
    fn find_free(&self, hint: usize, size: usize) -> Option<usize>;
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
        fn build(n: usize, with_big: bool) -> Self {
            let mut s = Ours(MemorySet::new());
            (0..n).for_each(|i| s.map(area_at(i), K));
            if with_big {
                s.map(BIG, GIB);
            }
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
        fn build(n: usize, with_big: bool) -> Self {
            let mut s = Upstream(MemorySet::new());
            (0..n).for_each(|i| s.map(area_at(i), K));
            if with_big {
                s.map(BIG, GIB);
            }
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

/// Times `iters` operations `op(set, j)` in batches of at most `batch`; `restore(set, done)`
/// undoes a batch of `done` operations outside the timed region.
fn batched<S: Subject>(
    set: &mut S,
    iters: u64,
    batch: usize,
    mut op: impl FnMut(&mut S, usize),
    mut restore: impl FnMut(&mut S, usize),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let n = left.min(batch);
        let t = Instant::now();
        for j in 0..n {
            op(set, j);
        }
        total += t.elapsed();
        restore(set, n);
        left -= n;
    }
    total
}

fn bench_subject<S: Subject>(c: &mut Criterion, name: &str, n: usize) {
    let id = |op: &str| BenchmarkId::new(format!("{op}/{name}"), n);
    // Batches touch at most 1/4 of the areas (and at most 256), so N stays about constant.
    let batch = (n / 4).clamp(1, 256);
    // Spread the batch's targets over the whole set, so B-tree paths differ.
    let stride = (n / batch).max(1);
    let mut group = c.benchmark_group("vmlayer_areas");

    let mut set = S::build(n, true);
    group.bench_function(id("map_into_hole"), |b| {
        b.iter_custom(|iters| {
            batched(
                &mut set,
                iters,
                batch,
                |s, j| s.map(area_at(j * stride) + K, K),
                |s, done| (0..done).for_each(|j| s.unmap(area_at(j * stride) + K, K)),
            )
        })
    });
    group.bench_function(id("unmap_one_area"), |b| {
        b.iter_custom(|iters| {
            batched(
                &mut set,
                iters,
                batch,
                |s, j| s.unmap(area_at(j * stride), K),
                |s, done| (0..done).for_each(|j| s.map(area_at(j * stride), K)),
            )
        })
    });
    group.bench_function(id("unmap_4k_in_1g_area"), |b| {
        b.iter_custom(|iters| {
            batched(
                &mut set,
                iters,
                batch.min(32),
                |s, j| s.unmap(BIG + GIB / 2 + 2 * K * j, K),
                |s, _| {
                    s.unmap(BIG, GIB);
                    s.map(BIG, GIB);
                },
            )
        })
    });
    let last = area_at(n - 1);
    let mut flip = 0u8;
    group.bench_function(id("protect_last_area"), |b| {
        b.iter(|| {
            flip ^= 1;
            set.protect(black_box(last), K, 2 | flip);
        })
    });
    let mut probe = 0usize;
    group.bench_function(id("find"), |b| {
        b.iter(|| {
            probe = (probe + 7919) % n;
            black_box(set.find(black_box(area_at(probe) + 0x800)))
        })
    });
    group.bench_function(id("find_free_area_worst"), |b| {
        // 8 KiB fits no 4 KiB hole: the answer is past the last small area.
        b.iter(|| black_box(set.find_free(black_box(0), black_box(2 * K))))
    });
    group.finish();
    // The first 8 KiB hole is the one after the last small area.
    let expected = Some(area_at(n) - K);
    assert_eq!(set.find_free(0, 2 * K), expected, "find_free_area answer");
}

fn area_ops(c: &mut Criterion) {
    for n in [100, 10_000, 100_000] {
        bench_subject::<ours::Ours>(c, "ours", n);
        bench_subject::<upstream::Upstream>(c, "0.4.1", n);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = area_ops
}
criterion_main!(benches);
