//! The smallest flattened-device-tree reader that finds the memory map (Devicetree
//! Specification v0.4, chapter 5 "Flattened Devicetree (DTB) Format", and §3.4 "/memory",
//! §3.5 "/reserved-memory"):
//!
//! - RAM: every `reg` entry of every `/memory` or `/memory@…` node, in the root's
//!   `#address-cells`/`#size-cells`;
//! - reserved: every entry of the memory reservation block, every `reg` entry of the children of
//!   `/reserved-memory` (in that node's own cells; OpenSBI puts its own region there), and the
//!   blob itself;
//! - CPUs ([`cpus`]): the `reg`, `status`, `mmu-type` and `enable-method` of every
//!   `/cpus/cpu@…` node;
//! - the PSCI conduit (`psci_method`, AArch64 only): the `method` of `/psci` (Linux binding
//!   `arm/psci.yaml`).
//!
//! Every read is bounds-checked against the blob's declared size. Addresses are physical (the
//! firmware's, and what the memory map reports); the blob is read through the kernel's direct
//! map (`layout::phys_to_virt`).

use core::ops::Range;

use crate::layout::phys_to_virt;
use crate::range_list::RangeList;

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROPERTY: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
/// A blob larger than this is taken as garbage.
const MAX_SIZE: usize = 1 << 20;
/// Header fields (byte offsets): total size, structure block, strings block, reservation block.
const TOTAL_SIZE: usize = 4;
const STRUCTURE_OFFSET: usize = 8;
const STRINGS_OFFSET: usize = 12;
const RESERVATION_OFFSET: usize = 16;

/// The RAM banks and reserved areas described by the device tree at `blob`, or `None` if there
/// is no valid blob there, it has more banks or reserved areas than a [`RangeList`] holds, or a
/// `reg` uses cell sizes other than 1 or 2.
///
/// # Safety
/// `blob` must be 0 or a 4-byte aligned physical address whose first 40 bytes may be read
/// through the direct map; if they hold the device-tree magic, the `totalsize` bytes from
/// `blob` must be readable too.
pub(crate) unsafe fn memory_map(blob: usize) -> Option<(RangeList, RangeList)> {
    // SAFETY: forwarded contract.
    let Header {
        reader,
        structure,
        strings,
        reservations,
    } = unsafe { Header::read(blob) }?;
    let mut ram = RangeList::new();
    let mut reserved = RangeList::new();
    add(&mut reserved, reader.blob.clone())?;

    // The memory reservation block: (address, size) pairs of big-endian u64, ended by (0, 0).
    let mut entry = blob + reservations;
    loop {
        let (address, size) = (reader.cells(entry, 2)?, reader.cells(entry + 8, 2)?);
        if address == 0 && size == 0 {
            break;
        }
        add(&mut reserved, address..address.checked_add(size)?)?;
        entry += 16;
    }

    // The structure block.
    let root_cells = Cells::default();
    let mut reserved_memory_cells = root_cells;
    let (mut address_cells, mut size_cells) = (root_cells.address, root_cells.size);
    let mut depth = 0usize;
    // What the `reg` of the current node describes, if anything we care about.
    let mut current = Node::Other;
    let mut cursor = blob + structure;
    loop {
        let token = reader.word(cursor)?;
        cursor += 4;
        match token {
            BEGIN_NODE => {
                depth += 1;
                current = match depth {
                    2 if reader.name_is(cursor, b"memory", true) => Node::Memory,
                    2 if reader.name_is(cursor, b"reserved-memory", false) => Node::ReservedMemory,
                    3 if matches!(current, Node::ReservedMemory) => Node::Reserved,
                    _ => Node::Other,
                };
                cursor += (reader.name_length(cursor)? + 1).next_multiple_of(4);
            }
            END_NODE => {
                depth = depth.checked_sub(1)?;
                // Back in the parent: only `/reserved-memory` has children we read.
                current = if depth == 2 && matches!(current, Node::Reserved) {
                    Node::ReservedMemory
                } else {
                    Node::Other
                };
            }
            PROPERTY => {
                let length = reader.word(cursor)? as usize;
                let name = blob + strings + reader.word(cursor + 4)? as usize;
                let value = cursor + 8;
                cursor = value + length.next_multiple_of(4);
                let is = |expected: &[u8]| reader.name_is(name, expected, false);
                if depth == 1 && is(b"#address-cells") {
                    address_cells = reader.word(value)? as usize;
                    reserved_memory_cells.address = address_cells;
                } else if depth == 1 && is(b"#size-cells") {
                    size_cells = reader.word(value)? as usize;
                    reserved_memory_cells.size = size_cells;
                } else if matches!(current, Node::ReservedMemory) && is(b"#address-cells") {
                    reserved_memory_cells.address = reader.word(value)? as usize;
                } else if matches!(current, Node::ReservedMemory) && is(b"#size-cells") {
                    reserved_memory_cells.size = reader.word(value)? as usize;
                } else if is(b"reg") {
                    let (list, cells) = match current {
                        Node::Memory => (&mut ram, Cells::new(address_cells, size_cells)?),
                        Node::Reserved => (&mut reserved, reserved_memory_cells.checked()?),
                        Node::ReservedMemory | Node::Other => continue,
                    };
                    for range in reader.reg_entries(value, length, cells) {
                        add(list, range?)?;
                    }
                }
            }
            NOP => {}
            END => return Some((ram, reserved)),
            _ => return None,
        }
    }
}

