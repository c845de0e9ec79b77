//! What processes cost: a minor (lazy) fault, a copy to user memory per 4 KiB, and creating and
//! dropping a user space that shares the kernel half, ours versus what an ArceOS-style kernel
//! does with memory_set 0.4.1 and page_table_multiarch 0.6.2 (find the area, allocate and zero
//! a frame, map it with the cursor; query + copy; a new table plus `copy_from` of the kernel's
//! root entries), in one run.
//!
//! Also fork of a space with 1 GiB populated in 4 KiB pages versus an eager copy of it, a
//! copy-on-write fault versus a bare 4 KiB copy, the last sharer's write fault, and an
//! `mremap` move of 1 GiB of 4 KiB pages (these use a 2.2 GB pool of their own).
//!
//! `cargo bench -p vmlayer_paging --bench process -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use memory_set_upstream::{MappingBackend as UpstreamBackend, MemoryArea as UpstreamArea};
use vmlayer_paging::{Access, AddressSpace, Arch, MappingFlags, PageFaultInfo, PagingArch};
use vmlayer_paging::{
    FrameTable, PageSize, PagingHandler, PhysAddr, Remap, VirtAddr, VirtAddrRange,
};

#[macro_use]
#[path = "support/pool.rs"]
mod pool;

// Enough for the largest batch (512 faulted pages and their tables) many times over.
frame_pool!(PoolFrames, 16_384);

type Space = AddressSpace<PoolFrames>;
type Upstream = page_table_multiarch::PageTable64<
    <Arch as PagingArch>::MetaData,
    <Arch as PagingArch>::Entry,
    PoolFrames,
>;

const USER_RW: MappingFlags = MappingFlags::READ
    .union(MappingFlags::WRITE)
    .union(MappingFlags::USER);
const HEAP: usize = 0x1000_0000;
const FAULTS: usize = 512;

fn upper_half() -> usize {
    !((1usize << (Arch::VA_BITS - 1)) - 1)
}

/// The kernel half: 1 GiB of direct map in the upper half.
const KERNEL_SIZE: usize = 0x4000_0000;

/// A lazy anonymous area of upstream's: the area set only finds it, the fault handler maps.
#[derive(Clone)]
struct LazyAnon;

impl UpstreamBackend for LazyAnon {
    type Addr = VirtAddr;
    type Flags = MappingFlags;
    type PageTable = Upstream;

    fn map(&self, _: VirtAddr, _: usize, _: MappingFlags, _: &mut Upstream) -> bool {
        true
    }

    fn unmap(&self, _: VirtAddr, _: usize, _: &mut Upstream) -> bool {
        true
    }

    fn protect(&self, _: VirtAddr, _: usize, _: MappingFlags, _: &mut Upstream) -> bool {
        true
    }
}

type UpstreamSet = memory_set_upstream::MemorySet<LazyAnon>;

/// What ArceOS' lazy-allocation fault handler does: find the area, check it, allocate and zero
/// a frame, map it.
fn upstream_fault(set: &UpstreamSet, table: &mut Upstream, address: usize) {
    let area = set.find(VirtAddr::from(address)).expect("area");
    assert!(area.flags().contains(MappingFlags::WRITE));
    let frame = PoolFrames::alloc_frame().expect("frame");
    // SAFETY: a frame of the pool, physical = virtual.
    unsafe { core::ptr::write_bytes(frame.as_usize() as *mut u8, 0, 0x1000) };
    table
        .cursor()
        .map(
            VirtAddr::from(address & !0xfff),
            frame,
            PageSize::Size4K,
            area.flags(),
        )
        .expect("map");
}

