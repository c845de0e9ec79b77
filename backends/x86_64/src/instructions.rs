//! CPU identification (CPUID, unprivileged: also run by hosted builds) and the privileged
//! instructions (compiled only for bare metal, `target_os = "none"`).

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

#[cfg(target_os = "none")]
use crate::tlb::{
    CR3_PCID_MASK, CR4_PCIDE, FlushPlan, InvpcidDescriptor, InvpcidType, PcidState, cr3_value,
};

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

/// `CPUID.01H:ECX.PCID` (bit 17): the CPU implements process-context identifiers
/// (`CR4.PCIDE`; SDM Vol. 3A, §4.10.1 "Process-Context Identifiers (PCIDs)").
pub const CPUID_01_ECX_PCID: u32 = 1 << 17;

/// `CPUID.(EAX=07H,ECX=0):EBX.INVPCID` (bit 10): the CPU implements INVPCID.
pub const CPUID_07_EBX_INVPCID: u32 = 1 << 10;

/// The PCID width: CR3 bits 11:0 (SDM Vol. 3A, §4.10.1).
pub const PCID_BITS: u32 = 12;

/// The ASID (PCID) bits this crate uses on a CPU with these CPUID values: `highest_basic_leaf`
/// is `CPUID.0H:EAX`, `leaf_01_ecx` is `CPUID.01H:ECX` and `leaf_07_ebx` is
/// `CPUID.(EAX=07H,ECX=0):EBX` (ignored when leaf 7 is absent). [`PCID_BITS`] (12) when the CPU
/// has both PCIDs ([`CPUID_01_ECX_PCID`]) and INVPCID ([`CPUID_07_EBX_INVPCID`]), else 0:
/// PCIDs are used only with INVPCID, the one instruction that flushes a PCID other than the
/// current one (a flush request for a space that this CPU ran before but does not run now,
/// see [`crate::tlb`]).
///
/// ```
/// use vmlayer_x86_64::asid_bits_from_cpuid;
///
/// assert_eq!(asid_bits_from_cpuid(0xd, 1 << 17, 1 << 10), 12);
/// assert_eq!(asid_bits_from_cpuid(0xd, 1 << 17, 0), 0, "PCID without INVPCID");
/// assert_eq!(asid_bits_from_cpuid(0x6, 1 << 17, 1 << 10), 0, "no leaf 7");
/// ```
pub const fn asid_bits_from_cpuid(
    highest_basic_leaf: u32,
    leaf_01_ecx: u32,
    leaf_07_ebx: u32,
) -> u32 {
    let pcid = highest_basic_leaf >= 1 && leaf_01_ecx & CPUID_01_ECX_PCID != 0;
    let invpcid = highest_basic_leaf >= 7 && leaf_07_ebx & CPUID_07_EBX_INVPCID != 0;
    if pcid && invpcid { PCID_BITS } else { 0 }
}

/// The cached ASID bits (`u32::MAX` = not read yet).
static ASID_BITS: AtomicU32 = AtomicU32::new(u32::MAX);

