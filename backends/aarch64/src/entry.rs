//! VMSAv8-64 stage-1 descriptors (4 KiB granule): [`MappingFlags`] ↔ descriptor bits, table
//! descriptors and PROT_NONE.
//!
//! Block and page descriptor fields used here (Arm ARM D8.3, "Translation table descriptor
//! formats"):
//!
//! | bits  | 58:55    | 54  | 53  | 47:12          | 11 | 10 | 9:8 | 7:6       | 4:2      | 1    | 0     |
//! |-------|----------|-----|-----|----------------|----|----|-----|-----------|----------|------|-------|
//! | field | software | UXN | PXN | output address | nG | AF | SH  | `AP[2:1]` | AttrIndx | type | valid |
//!
//! `type` (bit 1) is 1 for a page at lookup level 3 (our level 0) and for a table pointer at
//! levels 0–2, 0 for a block at levels 1–2 (our levels 2 and 1).
//!
//! # Translation rules
//!
//! - `AP[2:1]`: `AP[1]` (bit 6) = `USER` (EL0 access), `AP[2]` (bit 7) = not `WRITE`. There is
//!   no write-only or (at EL1) execute-only encoding, so every leaf is readable: `READ` is
//!   granted with `WRITE` or `EXECUTE`. User execute-only (`AP = 00`, `UXN = 0`) exists but
//!   would leave the page writable from EL1, so it is not used.
//! - Execute-never: a kernel page is always `UXN` (EL0 never executes it) and `PXN` unless
//!   `EXECUTE`; a user page is always `PXN` (the kernel never executes user memory) and `UXN`
//!   unless `EXECUTE`.
//! - `AF = 1` always (we do not rely on hardware access-flag management).
//! - `nG`: user pages are not global, kernel pages are global; [`non_global`] makes a kernel
//!   leaf not global too, for a table that runs with an ASID (`PagingArch::non_global`).
//! - Device memory is never executable: a `DEVICE` leaf is `UXN` and `PXN` whatever the flags
//!   say. Instruction fetches from Device memory are not allowed to have side effects yet may be
//!   speculative (Arm ARM B2.7.2 "Device memory": "the architecture ... does not prevent
//!   speculative instruction fetches from any Device memory location that is not marked as
//!   execute-never"; D8.5 "Memory region attributes" / the execute-never controls), so a device
//!   page must carry both execute-never bits. Linux maps device memory `PROT_DEVICE_nGnRE` with
//!   `PTE_PXN | PTE_UXN` for the same reason. `EXECUTE` is therefore dropped on decoding, as
//!   `PagingArch`'s contract allows.
//! - Memory type, with `MAIR_EL1` = [`MAIR_VALUE`]: `DEVICE` → AttrIndx 0 (Device-nGnRE),
//!   `UNCACHED` → AttrIndx 2 (Normal non-cacheable), otherwise AttrIndx 1 (Normal write-back).
//!   `DEVICE` wins over `UNCACHED`. Normal memory is Inner Shareable (`SH = 0b11`); for Device
//!   memory `SH` is ignored by the hardware and left 0.
//!
//! # PROT_NONE ("reserved, inaccessible, frame kept")
//!
//! Bit 0 clear (an invalid descriptor: every access at every EL faults with a translation
//! fault, and the hardware ignores all other bits), the output address of the frame, and
//! [`RESERVED_MARKER`] (software bit 55) so the entry is non-zero even for frame 0.

use memory_addr::PhysAddr;
use page_table_entry::aarch64::{DescriptorAttr, MemAttr};
use page_table_multiarch::MappingFlags;
use vmlayer_arch::{ACCESS_FLAGS, EntryKind};

#[cfg(test)]
mod tests;

