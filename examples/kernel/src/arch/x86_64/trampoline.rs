//! The secondary CPUs' way from the start-up IPI to Rust code on the kernel space.
//!
//! A start-up IPI with vector `v` starts a CPU in real mode at `CS:IP = (v << 8):0`, physical
//! address `v << 12`, below 1 MiB (Intel SDM Vol. 3A §8.4.4.2, §10.6.1). The kernel image is at
//! 2 MiB, linked in the upper half, so a small position-dependent trampoline is copied at boot to
//! the fixed page [`PAGE`] (`install`, while the boot mapping still maps low memory; the page
//! is then reserved so the frame pool never hands it out). Each secondary CPU then:
//!
//! 1. real mode (`.code16`): masks interrupts, loads the trampoline's own GDT (a 32-bit code
//!    segment at 0x18 besides the kernel's 64-bit code and data at 0x08 and 0x10), sets
//!    `CR0.PE` and far-jumps into 32-bit protected mode (SDM §9.9.1);
//! 2. protected mode (`.code32`): flat data segments, `CR4.PAE`, `CR3` = the boot mapping's
//!    PML4 (`boot.rs`: the first 4 GiB at their physical addresses, which covers this page, and
//!    the image at its link address), `EFER.LME | NXE` (without NXE the kernel space's NX bits
//!    are reserved bits), `CR0.PG | WP | ET | PE` (which also clears the `CD` and `NW` left by
//!    INIT), then a far jump to the 64-bit code segment: long mode (SDM §9.8.5);
//! 3. long mode, still in this page: an absolute jump to `example_ap_entry64` at its upper-half
//!    link address, in the image;
//! 4. there: `CR3` = the kernel space's root, `rsp` = the stack CPU 0 allocated, and a call to
//!    `smp::ap_entry(index)`, which does the rest in Rust.
//!
//! CPU 0 starts one CPU at a time and writes that CPU's index, stack and root into the statics
//! below ([`post`]) before the start-up IPIs; the trampoline code itself never changes.

use core::arch::global_asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::layout::{PAGE_SIZE, phys_to_virt};
use crate::range_list::RangeList;

/// The trampoline's physical page: vector 0x08 of the start-up IPI.
pub(super) const PAGE: usize = 0x8000;
const _: () = assert!(PAGE.is_multiple_of(PAGE_SIZE) && PAGE < 0x10_0000);

/// The kernel space's root, for `CR3` (read by `example_ap_entry64`).
static KERNEL_ROOT: AtomicUsize = AtomicUsize::new(0);
/// The top of the starting CPU's stack (read by `example_ap_entry64`).
static STACK_TOP: AtomicUsize = AtomicUsize::new(0);
/// The starting CPU's index, `ap_entry`'s argument (read by `example_ap_entry64`).
static INDEX: AtomicUsize = AtomicUsize::new(0);

