//! Where the RAM is: read from the firmware's description (a flattened device tree on riscv64
//! and aarch64, the PVH memory map on x86_64), with the ISA's documented fixed window as the
//! fallback when the description is missing or unreadable.

use core::ops::Range;

#[cfg(any(target_arch = "riscv64", target_arch = "aarch64"))]
pub(crate) mod device_tree;
#[cfg(target_arch = "x86_64")]
pub(crate) mod pvh;

/// The RAM region the kernel runs in, and who said so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ram {
    /// Physical address range of the RAM bank holding the kernel image.
    pub(crate) range: Range<usize>,
    /// `"device tree"`, `"PVH memory map"` or `"fixed window"`.
    pub(crate) source: &'static str,
}

/// The RAM bank holding the kernel, from the firmware description `boot_argument` points to
/// (see `arch::discover_ram`), else the documented window.
pub(crate) fn ram(boot_argument: usize) -> Ram {
    match crate::arch::discover_ram(boot_argument) {
        Some((range, source)) => Ram { range, source },
        None => Ram {
            range: crate::arch::RAM_WINDOW,
            source: "fixed window",
        },
    }
}
