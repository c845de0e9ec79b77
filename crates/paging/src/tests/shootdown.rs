//! TLB shootdown bookkeeping: which CPUs and which ASID every flush request names
//! ([`crate::CpuContext`]), one request per operation, and a model of per-CPU TLBs tagged by
//! ASID that catches a stale translation after switches, rollovers and changes.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::string::String;
use std::vec::Vec;

use vmlayer_arch::{CpuMask, TlbFlushRequest};

use super::frames::{live_frames, record_flush, take_flushes};
use super::*;

const USER_RW: MappingFlags = RW.union(MappingFlags::USER);
use crate::asid::AsidAllocator;
use crate::{Arch, CpuContext};

fn cpus(list: &[usize]) -> CpuMask {
    let mut mask = CpuMask::EMPTY;
    for &cpu in list {
        mask.insert(cpu);
    }
    mask
}

/// Switches `cpu` to `space` as a kernel would (the root write is the kernel's).
fn switch(cpu: &mut CpuContext, space: &Space, asids: Option<&mut AsidAllocator>) -> u16 {
    let plan = cpu.plan_switch(space.page_table(), asids).unwrap();
    cpu.switched();
    plan.asid
}

/// Pages populated for the one-round cases: more than the batch's inline slots and one spill
/// page (fewer under Miri, still past the inline slots).
const PAGES: usize = if cfg!(miri) { 260 } else { 1024 };

#[test]
fn an_unmap_is_one_flush_request_however_many_frames_it_frees() {
    let mut space = Space::try_new().unwrap();
    space.set_tlb_flush_hook(Some(record_flush));
    space
        .map_alloc(va(0x4000_0000), PAGES * 0x1000, RW, true)
        .unwrap();
    take_flushes();
    space.unmap(va(0x4000_0000), PAGES * 0x1000).unwrap();
    assert_eq!(take_flushes().len(), 1, "one round for the whole unmap");
    assert_eq!(live_frames(), 1, "every frame and spill page returned");
}

#[test]
fn requests_name_exactly_the_cpus_that_may_cache_the_table() {
    let mut space = Space::try_new().unwrap();
    let mut other = Space::try_new().unwrap();
    space.set_tlb_flush_hook(Some(record_flush));
    other.set_tlb_flush_hook(Some(record_flush));
    let change = |space: &mut Space| {
        take_flushes();
        space.map_alloc(va(0x1000), 0x1000, RW, true).unwrap();
        space.unmap(va(0x1000), 0x1000).unwrap();
        let flushes = take_flushes();
        assert!(!flushes.is_empty());
        let first = flushes[0];
        assert!(flushes.iter().all(|request| request.cpus == first.cpus));
        first
    };
    // Nobody ran it: no CPU to reach, no ASID.
    assert_eq!(change(&mut space).cpus, CpuMask::EMPTY);
    assert_eq!(space.page_table().asid(), 0);
    let mut cpu0 = CpuContext::new(0).unwrap();
    let mut cpu2 = CpuContext::new(2).unwrap();
    assert_eq!(switch(&mut cpu0, &space, None), 0);
    let request = change(&mut space);
    assert_eq!(
        (request.cpus, request.asid),
        (cpus(&[0]), 0),
        "only the current CPU"
    );
    switch(&mut cpu2, &space, None);
    assert_eq!(change(&mut space).cpus, cpus(&[0, 2]));
    // Without ASIDs, the root write of CPU 2's next switch flushed `space` there.
    switch(&mut cpu2, &other, None);
    assert_eq!(change(&mut space).cpus, cpus(&[0]));
    assert_eq!(change(&mut other).cpus, cpus(&[2]));
    assert!(CpuContext::new(vmlayer_arch::MAX_CPUS).is_none());
}

