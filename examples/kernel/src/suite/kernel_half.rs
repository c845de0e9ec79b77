//! The case `kernel_half_in_ttbr1` (AArch64 only): the kernel space is the table of
//! `TTBR1_EL1`, proven by real loads and stores: the kernel runs through it, reaches RAM
//! through its direct map whatever `TTBR0_EL1` holds, and its permissions and flushes work.

use alloc::string::String;

use vmlayer_paging::PagingArch;
use vmlayer_paging::isa::registers;
use vmlayer_paging::{FaultError, MappingFlags};

use super::fixtures::{
    Frame, expect_kernel_fault, kernel_slot, read_faults, read_ok, slot, write_faults, write_ok,
};
use crate::kernel_space::{self, Arch, Space, is_upper_half, pa, va};
use crate::layout::{self, PAGE_SIZE, phys_to_virt};
use crate::trap::{self, Access};
use crate::{ensure_eq, ensure_ok, hardware, probe};

/// Bits 47:0 of an address: the lower-half address a table indexes an upper-half one with.
const fn lower_half_alias(address: usize) -> usize {
    address & ((1 << 48) - 1)
}

/// `TTBR1_EL1` holds the kernel space and `TTBR0_EL1` the current user space; the kernel's code
/// and stack and the direct map translate through `TTBR1_EL1`, whatever `TTBR0_EL1` holds; the
/// kernel space's permissions and its flushes (TLBI with an upper-half operand) work.
pub(crate) fn kernel_half_in_ttbr1() -> Result<(), String> {
    let kernel_root = kernel_space::with(Space::Kernel, |space| space.root_paddr());
    ensure_eq!(
        registers::root_of_ttbr(registers::read_ttbr1()),
        kernel_root,
        "TTBR1_EL1 holds the kernel space"
    );
    ensure_eq!(
        <Arch as PagingArch>::current_root(),
        kernel_space::with(Space::User, |space| space.root_paddr()),
        "TTBR0_EL1 holds the current user space"
    );
    kernel_runs_in_ttbr1()?;
    direct_map_aliases()?;
    independent_of_ttbr0()?;
    permissions_and_flushes()?;
    ensure_eq!(
        registers::root_of_ttbr(registers::read_ttbr1()),
        kernel_root,
        "TTBR1_EL1 unchanged by the case"
    );
    Ok(())
}

/// The code running now and its stack are upper-half addresses; the hardware walk (from
/// `TTBR1_EL1`) finds their physical pages, and their lower-half aliases are not mapped.
fn kernel_runs_in_ttbr1() -> Result<(), String> {
    let stack_variable = 0u64;
    let places = [
        ("code", kernel_half_in_ttbr1 as *const () as usize),
        ("stack", &raw const stack_variable as usize),
    ];
    for (name, address) in places {
        ensure_eq!(
            is_upper_half(address),
            true,
            "the kernel's {name} at {address:#x} is in the upper half"
        );
        ensure_eq!(
            hardware::walk(address)?.paddr,
            layout::image_phys(address),
            "the TTBR1 walk of the kernel's {name} at {address:#x}"
        );
        read_faults(
            lower_half_alias(address & !7),
            "the lower-half alias of the kernel's image",
        )?;
    }
    Ok(())
}

