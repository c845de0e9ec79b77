//! The PVH entry. QEMU enters the 32-bit stub `_start` at its physical address in protected
//! mode with paging off; the image is linked at upper-half addresses (`link/common.ld`), so the
//! stub names every address as its link address plus `phys_minus_virt`. The stub zeroes bss and
//! builds the boot mapping in 2 MiB pages (four page directories for the first 4 GiB of
//! physical memory, linked at their physical address for the stub, at `layout::PHYS_OFFSET` for
//! the direct map, and the image's GiB once more at its link address through `PML4[511]` /
//! `PDPT[510]`), enables PAE, `EFER.LME | NXE`, `CR0.PG | WP`, loads the 64-bit GDT and
//! far-jumps to long mode, then jumps to the link address, sets the stack, reloads the GDT there
//! and calls the neutral `kernel_main` through [`rust_entry`]. `kernel_space::init` replaces the
//! mapping on the boot CPU.
//!
//! The whole 32-bit physical space is mapped so that the firmware's ACPI tables (at the top of
//! the RAM below the PCI hole: near 2 GiB with `-m 4G`) can be read before the kernel space,
//! which maps only usable RAM and the devices, is active (`smp::prepare`). The boot mapping
//! lives on in the image's bss: the secondary CPUs' trampoline (`trampoline.rs`) enters long
//! mode with it, since it maps the trampoline page at its physical address and the image at
//! its link address.

use core::arch::global_asm;

use super::KERNEL_PHYS_BASE;
use crate::layout::{KERNEL_VIRT_BASE, KERNEL_VIRT_OFFSET, PHYS_OFFSET};

/// Size of the boot (and only) kernel stack.
const STACK_SIZE: usize = 64 * 1024;

/// The index of `vaddr` in a table of `level` (3: PML4, 2: PDPT), 9 bits above bit
/// `12 + 9 * level`, times the entry size: the byte offset of its entry.
const fn entry_offset(vaddr: usize, level: u32) -> usize {
    ((vaddr >> (12 + 9 * level)) & 511) * 8
}

/// How many GiB the boot mapping covers (one page directory each): the 32-bit physical space.
const BOOT_MAPPED_GIB: usize = 4;

// The direct map and the image share the last PML4 entry, so one upper PDPT holds both; the
// direct map's entries do not reach the image's.
const _: () = assert!(entry_offset(PHYS_OFFSET, 3) == entry_offset(KERNEL_VIRT_BASE, 3));
const _: () = assert!(
    entry_offset(PHYS_OFFSET, 2) + 8 * BOOT_MAPPED_GIB <= entry_offset(KERNEL_VIRT_BASE, 2)
);
const _: () = assert!(BOOT_MAPPED_GIB << 30 == super::BOOT_MAPPED_END);
// The image lies in one GiB, whose page directory its link address reuses.
const _: () = assert!(KERNEL_PHYS_BASE >> 30 < BOOT_MAPPED_GIB);

