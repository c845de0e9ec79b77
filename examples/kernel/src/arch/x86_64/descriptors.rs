//! GDT (kernel and user segments, TSS), TSS (RSP0 for traps from ring 3) and IDT.

use core::arch::global_asm;
use core::cell::UnsafeCell;

/// Kernel code selector.
pub(super) const KERNEL_CODE_SELECTOR: u16 = 0x08;
const TSS_SELECTOR: u16 = 0x28;
/// Vector of the system call (`int 0x80`), the only gate with DPL 3.
pub(super) const SYSTEM_CALL_VECTOR: usize = 0x80;

global_asm!(
    ".section .data.example_gdt, \"aw\"",
    ".balign 16",
    ".globl example_gdt",
    "example_gdt:",
    "    .quad 0",
    "    .quad 0x00af9a000000ffff", // 0x08 kernel code, 64-bit
    "    .quad 0x00cf92000000ffff", // 0x10 kernel data
    "    .quad 0x00cff2000000ffff", // 0x18 user data, DPL 3
    "    .quad 0x00affa000000ffff", // 0x20 user code, 64-bit, DPL 3
    "    .quad 0, 0",               // 0x28 TSS, written by `install`
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

/// The TSS, shared with `user.rs` by symbol (it writes `rsp0`).
#[repr(C, align(16))]
pub(super) struct TssCell(pub(super) UnsafeCell<TaskStateSegment>);

// SAFETY: single hart, interrupts off; `rsp0` is written only by `enter_user`.
unsafe impl Sync for TssCell {}

/// The task-state segment.
#[unsafe(no_mangle)]
pub(super) static EXAMPLE_TSS: TssCell = TssCell(UnsafeCell::new(TaskStateSegment {
    reserved0: 0,
    rsp0: 0,
    rsp1_2: [0; 2],
    reserved1: 0,
    ist: [0; 7],
    reserved2: 0,
    reserved3: 0,
    io_map_base: core::mem::size_of::<TaskStateSegment>() as u16,
}));

#[repr(C, align(16))]
struct InterruptDescriptorTable(UnsafeCell<[u64; 512]>);

// SAFETY: single hart; written once by `install` before `lidt`.
unsafe impl Sync for InterruptDescriptorTable {}

static IDT: InterruptDescriptorTable = InterruptDescriptorTable(UnsafeCell::new([0; 512]));

unsafe extern "C" {
    static mut example_gdt: [u64; 7];
    static example_isr_table: [usize; 33];
}

/// Writes the TSS descriptor, loads the task register, fills and loads the IDT.
pub(super) fn install() {
    let tss_base = EXAMPLE_TSS.0.get() as u64;
    let tss_limit = (core::mem::size_of::<TaskStateSegment>() - 1) as u64;
    let low = (tss_limit & 0xffff)
        | ((tss_base & 0xff_ffff) << 16)
        | (0x89 << 40)
        | (((tss_limit >> 16) & 0xf) << 48)
        | (((tss_base >> 24) & 0xff) << 56);
    let high = tss_base >> 32;
    // SAFETY: `example_gdt` is the live GDT in writable data; slots 5 and 6 are the TSS
    // descriptor, unused until `ltr` below.
    unsafe {
        let gdt = &raw mut example_gdt;
        (*gdt)[5] = low;
        (*gdt)[6] = high;
        core::arch::asm!("ltr {0:x}", in(reg) TSS_SELECTOR);
    }
    // SAFETY: the ISR table (rodata) holds the 33 stub addresses; the IDT is only written here,
    // before `lidt`, and stays alive forever.
    unsafe {
        let table = &example_isr_table;
        let idt = &mut *IDT.0.get();
        for (index, &handler) in table.iter().enumerate() {
            let vector = if index == 32 {
                SYSTEM_CALL_VECTOR
            } else {
                index
            };
            let dpl: u64 = if vector == SYSTEM_CALL_VECTOR { 3 } else { 0 };
            let handler = handler as u64;
            idt[vector * 2] = (handler & 0xffff)
                | (u64::from(KERNEL_CODE_SELECTOR) << 16)
                | ((0x8e | (dpl << 5)) << 40)
                | (((handler >> 16) & 0xffff) << 48);
            idt[vector * 2 + 1] = handler >> 32;
        }
        let pointer: [u16; 5] = {
            let base = IDT.0.get() as u64;
            [
                (512 * 8 - 1) as u16,
                base as u16,
                (base >> 16) as u16,
                (base >> 32) as u16,
                (base >> 48) as u16,
            ]
        };
        core::arch::asm!("lidt [{0}]", in(reg) pointer.as_ptr());
    }
}
