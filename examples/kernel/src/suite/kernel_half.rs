//! Case 12 (AArch64 only): the kernel half in `TTBR1_EL1`, proven by real loads and stores.

use alloc::string::String;

use vmlayer_aarch64::registers;
use vmlayer_arch::PagingArch;
use vmlayer_paging::{FaultError, MappingFlags};

use super::fixtures::{Frame, expect_kernel_fault, read_faults, read_ok, write_faults, write_ok};
use crate::kernel_space::{self, Arch, Space, linear_address, pa, va};
use crate::layout::{self, PAGE_SIZE};
use crate::trap::{self, Access};
use crate::{ensure_eq, ensure_ok, probe};

/// The case's own upper-half pages: the 1 GiB right below the linear map, mapped in 4 KiB
/// pages. Its bits 47:0 (`0x7fff_c000_0000`) are far from every lower-half mapping, so a `TLBI`
/// operand that lost `VA[55:48]` would invalidate an address no one uses instead of this one.
const TEST_WINDOW: usize = crate::arch::KERNEL_LINEAR_BASE - 0x4000_0000;

/// Bits 47:0 of an address: the lower-half address a table indexes an upper-half one with.
const fn lower_half_alias(address: usize) -> usize {
    address & ((1 << 48) - 1)
}

/// The kernel half translates RAM at `KERNEL_LINEAR_BASE + pa` through `TTBR1_EL1`, whatever
/// `TTBR0_EL1` holds; its permissions and its flushes (TLBI with an upper-half operand) work.
pub(crate) fn kernel_half_in_ttbr1() -> Result<(), String> {
    let half_root = kernel_space::with(Space::KernelHalf, |space| space.root_paddr());
    ensure_eq!(
        registers::root_of_ttbr(registers::read_ttbr1()),
        half_root,
        "TTBR1_EL1 holds the kernel half"
    );
    linear_map_aliases()?;
    independent_of_ttbr0()?;
    permissions_and_flushes()?;
    ensure_eq!(
        registers::root_of_ttbr(registers::read_ttbr1()),
        half_root,
        "TTBR1_EL1 unchanged by the case"
    );
    Ok(())
}

/// One frame, two addresses: what is written through the lower-half identity map is read
/// through the upper-half linear map and back; the linear map covers all usable RAM, is never
/// executable, and is not in the TTBR0 table.
fn linear_map_aliases() -> Result<(), String> {
    let frame = Frame::filled(0x4c4f_5745)?;
    let upper = linear_address(frame.paddr);
    ensure_eq!(
        kernel_space::with(Space::KernelHalf, |space| space.query(va(upper)))
            .map(|translation| translation.paddr.as_usize()),
        Some(frame.paddr),
        "the kernel half maps {upper:#x} to the frame"
    );
    ensure_eq!(
        read_ok(upper, "upper-half read")?,
        0x4c4f_5745,
        "written through the lower half, read through the upper half"
    );
    write_ok(upper + 8, 0x5550_5045, "upper-half write")?;
    ensure_eq!(
        read_ok(frame.paddr + 8, "lower-half read")?,
        0x5550_5045,
        "written through the upper half, read through the lower half"
    );
    ensure_eq!(
        frame.word(1),
        0x5550_5045,
        "the frame holds the upper write"
    );
    write_ok(frame.paddr + 16, 0x4c4f_5732, "lower-half write")?;
    ensure_eq!(
        read_ok(upper + 16, "upper-half read")?,
        0x4c4f_5732,
        "the lower write seen through the upper half"
    );

    // The first and last page of every usable RAM range, through both halves.
    for range in layout::usable_ram().as_slice() {
        for paddr in [range.start, range.end - PAGE_SIZE] {
            ensure_eq!(
                read_ok(linear_address(paddr), "linear map of RAM")?,
                read_ok(paddr, "identity map of RAM")?,
                "RAM page {paddr:#x} through both halves"
            );
        }
    }

    frame.put_code(crate::arch::RETURN_INSTRUCTION);
    // SAFETY: the frame starts with the return instruction; the fetch must fault.
    let executed = unsafe { probe::execute(upper) };
    expect_kernel_fault(
        executed,
        upper,
        Access::Execute,
        "execute through the linear map",
    )?;
    // The TTBR0 table does not hold the upper half: the address with the same bits 47:0 is
    // not mapped there, and the kernel space refuses to look an upper-half address up.
    read_faults(
        lower_half_alias(upper),
        "the lower-half alias of the linear address",
    )?;
    ensure_eq!(
        kernel_space::with(Space::Kernel, |space| space.query(va(upper))).is_none(),
        true,
        "the TTBR0 space has no upper-half entry"
    );
    Ok(())
}

