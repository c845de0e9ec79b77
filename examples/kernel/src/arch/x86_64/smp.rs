//! Secondary CPUs on x86_64: which CPUs exist (the ACPI MADT), how each starts (INIT-SIPI-SIPI
//! through the local APIC, then `trampoline.rs`), which CPU is running (a per-CPU register), and
//! the shootdown IPI.
//!
//! In boot order:
//! 1. `boot.rs` calls [`init_boot_cpu`] before any Rust code that locks: it picks the per-CPU
//!    register and sets the boot CPU's index, 0.
//! 2. `discover_memory` calls [`prepare`] while the boot mapping maps the first 4 GiB: it reads
//!    the MADT (`acpi.rs`; the kernel space will not map the firmware's tables) and, if it lists
//!    other CPUs, copies the trampoline to its page below 1 MiB and reserves that page.
//! 3. `crate::smp::start_secondaries`, once the kernel space (which maps the local APIC) is
//!    active, calls [`discover_cpus`], which software-enables the boot CPU's local APIC and
//!    returns the APIC ids, then [`start_cpu`] for each other CPU: INIT, 10 ms, start-up IPI,
//!    200 µs, start-up IPI, 200 µs (Intel SDM Vol. 3A §8.4.4.1, "Typical BSP Initialization
//!    Sequence"; the delays are timed by the PIT, `pit.rs`).
//! 4. The CPU runs the trampoline into long mode and the kernel space and enters [`ap_entry`]
//!    (SDM §8.4.4.2): its per-CPU register, its own GDT
//!    and TSS and the shared IDT (`descriptors.rs`), `CR0`, `CR4` (SMEP, SMAP, PGE, ...) and
//!    `IA32_PAT` as the boot CPU has them, its local APIC software-enabled, interrupts on (it
//!    takes the shootdown IPI while it waits for work and while it runs jobs), then
//!    `crate::smp::secondary_main`. `start_cpu` returns once the CPU has arrived and has taken
//!    one IPI (the self-check, which panics if the IPI never arrives).
//!
//! The per-CPU register is `IA32_TSC_AUX` (SDM Vol. 3B §17.17.2; Vol. 2 `RDTSCP`, `RDPID`),
//! which holds the CPU's index: user mode cannot write it and the kernel's entry paths need not
//! save or restore it. A CPU without `RDTSCP` and `RDPID` (QEMU's default `qemu64`, `Nehalem`)
//! has no such register: there [`cpu_index`] looks its initial APIC id (`CPUID.1:EBX[31:24]`)
//! up in the table of the started CPUs instead.
//!
//! The boot CPU keeps interrupts masked: it serves shootdowns by polling (`while_waiting`).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::{acpi, apic, pit, trampoline};
use crate::global_cell::GlobalCell;
use crate::kernel_space;
use crate::println;
use crate::range_list::RangeList;
use crate::smp::MAX_CPUS;

/// The vector of the shootdown IPI (high priority class 0xf).
pub(super) const IPI_VECTOR: usize = 0xf0;
/// The local APICs' spurious-interrupt vector (bits 3:0 all ones, as older APICs require).
pub(super) const SPURIOUS_VECTOR: usize = 0xff;

const IA32_TSC_AUX: u32 = 0xc000_0103;
const IA32_PAT: u32 = 0x277;

/// Where [`cpu_index`] reads the index from.
static INDEX_SOURCE: AtomicU8 = AtomicU8::new(FROM_APIC_ID);
/// No per-CPU register: the initial APIC id, looked up in [`APIC_IDS`].
const FROM_APIC_ID: u8 = 0;
/// `IA32_TSC_AUX` through `RDTSCP`.
const FROM_RDTSCP: u8 = 1;
/// `IA32_TSC_AUX` through `RDPID` (no TSC read).
const FROM_RDPID: u8 = 2;

/// Each CPU's APIC id by index, [`NO_CPU`] where none; written by [`discover_cpus`].
static APIC_IDS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(NO_CPU) }; MAX_CPUS];
const NO_CPU: u32 = u32::MAX;

/// What [`prepare`] found while the boot mapping was active.
struct Firmware {
    /// The enabled CPUs' APIC ids, or why they are unknown.
    cpus: Result<acpi::ApicIds, &'static str>,
    /// Whether the trampoline is in place, or why not.
    trampoline: Result<(), &'static str>,
}