/// A CPU node, `/cpus/cpu@…` (Devicetree Specification v0.4 §3.7 "/cpus", §3.8 "/cpus/cpu*").
pub(crate) struct CpuNode {
    /// Its `reg` (in the `#address-cells` of `/cpus`): the hart id on RISC-V, the MPIDR
    /// affinity bits on AArch64.
    pub(crate) id: usize,
    /// `status` is absent, `"okay"` or `"ok"` (§2.3.4): the CPU may be used.
    pub(crate) available: bool,
    /// The node has an `mmu-type` property (RISC-V binding: the hart translates addresses).
    #[cfg_attr(
        not(target_arch = "riscv64"),
        expect(dead_code, reason = "a RISC-V property")
    )]
    pub(crate) has_mmu_type: bool,
    /// Its `enable-method` lists `"psci"` (Arm binding `arm/cpus.yaml`: started by PSCI
    /// `CPU_ON`).
    #[cfg_attr(
        not(target_arch = "aarch64"),
        expect(dead_code, reason = "an Arm property")
    )]
    pub(crate) psci: bool,
}

/// Calls `found` with every CPU node of the device tree at `blob`, in tree order (no allocation:
/// it runs before the heap exists, while the boot mapping still maps the blob). `None` if there
/// is no valid blob there, a `cpu` node has no `reg` or one of more than 2 cells (after `found`
/// may have seen the nodes before it).
///
/// # Safety
/// As for [`memory_map`].
pub(crate) unsafe fn cpus(blob: usize, mut found: impl FnMut(CpuNode)) -> Option<()> {
    // SAFETY: forwarded contract.
    let Header {
        reader,
        structure,
        strings,
        ..
    } = unsafe { Header::read(blob) }?;
    // The specification's default, until `/cpus` says otherwise.
    let mut address_cells = Cells::default().address;
    let mut depth = 0usize;
    let mut in_cpus = false;
    // The `cpu` node being read: (id, available, has_mmu_type, psci).
    let mut current: Option<(Option<usize>, bool, bool, bool)> = None;
    let mut cursor = blob + structure;
    loop {
        let token = reader.word(cursor)?;
        cursor += 4;
        match token {
            BEGIN_NODE => {
                depth += 1;
                if depth == 2 {
                    in_cpus = reader.name_is(cursor, b"cpus", false);
                } else if depth == 3 && in_cpus && reader.name_is(cursor, b"cpu", true) {
                    current = Some((None, true, false, false));
                }
                cursor += (reader.name_length(cursor)? + 1).next_multiple_of(4);
            }
            END_NODE => {
                if depth == 3
                    && let Some((id, available, has_mmu_type, psci)) = current.take()
                {
                    found(CpuNode {
                        id: id?,
                        available,
                        has_mmu_type,
                        psci,
                    });
                }
                depth = depth.checked_sub(1)?;
            }
            PROPERTY => {
                let length = reader.word(cursor)? as usize;
                let name = blob + strings + reader.word(cursor + 4)? as usize;
                let value = cursor + 8;
                cursor = value + length.next_multiple_of(4);
                let is = |expected: &[u8]| reader.name_is(name, expected, false);
                if depth == 2 && in_cpus && is(b"#address-cells") {
                    address_cells = reader.word(value)? as usize;
                } else if depth == 3
                    && let Some((id, available, has_mmu_type, psci)) = current.as_mut()
                {
                    if is(b"reg") {
                        if !(1..=2).contains(&address_cells) || length < 4 * address_cells {
                            return None;
                        }
                        *id = Some(reader.cells(value, address_cells)?);
                    } else if is(b"status") {
                        *available = reader.name_is(value, b"okay", false)
                            || reader.name_is(value, b"ok", false);
                    } else if is(b"mmu-type") {
                        *has_mmu_type = true;
                    } else if is(b"enable-method") {
                        *psci = reader.strings_contain(value, length, b"psci");
                    }
                }
            }
            NOP => {}
            END => return Some(()),
            _ => return None,
        }
    }
}

