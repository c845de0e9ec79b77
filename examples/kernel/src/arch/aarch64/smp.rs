//! Secondary CPUs on QEMU `virt`: listed by the device tree, started with PSCI `CPU_ON`, and
//! brought to the boot CPU's MMU state before they run any Rust code.
//!
//! # Which CPUs ([`read_cpu_list`], [`discover_cpus`])
//!
//! At boot, while the boot mapping still covers the device tree (the kernel space does not map
//! it: the blob is reserved memory, not usable RAM), `boot.rs` reads every `/cpus/cpu@N` node:
//! its `reg` is the MPIDR affinity value PSCI takes (Aff3 in bits 39:32, Aff2..Aff0 in bits
//! 23:0), `enable-method = "psci"` says PSCI starts it, and `/psci` `method` says which
//! instruction calls PSCI (`"hvc"` on QEMU `virt` with the kernel at EL1: QEMU implements PSCI
//! itself). The list is kept here, boot CPU first.
//!
//! # Starting one ([`start_cpu`], on the boot CPU)
//!
//! 1. Fill that CPU's [`BootRecord`]: its index, its stack top, and the values of the boot
//!    CPU's translation registers: `MAIR_EL1` and `TCR_EL1` as the boot CPU runs with them, and
//!    `TTBR1_EL1` = the kernel space's root as `registers::switch_kernel_root` writes it.
//! 2. Clean and invalidate the record to the point of coherency (`DC CIVAC`, then `DSB SY`):
//!    the new CPU reads it with its MMU off, where every data access is Device-nGnRnE and goes
//!    to memory, so the boot CPU's cached copy must have reached memory first (Arm ARM, "The
//!    effects of disabling address translation" and "Data cache maintenance instructions").
//! 3. PSCI `CPU_ON` (DEN0022 §5.1.4; SMC64 function id `0xC400_0003`): `x1` = the target's
//!    MPIDR affinity, `x2` = the physical address of `example_secondary_entry`, `x3` = the
//!    context id, here the physical address of the record. Every error code of the
//!    "Return error codes" table (DEN0022 §5.2.2) is reported as an error.
//!
//! # What the new CPU does (`example_secondary_entry`, then [`secondary_rust_entry`])
//!
//! PSCI enters it at the physical entry point at EL1 (the caller's EL), in AArch64, with the
//! MMU and the caches off, interrupts masked and `x0` = the context id (DEN0022 §6.4). Then:
//!
//! 1. mask interrupts (again), enable FP/SIMD (`CPACR_EL1.FPEN`: Rust code uses NEON), select
//!    `SP_EL1`;
//! 2. read the record (MMU off: from memory, see above) into callee-saved registers;
//! 3. `MAIR_EL1` and `TCR_EL1` = the boot CPU's values (so it walks tables with the same
//!    attributes and inner-shareable walks: it is in the same Inner Shareable domain, and the
//!    boot CPU's broadcast `TLBI ...IS` reach it); `TTBR0_EL1` = the boot mapping's identity
//!    table (it still runs at physical addresses); `TTBR1_EL1` = the kernel space itself.
//!    Unlike the boot CPU it never uses the boot mapping's upper half: its stack comes from the
//!    frame pool and may lie above the 4 GiB that the boot direct map covers, and it never has
//!    to replace the table it is running from. `ISB`, then `TLBI VMALLE1; DSB; ISB` to drop
//!    whatever its TLB held;
//! 4. `SCTLR_EL1.M | C | I` as the boot CPU, `ISB` (the next instruction is fetched with the MMU
//!    on, Arm ARM "Synchronization requirements for AArch64 System registers"), and a jump to
//!    the link address;
//! 5. `VBAR_EL1` = the kernel's vectors, `TPIDR_EL1` = its index (what [`cpu_index`] reads),
//!    `sp` = its stack top; `TTBR0_EL1` = an empty table, then `ISB; TLBI VMALLE1; DSB; ISB`: the
//!    identity map is gone and a lower-half access faults until a job makes a user space current;
//! 6. in Rust: PAN as on the boot CPU (`protect_user_memory`), then
//!    `crate::smp::secondary_main(index)`, which never returns.
//!
//! Remote TLB maintenance needs nothing from these CPUs: the library broadcasts `TLBI ...IS`
//! with `DSB ISH`, which every CPU of the Inner Shareable domain performs.

