//! The SMP cases: TLB shootdown seen by real accesses on other CPUs, concurrent faults in one
//! address space, and ASIDs.
//!
//! The shootdown cases (run with at least two CPUs) share one pattern: a user space becomes
//! the *shared* space (`kernel_space::set_shared`), CPU 1 switches to it and keeps a
//! translation warm in a loop of kernel probes (a kernel-only page of the lower half, so no
//! SUM/PAN/SMAP is involved), CPU 0 changes the page and only then raises [`CHANGED`]. Once
//! the change has returned, the shootdown is complete, so CPU 1's first access that started
//! after it saw [`CHANGED`] must fault: one that succeeds used a stale translation. With the
//! test feature `broken-skip-shootdown` CPU 1 keeps its stale entry and the cases fail.
//!
//! The ASID cases run on every configuration: two spaces mapping one address alternate on a
//! CPU without a TLB flush and each sees its own data; many spaces on every CPU force the
//! ASID generation to roll over (with the feature `small-asids`) and each still sees its own.
//! QEMU drops a vCPU's whole TLB at every root write, so a stale-ASID bug cannot show here:
//! the model test `no_cpu_uses_a_stale_translation_through_asid_rollovers` in
//! `vmlayer_paging` is the one that can fail on it.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use vmlayer_paging::{MappingFlags, PagingHandler};

use super::fixtures::slot;
use crate::kernel_space::{self, AddressSpace, KernelFrames, Space, pa, va};
use crate::layout::{PAGE_SIZE, phys_to_virt};
use crate::smp::{self, ShootdownStats};
use crate::{ensure, ensure_eq, ensure_ok, frame_pool, probe};

const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
const HUGE_PAGE_SIZE: usize = 0x20_0000;

/// The page the shootdown cases change (2 MiB aligned, for the split case).
const PAGE: usize = slot(12);

/// Raised by CPU 0 right before it starts its change.
static STARTED: AtomicBool = AtomicBool::new(false);
/// Raised by CPU 0 once its change returned (the shootdown completed).
static CHANGED: AtomicBool = AtomicBool::new(false);
/// Accesses CPU 1 made that succeeded, and how its loop ended.
static ACCESSES: AtomicUsize = AtomicUsize::new(0);
static ENDING: AtomicUsize = AtomicUsize::new(RUNNING);
/// The word CPU 1 read when it saw a value it must not see.
static SEEN: AtomicU64 = AtomicU64::new(0);

const RUNNING: usize = 0;
/// An access faulted once the change had started (at the latest the first one after it
/// completed), as it must.
const FAULTED_AFTER: usize = 1;
/// An access faulted before the change started: the setup is wrong.
const FAULTED_BEFORE: usize = 2;
/// An access that started after the change completed succeeded: a stale translation.
const STALE: usize = 3;
/// The loop read a value the page never held (a freed and reused frame).
const POISONED: usize = 4;

/// A value written into a freed frame by CPU 0 in the poison case.
const POISON: u64 = 0xdead_0000_0bad_f00d;
/// What the page holds before the change.
const MARK: u64 = 0x5eed_0000_0000_0001;

/// The successes CPU 1 needs before CPU 0 changes the page (the translation is warm).
const WARM: usize = 2000;

fn reset() {
    STARTED.store(false, Ordering::SeqCst);
    CHANGED.store(false, Ordering::SeqCst);
    ACCESSES.store(0, Ordering::SeqCst);
    ENDING.store(RUNNING, Ordering::SeqCst);
    SEEN.store(0, Ordering::SeqCst);
}

/// CPU 1's loop: stores to `address` until one faults.
fn keep_writing(address: usize) {
    kernel_space::activate_shared();
    let ending = loop {
        let changed = CHANGED.load(Ordering::SeqCst);
        // SAFETY: the shared space's test page, nothing else lives there.
        match unsafe { probe::write(address, MARK) } {
            Ok(()) if changed => break STALE,
            Ok(()) => {
                ACCESSES.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) if STARTED.load(Ordering::SeqCst) => break FAULTED_AFTER,
            Err(fault) => {
                SEEN.store(fault.address.as_usize() as u64, Ordering::SeqCst);
                break FAULTED_BEFORE;
            }
        }
    };
    ENDING.store(ending, Ordering::SeqCst);
    kernel_space::leave_shared();
}