/// How PSCI calls reach the firmware: the instruction the caller executes (SMC Calling
/// Convention, DEN0028).
#[cfg(target_arch = "aarch64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PsciMethod {
    /// `HVC #0`: the hypervisor (QEMU itself, for a kernel at EL1 without EL2).
    Hvc,
    /// `SMC #0`: the secure monitor at EL3.
    Smc,
}

/// The `method` of the `/psci` node of the device tree at `blob` (`"hvc"` or `"smc"`), or `None`
/// if there is no valid blob there, no `/psci` node or another method.
///
/// # Safety
/// As for [`memory_map`].
#[cfg(target_arch = "aarch64")]
pub(crate) unsafe fn psci_method(blob: usize) -> Option<PsciMethod> {
    // SAFETY: forwarded contract.
    let Header {
        reader,
        structure,
        strings,
        ..
    } = unsafe { Header::read(blob) }?;
    let mut depth = 0usize;
    let mut in_psci = false;
    let mut cursor = blob + structure;
    loop {
        let token = reader.word(cursor)?;
        cursor += 4;
        match token {
            BEGIN_NODE => {
                depth += 1;
                if depth == 2 {
                    in_psci = reader.name_is(cursor, b"psci", true);
                }
                cursor += (reader.name_length(cursor)? + 1).next_multiple_of(4);
            }
            END_NODE => depth = depth.checked_sub(1)?,
            PROPERTY => {
                let length = reader.word(cursor)? as usize;
                let name = blob + strings + reader.word(cursor + 4)? as usize;
                let value = cursor + 8;
                cursor = value + length.next_multiple_of(4);
                if depth == 2 && in_psci && reader.name_is(name, b"method", false) {
                    return if reader.strings_contain(value, length, b"hvc") {
                        Some(PsciMethod::Hvc)
                    } else if reader.strings_contain(value, length, b"smc") {
                        Some(PsciMethod::Smc)
                    } else {
                        None
                    };
                }
            }
            NOP => {}
            _ => return None,
        }
    }
}

/// A checked header: the blob's bounds and the offsets (from `blob`) of its blocks.
struct Header {
    reader: Reader,
    structure: usize,
    strings: usize,
    reservations: usize,
}

impl Header {
    /// The header at `blob`, or `None` without the magic or with offsets outside the blob.
    ///
    /// # Safety
    /// As for [`memory_map`].
    unsafe fn read(blob: usize) -> Option<Self> {
        if blob == 0 || !blob.is_multiple_of(4) {
            return None;
        }
        // SAFETY: the header is readable per the contract.
        let (magic, total_size, structure, strings, reservations) = unsafe {
            (
                read_be32(blob),
                read_be32(blob + TOTAL_SIZE) as usize,
                read_be32(blob + STRUCTURE_OFFSET) as usize,
                read_be32(blob + STRINGS_OFFSET) as usize,
                read_be32(blob + RESERVATION_OFFSET) as usize,
            )
        };
        if magic != MAGIC
            || total_size > MAX_SIZE
            || !structure.is_multiple_of(4)
            || structure >= total_size
            || strings >= total_size
            || !reservations.is_multiple_of(8)
            || reservations >= total_size
        {
            return None;
        }
        Some(Self {
            reader: Reader {
                blob: blob..blob + total_size,
            },
            structure,
            strings,
            reservations,
        })
    }
}

