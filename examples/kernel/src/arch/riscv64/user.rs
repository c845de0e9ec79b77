//! U-mode: [`enter_user`] loads a [`UserContext`] into the registers and `sret`s into it; the
//! next trap from U-mode reaches `example_user_trap` (the trap vector sends it there when
//! `sscratch` is non-zero), which stores every user register back into the context and returns
//! from `enter_user` as if it had been a call.
//!
//! While user code runs, `sscratch` holds the kernel stack pointer of `enter_user`'s frame (which
//! also holds the context's address and the kernel's `tp`, the per-CPU register of `smp.rs`,
//! which user code may change); while the kernel runs it is 0.

use core::arch::global_asm;

use vmlayer_paging::isa::fault::decode_page_fault;

use crate::user::UserTrap;

/// The registers of user code while it does not run.
#[repr(C)]
#[derive(Clone, Debug)]
pub(crate) struct UserContext {
    /// x0..x31 (x0 unused, x2 = sp).
    registers: [usize; 32],
    /// Where `sret` enters (`sepc`).
    pc: usize,
    /// `scause` of the trap that ended the last run.
    cause: usize,
    /// `stval` of the trap that ended the last run.
    value: usize,
}

const A0: usize = 10;
const A7: usize = 17;
const SP: usize = 2;
const ECALL_FROM_USER: usize = 8;

impl UserContext {
    /// Registers for a program's first instruction: `pc = entry`, `sp = stack_top`, `a0..a2 =
    /// arguments`, every other register 0.
    pub(crate) fn new(entry: usize, stack_top: usize, arguments: [usize; 3]) -> Self {
        let mut registers = [0; 32];
        registers[SP] = stack_top;
        registers[A0..A0 + 3].copy_from_slice(&arguments);
        Self {
            registers,
            pc: entry,
            cause: 0,
            value: 0,
        }
    }

    /// The system call the user made: its number (`a7`) and arguments (`a0..a5`).
    pub(crate) fn system_call(&self) -> (usize, [usize; 6]) {
        let mut arguments = [0; 6];
        arguments.copy_from_slice(&self.registers[A0..A0 + 6]);
        (self.registers[A7], arguments)
    }

    /// The return-value register, `a0`.
    pub(crate) fn return_value(&self) -> usize {
        self.registers[A0]
    }

    /// Sets `a0`, the system call's result.
    pub(crate) fn set_return_value(&mut self, value: usize) {
        self.registers[A0] = value;
    }

    /// The user pc.
    pub(crate) fn pc(&self) -> usize {
        self.pc
    }
}

global_asm!(
    ".section .text",
    ".globl example_enter_user",
    "example_enter_user:",
    // a0 = the context. Save what the C ABI asks a callee to keep, the context's address and
    // the per-CPU register (frame: ra, s0..s11, context, tp, padding).
    "    addi sp, sp, -128",
    "    sd ra, 0(sp)",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11",
    "    sd s\\n, (\\n+1)*8(sp)",
    ".endr",
    "    sd a0, 13*8(sp)",
    "    sd tp, 14*8(sp)",
    "    csrw sscratch, sp",
    "    ld t0, 32*8(a0)",
    "    csrw sepc, t0",
    // SPP = 0 (return to U-mode), SPIE = 0 (interrupts stay off).
    "    li t0, 0x120",
    "    csrc sstatus, t0",
    "    ld x1, 1*8(a0)",
    "    ld x2, 2*8(a0)",
    ".irp n, 3,4,5,6,7,8,9,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    ld x\\n, \\n*8(a0)",
    ".endr",
    "    ld a0, 10*8(a0)",
    "    sret",
    "",
    ".globl example_user_trap",
    "example_user_trap:",
    // From the vector: sp = enter_user's frame, sscratch = the user sp. t0 is saved first, on
    // the kernel stack, to hold the context's address.
    "    addi sp, sp, -8",
    "    sd t0, 0(sp)",
    "    ld t0, (13*8+8)(sp)",
    "    sd x1, 1*8(t0)",
    ".irp n, 3,4,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    sd x\\n, \\n*8(t0)",
    ".endr",
    "    ld t1, 0(sp)",
    "    sd t1, 5*8(t0)",
    "    addi sp, sp, 8",
    "    csrr t1, sscratch",
    "    sd t1, 2*8(t0)",
    "    csrw sscratch, zero",
    "    csrr t1, sepc",
    "    sd t1, 32*8(t0)",
    "    csrr t1, scause",
    "    sd t1, 33*8(t0)",
    "    csrr t1, stval",
    "    sd t1, 34*8(t0)",
    // Back to enter_user's caller, with the kernel's per-CPU register (the user's `tp` is in
    // the context: x4 above).
    "    ld tp, 14*8(sp)",
    "    ld ra, 0(sp)",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11",
    "    ld s\\n, (\\n+1)*8(sp)",
    ".endr",
    "    addi sp, sp, 128",
    "    ret",
);

unsafe extern "C" {
    fn example_enter_user(context: &mut UserContext);
    pub(super) fn example_user_trap();
}

/// Runs user code with `context` until its next trap; the context then holds the user
/// registers at the trap, the pc advanced past an `ecall`.
pub(crate) fn enter_user(context: &mut UserContext) -> UserTrap {
    // SAFETY: `example_enter_user` enters U-mode (SPP forced to 0), where the code can reach
    // only USER pages; every trap from U-mode comes back through `example_user_trap`, which
    // restores the callee-saved registers and the stack of this call and writes only into
    // `context`. The active root shares the kernel half (every user space does), which maps
    // the vector, this code and its stack.
    unsafe { example_enter_user(context) };
    if context.cause == ECALL_FROM_USER {
        context.pc += 4;
        return UserTrap::SystemCall;
    }
    // sstatus.SPP = 0: the trap came from U-mode.
    match decode_page_fault(context.cause as u64, context.value as u64, 0) {
        Some(fault) => UserTrap::PageFault(fault),
        None => UserTrap::Other {
            cause: context.cause,
        },
    }
}
