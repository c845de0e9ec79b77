//! Helpers shared by the cases: test address slots, frames with known contents, expected faults.

use alloc::format;
use alloc::string::String;

use crate::frame_pool;
use crate::kernel_space::va;
use crate::layout::{KERNEL_TEST_WINDOW, PAGE_SIZE, phys_to_virt};
use crate::probe;
use crate::trap::{Access, PageFaultInfo, describe};

/// Every case works in its own 1 GiB slot of the user space (the lower half) from 64 GiB up,
/// below the 256 GiB that Sv39's lower half reaches.
pub(crate) const fn slot(index: usize) -> usize {
    0x10_0000_0000 + index * 0x4000_0000
}

/// A case's own 1 GiB slot in the kernel space (the upper half), between the direct map and
/// the image (`layout::KERNEL_TEST_WINDOW`, 16 slots).
pub(crate) const fn kernel_slot(index: usize) -> usize {
    assert!(index < 16, "the kernel test window holds 16 slots");
    KERNEL_TEST_WINDOW + index * 0x4000_0000
}

/// A frame from the pool, freed on drop.
pub(crate) struct Frame {
    /// Physical address.
    pub(crate) paddr: usize,
}

impl Frame {
    /// Allocates a frame and fills it with `fill` words.
    pub(crate) fn filled(fill: u64) -> Result<Self, String> {
        let paddr = frame_pool::alloc(1, PAGE_SIZE).ok_or("frame pool exhausted")?;
        let frame = Self { paddr };
        // SAFETY: the frame is ours and in the direct map, read-write.
        unsafe {
            core::slice::from_raw_parts_mut(frame.virt() as *mut u64, PAGE_SIZE / 8).fill(fill)
        };
        Ok(frame)
    }

    /// The frame's kernel address: in the direct map.
    pub(crate) fn virt(&self) -> usize {
        phys_to_virt(self.paddr)
    }

    /// Reads word `index` through the direct map.
    pub(crate) fn word(&self, index: usize) -> u64 {
        assert!(index < PAGE_SIZE / 8, "word {index} is outside the frame");
        // SAFETY: in bounds of our frame, in the direct map.
        unsafe { (self.virt() as *const u64).add(index).read_volatile() }
    }

    /// Writes `bytes` at the start of the frame and makes them fetchable as instructions.
    pub(crate) fn put_code(&self, bytes: &[u8]) {
        assert!(bytes.len() <= PAGE_SIZE, "code larger than a page");
        // SAFETY: in bounds of our frame, in the direct map.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.virt() as *mut u8, bytes.len())
        };
        crate::kernel_space::sync_instruction_cache(self.virt(), bytes.len());
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        frame_pool::free(self.paddr, 1);
    }
}

/// Checks that `result` is a fault of `access` at `address` from kernel mode.
pub(crate) fn expect_kernel_fault<T: core::fmt::Debug>(
    result: Result<T, PageFaultInfo>,
    address: usize,
    access: Access,
    what: &str,
) -> Result<(), String> {
    let expected = PageFaultInfo::new(va(address), access, false);
    match result {
        Err(fault) if (fault.address, fault.access, fault.user) == (va(address), access, false) => {
            Ok(())
        }
        Err(fault) => Err(format!(
            "{what}: expected {}, got {}",
            describe(&expected),
            describe(&fault)
        )),
        Ok(value) => Err(format!(
            "{what}: expected {}, but the access succeeded ({value:x?})",
            describe(&expected)
        )),
    }
}

/// Reads a word that must be readable.
pub(crate) fn read_ok(address: usize, what: &str) -> Result<u64, String> {
    probe::read(address)
        .map_err(|fault| format!("{what}: read at {address:#x} faulted: {}", describe(&fault)))
}

/// Writes a word that must be writable.
pub(crate) fn write_ok(address: usize, value: u64, what: &str) -> Result<(), String> {
    // SAFETY: the suite only writes its own test mappings.
    unsafe { probe::write(address, value) }.map_err(|fault| {
        format!(
            "{what}: write at {address:#x} faulted: {}",
            describe(&fault)
        )
    })
}

/// Writes a word that must fault.
pub(crate) fn write_faults(address: usize, what: &str) -> Result<(), String> {
    // SAFETY: the suite only writes its own test mappings (and expects a fault here).
    expect_kernel_fault(
        unsafe { probe::write(address, 0xdead) },
        address,
        Access::Write,
        what,
    )
}

/// Reads a word that must fault.
pub(crate) fn read_faults(address: usize, what: &str) -> Result<(), String> {
    expect_kernel_fault(probe::read(address), address, Access::Read, what)
}
