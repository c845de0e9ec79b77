//! The `satp` register: translation mode, ASID and root table, and switching address spaces.
//!
//! RISC-V has one root register for both halves of the address space. A kernel shares its
//! upper half by copying the root entries that cover it into every address space's root table
//! (those entries point to the same lower-level tables, so later changes below them are seen
//! everywhere).

use memory_addr::PhysAddr;
#[cfg(target_os = "none")]
use vmlayer_arch::ActivateError;

#[cfg(test)]
mod tests;

/// The translation modes this crate builds tables for (`satp.MODE`, bits 63:60).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum TranslationMode {
    /// No translation (`MODE = 0`).
    Bare = 0,
    /// Three-level, 39-bit virtual addresses (`MODE = 8`).
    Sv39 = 8,
    /// Four-level, 48-bit virtual addresses (`MODE = 9`).
    Sv48 = 9,
}

/// `satp.PPN`, bits 43:0.
pub const SATP_PPN_MASK: u64 = (1 << 44) - 1;
/// `satp.ASID`, bits 59:44.
pub const SATP_ASID_SHIFT: u32 = 44;

/// The `satp` value selecting `mode`, address-space identifier `asid` and the root table at
/// `root` (4 KiB aligned).
///
/// ```
/// use vmlayer_riscv64::satp::{satp_value, TranslationMode};
/// use vmlayer_riscv64::PhysAddr;
///
/// assert_eq!(satp_value(TranslationMode::Sv39, 0, PhysAddr::from(0x8020_5000)), 0x8000_0000_0008_0205);
/// ```
pub const fn satp_value(mode: TranslationMode, asid: u16, root: PhysAddr) -> u64 {
    ((mode as u64) << 60)
        | ((asid as u64) << SATP_ASID_SHIFT)
        | ((root.as_usize() as u64 >> 12) & SATP_PPN_MASK)
}

/// `satp.MODE`, bits 63:60.
pub const SATP_MODE_SHIFT: u32 = 60;

/// Whether a write of `written` to `satp` took, judged from the value `read_back` right after
/// it: the MODE fields must be equal. `satp.MODE` is WARL, and "if satp is written with an
/// unsupported MODE, the entire write has no effect; no fields in satp are modified" (RISC-V
/// Privileged Architecture, §4.1.11 "Supervisor Address Translation and Protection (satp)
/// Register"), so an Sv39-only hart keeps its old value when asked for Sv48.
///
/// ```
/// use vmlayer_riscv64::satp::mode_took;
///
/// assert!(mode_took(0x9000_0000_0008_0205, 0x9000_0000_0008_0205));
/// assert!(!mode_took(0x9000_0000_0008_0205, 0x8000_0000_0008_0100)); // Sv48 refused
/// ```
pub const fn mode_took(written: u64, read_back: u64) -> bool {
    written >> SATP_MODE_SHIFT == read_back >> SATP_MODE_SHIFT
}

/// The root table a `satp` value points to.
pub const fn root_of_satp(satp: u64) -> PhysAddr {
    PhysAddr::from_usize(((satp & SATP_PPN_MASK) << 12) as usize)
}

/// Makes `root` the current root table of this hart with ASID 0, in `mode`, and drops every
/// cached translation: `sfence.vma; csrw satp; sfence.vma` (the first fence makes earlier
/// page-table stores visible to the walk of the new table, §4.2.1), then reads `satp` back.
///
/// # Errors
///
/// [`ActivateError::ModeNotSupported`] if the hart did not take `mode` ([`mode_took`]); the
/// previous `satp` value is written back (and fenced) then, so the previous address space is
/// still active.
///
/// # Safety
///
/// `root` must be the root of a complete table in `mode` that maps the code, stack and data
/// this hart uses from here on (including this function's caller), and it must stay alive
/// and unchanged except through this crate's flushes while it is active.
#[cfg(target_os = "none")]
pub unsafe fn switch_to(mode: TranslationMode, root: PhysAddr) -> Result<(), ActivateError> {
    let value = satp_value(mode, 0, root);
    let (previous, read_back): (u64, u64);
    // SAFETY: the caller guarantees the new table maps everything the hart uses next; the
    // fences only order page-table accesses and drop cached translations.
    unsafe {
        core::arch::asm!(
            switch_satp!(),
            in(reg) value,
            out(reg) previous,
            out(reg) read_back,
            options(nostack),
        );
    }
    if mode_took(value, read_back) {
        return Ok(());
    }
    // SAFETY: `previous` is the value this hart ran with just before, whose table still maps
    // everything it used; restoring it (a no-op if the refused write changed nothing, as the
    // spec says) keeps the hart where it was.
    unsafe {
        core::arch::asm!(restore_satp!(), in(reg) previous, options(nostack));
    }
    Err(ActivateError::ModeNotSupported)
}

