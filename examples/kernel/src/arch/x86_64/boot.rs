//! The PVH entry: a 32-bit stub that zeroes bss, builds a boot page table (identity, first 1 GiB
//! in 2 MiB pages), enables PAE, EFER.LME|NXE, CR0.PG|WP, loads the 64-bit GDT and far-jumps to
//! long mode; then the neutral `kernel_main`.

use core::arch::global_asm;

/// Size of the boot (and only) kernel stack.
const STACK_SIZE: usize = 64 * 1024;

global_asm!(
    // PVH: XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen", 8-byte entry address.
    ".section .note.Xen, \"a\", @note",
    ".balign 4",
    ".long 4",
    ".long 8",
    ".long 18",
    ".asciz \"Xen\"",
    ".balign 4",
    ".quad _start",
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
    "example_boot_pml4: .space 4096",
    "example_boot_pdpt: .space 4096",
    "example_boot_pd: .space 4096",
    "",
    ".section .text.boot, \"ax\", @progbits",
    ".code32",
    ".globl _start",
    "_start:",
    "    cli",
    "    cld",
    "    movl $__bss_start, %edi",
    "    movl $__bss_end, %ecx",
    "    subl %edi, %ecx",
    "    xorl %eax, %eax",
    "    rep stosb",
    "    movl $example_boot_pdpt, %eax",
    "    orl $3, %eax",
    "    movl %eax, example_boot_pml4",
    "    movl $example_boot_pd, %eax",
    "    orl $3, %eax",
    "    movl %eax, example_boot_pdpt",
    "    movl $example_boot_pd, %edi",
    "    movl $0x83, %eax",
    "    movl $512, %ecx",
    "1:  movl %eax, (%edi)",
    "    addl $0x200000, %eax",
    "    addl $8, %edi",
    "    loop 1b",
    "    movl %cr4, %eax",
    "    orl $0x20, %eax",
    "    movl %eax, %cr4",
    "    movl $example_boot_pml4, %eax",
    "    movl %eax, %cr3",
    "    movl $0xC0000080, %ecx",
    "    rdmsr",
    "    orl $0x900, %eax",
    "    wrmsr",
    "    movl %cr0, %eax",
    "    orl $0x80010001, %eax",
    "    movl %eax, %cr0",
    "    lgdt example_gdt_pointer",
    "    ljmp $0x08, $2f",
    ".code64",
    "2:  movw $0x10, %ax",
    "    movw %ax, %ds",
    "    movw %ax, %es",
    "    movw %ax, %ss",
    "    xorw %ax, %ax",
    "    movw %ax, %fs",
    "    movw %ax, %gs",
    "    movq $__stack_top, %rsp",
    "    movl %ebx, %edi",
    "    call {rust_entry}",
    "3:  hlt",
    "    jmp 3b",
    stack_size = const STACK_SIZE,
    rust_entry = sym rust_entry,
    options(att_syntax),
);

/// `start_info`: the PVH start info's physical address, passed in `ebx` (kept by the stub).
extern "C" fn rust_entry(start_info: usize) -> ! {
    super::descriptors::install();
    // CPUID leaf 1 exists on every x86_64 CPU: EBX[31:24] is the initial APIC id.
    let apic_id = core::arch::x86_64::__cpuid(1).ebx >> 24;
    crate::kernel_main(start_info, apic_id as usize)
}
