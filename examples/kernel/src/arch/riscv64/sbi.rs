//! The SBI calls this kernel makes besides what OpenSBI does for it at boot (RISC-V Supervisor
//! Binary Interface Specification v1.0): hart start (HSM) and remote `sfence.vma` (RFENCE).
//!
//! Calling convention (§3 "Binary Encoding"): `ecall` from S-mode with the extension id (EID) in
//! `a7`, the function id (FID) in `a6` and the arguments in `a0..a5`; the SBI implementation
//! returns an error code in `a0` (0 = success, negative = one of §3's standard errors) and a value
//! in `a1`, and preserves every other register.

use core::arch::asm;

/// Hart State Management extension, "HSM" (chapter 9).
const EID_HSM: usize = 0x48_534d;
/// `sbi_hart_start(hartid, start_addr, opaque)` (§9.1).
const FID_HART_START: usize = 0;

/// Remote fence extension, "RFNC" (chapter 8).
const EID_RFENCE: usize = 0x5246_4e43;
/// `sbi_remote_sfence_vma(hart_mask, hart_mask_base, start_addr, size)` (§8.2).
const FID_REMOTE_SFENCE_VMA: usize = 1;
/// `sbi_remote_sfence_vma_asid(hart_mask, hart_mask_base, start_addr, size, asid)` (§8.3).
const FID_REMOTE_SFENCE_VMA_ASID: usize = 2;

/// `SBI_ERR_INVALID_PARAM` (§3, table "Standard SBI Errors").
pub(super) const ERR_INVALID_PARAM: isize = -3;

/// One SBI call: `Ok(value)` on success, `Err(error code)` otherwise.
///
/// # Safety
/// The call must not break what Rust relies on: what it does is the caller's contract (a hart
/// start runs code, a fence only drops TLB entries).
unsafe fn call(extension: usize, function: usize, arguments: [usize; 5]) -> Result<usize, isize> {
    let (error, value): (isize, usize);
    // SAFETY: the SBI calling convention (module docs): the implementation clobbers only a0 and
    // a1; the effect of the call is the caller's contract. No `nomem`: a call may depend on
    // memory written before it (a hart start on its boot record), so the compiler keeps the
    // stores before the `ecall`.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") arguments[0] => error,
            inlateout("a1") arguments[1] => value,
            in("a2") arguments[2],
            in("a3") arguments[3],
            in("a4") arguments[4],
            in("a6") function,
            in("a7") extension,
            options(nostack),
        )
    };
    if error == 0 { Ok(value) } else { Err(error) }
}

/// Asks the SBI implementation to start the stopped hart `hart_id` in S-mode at the physical
/// address `start`, with `satp = 0` (MMU off), `sstatus.SIE = 0`, `a0 = hart_id`,
/// `a1 = opaque` and every other register undefined (§9.1). Returns once the start is
/// requested (the hart may not run yet).
///
/// # Errors
/// The SBI error code: `SBI_ERR_INVALID_ADDRESS` for a start address the hart cannot execute,
/// `SBI_ERR_INVALID_PARAM` for an unknown hart, `SBI_ERR_ALREADY_AVAILABLE` for a hart that
/// already runs, `SBI_ERR_FAILED` otherwise.
///
/// # Safety
/// `start` must be code that runs correctly in that state, and it runs concurrently with the
/// caller from now on.
pub(super) unsafe fn hart_start(hart_id: usize, start: usize, opaque: usize) -> Result<(), isize> {
    // SAFETY: forwarded contract.
    unsafe { call(EID_HSM, FID_HART_START, [hart_id, start, opaque, 0, 0]) }.map(|_| ())
}

/// Makes the harts `hart_mask_base + i` for every bit `i` of `hart_mask` (§3.1 "Hart list
/// parameter") execute `sfence.vma` for the virtual range `start..start + size` (every address
/// when `size` is `usize::MAX`, §8.2), for address space `asid` (`sfence.vma` with that ASID,
/// §8.3) or for every address space (`None`). OpenSBI returns once every target has done it.
///
/// # Errors
/// The SBI error code: `SBI_ERR_INVALID_PARAM` when a hart in the mask is not valid,
/// `SBI_ERR_INVALID_ADDRESS` for a bad range, `SBI_ERR_NOT_SUPPORTED` without the extension.
pub(super) fn remote_sfence_vma(
    hart_mask: usize,
    hart_mask_base: usize,
    start: usize,
    size: usize,
    asid: Option<usize>,
) -> Result<(), isize> {
    let (function, asid) = match asid {
        Some(asid) => (FID_REMOTE_SFENCE_VMA_ASID, asid),
        None => (FID_REMOTE_SFENCE_VMA, 0),
    };
    // SAFETY: a remote fence only drops TLB entries on the target harts; it changes no
    // translation and no memory.
    unsafe {
        call(
            EID_RFENCE,
            function,
            [hart_mask, hart_mask_base, start, size, asid],
        )
    }
    .map(|_| ())
}

/// The name of a standard SBI error code (§3, table "Standard SBI Errors"), for messages.
pub(super) fn error_name(error: isize) -> &'static str {
    match error {
        -1 => "SBI_ERR_FAILED",
        -2 => "SBI_ERR_NOT_SUPPORTED",
        ERR_INVALID_PARAM => "SBI_ERR_INVALID_PARAM",
        -4 => "SBI_ERR_DENIED",
        -5 => "SBI_ERR_INVALID_ADDRESS",
        -6 => "SBI_ERR_ALREADY_AVAILABLE",
        -7 => "SBI_ERR_ALREADY_STARTED",
        -8 => "SBI_ERR_ALREADY_STOPPED",
        _ => "an unknown SBI error",
    }
}
