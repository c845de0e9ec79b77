//! Instruction-cache maintenance before an executable frame becomes visible.
//!
//! When a frame that was just written through the data side (zeroed, or filled by the kernel)
//! is mapped executable, instruction fetches must not see stale lines. AArch64 needs the data
//! cache cleaned and the instruction cache invalidated to the point of unification (Arm ARM
//! D7.5.9, "Data and instruction cache maintenance"); RISC-V needs `fence.i` on every hart that
//! may fetch from it (the Zifencei extension: `fence.i` acts on the executing hart only);
//! x86_64 keeps instruction fetches coherent in hardware. The page-table code calls
//! [`sync_instruction_cache`] with the kernel's own alias of the frame, which calls the
//! installed [`InstructionSyncHook`] (a kernel with several CPUs sends the remote part, e.g.
//! SBI `remote_fence_i`) or else the ISA's local sequence.

use memory_addr::VirtAddr;

use crate::PagingArch;
use crate::hook::HookSlot;

/// A function that makes `[kernel_vaddr, kernel_vaddr + size)` coherent for instruction
/// fetches on every CPU: typically the local [`PagingArch::sync_instruction_cache`] plus a
/// request to the other CPUs. It must return only when every CPU will fetch the new contents.
pub type InstructionSyncHook = fn(kernel_vaddr: VirtAddr, size: usize);

/// The installed hook; empty means the local operation.
// SAFETY: `InstructionSyncHook` is a function-pointer type.
static HOOK: HookSlot<InstructionSyncHook> = unsafe { HookSlot::new() };

/// Installs `hook` for every page table in the system, or restores the local sequence with
/// `None`.
pub fn set_instruction_sync_hook(hook: Option<InstructionSyncHook>) {
    HOOK.set(hook);
}

/// The installed hook, if any.
pub fn instruction_sync_hook() -> Option<InstructionSyncHook> {
    HOOK.get()
}

/// Makes the frame(s) at `kernel_vaddr` coherent for instruction fetches: through the installed
/// hook, or else with `A`'s local sequence.
pub fn sync_instruction_cache<A: PagingArch>(kernel_vaddr: VirtAddr, size: usize) {
    match instruction_sync_hook() {
        Some(hook) => hook(kernel_vaddr, size),
        None => A::sync_instruction_cache(kernel_vaddr, size),
    }
}