/// CPU 1's loop: loads from `address` until one faults; any value but [`MARK`] is poison.
fn keep_reading(address: usize) {
    kernel_space::activate_shared();
    let ending = loop {
        let changed = CHANGED.load(Ordering::SeqCst);
        match probe::read(address) {
            Ok(value) if value != MARK => {
                SEEN.store(value, Ordering::SeqCst);
                break POISONED;
            }
            Ok(_) if changed => break STALE,
            Ok(_) => {
                ACCESSES.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) if STARTED.load(Ordering::SeqCst) => break FAULTED_AFTER,
            Err(_) => break FAULTED_BEFORE,
        }
    };
    ENDING.store(ending, Ordering::SeqCst);
    kernel_space::leave_shared();
}

/// Waits until CPU 1 made [`WARM`] accesses (or its loop ended early).
fn wait_warm() -> Result<(), String> {
    let mut spins = 0usize;
    while ACCESSES.load(Ordering::SeqCst) < WARM {
        if ENDING.load(Ordering::SeqCst) != RUNNING {
            return Err(format!(
                "CPU 1's loop ended after {} accesses, before the change",
                ACCESSES.load(Ordering::SeqCst)
            ));
        }
        spins += 1;
        ensure!(spins < 1 << 34, "CPU 1 never warmed up");
        smp::while_waiting();
    }
    Ok(())
}

/// Makes `space` the shared space, runs `job(address)` on CPU 1, waits until it is warm,
/// applies `change` on CPU 0, raises [`CHANGED`] and waits for CPU 1's verdict. Returns the
/// shootdown counters of the change.
fn change_under_cpu1(
    space: AddressSpace,
    job: fn(usize),
    address: usize,
    change: impl FnOnce(&mut AddressSpace) -> Result<(), String>,
) -> Result<ShootdownStats, String> {
    reset();
    kernel_space::set_shared(Some(space));
    smp::run_on(1, job, address);
    let result = wait_warm().and_then(|()| {
        let before = smp::shootdown_stats();
        STARTED.store(true, Ordering::SeqCst);
        kernel_space::with_shared(change)?;
        let stats = smp::shootdown_stats() - before;
        CHANGED.store(true, Ordering::SeqCst);
        Ok(stats)
    });
    CHANGED.store(true, Ordering::SeqCst);
    smp::wait(1);
    kernel_space::set_shared(None);
    let stats = result?;
    match ENDING.load(Ordering::SeqCst) {
        FAULTED_AFTER => Ok(stats),
        STALE => Err(format!(
            "CPU 1 still reached the page after the change returned (stale TLB; {} accesses \
             before, shootdown {stats:?})",
            ACCESSES.load(Ordering::SeqCst)
        )),
        POISONED => Err(format!(
            "CPU 1 read {:#x} through its old translation: the frame was reused before its \
             TLB entry went (shootdown {stats:?})",
            SEEN.load(Ordering::SeqCst)
        )),
        FAULTED_BEFORE => Err(format!(
            "CPU 1 faulted at {:#x} before the change, after {} accesses (last refusal {:?})",
            SEEN.load(Ordering::SeqCst),
            ACCESSES.load(Ordering::SeqCst),
            crate::trap::refused_faults()
        )),
        other => Err(format!("CPU 1's loop ended with {other}")),
    }
}

/// A user space with one populated kernel-only page at [`PAGE`] holding [`MARK`].
fn space_with_page() -> Result<AddressSpace, String> {
    let mut space = ensure_ok!(kernel_space::new_user_space(), "new user space");
    ensure_ok!(space.map_alloc(va(PAGE), PAGE_SIZE, RW, true), "map");
    fill(&space, PAGE, MARK)?;
    Ok(space)
}

/// Writes `value` into the frame that maps `address` in `space`, through the direct map (the
/// user-memory helpers refuse kernel-only pages).
fn fill(space: &AddressSpace, address: usize, value: u64) -> Result<(), String> {
    let frame = space
        .query(va(address))
        .ok_or("not mapped")?
        .paddr
        .as_usize();
    // SAFETY: a frame of the case's own page, reached through the direct map.
    unsafe { (phys_to_virt(frame) as *mut u64).write_volatile(value) };
    Ok(())
}