/// The ASID (PCID) bits this CPU offers this crate ([`asid_bits_from_cpuid`]), read with CPUID
/// on first use and cached, on bare metal. Hosted builds (and Miri) return 0: no table is ever
/// loaded there, whatever the host CPU implements.
pub fn asid_bits() -> u32 {
    if !cfg!(target_os = "none") || cfg!(miri) {
        return 0;
    }
    let cached = ASID_BITS.load(Ordering::Relaxed);
    if cached != u32::MAX {
        return cached;
    }
    let highest_basic = cpuid(0).eax;
    let leaf_01_ecx = if highest_basic >= 1 { cpuid(1).ecx } else { 0 };
    let leaf_07_ebx = if highest_basic >= 7 { cpuid(7).ebx } else { 0 };
    let bits = asid_bits_from_cpuid(highest_basic, leaf_01_ecx, leaf_07_ebx);
    ASID_BITS.store(bits, Ordering::Relaxed);
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
        FlushPlan::ReloadCr3 => reload_cr3(),
        FlushPlan::ToggleGlobalPages => {
            let cr4 = read_cr4();
            if cr4 & CR4_PGE != 0 {
                // SAFETY: clearing and restoring CR4.PGE changes no translation, it only drops
                // every TLB and paging-structure-cache entry (SDM Vol. 3A, §4.10.4.1).
                unsafe { write_cr4(cr4 & !CR4_PGE) };
                // SAFETY: as above; restores the value read.
                unsafe { write_cr4(cr4) };
            } else {
                // Without PGE no entry is global: a reload drops everything.
                reload_cr3();
            }
        }
        FlushPlan::InvalidatePcidPages { .. }
        | FlushPlan::InvalidatePcid(_)
        | FlushPlan::InvalidateAllPcids => {
            for (kind, descriptor) in plan.invpcids() {
                // SAFETY: `flush_plan` makes INVPCID plans only with `CR4.PCIDE = 1`, which
                // `activate_pcid` sets only on CPUs with INVPCID (its caller's contract:
                // a non-zero PCID only if `asid_bits()` is not 0); the descriptor's PCID has
                // 12 bits and its address is a page of the request's (canonical) range.
                unsafe { invpcid(kind, &descriptor) };
            }
        }
    }
}

/// This CPU's PCID state, from CR4 and CR3 (see [`PcidState::from_registers`]).
#[cfg(target_os = "none")]
pub(crate) fn pcid_state() -> PcidState {
    PcidState::from_registers(read_cr3_raw(), read_cr4())
}

/// Reloads CR3 with its own value: the same root and PCID, bit 63 clear, so the TLB entries
/// (except global ones) and the paging-structure-cache entries of the current PCID go (SDM
/// Vol. 3A, §4.10.4.1, MOV to CR3); PWT / PCD (without PCIDs) and any other bit kept.
#[cfg(target_os = "none")]
fn reload_cr3() {
    // SAFETY: CR3 gets the value it holds (a read never has bit 63 set): same table, same
    // PCID, same attributes; only cached translations go.
    unsafe { write_cr3_raw(read_cr3_raw()) }
}

/// INVPCID of `kind` with `descriptor` (SDM Vol. 2, INVPCID): the type in a 64-bit register,
/// the 16-byte descriptor in memory.
///
/// # Safety
///
/// The CPU implements INVPCID (`CPUID.(EAX=07H,ECX=0):EBX[10]`, else `#UD`), the descriptor's
/// reserved bits are 0 and, for type 0, its address is canonical; for types 0 and 1 with a
/// PCID other than 0, `CR4.PCIDE = 1` (else `#GP`).
#[cfg(target_os = "none")]
unsafe fn invpcid(kind: InvpcidType, descriptor: &InvpcidDescriptor) {
    // SAFETY: the caller guarantees the instruction and its operands are valid; INVPCID only
    // drops cached translations and reads the descriptor.
    unsafe {
        core::arch::asm!(
            "invpcid {0}, [{1}]",
            in(reg) kind as u64,
            in(reg) descriptor as *const InvpcidDescriptor,
            options(nostack, preserves_flags),
        );
    }
}