#[test]
fn with_asids_a_cpu_that_left_keeps_receiving_the_spaces_flushes_by_asid() {
    let mut first = Space::try_new().unwrap();
    let second = Space::try_new().unwrap();
    first.set_tlb_flush_hook(Some(record_flush));
    let mut asids = AsidAllocator::new(8, 4).unwrap();
    let mut cpu1 = CpuContext::new(1).unwrap();
    let asid = switch(&mut cpu1, &first, Some(&mut asids));
    assert_ne!(asid, 0);
    let other_asid = switch(&mut cpu1, &second, Some(&mut asids));
    assert_ne!(other_asid, asid, "two live spaces, two ASIDs");
    assert_eq!(cpu1.asid(), other_asid);
    assert_eq!(
        (first.page_table().asid(), second.page_table().asid()),
        (asid, other_asid),
        "each table knows its tag"
    );
    // CPU 1 runs `second`, but its TLB may still hold `first`'s translations under `asid`.
    take_flushes();
    first.map_alloc(va(0x1000), 0x1000, RW, true).unwrap();
    let request = take_flushes()[0];
    assert_eq!((request.cpus, request.asid), (cpus(&[1]), asid));
    assert_eq!(first.page_table().asid(), asid);
    // Switching back needs no new ASID.
    assert_eq!(switch(&mut cpu1, &first, Some(&mut asids)), asid);
}

#[test]
fn the_kernel_space_keeps_every_cpu_and_runs_without_an_asid() {
    let upper_start = !((1usize << (Arch::VA_BITS - 1)) - 1);
    let upper = VirtAddrRange::from_start_size(va(upper_start), 4 * GIB);
    let lower = VirtAddrRange::new(va(0x1000), va(1 << (Arch::VA_BITS - 1)));
    let mut kernel = Space::new_kernel(upper).unwrap();
    kernel.set_tlb_flush_hook(Some(record_flush));
    let user = Space::new_user(&kernel, lower).unwrap();
    let user2 = Space::new_user(&kernel, lower).unwrap();
    let mut asids = AsidAllocator::new(8, 2).unwrap();
    let mut contexts = [CpuContext::new(0).unwrap(), CpuContext::new(1).unwrap()];
    for context in &mut contexts {
        context.join_kernel(kernel.page_table());
        assert_eq!(switch(context, &kernel, Some(&mut asids)), 0, "ASID 0");
    }
    switch(&mut contexts[1], &user, None);
    switch(&mut contexts[1], &user2, None);
    switch(&mut contexts[1], &kernel, None);
    take_flushes();
    kernel.map_alloc(va(upper_start), 0x1000, RW, true).unwrap();
    let request = take_flushes()[0];
    assert_eq!(
        request.cpus,
        cpus(&[0, 1]),
        "global translations outlive switches"
    );
    assert_eq!(
        user.page_table().cpus(),
        CpuMask::EMPTY,
        "flushed by the root writes"
    );
}

/// One model CPU: the table it runs (index into the spaces), the ASID, and its TLB: ASID →
/// (page → frame) for the pages it touched.
#[derive(Default)]
struct ModelCpu {
    running: Option<usize>,
    asid: u16,
    tlb: BTreeMap<u16, BTreeMap<usize, usize>>,
}

std::thread_local! {
    static CPUS: RefCell<Vec<ModelCpu>> = const { RefCell::new(Vec::new()) };
}

/// The flush hook of the model: every CPU the request names drops what it says (by ASID, or
/// everything for ASID 0 or a global change), as the ISA crates' flushes do. (The pages are
/// `USER`, so the requests are by ASID: a wrong ASID in a request leaves a stale entry.)
fn model_flush(request: &TlbFlushRequest) {
    CPUS.with_borrow_mut(|cpus| {
        for cpu in request.cpus.iter() {
            let tlb = &mut cpus[cpu].tlb;
            if request.asid == 0 || request.global_changed {
                tlb.clear();
            } else {
                tlb.remove(&request.asid);
            }
        }
    });
}