fn minor_fault(c: &mut Criterion) {
    let mut group = c.benchmark_group("minor fault");
    group.throughput(Throughput::Elements(FAULTS as u64));
    group.bench_function("ours handle_page_fault", |b| {
        b.iter_batched(
            || {
                let mut space = Space::try_new().expect("space");
                space
                    .map_alloc(VirtAddr::from(HEAP), FAULTS * 0x1000, USER_RW, false)
                    .expect("map");
                space
            },
            |mut space| {
                for page in 0..FAULTS {
                    let fault = PageFaultInfo::new(
                        VirtAddr::from(HEAP + page * 0x1000 + 8),
                        Access::Write,
                        true,
                    );
                    black_box(space.handle_page_fault(fault)).expect("populated");
                }
                space
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("upstream find + alloc + cursor map", |b| {
        b.iter_batched(
            || {
                let mut set = UpstreamSet::new();
                let mut table = Upstream::try_new().expect("table");
                let area =
                    UpstreamArea::new(VirtAddr::from(HEAP), FAULTS * 0x1000, USER_RW, LazyAnon);
                set.map(area, &mut table, false).expect("map");
                (set, table)
            },
            |(set, mut table)| {
                for page in 0..FAULTS {
                    upstream_fault(&set, &mut table, HEAP + page * 0x1000 + 8);
                }
                // Dropped after the timing, where it returns the frames upstream's drop keeps.
                UpstreamProcess { _set: set, table }
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

/// Upstream's area set and table after the faults; dropping it unmaps and frees the frames
/// (upstream's table frees only its table pages).
struct UpstreamProcess {
    _set: UpstreamSet,
    table: Upstream,
}

impl Drop for UpstreamProcess {
    fn drop(&mut self) {
        for page in 0..FAULTS {
            let (frame, _, _) = self
                .table
                .cursor()
                .unmap(VirtAddr::from(HEAP + page * 0x1000))
                .expect("mapped");
            PoolFrames::dealloc_frame(frame);
        }
    }
}

fn copy_to_user(c: &mut Criterion) {
    let mut group = c.benchmark_group("copy to user");
    group.throughput(Throughput::Bytes(0x1000));
    let data = vec![0x5au8; 0x1000];
    let mut space = Space::try_new().expect("space");
    space
        .map_alloc(VirtAddr::from(HEAP), 0x1000, USER_RW, true)
        .expect("map");
    group.bench_function("ours write_user 4 KiB", |b| {
        b.iter(|| {
            space
                .write_user(VirtAddr::from(HEAP), black_box(&data))
                .expect("copy")
        });
    });
    let mut table = Upstream::try_new().expect("table");
    let frame = PoolFrames::alloc_frame().expect("frame");
    table
        .cursor()
        .map(VirtAddr::from(HEAP), frame, PageSize::Size4K, USER_RW)
        .expect("map");
    group.bench_function("upstream query + check + memcpy 4 KiB", |b| {
        b.iter(|| {
            let (paddr, flags, _) = table.query(VirtAddr::from(HEAP)).expect("mapped");
            assert!(flags.contains(MappingFlags::WRITE | MappingFlags::USER));
            let destination = PoolFrames::phys_to_virt(paddr).as_mut_ptr();
            // SAFETY: a mapped pool frame of 4 KiB; the source is the 4 KiB buffer.
            unsafe {
                core::ptr::copy_nonoverlapping(black_box(data.as_ptr()), destination, 0x1000)
            };
        });
    });
    group.finish();
}

fn user_space_lifecycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("user space create + drop");
    let kernel_range = VirtAddrRange::from_start_size(VirtAddr::from(upper_half()), KERNEL_SIZE);
    let mut kernel = Space::new_kernel(kernel_range).expect("kernel");
    let rw = MappingFlags::READ | MappingFlags::WRITE;
    kernel
        .map_linear(
            VirtAddr::from(upper_half()),
            PhysAddr::from(0),
            KERNEL_SIZE,
            rw,
        )
        .expect("direct map");
    let user_range = VirtAddrRange::new(
        VirtAddr::from(0x1000),
        VirtAddr::from(1 << (Arch::VA_BITS - 1)),
    );
    group.bench_function("ours new_user + drop", |b| {
        b.iter(|| {
            drop(black_box(
                Space::new_user(&kernel, user_range).expect("user"),
            ))
        });
    });
    let mut upstream_kernel = Upstream::try_new().expect("kernel");
    upstream_kernel
        .cursor()
        .map_region(
            VirtAddr::from(upper_half()),
            |va| PhysAddr::from(va.as_usize() - upper_half()),
            KERNEL_SIZE,
            rw,
            true,
        )
        .expect("direct map");
    group.bench_function("upstream try_new + copy_from + drop", |b| {
        b.iter(|| {
            let mut user = Upstream::try_new().expect("user");
            user.cursor()
                .copy_from(&upstream_kernel, VirtAddr::from(upper_half()), KERNEL_SIZE);
            drop(black_box(user));
        });
    });
    group.finish();
}

// Frames for the fork and mremap benchmarks: a pool of their own, large enough for two copies
// of 1 GiB (262,144 frames each) and their tables, that a `FrameTable` covers.
frame_pool!(BigFrames, BIG_POOL_FRAMES);

const BIG_POOL_FRAMES: usize = 540_000;

/// Fills the big pool and returns the frame table that counts its frames.
fn fill_big_pool() -> &'static FrameTable {
    let base = BigFrames::fill();
    let counts: Vec<AtomicU32> = (0..BIG_POOL_FRAMES).map(|_| AtomicU32::new(0)).collect();
    Box::leak(Box::new(FrameTable::new(
        PhysAddr::from(base),
        Box::leak(counts.into_boxed_slice()),
    )))
}

type BigSpace = AddressSpace<BigFrames>;

const GIB: usize = 0x4000_0000;
const GIB_PAGES: u64 = (GIB / 0x1000) as u64;

/// A space counting frames in `frames` with 1 GiB populated at `HEAP` (the first word of each
/// page written, as a program would have).
fn populated_gib(frames: &'static FrameTable) -> BigSpace {
    let mut space = BigSpace::try_new().expect("space");
    space.set_frame_table(frames).expect("frame table");
    space
        .map_alloc(VirtAddr::from(HEAP), GIB, USER_RW, true)
        .expect("populate 1 GiB");
    space
}

fn fork(c: &mut Criterion, frames: &'static FrameTable) {
    let mut group = c.benchmark_group("fork 1 GiB of 4 KiB pages");
    group.throughput(Throughput::Elements(GIB_PAGES));
    group.sample_size(10);
    let mut parent = populated_gib(frames);
    group.bench_function("ours fork (copy-on-write)", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                // Writable again, as after the parent's writes: fork must write-protect each
                // page. The child of the previous round is gone, so the frames are unshared.
                parent
                    .protect(VirtAddr::from(HEAP), GIB, USER_RW)
                    .expect("protect");
                let started = Instant::now();
                let child = parent.fork().expect("fork");
                total += started.elapsed();
                drop(black_box(child));
            }
            total
        });
    });
    group.bench_function(
        "eager copy (new space, allocate and copy every page)",
        |b| {
            b.iter_batched(
                || (),
                |()| {
                    let mut child = BigSpace::try_new().expect("child");
                    child.set_frame_table(frames).expect("frame table");
                    child
                        .map_alloc(VirtAddr::from(HEAP), GIB, USER_RW, true)
                        .expect("child pages");
                    for page in (HEAP..HEAP + GIB).step_by(0x1000) {
                        let from = parent
                            .query(VirtAddr::from(page))
                            .expect("parent page")
                            .paddr;
                        let to = child.query(VirtAddr::from(page)).expect("child page").paddr;
                        // SAFETY: two mapped pool frames, 4 KiB each, physical = virtual.
                        unsafe {
                            core::ptr::copy_nonoverlapping(
                                from.as_usize() as *const u8,
                                to.as_usize() as *mut u8,
                                0x1000,
                            );
                        }
                    }
                    child
                },
                BatchSize::PerIteration,
            );
        },
    );
    group.finish();
    drop(parent);
}

fn copy_on_write(c: &mut Criterion, frames: &'static FrameTable) {
    const PAGES: usize = 4096;
    let mut group = c.benchmark_group("copy-on-write fault");
    group.throughput(Throughput::Elements(PAGES as u64));
    let fault = |space: &mut BigSpace, page: usize| {
        let write = PageFaultInfo::new(VirtAddr::from(HEAP + page * 0x1000), Access::Write, true);
        black_box(space.handle_page_fault(write)).expect("resolved")
    };
    group.bench_function("ours write fault on a shared page (copies)", |b| {
        b.iter_batched(
            || {
                let mut parent = BigSpace::try_new().expect("space");
                parent.set_frame_table(frames).expect("frame table");
                parent
                    .map_alloc(VirtAddr::from(HEAP), PAGES * 0x1000, USER_RW, true)
                    .expect("populate");
                let child = parent.fork().expect("fork");
                (parent, child)
            },
            |(parent, mut child)| {
                for page in 0..PAGES {
                    fault(&mut child, page);
                }
                (parent, child)
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("ours write fault of the last sharer (no copy)", |b| {
        b.iter_batched(
            || {
                let mut parent = BigSpace::try_new().expect("space");
                parent.set_frame_table(frames).expect("frame table");
                parent
                    .map_alloc(VirtAddr::from(HEAP), PAGES * 0x1000, USER_RW, true)
                    .expect("populate");
                drop(parent.fork().expect("fork"));
                parent
            },
            |mut parent| {
                for page in 0..PAGES {
                    fault(&mut parent, page);
                }
                parent
            },
            BatchSize::LargeInput,
        );
    });
    // What the copying fault cannot avoid: copying 4 KiB from each of `PAGES` distinct frames
    // into each of `PAGES` distinct frames (as cold as the fault's copies).
    let sources: Vec<PhysAddr> = (0..PAGES)
        .map(|_| BigFrames::alloc_frame().expect("frame"))
        .collect();
    let destinations: Vec<PhysAddr> = (0..PAGES)
        .map(|_| BigFrames::alloc_frame().expect("frame"))
        .collect();
    group.bench_function("4 KiB copies between distinct frames (for scale)", |b| {
        b.iter(|| {
            for (source, destination) in sources.iter().zip(&destinations) {
                // SAFETY: two pool frames of 4 KiB, physical = virtual.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        black_box(source.as_usize() as *const u8),
                        destination.as_usize() as *mut u8,
                        0x1000,
                    );
                }
            }
        });
    });
    group.finish();
    for frame in sources.into_iter().chain(destinations) {
        BigFrames::dealloc_frame(frame);
    }
}

fn mremap(c: &mut Criterion, frames: &'static FrameTable) {
    let mut group = c.benchmark_group("mremap move of 1 GiB of 4 KiB pages");
    group.throughput(Throughput::Elements(GIB_PAGES));
    group.sample_size(10);
    let mut space = populated_gib(frames);
    let other = HEAP + 4 * GIB;
    let mut at = HEAP;
    group.bench_function("ours mremap (Fixed)", |b| {
        b.iter(|| {
            let target = if at == HEAP { other } else { HEAP };
            space
                .mremap(
                    VirtAddr::from(at),
                    GIB,
                    GIB,
                    Remap::Fixed(VirtAddr::from(target)),
                )
                .expect("mremap");
            at = target;
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    PoolFrames::fill();
    minor_fault(c);
    copy_to_user(c);
    user_space_lifecycle(c);
    let frames = fill_big_pool();
    fork(c, frames);
    copy_on_write(c, frames);
    mremap(c, frames);
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
