//! Case 7: two user address spaces (both sharing the kernel space).

use alloc::string::String;

use vmlayer_paging::MappingFlags;

use super::fixtures::{Frame, read_faults, read_ok, slot, write_ok};
use crate::kernel_space::{self, Space, pa, va};
use crate::layout::PAGE_SIZE;
use crate::{ensure_eq, ensure_ok, frame_pool};

/// The same virtual address maps different frames in two address spaces; switching roots
/// switches what the CPU sees. Dropping the second space returns all its frames.
pub(crate) fn two_address_spaces() -> Result<(), String> {
    let page = slot(6);
    let only_in_spare = page + 0x20_0000;
    let frame_first = Frame::filled(0xa0a0)?;
    let frame_spare = Frame::filled(0xb0b0)?;
    let in_use_before = frame_pool::stats().in_use;
    ensure_ok!(
        kernel_space::create_spare(),
        "create the second address space"
    );
    let read_write = MappingFlags::READ | MappingFlags::WRITE;
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.map_linear(
            va(page),
            pa(frame_first.paddr),
            PAGE_SIZE,
            read_write
        )),
        "map in the first user space"
    );
    ensure_ok!(
        kernel_space::with(Space::Spare, |space| space.map_linear(
            va(page),
            pa(frame_spare.paddr),
            PAGE_SIZE,
            read_write
        )),
        "map in the spare space"
    );
    ensure_ok!(
        kernel_space::with(Space::Spare, |space| space.map_linear(
            va(only_in_spare),
            pa(frame_spare.paddr),
            PAGE_SIZE,
            MappingFlags::READ
        )),
        "second mapping in the spare space"
    );
    ensure_eq!(
        read_ok(page, "first user space")?,
        0xa0a0,
        "the first user space sees its frame"
    );
    read_faults(only_in_spare, "spare-only page from the first user space")?;

    kernel_space::switch_to(Space::Spare);
    let spare_view = (
        read_ok(page, "spare space"),
        read_ok(only_in_spare, "spare-only page"),
        write_ok(page, 0xb1b1, "spare space"),
    );
    kernel_space::switch_to(Space::User);
    ensure_eq!(spare_view.0?, 0xb0b0, "spare space sees its frame");
    ensure_eq!(spare_view.1?, 0xb0b0, "spare-only page in the spare space");
    spare_view.2?;
    ensure_eq!(
        frame_spare.word(0),
        0xb1b1,
        "write in the spare space hit its frame"
    );
    ensure_eq!(
        frame_first.word(0),
        0xa0a0,
        "the first space's frame untouched"
    );
    ensure_eq!(
        read_ok(page, "back in the first user space")?,
        0xa0a0,
        "the first user space after switching back"
    );
    read_faults(only_in_spare, "spare-only page after switching back")?;

    kernel_space::destroy_spare();
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.unmap(va(page), PAGE_SIZE)),
        "unmap"
    );
    ensure_eq!(
        frame_pool::stats().in_use,
        in_use_before,
        "dropping the spare space returned its table frames"
    );
    Ok(())
}
