//! The kernel's own reading of the MMU state, independent of our crates: the root register (its
//! translation mode and root table) and a walk of the active table as the hardware does it,
//! with the entry formats taken from the architecture manuals in `arch::<isa>::hardware`. The
//! `translation_mode` and `device_memory_type` cases compare what `vmlayer_paging` says it built
//! with what this reading finds, so a mismatch between the two (a feature not forwarded, a mode
//! not switched, a memory-type bit not emitted) shows.

use alloc::format;
use alloc::string::String;

use crate::arch;
use crate::layout::{self, PAGE_SIZE, phys_to_virt};

/// What the root register says.
pub(crate) struct TranslationRoot {
    /// The physical address of the root table.
    pub(crate) root: usize,
    /// The number of levels the hardware walks from it (Sv39: 3; Sv48, x86_64, AArch64: 4).
    pub(crate) levels: usize,
    /// The register and field that say so, for messages, e.g. `satp.MODE = 9 (Sv48)`.
    pub(crate) register: String,
}

impl TranslationRoot {
    /// Reads the root register of the lower half, the current user space's
    /// (`arch::translation_root`).
    ///
    /// # Errors
    /// The register's value when it selects no paged mode.
    pub(crate) fn read() -> Result<Self, String> {
        arch::translation_root(0)
    }

    /// Reads the root register that translates `vaddr`: the same as [`Self::read`] where one
    /// root translates both halves, `TTBR1_EL1` for an upper-half address on AArch64.
    ///
    /// # Errors
    /// As [`Self::read`].
    pub(crate) fn translating(vaddr: usize) -> Result<Self, String> {
        arch::translation_root(vaddr)
    }
}

/// One entry as the hardware reads it at some level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawEntry {
    /// Not valid: the walk faults here.
    Invalid,
    /// A pointer to the next table at this physical address.
    Table(usize),
    /// A leaf mapping a page or block at this physical address.
    Leaf(usize),
}

/// A leaf of the active table as the hardware finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HardwareLeaf {
    /// The raw entry.
    pub(crate) entry: u64,
    /// Its level (0: 4 KiB page, 1: 2 MiB block, 2: 1 GiB block).
    pub(crate) level: usize,
    /// The physical address `vaddr` translates to (page offset included).
    pub(crate) paddr: usize,
}

/// The memory type an entry selects, as the hardware reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MemoryType {
    /// Device / I/O memory: uncached, strongly ordered (RISC-V `PBMT = IO`, Arm Device-nGnRE,
    /// x86 UC).
    Device,
    /// Normal cacheable memory (Arm Normal write-back, x86 WB).
    #[cfg_attr(
        target_arch = "riscv64",
        expect(
            dead_code,
            reason = "RISC-V entries never select normal memory: the PMAs do"
        )
    )]
    Normal,
    /// The entry selects no memory type: the platform's attributes decide (RISC-V `PBMT = 0`,
    /// the PMAs).
    #[cfg_attr(
        not(target_arch = "riscv64"),
        expect(dead_code, reason = "Arm and x86 entries always select a memory type")
    )]
    Platform,
    /// Anything else: the raw field.
    Other(u64),
}

/// Walks the active table for `vaddr` as the hardware does: from the root register that
/// translates it, the index of each level taken from `vaddr` (4 KiB granule: 9 bits per level
/// above bit 12), each entry read through the direct map and interpreted by
/// `arch::classify_entry`.
///
/// # Errors
/// The level and entry where the walk ends without a leaf, or a table outside usable RAM (not
/// read: it cannot be one of ours).
pub(crate) fn walk(vaddr: usize) -> Result<HardwareLeaf, String> {
    let root = TranslationRoot::translating(vaddr)?;
    let mut table = root.root;
    for level in (0..root.levels).rev() {
        let index = (vaddr >> (12 + 9 * level)) & 511;
        let entry = read_table_entry(table, index)?;
        match arch::classify_entry(entry, level) {
            RawEntry::Invalid => {
                return Err(format!(
                    "{vaddr:#x}: invalid entry {entry:#x} at level {level} (table {table:#x}, index {index})"
                ));
            }
            RawEntry::Table(next) => table = next,
            RawEntry::Leaf(paddr) => {
                let offset = vaddr & ((PAGE_SIZE << (9 * level)) - 1);
                return Ok(HardwareLeaf {
                    entry,
                    level,
                    paddr: paddr + offset,
                });
            }
        }
    }
    Err(format!(
        "{vaddr:#x}: a table pointer at the last level ({})",
        root.register
    ))
}

/// Entry `index` of the root table at `root`, as the hardware reads it.
///
/// # Errors
/// If `root` is not a page of usable RAM (not read: it cannot be one of ours).
pub(crate) fn root_entry(root: usize, index: usize) -> Result<u64, String> {
    read_table_entry(root, index % 512)
}

/// The number of table pages reachable from the root table at `root` (the root included), a
/// walk of `levels` levels as the hardware reads the entries. Tables outside usable RAM are not
/// read (they cannot be ours) and count as one page each.
pub(crate) fn table_pages(root: usize, levels: usize) -> usize {
    let level = levels - 1;
    1 + (0..512)
        .filter_map(|index| match read_table_entry(root, index) {
            Ok(entry) if level > 0 => match arch::classify_entry(entry, level) {
                RawEntry::Table(next) => Some(table_pages(next, level)),
                _ => None,
            },
            _ => None,
        })
        .sum::<usize>()
}

/// Entry `index` of the table page at `table`, read through the direct map.
fn read_table_entry(table: usize, index: usize) -> Result<u64, String> {
    let in_ram = layout::usable_ram()
        .as_slice()
        .iter()
        .any(|range| range.start <= table && table + PAGE_SIZE <= range.end);
    if !table.is_multiple_of(PAGE_SIZE) || !in_ram {
        return Err(format!(
            "the walk reached a table at {table:#x}, outside usable RAM"
        ));
    }
    // SAFETY: `table` is a page of usable RAM, in the direct map of the kernel space; the
    // index is below 512, so the read stays in that page.
    Ok(unsafe {
        (phys_to_virt(table) as *const u64)
            .add(index)
            .read_volatile()
    })
}
