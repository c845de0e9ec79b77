//! Interrupt stubs: each pushes a dummy error code if the CPU did not, then its vector, then all
//! general-purpose registers. Traps from ring 3 go to the user-run path (`user.rs`: resume after a
//! fixed page fault, else end the run); traps from ring 0 go to the neutral handler and return
//! with `iretq`. Besides the exceptions (0..31) and the system call (0x80), two vectors come from
//! the local APIC (`smp.rs`): the shootdown IPI and the spurious-interrupt vector.

use core::arch::global_asm;

use vmlayer_paging::isa::{decode_page_fault, read_cr4};
use vmlayer_paging::{FaultCause, PageFaultInfo};

/// Registers saved by the stubs plus the CPU's interrupt frame.
#[repr(C)]
pub(crate) struct TrapFrame {
    /// r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax.
    registers: [u64; 15],
    vector: u64,
    error_code: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

impl TrapFrame {
    /// The interrupted pc.
    pub(crate) fn pc(&self) -> usize {
        self.rip as usize
    }

    /// The vector number.
    pub(crate) fn vector(&self) -> u64 {
        self.vector
    }

    /// The error code (0 for vectors without one).
    pub(crate) fn error_code(&self) -> u64 {
        self.error_code
    }

    /// The general-purpose registers at the trap (r15 .. rax, the order the stubs push).
    pub(crate) fn general_registers(&self) -> [u64; 15] {
        self.registers
    }

    /// The interrupted rsp.
    pub(crate) fn stack_pointer(&self) -> u64 {
        self.rsp
    }

    /// The interrupted RFLAGS.
    pub(crate) fn flags(&self) -> u64 {
        self.rflags
    }

    /// Continues at `pc` with stack pointer `sp` instead of retrying the instruction.
    pub(crate) fn resume_at(&mut self, pc: usize, sp: usize) {
        self.rip = pc as u64;
        self.rsp = sp as u64;
    }
}

global_asm!(
    ".macro example_isr vector",
    ".balign 16",
    "example_isr_\\vector:",
    ".if (\\vector == 8) || (\\vector == 10) || (\\vector == 11) || (\\vector == 12) || (\\vector == 13) || (\\vector == 14) || (\\vector == 17) || (\\vector == 21) || (\\vector == 29) || (\\vector == 30)",
    ".else",
    "    pushq $0",
    ".endif",
    "    pushq $\\vector",
    "    jmp example_trap_common",
    ".endm",
    "",
    ".section .text",
    ".irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,128,{ipi},{spurious}",
    "example_isr \\vector",
    ".endr",
    "",
    "example_trap_common:",
    "    pushq %rax",
    "    pushq %rbx",
    "    pushq %rcx",
    "    pushq %rdx",
    "    pushq %rsi",
    "    pushq %rdi",
    "    pushq %rbp",
    "    pushq %r8",
    "    pushq %r9",
    "    pushq %r10",
    "    pushq %r11",
    "    pushq %r12",
    "    pushq %r13",
    "    pushq %r14",
    "    pushq %r15",
    "    testb $3, 144(%rsp)",
    "    jnz example_user_trap",
    "    movq %rsp, %rdi",
    "    cld",
    "    call {handler}",
    "    popq %r15",
    "    popq %r14",
    "    popq %r13",
    "    popq %r12",
    "    popq %r11",
    "    popq %r10",
    "    popq %r9",
    "    popq %r8",
    "    popq %rbp",
    "    popq %rdi",
    "    popq %rsi",
    "    popq %rdx",
    "    popq %rcx",
    "    popq %rbx",
    "    popq %rax",
    "    addq $16, %rsp",
    "    iretq",
    "",
    // `(vector, stub)` pairs, read by `descriptors::fill_idt`.
    ".section .rodata.example_isr_table, \"a\"",
    ".balign 8",
    ".globl example_isr_table",
    "example_isr_table:",
    ".irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,128,{ipi},{spurious}",
    "    .quad \\vector, example_isr_\\vector",
    ".endr",
    handler = sym kernel_trap,
    ipi = const super::smp::IPI_VECTOR,
    spurious = const super::smp::SPURIOUS_VECTOR,
    options(att_syntax),
);

const PAGE_FAULT_VECTOR: u64 = 14;

/// Reads CR2, the faulting address of the last #PF.
pub(super) fn read_cr2() -> usize {
    let address: usize;
    // SAFETY: reading CR2 has no side effects.
    unsafe { core::arch::asm!("mov {0}, cr2", out(reg) address, options(nomem, nostack)) };
    address
}

/// Decodes a page fault (vector 14) from its error code, CR2, the saved RFLAGS and the current
/// CR4 (the kernel never changes CR4.SMAP after boot, so its value now is its value at the
/// fault). A fault with RSVD set is never handed on: it means a corrupt paging structure (or a
/// physical address above MAXPHYADDR), which no page-fault handler can fix (Intel SDM Vol. 3A,
/// §4.7), so the kernel reports it and stops.
pub(super) fn decode_or_stop(error_code: u64, cr2: usize, rflags: u64, rip: u64) -> PageFaultInfo {
    let fault = decode_page_fault(error_code, cr2 as u64, rflags, read_cr4());
    if fault.cause == FaultCause::ReservedBit {
        crate::trap::unexpected(format_args!(
            "corrupt page table: #PF with RSVD set (a reserved bit in a paging-structure entry) \
             at {cr2:#x}, error code {error_code:#x}, rip {rip:#x}"
        ));
    }
    fault
}

extern "C" fn kernel_trap(frame: &mut TrapFrame) {
    match frame.vector {
        PAGE_FAULT_VECTOR => {
            let fault = decode_or_stop(frame.error_code, read_cr2(), frame.rflags, frame.rip);
            crate::trap::kernel_fault(frame, fault);
        }
        vector if vector == super::smp::IPI_VECTOR as u64 => super::smp::handle_ipi(),
        // A spurious interrupt: nothing to serve, and no EOI (SDM Vol. 3A §10.9).
        vector if vector == super::smp::SPURIOUS_VECTOR as u64 => {}
        _ => crate::trap::unexpected(format_args!(
            "vector {} error {:#x} rip {:#x}",
            frame.vector, frame.error_code, frame.rip
        )),
    }
}