/// One frame, two addresses: mapped in the user space (a kernel page, through `TTBR0_EL1`)
/// and in the direct map (through `TTBR1_EL1`), what is written through one is read through
/// the other; the direct map covers all usable RAM, is never executable, and is not in the
/// TTBR0 table.
fn direct_map_aliases() -> Result<(), String> {
    let frame = Frame::filled(0)?;
    let lower = slot(43);
    let upper = frame.virt();
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.map_linear(
            va(lower),
            pa(frame.paddr),
            PAGE_SIZE,
            MappingFlags::READ | MappingFlags::WRITE
        )),
        "map the frame in the user space"
    );
    ensure_eq!(
        kernel_space::with(Space::Kernel, |space| space.query(va(upper)))
            .map(|translation| translation.paddr.as_usize()),
        Some(frame.paddr),
        "the kernel space maps {upper:#x} to the frame"
    );
    write_ok(lower + 8, 0x4c4f_5732, "lower-half write")?;
    ensure_eq!(
        read_ok(upper + 8, "direct-map read")?,
        0x4c4f_5732,
        "written through the lower half, read through the upper half"
    );
    write_ok(upper + 16, 0x5550_5045, "direct-map write")?;
    ensure_eq!(
        read_ok(lower + 16, "lower-half read")?,
        0x5550_5045,
        "written through the upper half, read through the lower half"
    );
    ensure_eq!(
        frame.word(2),
        0x5550_5045,
        "the frame holds the upper write"
    );
    ensure_ok!(
        kernel_space::with(Space::User, |space| space.unmap(va(lower), PAGE_SIZE)),
        "unmap the lower-half page"
    );

    // The first and last page of every usable RAM range, by a load and by the TTBR1 walk.
    for range in layout::usable_ram().as_slice() {
        for paddr in [range.start, range.end - PAGE_SIZE] {
            read_ok(phys_to_virt(paddr), "direct map of RAM")?;
            ensure_eq!(
                hardware::walk(phys_to_virt(paddr))?.paddr,
                paddr,
                "the TTBR1 walk of RAM page {paddr:#x}"
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
        "execute through the direct map",
    )?;
    // The TTBR0 table does not hold the upper half: the address with the same bits 47:0 is
    // not mapped there, and the user space refuses to look an upper-half address up.
    read_faults(
        lower_half_alias(upper),
        "the lower-half alias of the direct-map address",
    )?;
    ensure_eq!(
        kernel_space::with(Space::User, |space| space.query(va(upper))).is_none(),
        true,
        "the TTBR0 space has no upper-half entry"
    );
    Ok(())
}

/// A TTBR0 switch leaves the kernel space in place: with the spare user space in `TTBR0_EL1`
/// (which maps another frame at the lower-half alias of the direct-map address), the
/// direct-map address still reaches its frame.
fn independent_of_ttbr0() -> Result<(), String> {
    let frame = Frame::filled(0x5454_4252_3100)?;
    let other = Frame::filled(0x5454_4252_3000)?;
    let upper = frame.virt();
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
    kernel_space::switch_to(Space::User);
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
        "the kernel space after switching back"
    );
    Ok(())
}

/// The case's own kernel pages: RW → R makes the next write fault (right after a warming
/// write), unmap makes the next access fault (right after a warming read), both refused by the
/// kernel space; a lazy upper-half page is populated through it. Each change is flushed by the
/// normal hook: `TLBI VAAE1IS` with an upper-half operand. The pages' bits 47:0
/// (`0xfff0_0000_0000`) are far from every lower-half mapping, so a `TLBI` operand that lost
/// `VA[55:48]` would invalidate an address no one uses instead of this one.
fn permissions_and_flushes() -> Result<(), String> {
    let page = kernel_slot(0);
    let lazy = page + 0x20_0000;
    let frame = Frame::filled(0)?;
    let read_write = MappingFlags::READ | MappingFlags::WRITE;
    ensure_ok!(
        kernel_space::with(Space::Kernel, |space| space.map_linear(
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
        kernel_space::with(Space::Kernel, |space| space.protect(
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
        "refused by the kernel space's area"
    );
    ensure_eq!(frame.word(0), 1, "the refused write left the frame alone");
    ensure_eq!(read_ok(page, "upper half R")?, 1, "still readable");

    ensure_ok!(
        kernel_space::with(Space::Kernel, |space| space.unmap(va(page), PAGE_SIZE)),
        "unmap the upper-half page"
    );
    read_faults(page, "read right after unmap in the upper half")?;
    ensure_eq!(
        trap::refused_faults().1,
        Some(FaultError::NoArea),
        "refused: no area in the kernel space"
    );

    ensure_ok!(
        kernel_space::with(Space::Kernel, |space| space.map_alloc(
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
        "one fault, populated by the kernel space"
    );
    let populated = kernel_space::with(Space::Kernel, |space| space.query(va(lazy)))
        .map(|translation| translation.paddr.as_usize())
        .ok_or("the populated page is not in the kernel space")?;
    ensure_eq!(
        read_ok(
            phys_to_virt(populated + 8),
            "the populated frame, in the direct map"
        )?,
        0x4c41_5a59,
        "the upper write is in the frame the handler mapped"
    );
    ensure_ok!(
        kernel_space::with(Space::Kernel, |space| space.unmap(va(lazy), PAGE_SIZE)),
        "unmap the lazy page"
    );
    read_faults(lazy, "read right after unmapping the lazy page")?;
    Ok(())
}