use core::arch::{asm, global_asm};
use core::fmt::Write as _;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use alloc::string::String;
use alloc::vec::Vec;

use super::mmu::SCTLR_MMU_AND_CACHES;
use crate::firmware::device_tree::{self, PsciMethod};
use crate::global_cell::GlobalCell;
use crate::kernel_space;
use crate::layout::image_phys;
use crate::println;
use crate::smp::MAX_CPUS;

/// PSCI `CPU_ON`, SMC64 calling convention (DEN0022 §5.1.4, "Function IDs": `0xC400_0003`).
const PSCI_CPU_ON: u32 = 0xC400_0003;

/// What the device tree says about the CPUs, read at boot by [`read_cpu_list`].
struct CpuList {
    /// The boot CPU's MPIDR affinity, then every other CPU PSCI can start.
    ids: [usize; MAX_CPUS],
    /// How many of `ids` are valid (at least 1: the boot CPU).
    count: usize,
    /// `/cpus/cpu@N` nodes that are disabled or not started by PSCI, left out.
    skipped: usize,
    /// CPUs beyond [`MAX_CPUS`], left out.
    beyond: usize,
    /// The PSCI conduit (`/psci` `method`).
    method: Option<PsciMethod>,
}

static CPU_LIST: GlobalCell<Option<CpuList>> = GlobalCell::new(None);

/// Reads the CPU list and the PSCI conduit from the device tree at `device_tree` (physical),
/// `boot_cpu` first. Called by `boot.rs` before `kernel_main`, while the boot mapping's direct
/// map covers the blob; an unreadable tree leaves the boot CPU alone.
pub(super) fn read_cpu_list(device_tree: usize, boot_cpu: usize) {
    let mut list = CpuList {
        ids: [boot_cpu; MAX_CPUS],
        count: 1,
        skipped: 0,
        beyond: 0,
        method: None,
    };
    // SAFETY: `device_tree` is QEMU's blob at the start of RAM, in the boot mapping's direct map
    // (as for `discover_memory`); the reader checks the magic and bounds every read.
    let read = unsafe {
        device_tree::cpus(device_tree, |cpu| {
            if cpu.id == boot_cpu {
                return;
            }
            if !cpu.available || !cpu.psci {
                list.skipped += 1;
            } else if list.count == MAX_CPUS {
                list.beyond += 1;
            } else {
                list.ids[list.count] = cpu.id;
                list.count += 1;
            }
        })
    };
    if read.is_none() {
        // A malformed tree: trust none of it.
        (list.count, list.skipped, list.beyond) = (1, 0, 0);
    }
    // SAFETY: as above.
    list.method = unsafe { device_tree::psci_method(device_tree) };
    CPU_LIST.with(|slot| *slot = Some(list));
}

