//! The kernel's address layout — the same on the three ISAs — the image layout from the linker
//! script (`link/common.ld`) and the RAM the kernel may use (the firmware's memory map minus
//! what is taken).
//!
//! - from `0x1000` to the end of the lower half: user spaces
//!   (`vmlayer_paging::AddressSpace::new_user`), nothing of the kernel;
//! - [`PHYS_OFFSET`] `+ pa`: the direct map, every usable RAM range read-write and the MMIO the
//!   kernel uses as device memory;
//! - [`KERNEL_TEST_WINDOW`]: the suite's own kernel pages (one 1 GiB slot per case);
//! - [`KERNEL_VIRT_BASE`] (`0xffff_ffff_8000_0000 +` the image's offset in its GiB): the image,
//!   text R+X, rodata R, data+bss+stack R+W.
//!
//! The kernel space ([`KERNEL_SPACE`]) spans the last 256 GiB: Sv39's whole upper half, the
//! smallest of the three ISAs' (Sv48 and x86_64 have 128 TiB, AArch64's `TTBR1_EL1` 256 TiB),
//! so one layout serves every ISA and mode, and the riscv64 boot mapping (always Sv39) reaches
//! the same addresses as the Sv48 kernel space.

use core::ops::Range;

use crate::firmware::MemoryMap;
use crate::global_cell::GlobalCell;
use crate::range_list::RangeList;
use crate::{arch, println};

/// Size of a base page on all three ISAs.
pub(crate) const PAGE_SIZE: usize = 4096;

/// Where the direct map starts: physical address `pa` is at `PHYS_OFFSET + pa` (usable RAM and
/// the kernel's MMIO, below [`RAM_LIMIT`]); `PagingHandler::phys_to_virt` adds it. The lowest
/// upper-half address of Sv39.
pub(crate) const PHYS_OFFSET: usize = 0xffff_ffc0_0000_0000;

/// The kernel space's range (`AddressSpace::new_kernel`): [`PHYS_OFFSET`] up to the last page,
/// which stays unused (a range's end cannot be 2^64). On x86_64 one root slot (the last 512
/// GiB), on Sv48 one, on Sv39 256 (one per GiB): `new_kernel` links a table into each.
pub(crate) const KERNEL_SPACE: Range<usize> = PHYS_OFFSET..0xffff_ffff_ffff_f000;

/// The suite's kernel pages: 16 slots of 1 GiB (`suite::fixtures::kernel_slot`), between the
/// direct map (which ends at `PHYS_OFFSET + RAM_LIMIT`) and the image.
pub(crate) const KERNEL_TEST_WINDOW: usize = 0xffff_fff0_0000_0000;

/// Where the image is linked: the top 2 GiB, at the offset of its load address in its GiB
/// (`0xffff_ffff_8020_0000` on the three ISAs). `link/common.ld` computes the same from
/// `KERNEL_PHYS_BASE`; [`set_memory`] checks that they agree.
pub(crate) const KERNEL_VIRT_BASE: usize =
    0xffff_ffff_8000_0000 + (arch::KERNEL_PHYS_BASE & (GIB - 1));

/// The image's virtual minus physical address.
pub(crate) const KERNEL_VIRT_OFFSET: usize = KERNEL_VIRT_BASE.wrapping_sub(arch::KERNEL_PHYS_BASE);

const GIB: usize = 1 << 30;

/// The kernel's address of physical address `paddr` (RAM or the kernel's MMIO), through the
/// direct map. Before the kernel space is active, the boot mapping covers the direct map of
/// the physical addresses below `arch::BOOT_MAPPED_END`.
pub(crate) const fn phys_to_virt(paddr: usize) -> usize {
    PHYS_OFFSET + paddr
}

/// The physical address of `vaddr` inside the kernel image (code, data, stack).
pub(crate) const fn image_phys(vaddr: usize) -> usize {
    vaddr.wrapping_sub(KERNEL_VIRT_OFFSET)
}

/// The end of the lower half, where user spaces live: `1 << VA_BITS` where the halves have
/// separate tables (AArch64 `TTBR0_EL1`), else `1 << (VA_BITS - 1)` (Sv39 256 GiB, Sv48 and
/// x86_64 128 TiB).
pub(crate) fn user_space_end() -> usize {
    use vmlayer_paging::PagingArch;
    type Arch = crate::kernel_space::Arch;
    if <Arch as PagingArch>::ONE_HALF_PER_TABLE {
        1 << <Arch as PagingArch>::VA_BITS
    } else {
        1 << (<Arch as PagingArch>::VA_BITS - 1)
    }
}

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __bss_end: u8;
    static __kernel_end: u8;
}

/// The page-aligned regions of the loaded kernel image.
#[derive(Clone, Debug)]
pub(crate) struct KernelLayout {
    /// Code: mapped read + execute.
    pub(crate) text: Range<usize>,
    /// Constants: mapped read-only.
    pub(crate) rodata: Range<usize>,
    /// `.data` and `.bss` (with the boot stack): mapped read + write.
    pub(crate) data: Range<usize>,
}

