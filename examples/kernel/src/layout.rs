//! The kernel image layout from the linker script (`link/common.ld`) and the RAM the kernel may
//! use (the firmware's memory map minus what is taken).

use core::ops::Range;

use crate::firmware::MemoryMap;
use crate::global_cell::GlobalCell;
use crate::println;
use crate::range_list::RangeList;

/// Size of a base page on all three ISAs.
pub(crate) const PAGE_SIZE: usize = 4096;

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

/// The whole image, first byte to the page-aligned end of bss.
pub(crate) fn kernel_image() -> Range<usize> {
    &raw const __kernel_start as usize..&raw const __kernel_end as usize
}

/// The kernel uses RAM below 64 GiB only: the conformance suite's test slots start there
/// (`suite::fixtures::slot`), and every ISA here can map it (Sv39's lower half reaches 256 GiB).
pub(crate) const RAM_LIMIT: usize = 0x10_0000_0000;

/// The RAM the kernel may use: identity-mapped by every address space, handed to the frame pool.
static USABLE_RAM: GlobalCell<Option<RangeList>> = GlobalCell::new(None);

/// Records the machine's memory map and derives the usable RAM: every RAM bank, minus the
/// firmware's reserved areas, the kernel image, the first page (address 0 stays unmapped, so a
/// null access faults) and anything at or above [`RAM_LIMIT`]. Prints the banks and the result.
///
/// # Panics
/// If the RAM banks do not hold the whole kernel image (a wrong firmware description), or
/// nothing usable is left.
pub(crate) fn set_memory(map: &MemoryMap) {
    let image = kernel_image();
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
/// the kernel come from); the suite checks its mapping as a sample of the linear RAM map.
///
/// # Panics
/// Before [`set_memory`], or if no usable range follows the image.
pub(crate) fn frame_pool_window() -> Range<usize> {
    let image_end = kernel_image().end;
    usable_ram()
        .as_slice()
        .iter()
        .find(|range| range.start >= image_end && !range.is_empty())
        .cloned()
        .expect("no usable RAM after the kernel image")
}

/// Prints the image layout (one line per region).
pub(crate) fn print_layout() {
    let layout = kernel_layout();
    println!(
        "kernel image: text {:#x}..{:#x} rodata {:#x}..{:#x} data+bss {:#x}..{:#x}",
        layout.text.start,
        layout.text.end,
        layout.rodata.start,
        layout.rodata.end,
        layout.data.start,
        layout.data.end
    );
}
