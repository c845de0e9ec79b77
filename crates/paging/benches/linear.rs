//! Map / protect / unmap 1 GiB as 4 KiB pages through our Linear backend versus
//! page_table_multiarch's own cursor (`map_region` / `protect_region` / `unmap_region`), in one
//! run, plus a 1 GiB-aligned map as one entry. Throughput is in pages: ns per page = 1e3 /
//! (Melem/s).
//!
//! `cargo bench -p vmlayer_paging --bench linear -- --warm-up-time 1 --measurement-time 2`
//!
//! On the 2-core development VM (x86_64 host, frames from a pre-touched pool), median ns per
//! 4 KiB page, ours / upstream: map 0.76 / 7.6, protect 1.06 / 7.7, unmap 0.78 / 11.2; a 1 GiB
//! aligned map is one entry in ~0.18 µs (upstream ~0.12 µs). Instructions per page under
//! callgrind (see [`once`]), ours / upstream: map 21.4 / 118.2, protect 9.2 / 91.0, unmap
//! 4.3 / 78.0.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use vmlayer_areas::MappingBackend;
use vmlayer_paging::{Arch, Backend, MappingFlags, PageSize, PageTable, PagingArch};
use vmlayer_paging::{PhysAddr, VirtAddr};

#[macro_use]
#[path = "support/pool.rs"]
mod pool;

// Enough for 1 GiB of 4 KiB pages (513 table pages) several times over.
frame_pool!(PoolFrames, 4096);

type Upstream = page_table_multiarch::PageTable64<
    <Arch as PagingArch>::MetaData,
    <Arch as PagingArch>::Entry,
    PoolFrames,
>;

const GIB: usize = 0x4000_0000;
const PAGES: u64 = (GIB / 0x1000) as u64;
const BASE: usize = GIB;
const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
const LINEAR: Backend = Backend::Linear { pa_va_offset: 0 };

fn ours_4k() -> PageTable<PoolFrames> {
    let mut table = PageTable::<PoolFrames>::try_new().expect("root");
    table
        .set_largest_page_size(PageSize::Size4K)
        .expect("4 KiB");
    table
}

fn ours_map(table: &mut PageTable<PoolFrames>) {
    LINEAR
        .map(VirtAddr::from(BASE), GIB, RW, table)
        .expect("map");
}

fn upstream_map(table: &mut Upstream, allow_huge: bool) {
    table
        .cursor()
        .map_region(
            VirtAddr::from(BASE),
            |va| PhysAddr::from(va.as_usize()),
            GIB,
            RW,
            allow_huge,
        )
        .expect("map_region");
}

/// Times `operation` on a table that `setup` prepares outside the measurement.
fn timed<T>(
    iterations: u64,
    mut setup: impl FnMut() -> T,
    mut operation: impl FnMut(&mut T),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iterations {
        let mut table = setup();
        let start = Instant::now();
        operation(&mut table);
        total += start.elapsed();
        drop(black_box(table));
    }
    total
}

fn one_gib_of_4k_pages(c: &mut Criterion) {
    PoolFrames::fill();
    let mut group = c.benchmark_group("1GiB_as_4KiB_pages");
    group.throughput(Throughput::Elements(PAGES));
    group.sample_size(10);

    group.bench_function("map/ours", |b| {
        b.iter_custom(|n| timed(n, ours_4k, ours_map))
    });
    group.bench_function("map/upstream", |b| {
        b.iter_custom(|n| {
            timed(
                n,
                || Upstream::try_new().expect("root"),
                |t| upstream_map(t, false),
            )
        })
    });

    let mut flags = [MappingFlags::READ, RW].into_iter().cycle();
    let mut ours = ours_4k();
    ours_map(&mut ours);
    group.bench_function("protect/ours", |b| {
        b.iter(|| {
            LINEAR
                .protect(VirtAddr::from(BASE), GIB, flags.next().unwrap(), &mut ours)
                .expect("protect")
        })
    });
    drop(ours);
    let mut upstream = Upstream::try_new().expect("root");
    upstream_map(&mut upstream, false);
    group.bench_function("protect/upstream", |b| {
        b.iter(|| {
            upstream
                .cursor()
                .protect_region(VirtAddr::from(BASE), GIB, flags.next().unwrap())
                .expect("protect_region")
        })
    });
    drop(upstream);

    let mapped_ours = || {
        let mut table = ours_4k();
        ours_map(&mut table);
        table
    };
    group.bench_function("unmap/ours", |b| {
        b.iter_custom(|n| {
            timed(n, mapped_ours, |t| {
                LINEAR.unmap(VirtAddr::from(BASE), GIB, t).expect("unmap")
            })
        })
    });
    let mapped_upstream = || {
        let mut table = Upstream::try_new().expect("root");
        upstream_map(&mut table, false);
        table
    };
    group.bench_function("unmap/upstream", |b| {
        b.iter_custom(|n| {
            timed(n, mapped_upstream, |t| {
                t.cursor()
                    .unmap_region(VirtAddr::from(BASE), GIB)
                    .expect("unmap_region")
            })
        })
    });
    group.finish();
}

