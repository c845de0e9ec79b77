//! The case `kernel_mapping_reaches_user_spaces`: the kernel half is shared, not copied: a
//! kernel mapping made after a user space exists reaches it, and user mode cannot touch it.

use alloc::string::String;

use vmlayer_paging::PagingArch;
use vmlayer_paging::{FaultError, MappingFlags};

use super::fixtures::{Frame, kernel_slot, read_faults, read_ok, slot, write_ok};
use crate::kernel_space::{self, Arch, Space, pa, va};
use crate::layout::{self, PAGE_SIZE};
use crate::trap::{self, Access, PageFaultInfo};
use crate::user::{self, UserExit, UserOperation};
use crate::{ensure_eq, ensure_ok, hardware};

/// With two user spaces in existence, the kernel maps a page in a slot of its space nothing
/// used before (new tables below the shared root slot): a real load through it works while
/// either user space is current, and the hardware walk from the user space's root finds it
/// (x86_64, RISC-V: through the root entry the user root shares with the kernel's; AArch64:
/// through `TTBR1_EL1`). From user mode the same page faults and is refused (`KernelArea`),
/// and the lower half holds nothing of the kernel: the image's physical addresses (the boot
/// identity map) fault. Unmapped (right after a warming read), the kernel page faults at once.
pub(crate) fn kernel_mapping_reaches_user_spaces() -> Result<(), String> {
    let page = kernel_slot(1) + 0x5000;
    ensure_ok!(kernel_space::create_spare(), "create a second user space");
    let frame = Frame::filled(0x5348_4152_4544)?;
    ensure_eq!(
        kernel_space::with(Space::Kernel, |space| kernel_space::is_mapped(space, page)),
        false,
        "nothing at {page:#x} before"
    );
    ensure_ok!(
        kernel_space::with(Space::Kernel, |space| space.map_linear(
            va(page),
            pa(frame.paddr),
            PAGE_SIZE,
            MappingFlags::READ | MappingFlags::WRITE
        )),
        "map a kernel page after both user spaces exist"
    );
    ensure_eq!(
        read_ok(page, "kernel page, first user space current")?,
        0x5348_4152_4544,
        "the kernel page's frame through the first user space"
    );

    kernel_space::switch_to(Space::Spare);
    let result = in_spare(page, &frame);
    kernel_space::switch_to(Space::User);
    kernel_space::destroy_spare();
    result?;

    ensure_eq!(
        read_ok(page, "kernel page, warming the TLB")?,
        0x5348_4152_4544,
        "the kernel page after switching back"
    );
    ensure_ok!(
        kernel_space::with(Space::Kernel, |space| space.unmap(va(page), PAGE_SIZE)),
        "unmap the kernel page"
    );
    read_faults(page, "the kernel page right after unmap")?;
    Ok(())
}

/// The checks made while the second user space is current.
fn in_spare(page: usize, frame: &Frame) -> Result<(), String> {
    let spare_root = kernel_space::with(Space::Spare, |space| space.root_paddr().as_usize());
    let kernel_root = kernel_space::with(Space::Kernel, |space| space.root_paddr().as_usize());
    ensure_eq!(
        hardware::TranslationRoot::read()?.root,
        spare_root,
        "the second user space is in the root register"
    );
    ensure_eq!(
        read_ok(page, "kernel page, second user space current")?,
        0x5348_4152_4544,
        "the kernel page's frame through the second user space"
    );
    write_ok(
        page + 8,
        0x5752_4954,
        "kernel page, second user space current",
    )?;
    ensure_eq!(frame.word(1), 0x5752_4954, "the write landed in the frame");
    ensure_eq!(
        hardware::walk(page)?.paddr,
        frame.paddr,
        "the hardware walk of {page:#x}"
    );
    let walked_root = hardware::TranslationRoot::translating(page)?;
    if <Arch as PagingArch>::ONE_HALF_PER_TABLE {
        ensure_eq!(
            walked_root.root,
            kernel_root,
            "the upper half is walked from the kernel space's root"
        );
    } else {
        let levels = walked_root.levels;
        let index = page >> (12 + 9 * (levels - 1));
        ensure_eq!(
            hardware::root_entry(spare_root, index)?,
            hardware::root_entry(kernel_root, index)?,
            "the user root's entry {} is the kernel root's (a shared table)",
            index % 512
        );
    }

    // From user mode: the kernel page and the image's physical addresses.
    let code = slot(44);
    let stack = code + 0x1_0000;
    let code_frame = Frame::filled(0)?;
    code_frame.put_code(user::routine());
    let stack_frame = Frame::filled(0)?;
    let user = MappingFlags::USER | MappingFlags::READ;
    for (address, frame, flags) in [
        (code, &code_frame, user | MappingFlags::EXECUTE),
        (stack, &stack_frame, user | MappingFlags::WRITE),
    ] {
        ensure_ok!(
            kernel_space::with(Space::Spare, |space| space.map_linear(
                va(address),
                pa(frame.paddr),
                PAGE_SIZE,
                flags
            )),
            "map the user routine's {address:#x}"
        );
    }
    let run =
        |operation, address, value| user::run(code, stack + PAGE_SIZE, operation, address, value);
    let user_fault =
        |address, access| UserExit::PageFault(PageFaultInfo::new(va(address), access, true));
    ensure_eq!(
        run(UserOperation::Read, page, 0),
        user_fault(page, Access::Read),
        "user reads the kernel page"
    );
    ensure_eq!(
        trap::refused_faults().1,
        Some(FaultError::KernelArea),
        "refused by the kernel space: a kernel area"
    );
    ensure_eq!(
        run(UserOperation::Write, page, 7),
        user_fault(page, Access::Write),
        "user writes the kernel page"
    );
    ensure_eq!(
        frame.word(1),
        0x5752_4954,
        "the refused write left the frame alone"
    );
    let text_phys = layout::image_phys(layout::kernel_layout().text.start);
    ensure_eq!(
        run(UserOperation::Read, text_phys, 0),
        user_fault(text_phys, Access::Read),
        "user reads the image's physical address"
    );
    ensure_eq!(
        trap::refused_faults().1,
        Some(FaultError::NoArea),
        "refused by the user space: nothing there"
    );
    read_faults(text_phys, "the image's physical address from kernel mode")?;
    for address in [code, stack] {
        ensure_ok!(
            kernel_space::with(Space::Spare, |space| space.unmap(va(address), PAGE_SIZE)),
            "unmap {address:#x}"
        );
    }
    Ok(())
}
