//! AArch64 glue for QEMU `virt` (`-cpu cortex-a72 -semihosting`): QEMU loads the ELF at its
//! physical load address 0x4020_0000 and enters it at EL1 with the MMU off; the boot code
//! (`boot.rs`) turns the MMU on with a boot mapping and jumps to the upper-half link address.
//! The kernel space is the table of `TTBR1_EL1`, user spaces those of `TTBR0_EL1`.
//!
//! The link address leaves 2 MiB below the image: QEMU places the device tree of an ELF kernel
//! at the start of RAM only if it fits below the image's lowest address (the unpacked blob is
//! 1 MiB), and silently omits it otherwise (as it does at the common 0x4008_0000).

use core::ops::Range;

use crate::firmware::MemoryMap;
use crate::layout::phys_to_virt;

mod boot;
mod hardware;
mod mmu;
mod probe;
mod programs;
mod shootdown;
mod smp;
mod trap;
mod user;
mod user_access;

pub(crate) use self::hardware::{
    BUILD_LEVELS, DEVICE_MEMORY, NORMAL_MEMORY, classify_entry, memory_type, translation_root,
};
pub(crate) use self::mmu::{enable_kernel_space, kernel_half_registers};
pub(crate) use self::probe::{RETURN_INSTRUCTION, probe_execute, probe_read, probe_write};
pub(crate) use self::shootdown::{shootdown, with_interrupts_masked};
pub(crate) use self::smp::{cpu_index, discover_cpus, start_cpu};
pub(crate) use self::trap::TrapFrame;
pub(crate) use self::user::{UserContext, enter_user};
pub(crate) use self::user_access::{protect_user_memory, user_memory_blocked};

/// Printed at boot.
pub(crate) const ISA_NAME: &str = "aarch64 (VMSAv8-64 4K granule, EL1)";

/// What the boot CPU's id is (printed at boot): MPIDR_EL1's affinity fields. QEMU starts only
/// this CPU; the others stay off until a PSCI CPU_ON (`smp.rs`).
pub(crate) const CPU_ID_KIND: &str = "MPIDR affinity";

/// The documented RAM window, used only if the device tree cannot be read: QEMU `virt` RAM
/// starts at 0x4000_0000 and is 128 MiB by default; the window starts at the kernel image
/// (0x4020_0000), leaving alone whatever QEMU put below it.
pub(crate) const RAM_WINDOW: Range<usize> = 0x4020_0000..0x4800_0000;

/// Where QEMU loads the image (its physical address; `link/aarch64.ld` says the same).
pub(crate) const KERNEL_PHYS_BASE: usize = 0x4020_0000;

/// Physical memory below this address is reachable through the direct map before the kernel
/// space is active: the boot mapping (`boot.rs`) maps the first 4 GiB (the devices' GiB, the
/// device tree and the first 3 GiB of RAM).
pub(crate) const BOOT_MAPPED_END: usize = 0x1_0000_0000;

/// Device memory the kernel maps (physical addresses, in the direct map as DEVICE): the PL011
/// UART.
#[expect(
    clippy::single_range_in_vec_init,
    reason = "a list of regions that holds one on this machine"
)]
pub(crate) const MMIO_REGIONS: &[Range<usize>] = &[UART_BASE..UART_BASE + 0x1000];

const UART_BASE: usize = 0x0900_0000;

/// Where QEMU puts the device tree for an ELF kernel on `virt` (physical): the start of RAM
/// (below the image; no register carries it).
pub(super) const DEVICE_TREE_ADDRESS: usize = 0x4000_0000;

/// Writes one byte to the PL011 UART (polling the TX-FIFO-full flag).
pub(crate) fn console_write_byte(byte: u8) {
    let data = phys_to_virt(UART_BASE) as *mut u32;
    let flags = phys_to_virt(UART_BASE + 0x18) as *const u32;
    // SAFETY: the PL011 registers are device MMIO, in the direct map as Device memory (boot
    // mapping, then the kernel space's DEVICE mapping).
    unsafe {
        while flags.read_volatile() & (1 << 5) != 0 {}
        data.write_volatile(u32::from(byte));
    }
}

/// Whether the UART's transmitter drains: polls the flag register (a load through the DEVICE
/// mapping) until TXFE (transmit FIFO empty) is set, for a bounded number of reads.
pub(crate) fn console_transmitter_drains() -> bool {
    let flags = phys_to_virt(UART_BASE + 0x18) as *const u32;
    // SAFETY: the PL011 flag register is device MMIO, mapped DEVICE; reading it has no side
    // effect.
    (0..1_000_000).any(|_| unsafe { flags.read_volatile() } & (1 << 7) != 0)
}

/// Nothing to do before a fatal report: the console and semihosting do not depend on entries
/// the CPU could refuse.
pub(crate) fn prepare_fatal_report() {}

/// Ends the QEMU run through semihosting SYS_EXIT (ADP_Stopped_ApplicationExit, code 0 or 1).
pub(crate) fn exit_qemu(success: bool) -> ! {
    const SYS_EXIT: usize = 0x18;
    const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, if success { 0 } else { 1 }];
    loop {
        // SAFETY: the semihosting call reads the two-word block and stops QEMU (which runs with
        // `-semihosting`, as the platform notes require). A semihosting call returns its result
        // in x0, so x0 is declared clobbered even though SYS_EXIT does not return.
        unsafe {
            core::arch::asm!(
                "hlt #0xf000",
                inout("x0") SYS_EXIT => _,
                in("x1") block.as_ptr(),
                options(nostack, readonly)
            )
        };
    }
}

/// The memory map from the device tree at the start of RAM (`boot_argument`); the blob itself
/// is reserved by the reader.
pub(crate) fn discover_memory(boot_argument: usize) -> Option<MemoryMap> {
    // SAFETY: `boot_argument` is the start of RAM, below the image, in the boot mapping's
    // direct map; the reader checks the magic before trusting anything and bounds every read.
    let (ram, reserved) = unsafe { crate::firmware::device_tree::memory_map(boot_argument) }?;
    Some(MemoryMap {
        ram,
        reserved,
        source: "device tree",
    })
}
