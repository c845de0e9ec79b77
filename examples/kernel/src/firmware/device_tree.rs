//! The smallest flattened-device-tree reader that finds the memory node: walks the structure
//! block, takes `#address-cells`/`#size-cells` from the root and the first `reg` entry of the
//! first `memory` node. Every read is bounds-checked against the blob's declared size.

use core::ops::Range;

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROPERTY: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
/// A blob larger than this is taken as garbage.
const MAX_SIZE: usize = 1 << 20;

/// The first RAM bank described by the device tree at `blob`, or `None` if there is no valid
/// blob there or it has no memory node.
///
/// # Safety
/// `blob` must be 0 or a readable, 4-byte aligned address whose first 40 bytes may be read; if
/// they hold the device-tree magic, the `totalsize` bytes from `blob` must be readable.
pub(crate) unsafe fn first_memory_bank(blob: usize) -> Option<Range<usize>> {
    if blob == 0 || !blob.is_multiple_of(4) {
        return None;
    }
    // SAFETY: the header is readable per the contract.
    let (magic, total_size, structure, strings) = unsafe {
        (
            read_be32(blob),
            read_be32(blob + 4) as usize,
            read_be32(blob + 8) as usize,
            read_be32(blob + 12) as usize,
        )
    };
    if magic != MAGIC
        || total_size > MAX_SIZE
        || !structure.is_multiple_of(4)
        || structure >= total_size
        || strings >= total_size
    {
        return None;
    }
    let end = blob + total_size;
    let word = |offset: usize| -> Option<u32> {
        // SAFETY: bounds-checked against the blob, which is readable per the contract.
        (offset.is_multiple_of(4) && offset + 4 <= end).then(|| unsafe { read_be32(offset) })
    };
    let byte = |offset: usize| -> Option<u8> {
        // SAFETY: bounds-checked against the blob, which is readable per the contract.
        (offset < end).then(|| unsafe { (offset as *const u8).read_volatile() })
    };
    // Whether the NUL-terminated name at `offset` is `expected` (or `expected@unit` when
    // `with_unit_address`).
    let name_is = |offset: usize, expected: &[u8], with_unit_address: bool| -> bool {
        let same = (0..expected.len()).all(|index| byte(offset + index) == Some(expected[index]));
        match byte(offset + expected.len()) {
            Some(0) => same,
            Some(b'@') => same && with_unit_address,
            _ => false,
        }
    };
    let name_length = |offset: usize| -> Option<usize> {
        (offset..end).position(|address| byte(address) == Some(0))
    };

    let (mut address_cells, mut size_cells) = (2usize, 1usize);
    let mut depth = 0usize;
    let mut in_memory_node = false;
    let mut cursor = blob + structure;
    loop {
        let token = word(cursor)?;
        cursor += 4;
        match token {
            BEGIN_NODE => {
                depth += 1;
                in_memory_node = depth == 2 && name_is(cursor, b"memory", true);
                cursor += (name_length(cursor)? + 1).next_multiple_of(4);
            }
            END_NODE => {
                depth = depth.checked_sub(1)?;
                in_memory_node = false;
            }
            PROPERTY => {
                let length = word(cursor)? as usize;
                let name = blob + strings + word(cursor + 4)? as usize;
                let value = cursor + 8;
                cursor = value + length.next_multiple_of(4);
                if depth == 1 && name_is(name, b"#address-cells", false) {
                    address_cells = word(value)? as usize;
                } else if depth == 1 && name_is(name, b"#size-cells", false) {
                    size_cells = word(value)? as usize;
                } else if in_memory_node && name_is(name, b"reg", false) {
                    if !(1..=2).contains(&address_cells) || !(1..=2).contains(&size_cells) {
                        return None;
                    }
                    if length < 4 * (address_cells + size_cells) {
                        return None;
                    }
                    let cells = |first: usize, count: usize| -> Option<usize> {
                        let mut result = 0usize;
                        for index in 0..count {
                            result = (result << 32) | word(first + 4 * index)? as usize;
                        }
                        Some(result)
                    };
                    let base = cells(value, address_cells)?;
                    let size = cells(value + 4 * address_cells, size_cells)?;
                    return Some(base..base.checked_add(size)?);
                }
            }
            NOP => {}
            END => return None,
            _ => return None,
        }
    }
}

/// Reads a big-endian `u32` (device-tree byte order).
///
/// # Safety
/// `address` must be readable and 4-byte aligned.
unsafe fn read_be32(address: usize) -> u32 {
    // SAFETY: forwarded contract; volatile keeps the access 4 bytes wide (aarch64 runs this with
    // the MMU off, where memory is Device memory and unaligned or merged accesses fault).
    u32::from_be(unsafe { (address as *const u32).read_volatile() })
}