global_asm!(
    // PVH: XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen", 8-byte entry address (physical).
    ".section .note.Xen, \"a\", @note",
    ".balign 4",
    ".long 4",
    ".long 8",
    ".long 18",
    ".asciz \"Xen\"",
    ".balign 4",
    ".quad _start + {phys_minus_virt}",
    ".balign 4",
    "",
    ".section .bss.stack, \"aw\", @nobits",
    ".balign 4096",
    "__stack_bottom:",
    ".space {stack_size}",
    ".globl __stack_top",
    "__stack_top:",
    "",
    ".section .bss.example_boot_tables, \"aw\", @nobits",
    ".balign 4096",
    // Global: the secondary CPUs' trampoline loads it into CR3 (`trampoline.rs`).
    ".globl example_boot_pml4",
    "example_boot_pml4: .space 4096",
    "example_boot_lower_pdpt: .space 4096",
    "example_boot_upper_pdpt: .space 4096",
    "example_boot_pd: .space 4096 * {gib}",
    "",
    ".section .text.boot, \"ax\", @progbits",
    ".code32",
    ".globl _start",
    "_start:",
    "    cli",
    "    cld",
    "    movl $(__bss_start + {phys_minus_virt}), %edi",
    "    movl $(__bss_end + {phys_minus_virt}), %ecx",
    "    subl %edi, %ecx",
    "    xorl %eax, %eax",
    "    rep stosb",
    // The page directories: the first 4 GiB in 2 MiB pages (present, writable, PS); the upper
    // half of each entry stays 0 (physical addresses below 4 GiB).
    "    movl $(example_boot_pd + {phys_minus_virt}), %edi",
    "    movl $0x83, %eax",
    "    movl $(512 * {gib}), %ecx",
    "1:  movl %eax, (%edi)",
    "    addl $0x200000, %eax",
    "    addl $8, %edi",
    "    loop 1b",
    // Links (present, writable): PML4[0] -> lower PDPT, whose entries 0..4 map the first 4 GiB
    // at their physical address; PML4[511] -> upper PDPT, whose entries map them at the direct
    // map (PHYS_OFFSET) and the image's GiB at the image's link address (entry 510).
    "    movl $(example_boot_pd + {phys_minus_virt} + 3), %eax",
    "    movl $(example_boot_lower_pdpt + {phys_minus_virt}), %edi",
    "    movl $(example_boot_upper_pdpt + {phys_minus_virt} + {direct_map_entry}), %esi",
    "    movl ${gib}, %ecx",
    "2:  movl %eax, (%edi)",
    "    movl %eax, (%esi)",
    "    addl $0x1000, %eax",
    "    addl $8, %edi",
    "    addl $8, %esi",
    "    loop 2b",
    "    movl $(example_boot_pd + {phys_minus_virt} + {image_pd} + 3), %eax",
    "    movl %eax, example_boot_upper_pdpt + {phys_minus_virt} + {image_entry}",
    "    movl $(example_boot_lower_pdpt + {phys_minus_virt} + 3), %eax",
    "    movl %eax, example_boot_pml4 + {phys_minus_virt}",
    "    movl $(example_boot_upper_pdpt + {phys_minus_virt} + 3), %eax",
    "    movl %eax, example_boot_pml4 + {phys_minus_virt} + {upper_entry}",
    "    movl %cr4, %eax",
    "    orl $0x20, %eax",
    "    movl %eax, %cr4",
    "    movl $(example_boot_pml4 + {phys_minus_virt}), %eax",
    "    movl %eax, %cr3",
    "    movl $0xC0000080, %ecx",
    "    rdmsr",
    "    orl $0x900, %eax",
    "    wrmsr",
    "    movl %cr0, %eax",
    "    orl $0x80010001, %eax",
    "    movl %eax, %cr0",
    "    lgdt example_boot_gdt_pointer + {phys_minus_virt}",
    "    ljmp $0x08, $(3f + {phys_minus_virt})",
    ".code64",
    // Long mode, still at the physical address (mapped 1:1); continue at the link address.
    "3:  movabsq $4f, %rax",
    "    jmpq *%rax",
    "4:  movw $0x10, %ax",
    "    movw %ax, %ds",
    "    movw %ax, %es",
    "    movw %ax, %ss",
    "    xorw %ax, %ax",
    "    movw %ax, %fs",
    "    movw %ax, %gs",
    "    movq $__stack_top, %rsp",
    // The GDT at its link address (the boot pointer named its physical address).
    "    lgdt example_gdt_pointer(%rip)",
    "    movl %ebx, %edi",
    "    call {rust_entry}",
    "5:  hlt",
    "    jmp 5b",
    stack_size = const STACK_SIZE,
    gib = const BOOT_MAPPED_GIB,
    image_pd = const (KERNEL_PHYS_BASE >> 30) * 4096,
    phys_minus_virt = const KERNEL_VIRT_OFFSET.wrapping_neg(),
    direct_map_entry = const entry_offset(PHYS_OFFSET, 2),
    image_entry = const entry_offset(KERNEL_VIRT_BASE, 2),
    upper_entry = const entry_offset(KERNEL_VIRT_BASE, 3),
    rust_entry = sym rust_entry,
    options(att_syntax),
);

/// `start_info`: the PVH start info's physical address, passed in `ebx` (kept by the stub).
extern "C" fn rust_entry(start_info: usize) -> ! {
    // First the per-CPU register (`cpu_index`), which every `GlobalCell` reads.
    super::smp::init_boot_cpu();
    super::descriptors::install(0);
    // CPUID leaf 1 exists on every x86_64 CPU: EBX[31:24] is the initial APIC id.
    let apic_id = core::arch::x86_64::__cpuid(1).ebx >> 24;
    crate::kernel_main(start_info, apic_id as usize)
}
