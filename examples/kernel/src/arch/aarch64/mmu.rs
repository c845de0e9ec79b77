//! The EL1&0 stage-1 MMU set-up. The boot code (`boot.rs`) turns the MMU on before any Rust code
//! runs, with the values below: `MAIR_EL1` matching the ISA crate's attribute indices,
//! `TCR_EL1` (48-bit halves, 4 KiB granules, write-back inner-shareable walks for both halves,
//! TTBR1 walks on, IPS from `ID_AA64MMFR0_EL1`), the boot mapping in `TTBR0_EL1` (identity) and
//! `TTBR1_EL1` (the upper half), then `SCTLR_EL1.M | C | I`. [`enable_kernel_space`] then puts
//! the kernel space into `TTBR1_EL1` through the ISA crate's `registers::switch_kernel_root`;
//! user spaces go into `TTBR0_EL1` through `PagingArch::activate`.
//!
//! # PAN
//!
//! Privileged access never is set up after the kernel space is on, in `user_access.rs`: where
//! the CPU has FEAT_PAN the kernel runs with `PSTATE.PAN = 1` and `SCTLR_EL1.SPAN = 0`, so
//! every exception entry sets PAN again. The fault decoder reads `PAN` from the saved
//! `SPSR_EL1`.

use alloc::format;
use alloc::string::String;

use vmlayer_paging::PhysAddr;

const TCR_T0SZ_48_BIT: u64 = 16;
const TCR_IRGN0_WRITE_BACK: u64 = 1 << 8;
const TCR_ORGN0_WRITE_BACK: u64 = 1 << 10;
const TCR_SH0_INNER: u64 = 3 << 12;
const TCR_T1SZ_48_BIT: u64 = 16 << 16;
/// `EPD1`, bit 23: set, a TLB miss on an upper-half address faults instead of walking TTBR1.
/// The boot code leaves it clear.
const TCR_EPD1_NO_WALKS: u64 = 1 << 23;
const TCR_IRGN1_WRITE_BACK: u64 = 1 << 24;
const TCR_ORGN1_WRITE_BACK: u64 = 1 << 26;
const TCR_SH1_INNER: u64 = 3 << 28;
const TCR_TG1_4K: u64 = 2 << 30;
/// Where the boot code puts `ID_AA64MMFR0_EL1.PARange` (bits 2:0): `TCR_EL1.IPS`.
pub(super) const TCR_IPS_SHIFT: u64 = 32;

/// `TCR_EL1` as the boot code writes it, without `IPS` and `AS`: both halves 48-bit with 4 KiB
/// granules, write-back inner-shareable walks, TTBR1 walks on (`EPD1` clear), the ASID taken
/// from `TTBR0_EL1` (`A1` clear). The boot code adds `IPS` from `ID_AA64MMFR0_EL1.PARange` and
/// `AS` (16-bit ASIDs) where `ID_AA64MMFR0_EL1.ASIDBits` says the CPU has them.
pub(super) const BOOT_TCR: u64 = TCR_T0SZ_48_BIT
    | TCR_IRGN0_WRITE_BACK
    | TCR_ORGN0_WRITE_BACK
    | TCR_SH0_INNER
    | TCR_T1SZ_48_BIT
    | TCR_IRGN1_WRITE_BACK
    | TCR_ORGN1_WRITE_BACK
    | TCR_SH1_INNER
    | TCR_TG1_4K;

/// `SCTLR_EL1.M | C | I`: the MMU, the data and the instruction caches on.
pub(super) const SCTLR_MMU_AND_CACHES: u64 = (1 << 0) | (1 << 2) | (1 << 12);

/// Makes `root` the kernel space: `TTBR1_EL1`, through the ISA crate's
/// `registers::switch_kernel_root` (which drops this CPU's TLB). The boot mapping's identity
/// map stays in `TTBR0_EL1` until the first user space replaces it.
///
/// # Safety
/// `root` must be the root of a complete table that maps the running kernel (code, stack,
/// data, devices) at its current upper-half addresses, and must stay alive (and installed)
/// until the kernel exits.
pub(crate) unsafe fn enable_kernel_space(root: PhysAddr) {
    // SAFETY: forwarded contract. Both the boot mapping and the kernel space map the code
    // running here at the same addresses (strictly, Arm asks for this switch to run from the
    // identity map, as Linux's `cpu_replace_ttbr1` does, so that no TLB holds a boot block and
    // a kernel page for one address at once; QEMU models no TLB conflicts).
    unsafe { vmlayer_paging::isa::registers::switch_kernel_root(root) };
}

/// `TTBR1_EL1` and `TCR_EL1` as read back, for the boot log.
///
/// # Panics
/// If `TCR_EL1` does not let the CPU walk `TTBR1_EL1` with 48-bit upper addresses.
pub(crate) fn kernel_half_registers() -> String {
    let tcr: u64;
    // SAFETY: reading TCR_EL1 at EL1 has no side effect.
    unsafe { core::arch::asm!("mrs {0}, tcr_el1", out(reg) tcr, options(nomem, nostack)) };
    assert!(
        tcr & TCR_EPD1_NO_WALKS == 0 && (tcr >> 16) & 0x3f == 16,
        "TCR_EL1 {tcr:#x}: TTBR1 walks off or not 48-bit"
    );
    format!(
        "kernel half: TTBR1_EL1 {:#x}, TCR_EL1 {tcr:#x} (EPD1 clear, T1SZ 16)",
        vmlayer_paging::isa::registers::read_ttbr1()
    )
}