/// Exactly one round, to exactly CPU 1 (it is the only other CPU that ran the space).
fn one_round_to_cpu1(stats: ShootdownStats) -> Result<(), String> {
    ensure_eq!(
        (stats.rounds, stats.remote_cpus),
        (1, 1),
        "one round to one CPU ({stats:?})"
    );
    Ok(())
}

/// CPU 1 stores to a page in a loop; CPU 0 makes it read-only: CPU 1's next store faults.
pub(crate) fn shootdown_write_protect() -> Result<(), String> {
    let space = space_with_page()?;
    let stats = change_under_cpu1(space, keep_writing, PAGE, |space| {
        ensure_ok!(
            space.protect(va(PAGE), PAGE_SIZE, MappingFlags::READ),
            "protect"
        );
        Ok(())
    })?;
    one_round_to_cpu1(stats)
}

/// CPU 1 stores to a page in a loop; CPU 0 unmaps it: CPU 1's next store faults.
pub(crate) fn shootdown_unmap() -> Result<(), String> {
    let space = space_with_page()?;
    let stats = change_under_cpu1(space, keep_writing, PAGE, |space| {
        ensure_ok!(space.unmap(va(PAGE), PAGE_SIZE), "unmap");
        Ok(())
    })?;
    one_round_to_cpu1(stats)
}

/// A 2 MiB leaf; CPU 1 stores into its fourth 4 KiB piece in a loop; CPU 0 makes that piece
/// read-only, which splits the leaf: CPU 1's next store there faults, and the rest of the
/// block stays writable for it.
pub(crate) fn shootdown_huge_split() -> Result<(), String> {
    let frames = frame_pool::alloc(512, HUGE_PAGE_SIZE).ok_or("no 2 MiB-aligned block")?;
    let result = huge_split_checks(frames);
    frame_pool::free(frames, 512);
    result
}

fn huge_split_checks(frames: usize) -> Result<(), String> {
    let mut space = ensure_ok!(kernel_space::new_user_space(), "new user space");
    ensure_ok!(
        space.map_linear(va(PAGE), pa(frames), HUGE_PAGE_SIZE, RW),
        "map 2 MiB"
    );
    ensure_eq!(
        kernel_space::mapping_size(&space, PAGE),
        Some(HUGE_PAGE_SIZE),
        "one 2 MiB leaf"
    );
    let piece = PAGE + 3 * PAGE_SIZE;
    let stats = change_under_cpu1(space, keep_writing, piece, |space| {
        ensure_ok!(
            space.protect(va(piece), PAGE_SIZE, MappingFlags::READ),
            "protect one 4 KiB piece"
        );
        ensure_eq!(
            kernel_space::mapping_size(space, piece),
            Some(PAGE_SIZE),
            "split"
        );
        Ok(())
    })?;
    // AArch64 splits a block with break-before-make (Arm ARM D8.16.1): the block's
    // invalidation must have completed on every CPU before the table replaces it, so the split
    // costs one round of its own, then the protect its round; each reaches CPU 1 only.
    let rounds = if cfg!(target_arch = "aarch64") { 2 } else { 1 };
    ensure_eq!(
        (stats.rounds, stats.remote_cpus),
        (rounds, rounds),
        "rounds, each to CPU 1 only ({stats:?})"
    );
    // The neighbour piece is still writable for CPU 1 (same space, re-installed).
    let neighbour = frames + 5 * PAGE_SIZE;
    let mut space = ensure_ok!(kernel_space::new_user_space(), "new user space");
    ensure_ok!(
        space.map_linear(va(PAGE), pa(frames), HUGE_PAGE_SIZE, RW),
        "map 2 MiB again"
    );
    ensure_ok!(
        space.protect(va(piece), PAGE_SIZE, MappingFlags::READ),
        "split again"
    );
    kernel_space::set_shared(Some(space));
    smp::run_on(1, write_once, PAGE + 5 * PAGE_SIZE);
    smp::wait(1);
    kernel_space::set_shared(None);
    ensure_eq!(
        ENDING.load(Ordering::SeqCst),
        FAULTED_BEFORE + 100,
        "CPU 1 wrote the neighbour piece"
    );
    // SAFETY: the block is this case's, reached through the direct map.
    let written = unsafe { (phys_to_virt(neighbour) as *const u64).read_volatile() };
    ensure_eq!(written, MARK, "the store landed in the block");
    Ok(())
}

