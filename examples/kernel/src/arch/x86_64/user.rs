//! Ring 3: [`enter_user`] loads a [`UserContext`] into the registers and `iretq`s into it,
//! with `TSS.RSP0` at its own frame; any trap from ring 3 (the `int 0x80`, a page fault, ...)
//! pushes its frame below that, and the common stub (`trap.rs`) jumps to `example_user_trap`,
//! which copies every user register into the context and returns from `enter_user` as if it
//! had been a call. Each CPU has its own TSS and its own saved entry stack: any CPU may run
//! user code. User code always runs with interrupts masked (`IF` is forced to 0); the kernel's
//! flags, `IF` included, are restored when the run ends.

use core::arch::global_asm;
use core::cell::UnsafeCell;

use super::descriptors::TSS;
use super::smp::cpu_index;
use super::trap::TrapFrame;
use crate::smp::MAX_CPUS;
use crate::user::UserTrap;

/// The registers of user code while it does not run.
#[repr(C)]
#[derive(Clone, Debug)]
pub(crate) struct UserContext {
    /// r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax (the order of
    /// [`TrapFrame`]).
    registers: [u64; 15],
    /// Where `iretq` enters.
    rip: u64,
    rsp: u64,
    /// The user's arithmetic flags and DF; IF, IOPL and the rest are forced at entry.
    rflags: u64,
    /// Vector, error code and CR2 of the trap that ended the last run.
    vector: u64,
    error_code: u64,
    cr2: u64,
}

const R10: usize = 5;
const R9: usize = 6;
const R8: usize = 7;
const RDI: usize = 9;
const RSI: usize = 10;
const RDX: usize = 11;
const RAX: usize = 14;
const PAGE_FAULT_VECTOR: u64 = 14;

impl UserContext {
    /// Registers for a program's first instruction: `rip = entry`, `rsp = stack_top`, `rdi,
    /// rsi, rdx = arguments`, every other register and the flags 0.
    pub(crate) fn new(entry: usize, stack_top: usize, arguments: [usize; 3]) -> Self {
        let mut registers = [0; 15];
        for (index, argument) in [RDI, RSI, RDX].into_iter().zip(arguments) {
            registers[index] = argument as u64;
        }
        Self {
            registers,
            rip: entry as u64,
            rsp: stack_top as u64,
            rflags: 0,
            vector: 0,
            error_code: 0,
            cr2: 0,
        }
    }

    /// The system call the user made: its number (`rax`) and arguments (`rdi, rsi, rdx, r10,
    /// r8, r9`).
    pub(crate) fn system_call(&self) -> (usize, [usize; 6]) {
        let arguments = [RDI, RSI, RDX, R10, R8, R9].map(|index| self.registers[index] as usize);
        (self.registers[RAX] as usize, arguments)
    }

    /// The return-value register, `rax`.
    pub(crate) fn return_value(&self) -> usize {
        self.registers[RAX] as usize
    }

    /// Sets `rax`, the system call's result.
    pub(crate) fn set_return_value(&mut self, value: usize) {
        self.registers[RAX] = value as u64;
    }

    /// The user pc.
    pub(crate) fn pc(&self) -> usize {
        self.rip as usize
    }
}

/// The kernel stack pointer of `enter_user`'s frame (which holds the context's address) while
/// user code runs on a CPU.
#[repr(C)]
struct EntryStack(UnsafeCell<usize>);

// SAFETY: each CPU uses only its own slot (indexed by `cpu_index`), with interrupts off: written
// by `example_enter_user`, read by the user-trap path of the same run.
unsafe impl Sync for EntryStack {}

static ENTRY_STACKS: [EntryStack; MAX_CPUS] = [const { EntryStack(UnsafeCell::new(0)) }; MAX_CPUS];