/// How many `satp.ASID` bits stick (ASIDLEN), from the value read back after writing all ones
/// into the field: the WARL field keeps the low ASIDLEN bits (privileged spec §4.1.11, "The
/// number of ASID bits is UNSPECIFIED and may be zero. [...] determined by writing one to
/// every bit position in the ASID field, then reading back").
///
/// ```
/// use vmlayer_riscv64::satp::{SATP_ASID_SHIFT, asid_bits_of};
///
/// assert_eq!(asid_bits_of(0xffff << SATP_ASID_SHIFT), 16);
/// assert_eq!(asid_bits_of(0x00ff << SATP_ASID_SHIFT | 0x8_0000), 8);
/// assert_eq!(asid_bits_of(0), 0);
/// ```
pub const fn asid_bits_of(read_back: u64) -> u32 {
    ((read_back >> SATP_ASID_SHIFT) & 0xffff).trailing_ones()
}

/// Probes ASIDLEN on this hart: writes `satp` with the current mode and root and every ASID
/// bit set, reads it back, restores the previous value and fences everything (the probe must
/// leave no translation tagged with the probe's ASID behind).
#[cfg(target_os = "none")]
pub fn probe_asid_bits() -> u32 {
    let previous = read_satp();
    let probe = previous | (0xffff << SATP_ASID_SHIFT);
    let read_back: u64;
    // SAFETY: the same mode and root stay installed (only the ASID tag changes, for three
    // instructions of kernel code whose translations are global), and the previous value is
    // restored and fenced before anything else runs.
    unsafe {
        core::arch::asm!(
            probe_satp!(),
            in(reg) probe,
            out(reg) read_back,
            in(reg) previous,
            options(nostack),
        );
    }
    asid_bits_of(read_back)
}

/// Installs the table at `root` in `mode` with a non-zero `asid` **without fencing**: the
/// translations this hart holds for `asid` stay valid (Linux's `set_mm_asid` does the same).
/// Reads the mode back like [`switch_to`].
///
/// # Errors
///
/// [`ActivateError::ModeNotSupported`] (old `satp` restored and fenced).
///
/// # Safety
///
/// As [`switch_to`]; moreover every translation this hart caches for `asid` must be one of
/// this table's (an ASID allocator guarantees it, or asks for a full fence first).
#[cfg(target_os = "none")]
pub unsafe fn switch_keeping_asid(
    mode: TranslationMode,
    root: PhysAddr,
    asid: u16,
) -> Result<(), ActivateError> {
    let value = satp_value(mode, asid, root);
    let (previous, read_back): (u64, u64);
    // SAFETY: the caller guarantees the new table maps everything the hart uses next and that
    // the cached translations of `asid` are its own.
    unsafe {
        core::arch::asm!(
            switch_satp_keep_asid!(),
            in(reg) value,
            out(reg) previous,
            out(reg) read_back,
            options(nostack),
        );
    }
    if mode_took(value, read_back) {
        return Ok(());
    }
    // SAFETY: as in `switch_to`.
    unsafe {
        core::arch::asm!(restore_satp!(), in(reg) previous, options(nostack));
    }
    Err(ActivateError::ModeNotSupported)
}

/// The current `satp` value of this hart.
#[cfg(target_os = "none")]
pub fn read_satp() -> u64 {
    let value: u64;
    // SAFETY: reading `satp` in S-mode has no side effect.
    unsafe {
        core::arch::asm!("csrr {0}, satp", out(reg) value, options(nomem, nostack));
    }
    value
}
