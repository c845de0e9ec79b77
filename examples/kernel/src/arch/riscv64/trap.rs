//! The S-mode trap vector. `sscratch` is 0 while the kernel runs and holds the kernel stack
//! pointer while user code runs, so the first instruction tells the two apart.

use core::arch::global_asm;

use vmlayer_paging::isa::fault::decode_page_fault;

/// Registers saved on a kernel-mode trap.
#[repr(C)]
pub(crate) struct TrapFrame {
    /// x0..x31 (x0 unused, x2 is the interrupted sp).
    registers: [usize; 32],
    sepc: usize,
    sstatus: usize,
}

impl TrapFrame {
    /// The interrupted pc.
    pub(crate) fn pc(&self) -> usize {
        self.sepc
    }

    /// Continues at `pc` with stack pointer `sp` instead of retrying the instruction.
    pub(crate) fn resume_at(&mut self, pc: usize, sp: usize) {
        self.sepc = pc;
        self.registers[2] = sp;
    }
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();

global_asm!(
    ".section .text",
    ".balign 4",
    ".globl example_trap_vector",
    "example_trap_vector:",
    "    csrrw sp, sscratch, sp",
    "    bnez sp, {user_exit}",
    "    csrrw sp, sscratch, sp",
    "    addi sp, sp, -{frame_size}",
    "    sd x1, 1*8(sp)",
    ".irp n, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    sd x\\n, \\n*8(sp)",
    ".endr",
    "    addi t0, sp, {frame_size}",
    "    sd t0, 2*8(sp)",
    "    csrr t0, sepc",
    "    sd t0, 32*8(sp)",
    "    csrr t0, sstatus",
    "    sd t0, 33*8(sp)",
    "    mv a0, sp",
    "    call {handler}",
    "    ld t0, 32*8(sp)",
    "    csrw sepc, t0",
    "    ld t0, 33*8(sp)",
    "    csrw sstatus, t0",
    "    ld x1, 1*8(sp)",
    ".irp n, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    ld x\\n, \\n*8(sp)",
    ".endr",
    "    ld sp, 2*8(sp)",
    "    sret",
    frame_size = const FRAME_SIZE,
    handler = sym kernel_trap,
    user_exit = sym super::user::example_user_trap,
);

/// Points `stvec` at the vector (direct mode).
pub(super) fn install() {
    unsafe extern "C" {
        fn example_trap_vector();
    }
    // SAFETY: the vector is a complete trap handler (above); installing it changes only where
    // traps go.
    unsafe {
        core::arch::asm!("csrw stvec, {0}", in(reg) example_trap_vector as *const () as usize)
    };
}

extern "C" fn kernel_trap(frame: &mut TrapFrame) {
    let (scause, stval): (usize, usize);
    // SAFETY: reading trap CSRs has no side effects.
    unsafe {
        core::arch::asm!("csrr {0}, scause", "csrr {1}, stval", out(reg) scause, out(reg) stval)
    };
    match decode_page_fault(scause as u64, stval as u64, frame.sstatus as u64) {
        Some(fault) => crate::trap::kernel_fault(frame, fault),
        None => crate::trap::unexpected(format_args!(
            "scause {scause:#x} stval {stval:#x} sepc {:#x}",
            frame.sepc
        )),
    }
}
