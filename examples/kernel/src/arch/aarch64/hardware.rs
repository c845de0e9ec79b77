//! The MMU state as an AArch64 CPU reads it (Arm ARM D8: `TCR_EL1`, `TTBR0_EL1`, VMSAv8-64
//! descriptors with the 4 KiB granule, `MAIR_EL1`), for `crate::hardware`: written from the
//! manual, not from our crates.

use alloc::format;
use alloc::string::String;

use crate::hardware::{MemoryType, RawEntry, TranslationRoot};

/// The levels this build asks for: 48-bit lower half with 4 KiB granules, 4 levels.
pub(crate) const BUILD_LEVELS: usize = 4;

/// What the DEVICE mapping (the PL011) must select: a Device memory attribute.
pub(crate) const DEVICE_MEMORY: MemoryType = MemoryType::Device;

/// What normal RAM mappings select: Normal write-back memory.
pub(crate) const NORMAL_MEMORY: MemoryType = MemoryType::Normal;

/// Output address, bits 47:12.
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

fn tcr_el1() -> u64 {
    let value: u64;
    // SAFETY: reading a system register at EL1 has no side effect.
    unsafe { core::arch::asm!("mrs {0}, tcr_el1", out(reg) value, options(nomem, nostack)) };
    value
}

fn ttbr0_el1() -> u64 {
    let value: u64;
    // SAFETY: as above.
    unsafe { core::arch::asm!("mrs {0}, ttbr0_el1", out(reg) value, options(nomem, nostack)) };
    value
}

fn ttbr1_el1() -> u64 {
    let value: u64;
    // SAFETY: as above.
    unsafe { core::arch::asm!("mrs {0}, ttbr1_el1", out(reg) value, options(nomem, nostack)) };
    value
}

fn mair_el1() -> u64 {
    let value: u64;
    // SAFETY: as above.
    unsafe { core::arch::asm!("mrs {0}, mair_el1", out(reg) value, options(nomem, nostack)) };
    value
}

/// The root register that translates `vaddr`: `TTBR0_EL1` with `TCR_EL1.T0SZ` / `TG0` for a
/// lower-half address (the user space), `TTBR1_EL1` with `T1SZ` / `TG1` for an upper-half one
/// (the kernel space). A 4 KiB granule walk of `64 - TnSZ` bits starts at level
/// `ceil((64 - TnSZ - 12) / 9) - 1`.
pub(crate) fn translation_root(vaddr: usize) -> Result<TranslationRoot, String> {
    let tcr = tcr_el1();
    let upper = vaddr >> 63 == 1;
    let (name, size, granule, granule_4k, ttbr) = if upper {
        (
            "T1SZ",
            (tcr >> 16) & 0x3f,
            (tcr >> 30) & 0b11,
            2,
            ttbr1_el1(),
        )
    } else {
        ("T0SZ", tcr & 0x3f, (tcr >> 14) & 0b11, 0, ttbr0_el1())
    };
    if granule != granule_4k {
        return Err(format!(
            "TCR_EL1 {tcr:#x}: the {} half's granule is not 4 KiB",
            if upper { "upper" } else { "lower" }
        ));
    }
    let va_bits = 64 - size as usize;
    let levels = (va_bits - 12).div_ceil(9);
    let half = if upper {
        "upper half, TTBR1_EL1"
    } else {
        "lower half, TTBR0_EL1"
    };
    Ok(TranslationRoot {
        root: (ttbr & ADDRESS_MASK) as usize,
        levels,
        register: format!("TCR_EL1.{name} = {size} ({va_bits}-bit {half}, 4 KiB granule)"),
    })
}

/// Bits 1:0: `0b11` a table (levels 3–1) or a page (level 0), `0b01` a block (levels 2 and 1),
/// anything else invalid.
pub(crate) fn classify_entry(entry: u64, level: usize) -> RawEntry {
    let address = (entry & ADDRESS_MASK) as usize;
    match (entry & 0b11, level) {
        (0b11, 0) => RawEntry::Leaf(address),
        (0b11, _) => RawEntry::Table(address),
        (0b01, 1 | 2) => RawEntry::Leaf(address & !((0x1000 << (9 * level)) - 1)),
        _ => RawEntry::Invalid,
    }
}

/// `AttrIndx` (bits 4:2) selects an attribute of `MAIR_EL1`: `0b0000_dd00` is Device (`0x04`
/// nGnRE), `0xff` Normal write-back (inner and outer, read/write-allocate).
pub(crate) fn memory_type(entry: u64, _level: usize) -> (MemoryType, String) {
    let index = (entry >> 2) & 0b111;
    let attribute = (mair_el1() >> (8 * index)) & 0xff;
    let memory_type = match attribute {
        0x00 | 0x04 | 0x08 | 0x0c => MemoryType::Device,
        0xff => MemoryType::Normal,
        other => MemoryType::Other(other),
    };
    (
        memory_type,
        format!("AttrIndx {index} = MAIR_EL1 attribute {attribute:#04x}"),
    )
}
