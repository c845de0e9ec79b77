//! Case 8: user/kernel separation, including demand paging from user mode.

use alloc::string::String;

use vmlayer_paging::MappingFlags;

use super::fixtures::{Frame, slot};
use crate::kernel_space::{self, Space, pa, va};
use crate::layout::{self, PAGE_SIZE};
use crate::trap::{Access, PageFaultInfo};
use crate::user::{self, UserExit, UserOperation};
use crate::{ensure_eq, ensure_ok};

/// A page without USER faults from user mode, with USER it works, and no kernel page is
/// reachable from user mode (read, write or execute).
pub(crate) fn user_kernel_separation() -> Result<(), String> {
    let base = slot(7);
    let code = base;
    let stack = base + 0x1_0000;
    let user_data = base + 0x2_0000;
    let user_return = base + 0x3_0000;
    let kernel_data = base + 0x4_0000;
    let code_frame = Frame::filled(0)?;
    code_frame.put_code(crate::user::routine());
    let return_frame = Frame::filled(0)?;
    return_frame.put_code(crate::arch::RETURN_INSTRUCTION);
    let stack_frame = Frame::filled(0)?;
    let user_frame = Frame::filled(0x5553_4552)?;
    let kernel_frame = Frame::filled(0x4b45_524e)?;
    let user = MappingFlags::USER;
    let (read, write, execute) = (
        MappingFlags::READ,
        MappingFlags::WRITE,
        MappingFlags::EXECUTE,
    );
    let mappings = [
        (code, code_frame.paddr, user | read | execute),
        (user_return, return_frame.paddr, user | read | execute),
        (stack, stack_frame.paddr, user | read | write),
        (user_data, user_frame.paddr, user | read | write),
        (kernel_data, kernel_frame.paddr, read | write),
    ];
    for (address, frame, flags) in mappings {
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.map_linear(
                va(address),
                pa(frame),
                PAGE_SIZE,
                flags
            )),
            "map {address:#x}"
        );
    }
    let run =
        |operation, address, value| user::run(code, stack + PAGE_SIZE, operation, address, value);
    let user_fault =
        |address, access| UserExit::PageFault(PageFaultInfo::new(va(address), access, true));

    ensure_eq!(
        run(UserOperation::Read, user_data, 0),
        UserExit::SystemCall { value: 0x5553_4552 },
        "user reads a USER page"
    );
    ensure_eq!(
        run(UserOperation::Write, user_data + 8, 0x99),
        UserExit::SystemCall { value: 1 },
        "user writes a USER page"
    );
    ensure_eq!(user_frame.word(1), 0x99, "the user write landed");
    ensure_eq!(
        run(UserOperation::Execute, user_return, 0),
        UserExit::SystemCall { value: 2 },
        "user calls a USER|X page"
    );
    ensure_eq!(
        run(UserOperation::Execute, user_data, 0),
        user_fault(user_data, Access::Execute),
        "user executes a USER page without X"
    );
    ensure_eq!(
        run(UserOperation::Read, kernel_data, 0),
        user_fault(kernel_data, Access::Read),
        "user reads a page without USER"
    );
    ensure_eq!(
        run(UserOperation::Write, kernel_data, 7),
        user_fault(kernel_data, Access::Write),
        "user writes a page without USER"
    );
    ensure_eq!(
        kernel_frame.word(0),
        0x4b45_524e,
        "the refused user write left the frame alone"
    );

    user_demand_paging(base, &run)?;

    // The kernel's own pages (in the kernel space, shared by the user space): image, stack,
    // heap and the direct map.
    let layout = layout::kernel_layout();
    let heap_object = alloc::boxed::Box::new(0u64);
    let stack_variable = 0u64;
    let kernel_addresses = [
        ("text", layout.text.start),
        ("rodata", layout.rodata.start),
        ("data", layout.data.start),
        ("stack", &raw const stack_variable as usize),
        ("heap", &raw const *heap_object as usize),
        ("direct map", kernel_frame.virt()),
    ];
    for (name, address) in kernel_addresses {
        ensure_eq!(
            run(UserOperation::Read, address, 0),
            user_fault(address, Access::Read),
            "user reads kernel {name}"
        );
        ensure_eq!(
            run(UserOperation::Write, address, 0),
            user_fault(address, Access::Write),
            "user writes kernel {name}"
        );
    }
    ensure_eq!(
        run(UserOperation::Execute, layout.text.start, 0),
        user_fault(layout.text.start, Access::Execute),
        "user executes kernel text"
    );
    for (address, _, _) in mappings {
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.unmap(va(address), PAGE_SIZE)),
            "unmap {address:#x}"
        );
    }
    Ok(())
}

