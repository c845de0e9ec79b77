//! The entry point. QEMU enters `_start` at its physical address at EL1 with the MMU off; the
//! image is linked at upper-half addresses (`link/common.ld`). Before any Rust code runs, the
//! boot code enables FP/SIMD and turns the MMU on with the boot mapping: `TTBR0_EL1` maps the
//! image's GiB at its physical address (the code that turns the MMU on runs there),
//! `TTBR1_EL1` the image at its link address and the direct map of the first 4 GiB of physical
//! memory (the devices' GiB as Device memory), all in 1 GiB blocks; then it jumps to the link
//! address, sets the stack, clears bss and calls the neutral `kernel_main` through
//! [`rust_entry`]. `kernel_space::init` replaces both halves.

use core::arch::global_asm;

use super::mmu::{BOOT_TCR, SCTLR_MMU_AND_CACHES, TCR_IPS_SHIFT};
use crate::layout::{self, KERNEL_VIRT_BASE};

/// Size of the boot (and only) kernel stack.
const STACK_SIZE: usize = 64 * 1024;

const GIB: usize = 1 << 30;

/// A level-1 table page of the boot mapping: 1 GiB blocks only. A constant, read by the MMU
/// only (the access flag is set and hardware updates are off, so the CPU never writes it).
#[repr(C, align(4096))]
struct BootBlocks([u64; 512]);

/// The lower half's level-1 table (`TTBR0_EL1` level 0, entry 0, points to it): the image's
/// GiB at its physical address.
static BOOT_LOWER_BLOCKS: BootBlocks = {
    let mut entries = [0; 512];
    let image_gib = super::KERNEL_PHYS_BASE & !(GIB - 1);
    entries[level1_index(image_gib)] = block(image_gib);
    BootBlocks(entries)
};

/// The upper half's level-1 table (`TTBR1_EL1` level 0, entry 511, points to it): the image
/// at its link address and the direct map of the physical addresses below
/// `arch::BOOT_MAPPED_END`.
static BOOT_UPPER_BLOCKS: BootBlocks = {
    let mut entries = [0; 512];
    let image_gib = super::KERNEL_PHYS_BASE & !(GIB - 1);
    entries[level1_index(KERNEL_VIRT_BASE)] = block(image_gib);
    let mut paddr = 0;
    while paddr < super::BOOT_MAPPED_END {
        entries[level1_index(layout::phys_to_virt(paddr))] = block(paddr);
        paddr += GIB;
    }
    BootBlocks(entries)
};

/// The level-1 index of `vaddr` (bits 38:30).
const fn level1_index(vaddr: usize) -> usize {
    (vaddr >> 30) & 511
}

/// A 1 GiB block for `paddr`, EL1 read-write, never EL0: Normal write-back inner-shareable
/// memory, or Device-nGnRE (never executable) below the RAM (QEMU `virt` keeps its devices in
/// the first GiB, RAM starts at 1 GiB). Arm ARM D8.3: bits 1:0 `0b01` block, `AttrIndx` in
/// bits 4:2, `SH` 9:8, `AF` bit 10, `PXN` 53, `UXN` 54.
const fn block(paddr: usize) -> u64 {
    const BLOCK: u64 = 0b01;
    const INNER_SHAREABLE: u64 = 3 << 8;
    const ACCESS_FLAG: u64 = 1 << 10;
    const PXN: u64 = 1 << 53;
    const UXN: u64 = 1 << 54;
    use vmlayer_paging::isa::entry::{DEVICE_ATTRIBUTE_INDEX, NORMAL_ATTRIBUTE_INDEX};
    let attributes = if paddr < super::KERNEL_PHYS_BASE & !(GIB - 1) {
        (DEVICE_ATTRIBUTE_INDEX << 2) | PXN | UXN
    } else {
        (NORMAL_ATTRIBUTE_INDEX << 2) | INNER_SHAREABLE | UXN
    };
    paddr as u64 | BLOCK | ACCESS_FLAG | attributes
}

