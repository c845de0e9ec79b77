//! The PVH start info (`struct hvm_start_info`, version ≥ 1, Xen's
//! `xen/include/public/arch-x86/hvm/start_info.h`) that QEMU's PVH boot hands over in `ebx`: its
//! memory map (E820-like entries) says where the RAM is. On `q35` it holds RAM below 640 KiB,
//! RAM from 1 MiB to the PCI hole (2 GiB or 2.75 GiB) and, with more memory, RAM from 4 GiB.
//! Addresses are physical; the structures are read through the kernel's direct map
//! (`layout::phys_to_virt`).

use crate::layout::phys_to_virt;
use crate::range_list::RangeList;

const MAGIC: u32 = 0x336e_c578;
/// Byte offsets in the start info.
const NR_MODULES: usize = 12;
const MODLIST_PADDR: usize = 16;
const CMDLINE_PADDR: usize = 24;
const MEMMAP_PADDR: usize = 40;
const MEMMAP_ENTRIES: usize = 48;
/// Size of the version-1 start info.
const START_INFO_SIZE: usize = 56;
/// Size of one memory-map entry (address, size, type, reserved) and of one module entry.
const MEMMAP_ENTRY_SIZE: usize = 24;
const MODULE_ENTRY_SIZE: usize = 32;
const TYPE_RAM: u32 = 1;
/// More entries or modules than this is taken as garbage.
const MAX_ENTRIES: usize = 128;
/// The command line is not read; one page of it is kept.
const CMDLINE_KEPT: usize = 4096;

/// The RAM entries of the PVH memory map, and what must not be reused: every other entry, the
/// start info itself, its memory map, command line, module list and modules. `None` if
/// `start_info` holds no valid start info or a list overflows.
///
/// # Safety
/// `start_info` must be 0 or the physical address of the 8-byte aligned start-info structure
/// the PVH loader passed; it, its memory map and its module list (if any) must be readable
/// through the direct map.
pub(crate) unsafe fn memory_map(start_info: usize) -> Option<(RangeList, RangeList)> {
    if start_info == 0 || !start_info.is_multiple_of(8) {
        return None;
    }
    // SAFETY: the structure is readable per the contract.
    let (magic, version) = unsafe { (read_le32(start_info), read_le32(start_info + 4)) };
    if magic != MAGIC || version < 1 {
        return None;
    }
    // SAFETY: version ≥ 1 has all these fields.
    let (map, entries, modules, module_count, cmdline) = unsafe {
        (
            read_le64(start_info + MEMMAP_PADDR) as usize,
            read_le32(start_info + MEMMAP_ENTRIES) as usize,
            read_le64(start_info + MODLIST_PADDR) as usize,
            read_le32(start_info + NR_MODULES) as usize,
            read_le64(start_info + CMDLINE_PADDR) as usize,
        )
    };
    if map == 0 || !map.is_multiple_of(8) || entries > MAX_ENTRIES || module_count > MAX_ENTRIES {
        return None;
    }
    let mut ram = RangeList::new();
    let mut reserved = RangeList::new();
    let keep = |list: &mut RangeList, start: usize, size: usize| {
        list.add(start..start.checked_add(size)?).then_some(())
    };
    keep(&mut reserved, start_info, START_INFO_SIZE)?;
    keep(&mut reserved, map, entries * MEMMAP_ENTRY_SIZE)?;
    if cmdline != 0 {
        keep(&mut reserved, cmdline, CMDLINE_KEPT)?;
    }
    if modules != 0 && module_count != 0 {
        keep(&mut reserved, modules, module_count * MODULE_ENTRY_SIZE)?;
        for index in 0..module_count {
            let module = modules + index * MODULE_ENTRY_SIZE;
            // SAFETY: the module list is readable per the contract.
            let (base, size) =
                unsafe { (read_le64(module) as usize, read_le64(module + 8) as usize) };
            keep(&mut reserved, base, size)?;
        }
    }
    for index in 0..entries {
        let entry = map + index * MEMMAP_ENTRY_SIZE;
        // SAFETY: the map's entries are readable per the contract.
        let (base, size, kind) = unsafe {
            (
                read_le64(entry) as usize,
                read_le64(entry + 8) as usize,
                read_le32(entry + 16),
            )
        };
        let list = if kind == TYPE_RAM {
            &mut ram
        } else {
            &mut reserved
        };
        keep(list, base, size)?;
    }
    Some((ram, reserved))
}

/// Reads a little-endian `u32` at physical address `address`.
///
/// # Safety
/// `address` must be 4-byte aligned and readable through the direct map.
unsafe fn read_le32(address: usize) -> u32 {
    // SAFETY: forwarded contract.
    u32::from_le(unsafe { (phys_to_virt(address) as *const u32).read_volatile() })
}

/// Reads a little-endian `u64` as two aligned 32-bit halves, at physical address `address`.
///
/// # Safety
/// `address` must be 4-byte aligned and readable through the direct map.
unsafe fn read_le64(address: usize) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { u64::from(read_le32(address)) | (u64::from(read_le32(address + 4)) << 32) }
}
