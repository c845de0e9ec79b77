//! Sv39/Sv48 page-table entries: [`MappingFlags`] ↔ PTE bits, table pointers and PROT_NONE.
//!
//! The bit layout is the privileged spec's (Sv39 and Sv48 share it):
//!
//! | bits  | 63 | 62:61 | 60:54    | 53:10 | 9:8 | 7 | 6 | 5 | 4 | 3 | 2 | 1 | 0 |
//! |-------|----|-------|----------|-------|-----|---|---|---|---|---|---|---|---|
//! | field | N  | PBMT  | reserved | PPN   | RSW | D | A | G | U | X | W | R | V |
//!
//! # Rules the hardware imposes, and what we do about them
//!
//! - `V = 1, R = W = X = 0` is a **pointer to the next table**, at any level. A leaf must have
//!   `R` or `X`. page_table_entry's `Rv64PTE` produces exactly that pointer for a leaf without
//!   `READ`/`EXECUTE` (PROT_NONE, write-only, `USER` alone): the hardware and any walker then
//!   read the frame as a page table (the security defect in upstream-defects.md). Here a leaf is
//!   only ever built with `R` or `X` set, and PROT_NONE is an invalid entry (below).
//! - `W = 1, R = 0` is reserved. We grant `READ` with `WRITE` (write-only becomes read-write,
//!   as Linux does); execute-only (`X` alone) is legal and kept.
//! - `A`/`D`: a hart may fault instead of setting them (Svade), so every leaf is built with
//!   `A = D = 1`.
//! - `G`: kernel leaves (without `USER`) are encoded global, user leaves are not;
//!   `vmlayer_paging` keeps `G` only in the kernel space's table and clears it
//!   (`PagingArch::non_global`) in every other, so a kernel that maps kernel-only pages
//!   differently in two address spaces stays correct with ASIDs. A flush with an ASID spares
//!   global entries, so a request that may have changed one fences every address space (see
//!   the crate docs).
//! - `DEVICE` / `UNCACHED` need Svpbmt (`PBMT` = IO / NC). Without the `svpbmt` feature they are
//!   not encoded (the platform's PMAs decide the memory type) and decode without them; with it
//!   `DEVICE` wins over `UNCACHED`.
//!
//! # PROT_NONE ("reserved, inaccessible, frame kept")
//!
//! `V = 0` (every access at every privilege faults, and the hardware ignores all other bits),
//! the PPN of the frame, and [`RESERVED_MARKER`] (RSW bit 8) so that the entry is non-zero even
//! for frame 0 and is told apart from an empty slot.

use memory_addr::PhysAddr;
use page_table_entry::riscv::PTEFlags;
use page_table_multiarch::MappingFlags;
use vmlayer_arch::{ACCESS_FLAGS, EntryKind};

#[cfg(test)]
mod tests;

/// `V`: the entry is valid.
pub const VALID: u64 = PTEFlags::V.bits() as u64;
/// `R`: readable.
pub const READABLE: u64 = PTEFlags::R.bits() as u64;
/// `W`: writable.
pub const WRITABLE: u64 = PTEFlags::W.bits() as u64;
/// `X`: executable.
pub const EXECUTABLE: u64 = PTEFlags::X.bits() as u64;
/// `U`: accessible in user mode (and, without `sstatus.SUM`, not from supervisor mode).
pub const USER_ACCESSIBLE: u64 = PTEFlags::U.bits() as u64;
/// `G`: a global mapping, present in every address space.
pub const GLOBAL: u64 = PTEFlags::G.bits() as u64;
/// `A`: accessed.
pub const ACCESSED: u64 = PTEFlags::A.bits() as u64;
/// `D`: dirty.
pub const DIRTY: u64 = PTEFlags::D.bits() as u64;
/// Software marker of a PROT_NONE entry: RSW bit 8, only meaningful with `V = 0`.
pub const RESERVED_MARKER: u64 = 1 << 8;
/// The physical page number field, bits 53:10 (PA bits 55:12).
pub const PPN_MASK: u64 = ((1 << 44) - 1) << 10;
/// Svpbmt's page-based memory type field, bits 62:61.
pub const PBMT_MASK: u64 = 0b11 << 61;
/// `PBMT = NC`: non-cacheable, idempotent, weakly-ordered main memory.
pub const PBMT_NON_CACHEABLE: u64 = 1 << 61;
/// `PBMT = IO`: non-cacheable, non-idempotent, strongly-ordered I/O memory.
pub const PBMT_IO: u64 = 2 << 61;

/// The PPN field holding `paddr` (bits 55:12 of the address; lower bits are dropped).
pub const fn ppn_bits(paddr: usize) -> u64 {
    ((paddr as u64) >> 2) & PPN_MASK
}

/// The physical address an entry's PPN field points to.
pub const fn entry_paddr(entry: u64) -> usize {
    ((entry & PPN_MASK) << 2) as usize
}