/// The MPIDR affinity values of the CPUs the device tree lists, the boot CPU (`boot_cpu`)
/// first (read at boot, see [`read_cpu_list`]; `boot_argument` is the same device tree).
pub(crate) fn discover_cpus(boot_argument: usize, boot_cpu: usize) -> Vec<usize> {
    debug_assert_eq!(boot_argument, super::DEVICE_TREE_ADDRESS);
    CPU_LIST.with(|list| {
        let Some(list) = list.as_ref() else {
            return alloc::vec![boot_cpu];
        };
        debug_assert_eq!(list.ids[0], boot_cpu);
        let ids = &list.ids[..list.count];
        let mut line = String::from("CPUs in the device tree: MPIDR affinity");
        for (position, id) in ids.iter().enumerate() {
            let separator = if position == 0 { " " } else { ", " };
            let _ = write!(line, "{separator}{id:#x}");
        }
        line.push_str(match list.method {
            Some(PsciMethod::Hvc) => ", started by PSCI CPU_ON via HVC",
            Some(PsciMethod::Smc) => ", started by PSCI CPU_ON via SMC",
            None => ", no PSCI conduit",
        });
        if list.skipped > 0 {
            let _ = write!(line, "; {} disabled or not PSCI left out", list.skipped);
        }
        if list.beyond > 0 {
            let _ = write!(line, "; {} beyond MAX_CPUS left out", list.beyond);
        }
        println!("{line}");
        ids.to_vec()
    })
}

/// What a starting CPU needs before its MMU is on, written by [`start_cpu`] and read by
/// `example_secondary_entry` with the MMU off (through its physical address, the PSCI context
/// id). One per CPU, each in its own 64-byte cache line(s); atomics only because the statics
/// are shared: nothing reads a record concurrently with its writer.
#[repr(C, align(64))]
struct BootRecord {
    /// The CPU's index (0 = the boot CPU): `TPIDR_EL1`.
    index: AtomicUsize,
    /// The top of its kernel stack (a direct-map address): `sp`.
    stack_top: AtomicUsize,
    /// The boot CPU's `MAIR_EL1`.
    mair: AtomicU64,
    /// The boot CPU's `TCR_EL1`.
    tcr: AtomicU64,
    /// The kernel space's `TTBR1_EL1` value (root, ASID 0).
    ttbr1: AtomicU64,
}

