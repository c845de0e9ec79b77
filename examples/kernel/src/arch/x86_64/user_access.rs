//! Kernel access to user pages: with SMAP (`CR4.SMAP`, bit 21) supervisor loads and stores to
//! user pages fault unless `RFLAGS.AC` is set, and with SMEP (`CR4.SMEP`, bit 20) supervisor
//! instruction fetches from user pages fault (Intel SDM Vol. 3A §4.6.1). Both are turned on
//! where CPUID reports them (leaf 7, EBX bits 20 and 7); QEMU's default `qemu64` has neither,
//! `-cpu max` has both.

const CR4_SMEP: u64 = 1 << 20;
const CR4_SMAP: u64 = 1 << 21;
const RFLAGS_AC: u64 = 1 << 18;

fn read_cr4() -> u64 {
    let cr4: u64;
    // SAFETY: reading CR4 has no side effect.
    unsafe {
        core::arch::asm!("mov {0}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags))
    };
    cr4
}

/// Turns SMEP and SMAP on where the CPU has them. Returns what this kernel enforces, for the
/// boot log.
pub(crate) fn protect_user_memory() -> &'static str {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    if __cpuid(0).eax < 7 {
        return "no SMEP/SMAP on this CPU: the kernel can touch user pages";
    }
    let features = __cpuid_count(7, 0).ebx;
    let mut bits = 0;
    if features & (1 << 7) != 0 {
        bits |= CR4_SMEP;
    }
    if features & (1 << 20) != 0 {
        bits |= CR4_SMAP;
    }
    let cr4 = read_cr4() | bits;
    // SAFETY: SMEP and SMAP only restrict the kernel's access to user pages, which no kernel
    // path relies on (probes of user pages expect the fault); the bits exist per CPUID.
    unsafe { core::arch::asm!("mov cr4, {0}", in(reg) cr4, options(nostack, preserves_flags)) };
    match (bits & CR4_SMEP != 0, bits & CR4_SMAP != 0) {
        (true, true) => "CR4.SMEP = CR4.SMAP = 1",
        (true, false) => "CR4.SMEP = 1 (no SMAP on this CPU: the kernel can touch user pages)",
        (false, true) => "CR4.SMAP = 1 (no SMEP on this CPU)",
        (false, false) => "no SMEP/SMAP on this CPU: the kernel can touch user pages",
    }
}

/// Whether a kernel load or store to a user page faults right now (SMAP on, `AC` clear).
pub(crate) fn user_memory_blocked() -> bool {
    let rflags: u64;
    // SAFETY: pushing and popping the flags has no other effect.
    unsafe {
        core::arch::asm!("pushfq", "pop {0}", out(reg) rflags, options(nomem, preserves_flags))
    };
    read_cr4() & CR4_SMAP != 0 && rflags & RFLAGS_AC == 0
}