/// The flags a leaf built from `flags` decodes to: `READ` added to write-only, and without the
/// `svpbmt` feature `DEVICE`/`UNCACHED` dropped (with it, `UNCACHED` dropped beside `DEVICE`).
///
/// ```
/// use vmlayer_riscv64::{MappingFlags, entry::normalize_flags};
///
/// assert_eq!(normalize_flags(MappingFlags::WRITE), MappingFlags::READ | MappingFlags::WRITE);
/// assert_eq!(normalize_flags(MappingFlags::EXECUTE), MappingFlags::EXECUTE);
/// ```
pub const fn normalize_flags(flags: MappingFlags) -> MappingFlags {
    let mut normalized = flags.intersection(ACCESS_FLAGS.union(MappingFlags::USER));
    if flags.contains(MappingFlags::WRITE) {
        normalized = normalized.union(MappingFlags::READ);
    }
    if cfg!(feature = "svpbmt") {
        if flags.contains(MappingFlags::DEVICE) {
            normalized = normalized.union(MappingFlags::DEVICE);
        } else if flags.contains(MappingFlags::UNCACHED) {
            normalized = normalized.union(MappingFlags::UNCACHED);
        }
    }
    normalized
}

/// The permission and attribute bits (everything but the PPN) of a leaf for `flags`.
///
/// A leaf always has `V`, `A`, `D` and `R` or `X`. `flags` without any of `READ`, `WRITE`,
/// `EXECUTE` gives the PROT_NONE bits ([`RESERVED_MARKER`], `V = 0`) instead: never the
/// `V = 1, R = W = X = 0` table pointer.
///
/// ```
/// use vmlayer_riscv64::MappingFlags;
/// use vmlayer_riscv64::entry::{leaf_attribute_bits, RESERVED_MARKER};
///
/// // V R W A D, not global, user.
/// assert_eq!(leaf_attribute_bits(MappingFlags::READ | MappingFlags::WRITE | MappingFlags::USER), 0xd7);
/// // PROT_NONE is an invalid entry with the software marker.
/// assert_eq!(leaf_attribute_bits(MappingFlags::USER), RESERVED_MARKER);
/// ```
pub const fn leaf_attribute_bits(flags: MappingFlags) -> u64 {
    if !flags.intersects(ACCESS_FLAGS) {
        return RESERVED_MARKER;
    }
    let mut bits = VALID | ACCESSED | DIRTY;
    if flags.intersects(MappingFlags::READ.union(MappingFlags::WRITE)) {
        bits |= READABLE;
    }
    if flags.contains(MappingFlags::WRITE) {
        bits |= WRITABLE;
    }
    if flags.contains(MappingFlags::EXECUTE) {
        bits |= EXECUTABLE;
    }
    if flags.contains(MappingFlags::USER) {
        bits |= USER_ACCESSIBLE;
    } else {
        bits |= GLOBAL;
    }
    if cfg!(feature = "svpbmt") {
        if flags.contains(MappingFlags::DEVICE) {
            bits |= PBMT_IO;
        } else if flags.contains(MappingFlags::UNCACHED) {
            bits |= PBMT_NON_CACHEABLE;
        }
    }
    bits
}

/// The [`MappingFlags`] of a valid leaf's bits (the inverse of [`leaf_attribute_bits`] up to
/// [`normalize_flags`]).
pub const fn leaf_flags(entry: u64) -> MappingFlags {
    let mut flags = MappingFlags::empty();
    if entry & READABLE != 0 {
        flags = flags.union(MappingFlags::READ);
    }
    if entry & WRITABLE != 0 {
        flags = flags.union(MappingFlags::WRITE);
    }
    if entry & EXECUTABLE != 0 {
        flags = flags.union(MappingFlags::EXECUTE);
    }
    if entry & USER_ACCESSIBLE != 0 {
        flags = flags.union(MappingFlags::USER);
    }
    if cfg!(feature = "svpbmt") {
        match entry & PBMT_MASK {
            PBMT_IO => flags = flags.union(MappingFlags::DEVICE),
            PBMT_NON_CACHEABLE => flags = flags.union(MappingFlags::UNCACHED),
            _ => {}
        }
    }
    flags
}

/// A leaf mapping `paddr` with `flags` (PROT_NONE if `flags` has no access permission).
pub const fn encode_leaf(paddr: PhysAddr, flags: MappingFlags) -> u64 {
    ppn_bits(paddr.as_usize()) | leaf_attribute_bits(flags)
}

/// A pointer to the next-level table at `paddr`: `V = 1`, `R = W = X = 0`, and `U`, `A`, `D`
/// clear as the spec requires of non-leaf entries.
pub const fn encode_table(paddr: PhysAddr) -> u64 {
    ppn_bits(paddr.as_usize()) | VALID
}

/// The PROT_NONE entry keeping `paddr`: `V = 0`, the PPN and [`RESERVED_MARKER`].
pub const fn encode_reserved(paddr: PhysAddr) -> u64 {
    ppn_bits(paddr.as_usize()) | RESERVED_MARKER
}

/// What the hardware (and our walker) sees in `entry` at `level` (0 = 4 KiB leaves).
///
/// Entries the hardware refuses are [`EntryKind::Empty`]: a table pointer at level 0, the
/// reserved `W` without `R`, and an invalid entry without [`RESERVED_MARKER`].
pub fn decode(entry: u64, level: usize) -> EntryKind {
    let paddr = PhysAddr::from(entry_paddr(entry));
    if entry & VALID == 0 {
        return if entry & RESERVED_MARKER != 0 {
            EntryKind::Reserved { paddr }
        } else {
            EntryKind::Empty
        };
    }
    let permissions = entry & (READABLE | WRITABLE | EXECUTABLE);
    if permissions == 0 {
        return if level == 0 {
            EntryKind::Empty
        } else {
            EntryKind::Table(paddr)
        };
    }
    if permissions & (READABLE | EXECUTABLE) == 0 {
        return EntryKind::Empty;
    }
    EntryKind::Leaf {
        paddr,
        flags: leaf_flags(entry),
    }
}