/// Reads the section boundaries the linker script exports.
pub(crate) fn kernel_layout() -> KernelLayout {
    // Taking the address of an extern static is safe; its contents are never read.
    let (text_start, text_end, rodata_start, rodata_end, data_start, bss_end) = (
        &raw const __text_start as usize,
        &raw const __text_end as usize,
        &raw const __rodata_start as usize,
        &raw const __rodata_end as usize,
        &raw const __data_start as usize,
        &raw const __bss_end as usize,
    );
    KernelLayout {
        text: text_start..text_end,
        rodata: rodata_start..rodata_end,
        data: data_start..bss_end,
    }
}

/// The whole image (virtual addresses), first byte to the page-aligned end of bss.
pub(crate) fn kernel_image() -> Range<usize> {
    &raw const __kernel_start as usize..&raw const __kernel_end as usize
}

/// The physical addresses the image was loaded at.
pub(crate) fn kernel_image_phys() -> Range<usize> {
    let image = kernel_image();
    image_phys(image.start)..image_phys(image.end)
}

/// The kernel uses RAM below 64 GiB only: the direct map of it ends far below
/// [`KERNEL_TEST_WINDOW`] (192 GiB above [`PHYS_OFFSET`]).
pub(crate) const RAM_LIMIT: usize = 0x10_0000_0000;

/// The RAM the kernel may use: in the direct map, handed to the frame pool.
static USABLE_RAM: GlobalCell<Option<RangeList>> = GlobalCell::new(None);

/// Records the machine's memory map and derives the usable RAM: every RAM bank, minus the
/// firmware's reserved areas, the kernel image, the first page (address 0 stays unmapped, so a
/// null access faults) and anything at or above [`RAM_LIMIT`]. Prints the banks and the result.
///
/// # Panics
/// If the linker script and [`KERNEL_VIRT_BASE`] disagree, if the RAM banks do not hold the
/// whole kernel image (a wrong firmware description), or nothing usable is left.
pub(crate) fn set_memory(map: &MemoryMap) {
    assert_eq!(
        kernel_image().start,
        KERNEL_VIRT_BASE,
        "link/common.ld and layout::KERNEL_VIRT_BASE disagree"
    );
    let image = kernel_image_phys();
    assert!(
        map.ram
            .as_slice()
            .iter()
            .any(|bank| bank.start <= image.start && image.end <= bank.end),
        "RAM {} ({}) does not hold the kernel {:#x}..{:#x}",
        map.ram,
        map.source,
        image.start,
        image.end
    );
    println!("RAM {} (from the {})", map.ram, map.source);
    println!("reserved by the firmware: {}", map.reserved);
    let mut usable = map.ram.clone();
    for reserved in map.reserved.as_slice() {
        usable.remove(page_outward(reserved));
    }
    usable.remove(page_outward(&image));
    usable.clip(PAGE_SIZE..RAM_LIMIT);
    // Whole pages only.
    let mut pages = RangeList::new();
    for range in usable.as_slice() {
        let whole = range.start.next_multiple_of(PAGE_SIZE)..range.end & !(PAGE_SIZE - 1);
        // Never more ranges than `usable` had: `add` cannot overflow.
        let added = pages.add(whole);
        debug_assert!(added);
    }
    assert!(!pages.is_empty(), "no usable RAM in {}", map.ram);
    println!("usable RAM: {} ({} MiB)", pages, pages.total() >> 20);
    USABLE_RAM.with(|slot| *slot = Some(pages));
}

/// `range` widened to whole pages.
fn page_outward(range: &Range<usize>) -> Range<usize> {
    range.start & !(PAGE_SIZE - 1)..range.end.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// The usable RAM found by [`set_memory`]: page-aligned, sorted, outside the image and every
/// firmware area.
///
/// # Panics
/// Before [`set_memory`].
pub(crate) fn usable_ram() -> RangeList {
    USABLE_RAM
        .with(|slot| slot.clone())
        .expect("memory map not set yet")
}

/// The usable RAM range that starts right after the kernel image (where the pool's frames near
/// the kernel come from); the suite checks its mapping as a sample of the direct map.
///
/// # Panics
/// Before [`set_memory`], or if no usable range follows the image.
pub(crate) fn frame_pool_window() -> Range<usize> {
    let image_end = kernel_image_phys().end;
    usable_ram()
        .as_slice()
        .iter()
        .find(|range| range.start >= image_end && !range.is_empty())
        .cloned()
        .expect("no usable RAM after the kernel image")
}

/// Prints the image layout (one line per region) and where it was loaded.
pub(crate) fn print_layout() {
    let layout = kernel_layout();
    println!(
        "kernel image: text {:#x}..{:#x} rodata {:#x}..{:#x} data+bss {:#x}..{:#x}, \
         loaded at {:#x}",
        layout.text.start,
        layout.text.end,
        layout.rodata.start,
        layout.rodata.end,
        layout.data.start,
        layout.data.end,
        kernel_image_phys().start
    );
}
