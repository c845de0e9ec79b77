//! The AArch64 kernel half: an address space of upper-half addresses only, loaded into
//! `TTBR1_EL1` once at boot and never switched. It holds the linear map of RAM at
//! [`arch::KERNEL_LINEAR_BASE`] + physical address (read-write, global, never executable).
//!
//! The kernel's code, data and stack stay identity-mapped in the lower half, in every TTBR0
//! table; only the linear map (and what the suite maps for a while) lives up here. Switching
//! the TTBR0 space (`kernel_space::switch_to`) leaves `TTBR1_EL1` alone, so the upper half
//! reads the same in every space. Page tables are still reached through the identity map
//! (`KernelFrames::phys_to_virt`): the kernel half is built before `TTBR1_EL1` holds it.

use vmlayer_aarch64::registers::{self, Half};
use vmlayer_paging::{MappingError, MappingFlags};

use super::{KernelAddressSpace, SPACES, new_space, pa, va};
use crate::{arch, layout, println};

/// The kernel-half address of physical address `paddr` (RAM below `layout::RAM_LIMIT`).
pub(crate) const fn linear_address(paddr: usize) -> usize {
    arch::KERNEL_LINEAR_BASE + paddr
}

/// Whether the CPU translates `vaddr` through `TTBR1_EL1` (bits 63:48 all ones).
pub(crate) fn translates(vaddr: usize) -> bool {
    Half::of(vaddr) == Some(Half::Upper)
}

/// A new kernel half holding the linear map of every usable RAM range (the frames the pool
/// hands out) as `READ | WRITE` (not `USER`, so global; in 2 MiB blocks where aligned).
fn new_kernel_half() -> Result<KernelAddressSpace, MappingError> {
    let mut space = new_space()?;
    for range in layout::usable_ram().as_slice() {
        space.map_linear(
            va(linear_address(range.start)),
            pa(range.start),
            range.end - range.start,
            MappingFlags::READ | MappingFlags::WRITE,
        )?;
    }
    Ok(space)
}

/// Builds the kernel half, loads it into `TTBR1_EL1` and turns TTBR1 walks on; to be called
/// once the MMU is on.
///
/// # Panics
/// If the linear map cannot be built (no memory) or `TCR_EL1` does not read back with TTBR1
/// walks on.
pub(super) fn init() {
    let space = new_kernel_half().expect("mapping the kernel half failed");
    let root = space.root_paddr();
    SPACES.with(|spaces| spaces.kernel_half = Some(space));
    // SAFETY: the MMU is on; the table holds upper-half addresses only and lives in `SPACES`
    // until the kernel exits; nothing uses an upper-half address before this.
    let tcr = unsafe { arch::enable_kernel_half(root) };
    assert!(
        arch::kernel_half_walks_enabled(tcr),
        "TCR_EL1 {tcr:#x}: TTBR1 walks still off"
    );
    println!(
        "kernel half: TTBR1_EL1 {:#x}, TCR_EL1 {tcr:#x} (EPD1 clear, T1SZ 16), RAM at {:#x} + pa",
        registers::read_ttbr1(),
        arch::KERNEL_LINEAR_BASE
    );
}
