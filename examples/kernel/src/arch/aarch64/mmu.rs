//! Turning the EL1&0 stage-1 MMU on: MAIR_EL1 matching the ISA crate's attribute indices,
//! TCR_EL1 (48-bit halves, 4 KiB granules, TTBR1 walks still disabled), TTBR0_EL1 through the
//! ISA crate's `activate`, then SCTLR_EL1.M|C|I. Then [`enable_kernel_half`] loads the kernel
//! half into TTBR1_EL1 through the ISA crate's `registers::switch_kernel_root` and turns TTBR1
//! walks on (clears `TCR_EL1.EPD1`).
//!
//! The kernel's own code, data and stack stay in the lower half (identity-mapped in every
//! TTBR0 table); the kernel half holds the linear map of RAM at
//! [`KERNEL_LINEAR_BASE`](super::KERNEL_LINEAR_BASE).
//!
//! # PAN
//!
//! Privileged access never is set up after the MMU is on, in `user_access.rs`: where the CPU
//! has FEAT_PAN the kernel runs with `PSTATE.PAN = 1` and `SCTLR_EL1.SPAN = 0`, so every
//! exception entry sets PAN again. The fault decoder reads `PAN` from the saved `SPSR_EL1`.

use vmlayer_arch::{PagingArch, PhysAddr};

const TCR_T0SZ_48_BIT: u64 = 16;
const TCR_IRGN0_WRITE_BACK: u64 = 1 << 8;
const TCR_ORGN0_WRITE_BACK: u64 = 1 << 10;
const TCR_SH0_INNER: u64 = 3 << 12;
const TCR_T1SZ_48_BIT: u64 = 16 << 16;
/// `EPD1`, bit 23: a TLB miss on an upper-half address faults instead of walking TTBR1.
const TCR_EPD1_NO_WALKS: u64 = 1 << 23;
const TCR_IRGN1_WRITE_BACK: u64 = 1 << 24;
const TCR_ORGN1_WRITE_BACK: u64 = 1 << 26;
const TCR_SH1_INNER: u64 = 3 << 28;
const TCR_TG1_4K: u64 = 2 << 30;
const TCR_IPS_SHIFT: u64 = 32;

const SCTLR_MMU: u64 = 1 << 0;
const SCTLR_DATA_CACHE: u64 = 1 << 2;
const SCTLR_INSTRUCTION_CACHE: u64 = 1 << 12;

/// Turns the MMU on with the lower-half table at `root`.
///
/// # Safety
/// `root` must map the running kernel (code, stack, data, devices) at its current addresses.
pub(crate) unsafe fn enable_mmu(root: PhysAddr) -> Result<(), vmlayer_arch::ActivateError> {
    let physical_range: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe { core::arch::asm!("mrs {0}, id_aa64mmfr0_el1", out(reg) physical_range) };
    let tcr = TCR_T0SZ_48_BIT
        | TCR_IRGN0_WRITE_BACK
        | TCR_ORGN0_WRITE_BACK
        | TCR_SH0_INNER
        | TCR_T1SZ_48_BIT
        | TCR_EPD1_NO_WALKS
        | TCR_IRGN1_WRITE_BACK
        | TCR_ORGN1_WRITE_BACK
        | TCR_SH1_INNER
        | TCR_TG1_4K
        | ((physical_range & 0b111) << TCR_IPS_SHIFT);
    // SAFETY: the MMU is still off, so MAIR and TCR take effect only with the first table.
    unsafe {
        core::arch::asm!(
            "msr mair_el1, {mair}",
            "msr tcr_el1, {tcr}",
            "isb",
            mair = in(reg) vmlayer_aarch64::entry::MAIR_VALUE,
            tcr = in(reg) tcr,
        );
    }
    // SAFETY: forwarded contract; `activate` writes TTBR0_EL1 and flushes the TLB.
    unsafe { <vmlayer_paging::Arch as PagingArch>::activate(root) }?;
    // SAFETY: the table identity-maps everything the kernel touches, so turning translation on
    // does not move the instruction stream.
    unsafe {
        core::arch::asm!(
            "mrs {value}, sctlr_el1",
            "orr {value}, {value}, {bits}",
            "msr sctlr_el1, {value}",
            "isb",
            value = out(reg) _,
            bits = in(reg) SCTLR_MMU
                | SCTLR_DATA_CACHE
                | SCTLR_INSTRUCTION_CACHE
               ,
        );
    }
    Ok(())
}

/// Makes `root` the kernel half (`TTBR1_EL1`, through the ISA crate's
/// `registers::switch_kernel_root`) and turns TTBR1 walks on: clears `TCR_EL1.EPD1`, then drops
/// this CPU's TLB (TCR fields may be held in TLB entries). Returns `TCR_EL1` as read back.
///
/// # Safety
/// The MMU must be on ([`enable_mmu`]); `root` must be the root of a complete table holding
/// upper-half addresses only, and must stay alive (and installed) until the kernel exits.
pub(crate) unsafe fn enable_kernel_half(root: PhysAddr) -> u64 {
    // SAFETY: forwarded contract; nothing uses an upper-half address yet (EPD1 is still set).
    unsafe { vmlayer_aarch64::registers::switch_kernel_root(root) };
    let tcr: u64;
    // SAFETY: TTBR1_EL1 now holds a complete table, so enabling its walks cannot make the CPU
    // read garbage; the kernel runs in the lower half, whose translation this does not change.
    unsafe {
        core::arch::asm!(
            "mrs {value}, tcr_el1",
            "bic {value}, {value}, {epd1}",
            "msr tcr_el1, {value}",
            "isb",
            "tlbi vmalle1",
            "dsb ish",
            "isb",
            "mrs {value}, tcr_el1",
            value = out(reg) tcr,
            epd1 = in(reg) TCR_EPD1_NO_WALKS,
            options(nostack),
        );
    }
    tcr
}

/// Whether `TCR_EL1` value `tcr` lets the CPU walk `TTBR1_EL1` (`EPD1` clear) with 48-bit upper
/// addresses (`T1SZ` = 16).
pub(crate) fn kernel_half_walks_enabled(tcr: u64) -> bool {
    tcr & TCR_EPD1_NO_WALKS == 0 && (tcr >> 16) & 0x3f == 16
}
