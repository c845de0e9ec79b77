//! The kernel image layout from the linker script (`link/common.ld`) and the RAM window.

use core::ops::Range;

use crate::firmware::Ram;
use crate::global_cell::GlobalCell;
use crate::println;

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

static RAM: GlobalCell<Option<Ram>> = GlobalCell::new(None);

/// Records the RAM bank found at boot.
///
/// # Panics
/// If the bank does not hold the whole kernel image (a wrong firmware description).
pub(crate) fn set_ram(ram: Ram) {
    let image = kernel_image();
    assert!(
        ram.range.start <= image.start && image.end <= ram.range.end,
        "RAM {:#x}..{:#x} ({}) does not hold the kernel {:#x}..{:#x}",
        ram.range.start,
        ram.range.end,
        ram.source,
        image.start,
        image.end
    );
    println!(
        "RAM {:#x}..{:#x} (from the {})",
        ram.range.start, ram.range.end, ram.source
    );
    RAM.with(|slot| *slot = Some(ram));
}

/// Free RAM for the frame pool and the heap: from the end of the image to the end of the RAM
/// bank found at boot ([`set_ram`]).
///
/// # Panics
/// Before [`set_ram`].
pub(crate) fn frame_pool_window() -> Range<usize> {
    let start = kernel_image().end.next_multiple_of(PAGE_SIZE);
    let end = RAM
        .with(|slot| slot.as_ref().map(|ram| ram.range.end))
        .expect("RAM not set yet");
    start..end & !(PAGE_SIZE - 1)
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
