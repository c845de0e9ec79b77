//! Instruction-fetch coherence with `fence.i` (Zifencei).
//!
//! "FENCE.I ... synchronizes the instruction and data streams" of the executing hart only
//! (RISC-V Unprivileged ISA, chapter "Zifencei Instruction-Fetch Fence"): a store to
//! instruction memory is guaranteed visible to this hart's later instruction fetches, not to
//! other harts'. The ISA-neutral hook (`vmlayer_arch::cache::set_instruction_sync_hook`) is where
//! a kernel with several harts adds the remote part (e.g. SBI `remote_fence_i`).
//!
//! Only bare-metal builds execute it; hosted builds (tests under qemu-user) compile a no-op.

/// Makes earlier stores visible to this hart's instruction fetches: `fence.i`. The instruction
/// orders all of memory, so the range the caller synchronizes needs no operand.
#[inline]
pub fn fence_i() {
    #[cfg(target_os = "none")]
    // SAFETY: `fence.i` only orders instruction fetches after earlier stores; it has no other
    // effect (Zifencei is part of RV64GC, the target this crate builds for).
    unsafe {
        core::arch::asm!(fence_i!(), options(nostack, preserves_flags));
    }
}

/// The physical-address width of Sv39 and Sv48: a PTE's PPN has 44 bits (bits 53:10), so
/// 44 + 12 = 56 bits (RISC-V Privileged Architecture, §4.4.1 "Addressing and Memory
/// Protection" for Sv39, §4.5 for Sv48). The ISA gives S-mode no register that reports a
/// smaller implemented width, so this is what [`vmlayer_arch::PagingArch::phys_addr_bits`]
/// returns on every build.
pub const PHYS_ADDR_BITS: usize = 56;