static BOOT_RECORDS: [BootRecord; MAX_CPUS] = [const {
    BootRecord {
        index: AtomicUsize::new(0),
        stack_top: AtomicUsize::new(0),
        mair: AtomicU64::new(0),
        tcr: AtomicU64::new(0),
        ttbr1: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// Starts the CPU with MPIDR affinity `hardware_id` as CPU `index` on the stack ending at
/// `stack_top` (PSCI `CPU_ON`, see the module documentation). `Ok` means PSCI accepted the
/// request; the CPU announces itself in `crate::smp::secondary_main`.
///
/// # Safety
/// `stack_top` must end a stack that belongs to that CPU from now on, in the kernel space's
/// direct map; the kernel space must be active on this CPU (it is the table the new CPU loads).
pub(crate) unsafe fn start_cpu(
    index: usize,
    hardware_id: usize,
    stack_top: usize,
) -> Result<(), &'static str> {
    let method = CPU_LIST
        .with(|list| list.as_ref().and_then(|list| list.method))
        .ok_or("the device tree names no PSCI conduit (/psci method)")?;
    let record = BOOT_RECORDS.get(index).ok_or("CPU index beyond MAX_CPUS")?;
    let kernel_root = kernel_space::kernel_root();
    let (mair, tcr): (u64, u64);
    // SAFETY: reading system registers at EL1 has no side effect.
    unsafe {
        asm!(
            "mrs {mair}, mair_el1",
            "mrs {tcr}, tcr_el1",
            mair = out(reg) mair,
            tcr = out(reg) tcr,
            options(nomem, nostack, preserves_flags),
        )
    };
    record.index.store(index, Ordering::Relaxed);
    record.stack_top.store(stack_top, Ordering::Relaxed);
    record.mair.store(mair, Ordering::Relaxed);
    record.tcr.store(tcr, Ordering::Relaxed);
    record.ttbr1.store(
        vmlayer_paging::isa::registers::ttbr_value(kernel_root, 0),
        Ordering::Relaxed,
    );
    let record_address = record as *const BootRecord as usize;
    clean_to_point_of_coherency(record_address, size_of::<BootRecord>());

    unsafe extern "C" {
        fn example_secondary_entry();
    }
    let entry = image_phys(example_secondary_entry as *const () as usize);
    let context_id = image_phys(record_address);
    // SAFETY: CPU_ON starts another CPU at `entry`, which reads only its record (written and
    // cleaned above) and the kernel's tables and code, and then runs on the stack the caller
    // handed over; the call itself changes nothing on this CPU but x0..x17.
    let status = unsafe { psci_call(method, PSCI_CPU_ON, hardware_id, entry, context_id) };
    match status {
        0 => Ok(()),
        -1 => Err("PSCI CPU_ON: NOT_SUPPORTED"),
        -2 => Err("PSCI CPU_ON: INVALID_PARAMETERS (no such MPIDR)"),
        -3 => Err("PSCI CPU_ON: DENIED"),
        -4 => Err("PSCI CPU_ON: ALREADY_ON"),
        -5 => Err("PSCI CPU_ON: ON_PENDING"),
        -6 => Err("PSCI CPU_ON: INTERNAL_FAILURE"),
        -7 => Err("PSCI CPU_ON: NOT_PRESENT"),
        -8 => Err("PSCI CPU_ON: DISABLED"),
        -9 => Err("PSCI CPU_ON: INVALID_ADDRESS (entry point)"),
        _ => Err("PSCI CPU_ON: unknown return code"),
    }
}

/// The index of this CPU (0 = the boot CPU), from `TPIDR_EL1`: `boot.rs` sets it to 0 before
/// any Rust code runs, `example_secondary_entry` to the CPU's index.
pub(crate) fn cpu_index() -> usize {
    let index: usize;
    // SAFETY: reading TPIDR_EL1 at EL1 has no side effect.
    unsafe { asm!("mrs {0}, tpidr_el1", out(reg) index, options(nomem, nostack, preserves_flags)) };
    index
}

/// Calls PSCI function `function` with arguments `x1..x3` through `method` (SMC Calling
/// Convention, DEN0028: arguments in x1..x3, result in w0) and returns its status.
///
/// # Safety
/// The call must be one whose effects the caller has prepared for (for `CPU_ON`: the entry
/// point and the context it reads).
unsafe fn psci_call(method: PsciMethod, function: u32, x1: usize, x2: usize, x3: usize) -> i32 {
    let result: usize;
    // SAFETY: forwarded contract. The conduit may clobber x0..x17 (SMCCC 1.0); the C ABI's
    // clobbers cover them. No `nomem`: the firmware (or the CPU it starts) reads memory.
    unsafe {
        match method {
            PsciMethod::Hvc => asm!(
                "hvc #0",
                inlateout("x0") function as usize => result,
                in("x1") x1,
                in("x2") x2,
                in("x3") x3,
                clobber_abi("C"),
                options(nostack),
            ),
            PsciMethod::Smc => asm!(
                "smc #0",
                inlateout("x0") function as usize => result,
                in("x1") x1,
                in("x2") x2,
                in("x3") x3,
                clobber_abi("C"),
                options(nostack),
            ),
        }
    }
    // PSCI returns a signed 32-bit status in w0.
    result as u32 as i32
}

/// Writes the `length` bytes at `address` back to memory and drops them from this CPU's caches
/// (`DC CIVAC` by virtual address to the point of coherency, line by line with the smallest
/// data-cache line of `CTR_EL0.DminLine`), then waits for completion (`DSB SY`), so that an
/// observer reading memory with its caches off sees them.
fn clean_to_point_of_coherency(address: usize, length: usize) {
    let ctr: usize;
    // SAFETY: reading CTR_EL0 has no side effect.
    unsafe { asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    let line = 4 << ((ctr >> 16) & 0xf);
    let mut line_address = address & !(line - 1);
    while line_address < address + length {
        // SAFETY: cleaning and invalidating a line of mapped, cacheable kernel memory writes its
        // dirty data back first, so no data is lost.
        unsafe { asm!("dc civac, {0}", in(reg) line_address, options(nostack, preserves_flags)) };
        line_address += line;
    }
    // SAFETY: a barrier only orders and completes the maintenance above.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// The first Rust code of a secondary CPU, on its own stack with the kernel space in
/// `TTBR1_EL1`, its vectors and `TPIDR_EL1` set (see the module documentation): PAN as on the
/// boot CPU, then the neutral per-CPU loop.
extern "C" fn secondary_rust_entry(index: usize) -> ! {
    super::protect_user_memory();
    crate::smp::secondary_main(index)
}

global_asm!(
    // The lower-half table of a running secondary CPU: every entry invalid.
    ".section .bss.example_secondary_tables, \"aw\", @nobits",
    ".balign 4096",
    "example_empty_lower_root: .space 4096",
    "",
    // Entered by PSCI at the physical address, EL1, MMU and caches off; x0 = the physical
    // address of this CPU's `BootRecord`.
    ".section .text.boot, \"ax\", @progbits",
    ".globl example_secondary_entry",
    ".balign 4",
    "example_secondary_entry:",
    // 1. Interrupts masked, FP/SIMD on, SP_EL1.
    "    msr daifset, #0xf",
    "    mov x1, #(3 << 20)",
    "    msr cpacr_el1, x1",
    "    msr spsel, #1",
    "    isb",
    // 2. The record, read with the MMU off (Device-nGnRnE: from memory, cleaned by the boot
    // CPU): x19 = index, x20 = stack top.
    "    ldr x19, [x0, #{index}]",
    "    ldr x20, [x0, #{stack_top}]",
    // 3. The boot CPU's translation registers; TTBR0 = the boot identity map, TTBR1 = the
    // kernel space.
    "    ldr x1, [x0, #{mair}]",
    "    msr mair_el1, x1",
    "    ldr x1, [x0, #{tcr}]",
    "    msr tcr_el1, x1",
    // The pc is physical: adrp yields physical addresses (x21: the empty table, for step 5).
    "    adrp x1, example_boot_lower_root",
    "    msr ttbr0_el1, x1",
    "    ldr x1, [x0, #{ttbr1}]",
    "    msr ttbr1_el1, x1",
    "    adrp x21, example_empty_lower_root",
    "    isb",
    // A local TLBI: only this CPU's TLB is dropped, so DSB NSH completes it.
    "    tlbi vmalle1",
    "    dsb nsh",
    "    isb",
    // 4. The MMU and the caches on, as on the boot CPU.
    "    mrs x1, sctlr_el1",
    "    ldr x2, ={sctlr_bits}",
    "    orr x1, x1, x2",
    "    msr sctlr_el1, x1",
    "    isb",
    // Still at the physical address (TTBR0's identity map); continue at the link address, which
    // the kernel space maps.
    "    ldr x1, =example_secondary_upper_half",
    "    br x1",
    "example_secondary_upper_half:",
    // 5. Vectors, index, stack; the identity map replaced by the empty table. The pc is
    // virtual now: adrp yields link addresses.
    "    adrp x1, example_vectors",
    "    add x1, x1, :lo12:example_vectors",
    "    msr vbar_el1, x1",
    "    msr tpidr_el1, x19",
    "    mov sp, x20",
    "    msr ttbr0_el1, x21",
    "    isb",
    "    tlbi vmalle1",
    "    dsb nsh",
    "    isb",
    // 6. Rust, never to return.
    "    mov x0, x19",
    "    bl {rust_entry}",
    "1:  wfe",
    "    b 1b",
    index = const offset_of!(BootRecord, index),
    stack_top = const offset_of!(BootRecord, stack_top),
    mair = const offset_of!(BootRecord, mair),
    tcr = const offset_of!(BootRecord, tcr),
    ttbr1 = const offset_of!(BootRecord, ttbr1),
    sctlr_bits = const SCTLR_MMU_AND_CACHES,
    rust_entry = sym secondary_rust_entry,
);
