//! The entry point: FP/SIMD on, stack, bss, vectors, then the neutral `kernel_main`.

use core::arch::global_asm;

/// Size of the boot (and only) kernel stack.
const STACK_SIZE: usize = 64 * 1024;

global_asm!(
    ".section .bss.stack, \"aw\", @nobits",
    ".balign 4096",
    "__stack_bottom:",
    ".space {stack_size}",
    ".globl __stack_top",
    "__stack_top:",
    "",
    ".section .text.boot, \"ax\", @progbits",
    ".globl _start",
    "_start:",
    // The Rust target uses NEON (core::fmt, memset): enable FP/SIMD at EL1 and EL0 first.
    "    mov x0, #(3 << 20)",
    "    msr cpacr_el1, x0",
    "    isb",
    "    msr spsel, #1",
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
    rust_entry = sym rust_entry,
);

extern "C" fn rust_entry() -> ! {
    super::trap::install();
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 at EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    // Aff3 (bits 39:32) and Aff2..Aff0 (bits 23:0), as PSCI CPU_ON takes them.
    let affinity = mpidr & 0xff_00ff_ffff;
    crate::kernel_main(super::DEVICE_TREE_ADDRESS, affinity as usize)
}
