//! The local APIC in xAPIC mode: its registers are 32-bit MMIO in the page at physical
//! `0xFEE0_0000`, which the kernel space maps as DEVICE (`MMIO_REGIONS`, reached through the
//! direct map), the same address on every CPU, each CPU reaching its own APIC there.
//!
//! Intel SDM Vol. 3A (chapter numbers of the 2016–2022 editions): §10.4.3 enabling the APIC
//! (`IA32_APIC_BASE`), §10.4.6 the local APIC id, §10.6.1 the interrupt command register (ICR)
//! that sends IPIs, §10.8.5 end of interrupt, §10.9 the spurious-interrupt vector register
//! (whose bit 8 software-enables the APIC).

use crate::layout::phys_to_virt;

/// Where the xAPIC registers are (the reset value of `IA32_APIC_BASE`; the MADT says the same).
pub(super) const BASE: usize = 0xFEE0_0000;
/// The registers' page, for `MMIO_REGIONS`.
pub(super) const PAGE: core::ops::Range<usize> = BASE..BASE + 0x1000;

const IA32_APIC_BASE: u32 = 0x1b;
/// `IA32_APIC_BASE` bit 11: the APIC is globally enabled; bit 10: x2APIC mode (MSR access only).
const GLOBAL_ENABLE: u64 = 1 << 11;
const X2APIC_MODE: u64 = 1 << 10;
const BASE_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Register offsets.
const ID: usize = 0x20;
const END_OF_INTERRUPT: usize = 0xb0;
const SPURIOUS_VECTOR: usize = 0xf0;
const ERROR_STATUS: usize = 0x280;
const ICR_LOW: usize = 0x300;
const ICR_HIGH: usize = 0x310;

/// Spurious-vector register bit 8: APIC software enable.
const SOFTWARE_ENABLE: u32 = 1 << 8;
/// ICR bits: delivery mode (10:8) fixed 000, INIT 101, start-up 110; delivery status (12, send
/// pending); level (14) assert. Edge trigger (bit 15 = 0), physical destination mode (bit 11 =
/// 0) and no shorthand (19:18 = 0) throughout: the destination is the APIC id in ICR bits 63:56.
const DELIVERY_INIT: u32 = 0b101 << 8;
const DELIVERY_STARTUP: u32 = 0b110 << 8;
const DELIVERY_PENDING: u32 = 1 << 12;
const LEVEL_ASSERT: u32 = 1 << 14;
/// Polls of the delivery status before a send counts as stuck.
const SEND_POLL_LIMIT: usize = 1_000_000;

fn register(offset: usize) -> *mut u32 {
    (phys_to_virt(BASE) + offset) as *mut u32
}

/// Reads a register.
fn read(offset: usize) -> u32 {
    // SAFETY: the kernel space maps the APIC page as DEVICE in the direct map (`MMIO_REGIONS`);
    // `offset` is one of the 16-byte aligned registers above; reading them has no side effect.
    unsafe { register(offset).read_volatile() }
}

/// Writes a register.
fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`; the callers write what the SDM prescribes for each register.
    unsafe { register(offset).write_volatile(value) }
}

/// Checks that this CPU's APIC is globally enabled, in xAPIC mode, at [`BASE`].
///
/// # Errors
/// What differs.
pub(super) fn check_xapic() -> Result<(), &'static str> {
    let (low, high): (u32, u32);
    // SAFETY: `IA32_APIC_BASE` exists on every CPU with an APIC (every x86_64 CPU); reading it
    // has no side effect.
    unsafe {
        core::arch::asm!("rdmsr", in("ecx") IA32_APIC_BASE, out("eax") low, out("edx") high,
            options(nomem, nostack, preserves_flags));
    }
    let value = (u64::from(high) << 32) | u64::from(low);
    if value & GLOBAL_ENABLE == 0 {
        Err("the local APIC is disabled (IA32_APIC_BASE)")
    } else if value & X2APIC_MODE != 0 {
        Err("the local APIC is in x2APIC mode; this kernel drives it as an xAPIC")
    } else if (value & BASE_MASK) as usize != BASE {
        Err("the local APIC is not at 0xfee00000")
    } else {
        Ok(())
    }
}

/// This CPU's APIC id (ID register bits 31:24).
pub(super) fn id() -> u32 {
    read(ID) >> 24
}

/// Software-enables this CPU's APIC with `spurious_vector` as its spurious-interrupt vector.
/// Interrupts that arrive while the APIC is software-disabled are not delivered, IPIs included.
pub(super) fn enable(spurious_vector: u8) {
    write(
        SPURIOUS_VECTOR,
        SOFTWARE_ENABLE | u32::from(spurious_vector),
    );
    // Clear errors left from before (a write arms the register, the read returns them).
    write(ERROR_STATUS, 0);
    let _ = read(ERROR_STATUS);
}

/// Signals the end of the interrupt being served (any value; 0 by convention).
pub(super) fn end_of_interrupt() {
    write(END_OF_INTERRUPT, 0);
}

/// Sends INIT to the APIC `apic_id` (level assert; the de-assert message is only for the
/// 82489DX and is not sent).
///
/// # Errors
/// If the APIC does not accept the IPI (delivery status stuck).
pub(super) fn send_init(apic_id: u32) -> Result<(), &'static str> {
    send(apic_id, DELIVERY_INIT | LEVEL_ASSERT)
}

/// Sends a start-up IPI to the APIC `apic_id`: the CPU starts in real mode at `CS = page << 8`,
/// `IP = 0`, that is at physical address `page << 12` (`page` below 0x100, not 0xa0..=0xbf).
///
/// # Errors
/// As [`send_init`].
pub(super) fn send_startup(apic_id: u32, page: u8) -> Result<(), &'static str> {
    send(apic_id, DELIVERY_STARTUP | LEVEL_ASSERT | u32::from(page))
}

/// Sends a fixed interrupt with `vector` to the APIC `apic_id`.
///
/// # Errors
/// As [`send_init`].
pub(super) fn send_fixed(apic_id: u32, vector: u8) -> Result<(), &'static str> {
    send(apic_id, LEVEL_ASSERT | u32::from(vector))
}

/// Writes the ICR: the destination in the high half, then the low half, which sends; waits
/// until the APIC has taken the message (delivery status idle) before and after. Interrupts
/// stay masked meanwhile, so that a handler that sends an IPI cannot change the destination
/// between the two writes.
fn send(apic_id: u32, command: u32) -> Result<(), &'static str> {
    let flags: u64;
    // SAFETY: saving the flags and masking interrupts has no other effect.
    unsafe { core::arch::asm!("pushfq", "pop {0}", "cli", out(reg) flags) };
    let idle = || (0..SEND_POLL_LIMIT).any(|_| read(ICR_LOW) & DELIVERY_PENDING == 0);
    let result = if !idle() {
        Err("the local APIC is still sending the previous IPI")
    } else {
        write(ICR_HIGH, apic_id << 24);
        write(ICR_LOW, command);
        if idle() {
            Ok(())
        } else {
            Err("the local APIC did not send the IPI")
        }
    };
    if flags & (1 << 9) != 0 {
        // SAFETY: interrupts were enabled before this function masked them.
        unsafe { core::arch::asm!("sti", options(nomem, nostack)) };
    }
    result
}
