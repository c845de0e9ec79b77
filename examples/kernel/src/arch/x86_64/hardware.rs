//! The MMU state as an x86_64 CPU reads it (Intel SDM Vol. 3A §4.5 4-level paging, §11.12 PAT),
//! for `crate::hardware`: written from the manual, not from our crates.

use alloc::format;
use alloc::string::String;

use crate::hardware::{MemoryType, RawEntry, TranslationRoot};

/// The levels this build asks for: 4-level paging.
pub(crate) const BUILD_LEVELS: usize = 4;

/// What DEVICE mappings must select: UC.
pub(crate) const DEVICE_MEMORY: MemoryType = MemoryType::Device;

/// What normal RAM mappings select: WB.
pub(crate) const NORMAL_MEMORY: MemoryType = MemoryType::Normal;

/// Physical address bits 51:12 of an entry.
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;
const PRESENT: u64 = 1 << 0;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
/// PS above level 0, PAT at level 0.
const BIT_7: u64 = 1 << 7;
/// PAT in a 2 MiB or 1 GiB leaf.
const LARGE_PAT: u64 = 1 << 12;
const CR4_LA57: u64 = 1 << 12;
const IA32_PAT: u32 = 0x277;

/// `CR3` (root, bits 51:12) and `CR4.LA57` (5-level paging when set).
pub(crate) fn translation_root(_vaddr: usize) -> Result<TranslationRoot, String> {
    let (cr3, cr4): (u64, u64);
    // SAFETY: reading control registers in ring 0 has no side effect.
    unsafe {
        core::arch::asm!("mov {0}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags));
        core::arch::asm!("mov {0}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags));
    }
    let la57 = cr4 & CR4_LA57 != 0;
    Ok(TranslationRoot {
        root: (cr3 & ADDRESS_MASK) as usize,
        levels: if la57 { 5 } else { 4 },
        register: format!("CR4.LA57 = {}", u8::from(la57)),
    })
}

/// `P = 0`: invalid; level 0, or `PS` at levels 1 and 2: a leaf; else a table.
pub(crate) fn classify_entry(entry: u64, level: usize) -> RawEntry {
    let address = (entry & ADDRESS_MASK) as usize;
    if entry & PRESENT == 0 {
        RawEntry::Invalid
    } else if level == 0 {
        RawEntry::Leaf(address)
    } else if entry & BIT_7 != 0 && level <= 2 {
        // Bit 12 of a large leaf is its PAT bit, not an address bit.
        RawEntry::Leaf(address & !((0x1000 << (9 * level)) - 1))
    } else {
        RawEntry::Table(address)
    }
}

/// The PAT index `PAT:PCD:PWT` selects a byte of `IA32_PAT`: type 0 UC, 6 WB.
pub(crate) fn memory_type(entry: u64, level: usize) -> (MemoryType, String) {
    let pat_bit = if level == 0 { BIT_7 } else { LARGE_PAT };
    let index = (u64::from(entry & pat_bit != 0) << 2)
        | (u64::from(entry & CACHE_DISABLE != 0) << 1)
        | u64::from(entry & WRITE_THROUGH != 0);
    let (low, high): (u32, u32);
    // SAFETY: IA32_PAT exists on every x86_64 CPU; reading it in ring 0 has no side effect.
    unsafe {
        core::arch::asm!("rdmsr", in("ecx") IA32_PAT, out("eax") low, out("edx") high,
            options(nomem, nostack, preserves_flags));
    }
    let pat = (u64::from(high) << 32) | u64::from(low);
    let kind = (pat >> (8 * index)) & 0x7;
    let memory_type = match kind {
        0 => MemoryType::Device,
        6 => MemoryType::Normal,
        other => MemoryType::Other(other),
    };
    (
        memory_type,
        format!("PAT index {index} = type {kind} (IA32_PAT {pat:#x})"),
    )
}
