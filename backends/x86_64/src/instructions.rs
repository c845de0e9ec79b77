//! The privileged instructions, compiled only for bare metal (`target_os = "none"`).

use paging_arch::TlbFlush;

/// Whether the CPU supports 1 GiB pages (CPUID.80000001H:EDX.Page1GB\[bit 26\]).
pub fn has_1gib_pages() -> bool {
    let highest_extended = core::arch::x86_64::__cpuid(0x8000_0000).eax;
    highest_extended >= 0x8000_0001 && core::arch::x86_64::__cpuid(0x8000_0001).edx & (1 << 26) != 0
}

/// Flushes this CPU's TLB: `INVLPG` per page for a page or range, a CR3 reload (every
/// non-global entry; this layer creates no global entries and uses no PCIDs) for everything.
/// A no-op on hosted builds.
#[cfg_attr(
    not(target_os = "none"),
    expect(unused_variables, reason = "no TLB to flush")
)]
pub(crate) fn flush_tlb_local(flush: TlbFlush) {
    #[cfg(target_os = "none")]
    match flush {
        TlbFlush::Page(vaddr) => invlpg(vaddr.as_usize() & !0xfff),
        TlbFlush::Range { start, end } => {
            for page in paging_arch::tlb::pages_in(start, end) {
                invlpg(page.as_usize());
            }
        }
        TlbFlush::All => {
            // SAFETY: reloading CR3 with its current value keeps the same address space.
            unsafe { write_cr3(read_cr3()) }
        }
    }
}

/// Invalidates the TLB entries (and paging-structure caches) for the page at `vaddr`.
#[cfg(target_os = "none")]
fn invlpg(vaddr: usize) {
    // SAFETY: INVLPG only drops cached translations; it cannot change what memory maps to.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) vaddr, options(nostack, preserves_flags)) }
}

/// Reads the root table address from CR3 (without the PCID / PWT / PCD bits).
#[cfg(target_os = "none")]
pub(crate) fn read_cr3() -> memory_addr::PhysAddr {
    let cr3: u64;
    // SAFETY: reading CR3 has no side effect.
    unsafe {
        core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags))
    }
    memory_addr::PhysAddr::from((cr3 & crate::ENTRY_ADDRESS_MASK) as usize)
}

/// Loads CR3 with `root_paddr` (PCID 0), which flushes every non-global TLB entry.
///
/// # Safety
///
/// As [`paging_arch::PagingArch::activate`]: `root_paddr` is the root of a complete table that
/// maps everything the CPU uses from here on and stays alive while active.
#[cfg(target_os = "none")]
pub(crate) unsafe fn write_cr3(root_paddr: memory_addr::PhysAddr) {
    let value = root_paddr.as_usize() as u64 & crate::ENTRY_ADDRESS_MASK;
    // SAFETY: the caller guarantees the new table is valid; the write is a full barrier.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) value, options(nostack, preserves_flags)) }
}
