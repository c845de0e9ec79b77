//! RISC-V glue for QEMU `virt` with OpenSBI: the kernel starts in S-mode at its physical
//! address 0x8020_0000 with the MMU off, `a0` = hart id, `a1` = device tree; the boot code
//! (`boot.rs`) turns on an Sv39 boot mapping and jumps to the link address. The kernel space's
//! translation mode is the one `vmlayer_paging` selects (Sv39, or Sv48 with the kernel feature
//! `sv48`); DEVICE mappings carry Svpbmt's `PBMT = IO` with the kernel feature `svpbmt`.

use core::ops::Range;

use crate::firmware::MemoryMap;
use crate::layout::phys_to_virt;

mod boot;
mod hardware;
mod probe;
mod programs;
mod sbi;
mod shootdown;
mod smp;
mod trap;
mod user;
mod user_access;

pub(crate) use self::hardware::{
    BUILD_LEVELS, DEVICE_MEMORY, NORMAL_MEMORY, classify_entry, memory_type, translation_root,
};
pub(crate) use self::probe::{RETURN_INSTRUCTION, probe_execute, probe_read, probe_write};
pub(crate) use self::shootdown::{shootdown, with_interrupts_masked};
pub(crate) use self::smp::{cpu_index, discover_cpus, start_cpu};
pub(crate) use self::trap::TrapFrame;
pub(crate) use self::user::{UserContext, enter_user};
pub(crate) use self::user_access::{protect_user_memory, user_memory_blocked};

/// Printed at boot.
pub(crate) const ISA_NAME: &str = "riscv64 (S-mode under OpenSBI)";

/// What the boot CPU's id is (printed at boot): the hart id OpenSBI passed in `a0`. OpenSBI
/// picks the boot hart (any hart may win, not only hart 0) and keeps the others stopped (SBI
/// HSM) until a `hart_start` (`smp.rs`).
pub(crate) const CPU_ID_KIND: &str = "hart id";

/// The documented RAM window, used only if the device tree cannot be read: QEMU `virt` RAM
/// starts at 0x8000_0000 and is at least 128 MiB by default; OpenSBI owns the first 2 MiB at
/// most, so the window starts at the kernel image (0x8020_0000).
pub(crate) const RAM_WINDOW: Range<usize> = 0x8020_0000..0x8800_0000;

/// Where QEMU loads the image (its physical address; `link/riscv64.ld` says the same): OpenSBI
/// owns RAM from 0x8000_0000 and jumps to 0x8020_0000.
pub(crate) const KERNEL_PHYS_BASE: usize = 0x8020_0000;

/// Physical memory below this address is reachable through the direct map before the kernel
/// space is active: the boot mapping (`boot.rs`) maps the first 4 GiB (the devices, the device
/// tree, which QEMU puts below 3 GiB, and the first 2 GiB of RAM).
pub(crate) const BOOT_MAPPED_END: usize = 0x1_0000_0000;

/// Device memory the kernel maps (physical addresses, in the direct map as DEVICE): the ns16550
/// UART and the sifive_test exit device.
pub(crate) const MMIO_REGIONS: &[Range<usize>] =
    &[UART_BASE..UART_BASE + 0x1000, TEST_BASE..TEST_BASE + 0x1000];

const UART_BASE: usize = 0x1000_0000;
const TEST_BASE: usize = 0x10_0000;

/// Writes one byte to the ns16550 UART (polling the line-status register).
pub(crate) fn console_write_byte(byte: u8) {
    let transmit = phys_to_virt(UART_BASE) as *mut u8;
    let line_status = phys_to_virt(UART_BASE + 5) as *const u8;
    // SAFETY: the UART registers are device MMIO, in the direct map (boot mapping, then the
    // kernel space's DEVICE mapping); volatile accesses with no memory-safety impact.
    unsafe {
        while line_status.read_volatile() & 0x20 == 0 {}
        transmit.write_volatile(byte);
    }
}

/// Whether the UART's transmitter drains: polls the line-status register (a load through the
/// DEVICE mapping) until THRE and TEMT are both set, for a bounded number of reads.
pub(crate) fn console_transmitter_drains() -> bool {
    let line_status = phys_to_virt(UART_BASE + 5) as *const u8;
    // SAFETY: the UART's line-status register is device MMIO, mapped DEVICE; reading it has no
    // side effect.
    (0..1_000_000).any(|_| unsafe { line_status.read_volatile() } & 0x60 == 0x60)
}

/// Makes the console and the exit device reachable whatever the page table says, before a fatal
/// report: goes back to the boot mapping, whose 1 GiB leaves map the image at the same
/// addresses and the devices without memory-type bits. (A table whose DEVICE entries the hart
/// refuses, such as Svpbmt bits on a hart without Svpbmt, would otherwise fault again on every
/// console write.)
pub(crate) fn prepare_fatal_report() {
    let root = crate::layout::image_phys(&raw const boot::BOOT_TABLE as usize);
    let satp = boot::SATP_SV39 | root >> 12;
    // SAFETY: the boot mapping maps the image (code, stack, data) at the addresses it runs at
    // and the direct map of the devices; it is a constant that lives as long as the image.
    unsafe { core::arch::asm!("csrw satp, {0}", "sfence.vma", in(reg) satp, options(nostack)) };
}

/// Ends the QEMU run through the sifive_test device: 0x5555 → status 0, 0x3333 | 1 << 16 → 1.
pub(crate) fn exit_qemu(success: bool) -> ! {
    let code: u32 = if success { 0x5555 } else { 0x3333 | (1 << 16) };
    // SAFETY: the sifive_test register is device MMIO in the direct map; writing it stops the
    // machine.
    unsafe { (phys_to_virt(TEST_BASE) as *mut u32).write_volatile(code) };
    loop {
        // SAFETY: `wfi` only waits; QEMU exits before it returns.
        unsafe { core::arch::asm!("wfi") };
    }
}

/// Replaces the boot mapping with the kernel space at `root`, in the mode `vmlayer_paging`
/// selected (Sv39, or Sv48 with the feature `sv48`), through `satp`. Its lower half is empty:
/// the boot mapping's identity map is gone.
///
/// # Panics
/// If the CPU refuses the translation mode (`PagingArch::activate` reads it back).
///
/// # Safety
/// `root` must map the running kernel (code, stack, data, devices) at its current addresses and
/// stay alive while any root that shares its kernel half is active.
pub(crate) unsafe fn enable_kernel_space(root: vmlayer_paging::PhysAddr) {
    // SAFETY: forwarded contract; `activate` writes satp between `sfence.vma`s.
    unsafe { <vmlayer_paging::Arch as vmlayer_paging::PagingArch>::activate(root) }
        .expect("the CPU does not support the translation mode");
}

/// The memory map from the device tree whose physical address OpenSBI passed in `a1`
/// (`boot_argument`); OpenSBI's own region is a `/reserved-memory` child there.
pub(crate) fn discover_memory(boot_argument: usize) -> Option<MemoryMap> {
    // SAFETY: the SBI boot protocol passes the physical address of a valid device tree in `a1`
    // (QEMU puts it below 3 GiB: in the boot mapping's direct map); the reader checks the magic
    // and every bound.
    let (ram, reserved) = unsafe { crate::firmware::device_tree::memory_map(boot_argument) }?;
    Some(MemoryMap {
        ram,
        reserved,
        source: "device tree",
    })
}