/// One store on CPU 1; [`ENDING`] is `FAULTED_BEFORE + 100` if it worked.
fn write_once(address: usize) {
    kernel_space::activate_shared();
    // SAFETY: the case's own block.
    let ending = match unsafe { probe::write(address, MARK) } {
        Ok(()) => FAULTED_BEFORE + 100,
        Err(_) => FAULTED_BEFORE,
    };
    ENDING.store(ending, Ordering::SeqCst);
    kernel_space::leave_shared();
}

/// CPU 1 reads a page in a loop; CPU 0 unmaps it, takes frames from the pool until it gets
/// the page's frame back and fills it with poison: CPU 1 must fault, never read the poison
/// (the frame went back to the pool only after CPU 1 acknowledged the shootdown).
pub(crate) fn shootdown_frame_reuse() -> Result<(), String> {
    let space = space_with_page()?;
    let frame = space
        .query(va(PAGE))
        .ok_or("the page is not mapped")?
        .paddr
        .as_usize();
    let mut taken = Vec::new();
    let result = change_under_cpu1(space, keep_reading, PAGE, |space| {
        ensure_ok!(space.unmap(va(PAGE), PAGE_SIZE), "unmap");
        // The frame is free now: take frames until it comes back, and poison it.
        for _ in 0..64 {
            let Some(next) = KernelFrames::alloc_frame() else {
                break;
            };
            taken.push(next.as_usize());
            if next.as_usize() == frame {
                // SAFETY: the frame is ours again (just allocated), in the direct map.
                unsafe { (phys_to_virt(frame) as *mut u64).write_volatile(POISON) };
                return Ok(());
            }
        }
        Err(format!("frame {frame:#x} did not come back from the pool"))
    });
    for paddr in taken {
        KernelFrames::dealloc_frame(pa(paddr));
    }
    one_round_to_cpu1(result?)
}

/// Pages each CPU faults in by itself in [`concurrent_lazy_faults`].
const PAGES_PER_CPU: usize = 64;
/// Where that case's lazy area starts.
const LAZY: usize = slot(13);

/// One CPU's part: switch to the shared space and store into each of its own lazy pages
/// (each store faults and populates the page), then load them back.
fn fault_own_pages(cpu: usize) {
    kernel_space::activate_shared();
    let mut ending = FAULTED_AFTER;
    for page in 0..PAGES_PER_CPU {
        let address = LAZY + (cpu * PAGES_PER_CPU + page) * PAGE_SIZE;
        let value = (cpu as u64) << 32 | page as u64;
        // SAFETY: the shared space's lazy test area.
        if unsafe { probe::write(address, value) }.is_err() || probe::read(address) != Ok(value) {
            ending = STALE;
        }
    }
    if cpu != smp::this_cpu() {
        ending = POISONED;
    }
    ENDINGS[cpu].store(ending, Ordering::SeqCst);
    kernel_space::leave_shared();
}

static ENDINGS: [AtomicUsize; smp::MAX_CPUS] = [const { AtomicUsize::new(RUNNING) }; smp::MAX_CPUS];

/// One space live on every CPU at once, each faulting in its own lazy pages concurrently:
/// every page is populated exactly once, with its CPU's data, each by its own frame, and every
/// frame comes back when the space goes.
pub(crate) fn concurrent_lazy_faults() -> Result<(), String> {
    let cpus = smp::cpu_count();
    let in_use_before = frame_pool::stats().in_use;
    let populated_before = kernel_space::shared_populated();
    let mut space = ensure_ok!(kernel_space::new_user_space(), "new user space");
    let size = cpus * PAGES_PER_CPU * PAGE_SIZE;
    ensure_ok!(space.map_alloc(va(LAZY), size, RW, false), "lazy map");
    kernel_space::set_shared(Some(space));
    for ending in &ENDINGS {
        ending.store(RUNNING, Ordering::SeqCst);
    }
    for cpu in 1..cpus {
        smp::run_on(cpu, fault_own_pages, cpu);
    }
    fault_own_pages(0);
    for cpu in 1..cpus {
        smp::wait(cpu);
    }
    let result = check_concurrent_faults(cpus, populated_before);
    kernel_space::set_shared(None);
    result?;
    ensure_eq!(
        frame_pool::stats().in_use,
        in_use_before,
        "frames in use after the space went"
    );
    Ok(())
}

