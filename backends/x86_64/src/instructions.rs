//! CPU identification (CPUID, unprivileged: also run by hosted builds) and the privileged
//! instructions (compiled only for bare metal, `target_os = "none"`).

use core::sync::atomic::{AtomicUsize, Ordering};

#[cfg(target_os = "none")]
use crate::tlb::FlushPlan;

/// `MAXPHYADDR` when CPUID leaf 80000008H is absent (Intel SDM Vol. 3A, §4.1.4 "Enumeration of
/// Paging Features by CPUID": "If CPUID.80000008H is not supported, MAXPHYADDR is 36").
pub const DEFAULT_PHYS_ADDR_BITS: usize = 36;

/// The most physical-address bits a 4-level entry can hold (bits 51:12, SDM Vol. 3A, §4.5).
pub const MAX_PHYS_ADDR_BITS: usize = 52;

/// `CPUID` with `leaf` in EAX (sub-leaf 0).
#[allow(unused_unsafe)] // `__cpuid` is a safe function on recent toolchains, unsafe on older ones
fn cpuid(leaf: u32) -> core::arch::x86_64::CpuidResult {
    // SAFETY: CPUID exists on every x86_64 CPU, is unprivileged and only writes the four
    // registers the intrinsic returns.
    unsafe { core::arch::x86_64::__cpuid(leaf) }
}

/// Whether the CPU supports 1 GiB pages (CPUID.80000001H:EDX.Page1GB\[bit 26\]).
pub fn has_1gib_pages() -> bool {
    let highest_extended = cpuid(0x8000_0000).eax;
    highest_extended >= 0x8000_0001 && cpuid(0x8000_0001).edx & (1 << 26) != 0
}

/// `MAXPHYADDR` from the CPUID values: `highest_extended_leaf` is `CPUID.80000000H:EAX` and
/// `leaf_80000008_eax` is `CPUID.80000008H:EAX` (ignored when that leaf is absent). Bits 7:0 of
/// the latter, or [`DEFAULT_PHYS_ADDR_BITS`] without the leaf (or if it reports 0), capped at
/// [`MAX_PHYS_ADDR_BITS`] (SDM Vol. 3A, §4.1.4).
///
/// ```
/// use vmlayer_x86_64::phys_addr_bits_from_cpuid;
///
/// assert_eq!(phys_addr_bits_from_cpuid(0x8000_0008, 0x3028), 40); // QEMU qemu64
/// assert_eq!(phys_addr_bits_from_cpuid(0x8000_0004, 0x3028), 36); // leaf absent
/// ```
pub const fn phys_addr_bits_from_cpuid(
    highest_extended_leaf: u32,
    leaf_80000008_eax: u32,
) -> usize {
    if highest_extended_leaf < 0x8000_0008 {
        return DEFAULT_PHYS_ADDR_BITS;
    }
    let bits = (leaf_80000008_eax & 0xff) as usize;
    if bits == 0 {
        DEFAULT_PHYS_ADDR_BITS
    } else if bits > MAX_PHYS_ADDR_BITS {
        MAX_PHYS_ADDR_BITS
    } else {
        bits
    }
}

/// The CPU's `MAXPHYADDR`, read once with CPUID and cached (0 = not read yet).
static PHYS_ADDR_BITS: AtomicUsize = AtomicUsize::new(0);

/// The number of physical-address bits this CPU implements (`MAXPHYADDR`, see
/// [`phys_addr_bits_from_cpuid`]), read with CPUID on first use and cached.
///
/// CPUID is unprivileged, so hosted builds (unit tests) read the **host** CPU too: the value
/// there is the host's width (often 39 to 48), not a constant. Under Miri, which cannot run
/// CPUID, it is [`DEFAULT_PHYS_ADDR_BITS`].
pub fn phys_addr_bits() -> usize {
    if cfg!(miri) {
        return crate::DEFAULT_PHYS_ADDR_BITS;
    }
    let cached = PHYS_ADDR_BITS.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    let highest_extended = cpuid(0x8000_0000).eax;
    let leaf_eax = if highest_extended >= 0x8000_0008 {
        cpuid(0x8000_0008).eax
    } else {
        0
    };
    let bits = phys_addr_bits_from_cpuid(highest_extended, leaf_eax);
    PHYS_ADDR_BITS.store(bits, Ordering::Relaxed);
    bits
}

/// `CR4.PGE` (bit 7): global pages enabled (SDM Vol. 3A, §2.5).
#[cfg(target_os = "none")]
const CR4_PGE: u64 = 1 << 7;

/// Executes `plan` on this CPU (see [`crate::tlb`] for the rules).
#[cfg(target_os = "none")]
pub(crate) fn execute_flush_plan(plan: FlushPlan) {
    match plan {
        FlushPlan::InvalidatePages { start, end } => {
            for page in vmlayer_arch::tlb::pages_in(start, end) {
                invlpg(page.as_usize());
            }
        }
        FlushPlan::ReloadCr3 => {
            // SAFETY: reloading CR3 with its current value keeps the same address space.
            unsafe { write_cr3(read_cr3()) }
        }
        FlushPlan::ToggleGlobalPages => {
            let cr4 = read_cr4();
            if cr4 & CR4_PGE != 0 {
                // SAFETY: clearing and restoring CR4.PGE changes no translation, it only drops
                // every TLB and paging-structure-cache entry (SDM Vol. 3A, §4.10.4.1).
                unsafe { write_cr4(cr4 & !CR4_PGE) };
                // SAFETY: as above; restores the value read.
                unsafe { write_cr4(cr4) };
            } else {
                // SAFETY: as for `ReloadCr3`; without PGE no entry is global.
                unsafe { write_cr3(read_cr3()) }
            }
        }
    }
}

/// Invalidates the TLB entries (global ones too) and paging-structure caches for the page at
/// `vaddr`.
#[cfg(target_os = "none")]
fn invlpg(vaddr: usize) {
    // SAFETY: INVLPG only drops cached translations; it cannot change what memory maps to.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) vaddr, options(nostack, preserves_flags)) }
}

/// Reads CR4.
#[cfg(target_os = "none")]
pub fn read_cr4() -> u64 {
    let cr4: u64;
    // SAFETY: reading CR4 at CPL 0 has no side effect.
    unsafe {
        core::arch::asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags))
    }
    cr4
}

/// Writes CR4.
///
/// # Safety
///
/// `value` must be a CR4 value that keeps the CPU's current paging mode (PAE, LA57, PCIDE as
/// they are) and the features the running code relies on.
#[cfg(target_os = "none")]
unsafe fn write_cr4(value: u64) {
    // SAFETY: the caller keeps the paging mode; the write is serializing.
    unsafe { core::arch::asm!("mov cr4, {}", in(reg) value, options(nostack, preserves_flags)) }
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
/// As [`vmlayer_arch::PagingArch::activate`]: `root_paddr` is the root of a complete table that
/// maps everything the CPU uses from here on and stays alive while active.
#[cfg(target_os = "none")]
pub(crate) unsafe fn write_cr3(root_paddr: memory_addr::PhysAddr) {
    let value = root_paddr.as_usize() as u64 & crate::ENTRY_ADDRESS_MASK;
    // SAFETY: the caller guarantees the new table is valid; the write is a full barrier.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) value, options(nostack, preserves_flags)) }
}