/// A TTBR0 switch leaves the kernel half in place: with the spare space in `TTBR0_EL1` (which
/// maps another frame at the lower-half alias of the linear address), the linear address still
/// reaches the kernel half's frame.
fn independent_of_ttbr0() -> Result<(), String> {
    let frame = Frame::filled(0x5454_4252_3100)?;
    let other = Frame::filled(0x5454_4252_3000)?;
    let upper = linear_address(frame.paddr);
    let alias = lower_half_alias(upper);
    ensure_ok!(
        kernel_space::create_spare(),
        "create the second address space"
    );
    ensure_ok!(
        kernel_space::with(Space::Spare, |space| space.map_linear(
            va(alias),
            pa(other.paddr),
            PAGE_SIZE,
            MappingFlags::READ | MappingFlags::WRITE
        )),
        "map the lower-half alias in the spare space"
    );
    let spare_root = kernel_space::with(Space::Spare, |space| space.root_paddr());
    let ttbr1_before = registers::read_ttbr1();

    kernel_space::switch_to(Space::Spare);
    let seen = (
        <Arch as PagingArch>::current_root(),
        registers::read_ttbr1(),
        read_ok(upper, "upper half with the spare space in TTBR0"),
        write_ok(
            upper + 8,
            0x5350_4152,
            "upper half with the spare space in TTBR0",
        ),
        read_ok(alias, "lower-half alias in the spare space"),
    );
    kernel_space::switch_to(Space::Kernel);
    kernel_space::destroy_spare();

    ensure_eq!(seen.0, spare_root, "TTBR0_EL1 held the spare space");
    ensure_eq!(
        seen.1,
        ttbr1_before,
        "TTBR1_EL1 untouched by the TTBR0 switch"
    );
    ensure_eq!(
        seen.2?,
        0x5454_4252_3100,
        "the upper half reached its frame"
    );
    seen.3?;
    ensure_eq!(
        frame.word(1),
        0x5350_4152,
        "the upper write landed in its frame"
    );
    ensure_eq!(
        seen.4?,
        0x5454_4252_3000,
        "the lower alias reached the other frame"
    );
    ensure_eq!(other.word(1), 0x5454_4252_3000, "the other frame untouched");
    ensure_eq!(
        read_ok(upper + 8, "upper half after switching back")?,
        0x5350_4152,
        "the kernel half after switching back"
    );
    Ok(())
}

/// Upper-half pages of the kernel half's own: RW → R makes the next write fault (right after a
/// warming write), unmap makes the next access fault (right after a warming read), both
/// refused by the kernel half's address space; a lazy upper-half page is populated through it.
/// Each change is flushed by the normal hook: `TLBI VAAE1IS` with an upper-half operand.
fn permissions_and_flushes() -> Result<(), String> {
    let page = TEST_WINDOW;
    let lazy = TEST_WINDOW + 0x20_0000;
    let frame = Frame::filled(0)?;
    let read_write = MappingFlags::READ | MappingFlags::WRITE;
    ensure_ok!(
        kernel_space::with(Space::KernelHalf, |space| space.map_linear(
            va(page),
            pa(frame.paddr),
            PAGE_SIZE,
            read_write
        )),
        "map an upper-half page"
    );
    write_ok(page, 1, "upper half RW, warming the TLB")?;
    ensure_eq!(frame.word(0), 1, "the upper write landed");
    ensure_ok!(
        kernel_space::with(Space::KernelHalf, |space| space.protect(
            va(page),
            PAGE_SIZE,
            MappingFlags::READ
        )),
        "protect to R"
    );
    write_faults(page, "write right after protect RW -> R in the upper half")?;
    ensure_eq!(
        trap::refused_faults().1,
        Some(FaultError::AccessDenied),
        "refused by the kernel half's area"
    );
    ensure_eq!(frame.word(0), 1, "the refused write left the frame alone");
    ensure_eq!(read_ok(page, "upper half R")?, 1, "still readable");

    ensure_ok!(
        kernel_space::with(Space::KernelHalf, |space| space.unmap(va(page), PAGE_SIZE)),
        "unmap the upper-half page"
    );
    read_faults(page, "read right after unmap in the upper half")?;
    ensure_eq!(
        trap::refused_faults().1,
        Some(FaultError::NoArea),
        "refused: no area in the kernel half"
    );

    ensure_ok!(
        kernel_space::with(Space::KernelHalf, |space| space.map_alloc(
            va(lazy),
            PAGE_SIZE,
            read_write,
            false
        )),
        "lazy upper-half page"
    );
    let handled_before = trap::handled_fault_count();
    ensure_eq!(read_ok(lazy + 8, "first touch")?, 0, "a zeroed page");
    write_ok(lazy + 8, 0x4c41_5a59, "lazy upper-half page")?;
    ensure_eq!(
        trap::handled_fault_count(),
        handled_before + 1,
        "one fault, populated by the kernel half"
    );
    let populated = kernel_space::with(Space::KernelHalf, |space| space.query(va(lazy)))
        .map(|translation| translation.paddr.as_usize())
        .ok_or("the populated page is not in the kernel half")?;
    ensure_eq!(
        read_ok(populated + 8, "the populated frame, identity-mapped")?,
        0x4c41_5a59,
        "the upper write is in the frame the handler mapped"
    );
    ensure_ok!(
        kernel_space::with(Space::KernelHalf, |space| space.unmap(va(lazy), PAGE_SIZE)),
        "unmap the lazy page"
    );
    read_faults(lazy, "read right after unmapping the lazy page")?;
    Ok(())
}
