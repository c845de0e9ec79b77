//! The entry point. OpenSBI enters `_start` at its physical address with the MMU off; the image
//! is linked at upper-half addresses (`link/common.ld`). Before any Rust code runs, the boot code
//! turns on the boot mapping ([`BOOT_TABLE`], Sv39 1 GiB leaves: the image's GiB at its physical
//! address and at its link address, and the direct map of the first 4 GiB of physical memory),
//! jumps to the link address, then sets the stack and the per-CPU register (`tp` = 0, see
//! `smp.rs`), clears bss, and calls the neutral `kernel_main` through [`rust_entry`], which first
//! records the harts the device tree lists (`smp::record_harts`: the blob is firmware memory, which
//! only the boot mapping maps). `kernel_space::init` replaces the boot mapping with the kernel
//! space. The secondary harts pass through the same boot mapping ([`enter_boot_mapping`]) on
//! their way to the kernel space (`smp.rs`).

use core::arch::global_asm;

use crate::layout::{self, KERNEL_VIRT_BASE, KERNEL_VIRT_OFFSET};

/// Size of the boot hart's kernel stack (each secondary hart gets one from the frame pool).
const STACK_SIZE: usize = 64 * 1024;

const GIB: usize = 1 << 30;

/// `satp.MODE` = Sv39 (8), in bits 63:60. The boot mapping is Sv39 in every build: every hart
/// with Sv48 also implements Sv39, and the addresses it maps are valid in both.
pub(super) const SATP_SV39: usize = 8 << 60;

/// A table page for the boot mapping.
#[repr(C, align(4096))]
pub(super) struct BootTable([u64; 512]);

/// The boot mapping: an Sv39 root whose entries are 1 GiB leaves (read, write, execute,
/// accessed, dirty: the hart never writes this table). A constant, read by the MMU only.
pub(super) static BOOT_TABLE: BootTable = BootTable::new();

impl BootTable {
    const fn new() -> Self {
        let mut entries = [0; 512];
        let image_gib = super::KERNEL_PHYS_BASE & !(GIB - 1);
        // The code that turns the MMU on runs at its physical address.
        entries[root_slot(image_gib)] = gigapage(image_gib);
        // The image at its link address.
        entries[root_slot(KERNEL_VIRT_BASE)] = gigapage(image_gib);
        // The direct map, so that the frame pool, the heap and the console work before the
        // kernel space exists.
        let mut paddr = 0;
        while paddr < super::BOOT_MAPPED_END {
            entries[root_slot(layout::phys_to_virt(paddr))] = gigapage(paddr);
            paddr += GIB;
        }
        Self(entries)
    }
}

/// The root index of `vaddr` in Sv39 (VPN\[2\], bits 38:30).
const fn root_slot(vaddr: usize) -> usize {
    (vaddr >> 30) & 511
}

/// An Sv39 1 GiB leaf for `paddr`: V, R, W, X, A, D (privileged spec §4.3.1).
const fn gigapage(paddr: usize) -> u64 {
    ((paddr as u64 >> 12) << 10) | 0xcf
}

/// Assembly for code entered at its physical address with the MMU off (`_start`, and
/// `smp::example_secondary_entry`): turns on the boot mapping ([`BOOT_TABLE`]) and continues at
/// the link (upper-half) address of the instruction after it, from where `la` yields link
/// addresses. Clobbers `t0` and `t1`; uses the local label `9`. The `global_asm!` that expands it
/// passes the operands `boot_table = sym BOOT_TABLE`, `satp_sv39 = const SATP_SV39` and
/// `phys_minus_virt = const KERNEL_VIRT_OFFSET.wrapping_neg()`.
macro_rules! enter_boot_mapping {
    () => {
        concat!(
            // At the physical address: `la` is pc-relative, so it yields physical addresses.
            "    la t0, {boot_table}\n",
            "    srli t0, t0, 12\n",
            "    li t1, {satp_sv39}\n",
            "    or t0, t0, t1\n",
            "    sfence.vma\n",
            "    csrw satp, t0\n",
            "    sfence.vma\n",
            // Still at the physical address (the image's GiB is mapped 1:1); continue at the
            // link address of `9:`.
            "    la t0, 9f\n",
            "    li t1, {phys_minus_virt}\n",
            "    sub t0, t0, t1\n",
            "    jr t0\n",
            "9:\n",
        )
    };
}
pub(super) use enter_boot_mapping;

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
    enter_boot_mapping!(),
    "    la sp, __stack_top",
    // The per-CPU register (`smp::cpu_index`): CPU 0. OpenSBI leaves `tp` undefined.
    "    li tp, 0",
    "    la t0, __bss_start",
    "    la t1, __bss_end",
    "2:  bgeu t0, t1, 3f",
    "    sd zero, 0(t0)",
    "    addi t0, t0, 8",
    "    j 2b",
    "3:  csrw sscratch, zero",
    "    call {rust_entry}",
    "4:  wfi",
    "    j 4b",
    stack_size = const STACK_SIZE,
    boot_table = sym BOOT_TABLE,
    satp_sv39 = const SATP_SV39,
    phys_minus_virt = const KERNEL_VIRT_OFFSET.wrapping_neg(),
    rust_entry = sym rust_entry,
);

/// `a0` = the boot hart's id (not necessarily 0), `a1` = the physical address of the device
/// tree OpenSBI passes on.
extern "C" fn rust_entry(hart_id: usize, device_tree: usize) -> ! {
    super::trap::install();
    super::smp::record_harts(device_tree, hart_id);
    crate::kernel_main(device_tree, hart_id)
}