fn check_concurrent_faults(cpus: usize, populated_before: usize) -> Result<(), String> {
    for (cpu, ending) in ENDINGS.iter().enumerate().take(cpus) {
        ensure_eq!(
            ending.load(Ordering::SeqCst),
            FAULTED_AFTER,
            "CPU {cpu}: its pages hold its data (and it ran as itself)"
        );
    }
    let pages = cpus * PAGES_PER_CPU;
    ensure_eq!(
        kernel_space::shared_populated() - populated_before,
        pages,
        "faults that populated a page"
    );
    let mut frames: Vec<usize> = kernel_space::with_shared(|space| {
        (0..pages)
            .filter_map(|page| space.query(va(LAZY + page * PAGE_SIZE)))
            .map(|translation| translation.paddr.as_usize())
            .collect()
    });
    ensure_eq!(frames.len(), pages, "pages mapped");
    frames.sort_unstable();
    frames.dedup();
    ensure_eq!(frames.len(), pages, "distinct frames");
    Ok(())
}

/// Counts flush rounds: a change in a space live only on this CPU sends none; live on CPU 1
/// too, one round to CPU 1; live on every CPU, one round to all the others, also for an unmap
/// of many populated pages (each frame freed after it). Prints the unmap's figures.
pub(crate) fn shootdown_rounds() -> Result<(), String> {
    let cpus = smp::cpu_count();
    let mut space = ensure_ok!(kernel_space::new_user_space(), "new user space");
    ensure_ok!(space.map_alloc(va(PAGE), PAGE_SIZE, RW, true), "map");
    kernel_space::set_shared(Some(space));
    kernel_space::activate_shared();
    let result = rounds_checks(cpus);
    for cpu in 1..cpus {
        smp::run_on(cpu, |_| kernel_space::leave_shared(), 0);
        smp::wait(cpu);
    }
    kernel_space::leave_shared();
    kernel_space::set_shared(None);
    result
}

fn rounds_checks(cpus: usize) -> Result<(), String> {
    let protect = |flags| {
        let before = smp::shootdown_stats();
        kernel_space::with_shared(|space| space.protect(va(PAGE), PAGE_SIZE, flags))
            .map_err(|error| format!("protect: {error:?}"))?;
        Ok::<_, String>(smp::shootdown_stats() - before)
    };
    let local = protect(MappingFlags::READ)?;
    ensure_eq!(
        (local.rounds, local.local_only),
        (0, 1),
        "live on this CPU only: a local flush, no IPI ({local:?})"
    );
    smp::run_on(1, |_| kernel_space::activate_shared(), 0);
    smp::wait(1);
    let one = protect(RW)?;
    one_round_to_cpu1(one)?;
    for cpu in 2..cpus {
        smp::run_on(cpu, |_| kernel_space::activate_shared(), 0);
        smp::wait(cpu);
    }
    // A large populated unmap: 1 GiB if the pool has it, else what it has.
    let free = frame_pool::stats().free_listed + frame_pool::stats().untouched;
    // (Keeping 64 MiB, or half of what is free, for the tables and the rest of the suite.)
    let reserve = 16384.min(free / 2);
    let size = 0x4000_0000usize.min((free - reserve) * PAGE_SIZE) & !(HUGE_PAGE_SIZE - 1);
    ensure!(size >= HUGE_PAGE_SIZE, "no memory for the large unmap");
    let big = slot(14);
    ensure_ok!(
        kernel_space::with_shared(|space| space.map_alloc(va(big), size, RW, true)),
        "populate"
    );
    let before = smp::shootdown_stats();
    ensure_ok!(
        kernel_space::with_shared(|space| space.unmap(va(big), size)),
        "unmap"
    );
    let unmap = smp::shootdown_stats() - before;
    crate::harness::note(format!(
        "unmap of {} MiB populated ({} pages) live on {cpus} CPUs: {} flush round(s), {} remote CPU(s) reached",
        size >> 20,
        size / PAGE_SIZE,
        unmap.rounds,
        unmap.remote_cpus
    ));
    ensure_eq!(
        (unmap.rounds, unmap.remote_cpus),
        (1, cpus - 1),
        "one round to every other CPU"
    );
    Ok(())
}

/// Where the ASID cases map their page.
const ASID_PAGE: usize = slot(15);