/// Bit 0: the descriptor is valid.
pub const VALID: u64 = DescriptorAttr::VALID.bits();
/// Bit 1: a table pointer (levels 1–3) or a page (level 0), as opposed to a block.
pub const TABLE_OR_PAGE: u64 = DescriptorAttr::NON_BLOCK.bits();
/// `AttrIndx`, bits 4:2: the index of the memory type in `MAIR_EL1`.
pub const ATTRIBUTE_INDEX_MASK: u64 = DescriptorAttr::ATTR_INDX.bits();
/// `AP[1]`, bit 6: EL0 may access the page.
pub const EL0_ACCESS: u64 = DescriptorAttr::AP_EL0.bits();
/// `AP[2]`, bit 7: read-only at every EL.
pub const READ_ONLY: u64 = DescriptorAttr::AP_RO.bits();
/// `SH`, bits 9:8, with the Inner Shareable value `0b11`.
pub const INNER_SHAREABLE: u64 = DescriptorAttr::INNER.bits() | DescriptorAttr::SHAREABLE.bits();
/// `AF`, bit 10: the access flag.
pub const ACCESS_FLAG: u64 = DescriptorAttr::AF.bits();
/// `nG`, bit 11: the translation is tagged with the current ASID.
pub const NOT_GLOBAL: u64 = DescriptorAttr::NG.bits();
/// `PXN`, bit 53: never executable at EL1.
pub const PRIVILEGED_EXECUTE_NEVER: u64 = DescriptorAttr::PXN.bits();
/// `UXN`, bit 54: never executable at EL0.
pub const USER_EXECUTE_NEVER: u64 = DescriptorAttr::UXN.bits();
/// Software marker of a PROT_NONE entry: bit 55 (reserved for software use), with bit 0 clear.
pub const RESERVED_MARKER: u64 = 1 << 55;
/// The output address field, bits 47:12 (48-bit physical addresses).
pub const OUTPUT_ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// `MAIR_EL1` value matching the attribute indices used here: Attr0 = Device-nGnRE (`0x04`),
/// Attr1 = Normal write-back read/write-allocate (`0xff`), Attr2 = Normal non-cacheable
/// (`0x44`).
pub const MAIR_VALUE: u64 = MemAttr::MAIR_VALUE;

/// `AttrIndx` of Device-nGnRE memory.
pub const DEVICE_ATTRIBUTE_INDEX: u64 = MemAttr::Device as u64;
/// `AttrIndx` of Normal write-back memory.
pub const NORMAL_ATTRIBUTE_INDEX: u64 = MemAttr::Normal as u64;
/// `AttrIndx` of Normal non-cacheable memory.
pub const NON_CACHEABLE_ATTRIBUTE_INDEX: u64 = MemAttr::NormalNonCacheable as u64;

/// The flags a leaf built from `flags` decodes to: `READ` added to any accessible page,
/// `UNCACHED` dropped beside `DEVICE`, `EXECUTE` dropped on `DEVICE` (device memory is never
/// executable).
///
/// ```
/// use vmlayer_aarch64::{MappingFlags, entry::normalize_flags};
///
/// assert_eq!(normalize_flags(MappingFlags::EXECUTE), MappingFlags::READ | MappingFlags::EXECUTE);
/// assert_eq!(
///     normalize_flags(MappingFlags::WRITE | MappingFlags::DEVICE | MappingFlags::UNCACHED),
///     MappingFlags::READ | MappingFlags::WRITE | MappingFlags::DEVICE
/// );
/// assert_eq!(
///     normalize_flags(MappingFlags::EXECUTE | MappingFlags::DEVICE),
///     MappingFlags::READ | MappingFlags::DEVICE
/// );
/// ```
pub const fn normalize_flags(flags: MappingFlags) -> MappingFlags {
    let mut normalized = flags.intersection(ACCESS_FLAGS.union(MappingFlags::USER));
    if flags.intersects(ACCESS_FLAGS) {
        normalized = normalized.union(MappingFlags::READ);
    }
    if flags.contains(MappingFlags::DEVICE) {
        normalized
            .difference(MappingFlags::EXECUTE)
            .union(MappingFlags::DEVICE)
    } else if flags.contains(MappingFlags::UNCACHED) {
        normalized.union(MappingFlags::UNCACHED)
    } else {
        normalized
    }
}

/// The attribute bits (everything but the output address and the type bit 1) of a valid leaf
/// for `flags`, or [`RESERVED_MARKER`] alone if `flags` has none of `READ`, `WRITE`, `EXECUTE`.
///
/// ```
/// use vmlayer_aarch64::MappingFlags;
/// use vmlayer_aarch64::entry::leaf_attribute_bits;
///
/// // A user read-write page: UXN PXN nG AF SH=11 AP=01 AttrIndx=1 valid.
/// assert_eq!(
///     leaf_attribute_bits(MappingFlags::READ | MappingFlags::WRITE | MappingFlags::USER),
///     0x0060_0000_0000_0f45
/// );
/// ```
pub const fn leaf_attribute_bits(flags: MappingFlags) -> u64 {
    if !flags.intersects(ACCESS_FLAGS) {
        return RESERVED_MARKER;
    }
    let mut bits = VALID | ACCESS_FLAG;
    bits |= if flags.contains(MappingFlags::DEVICE) {
        DEVICE_ATTRIBUTE_INDEX << 2
    } else if flags.contains(MappingFlags::UNCACHED) {
        (NON_CACHEABLE_ATTRIBUTE_INDEX << 2) | INNER_SHAREABLE
    } else {
        (NORMAL_ATTRIBUTE_INDEX << 2) | INNER_SHAREABLE
    };
    if !flags.contains(MappingFlags::WRITE) {
        bits |= READ_ONLY;
    }
    let execute_never = if flags.contains(MappingFlags::USER) {
        bits |= EL0_ACCESS | NOT_GLOBAL;
        PRIVILEGED_EXECUTE_NEVER
    } else {
        USER_EXECUTE_NEVER
    };
    bits |= execute_never;
    // Device memory is never executable (see the module docs: Arm ARM B2.7.2, D8.5).
    if !flags.contains(MappingFlags::EXECUTE) || flags.contains(MappingFlags::DEVICE) {
        bits |= PRIVILEGED_EXECUTE_NEVER | USER_EXECUTE_NEVER;
    }
    bits
}

