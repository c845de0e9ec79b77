//! CPUs: bring-up of the secondary CPUs and the work they do for the suite.
//!
//! The boot CPU is CPU 0. [`start_secondaries`] asks the firmware's CPU list
//! (`arch::discover_cpus`) and starts every other CPU through the ISA's mechanism
//! (`arch::start_cpu`: SBI HSM `hart_start`, PSCI `CPU_ON`, or INIT-SIPI-SIPI), each on its own
//! stack; each sets up its trap vectors and per-CPU register (`arch::cpu_index` reads it back),
//! activates the kernel space and enters [`secondary_main`], where it waits for jobs: a
//! function and an argument posted by CPU 0 with [`run_on`], finished when [`wait`] returns.
//!
//! Kernel data is shared through `GlobalCell` (a spin lock); a CPU that waits (for a lock, a
//! job or an acknowledgement) calls [`while_waiting`], which serves TLB shootdowns addressed to
//! it ([`serve_pending`]; only x86 posts them: the other ISAs need no help from the receiver).
//!
//! # TLB shootdown
//!
//! [`shootdown`] is the flush hook of every address space. Each request names the CPUs that
//! may cache the table (`TlbFlushRequest::cpus`, kept by `vmlayer_paging::CpuContext` on every
//! switch, see `kernel_space`) and the ASID: this CPU flushes locally if it is among them
//! (RISC-V: always, see `arch/riscv64/shootdown.rs`), and the others are reached in **one
//! round** by the ISA's mechanism (`arch::shootdown`): x86 an IPI to each (the receiver
//! flushes by PCID, [`serve_pending`]) and a wait for every acknowledgement; RISC-V one SBI
//! RFENCE call (remote `sfence.vma`, by ASID); AArch64 the broadcast `TLBI …IS` forms (no
//! IPI), or the local forms when no other CPU caches the table. The hook returns only when
//! every CPU completed the invalidation, so the frames the change released may go back to the
//! pool. A table no CPU ran needs no flush at all but RISC-V's local fence (above).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use vmlayer_paging::{CpuMask, PagingArch, TlbFlushRequest};

use crate::kernel_space::Arch;
use crate::{arch, frame_pool, println};

/// The most CPUs the kernel starts; any beyond stay parked in the firmware.
pub(crate) const MAX_CPUS: usize = 8;

/// Each secondary CPU's kernel stack (64 KiB, taken from the frame pool for good; the boot CPU's
/// is in the image).
const STACK_FRAMES: usize = 16;

/// How many CPUs run (1 until [`start_secondaries`]).
static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// A job posted to a CPU: `function(argument)`, run once; `state` goes IDLE → POSTED → RUNNING
/// → IDLE.
struct Mailbox {
    function: AtomicUsize,
    argument: AtomicUsize,
    state: AtomicUsize,
}

const IDLE: usize = 0;
const POSTED: usize = 1;
const RUNNING: usize = 2;

static MAILBOXES: [Mailbox; MAX_CPUS] = [const {
    Mailbox {
        function: AtomicUsize::new(0),
        argument: AtomicUsize::new(0),
        state: AtomicUsize::new(IDLE),
    }
}; MAX_CPUS];

/// The index of the CPU running this code (0 = the boot CPU).
pub(crate) fn this_cpu() -> usize {
    arch::cpu_index()
}

/// How many CPUs run.
pub(crate) fn cpu_count() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// Called by every wait loop: serves what other CPUs need from this one meanwhile.
pub(crate) fn while_waiting() {
    serve_pending();
    core::hint::spin_loop();
}

/// Flush requests that reached another CPU ([`shootdown`] rounds), the other CPUs they
/// reached in total, and requests this CPU carried out alone.
static ROUNDS: AtomicUsize = AtomicUsize::new(0);
static REMOTE_CPUS: AtomicUsize = AtomicUsize::new(0);
static LOCAL_ONLY: AtomicUsize = AtomicUsize::new(0);

/// Shootdown counters since boot, for the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShootdownStats {
    /// Requests that reached at least one other CPU (each is one round).
    pub(crate) rounds: usize,
    /// Other CPUs reached, summed over the rounds.
    pub(crate) remote_cpus: usize,
    /// Requests that only this CPU had to carry out.
    pub(crate) local_only: usize,
}

