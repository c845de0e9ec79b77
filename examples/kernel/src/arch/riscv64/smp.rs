//! Secondary harts under OpenSBI: which harts exist, how one starts, how each knows its CPU
//! index, and how one hart flushes the TLBs of others.
//!
//! **Discovery.** The device tree lists the harts as `/cpus/cpu@N` nodes whose `reg` is the hart
//! id; a hart is usable when its `status` is absent or `"okay"` and it has an `mmu-type`.
//! [`record_harts`] reads them on the boot hart before `kernel_main`, while the boot mapping still
//! maps the blob (the kernel space maps only usable RAM, and the blob is firmware memory), into
//! [`HART_IDS`]: CPU index → hart id, the boot hart as CPU 0. [`discover_cpus`] returns that
//! table; [`remote_sfence_vma`] keeps using it.
//!
//! **Start** (SBI v1.0 chapter 9, Hart State Management). [`start_cpu`] runs on CPU 0: it fills
//! the hart's [`BootRecord`] (index, stack top, the kernel space's root and its `satp` value) and
//! calls `sbi_hart_start(hart id, physical address of example_secondary_entry, address of the
//! record)` (§9.1). OpenSBI then starts the hart in S-mode at that physical address with the MMU
//! off (`satp = 0`), interrupts off, `a0` = hart id and `a1` = the record. The hart:
//! 1. turns on the boot mapping (`boot::BOOT_TABLE`, exactly like `_start`) and jumps to the
//!    upper-half link address of the code;
//! 2. switches `satp` to the kernel space, whose direct map covers all usable RAM (the boot
//!    mapping's covers only the first 4 GiB, and the stack may lie above);
//! 3. sets `sp` = its stack top, `tp` = its CPU index (the per-CPU register, below) and
//!    `sscratch` = 0 (the kernel runs, see `trap.rs`);
//! 4. in Rust ([`secondary_rust_entry`]): points `stvec` at the trap vector the boot hart uses,
//!    switches to the kernel space the way `kernel_space::init` did on the boot hart
//!    (`arch::enable_kernel_space`, which also checks that the hart took the translation mode,
//!    then `arch::protect_user_memory`), and enters `crate::smp::secondary_main(index)` for good.
//!
//! **Per-CPU register.** `tp` holds the CPU index whenever the kernel runs: `_start` sets 0 on the
//! boot hart before any Rust code, step 3 sets it on the others, and the compiler never allocates
//! `tp` (the psABI reserves it as the thread pointer). User code may change it, so
//! `example_enter_user` saves the kernel's `tp` in its frame (which `sscratch` points to while
//! user code runs) and `example_user_trap` restores it (`user.rs`). [`cpu_index`] reads it.
//!
//! **Remote TLB maintenance** (SBI v1.0 chapter 8, RFENCE). [`remote_sfence_vma`] turns a set of
//! CPU indices into hart masks and calls `sbi_remote_sfence_vma(_asid)`; OpenSBI sends the IPIs
//! and returns once every target has fenced, so the kernel needs no IPI handler of its own.

use alloc::vec::Vec;
use core::arch::{asm, global_asm};
use core::mem::offset_of;
use core::sync::atomic::{AtomicUsize, Ordering, fence};

use super::boot::{BOOT_TABLE, SATP_SV39, enter_boot_mapping};
use super::sbi;
use crate::kernel_space::{self, Space};
use crate::layout::{self, KERNEL_VIRT_OFFSET};
use crate::smp::MAX_CPUS;

/// An empty slot of [`HART_IDS`].
const NO_HART: usize = usize::MAX;

/// The hart id of each CPU index (CPU 0 = the boot hart), as [`record_harts`] found them; at
/// most [`MAX_CPUS`], any further hart stays stopped in the firmware.
static HART_IDS: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(NO_HART) }; MAX_CPUS];

/// What a starting hart needs before it can run Rust code, one per CPU index, written by CPU 0
/// in [`start_cpu`] before the hart starts. `repr(C)`: the entry assembly reads the fields at
/// their offsets.
#[repr(C)]
struct BootRecord {
    /// The CPU index, for `tp`.
    index: AtomicUsize,
    /// The top of the hart's kernel stack (a direct-map address), for `sp`.
    stack_top: AtomicUsize,
    /// `satp` for the kernel space (mode, ASID 0, root), written by the entry assembly.
    satp: AtomicUsize,
    /// The kernel space's root (physical address), for `arch::enable_kernel_space`.
    root: AtomicUsize,
}

