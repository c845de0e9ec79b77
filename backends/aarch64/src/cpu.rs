//! What the CPU implements: the physical-address width and the ASID size.

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

/// The ASID bits [`asid_bits`] reports on hosted builds: 0, "no ASIDs", as the `PagingArch`
/// contract's default (EL0 cannot read `TCR_EL1`, and hosted builds never load a table).
pub const HOSTED_ASID_BITS: u32 = 0;

/// `TCR_EL1.AS`, bit 36: the ASID is 16 bits wide (else 8; the upper 8 bits of the TTBRs' ASID
/// field are then ignored).
pub const TCR_AS_16_BIT: u64 = 1 << 36;

/// `TCR_EL1.A1`, bit 22: the ASID comes from `TTBR1_EL1` (else from `TTBR0_EL1`, which is what
/// this crate's [`registers`](crate::registers) assume).
pub const TCR_A1: u64 = 1 << 22;

/// The ASID width the EL1&0 regime uses, from `ID_AA64MMFR0_EL1` (`mmfr0`) and `TCR_EL1`
/// (`tcr`): 16 if the CPU implements 16-bit ASIDs (`ASIDBits`, bits 7:4, = `0b0010`) **and**
/// `TCR_EL1.AS` (bit 36) selects them, else 8 (`ASIDBits` = `0b0000`, and the reserved values;
/// Arm ARM, the register descriptions of `ID_AA64MMFR0_EL1` and `TCR_EL1`).
///
/// ```
/// use vmlayer_aarch64::cpu::{TCR_AS_16_BIT, asid_bits_of};
///
/// assert_eq!(asid_bits_of(0x20, TCR_AS_16_BIT), 16);
/// assert_eq!(asid_bits_of(0x20, 0), 8, "16-bit ASIDs implemented but not selected");
/// assert_eq!(asid_bits_of(0x00, TCR_AS_16_BIT), 8, "TCR_EL1.AS is RES0 then");
/// ```
pub const fn asid_bits_of(mmfr0: u64, tcr: u64) -> u32 {
    let sixteen_implemented = (mmfr0 >> 4) & 0xf == 0b0010;
    if sixteen_implemented && tcr & TCR_AS_16_BIT != 0 {
        16
    } else {
        8
    }
}

/// The ASID bits this CPU runs with: on bare metal [`asid_bits_of`] the current
/// `ID_AA64MMFR0_EL1` and `TCR_EL1` (read at every call, not cached: a kernel may set
/// `TCR_EL1.AS` after boot, before it creates its ASID allocator); on hosted builds
/// [`HOSTED_ASID_BITS`].
pub fn asid_bits() -> u32 {
    #[cfg(target_os = "none")]
    {
        let (mmfr0, tcr): (u64, u64);
        // SAFETY: reading an ID register and TCR_EL1 at EL1 has no side effect.
        unsafe {
            core::arch::asm!(
                "mrs {0}, id_aa64mmfr0_el1",
                "mrs {1}, tcr_el1",
                out(reg) mmfr0,
                out(reg) tcr,
                options(nomem, nostack, preserves_flags),
            );
        }
        asid_bits_of(mmfr0, tcr)
    }
    #[cfg(not(target_os = "none"))]
    HOSTED_ASID_BITS
}
