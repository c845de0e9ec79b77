//! The entry point: stack, bss, trap vector, then the neutral `kernel_main`.

use core::arch::global_asm;

/// Size of the boot (and only) kernel stack.
const STACK_SIZE: usize = 64 * 1024;

global_asm!(
    ".section .bss.stack, \"aw\", @nobits",
    ".balign 4096",
    ".globl __stack_bottom",
    "__stack_bottom:",
    ".space {stack_size}",
    ".globl __stack_top",
    "__stack_top:",
    "",
    ".section .text.boot, \"ax\", @progbits",
    ".globl _start",
    "_start:",
    "    la sp, __stack_top",
    "    la t0, __bss_start",
    "    la t1, __bss_end",
    "1:  bgeu t0, t1, 2f",
    "    sd zero, 0(t0)",
    "    addi t0, t0, 8",
    "    j 1b",
    "2:  csrw sscratch, zero",
    "    call {rust_entry}",
    "3:  wfi",
    "    j 3b",
    stack_size = const STACK_SIZE,
    rust_entry = sym rust_entry,
);

/// `a0` = the boot hart's id (not necessarily 0), `a1` = the device tree OpenSBI passes on.
extern "C" fn rust_entry(hart_id: usize, device_tree: usize) -> ! {
    super::trap::install();
    crate::kernel_main(device_tree, hart_id)
}
