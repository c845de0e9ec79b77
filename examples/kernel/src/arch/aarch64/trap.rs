//! The EL1 exception vectors. Synchronous exceptions from EL1 save a full frame and go to the
//! neutral handler; synchronous exceptions from EL0 go to the user-run path (`user.rs`: resume
//! after a fixed page fault, else end the run); every other vector is fatal.

use core::arch::global_asm;

use vmlayer_paging::isa::fault::decode_page_fault;

/// Registers saved on a synchronous exception at EL1.
#[repr(C)]
pub(crate) struct TrapFrame {
    /// x0..x30.
    registers: [usize; 31],
    /// The interrupted sp (read-only: the frame lives on that stack).
    sp: usize,
    elr: usize,
    spsr: usize,
}

impl TrapFrame {
    /// The interrupted pc.
    pub(crate) fn pc(&self) -> usize {
        self.elr
    }

    /// Continues at `pc` instead of retrying the instruction.
    ///
    /// # Panics
    /// If `sp` differs from the interrupted sp: the probes recover on the stack they faulted on
    /// (`blr` pushes nothing), so the glue does not support switching stacks.
    pub(crate) fn resume_at(&mut self, pc: usize, sp: usize) {
        assert_eq!(sp, self.sp, "aarch64 recovery must keep the stack pointer");
        self.elr = pc;
    }
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();

global_asm!(
    ".section .text",
    ".balign 2048",
    ".globl example_vectors",
    "example_vectors:",
    // Current EL with SP_EL0 (never used): fatal.
    ".irp kind, 0,1,2,3",
    ".balign 0x80",
    "    mov x0, #\\kind",
    "    b {fatal}",
    ".endr",
    // Current EL with SP_ELx: synchronous goes to the kernel handler.
    ".balign 0x80",
    "    b example_kernel_sync",
    ".irp kind, 5,6,7",
    ".balign 0x80",
    "    mov x0, #\\kind",
    "    b {fatal}",
    ".endr",
    // Lower EL, AArch64: synchronous ends the user run.
    ".balign 0x80",
    "    b example_user_sync",
    ".irp kind, 9,10,11,12,13,14,15",
    ".balign 0x80",
    "    mov x0, #\\kind",
    "    b {fatal}",
    ".endr",
    "",
    "example_kernel_sync:",
    "    sub sp, sp, #{frame_size}",
    "    stp x0, x1, [sp, #0]",
    "    stp x2, x3, [sp, #16]",
    "    stp x4, x5, [sp, #32]",
    "    stp x6, x7, [sp, #48]",
    "    stp x8, x9, [sp, #64]",
    "    stp x10, x11, [sp, #80]",
    "    stp x12, x13, [sp, #96]",
    "    stp x14, x15, [sp, #112]",
    "    stp x16, x17, [sp, #128]",
    "    stp x18, x19, [sp, #144]",
    "    stp x20, x21, [sp, #160]",
    "    stp x22, x23, [sp, #176]",
    "    stp x24, x25, [sp, #192]",
    "    stp x26, x27, [sp, #208]",
    "    stp x28, x29, [sp, #224]",
    "    add x0, sp, #{frame_size}",
    "    stp x30, x0, [sp, #240]",
    "    mrs x0, elr_el1",
    "    mrs x1, spsr_el1",
    "    stp x0, x1, [sp, #256]",
    "    mov x0, sp",
    "    bl {handler}",
    "    ldp x0, x1, [sp, #256]",
    "    msr elr_el1, x0",
    "    msr spsr_el1, x1",
    "    ldp x0, x1, [sp, #0]",
    "    ldp x2, x3, [sp, #16]",
    "    ldp x4, x5, [sp, #32]",
    "    ldp x6, x7, [sp, #48]",
    "    ldp x8, x9, [sp, #64]",
    "    ldp x10, x11, [sp, #80]",
    "    ldp x12, x13, [sp, #96]",
    "    ldp x14, x15, [sp, #112]",
    "    ldp x16, x17, [sp, #128]",
    "    ldp x18, x19, [sp, #144]",
    "    ldp x20, x21, [sp, #160]",
    "    ldp x22, x23, [sp, #176]",
    "    ldp x24, x25, [sp, #192]",
    "    ldp x26, x27, [sp, #208]",
    "    ldp x28, x29, [sp, #224]",
    "    ldr x30, [sp, #240]",
    "    add sp, sp, #{frame_size}",
    "    eret",
    frame_size = const FRAME_SIZE,
    handler = sym kernel_sync,
    fatal = sym fatal_vector,
);

/// Points `VBAR_EL1` at the vectors.
pub(super) fn install() {
    unsafe extern "C" {
        fn example_vectors();
    }
    // SAFETY: the table above is a complete, 2 KiB-aligned vector table.
    unsafe {
        core::arch::asm!("msr vbar_el1, {0}", "isb", in(reg) example_vectors as *const () as usize);
    }
}

extern "C" fn kernel_sync(frame: &mut TrapFrame) {
    let (esr, far): (usize, usize);
    // SAFETY: reading the syndrome registers has no side effects.
    unsafe { core::arch::asm!("mrs {0}, esr_el1", "mrs {1}, far_el1", out(reg) esr, out(reg) far) };
    // SPSR_EL1 was saved by the vector before anything could change it: its PAN bit is
    // PSTATE.PAN of the faulting code, which decides `user_memory_access`.
    match decode_page_fault(esr as u64, far as u64, frame.spsr as u64) {
        Some(fault) if !fault.user => crate::trap::kernel_fault(frame, fault),
        _ => crate::trap::unexpected(format_args!(
            "ESR_EL1 {esr:#x} FAR_EL1 {far:#x} ELR_EL1 {:#x}",
            frame.elr
        )),
    }
}

extern "C" fn fatal_vector(kind: usize) -> ! {
    let (esr, elr): (usize, usize);
    // SAFETY: reading the syndrome registers has no side effects.
    unsafe { core::arch::asm!("mrs {0}, esr_el1", "mrs {1}, elr_el1", out(reg) esr, out(reg) elr) };
    crate::trap::unexpected(format_args!(
        "exception vector {kind} ESR_EL1 {esr:#x} ELR_EL1 {elr:#x}"
    ))
}