global_asm!(
    ".section .bss.stack, \"aw\", @nobits",
    ".balign 4096",
    "__stack_bottom:",
    ".space {stack_size}",
    ".globl __stack_top",
    "__stack_top:",
    "",
    // The boot mapping's level-0 tables: one link each, written by `_start`. Secondary CPUs
    // turn their MMU on with the lower one too (`smp.rs`).
    ".section .data.example_boot_tables, \"aw\"",
    ".balign 4096",
    ".globl example_boot_lower_root",
    "example_boot_lower_root: .space 4096",
    "example_boot_upper_root: .space 4096",
    "",
    ".section .text.boot, \"ax\", @progbits",
    ".globl _start",
    "_start:",
    // The Rust target uses NEON (core::fmt, memset): enable FP/SIMD at EL1 and EL0 first.
    "    mov x0, #(3 << 20)",
    "    msr cpacr_el1, x0",
    "    isb",
    "    msr spsel, #1",
    // This is CPU 0 (`arch::cpu_index` reads TPIDR_EL1; secondaries set their own index).
    "    msr tpidr_el1, xzr",
    // Link the level-1 tables (the pc is physical, so adrp yields physical addresses). The MMU
    // is off: the stores go to memory, and `dc ivac` drops any stale cached copy the
    // (cacheable) table walks could read instead.
    "    adrp x0, example_boot_lower_root",
    "    adrp x1, {lower_blocks}",
    "    orr x1, x1, #3",
    "    str x1, [x0]",
    "    dc ivac, x0",
    "    adrp x2, example_boot_upper_root",
    "    adrp x1, {upper_blocks}",
    "    orr x1, x1, #3",
    "    add x3, x2, #(511 * 8)",
    "    str x1, [x3]",
    "    dc ivac, x3",
    "    dsb sy",
    "    ldr x1, ={mair}",
    "    msr mair_el1, x1",
    "    mrs x1, id_aa64mmfr0_el1",
    // 16-bit ASIDs (`TCR_EL1.AS`, bit 36) where `ID_AA64MMFR0_EL1.ASIDBits` (bits 7:4) is 0b0010.
    "    ubfx x4, x1, #4, #4",
    "    movz x5, #0x10, lsl #32",
    "    cmp x4, #2",
    "    csel x5, x5, xzr, eq",
    "    and x1, x1, #7",
    "    lsl x1, x1, #{ips_shift}",
    "    ldr x3, ={tcr}",
    "    orr x1, x1, x3",
    "    orr x1, x1, x5",
    "    msr tcr_el1, x1",
    "    msr ttbr0_el1, x0",
    "    msr ttbr1_el1, x2",
    "    isb",
    "    tlbi vmalle1",
    "    dsb ish",
    "    isb",
    "    mrs x1, sctlr_el1",
    "    ldr x3, ={sctlr_bits}",
    "    orr x1, x1, x3",
    "    msr sctlr_el1, x1",
    "    isb",
    // Still at the physical address (mapped 1:1 by TTBR0); continue at the link address.
    "    ldr x1, =example_boot_upper_half",
    "    br x1",
    "example_boot_upper_half:",
    "    adrp x0, __stack_top",
    "    add x0, x0, :lo12:__stack_top",
    "    mov sp, x0",
    "    adrp x0, __bss_start",
    "    add x0, x0, :lo12:__bss_start",
    "    adrp x1, __bss_end",
    "    add x1, x1, :lo12:__bss_end",
    "1:  cmp x0, x1",
    "    b.hs 2f",
    "    str xzr, [x0], #8",
    "    b 1b",
    "2:  bl {rust_entry}",
    "3:  wfe",
    "    b 3b",
    stack_size = const STACK_SIZE,
    lower_blocks = sym BOOT_LOWER_BLOCKS,
    upper_blocks = sym BOOT_UPPER_BLOCKS,
    mair = const vmlayer_paging::isa::entry::MAIR_VALUE,
    ips_shift = const TCR_IPS_SHIFT,
    tcr = const BOOT_TCR,
    sctlr_bits = const SCTLR_MMU_AND_CACHES,
    rust_entry = sym rust_entry,
);

extern "C" fn rust_entry() -> ! {
    super::trap::install();
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 at EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    // Aff3 (bits 39:32) and Aff2..Aff0 (bits 23:0), as PSCI CPU_ON takes them.
    let affinity = (mpidr & 0xff_00ff_ffff) as usize;
    // The CPU list, while the boot mapping still covers the device tree.
    super::smp::read_cpu_list(super::DEVICE_TREE_ADDRESS, affinity);
    crate::kernel_main(super::DEVICE_TREE_ADDRESS, affinity)
}