/// Makes `root` the current table with PCID `pcid` (not 0) without flushing it: sets
/// `CR4.PCIDE` if it is clear, writes CR3 = `root | pcid | 1 << 63` (bit 63: keep the PCID's
/// cached translations; SDM Vol. 3A, §4.10.4.1, MOV to CR3), then, with `flush_local`, drops
/// every non-global translation of every PCID (INVPCID type 3).
///
/// Setting `CR4.PCIDE` needs CR3 bits 11:0 = 0 (SDM Vol. 2, "MOV—Move to/from Control
/// Registers", 64-bit mode exceptions: `#GP(0)` "if an attempt is made to change CR4.PCIDE
/// from 0 to 1 while CR3[11:0] ≠ 000H"; Vol. 3A §4.10.1). While only PCID 0 was used (every earlier root
/// write went through [`write_cr3`], which writes bits 11:0 as 0) this holds; a CR3 that a boot
/// loader wrote with PWT / PCD is reloaded without them first (same table). The change itself
/// flushes nothing (only PCIDE 1 → 0 does), and what was cached before is PCID 0's.
///
/// # Safety
///
/// As [`vmlayer_arch::PagingArch::activate_asid`]: `root` maps everything the CPU uses from
/// here on and stays alive while active; `pcid` is not 0 and this CPU has PCIDs and INVPCID
/// (`asid_bits()` is 12); every translation this CPU holds for `pcid` is a translation of
/// `root` (or `flush_local` is set); the CPU is in IA-32e mode (it is: this is x86_64 code).
#[cfg(target_os = "none")]
pub(crate) unsafe fn activate_pcid(
    root_paddr: memory_addr::PhysAddr,
    pcid: u16,
    flush_local: bool,
) {
    let cr4 = read_cr4();
    if cr4 & CR4_PCIDE == 0 {
        let cr3 = read_cr3_raw();
        if cr3 & CR3_PCID_MASK != 0 {
            // SAFETY: the same root without PWT / PCD (and ignored bits): the same table,
            // now walked write-back; the reload flushes PCID 0's non-global entries only.
            unsafe { write_cr3_raw(cr3 & !CR3_PCID_MASK) };
        }
        // SAFETY: the CPU has PCIDs (the caller's contract), runs in IA-32e mode, and CR3 bits
        // 11:0 are 0 now; setting PCIDE keeps every translation and the paging mode.
        unsafe { write_cr4(cr4 | CR4_PCIDE) };
    }
    // SAFETY: the caller guarantees the table and that what this CPU cached for `pcid` is this
    // table's (or `flush_local` drops it right below, before any access through it); bit 63
    // is allowed since `CR4.PCIDE = 1`.
    unsafe { write_cr3_raw(cr3_value(root_paddr, pcid, true)) };
    if flush_local {
        // After the write, not before: until it, the old root could refill (speculatively,
        // SDM Vol. 3A §4.10.2.3) translations under the old PCID, which a rollover may have
        // given to another space.
        // SAFETY: the CPU has INVPCID (the caller's contract); type 3 ignores the descriptor,
        // whose reserved bits are 0 anyway.
        unsafe {
            invpcid(
                InvpcidType::AllContexts,
                &InvpcidDescriptor::new(0, memory_addr::VirtAddr::from(0)),
            )
        };
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
/// `value` must be a CR4 value that keeps the CPU's current paging mode (PAE, LA57 as they
/// are; PCIDE as it is, or set as [`activate_pcid`] does) and the features the running code
/// relies on.
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

/// CR3 as it is: the root, and PWT / PCD (`CR4.PCIDE = 0`) or the PCID (`CR4.PCIDE = 1`) in
/// bits 11:0.
#[cfg(target_os = "none")]
pub(crate) fn read_cr3_raw() -> u64 {
    let cr3: u64;
    // SAFETY: reading CR3 has no side effect.
    unsafe {
        core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags))
    }
    cr3
}

/// Writes `value` to CR3 as it is.
///
/// # Safety
///
/// `value` selects the root of a complete table that maps everything the CPU uses from here on
/// and stays alive while active; bits 11:0 are 0 unless `CR4.PCIDE = 1` (then a PCID whose
/// cached translations, if bit 63 is set, belong to that table); bit 63 only with
/// `CR4.PCIDE = 1`.
#[cfg(target_os = "none")]
unsafe fn write_cr3_raw(value: u64) {
    // SAFETY: the caller guarantees the value; the write is serializing.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) value, options(nostack, preserves_flags)) }
}

/// Loads CR3 with `root_paddr` (PCID 0, bit 63 clear), which flushes every non-global TLB
/// entry of PCID 0 (with `CR4.PCIDE = 0`: every non-global entry).
///
/// # Safety
///
/// As [`vmlayer_arch::PagingArch::activate`]: `root_paddr` is the root of a complete table that
/// maps everything the CPU uses from here on and stays alive while active.
#[cfg(target_os = "none")]
pub(crate) unsafe fn write_cr3(root_paddr: memory_addr::PhysAddr) {
    // SAFETY: the caller guarantees the new table is valid; PCID 0 and bit 63 clear are valid
    // in both PCID modes.
    unsafe { write_cr3_raw(cr3_value(root_paddr, 0, false)) }
}
