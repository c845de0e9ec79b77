//! x86_64 glue for QEMU `q35` booted through the PVH entry: QEMU reads the `.note.Xen` note and
//! enters the 32-bit stub at its physical address in protected mode with paging off; the stub
//! reaches long mode with a boot mapping and jumps to the upper-half link address.

use core::ops::Range;

use crate::firmware::MemoryMap;

mod acpi;
mod apic;
mod boot;
mod descriptors;
mod hardware;
mod pit;
mod probe;
mod programs;
mod shootdown;
mod smp;
mod trampoline;
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
pub(crate) const ISA_NAME: &str = "x86_64 (4-level paging, long mode via PVH)";

/// What the boot CPU's id is (printed at boot): CPUID.1:EBX\[31:24\]. The other CPUs wait for
/// INIT-SIPI-SIPI (`smp.rs`).
pub(crate) const CPU_ID_KIND: &str = "initial APIC id";

/// The documented RAM window, used only if the PVH memory map cannot be read: QEMU `q35` has
/// 128 MiB at 0 by default. The kernel is loaded at 2 MiB (the low 2 MiB hold the BIOS areas and
/// the PVH start info); the top 16 MiB are left to the firmware's ACPI tables.
pub(crate) const RAM_WINDOW: Range<usize> = 0x20_0000..0x700_0000;

/// Where QEMU loads the image (its physical address; `link/x86_64.ld` says the same).
pub(crate) const KERNEL_PHYS_BASE: usize = 0x20_0000;

/// Physical memory below this address is reachable through the direct map before the kernel
/// space is active: the PVH stub's boot mapping maps the first 4 GiB (`boot.rs`), which hold
/// the firmware's ACPI tables. The frame pool hands out nothing above it until the kernel space,
/// which maps all RAM, is active.
pub(crate) const BOOT_MAPPED_END: usize = 0x1_0000_0000;

/// Device memory the kernel maps: the local APIC's page (`apic.rs`: IPIs, end of interrupt);
/// the console (COM1) and the exit device are I/O ports.
pub(crate) const MMIO_REGIONS: &[Range<usize>] = &[apic::PAGE];

const COM1: u16 = 0x3f8;
const DEBUG_EXIT_PORT: u16 = 0xf4;

fn outb(port: u16, value: u8) {
    // SAFETY: port I/O to the UART or the isa-debug-exit device has no memory effects.
    unsafe {
        core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack))
    };
}

fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: reading the UART line status has no memory effects.
    unsafe {
        core::arch::asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack))
    };
    value
}

/// Writes one byte to COM1 (polling the line-status register).
pub(crate) fn console_write_byte(byte: u8) {
    while inb(COM1 + 5) & 0x20 == 0 {}
    outb(COM1, byte);
}

/// Whether COM1's transmitter drains: polls the line-status register (port I/O: no mapping is
/// involved) until THRE and TEMT are both set, for a bounded number of reads.
pub(crate) fn console_transmitter_drains() -> bool {
    (0..1_000_000).any(|_| inb(COM1 + 5) & 0x60 == 0x60)
}

/// Nothing to do before a fatal report: the console and the exit device are I/O ports.
pub(crate) fn prepare_fatal_report() {}

/// Ends the QEMU run through isa-debug-exit: 0x10 → status 33 (pass), 0x11 → status 35.
pub(crate) fn exit_qemu(success: bool) -> ! {
    outb(DEBUG_EXIT_PORT, if success { 0x10 } else { 0x11 });
    loop {
        // SAFETY: `hlt` only waits; QEMU exits before it returns.
        unsafe { core::arch::asm!("cli", "hlt") };
    }
}

/// Replaces the boot mapping with the kernel space at `root` (paging is already on since the
/// PVH stub; `activate` writes CR3). Its lower half is empty: the boot identity map is gone.
///
/// # Panics
/// If the CPU refuses the translation mode (`PagingArch::activate` reads it back).
///
/// # Safety
/// `root` must map the running kernel (code, stack, data, GDT/IDT/TSS) at its current addresses
/// and stay alive while any root that shares its kernel half is active.
pub(crate) unsafe fn enable_kernel_space(root: vmlayer_paging::PhysAddr) {
    // SAFETY: forwarded contract.
    unsafe { <vmlayer_paging::Arch as vmlayer_paging::PagingArch>::activate(root) }
        .expect("the CPU does not support the translation mode");
}

/// The memory map from the PVH start info at `boot_argument` (from `ebx`): every RAM entry;
/// the other entries, the start info and its tables are reserved by the reader. While the boot
/// mapping still reaches the firmware's tables, this also reads the CPU list from the ACPI MADT
/// and puts the secondary CPUs' trampoline in place, reserving its page (`smp::prepare`).
pub(crate) fn discover_memory(boot_argument: usize) -> Option<MemoryMap> {
    // SAFETY: the PVH boot protocol passes the start info's physical address in `ebx`; it and its
    // memory map lie in the first GiB, in the boot mapping's direct map; the reader checks the
    // magic and version before trusting anything.
    let (ram, mut reserved) = unsafe { crate::firmware::pvh::memory_map(boot_argument) }?;
    // SAFETY: `kernel_main` reads the memory map before the kernel space replaces the boot
    // mapping; the reader accepted the start info, and `ram`/`reserved` are its map.
    unsafe { smp::prepare(boot_argument, &ram, &mut reserved) };
    Some(MemoryMap {
        ram,
        reserved,
        source: "PVH memory map",
    })
}
