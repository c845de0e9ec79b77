//! Case 9: many map/unmap cycles leave the frame pool where it started; nothing leaked over the
//! whole suite.

use alloc::string::String;

use vmlayer_paging::MappingFlags;

use super::fixtures::{Frame, read_faults, slot, write_ok};
use crate::kernel_space::{self, Space, pa, va};
use crate::layout::PAGE_SIZE;
use crate::{ensure_eq, ensure_ok, frame_pool};

/// Cycles of map (lazy, eager and linear, spread over many 1 GiB and 2 MiB regions so each
/// cycle needs new intermediate tables) and unmap; the pool's in-use count returns exactly.
pub(crate) fn table_reclamation() -> Result<(), String> {
    let frame = Frame::filled(0)?;
    let in_use_before = frame_pool::stats().in_use;
    let read_write = MappingFlags::READ | MappingFlags::WRITE;
    let cycles = 64;
    for cycle in 0..cycles {
        // Slots 8..=39: distinct 1 GiB regions (new level-1/level-2 tables each time).
        let base = slot(8 + cycle % 32) + (cycle / 32) * 0x20_0000 * 3;
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.map_alloc(
                va(base),
                3 * PAGE_SIZE,
                read_write,
                true
            )),
            "cycle {cycle}: map_alloc"
        );
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.map_alloc(
                va(base + 0x20_0000),
                2 * PAGE_SIZE,
                read_write,
                false
            )),
            "cycle {cycle}: lazy map_alloc"
        );
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.map_linear(
                va(base + 0x40_0000),
                pa(frame.paddr),
                PAGE_SIZE,
                read_write
            )),
            "cycle {cycle}: map_linear"
        );
        write_ok(base + PAGE_SIZE, cycle as u64, "eager page")?;
        write_ok(
            base + 0x20_0000,
            cycle as u64,
            "lazy page (populated by the fault)",
        )?;
        write_ok(base + 0x40_0000, cycle as u64, "linear page")?;
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.unmap(va(base), 0x60_0000)),
            "cycle {cycle}: unmap"
        );
        read_faults(base + 0x20_0000, "after unmap")?;
    }
    ensure_eq!(
        frame.word(0),
        (cycles - 1) as u64,
        "the linear frame saw the writes"
    );
    ensure_eq!(
        frame_pool::stats().in_use,
        in_use_before,
        "frames in use after {cycles} map/unmap cycles"
    );
    // The last case, so also a leak check of the whole suite: every frame still in use is a
    // table page of the kernel space or of the first user space, or this case's own frame.
    ensure_eq!(
        frame_pool::stats().in_use,
        kernel_space::resident_table_pages() + 1,
        "frames in use at the end of the suite (resident table pages + 1)"
    );
    Ok(())
}