global_asm!(
    ".section .text",
    ".globl example_enter_user",
    "example_enter_user:",
    // rdi = the context, rsi = this CPU's entry-stack slot, rdx = this CPU's TSS. Save what the
    // C ABI asks a callee to keep, the flags (a secondary CPU runs with interrupts on: they
    // come back on when the run ends) and the context's address; mask interrupts.
    "    pushq %rbx",
    "    pushq %rbp",
    "    pushq %r12",
    "    pushq %r13",
    "    pushq %r14",
    "    pushq %r15",
    "    pushfq",
    "    cli",
    "    pushq %rdi",
    "    movq %rsp, (%rsi)",
    // TSS.RSP0 (offset 4).
    "    movq %rsp, 4(%rdx)",
    // The iretq frame: ss, rsp, rflags, cs, rip (user selectors with RPL 3).
    "    pushq $0x1b",
    "    pushq 128(%rdi)",
    "    movq 136(%rdi), %rax",
    "    andq $0xcd5, %rax",
    "    orq $0x2, %rax",
    "    pushq %rax",
    "    pushq $0x23",
    "    pushq 120(%rdi)",
    "    movq 0(%rdi), %r15",
    "    movq 8(%rdi), %r14",
    "    movq 16(%rdi), %r13",
    "    movq 24(%rdi), %r12",
    "    movq 32(%rdi), %r11",
    "    movq 40(%rdi), %r10",
    "    movq 48(%rdi), %r9",
    "    movq 56(%rdi), %r8",
    "    movq 64(%rdi), %rbp",
    "    movq 80(%rdi), %rsi",
    "    movq 88(%rdi), %rdx",
    "    movq 96(%rdi), %rcx",
    "    movq 104(%rdi), %rbx",
    "    movq 112(%rdi), %rax",
    "    movq 72(%rdi), %rdi",
    "    iretq",
    "",
    ".globl example_user_trap",
    "example_user_trap:",
    // rsp = the trap frame the stub built on the TSS.RSP0 stack, below enter_user's frame; the
    // Rust side returns that frame's stack pointer (this CPU's entry-stack slot).
    "    movq %rsp, %rdi",
    "    cld",
    "    call {save}",
    // Back to enter_user's caller.
    "    movq %rax, %rsp",
    "    popq %rdi",
    "    popfq",
    "    popq %r15",
    "    popq %r14",
    "    popq %r13",
    "    popq %r12",
    "    popq %rbp",
    "    popq %rbx",
    "    ret",
    save = sym save_user_registers,
    options(att_syntax),
);

/// Copies the user registers of a trap from ring 3 into the context of this CPU's run (called by
/// `example_user_trap`) and returns the stack pointer of `enter_user`'s frame.
extern "C" fn save_user_registers(frame: &TrapFrame) -> usize {
    let entry_stack = ENTRY_STACKS[cpu_index()].0.get();
    // SAFETY: `example_enter_user` stored this CPU's entry stack pointer in its slot; the top of
    // that frame holds the address of the `UserContext` that `enter_user` borrows mutably for
    // the whole run (interrupts are off: nothing else runs on this CPU meanwhile).
    let (entry_stack, context) = unsafe {
        let entry_stack = entry_stack.read();
        (entry_stack, &mut **(entry_stack as *const *mut UserContext))
    };
    context.registers = frame.general_registers();
    context.rip = frame.pc() as u64;
    context.rsp = frame.stack_pointer();
    context.rflags = frame.flags();
    context.vector = frame.vector();
    context.error_code = frame.error_code();
    context.cr2 = super::trap::read_cr2() as u64;
    entry_stack
}

unsafe extern "C" {
    fn example_enter_user(
        context: &mut UserContext,
        entry_stack: *mut usize,
        tss: *mut super::descriptors::TaskStateSegment,
    );
}

/// Runs user code with `context` until its next trap; the context then holds the user
/// registers at the trap (`rip` is already past an `int 0x80`).
pub(crate) fn enter_user(context: &mut UserContext) -> UserTrap {
    // SAFETY: `example_enter_user` enters ring 3 (user code and stack selectors, IOPL 0, IF
    // 0), where the code can reach only user pages; every trap from ring 3 comes back through
    // `example_user_trap` on the TSS.RSP0 stack it set, which restores the callee-saved
    // registers and the stack of this call and writes only into `context`. The active root
    // shares the kernel half (every user space does), which maps the IDT, GDT, TSS, this code
    // and its stack. The entry-stack slot and the TSS are this CPU's own.
    unsafe {
        let cpu = cpu_index();
        example_enter_user(context, ENTRY_STACKS[cpu].0.get(), TSS[cpu].0.get())
    };
    if context.vector == super::descriptors::SYSTEM_CALL_VECTOR as u64 {
        return UserTrap::SystemCall;
    }
    if context.vector == PAGE_FAULT_VECTOR {
        // A user fault: RFLAGS.AC and CR4.SMAP do not matter (`user_memory_access` is false);
        // a corrupt table (RSVD) stops the kernel.
        return UserTrap::PageFault(super::trap::decode_or_stop(
            context.error_code,
            context.cr2 as usize,
            0,
            context.rip,
        ));
    }
    UserTrap::Other {
        cause: context.vector as usize,
    }
}
