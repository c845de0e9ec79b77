//! RISC-V glue for QEMU `virt` with OpenSBI: the kernel starts in S-mode at 0x8020_0000 with
//! the MMU off, `a0` = hart id, `a1` = device tree. The translation mode is the one
//! `vmlayer_paging` selects (Sv39, or Sv48 with the kernel feature `sv48`); DEVICE mappings carry
//! Svpbmt's `PBMT = IO` with the kernel feature `svpbmt`.

use core::ops::Range;

use crate::firmware::MemoryMap;

mod boot;
mod hardware;
mod probe;
mod trap;
mod user;
mod user_access;

pub(crate) use self::hardware::{
    BUILD_LEVELS, DEVICE_MEMORY, NORMAL_MEMORY, classify_entry, memory_type, translation_root,
};
pub(crate) use self::probe::{RETURN_INSTRUCTION, probe_execute, probe_read, probe_write};
pub(crate) use self::trap::TrapFrame;
pub(crate) use self::user::run_user;
pub(crate) use self::user_access::{protect_user_memory, user_memory_blocked};

/// Printed at boot.
pub(crate) const ISA_NAME: &str = "riscv64 (S-mode under OpenSBI)";

/// What the boot CPU's id is (printed at boot): the hart id OpenSBI passed in `a0`. OpenSBI
/// picks the boot hart (any hart may win, not only hart 0) and keeps the others stopped (SBI
/// HSM) until a `hart_start`, which this kernel never sends.
pub(crate) const CPU_ID_KIND: &str = "hart id";

/// The documented RAM window, used only if the device tree cannot be read: QEMU `virt` RAM
/// starts at 0x8000_0000 and is at least 128 MiB by default; OpenSBI owns the first 2 MiB at
/// most, so the window starts at the kernel image (0x8020_0000).
pub(crate) const RAM_WINDOW: Range<usize> = 0x8020_0000..0x8800_0000;

/// Memory below this address is reachable before the kernel's page table is active: the MMU is
/// off until then (`satp` = Bare), so all of it.
pub(crate) const BOOT_MAPPED_END: usize = usize::MAX;

/// Device memory the kernel maps: the ns16550 UART and the sifive_test exit device.
pub(crate) const MMIO_REGIONS: &[Range<usize>] =
    &[UART_BASE..UART_BASE + 0x1000, TEST_BASE..TEST_BASE + 0x1000];

const UART_BASE: usize = 0x1000_0000;
const TEST_BASE: usize = 0x10_0000;

/// Writes one byte to the ns16550 UART (polling the line-status register).
pub(crate) fn console_write_byte(byte: u8) {
    let transmit = UART_BASE as *mut u8;
    let line_status = (UART_BASE + 5) as *const u8;
    // SAFETY: the UART registers are device MMIO (identity-mapped as DEVICE once the MMU is on);
    // volatile accesses with no memory-safety impact.
    unsafe {
        while line_status.read_volatile() & 0x20 == 0 {}
        transmit.write_volatile(byte);
    }
}

/// Whether the UART's transmitter drains: polls the line-status register (a load through the
/// DEVICE mapping) until THRE and TEMT are both set, for a bounded number of reads.
pub(crate) fn console_transmitter_drains() -> bool {
    let line_status = (UART_BASE + 5) as *const u8;
    // SAFETY: the UART's line-status register is device MMIO, mapped DEVICE; reading it has no
    // side effect.
    (0..1_000_000).any(|_| unsafe { line_status.read_volatile() } & 0x60 == 0x60)
}

/// Makes the console and the exit device reachable whatever the page table says, before a fatal
/// report: turns translation off (`satp` = Bare). The kernel is identity-mapped, so execution
/// continues at the same addresses. (A table whose DEVICE entries the hart refuses, such as
/// Svpbmt bits on a hart without Svpbmt, would otherwise fault again on every console write.)
pub(crate) fn prepare_fatal_report() {
    // SAFETY: with translation off every address is its physical address, which is where the
    // identity-mapped kernel (code, stack, data, devices) already runs.
    unsafe { core::arch::asm!("csrw satp, zero", "sfence.vma", options(nostack)) };
}

/// Ends the QEMU run through the sifive_test device: 0x5555 → status 0, 0x3333 | 1 << 16 → 1.
pub(crate) fn exit_qemu(success: bool) -> ! {
    let code: u32 = if success { 0x5555 } else { 0x3333 | (1 << 16) };
    // SAFETY: the sifive_test register is device MMIO; writing it stops the machine.
    unsafe { (TEST_BASE as *mut u32).write_volatile(code) };
    loop {
        // SAFETY: `wfi` only waits; QEMU exits before it returns.
        unsafe { core::arch::asm!("wfi") };
    }
}

/// Turns translation on with the table at `root`, in the mode `vmlayer_paging` selected (Sv39,
/// or Sv48 with the feature `sv48`), through `satp`.
///
/// # Safety
/// `root` must map the running kernel (code, stack, data, devices) at its current addresses.
pub(crate) unsafe fn enable_mmu(
    root: vmlayer_arch::PhysAddr,
) -> Result<(), vmlayer_arch::ActivateError> {
    // SAFETY: forwarded contract; `activate` writes satp between `sfence.vma`s.
    unsafe { <vmlayer_paging::Arch as vmlayer_arch::PagingArch>::activate(root) }
}

/// The memory map from the device tree whose address OpenSBI passed in `a1` (`boot_argument`);
/// OpenSBI's own region is a `/reserved-memory` child there.
pub(crate) fn discover_memory(boot_argument: usize) -> Option<MemoryMap> {
    // SAFETY: the SBI boot protocol passes the physical address of a valid device tree in `a1`
    // (readable: the MMU is off); the reader checks the magic and every bound.
    let (ram, reserved) = unsafe { crate::firmware::device_tree::memory_map(boot_argument) }?;
    Some(MemoryMap {
        ram,
        reserved,
        source: "device tree",
    })
}