static BOOT_RECORDS: [BootRecord; MAX_CPUS] = [const {
    BootRecord {
        index: AtomicUsize::new(0),
        stack_top: AtomicUsize::new(0),
        satp: AtomicUsize::new(0),
        root: AtomicUsize::new(0),
    }
}; MAX_CPUS];

/// Records the usable harts of the device tree at `device_tree` (physical address) in
/// [`HART_IDS`], `boot_hart` first; only the boot hart when the tree cannot be read. Called once
/// by `boot::rust_entry`, on the boot mapping (which maps the blob) and before the heap exists.
pub(super) fn record_harts(device_tree: usize, boot_hart: usize) {
    HART_IDS[0].store(boot_hart, Ordering::Relaxed);
    let mut next = 1;
    let mut record = |cpu: crate::firmware::device_tree::CpuNode| {
        if cpu.available && cpu.has_mmu_type && cpu.id != boot_hart && next < MAX_CPUS {
            HART_IDS[next].store(cpu.id, Ordering::Relaxed);
            next += 1;
        }
    };
    // SAFETY: the SBI boot protocol passes the physical address of a valid device tree in `a1`,
    // below 3 GiB under QEMU: in the boot mapping's direct map, which is active; the reader
    // checks the magic and every bound.
    if unsafe { crate::firmware::device_tree::cpus(device_tree, &mut record) }.is_none() {
        for slot in &HART_IDS[1..] {
            slot.store(NO_HART, Ordering::Relaxed);
        }
    }
}

/// The hardware ids of the CPUs the firmware lists, the boot CPU (`boot_cpu`) first: the hart
/// ids [`record_harts`] read from the device tree at boot (`boot_argument` is that tree, no
/// longer mapped).
pub(crate) fn discover_cpus(boot_argument: usize, boot_cpu: usize) -> Vec<usize> {
    let _ = boot_argument;
    let harts: Vec<usize> = HART_IDS
        .iter()
        .map(|slot| slot.load(Ordering::Relaxed))
        .take_while(|&hart| hart != NO_HART)
        .collect();
    debug_assert_eq!(harts.first(), Some(&boot_cpu), "the boot hart is CPU 0");
    harts
}

/// Starts hart `hardware_id` as CPU `index` on the stack ending at `stack_top` (module docs:
/// SBI HSM `hart_start`, then the hart's own steps 1–4). Before that, the secondary harts
/// already started get a full remote fence: nothing is stale yet, but it exercises
/// [`remote_sfence_vma`] on every boot with three harts or more.
///
/// # Errors
/// The SBI error name when the fence or the start fails, or a message when `hardware_id` is not
/// the hart [`discover_cpus`] listed as CPU `index`.
///
/// # Safety
/// `stack_top` must end a stack that belongs to that CPU from now on; the kernel space must be
/// active (`kernel_space::init`).
pub(crate) unsafe fn start_cpu(
    index: usize,
    hardware_id: usize,
    stack_top: usize,
) -> Result<(), &'static str> {
    if index == 0 || index >= MAX_CPUS || HART_IDS[index].load(Ordering::Relaxed) != hardware_id {
        return Err("not the hart discover_cpus listed for this index");
    }
    let others_started = (1u64 << index) - 1 - (1 << crate::smp::this_cpu());
    remote_sfence_vma(others_started, 0, usize::MAX, None).map_err(sbi::error_name)?;

    let root = kernel_space::with(Space::Kernel, |space| space.root_paddr()).as_usize();
    // The kernel space runs in the mode `vmlayer_paging` selected (the boot hart's current
    // `satp` says which) with ASID 0 (user spaces get theirs at their first switch,
    // `kernel_space::activate`).
    let satp_mode = read_satp() & SATP_MODE;
    let record = &BOOT_RECORDS[index];
    record.index.store(index, Ordering::Relaxed);
    record.stack_top.store(stack_top, Ordering::Relaxed);
    record.satp.store(satp_mode | root >> 12, Ordering::Relaxed);
    record.root.store(root, Ordering::Relaxed);
    // The record is complete before the SBI call that lets the hart read it (the hart fences
    // reads on its side, `fence r, r`).
    fence(Ordering::SeqCst);

    unsafe extern "C" {
        fn example_secondary_entry();
    }
    let entry = layout::image_phys(example_secondary_entry as *const () as usize);
    // SAFETY: `example_secondary_entry` is written for the state `hart_start` leaves the hart in
    // (MMU off, at its physical address, a1 = the record); it runs only on the stack the caller
    // gave this CPU, on the kernel space (active, kept alive in `kernel_space`), and touches
    // shared data only through atomics and `GlobalCell`s.
    unsafe { sbi::hart_start(hardware_id, entry, record as *const BootRecord as usize) }
        .map_err(sbi::error_name)
}

