//! Entry encoding (Intel SDM Vol. 3A, §4.5, tables 4-14 to 4-20).

use memory_addr::PhysAddr;
use page_table_entry::x86_64::{PTF, X64PTE};
use page_table_multiarch::{GenericPTE, MappingFlags};
use vmlayer_arch::{EntryKind, level_size};

/// Bits 12..=51 of an entry: the physical address (of a page, a block or the next table).
pub const ENTRY_ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The software bit (bit 9, ignored by the MMU) that marks a non-present entry as PROT_NONE
/// with its frame kept. P = 0 in such an entry, so every access faults.
pub const RESERVED_MARKER: u64 = PTF::BIT_9.bits();

/// A present leaf. The accessed bit is preset (and dirty on writable pages) so the MMU never has
/// to write the entry back; `DEVICE` selects UC (PCD | PWT, PAT entry 3 by default), `UNCACHED`
/// alone UC- (PCD, PAT entry 2); bit 7 is PS above level 0 and left clear (PAT) at level 0.
pub(crate) fn encode_leaf(paddr: PhysAddr, flags: MappingFlags, level: usize) -> u64 {
    let mut bits = PTF::PRESENT | PTF::ACCESSED;
    if flags.contains(MappingFlags::WRITE) {
        bits |= PTF::WRITABLE | PTF::DIRTY;
    }
    if flags.contains(MappingFlags::USER) {
        bits |= PTF::USER_ACCESSIBLE;
    }
    if !flags.contains(MappingFlags::EXECUTE) {
        bits |= PTF::NO_EXECUTE;
    }
    if flags.contains(MappingFlags::DEVICE) {
        bits |= PTF::NO_CACHE | PTF::WRITE_THROUGH;
    } else if flags.contains(MappingFlags::UNCACHED) {
        bits |= PTF::NO_CACHE;
    }
    if level > 0 {
        bits |= PTF::HUGE_PAGE;
    }
    bits.bits() | (paddr.as_usize() as u64 & ENTRY_ADDRESS_MASK)
}

/// A table pointer: present, writable and user-accessible, so the leaf alone decides access,
/// with the accessed bit preset as Linux's `_PAGE_TABLE` does: the CPU sets A in every
/// paging-structure entry it uses for a translation (Intel SDM Vol. 3A, §4.8 "Accessed and
/// Dirty Flags"), so a preset A spares it a locked write-back into a table that software may be
/// changing at the same time.
pub(crate) fn encode_table(paddr: PhysAddr) -> u64 {
    (X64PTE::new_table(paddr).bits() as u64) | PTF::ACCESSED.bits()
}

/// PROT_NONE: not present, [`RESERVED_MARKER`] set, the frame address kept.
pub(crate) fn encode_reserved(paddr: PhysAddr) -> u64 {
    RESERVED_MARKER | (paddr.as_usize() as u64 & ENTRY_ADDRESS_MASK)
}

/// The inverse of the encoders. A present entry at level 0 or with PS set at levels 1 and 2
/// is a leaf; a non-present entry is reserved if it carries the marker and empty otherwise.
/// PS is a reserved bit in a PML4E and a PML5E (Intel SDM Vol. 3A, §4.5, tables 4-14 and
/// 4-15): the MMU faults with RSVD on any access through such an entry and never uses it as a
/// 512 GiB page, so it decodes as empty (nothing is mapped through it).
pub(crate) fn decode(entry: u64, level: usize) -> EntryKind {
    let bits = PTF::from_bits_retain(entry);
    // A block's address is aligned to its size; bit 12 of a block entry is its PAT bit.
    let block_mask = !(level_size(level) as u64 - 1);
    let paddr = PhysAddr::from((entry & ENTRY_ADDRESS_MASK & block_mask) as usize);
    if !bits.contains(PTF::PRESENT) {
        return if entry & RESERVED_MARKER != 0 {
            EntryKind::Reserved { paddr }
        } else {
            EntryKind::Empty
        };
    }
    if level > 2 && bits.contains(PTF::HUGE_PAGE) {
        return EntryKind::Empty;
    }
    if level > 0 && !bits.contains(PTF::HUGE_PAGE) {
        return EntryKind::Table(PhysAddr::from((entry & ENTRY_ADDRESS_MASK) as usize));
    }
    let mut flags = MappingFlags::READ;
    if bits.contains(PTF::WRITABLE) {
        flags |= MappingFlags::WRITE;
    }
    if !bits.contains(PTF::NO_EXECUTE) {
        flags |= MappingFlags::EXECUTE;
    }
    if bits.contains(PTF::USER_ACCESSIBLE) {
        flags |= MappingFlags::USER;
    }
    if bits.contains(PTF::NO_CACHE) {
        flags |= if bits.contains(PTF::WRITE_THROUGH) {
            MappingFlags::DEVICE
        } else {
            MappingFlags::UNCACHED
        };
    }
    EntryKind::Leaf { paddr, flags }
}
