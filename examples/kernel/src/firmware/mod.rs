//! Where the RAM is: the firmware's memory map, taken as it is — every RAM bank and every area
//! the firmware keeps for itself — read from a flattened device tree on riscv64 and aarch64 and
//! from the PVH start info on x86_64. The ISA's documented fixed window is the fallback when the
//! description is missing or unreadable.

use core::ops::Range;

use crate::range_list::RangeList;

#[cfg(any(target_arch = "riscv64", target_arch = "aarch64"))]
pub(crate) mod device_tree;
#[cfg(target_arch = "x86_64")]
pub(crate) mod pvh;

/// The machine's memory as the firmware describes it, and who said so.
#[derive(Clone)]
pub(crate) struct MemoryMap {
    /// Every RAM bank (device-tree `memory` nodes, PVH entries of type RAM), holes left out.
    pub(crate) ram: RangeList,
    /// What the kernel must not reuse: reserved-memory nodes and the reservation block (OpenSBI
    /// lives there on riscv64), non-RAM PVH entries, and the description itself (the device-tree
    /// blob, the PVH start info and its memory map), kept for later readers (e.g. CPU discovery).
    pub(crate) reserved: RangeList,
    /// `"device tree"`, `"PVH memory map"` or `"fixed window"`.
    pub(crate) source: &'static str,
}

impl MemoryMap {
    /// A map of one RAM bank and nothing reserved (the fallback, or a test).
    pub(crate) fn single_bank(range: Range<usize>, source: &'static str) -> Self {
        let mut ram = RangeList::new();
        let added = ram.add(range);
        debug_assert!(added, "an empty list takes one range");
        Self {
            ram,
            reserved: RangeList::new(),
            source,
        }
    }
}

/// The memory map from the firmware description `boot_argument` points to (see
/// `arch::discover_memory`), else the ISA's documented window (`arch::RAM_WINDOW`, which starts
/// at the kernel image so that it never covers firmware memory below it).
pub(crate) fn memory_map(boot_argument: usize) -> MemoryMap {
    crate::arch::discover_memory(boot_argument)
        .filter(|map| !map.ram.is_empty())
        .unwrap_or_else(|| MemoryMap::single_bank(crate::arch::RAM_WINDOW, "fixed window"))
}
