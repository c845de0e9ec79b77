//! The MMU state as a RISC-V hart reads it (Privileged Architecture §4.1.11 `satp`, §4.3–4.5
//! Sv39/Sv48 entries, Svpbmt), for `crate::hardware`: written from the manual, not from our
//! crates.

use alloc::format;
use alloc::string::String;

use crate::hardware::{MemoryType, RawEntry, TranslationRoot};

/// The levels this build asks `vmlayer_paging` for: Sv48 (4) with the kernel feature `sv48`,
/// else Sv39 (3).
pub(crate) const BUILD_LEVELS: usize = if cfg!(feature = "sv48") { 4 } else { 3 };

/// What the DEVICE mappings (the UART, sifive_test) must select: `PBMT = IO` with the kernel
/// feature `svpbmt`; without it no memory type (the platform's PMAs make MMIO device memory).
pub(crate) const DEVICE_MEMORY: MemoryType = if cfg!(feature = "svpbmt") {
    MemoryType::Device
} else {
    MemoryType::Platform
};

/// What normal RAM mappings select: no memory type (`PBMT = 0`, the PMAs: main memory).
pub(crate) const NORMAL_MEMORY: MemoryType = MemoryType::Platform;

const VALID: u64 = 1 << 0;
const READ_WRITE_EXECUTE: u64 = 0b1110;
const PPN_MASK: u64 = (1 << 44) - 1;
const PBMT_SHIFT: u32 = 61;

/// `satp`: MODE (63:60) and the root's PPN (43:0), for every address: one
/// root translates both halves.
pub(crate) fn translation_root(_vaddr: usize) -> Result<TranslationRoot, String> {
    let satp: u64;
    // SAFETY: reading `satp` in S-mode has no side effect.
    unsafe { core::arch::asm!("csrr {0}, satp", out(reg) satp, options(nomem, nostack)) };
    let mode = satp >> 60;
    let (levels, name) = match mode {
        8 => (3, "Sv39"),
        9 => (4, "Sv48"),
        10 => (5, "Sv57"),
        _ => return Err(format!("satp = {satp:#x}: MODE {mode} is not a paged mode")),
    };
    Ok(TranslationRoot {
        root: ((satp & PPN_MASK) << 12) as usize,
        levels,
        register: format!("satp.MODE = {mode} ({name})"),
    })
}

/// `V = 0`: invalid; `R = W = X = 0`: a pointer to the next table (invalid at level 0); else a
/// leaf. The PPN is bits 53:10.
pub(crate) fn classify_entry(entry: u64, level: usize) -> RawEntry {
    let paddr = (((entry >> 10) & PPN_MASK) << 12) as usize;
    if entry & VALID == 0 {
        RawEntry::Invalid
    } else if entry & READ_WRITE_EXECUTE != 0 {
        RawEntry::Leaf(paddr)
    } else if level > 0 {
        RawEntry::Table(paddr)
    } else {
        RawEntry::Invalid
    }
}

/// Svpbmt's `PBMT` field (bits 62:61): 0 PMA, 1 NC, 2 IO, 3 reserved. A hart without Svpbmt
/// faults on any leaf with these bits set.
pub(crate) fn memory_type(entry: u64, _level: usize) -> (MemoryType, String) {
    let pbmt = (entry >> PBMT_SHIFT) & 0b11;
    let memory_type = match pbmt {
        0 => MemoryType::Platform,
        2 => MemoryType::Device,
        other => MemoryType::Other(other),
    };
    let name = ["PMA", "NC", "IO", "reserved"][pbmt as usize];
    (memory_type, format!("PBMT = {pbmt} ({name})"))
}