/// Demand paging from user mode: the fault reaches `AddressSpace::handle_page_fault` with
/// `user = true`; USER lazy pages are populated and user mode resumes, a lazy area without USER
/// and a forbidden write are refused and populate nothing.
fn user_demand_paging(
    base: usize,
    run: &dyn Fn(UserOperation, usize, usize) -> UserExit,
) -> Result<(), String> {
    let user_lazy = base + 0x5_0000;
    let kernel_lazy = base + 0x7_0000;
    let user_lazy_read_only = base + 0x8_0000;
    let user = MappingFlags::USER;
    let (read, write) = (MappingFlags::READ, MappingFlags::WRITE);
    let lazy_areas = [
        (user_lazy, 2 * PAGE_SIZE, user | read | write),
        (kernel_lazy, PAGE_SIZE, read | write),
        (user_lazy_read_only, PAGE_SIZE, user | read),
    ];
    for (address, size, flags) in lazy_areas {
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.map_alloc(
                va(address),
                size,
                flags,
                false
            )),
            "lazy map {address:#x}"
        );
    }
    let user_fault =
        |address, access| UserExit::PageFault(PageFaultInfo::new(va(address), access, true));
    let mapped =
        |address| kernel_space::with(Space::User, |space| kernel_space::is_mapped(space, address));
    let faults_before = crate::trap::handled_fault_count();

    ensure_eq!(
        run(UserOperation::Write, user_lazy + 8, 0x42),
        UserExit::SystemCall { value: 1 },
        "user write populates a USER lazy page"
    );
    ensure_eq!(
        crate::trap::handled_fault_count(),
        faults_before + 1,
        "one handled user fault"
    );
    ensure_eq!(
        run(UserOperation::Read, user_lazy + 8, 0),
        UserExit::SystemCall { value: 0x42 },
        "user reads its write back"
    );
    ensure_eq!(
        run(UserOperation::Read, user_lazy + PAGE_SIZE + 16, 0),
        UserExit::SystemCall { value: 0 },
        "second lazy page reads zero"
    );
    ensure_eq!(
        crate::trap::handled_fault_count(),
        faults_before + 2,
        "one fault per first-touched page"
    );
    let frame = kernel_space::with(Space::User, |space| {
        space
            .query(va(user_lazy))
            .map(|translation| translation.paddr.as_usize())
    });
    let frame = frame.ok_or("the populated user page is not in the page table")?;
    // SAFETY: the frame was just populated for the user page; RAM is in the direct map.
    let word = unsafe { (layout::phys_to_virt(frame + 8) as *const u64).read_volatile() };
    ensure_eq!(
        word,
        0x42,
        "the user write is in the frame the handler mapped"
    );

    ensure_eq!(
        run(UserOperation::Read, kernel_lazy, 0),
        user_fault(kernel_lazy, Access::Read),
        "user touches a lazy area without USER"
    );
    ensure_eq!(
        mapped(kernel_lazy),
        false,
        "the refused user access populated nothing"
    );
    ensure_eq!(
        run(UserOperation::Write, user_lazy_read_only, 5),
        user_fault(user_lazy_read_only, Access::Write),
        "user writes a lazy read-only area"
    );
    ensure_eq!(
        mapped(user_lazy_read_only),
        false,
        "the refused write populated nothing"
    );
    ensure_eq!(
        crate::trap::handled_fault_count(),
        faults_before + 2,
        "refused faults are not counted as handled"
    );
    ensure_eq!(
        run(UserOperation::Read, user_lazy_read_only, 0),
        UserExit::SystemCall { value: 0 },
        "user read of the read-only area is allowed"
    );

    for (address, size, _) in lazy_areas {
        ensure_ok!(
            kernel_space::with(Space::User, |space| space.unmap(va(address), size)),
            "unmap {address:#x}"
        );
    }
    Ok(())
}