/// The [`MappingFlags`] of a valid block or page descriptor.
pub const fn leaf_flags(entry: u64) -> MappingFlags {
    let mut flags = MappingFlags::READ;
    if entry & READ_ONLY == 0 {
        flags = flags.union(MappingFlags::WRITE);
    }
    let user = entry & EL0_ACCESS != 0;
    let execute_never = if user {
        flags = flags.union(MappingFlags::USER);
        USER_EXECUTE_NEVER
    } else {
        PRIVILEGED_EXECUTE_NEVER
    };
    if entry & execute_never == 0 {
        flags = flags.union(MappingFlags::EXECUTE);
    }
    match (entry & ATTRIBUTE_INDEX_MASK) >> 2 {
        DEVICE_ATTRIBUTE_INDEX => flags.union(MappingFlags::DEVICE),
        NON_CACHEABLE_ATTRIBUTE_INDEX => flags.union(MappingFlags::UNCACHED),
        _ => flags,
    }
}

/// A leaf at `level` (0 = 4 KiB page descriptor, 1 = 2 MiB block, 2 = 1 GiB block) mapping
/// `paddr` with `flags` (PROT_NONE if `flags` has no access permission).
pub const fn encode_leaf(paddr: PhysAddr, flags: MappingFlags, level: usize) -> u64 {
    let attributes = leaf_attribute_bits(flags);
    let type_bit = if level == 0 && attributes & VALID != 0 {
        TABLE_OR_PAGE
    } else {
        0
    };
    (paddr.as_usize() as u64 & OUTPUT_ADDRESS_MASK) | attributes | type_bit
}

/// `entry` with `nG` set if it is a valid descriptor (a leaf, as `PagingArch::non_global` is
/// called with; bit 11 of a table descriptor is ignored by the hardware anyway); an invalid
/// entry (PROT_NONE) unchanged.
///
/// ```
/// use vmlayer_aarch64::entry::{NOT_GLOBAL, encode_leaf, non_global};
/// use vmlayer_aarch64::{MappingFlags, PhysAddr};
///
/// let kernel = encode_leaf(PhysAddr::from(0x4000_0000), MappingFlags::READ, 1);
/// assert_eq!(kernel & NOT_GLOBAL, 0);
/// assert_eq!(non_global(kernel), kernel | NOT_GLOBAL);
/// ```
pub const fn non_global(entry: u64) -> u64 {
    if entry & VALID != 0 {
        entry | NOT_GLOBAL
    } else {
        entry
    }
}

/// A table descriptor pointing to the next-level table at `paddr`, with no hierarchical
/// restriction (`APTable`, `UXNTable`, `PXNTable` all 0: the leaf decides).
pub const fn encode_table(paddr: PhysAddr) -> u64 {
    (paddr.as_usize() as u64 & OUTPUT_ADDRESS_MASK) | TABLE_OR_PAGE | VALID
}

/// The PROT_NONE entry keeping `paddr`: bit 0 clear, the output address, [`RESERVED_MARKER`].
pub const fn encode_reserved(paddr: PhysAddr) -> u64 {
    (paddr.as_usize() as u64 & OUTPUT_ADDRESS_MASK) | RESERVED_MARKER
}

/// What the hardware (and our walker) sees in `entry` at `level` (0 = 4 KiB pages, 3 = the
/// root, Arm's lookup level 0).
///
/// Descriptors the hardware refuses are [`EntryKind::Empty`]: a block-type descriptor at level
/// 0 or at the root, and an invalid descriptor without [`RESERVED_MARKER`].
pub fn decode(entry: u64, level: usize) -> EntryKind {
    let paddr = PhysAddr::from((entry & OUTPUT_ADDRESS_MASK) as usize);
    if entry & VALID == 0 {
        return if entry & RESERVED_MARKER != 0 {
            EntryKind::Reserved { paddr }
        } else {
            EntryKind::Empty
        };
    }
    let table_or_page = entry & TABLE_OR_PAGE != 0;
    match (level, table_or_page) {
        (0, true) | (1..=2, false) => EntryKind::Leaf {
            paddr,
            flags: leaf_flags(entry),
        },
        (0, false) => EntryKind::Empty,
        (_, true) => EntryKind::Table(paddr),
        (_, false) => EntryKind::Empty,
    }
}
