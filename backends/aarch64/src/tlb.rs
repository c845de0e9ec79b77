//! TLB maintenance with `TLBI`, broadcast to the Inner Shareable domain.
//!
//! # ASIDs
//!
//! Every address space runs with ASID 0 ([`crate::registers`] writes `TTBR0_EL1.ASID = 0`).
//! Flushes therefore ignore ASIDs: by address, `TLBI VAAE1IS` (all ASIDs, all levels of the
//! walk, global entries included); in full, `TLBI VMALLE1IS`. For kernels that tag address
//! spaces with real ASIDs, [`flush_page_in_address_space`] (`TLBI VAE1IS`) drops one address
//! of one ASID (and global entries for it).
//!
//! The all-levels forms (not `VAALE1IS`, last level only) are used because the same request
//! covers freed page-table pages: a leaf-only invalidation would leave walk-cache entries that
//! point into a freed table. So `TlbFlushRequest::tables_changed` needs nothing more here.
//!
//! `TlbFlushRequest::global_changed` needs nothing more either: `TLBI VAAE1IS` invalidates the
//! address "for all ASID values", global entries included, and `TLBI VMALLE1IS` every stage-1
//! EL1&0 entry, global or not (Arm ARM, the `TLBI VAAE1IS` and `TLBI VMALLE1IS` instruction
//! descriptions in C5.5 "A64 system instructions for TLB maintenance"). A range longer than
//! `vmlayer_arch::FLUSH_ALL_THRESHOLD_PAGES` already reaches us as `TlbFlush::All`, i.e. one
//! `VMALLE1IS`.
//!
//! Every sequence is `DSB ISHST` (the descriptor stores reach the walkers of all CPUs before the
//! invalidation), the `TLBI`s, `DSB ISH` (the invalidation has completed on every CPU of the
//! Inner Shareable domain) and `ISB` (this CPU refetches with the new translations). Because
//! the `IS` forms are broadcast by hardware, no IPI is needed on AArch64: the "local" flush
//! already covers every CPU.
//!
//! Only bare-metal builds (`target_os = "none"`) execute the instructions; elsewhere (hosted unit
//! tests under qemu-user, where EL0 cannot execute them) every function is a no-op.

use memory_addr::VirtAddr;
use vmlayer_arch::TlbFlush;

#[cfg(test)]
mod tests;

/// The `TLBI` by-address operand: `VA[55:12]` in bits 43:0 and the ASID in bits 63:48.
///
/// ```
/// use vmlayer_aarch64::VirtAddr;
/// use vmlayer_aarch64::tlb::tlbi_operand;
///
/// assert_eq!(tlbi_operand(VirtAddr::from(0xffff_0000_4020_3000), 5), 0x0005_0ff0_0004_0203);
/// ```
pub const fn tlbi_operand(vaddr: VirtAddr, asid: u16) -> u64 {
    (((vaddr.as_usize() as u64) >> 12) & ((1 << 44) - 1)) | ((asid as u64) << 48)
}

/// Drops the translation of the page or block containing `vaddr` in every ASID and every CPU.
#[inline]
pub fn flush_page(vaddr: VirtAddr) {
    #[cfg(target_os = "none")]
    // SAFETY: DSB, TLBI and ISB only order memory accesses and drop cached translations; a
    // bare-metal build of this crate runs at EL1, where they are permitted.
    unsafe {
        core::arch::asm!(
            tlbi_page_all_asids!(),
            in(reg) tlbi_operand(vaddr, 0),
            options(nostack),
        );
    }
    #[cfg(not(target_os = "none"))]
    let _ = vaddr;
}

/// Drops the translation of `vaddr` tagged with `asid` (and global translations of it), on
/// every CPU: `TLBI VAE1IS`. Not used by this crate's ASID-0 policy; offered to kernels that
/// assign real ASIDs.
pub fn flush_page_in_address_space(vaddr: VirtAddr, asid: u16) {
    #[cfg(target_os = "none")]
    // SAFETY: as in `flush_page`.
    unsafe {
        core::arch::asm!(
            tlbi_page_one_asid!(),
            in(reg) tlbi_operand(vaddr, asid),
            options(nostack),
        );
    }
    #[cfg(not(target_os = "none"))]
    let _ = (vaddr, asid);
}

/// Drops the translations of every page in `[start, end)` in every ASID on every CPU, with one
/// barrier pair around all the `TLBI`s.
pub fn flush_range(start: VirtAddr, end: VirtAddr) {
    #[cfg(target_os = "none")]
    // SAFETY: as in `flush_page`.
    unsafe {
        core::arch::asm!(tlbi_range_begin!(), options(nostack));
    }
    for page in vmlayer_arch::tlb::pages_in(start, end) {
        #[cfg(target_os = "none")]
        // SAFETY: as in `flush_page`.
        unsafe {
            core::arch::asm!(
                tlbi_range_page!(),
                in(reg) tlbi_operand(page, 0),
                options(nostack),
            );
        }
        #[cfg(not(target_os = "none"))]
        let _ = page;
    }
    #[cfg(target_os = "none")]
    // SAFETY: as in `flush_page`.
    unsafe {
        core::arch::asm!(tlbi_range_end!(), options(nostack));
    }
}

/// Drops every stage-1 EL1&0 translation, global ones included, on every CPU:
/// `DSB ISHST; TLBI VMALLE1IS; DSB ISH; ISB`.
#[inline]
pub fn flush_all() {
    #[cfg(target_os = "none")]
    // SAFETY: as in `flush_page`.
    unsafe {
        core::arch::asm!(tlbi_all!(), options(nostack));
    }
}

/// Carries out `flush` (on every CPU, see the module docs).
pub fn flush(flush: TlbFlush) {
    match flush {
        TlbFlush::Page(vaddr) => flush_page(vaddr),
        TlbFlush::Range { start, end } => flush_range(start, end),
        TlbFlush::All => flush_all(),
    }
}