/// A pseudo-random walk: `cpus` CPUs switch among `spaces` spaces that all map one page at
/// the same address, touch it (caching the translation) and remap it (a new frame, the old
/// one freed after the flush). Returns the first access that used a translation the space no
/// longer has.
fn asid_walk(
    cpus: usize,
    spaces: usize,
    bits: u32,
    steps: usize,
    seed: u64,
) -> Result<u64, String> {
    const PAGE: usize = 0x40_0000;
    let mut all: Vec<Space> = (0..spaces)
        .map(|_| {
            let mut space = Space::try_new().unwrap();
            space.set_tlb_flush_hook(Some(model_flush));
            space.map_alloc(va(PAGE), 0x1000, USER_RW, true).unwrap();
            space
        })
        .collect();
    let mut asids = AsidAllocator::new(bits, cpus).unwrap();
    let mut contexts: Vec<CpuContext> =
        (0..cpus).map(|cpu| CpuContext::new(cpu).unwrap()).collect();
    CPUS.with_borrow_mut(|model| *model = (0..cpus).map(|_| ModelCpu::default()).collect());
    let mut state = seed;
    let mut next = |bound: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % bound
    };
    let frame_of = |space: &Space| space.query(va(PAGE)).map(|t| t.paddr.as_usize());
    for step in 0..steps {
        let cpu = next(cpus);
        match next(3) {
            0 => {
                let target = next(spaces);
                // Until its root write, the CPU may still refill (speculatively) the space it
                // leaves, under that space's ASID.
                let leaving =
                    CPUS.with_borrow(|model| model[cpu].running.map(|r| (r, model[cpu].asid)));
                if let Some((running, asid)) = leaving {
                    let now = frame_of(&all[running]).unwrap();
                    CPUS.with_borrow_mut(|model| {
                        model[cpu].tlb.entry(asid).or_default().insert(PAGE, now);
                    });
                }
                let plan = contexts[cpu]
                    .plan_switch(all[target].page_table(), Some(&mut asids))
                    .unwrap();
                CPUS.with_borrow_mut(|model| {
                    let model = &mut model[cpu];
                    // The rollover flush comes after the root write (`activate_asid`).
                    if plan.flush_local {
                        model.tlb.clear();
                    }
                    model.running = Some(target);
                    model.asid = plan.asid;
                });
                contexts[cpu].switched();
            }
            1 => {
                let Some((running, asid)) =
                    CPUS.with_borrow(|model| model[cpu].running.map(|r| (r, model[cpu].asid)))
                else {
                    continue;
                };
                let now = frame_of(&all[running]).unwrap();
                let cached = CPUS.with_borrow_mut(|model| {
                    *model[cpu]
                        .tlb
                        .entry(asid)
                        .or_default()
                        .entry(PAGE)
                        .or_insert(now)
                });
                if cached != now {
                    return Err(std::format!(
                        "step {step}: CPU {cpu} running space {running} with ASID {asid} used frame {cached:#x}, the space maps {now:#x}"
                    ));
                }
            }
            _ => {
                let space = &mut all[next(spaces)];
                space.unmap(va(PAGE), 0x1000).unwrap();
                space.map_alloc(va(PAGE), 0x1000, USER_RW, true).unwrap();
            }
        }
    }
    Ok(asids.rollovers())
}

#[test]
fn no_cpu_uses_a_stale_translation_through_asid_rollovers() {
    let (steps, seeds) = if cfg!(miri) { (120, 1) } else { (4000, 8) };
    for seed in 0..seeds {
        // 2-bit ASIDs (3 usable) for 3 CPUs and 7 spaces: a rollover every few switches.
        let rollovers = asid_walk(3, 7, 2, steps, seed).unwrap();
        assert!(rollovers > 2, "seed {seed}: only {rollovers} rollovers");
        if cfg!(miri) {
            continue;
        }
        let rollovers = asid_walk(4, 20, 4, steps, seed + 100).unwrap();
        assert!(rollovers > 0, "seed {seed}: no rollover with 4-bit ASIDs");
    }
}

#[test]
fn the_asid_model_sees_a_rollover_that_forgets_its_flush() {
    crate::asid::tests::BROKEN.with(|broken| broken.set(true));
    let found = (0..8)
        .map(|seed| asid_walk(3, 7, 2, 4000, seed))
        .find(Result::is_err);
    crate::asid::tests::BROKEN.with(|broken| broken.set(false));
    assert!(found.is_some(), "the model must catch a stale ASID");
}

#[test]
fn a_cpu_the_asid_allocator_does_not_serve_is_refused_and_nothing_changes() {
    let space = Space::try_new().unwrap();
    let mut asids = AsidAllocator::new(8, 2).unwrap();
    let mut cpu5 = CpuContext::new(5).unwrap();
    assert_eq!(
        cpu5.plan_switch(space.page_table(), Some(&mut asids)),
        Err(crate::SwitchError::UnknownCpu)
    );
    assert_eq!(space.page_table().cpus(), CpuMask::EMPTY);
    assert_eq!(cpu5.asid(), 0);
}