fn one_gib_entry(c: &mut Criterion) {
    let mut table = PageTable::<PoolFrames>::try_new().expect("root");
    LINEAR
        .map(VirtAddr::from(BASE), GIB, RW, &mut table)
        .expect("map");
    let translation = table.query(VirtAddr::from(BASE + 0x1234)).expect("mapped");
    assert_eq!(
        translation.page_size,
        PageSize::Size1G,
        "a 1 GiB-aligned map is one entry"
    );
    assert_eq!(
        table.table_page_count(),
        (Arch::LEVELS - 2).max(1),
        "no table below it"
    );
    drop(table);
    let mut group = c.benchmark_group("1GiB_aligned_linear");
    group.bench_function("map/ours", |b| {
        b.iter_custom(|n| {
            timed(
                n,
                || PageTable::<PoolFrames>::try_new().expect("root"),
                |t| LINEAR.map(VirtAddr::from(BASE), GIB, RW, t).expect("map"),
            )
        })
    });
    group.bench_function("map/upstream", |b| {
        b.iter_custom(|n| {
            timed(
                n,
                || Upstream::try_new().expect("root"),
                |t| upstream_map(t, true),
            )
        })
    });
    group.finish();
}

/// The criterion entry points (private, so the generated function needs no docs).
mod group {
    use super::*;

    criterion_group! {
        name = benches;
        config = Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2));
        targets = one_gib_of_4k_pages, one_gib_entry
    }
}

/// One pass of each operation, each in its own never-inlined function, for instruction counts
/// that do not depend on machine load:
///
/// ```text
/// PAGING_BENCH_ONCE=1 valgrind --tool=callgrind --toggle-collect='*once::*' <bench binary>
/// callgrind_annotate --inclusive=yes callgrind.out.* | grep once::
/// ```
///
/// Divide each function's count by 262,144 pages.
mod once {
    use super::*;

    #[inline(never)]
    fn ours_map_1gib(table: &mut PageTable<PoolFrames>) {
        ours_map(table);
    }

    #[inline(never)]
    fn ours_protect_1gib(table: &mut PageTable<PoolFrames>) {
        LINEAR
            .protect(VirtAddr::from(BASE), GIB, MappingFlags::READ, table)
            .expect("protect");
    }

    #[inline(never)]
    fn ours_unmap_1gib(table: &mut PageTable<PoolFrames>) {
        LINEAR
            .unmap(VirtAddr::from(BASE), GIB, table)
            .expect("unmap");
    }

    #[inline(never)]
    fn upstream_map_1gib(table: &mut Upstream) {
        upstream_map(table, false);
    }

    #[inline(never)]
    fn upstream_protect_1gib(table: &mut Upstream) {
        table
            .cursor()
            .protect_region(VirtAddr::from(BASE), GIB, MappingFlags::READ)
            .expect("protect_region");
    }

    #[inline(never)]
    fn upstream_unmap_1gib(table: &mut Upstream) {
        table
            .cursor()
            .unmap_region(VirtAddr::from(BASE), GIB)
            .expect("unmap_region");
    }

    /// Runs every operation once.
    pub(super) fn run() {
        PoolFrames::fill();
        let mut ours = ours_4k();
        ours_map_1gib(black_box(&mut ours));
        ours_protect_1gib(black_box(&mut ours));
        ours_unmap_1gib(black_box(&mut ours));
        drop(ours);
        let mut upstream = Upstream::try_new().expect("root");
        upstream_map_1gib(black_box(&mut upstream));
        upstream_protect_1gib(black_box(&mut upstream));
        upstream_unmap_1gib(black_box(&mut upstream));
    }
}

fn main() {
    if std::env::var_os("PAGING_BENCH_ONCE").is_some() {
        once::run();
        return;
    }
    group::benches();
    Criterion::default().configure_from_args().final_summary();
}
