//! GDT (kernel and user segments, TSS), TSS (RSP0 for traps from ring 3) and IDT.
//!
//! Every CPU has its own GDT and TSS: `ltr` marks the TSS descriptor busy in the GDT that holds
//! it, so a second CPU loading the same descriptor would fault (#GP), and each CPU needs its own
//! RSP0 for traps from ring 3 (Intel SDM Vol. 3A §7.2.1, §7.7). The IDT is one table, filled
//! by the boot CPU before any other CPU starts and only loaded (`lidt`) by the others.

use core::arch::global_asm;
use core::cell::UnsafeCell;

use crate::smp::MAX_CPUS;

/// Kernel code selector.
pub(super) const KERNEL_CODE_SELECTOR: u16 = 0x08;
/// Kernel data (and stack) selector.
const KERNEL_DATA_SELECTOR: u16 = 0x10;
const TSS_SELECTOR: u16 = 0x28;
/// Vector of the system call (`int 0x80`), the only gate with DPL 3.
pub(super) const SYSTEM_CALL_VECTOR: usize = 0x80;

global_asm!(
    // The boot GDT: the PVH stub (`boot.rs`) enters long mode with it; `install` then gives
    // each CPU a copy with its own TSS descriptor.
    ".section .data.example_gdt, \"aw\"",
    ".balign 16",
    ".globl example_gdt",
    "example_gdt:",
    "    .quad 0",
    "    .quad 0x00af9a000000ffff", // 0x08 kernel code, 64-bit
    "    .quad 0x00cf92000000ffff", // 0x10 kernel data
    "    .quad 0x00cff2000000ffff", // 0x18 user data, DPL 3
    "    .quad 0x00affa000000ffff", // 0x20 user code, 64-bit, DPL 3
    "example_gdt_end:",
    ".balign 8",
    ".globl example_gdt_pointer",
    "example_gdt_pointer:",
    "    .word example_gdt_end - example_gdt - 1",
    "    .quad example_gdt",
    // For the PVH stub's 32-bit `lgdt`: the GDT's physical address (see `boot.rs`).
    ".globl example_boot_gdt_pointer",
    "example_boot_gdt_pointer:",
    "    .word example_gdt_end - example_gdt - 1",
    "    .long example_gdt + {phys_minus_virt}",
    phys_minus_virt = const crate::layout::KERNEL_VIRT_OFFSET.wrapping_neg(),
    options(att_syntax),
);

/// The 64-bit task-state segment; only `rsp0` matters (stack for traps from ring 3).
#[repr(C, packed(4))]
pub(super) struct TaskStateSegment {
    reserved0: u32,
    /// Stack pointer loaded on a trap from ring 3.
    pub(super) rsp0: u64,
    rsp1_2: [u64; 2],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    io_map_base: u16,
}

/// One CPU's TSS; `user.rs` writes its `rsp0`.
#[repr(C, align(16))]
pub(super) struct TssCell(pub(super) UnsafeCell<TaskStateSegment>);

// SAFETY: each CPU uses only its own TSS (indexed by `cpu_index`): `install` writes nothing in
// it, `enter_user` writes `rsp0` with interrupts off.
unsafe impl Sync for TssCell {}

/// The task-state segments, one per CPU.
pub(super) static TSS: [TssCell; MAX_CPUS] = [const {
    TssCell(UnsafeCell::new(TaskStateSegment {
        reserved0: 0,
        rsp0: 0,
        rsp1_2: [0; 2],
        reserved1: 0,
        ist: [0; 7],
        reserved2: 0,
        reserved3: 0,
        io_map_base: core::mem::size_of::<TaskStateSegment>() as u16,
    }))
}; MAX_CPUS];

/// The boot GDT's five segment descriptors plus the two slots of the 16-byte TSS descriptor.
const GDT_ENTRIES: usize = 7;
const SEGMENT_DESCRIPTORS: usize = 5;

/// One CPU's GDT.
#[repr(C, align(16))]
struct Gdt(UnsafeCell<[u64; GDT_ENTRIES]>);

// SAFETY: each CPU writes only its own GDT, in `install`, before loading it.
unsafe impl Sync for Gdt {}

static GDTS: [Gdt; MAX_CPUS] = [const { Gdt(UnsafeCell::new([0; GDT_ENTRIES])) }; MAX_CPUS];

#[repr(C, align(16))]
struct InterruptDescriptorTable(UnsafeCell<[u64; 512]>);

