//! Kernel access to user pages: with FEAT_PAN (Armv8.1), `PSTATE.PAN = 1` makes EL1 loads and
//! stores to EL0-accessible pages fault with a permission fault (Arm ARM D8.4.3, "Privileged
//! access never"); EL1 never executes them (`PXN` on user pages). With `SCTLR_EL1.SPAN = 0`
//! every exception taken to EL1 sets PAN again (as Linux configures it), so returning from
//! user mode cannot leave it off.

/// `ID_AA64MMFR1_EL1.PAN`, bits 23:20: non-zero when FEAT_PAN is implemented.
const MMFR1_PAN_SHIFT: u64 = 20;
/// `SCTLR_EL1.SPAN` (bit 23): 0 = set PAN on exception entry to EL1.
const SCTLR_SPAN: u64 = 1 << 23;
/// `PAN` (bit 22) in the value of the PAN system register (`S3_0_C4_C2_3`).
const PAN_BIT: u64 = 1 << 22;

/// Whether the CPU implements FEAT_PAN.
fn has_pan() -> bool {
    let mmfr1: u64;
    // SAFETY: reading an ID register has no side effect.
    unsafe {
        core::arch::asm!("mrs {0}, id_aa64mmfr1_el1", out(reg) mmfr1, options(nomem, nostack))
    };
    (mmfr1 >> MMFR1_PAN_SHIFT) & 0xf != 0
}

/// Sets PAN and clears SPAN where the CPU has FEAT_PAN. Returns what this kernel enforces,
/// for the boot log.
pub(crate) fn protect_user_memory() -> &'static str {
    if !has_pan() {
        return "no PAN on this CPU: the kernel can touch user pages";
    }
    // SAFETY: PAN only restricts EL1's access to EL0 pages, which no kernel path relies on;
    // clearing SPAN makes exception entry set PAN. The PAN register is written by its generic
    // name (S3_0_C4_C2_3) so no assembler extension is needed.
    unsafe {
        core::arch::asm!(
            "mrs {value}, sctlr_el1",
            "bic {value}, {value}, {span}",
            "msr sctlr_el1, {value}",
            "msr s3_0_c4_c2_3, {pan}",
            "isb",
            value = out(reg) _,
            span = in(reg) SCTLR_SPAN,
            pan = in(reg) PAN_BIT,
            options(nostack),
        );
    }
    "PSTATE.PAN = 1, SCTLR_EL1.SPAN = 0"
}

/// Whether a kernel load or store to a user page faults right now (PAN set).
pub(crate) fn user_memory_blocked() -> bool {
    if !has_pan() {
        return false;
    }
    let pan: u64;
    // SAFETY: reading PAN has no side effect (the CPU implements it, checked above).
    unsafe { core::arch::asm!("mrs {0}, s3_0_c4_c2_3", out(reg) pan, options(nomem, nostack)) };
    pan & PAN_BIT != 0
}