/// Which node the structure walk is in.
#[derive(Clone, Copy)]
enum Node {
    /// `/memory` or `/memory@…`: its `reg` lists RAM.
    Memory,
    /// `/reserved-memory` itself: its cell sizes apply to its children.
    ReservedMemory,
    /// A child of `/reserved-memory`: its `reg` lists reserved areas.
    Reserved,
    /// Anything else.
    Other,
}

/// `#address-cells` and `#size-cells` (each 1 or 2 here: 32- or 64-bit values).
#[derive(Clone, Copy)]
struct Cells {
    address: usize,
    size: usize,
}

impl Default for Cells {
    /// The specification's defaults.
    fn default() -> Self {
        Self {
            address: 2,
            size: 1,
        }
    }
}

impl Cells {
    fn new(address: usize, size: usize) -> Option<Self> {
        Self { address, size }.checked()
    }

    fn checked(self) -> Option<Self> {
        ((1..=2).contains(&self.address) && (1..=2).contains(&self.size)).then_some(self)
    }
}

/// Adds `range` to `list`; `None` when the list is full.
fn add(list: &mut RangeList, range: Range<usize>) -> Option<()> {
    list.add(range).then_some(())
}

/// Bounds-checked reads inside the blob.
struct Reader {
    blob: Range<usize>,
}

impl Reader {
    fn word(&self, address: usize) -> Option<u32> {
        (address.is_multiple_of(4) && address >= self.blob.start && address + 4 <= self.blob.end)
            // SAFETY: inside the blob, which is readable per the contract of `memory_map`.
            .then(|| unsafe { read_be32(address) })
    }

    fn byte(&self, address: usize) -> Option<u8> {
        // SAFETY: inside the blob, which is readable per the contract of `memory_map`.
        self.blob
            .contains(&address)
            .then(|| unsafe { (phys_to_virt(address) as *const u8).read_volatile() })
    }

    /// A value of `count` big-endian 32-bit cells at `address`.
    fn cells(&self, address: usize, count: usize) -> Option<usize> {
        (0..count).try_fold(0usize, |value, index| {
            Some((value << 32) | self.word(address + 4 * index)? as usize)
        })
    }

    /// The (address, size) entries of a `reg` value of `length` bytes at `value`.
    fn reg_entries(
        &self,
        value: usize,
        length: usize,
        cells: Cells,
    ) -> impl Iterator<Item = Option<Range<usize>>> + '_ {
        let entry_size = 4 * (cells.address + cells.size);
        (0..length / entry_size).map(move |index| {
            let entry = value + index * entry_size;
            let base = self.cells(entry, cells.address)?;
            let size = self.cells(entry + 4 * cells.address, cells.size)?;
            Some(base..base.checked_add(size)?)
        })
    }

    /// Whether the NUL-terminated name at `address` is `expected` (or `expected@unit` when
    /// `with_unit_address`).
    fn name_is(&self, address: usize, expected: &[u8], with_unit_address: bool) -> bool {
        let same =
            (0..expected.len()).all(|index| self.byte(address + index) == Some(expected[index]));
        match self.byte(address + expected.len()) {
            Some(0) => same,
            Some(b'@') => same && with_unit_address,
            _ => false,
        }
    }

    /// Whether the string list of `length` bytes at `value` (NUL-terminated strings one after
    /// the other, §2.2.4 `<stringlist>`) holds `expected`.
    fn strings_contain(&self, value: usize, length: usize, expected: &[u8]) -> bool {
        let mut string = value;
        while string < value + length {
            if self.name_is(string, expected, false) {
                return true;
            }
            match self.name_length(string) {
                Some(string_length) => string += string_length + 1,
                None => return false,
            }
        }
        false
    }

    fn name_length(&self, address: usize) -> Option<usize> {
        (address..self.blob.end).position(|at| self.byte(at) == Some(0))
    }
}

/// Reads a big-endian `u32` (device-tree byte order) at physical address `address`.
///
/// # Safety
/// `address` must be 4-byte aligned and readable through the direct map.
unsafe fn read_be32(address: usize) -> u32 {
    // SAFETY: forwarded contract; volatile keeps the access 4 bytes wide.
    u32::from_be(unsafe { (phys_to_virt(address) as *const u32).read_volatile() })
}