// SAFETY: written once by the boot CPU in `install(0)`, before `lidt` and before any other CPU
// starts; read-only afterwards.
unsafe impl Sync for InterruptDescriptorTable {}

static IDT: InterruptDescriptorTable = InterruptDescriptorTable(UnsafeCell::new([0; 512]));

/// How many `(vector, stub)` pairs `example_isr_table` holds (`trap.rs`).
const ISR_COUNT: usize = 35;

unsafe extern "C" {
    static example_gdt: [u64; SEGMENT_DESCRIPTORS];
    static example_isr_table: [[usize; 2]; ISR_COUNT];
}

/// The pointer operand of `lgdt` / `lidt`: limit, then base.
fn table_pointer(base: u64, bytes: usize) -> [u16; 5] {
    [
        (bytes - 1) as u16,
        base as u16,
        (base >> 16) as u16,
        (base >> 32) as u16,
        (base >> 48) as u16,
    ]
}

/// Loads CPU `cpu`'s own GDT (the boot GDT's segments plus a descriptor of its own TSS),
/// reloads the segment registers from it, loads the task register and the IDT. On the boot CPU
/// (`cpu == 0`) it first fills the IDT, shared by every CPU.
///
/// # Panics
/// If `cpu` is not below `MAX_CPUS`.
pub(super) fn install(cpu: usize) {
    let tss_base = TSS[cpu].0.get() as u64;
    let tss_limit = (core::mem::size_of::<TaskStateSegment>() - 1) as u64;
    // A 64-bit available TSS (type 9, present), SDM Vol. 3A §7.2.3.
    let low = (tss_limit & 0xffff)
        | ((tss_base & 0xff_ffff) << 16)
        | (0x89 << 40)
        | (((tss_limit >> 16) & 0xf) << 48)
        | (((tss_base >> 24) & 0xff) << 56);
    let high = tss_base >> 32;
    let gdt = GDTS[cpu].0.get();
    // SAFETY: `example_gdt` is the boot GDT (data, never written); `gdt` is this CPU's own GDT,
    // written only here, before this CPU loads it (no other CPU touches it). Its segment
    // descriptors equal the boot GDT's, so reloading CS (far return), SS, DS and ES with the
    // same selectors keeps the running code and stack valid; `ltr` marks this CPU's TSS
    // descriptor busy in its own GDT.
    unsafe {
        let entries = &mut *gdt;
        entries[..SEGMENT_DESCRIPTORS].copy_from_slice(&example_gdt);
        entries[SEGMENT_DESCRIPTORS] = low;
        entries[SEGMENT_DESCRIPTORS + 1] = high;
        let pointer = table_pointer(gdt as u64, GDT_ENTRIES * 8);
        core::arch::asm!(
            "lgdt [{pointer}]",
            "push {code}",
            "lea {scratch}, [rip + 2f]",
            "push {scratch}",
            "retfq",
            "2:",
            "mov ss, {data:x}",
            "mov ds, {data:x}",
            "mov es, {data:x}",
            "ltr {tss:x}",
            pointer = in(reg) pointer.as_ptr(),
            code = in(reg) u64::from(KERNEL_CODE_SELECTOR),
            data = in(reg) KERNEL_DATA_SELECTOR,
            tss = in(reg) TSS_SELECTOR,
            scratch = out(reg) _,
        );
    }
    if cpu == 0 {
        fill_idt();
    }
    let pointer = table_pointer(IDT.0.get() as u64, 512 * 8);
    // SAFETY: the IDT is filled (by the boot CPU, before any other CPU runs) and lives forever.
    unsafe { core::arch::asm!("lidt [{0}]", in(reg) pointer.as_ptr()) };
}

/// Writes an interrupt gate (interrupts masked on entry) for every stub of the ISR table.
fn fill_idt() {
    // SAFETY: the ISR table (rodata) holds the `(vector, stub)` pairs; the IDT is only written
    // here, by the boot CPU before `lidt` and before any other CPU starts.
    unsafe {
        let idt = &mut *IDT.0.get();
        for &[vector, handler] in &example_isr_table {
            let dpl: u64 = if vector == SYSTEM_CALL_VECTOR { 3 } else { 0 };
            let handler = handler as u64;
            idt[vector * 2] = (handler & 0xffff)
                | (u64::from(KERNEL_CODE_SELECTOR) << 16)
                | ((0x8e | (dpl << 5)) << 40)
                | (((handler >> 16) & 0xffff) << 48);
            idt[vector * 2 + 1] = handler >> 32;
        }
    }
}
