//! Cases 12 and 13: the build's configuration is the one in effect. The MMU walks as many levels
//! as `vmlayer_paging` builds (Sv48 with the kernel feature `sv48`), shown by accesses to the top
//! of the lower half; DEVICE mappings carry the ISA's device memory type in the entries the
//! hardware walks (Svpbmt `PBMT = IO` with the kernel feature `svpbmt`), and loads through them
//! reach the device. The hardware side is read by `crate::hardware`, not by our crates.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use vmlayer_paging::MappingFlags;
use vmlayer_paging::PagingArch;

use super::fixtures::{Frame, read_faults, read_ok, slot, write_ok};
use crate::hardware::{self, MemoryType, TranslationRoot};
use crate::kernel_space::{self, Arch, Space, pa, va};
use crate::layout::{self, PAGE_SIZE};
use crate::{arch, ensure_eq, ensure_ok};

/// The end of the lower half of a 3-level (Sv39) table: 256 GiB. Addresses from here on need a
/// fourth level.
const THREE_LEVEL_LOWER_HALF_END: usize = 1 << 38;

/// The root register selects the mode `vmlayer_paging` builds tables for, which is the one the
/// kernel's features ask for (`satp.MODE = 9` with `sv48`), and the active root is the current
/// user space's. The last page of the lower half (in Sv48 `0x7fff_ffff_f000`) and, with four
/// or more levels, the first page Sv39 cannot translate (256 GiB) map, read and write through
/// their virtual address and nowhere else, and the hardware walk finds their frames at level 0.
pub(crate) fn translation_mode() -> Result<(), String> {
    let root = TranslationRoot::read()?;
    ensure_eq!(
        <Arch as PagingArch>::LEVELS,
        arch::BUILD_LEVELS,
        "{}: the levels vmlayer_paging selected are the ones the build asks for",
        <Arch as PagingArch>::NAME
    );
    ensure_eq!(
        root.levels,
        <Arch as PagingArch>::LEVELS,
        "{}: the levels the MMU walks",
        root.register
    );
    ensure_eq!(
        root.root,
        kernel_space::with(Space::User, |space| space.root_paddr().as_usize()),
        "the root register points to the current user space's root"
    );
    let end = layout::user_space_end();
    let mut pages = Vec::from([end - PAGE_SIZE]);
    if THREE_LEVEL_LOWER_HALF_END < end {
        pages.push(THREE_LEVEL_LOWER_HALF_END);
    }
    for (index, &page) in pages.iter().enumerate() {
        let fill = 0x7e57_0000 + index as u64;
        let frame = Frame::filled(fill)?;
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.map_linear(
                va(page),
                pa(frame.paddr),
                PAGE_SIZE,
                MappingFlags::READ | MappingFlags::WRITE
            )),
            "map {page:#x}"
        );
        ensure_eq!(
            read_ok(page, "read through the high mapping")?,
            fill,
            "{page:#x} shows its frame"
        );
        write_ok(page + 16, 0x600d, "write through the high mapping")?;
        ensure_eq!(
            frame.word(2),
            0x600d,
            "the write through {page:#x} landed in its frame"
        );
        let leaf = hardware::walk(page)?;
        ensure_eq!(
            (leaf.level, leaf.paddr),
            (0, frame.paddr),
            "the hardware walk of {page:#x} ({} levels)",
            root.levels
        );
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.unmap(va(page), PAGE_SIZE)),
            "unmap {page:#x}"
        );
        read_faults(page, "after unmap")?;
    }
    Ok(())
}

/// The entries the hardware walks for the kernel's MMIO pages (in the direct map) select the
/// ISA's device memory
/// type (RISC-V: `PBMT = IO` with the kernel feature `svpbmt`, no type without it; Arm:
/// Device-nGnRE; x86: UC), and loads through them reach the device (the console's transmitter
/// reports empty). A test page mapped DEVICE selects the device type too, a normal mapping of
/// another frame the normal type, and a write through the DEVICE mapping lands in its frame.
pub(crate) fn device_memory_type() -> Result<(), String> {
    for range in arch::MMIO_REGIONS {
        let address = layout::phys_to_virt(range.start);
        let leaf = hardware::walk(address)?;
        ensure_eq!(
            leaf.paddr,
            range.start,
            "MMIO page {address:#x} maps its device"
        );
        expect_memory_type(leaf.entry, leaf.level, arch::DEVICE_MEMORY, "MMIO", address)?;
    }
    ensure_eq!(
        arch::console_transmitter_drains(),
        true,
        "the console's status register reports the transmitter empty"
    );

    let base = slot(42);
    let device_frame = Frame::filled(0xde71_ce00)?;
    let normal_frame = Frame::filled(0x4a11_0000)?;
    let read_write = MappingFlags::READ | MappingFlags::WRITE;
    let mappings = [
        (
            "DEVICE",
            base,
            &device_frame,
            read_write | MappingFlags::DEVICE,
            arch::DEVICE_MEMORY,
        ),
        (
            "normal",
            base + 0x20_0000,
            &normal_frame,
            read_write,
            arch::NORMAL_MEMORY,
        ),
    ];
    for (name, page, frame, flags, expected) in mappings {
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.map_linear(
                va(page),
                pa(frame.paddr),
                PAGE_SIZE,
                flags
            )),
            "map the {name} page"
        );
        let leaf = hardware::walk(page)?;
        ensure_eq!(leaf.paddr, frame.paddr, "the {name} page's frame");
        expect_memory_type(leaf.entry, leaf.level, expected, name, page)?;
        ensure_eq!(
            read_ok(page, name)?,
            frame.word(0),
            "read through the {name} mapping"
        );
        // QEMU models no caches: the direct-map (normal) alias of the frame shows the write at
        // once. On hardware, mismatched memory types of one frame need cache maintenance.
        write_ok(page + 8, 0x0bad_cafe, name)?;
        ensure_eq!(
            frame.word(1),
            0x0bad_cafe,
            "the write through the {name} mapping landed"
        );
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.unmap(va(page), PAGE_SIZE)),
            "unmap the {name} page"
        );
    }
    Ok(())
}

/// Checks the memory type the hardware reads in `entry` (a leaf at `level` mapping `address`).
fn expect_memory_type(
    entry: u64,
    level: usize,
    expected: MemoryType,
    what: &str,
    address: usize,
) -> Result<(), String> {
    let (found, detail) = arch::memory_type(entry, level);
    if found == expected {
        Ok(())
    } else {
        Err(format!(
            "{what} page {address:#x}: entry {entry:#x} selects {found:?} ({detail}), expected \
             {expected:?}"
        ))
    }
}
