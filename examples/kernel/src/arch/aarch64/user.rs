//! EL0: [`enter_user`] loads a [`UserContext`] into the registers and `eret`s into it; a
//! synchronous exception from EL0 lands on `SP_EL1`, which still points at `enter_user`'s frame
//! (which also holds the context's address): `example_user_sync` stores every user register back
//! into the context and returns from `enter_user` as if it had been a call.

use core::arch::global_asm;

use vmlayer_paging::isa::fault::decode_page_fault;

use crate::user::UserTrap;

/// The registers of user code while it does not run.
#[repr(C)]
#[derive(Clone, Debug)]
pub(crate) struct UserContext {
    /// x0..x30.
    registers: [usize; 31],
    /// `SP_EL0`.
    sp: usize,
    /// Where `eret` enters (`ELR_EL1`).
    pc: usize,
    /// `SPSR_EL1`: the user's condition flags (NZCV); mode and masks are forced at entry.
    spsr: usize,
    /// `ESR_EL1` of the exception that ended the last run.
    esr: usize,
    /// `FAR_EL1` of the exception that ended the last run.
    far: usize,
}

const X8: usize = 8;
const EC_SVC64: usize = 0x15;

impl UserContext {
    /// Registers for a program's first instruction: `pc = entry`, `SP_EL0 = stack_top`, `x0..x2
    /// = arguments`, every other register and the flags 0.
    pub(crate) fn new(entry: usize, stack_top: usize, arguments: [usize; 3]) -> Self {
        let mut registers = [0; 31];
        registers[..3].copy_from_slice(&arguments);
        Self {
            registers,
            sp: stack_top,
            pc: entry,
            spsr: 0,
            esr: 0,
            far: 0,
        }
    }

    /// The system call the user made: its number (`x8`) and arguments (`x0..x5`).
    pub(crate) fn system_call(&self) -> (usize, [usize; 6]) {
        let mut arguments = [0; 6];
        arguments.copy_from_slice(&self.registers[..6]);
        (self.registers[X8], arguments)
    }

    /// The return-value register, `x0`.
    pub(crate) fn return_value(&self) -> usize {
        self.registers[0]
    }

    /// Sets `x0`, the system call's result.
    pub(crate) fn set_return_value(&mut self, value: usize) {
        self.registers[0] = value;
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
    // x0 = the context. Save what the C ABI asks a callee to keep, and the context's address.
    "    sub sp, sp, #112",
    "    stp x19, x20, [sp, #0]",
    "    stp x21, x22, [sp, #16]",
    "    stp x23, x24, [sp, #32]",
    "    stp x25, x26, [sp, #48]",
    "    stp x27, x28, [sp, #64]",
    "    stp x29, x30, [sp, #80]",
    "    str x0, [sp, #96]",
    "    ldr x1, [x0, #248]",
    "    msr sp_el0, x1",
    "    ldr x1, [x0, #256]",
    "    msr elr_el1, x1",
    // EL0t, D A I F masked, the user's NZCV.
    "    ldr x1, [x0, #264]",
    "    and x1, x1, #0xf0000000",
    "    orr x1, x1, #0x3c0",
    "    msr spsr_el1, x1",
    "    ldp x2, x3, [x0, #16]",
    "    ldp x4, x5, [x0, #32]",
    "    ldp x6, x7, [x0, #48]",
    "    ldp x8, x9, [x0, #64]",
    "    ldp x10, x11, [x0, #80]",
    "    ldp x12, x13, [x0, #96]",
    "    ldp x14, x15, [x0, #112]",
    "    ldp x16, x17, [x0, #128]",
    "    ldp x18, x19, [x0, #144]",
    "    ldp x20, x21, [x0, #160]",
    "    ldp x22, x23, [x0, #176]",
    "    ldp x24, x25, [x0, #192]",
    "    ldp x26, x27, [x0, #208]",
    "    ldp x28, x29, [x0, #224]",
    "    ldr x30, [x0, #240]",
    "    ldp x0, x1, [x0, #0]",
    "    eret",
    "",
    ".globl example_user_sync",
    "example_user_sync:",
    // From the vector: sp = SP_EL1 = enter_user's frame. x0 and x1 go to the kernel stack
    // first, to hold the context's address.
    "    stp x0, x1, [sp, #-16]!",
    "    ldr x0, [sp, #112]",
    "    stp x2, x3, [x0, #16]",
    "    stp x4, x5, [x0, #32]",
    "    stp x6, x7, [x0, #48]",
    "    stp x8, x9, [x0, #64]",
    "    stp x10, x11, [x0, #80]",
    "    stp x12, x13, [x0, #96]",
    "    stp x14, x15, [x0, #112]",
    "    stp x16, x17, [x0, #128]",
    "    stp x18, x19, [x0, #144]",
    "    stp x20, x21, [x0, #160]",
    "    stp x22, x23, [x0, #176]",
    "    stp x24, x25, [x0, #192]",
    "    stp x26, x27, [x0, #208]",
    "    stp x28, x29, [x0, #224]",
    "    str x30, [x0, #240]",
    "    ldp x2, x3, [sp], #16",
    "    stp x2, x3, [x0, #0]",
    "    mrs x1, sp_el0",
    "    str x1, [x0, #248]",
    "    mrs x1, elr_el1",
    "    str x1, [x0, #256]",
    "    mrs x1, spsr_el1",
    "    str x1, [x0, #264]",
    "    mrs x1, esr_el1",
    "    str x1, [x0, #272]",
    "    mrs x1, far_el1",
    "    str x1, [x0, #280]",
    // Back to enter_user's caller.
    "    ldp x19, x20, [sp, #0]",
    "    ldp x21, x22, [sp, #16]",
    "    ldp x23, x24, [sp, #32]",
    "    ldp x25, x26, [sp, #48]",
    "    ldp x27, x28, [sp, #64]",
    "    ldp x29, x30, [sp, #80]",
    "    add sp, sp, #112",
    "    ret",
);

unsafe extern "C" {
    fn example_enter_user(context: &mut UserContext);
}

/// Runs user code with `context` until its next synchronous exception; the context then holds
/// the user registers at the exception (`ELR_EL1` is already past an `svc`).
pub(crate) fn enter_user(context: &mut UserContext) -> UserTrap {
    // SAFETY: `example_enter_user` enters EL0 (SPSR_EL1.M forced to EL0t), where the code can
    // reach only EL0-accessible pages; every synchronous exception from EL0 comes back through
    // `example_user_sync`, which restores the callee-saved registers and the stack of this
    // call and writes only into `context` (other exceptions from EL0 are fatal: interrupts stay
    // masked). The kernel half in TTBR1_EL1 maps the vectors, this code and its stack.
    unsafe { example_enter_user(context) };
    if context.esr >> 26 == EC_SVC64 {
        return UserTrap::SystemCall;
    }
    // An EL0 abort: SPSR_EL1.PAN does not matter (`user_memory_access` is false for it).
    match decode_page_fault(context.esr as u64, context.far as u64, 0) {
        Some(fault) => UserTrap::PageFault(fault),
        None => UserTrap::Other { cause: context.esr },
    }
}