global_asm!(
    ".section .rodata.example_ap_trampoline, \"a\"",
    ".balign 16",
    ".globl example_ap_trampoline",
    "example_ap_trampoline:",
    ".code16",
    "    cli",
    "    cld",
    "    xorw %ax, %ax",
    "    movw %ax, %ds",
    "    lgdtl {page} + (example_ap_gdt_pointer - example_ap_trampoline)",
    "    movl %cr0, %eax",
    "    orl $1, %eax",
    "    movl %eax, %cr0",
    "    ljmpl $0x18, ${page} + (2f - example_ap_trampoline)",
    ".code32",
    "2:  movw $0x10, %ax",
    "    movw %ax, %ds",
    "    movw %ax, %es",
    "    movw %ax, %ss",
    "    movl %cr4, %eax",
    "    orl $0x20, %eax",
    "    movl %eax, %cr4",
    "    movl $(example_boot_pml4 + {phys_minus_virt}), %eax",
    "    movl %eax, %cr3",
    "    movl $0xc0000080, %ecx",
    "    rdmsr",
    "    orl $0x900, %eax",
    "    wrmsr",
    "    movl $0x80010011, %eax",
    "    movl %eax, %cr0",
    "    ljmp $0x08, ${page} + (3f - example_ap_trampoline)",
    ".code64",
    "3:  movabsq $example_ap_entry64, %rax",
    "    jmpq *%rax",
    ".balign 8",
    "example_ap_gdt:",
    "    .quad 0",
    "    .quad 0x00af9a000000ffff", // 0x08 64-bit code, as the kernel's
    "    .quad 0x00cf92000000ffff", // 0x10 data, as the kernel's
    "    .quad 0x00cf9a000000ffff", // 0x18 32-bit code, for the step through protected mode
    "example_ap_gdt_pointer:",
    "    .word 4 * 8 - 1",
    "    .long {page} + (example_ap_gdt - example_ap_trampoline)",
    ".globl example_ap_trampoline_end",
    "example_ap_trampoline_end:",
    "",
    // In the image, at the link address, still on the boot mapping, no stack yet.
    ".section .text",
    "example_ap_entry64:",
    "    movq {kernel_root}(%rip), %rax",
    "    movq %rax, %cr3",
    "    movq {stack_top}(%rip), %rsp",
    "    movq {index}(%rip), %rdi",
    "    xorl %ebp, %ebp",
    "    call {ap_entry}",
    "    ud2",
    page = const PAGE,
    phys_minus_virt = const crate::layout::KERNEL_VIRT_OFFSET.wrapping_neg(),
    kernel_root = sym KERNEL_ROOT,
    stack_top = sym STACK_TOP,
    index = sym INDEX,
    ap_entry = sym super::smp::ap_entry,
    options(att_syntax),
);

unsafe extern "C" {
    static example_ap_trampoline: u8;
    static example_ap_trampoline_end: u8;
}

/// Copies the trampoline to [`PAGE`] and adds that page to `reserved` (what the kernel must
/// not reuse: it never reaches the frame pool), if the firmware's map lists it as RAM that
/// nothing else uses.
///
/// # Errors
/// Why the page cannot be used.
///
/// # Safety
/// The boot mapping must be active (it maps [`PAGE`] in the direct map); `ram` and `reserved`
/// must be the firmware's memory map.
pub(super) unsafe fn install(
    ram: &RangeList,
    reserved: &mut RangeList,
) -> Result<(), &'static str> {
    let page = PAGE..PAGE + PAGE_SIZE;
    if !ram
        .as_slice()
        .iter()
        .any(|bank| bank.start <= page.start && page.end <= bank.end)
    {
        return Err("the trampoline page 0x8000 is not RAM");
    }
    if reserved
        .as_slice()
        .iter()
        .any(|taken| taken.start < page.end && page.start < taken.end)
    {
        return Err("the trampoline page 0x8000 holds firmware data");
    }
    let start = &raw const example_ap_trampoline;
    let size = &raw const example_ap_trampoline_end as usize - start as usize;
    if size > PAGE_SIZE {
        return Err("the trampoline does not fit its page");
    }
    if !reserved.add(page) {
        return Err("the reserved-memory list is full");
    }
    // SAFETY: the trampoline's bytes are rodata of the image; the page is RAM that neither the
    // firmware's map nor the kernel uses (checked above, and reserved from now on), written
    // through the boot mapping's direct map.
    unsafe { core::ptr::copy_nonoverlapping(start, phys_to_virt(PAGE) as *mut u8, size) };
    Ok(())
}

/// Sets what the next CPU to start reads in `example_ap_entry64`: its index, the top of its
/// stack and the kernel space's root.
pub(super) fn post(index: usize, stack_top: usize, kernel_root: usize) {
    INDEX.store(index, Ordering::Relaxed);
    STACK_TOP.store(stack_top, Ordering::Relaxed);
    // Release: the start-up IPI follows; the CPU reads these after it.
    KERNEL_ROOT.store(kernel_root, Ordering::Release);
}