static FIRMWARE: GlobalCell<Option<Firmware>> = GlobalCell::new(None);

/// The boot CPU's `CR0`, `CR4` and `IA32_PAT`, which each secondary CPU copies.
static BOOT_CR0: AtomicU64 = AtomicU64::new(0);
static BOOT_CR4: AtomicU64 = AtomicU64::new(0);
static BOOT_PAT: AtomicU64 = AtomicU64::new(0);

/// The index of the last CPU that reached [`ap_entry`]'s end (0: none yet).
static ARRIVED: AtomicUsize = AtomicUsize::new(0);

/// How many shootdown IPIs each CPU has taken.
static IPIS_TAKEN: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

/// How long a started CPU may take to arrive in [`ap_entry`], and an IPI to arrive.
const ARRIVAL_TIMEOUT_MS: u64 = 1000;
const IPI_TIMEOUT_MS: u64 = 1000;

/// The index of this CPU (0 = boot CPU), from the per-CPU register.
pub(crate) fn cpu_index() -> usize {
    match INDEX_SOURCE.load(Ordering::Relaxed) {
        FROM_RDPID => {
            let index: u64;
            // SAFETY: CPUID reports RDPID (`init_boot_cpu`); it only reads IA32_TSC_AUX.
            unsafe {
                core::arch::asm!("rdpid {0}", out(reg) index, options(nomem, nostack, preserves_flags))
            };
            index as usize
        }
        FROM_RDTSCP => {
            let index: u32;
            // SAFETY: CPUID reports RDTSCP (`init_boot_cpu`); it only reads the TSC and
            // IA32_TSC_AUX.
            unsafe {
                core::arch::asm!("rdtscp", out("eax") _, out("edx") _, out("ecx") index,
                    options(nomem, nostack, preserves_flags))
            };
            index as usize
        }
        _ => {
            let apic_id = core::arch::x86_64::__cpuid(1).ebx >> 24;
            // Before `discover_cpus` the table is empty: only the boot CPU runs.
            APIC_IDS
                .iter()
                .position(|id| id.load(Ordering::Relaxed) == apic_id)
                .unwrap_or(0)
        }
    }
}

/// Picks the per-CPU register (`IA32_TSC_AUX` where `RDPID` or `RDTSCP` reads it) and gives
/// the boot CPU index 0 in it. Called first thing in `rust_entry`.
pub(super) fn init_boot_cpu() {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    let rdpid = __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ecx & (1 << 22) != 0;
    let rdtscp =
        __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).edx & (1 << 27) != 0;
    let source = match (rdpid, rdtscp) {
        (true, _) => FROM_RDPID,
        (false, true) => FROM_RDTSCP,
        (false, false) => FROM_APIC_ID,
    };
    INDEX_SOURCE.store(source, Ordering::Relaxed);
    set_index_register(0);
}

/// Writes `index` into this CPU's per-CPU register, if it has one.
fn set_index_register(index: usize) {
    if INDEX_SOURCE.load(Ordering::Relaxed) != FROM_APIC_ID {
        write_msr(IA32_TSC_AUX, index as u64);
    }
}

fn read_msr(msr: u32) -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: callers read MSRs that exist on this CPU (IA32_PAT); reading has no side effect.
    unsafe {
        core::arch::asm!("rdmsr", in("ecx") msr, out("eax") low, out("edx") high,
            options(nomem, nostack, preserves_flags));
    }
    (u64::from(high) << 32) | u64::from(low)
}

fn write_msr(msr: u32, value: u64) {
    // SAFETY: callers write MSRs that exist on this CPU (IA32_TSC_AUX where CPUID reports it,
    // IA32_PAT) with values that do not affect memory safety: the CPU index, or the boot CPU's
    // PAT (the memory types every mapping was made for).
    unsafe {
        core::arch::asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,
            options(nostack, preserves_flags));
    }
}

