//! What the CPU implements: the physical-address width.

use core::sync::atomic::{AtomicUsize, Ordering};

#[cfg(test)]
mod tests;

/// The physical-address width used when the CPU cannot be asked (hosted builds: EL0 cannot
/// read `ID_AA64MMFR0_EL1` reliably, Linux traps and emulates it with sanitised values) and
/// the cap on bare metal: the 48-bit output address of the descriptors this crate writes
/// (52-bit addresses need FEAT_LPA / LPA2 formats, which are not used).
pub const DEFAULT_PHYS_ADDR_BITS: usize = 48;

/// The physical-address width of an `ID_AA64MMFR0_EL1.PARange` value (bits 3:0; Arm ARM,
/// register description of `ID_AA64MMFR0_EL1`): 0→32, 1→36, 2→40, 3→42, 4→44, 5→48, 6
/// (52 bits) capped to 48 (no FEAT_LPA descriptors), reserved values → 48.
///
/// ```
/// assert_eq!(vmlayer_aarch64::cpu::phys_addr_bits_of_parange(2), 40);
/// ```
pub const fn phys_addr_bits_of_parange(parange: u64) -> usize {
    match parange & 0xf {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        _ => DEFAULT_PHYS_ADDR_BITS,
    }
}

/// The cached width (0 = not read yet).
static PHYS_ADDR_BITS: AtomicUsize = AtomicUsize::new(0);

/// The CPU's physical-address width: on bare metal from `ID_AA64MMFR0_EL1.PARange`
/// ([`phys_addr_bits_of_parange`]), read once and cached; on hosted builds
/// [`DEFAULT_PHYS_ADDR_BITS`].
pub fn phys_addr_bits() -> usize {
    let cached = PHYS_ADDR_BITS.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    #[cfg(target_os = "none")]
    let bits = {
        let mmfr0: u64;
        // SAFETY: reading an ID register at EL1 has no side effect.
        unsafe {
            core::arch::asm!("mrs {0}, id_aa64mmfr0_el1", out(reg) mmfr0, options(nomem, nostack, preserves_flags));
        }
        phys_addr_bits_of_parange(mmfr0)
    };
    #[cfg(not(target_os = "none"))]
    let bits = DEFAULT_PHYS_ADDR_BITS;
    PHYS_ADDR_BITS.store(bits, Ordering::Relaxed);
    bits
}
