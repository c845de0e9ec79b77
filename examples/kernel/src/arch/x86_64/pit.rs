//! Busy-waits timed by the 8254 PIT's channel 2 (the PC speaker's counter, which raises no
//! interrupt): the delays of the INIT-SIPI-SIPI sequence (`smp.rs`) and the timeouts while
//! waiting for another CPU.
//!
//! Channel 2 is gated by bit 0 of port 0x61 and its output is read back in bit 5 of that port.
//! In mode 0 ("interrupt on terminal count") the output goes low when the mode is written and
//! high once the count written next has run down, at 1.193182 MHz (Intel 8254 data sheet; the
//! same programming as Linux's `pit_calibrate_tsc`). Only the boot CPU uses it, while it starts
//! the others.

use super::{inb, outb};

/// The PIT's input clock.
const PIT_HZ: u64 = 1_193_182;
const CHANNEL_2_DATA: u16 = 0x42;
const MODE_COMMAND: u16 = 0x43;
/// Port 0x61: bit 0 gates channel 2, bit 1 connects it to the speaker, bit 5 reads its output.
const SYSTEM_CONTROL: u16 = 0x61;
const GATE_2: u8 = 1 << 0;
const SPEAKER: u8 = 1 << 1;
const OUTPUT_2: u8 = 1 << 5;
/// Channel 2 (bits 7:6 = 10), low byte then high byte (5:4 = 11), mode 0 (3:1 = 000), binary
/// (0 = 0).
const CHANNEL_2_ONE_SHOT: u8 = 0b1011_0000;
/// Polls of the output per count before giving up (a machine without the port reads 0xff,
/// which ends the wait at once instead).
const POLL_LIMIT: usize = 10_000_000;

/// Waits at least `microseconds` (rounded up to a PIT tick, 0.84 µs).
pub(super) fn delay_us(microseconds: u64) {
    let mut ticks = (microseconds * PIT_HZ).div_ceil(1_000_000);
    while ticks > 0 {
        let count = ticks.min(0xffff);
        one_shot(count as u16);
        ticks -= count;
    }
}

/// Runs channel 2 once for `count` ticks and polls its output until it rises.
fn one_shot(count: u16) {
    let control = inb(SYSTEM_CONTROL);
    outb(SYSTEM_CONTROL, (control & !SPEAKER) | GATE_2);
    outb(MODE_COMMAND, CHANNEL_2_ONE_SHOT);
    let [low, high] = count.to_le_bytes();
    outb(CHANNEL_2_DATA, low);
    outb(CHANNEL_2_DATA, high);
    for _ in 0..POLL_LIMIT {
        if inb(SYSTEM_CONTROL) & OUTPUT_2 != 0 {
            break;
        }
    }
}