fn read_cr0() -> u64 {
    let value: u64;
    // SAFETY: reading CR0 has no side effect.
    unsafe {
        core::arch::asm!("mov {0}, cr0", out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}

fn read_cr4() -> u64 {
    let value: u64;
    // SAFETY: reading CR4 has no side effect.
    unsafe {
        core::arch::asm!("mov {0}, cr4", out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Reads the CPU list from the MADT and, if it lists other CPUs, puts the trampoline in place
/// (its page joins `reserved`). Problems are kept for [`discover_cpus`] to report.
///
/// # Safety
/// The boot mapping (first 4 GiB, `boot.rs`) must be active; `start_info` is the PVH start info
/// `firmware::pvh` accepted, `ram` and `reserved` its memory map.
pub(super) unsafe fn prepare(start_info: usize, ram: &RangeList, reserved: &mut RangeList) {
    // SAFETY: forwarded contract.
    let cpus = unsafe { acpi::local_apic_ids(start_info) };
    let trampoline = match &cpus {
        // SAFETY: forwarded contract.
        Ok(listed) if listed.count > 1 => unsafe { trampoline::install(ram, reserved) },
        _ => Err("no other CPU"),
    };
    FIRMWARE.with(|firmware| *firmware = Some(Firmware { cpus, trampoline }));
}

/// The APIC ids of the CPUs the MADT lists, the boot CPU (`boot_cpu`, its initial APIC id) first;
/// just the boot CPU if they cannot be started (reported). Software-enables the boot CPU's
/// local APIC. `boot_argument` was read by [`prepare`], while the boot mapping could reach the
/// firmware's tables.
pub(crate) fn discover_cpus(boot_argument: usize, boot_cpu: usize) -> Vec<usize> {
    let _ = boot_argument;
    APIC_IDS[0].store(boot_cpu as u32, Ordering::Relaxed);
    let alone = |reason: &str| {
        println!("smp: {reason}: only the boot CPU runs");
        alloc::vec![boot_cpu]
    };
    if let Err(reason) = apic::check_xapic() {
        return alone(reason);
    }
    apic::enable(SPURIOUS_VECTOR as u8);
    let Some(firmware) = FIRMWARE.with(|firmware| firmware.take()) else {
        return alone("no PVH memory map, so no ACPI tables were read");
    };
    let listed = match firmware.cpus {
        Ok(listed) => listed,
        Err(reason) => return alone(reason),
    };
    let listed = &listed.ids[..listed.count];
    if listed.len() <= 1 {
        return alloc::vec![boot_cpu];
    }
    if let Err(reason) = firmware.trampoline {
        return alone(reason);
    }
    if !listed.iter().any(|&id| usize::from(id) == boot_cpu) {
        return alone("the MADT does not list the boot CPU");
    }
    let cpus: Vec<usize> = core::iter::once(boot_cpu)
        .chain(
            listed
                .iter()
                .map(|&id| usize::from(id))
                .filter(|&id| id != boot_cpu),
        )
        .collect();
    for (slot, &id) in APIC_IDS.iter().zip(&cpus) {
        slot.store(id as u32, Ordering::Relaxed);
    }
    cpus
}

/// Starts the CPU with APIC id `hardware_id` as CPU `index` on the stack ending at `stack_top`
/// (INIT-SIPI-SIPI, SDM Vol. 3A §8.4.4.1) and returns once it runs [`ap_entry`] and took one
/// shootdown IPI.
///
/// # Errors
/// If the CPU was not listed by [`discover_cpus`], the local APIC refused an IPI, or the CPU
/// did not arrive within a second (it is then sent INIT again, which parks it).
///
/// # Panics
/// If the CPU arrived but the IPI self-check failed: the kernel cannot do shootdowns.
///
/// # Safety
/// `stack_top` must end a stack that belongs to that CPU from now on.
pub(crate) unsafe fn start_cpu(
    index: usize,
    hardware_id: usize,
    stack_top: usize,
) -> Result<(), &'static str> {
    let apic_id = hardware_id as u32;
    if index == 0 || index >= MAX_CPUS || APIC_IDS[index].load(Ordering::Relaxed) != apic_id {
        return Err("not a CPU that discover_cpus listed at this index");
    }
    BOOT_CR0.store(read_cr0(), Ordering::Relaxed);
    BOOT_CR4.store(read_cr4(), Ordering::Relaxed);
    BOOT_PAT.store(read_msr(IA32_PAT), Ordering::Relaxed);
    trampoline::post(index, stack_top, kernel_space::kernel_root().as_usize());
    ARRIVED.store(0, Ordering::Release);
    apic::send_init(apic_id)?;
    pit::delay_us(10_000);
    for _ in 0..2 {
        apic::send_startup(apic_id, (trampoline::PAGE >> 12) as u8)?;
        pit::delay_us(200);
    }
    if !wait_until(ARRIVAL_TIMEOUT_MS, || {
        ARRIVED.load(Ordering::Acquire) == index
    }) {
        // Back to wait-for-SIPI, so that it cannot start late on a stack that is freed.
        let _ = apic::send_init(apic_id);
        return Err("no answer to INIT-SIPI-SIPI");
    }
    // The self-check: one shootdown IPI, which its handler counts.
    let before = IPIS_TAKEN[index].load(Ordering::Acquire);
    send_ipi(index);
    assert!(
        wait_until(IPI_TIMEOUT_MS, || IPIS_TAKEN[index].load(Ordering::Acquire)
            != before),
        "CPU {index} (APIC id {apic_id:#x}) never took the shootdown IPI (vector {IPI_VECTOR:#x})"
    );
    Ok(())
}

/// Polls `done` every 100 µs for up to `milliseconds`; whether it became true.
fn wait_until(milliseconds: u64, done: impl Fn() -> bool) -> bool {
    for _ in 0..milliseconds * 10 {
        if done() {
            return true;
        }
        pit::delay_us(100);
    }
    done()
}

/// The life of a secondary CPU from the first Rust instruction, on its own stack and the kernel
/// space (`trampoline.rs`), with interrupts masked, to `crate::smp::secondary_main`.
pub(super) extern "C" fn ap_entry(index: usize) -> ! {
    // First the per-CPU register: `GlobalCell` and the probes read it.
    set_index_register(index);
    super::descriptors::install(index);
    // SAFETY: the boot CPU's CR0 and CR4 describe the same CPU model in the same mode (paging,
    // protected mode, write protection, PAE, SMEP/SMAP where present, PGE, ...); this CPU runs
    // in that mode already, on tables made for those bits.
    unsafe {
        core::arch::asm!("mov cr0, {0}", in(reg) BOOT_CR0.load(Ordering::Relaxed), options(nostack));
        core::arch::asm!("mov cr4, {0}", in(reg) BOOT_CR4.load(Ordering::Relaxed), options(nostack));
    }
    let pat = BOOT_PAT.load(Ordering::Relaxed);
    if read_msr(IA32_PAT) != pat {
        write_msr(IA32_PAT, pat);
    }
    if let Err(reason) = apic::check_xapic() {
        panic!("CPU {index}: {reason}");
    }
    assert_eq!(
        apic::id(),
        APIC_IDS[index].load(Ordering::Relaxed),
        "CPU {index}: started the wrong CPU"
    );
    apic::enable(SPURIOUS_VECTOR as u8);
    // SAFETY: the IDT has a handler for every vector the local APIC can deliver here (the
    // shootdown IPI and the spurious vector; the LVT entries stay masked as INIT left them).
    unsafe { core::arch::asm!("sti", options(nomem, nostack)) };
    ARRIVED.store(index, Ordering::Release);
    crate::smp::secondary_main(index)
}

/// Sends the shootdown IPI (fixed delivery, [`IPI_VECTOR`]) to CPU `index`.
///
/// # Panics
/// If there is no such CPU or its local APIC refuses the IPI.
pub(crate) fn send_ipi(index: usize) {
    let apic_id = APIC_IDS
        .get(index)
        .map(|id| id.load(Ordering::Relaxed))
        .filter(|&id| id != NO_CPU)
        .unwrap_or_else(|| panic!("send_ipi: no CPU {index}"));
    if let Err(reason) = apic::send_fixed(apic_id, IPI_VECTOR as u8) {
        panic!("send_ipi to CPU {index}: {reason}");
    }
}

/// The shootdown IPI's handler (from `trap.rs`, interrupts masked): counts it, serves what is
/// pending for this CPU and signals the end of the interrupt to the local APIC.
pub(super) fn handle_ipi() {
    IPIS_TAKEN[cpu_index()].fetch_add(1, Ordering::AcqRel);
    crate::smp::serve_pending();
    apic::end_of_interrupt();
}