/// The index of this CPU (0 = boot CPU): the per-CPU register `tp` (module docs).
pub(crate) fn cpu_index() -> usize {
    let index: usize;
    // SAFETY: reading `tp` has no side effect; the kernel keeps the CPU index there (module docs).
    unsafe { asm!("mv {0}, tp", out(reg) index, options(pure, nomem, nostack, preserves_flags)) };
    index
}

/// Executes `sfence.vma` on every CPU whose bit is set in `targets` (bit `i` = CPU index `i`,
/// the calling CPU included if its bit is set) for the virtual range `start..start + size`
/// (`start = 0, size = usize::MAX`: every address) in address space `asid`, or in every address
/// space with `None`. Returns when every target has fenced (OpenSBI's RFENCE is synchronous).
///
/// Hart ids may be sparse: the targets' hart ids are sorted and sent as one
/// `(hart_mask, hart_mask_base)` pair (SBI v1.0 §3.1 "Hart list parameter") per window of 64
/// consecutive ids.
///
/// # Errors
/// The SBI error code; `SBI_ERR_INVALID_PARAM` too for a bit that names no recorded CPU.
pub(crate) fn remote_sfence_vma(
    targets: u64,
    start: usize,
    size: usize,
    asid: Option<usize>,
) -> Result<(), isize> {
    let mut harts = [0usize; MAX_CPUS];
    let mut count = 0;
    for index in 0..u64::BITS as usize {
        if targets & (1 << index) == 0 {
            continue;
        }
        let hart = HART_IDS
            .get(index)
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|&hart| hart != NO_HART)
            .ok_or(sbi::ERR_INVALID_PARAM)?;
        harts[count] = hart;
        count += 1;
    }
    let mut rest = &mut harts[..count];
    rest.sort_unstable();
    while let Some(&base) = rest.first() {
        let window = rest
            .iter()
            .take_while(|&&hart| hart - base < usize::BITS as usize)
            .count();
        let mask = rest[..window]
            .iter()
            .fold(0, |mask, &hart| mask | 1 << (hart - base));
        sbi::remote_sfence_vma(mask, base, start, size, asid)?;
        rest = &mut rest[window..];
    }
    Ok(())
}

/// `satp.MODE`, bits 63:60 (privileged spec §4.1.11).
const SATP_MODE: usize = 0xf << 60;

fn read_satp() -> usize {
    let satp: usize;
    // SAFETY: reading `satp` in S-mode has no side effect.
    unsafe { asm!("csrr {0}, satp", out(reg) satp, options(nomem, nostack, preserves_flags)) };
    satp
}

global_asm!(
    ".section .text",
    ".balign 4",
    ".globl example_secondary_entry",
    "example_secondary_entry:",
    // From `sbi_hart_start`: MMU off, at the physical address; a0 = hart id, a1 = the boot
    // record (its link address, valid once the boot mapping is on).
    // Step 1: the boot mapping, then the link address.
    enter_boot_mapping!(),
    // Step 2: the kernel space. The record's stores happened before `hart_start`.
    "    fence r, r",
    "    ld t0, {satp}(a1)",
    "    sfence.vma",
    "    csrw satp, t0",
    "    sfence.vma",
    // Step 3: stack, per-CPU register, "the kernel runs".
    "    ld sp, {stack_top}(a1)",
    "    ld tp, {index}(a1)",
    "    csrw sscratch, zero",
    // Step 4.
    "    mv a0, a1",
    "    call {rust_entry}",
    "1:  wfi",
    "    j 1b",
    boot_table = sym BOOT_TABLE,
    satp_sv39 = const SATP_SV39,
    phys_minus_virt = const KERNEL_VIRT_OFFSET.wrapping_neg(),
    satp = const offset_of!(BootRecord, satp),
    stack_top = const offset_of!(BootRecord, stack_top),
    index = const offset_of!(BootRecord, index),
    rust_entry = sym secondary_rust_entry,
);

/// Step 4 of a secondary hart (module docs), on its own stack and the kernel space, `tp` set.
extern "C" fn secondary_rust_entry(record: &BootRecord) -> ! {
    super::trap::install();
    let index = record.index.load(Ordering::Relaxed);
    let root = record.root.load(Ordering::Relaxed);
    // SAFETY: as in `kernel_space::init`: the kernel space maps the running code, this stack,
    // all data and the devices, and lives in `kernel_space` until the kernel exits. (The entry
    // assembly already wrote the same root; this is the checked switch.)
    unsafe { super::enable_kernel_space(vmlayer_paging::PhysAddr::from(root)) };
    super::protect_user_memory();
    crate::smp::secondary_main(index)
}