impl core::ops::Sub for ShootdownStats {
    type Output = Self;
    fn sub(self, earlier: Self) -> Self {
        Self {
            rounds: self.rounds - earlier.rounds,
            remote_cpus: self.remote_cpus - earlier.remote_cpus,
            local_only: self.local_only - earlier.local_only,
        }
    }
}

/// The counters now.
pub(crate) fn shootdown_stats() -> ShootdownStats {
    ShootdownStats {
        rounds: ROUNDS.load(Ordering::Acquire),
        remote_cpus: REMOTE_CPUS.load(Ordering::Acquire),
        local_only: LOCAL_ONLY.load(Ordering::Acquire),
    }
}

/// The TLB flush hook of every address space (user spaces inherit the kernel space's): see the
/// module docs. Test-only features break it on purpose: `broken-skip-tlb-flush` skips every
/// flush, `broken-skip-shootdown` flushes this CPU only; the suite must catch both.
pub(crate) fn shootdown(request: &TlbFlushRequest) {
    if cfg!(feature = "broken-skip-tlb-flush") {
        return;
    }
    let me = this_cpu();
    let local = request.cpus.contains(me);
    let mut others = request.cpus.without(me);
    if cfg!(feature = "broken-skip-shootdown") {
        others = CpuMask::EMPTY;
    }
    if others.is_empty() {
        if local {
            LOCAL_ONLY.fetch_add(1, Ordering::Relaxed);
        }
    } else {
        ROUNDS.fetch_add(1, Ordering::Relaxed);
        REMOTE_CPUS.fetch_add(others.len(), Ordering::Relaxed);
    }
    arch::shootdown(request, local, others);
}

/// A request posted by CPU `sender` to CPU `target`: `SLOTS[target][sender]`. The sender
/// writes the request and sets `pending` (release); the target flushes and clears it
/// (release); the sender waits for that. One slot per pair: senders never contend.
struct Slot {
    pending: AtomicBool,
    request: UnsafeCell<Option<TlbFlushRequest>>,
}

// SAFETY: `request` is written only by the slot's sender while `pending` is false and read only
// by its target while `pending` is true, with interrupts masked (so one reader at a time); the
// flag's release/acquire orders the two.
unsafe impl Sync for Slot {}

static SLOTS: [[Slot; MAX_CPUS]; MAX_CPUS] = [const {
    [const {
        Slot {
            pending: AtomicBool::new(false),
            request: UnsafeCell::new(None),
        }
    }; MAX_CPUS]
}; MAX_CPUS];

/// Posts `request` to each CPU of `targets` (x86: the caller then sends the IPIs), for
/// [`wait_acknowledged`].
#[cfg_attr(
    not(target_arch = "x86_64"),
    expect(dead_code, reason = "only x86 shoots down through IPIs")
)]
pub(crate) fn post_shootdown(request: &TlbFlushRequest, targets: CpuMask) {
    let me = this_cpu();
    for target in targets.iter() {
        let slot = &SLOTS[target][me];
        // SAFETY: this CPU is the slot's only sender and its previous request was acknowledged
        // (`wait_acknowledged` returned), so the target does not read it now.
        unsafe { *slot.request.get() = Some(*request) };
        slot.pending.store(true, Ordering::Release);
    }
}

/// Waits until every CPU of `targets` carried out this CPU's posted request, serving the
/// requests posted to this CPU meanwhile (two CPUs shooting at each other cannot deadlock).
#[cfg_attr(
    not(target_arch = "x86_64"),
    expect(dead_code, reason = "only x86 shoots down through IPIs")
)]
pub(crate) fn wait_acknowledged(targets: CpuMask) {
    let me = this_cpu();
    for target in targets.iter() {
        while SLOTS[target][me].pending.load(Ordering::Acquire) {
            serve_pending();
            core::hint::spin_loop();
        }
    }
}

/// Carries out the TLB shootdowns other CPUs posted to this one and acknowledges them (x86:
/// called by the shootdown IPI's handler and by every wait loop; a no-op elsewhere, where
/// nothing is ever posted).
pub(crate) fn serve_pending() {
    // Masked: an IPI taken between reading a slot and clearing it would serve the same
    // request, the sender would post the next one in the slot, and this loop would then
    // clear that one unserved.
    arch::with_interrupts_masked(|| {
        let me = this_cpu();
        for slot in &SLOTS[me] {
            if slot.pending.load(Ordering::Acquire) {
                // SAFETY: `pending` is set: the sender wrote the request and waits; nothing
                // else on this CPU serves the slot meanwhile (interrupts are masked).
                if let Some(request) = unsafe { *slot.request.get() } {
                    <Arch as PagingArch>::flush_tlb_local(&request);
                }
                slot.pending.store(false, Ordering::Release);
            }
        }
    });
}

