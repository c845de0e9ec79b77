//! Helpers shared by the cases: test address slots, frames with known contents, expected faults.

use alloc::format;
use alloc::string::String;

use crate::frame_pool;
use crate::kernel_space::va;
use crate::layout::PAGE_SIZE;
use crate::probe;
use crate::trap::{Access, PageFaultInfo, describe};

/// Every case works in its own 1 GiB slot above 64 GiB, far from the identity-mapped RAM and
/// below the 256 GiB that Sv39's lower half reaches.
pub(crate) const fn slot(index: usize) -> usize {
    0x10_0000_0000 + index * 0x4000_0000
}

/// A frame from the pool, freed on drop.
pub(crate) struct Frame {
    /// Physical address (identity-mapped, so also the kernel's address for it).
    pub(crate) paddr: usize,
}

impl Frame {
    /// Allocates a frame and fills it with `fill` words.
    pub(crate) fn filled(fill: u64) -> Result<Self, String> {
        let paddr = frame_pool::alloc(1, PAGE_SIZE).ok_or("frame pool exhausted")?;
        // SAFETY: the frame is ours and identity-mapped read-write.
        unsafe { core::slice::from_raw_parts_mut(paddr as *mut u64, PAGE_SIZE / 8).fill(fill) };
        Ok(Self { paddr })
    }

    /// Reads word `index` through the identity mapping.
    pub(crate) fn word(&self, index: usize) -> u64 {
        // SAFETY: in bounds of our identity-mapped frame.
        unsafe { (self.paddr as *const u64).add(index).read_volatile() }
    }

    /// Writes `bytes` at the start of the frame and makes them fetchable as instructions.
    pub(crate) fn put_code(&self, bytes: &[u8]) {
        assert!(bytes.len() <= PAGE_SIZE, "code larger than a page");
        // SAFETY: in bounds of our identity-mapped frame.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.paddr as *mut u8, bytes.len())
        };
        crate::kernel_space::sync_instruction_cache(self.paddr, bytes.len());
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