/// A user space whose kernel-only page at [`ASID_PAGE`] holds `value`.
fn space_holding(value: u64) -> Result<AddressSpace, String> {
    let mut space = ensure_ok!(kernel_space::new_user_space(), "new user space");
    ensure_ok!(space.map_alloc(va(ASID_PAGE), PAGE_SIZE, RW, true), "map");
    fill(&space, ASID_PAGE, value)?;
    Ok(space)
}

/// Two spaces map one address to different frames; one CPU alternates between them, reading
/// each time: each sees its own data, and with ASIDs no switch flushes the TLB.
pub(crate) fn asid_alternation() -> Result<(), String> {
    let first = space_holding(1)?;
    let second = space_holding(2)?;
    let flushes_before = kernel_space::switch_flushes();
    for round in 0..200 {
        for (space, expected) in [(&first, 1), (&second, 2)] {
            // SAFETY: both spaces live until after `switch_to(Space::User)` below.
            unsafe { kernel_space::switch_to_process(space) };
            let value = probe::read(ASID_PAGE);
            ensure_eq!(value, Ok(expected), "round {round}: its own data");
        }
    }
    kernel_space::switch_to(Space::User);
    let flushes = kernel_space::switch_flushes() - flushes_before;
    let (first_asid, second_asid) = (first.page_table().asid(), second.page_table().asid());
    if kernel_space::asids_in_use() && !cfg!(feature = "small-asids") {
        ensure!(
            first_asid != 0 && first_asid != second_asid,
            "two live spaces, two ASIDs ({first_asid}, {second_asid})"
        );
        ensure_eq!(flushes, 0, "switches that flushed the TLB");
    }
    Ok(())
}

/// Spaces, more than the ASIDs of the `small-asids` setting, each with its own value at one
/// address; every CPU switches through all of them several times, concurrently: each read
/// sees the space's own value, and the generation rolled over (with `small-asids`).
pub(crate) fn asid_rollover() -> Result<(), String> {
    let spaces: Vec<AddressSpace> = (0..ROLLOVER_SPACES)
        .map(|index| space_holding(index as u64 + 100))
        .collect::<Result<_, _>>()?;
    ROLLOVER.with(|slot| *slot = Some(spaces));
    let rollovers_before = kernel_space::asid_rollovers();
    let cpus = smp::cpu_count();
    for ending in &ENDINGS {
        ending.store(RUNNING, Ordering::SeqCst);
    }
    for cpu in 1..cpus {
        smp::run_on(cpu, switch_through_all, cpu);
    }
    switch_through_all(0);
    for cpu in 1..cpus {
        smp::wait(cpu);
    }
    ROLLOVER.with(|slot| *slot = None);
    for (cpu, ending) in ENDINGS.iter().enumerate().take(cpus) {
        let ending = ending.load(Ordering::SeqCst);
        ensure!(
            ending == FAULTED_AFTER,
            "CPU {cpu} read another space's value (ending {ending})"
        );
    }
    let rollovers = kernel_space::asid_rollovers() - rollovers_before;
    crate::harness::note(format!(
        "{} ({rollovers} during this case)",
        kernel_space::asid_summary()
    ));
    if cfg!(feature = "small-asids") && kernel_space::asids_in_use() {
        ensure!(rollovers > 0, "no rollover with 4-bit ASIDs");
    }
    Ok(())
}

const ROLLOVER_SPACES: usize = 40;

static ROLLOVER: crate::global_cell::GlobalCell<Option<Vec<AddressSpace>>> =
    crate::global_cell::GlobalCell::new(None);

/// One CPU's part of [`asid_rollover`].
fn switch_through_all(cpu: usize) {
    let mut ending = FAULTED_AFTER;
    for round in 0..3 {
        for index in 0..ROLLOVER_SPACES {
            let index = (index + cpu * 7 + round) % ROLLOVER_SPACES;
            ROLLOVER.with(|spaces| {
                let space = &spaces.as_ref().expect("spaces")[index];
                // SAFETY: the spaces live until every CPU switched back (below).
                unsafe { kernel_space::switch_to_process(space) };
            });
            if probe::read(ASID_PAGE) != Ok(index as u64 + 100) {
                ending = STALE;
            }
        }
    }
    kernel_space::switch_to(Space::User);
    ENDINGS[cpu].store(ending, Ordering::SeqCst);
}
