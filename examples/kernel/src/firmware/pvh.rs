//! The PVH start info (`struct hvm_start_info`, version ≥ 1) that QEMU's PVH boot hands over in
//! `ebx`: its memory map (E820-like entries) says where the RAM is.

use core::ops::Range;

const MAGIC: u32 = 0x336e_c578;
const MEMORY_MAP_ADDRESS: usize = 40;
const MEMORY_MAP_ENTRIES: usize = 48;
const ENTRY_SIZE: usize = 24;
const TYPE_RAM: u32 = 1;
/// More entries than this is taken as garbage.
const MAX_ENTRIES: usize = 128;

/// The RAM entry of the PVH memory map that contains `address`.
///
/// # Safety
/// `start_info` must be 0 or the readable, 8-byte aligned start-info structure the PVH loader
/// passed, whose memory map (if any) is readable too.
pub(crate) unsafe fn ram_containing(start_info: usize, address: usize) -> Option<Range<usize>> {
    if start_info == 0 || !start_info.is_multiple_of(8) {
        return None;
    }
    // SAFETY: the structure is readable per the contract.
    let (magic, version) = unsafe { (read_le32(start_info), read_le32(start_info + 4)) };
    if magic != MAGIC || version < 1 {
        return None;
    }
    // SAFETY: version ≥ 1 has the memory-map fields.
    let (map, entries) = unsafe {
        (
            read_le64(start_info + MEMORY_MAP_ADDRESS) as usize,
            read_le32(start_info + MEMORY_MAP_ENTRIES) as usize,
        )
    };
    if map == 0 || !map.is_multiple_of(8) || entries > MAX_ENTRIES {
        return None;
    }
    (0..entries).find_map(|index| {
        let entry = map + index * ENTRY_SIZE;
        // SAFETY: the map's entries are readable per the contract.
        let (base, size, kind) = unsafe {
            (
                read_le64(entry) as usize,
                read_le64(entry + 8) as usize,
                read_le32(entry + 16),
            )
        };
        let range = base..base.checked_add(size)?;
        (kind == TYPE_RAM && range.contains(&address)).then_some(range)
    })
}

/// Reads a little-endian `u32`.
///
/// # Safety
/// `address` must be readable and 4-byte aligned.
unsafe fn read_le32(address: usize) -> u32 {
    // SAFETY: forwarded contract.
    u32::from_le(unsafe { (address as *const u32).read_volatile() })
}

/// Reads a little-endian `u64` as two aligned 32-bit halves.
///
/// # Safety
/// `address` must be readable and 4-byte aligned.
unsafe fn read_le64(address: usize) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { u64::from(read_le32(address)) | (u64::from(read_le32(address + 4)) << 32) }
}