/// Starts every CPU the firmware lists (at most [`MAX_CPUS`]) and waits until each runs
/// [`secondary_main`]. `boot_argument` and `boot_cpu` are what `kernel_main` got.
pub(crate) fn start_secondaries(boot_argument: usize, boot_cpu: usize) {
    let cpus = arch::discover_cpus(boot_argument, boot_cpu);
    for (index, &hardware_id) in cpus.iter().enumerate().skip(1).take(MAX_CPUS - 1) {
        // Never returned (the CPU runs until the kernel exits): taken like the heap, outside the
        // frames in use, which the suite's leak check compares with the page-table pages.
        let Some(stack) = frame_pool::take_forever(STACK_FRAMES) else {
            println!("smp: no memory for CPU {index}'s stack");
            break;
        };
        let stack_top = crate::layout::phys_to_virt(stack.end);
        let expected = cpu_count() + 1;
        // SAFETY: the stack is fresh, owned by that CPU from now on; the CPU enters
        // `secondary_main(index)` once its vectors and per-CPU register are set.
        if let Err(error) = unsafe { arch::start_cpu(index, hardware_id, stack_top) } {
            // The stack stays taken (`take_forever` frames do not go back): 64 KiB lost.
            println!("smp: CPU {index} ({hardware_id:#x}) did not start: {error}");
            break;
        }
        let mut spins = 0usize;
        while cpu_count() < expected {
            spins += 1;
            assert!(
                spins < 1 << 32,
                "CPU {index} ({hardware_id:#x}) never came up"
            );
            core::hint::spin_loop();
        }
    }
    // Each CPU runs one job that reports which CPU it is: the mailboxes and the per-CPU
    // register work before the suite relies on them.
    static REPORTED: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(usize::MAX) }; MAX_CPUS];
    fn report(cpu: usize) {
        REPORTED[cpu].store(this_cpu(), Ordering::Release);
    }
    for (cpu, reported) in REPORTED.iter().enumerate().take(cpu_count()).skip(1) {
        run_on(cpu, report, cpu);
        wait(cpu);
        assert_eq!(
            reported.load(Ordering::Acquire),
            cpu,
            "CPU {cpu}'s index register"
        );
    }
    println!("CPUs: {} online", cpu_count());
}

/// The life of a secondary CPU once it runs Rust code on the kernel space: announce itself,
/// then run the jobs CPU 0 posts.
pub(crate) fn secondary_main(index: usize) -> ! {
    debug_assert_eq!(this_cpu(), index);
    // Kernel-space changes reach this CPU from now on. (It already translates through the
    // kernel space, but CPU 0 changes nothing there until this CPU is online.)
    crate::kernel_space::join_kernel_space();
    ONLINE.fetch_add(1, Ordering::AcqRel);
    let mailbox = &MAILBOXES[index];
    loop {
        if mailbox
            .state
            .compare_exchange(POSTED, RUNNING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            let function = mailbox.function.load(Ordering::Relaxed);
            let argument = mailbox.argument.load(Ordering::Relaxed);
            // SAFETY: `run_on` stored a `fn(usize)` here.
            let function: fn(usize) = unsafe { core::mem::transmute(function) };
            function(argument);
            mailbox.state.store(IDLE, Ordering::Release);
        }
        while_waiting();
    }
}

/// Posts `function(argument)` to `cpu` (not the calling CPU), which must be idle.
pub(crate) fn run_on(cpu: usize, function: fn(usize), argument: usize) {
    assert!(cpu != this_cpu() && cpu < cpu_count(), "run_on: CPU {cpu}");
    let mailbox = &MAILBOXES[cpu];
    assert_eq!(
        mailbox.state.load(Ordering::Acquire),
        IDLE,
        "CPU {cpu} is busy"
    );
    mailbox.function.store(function as usize, Ordering::Relaxed);
    mailbox.argument.store(argument, Ordering::Relaxed);
    mailbox.state.store(POSTED, Ordering::Release);
}

/// Waits until `cpu` finished its job.
pub(crate) fn wait(cpu: usize) {
    while MAILBOXES[cpu].state.load(Ordering::Acquire) != IDLE {
        while_waiting();
    }
}
