//! A fault the hardware will repeat is never answered "retry": kernel access to user memory
//! while the CPU forbids it (RISC-V `SUM = 0`, Arm PAN, x86 SMAP), repeated identical faults,
//! corrupt tables, and the refusals a user program must get.

use page_table_multiarch::MappingFlags;
use vmlayer_arch::{Access, FaultCause, PageFaultInfo};

use super::*;
use crate::{FaultError, FaultResolution};

const USER_RW: MappingFlags = RW.union(MappingFlags::USER);

fn fault(address: usize, access: Access, user: bool) -> PageFaultInfo {
    PageFaultInfo::new(va(address), access, user)
}

/// A kernel fault taken while the CPU let the kernel touch user pages (SUM = 1, PAN = 0, AC = 1).
fn kernel_fault_with_user_access(address: usize, access: Access) -> PageFaultInfo {
    PageFaultInfo {
        user_memory_access: true,
        ..fault(address, access, false)
    }
}

#[test]
fn kernel_access_to_a_user_page_is_refused_while_the_cpu_forbids_it() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x2000, USER_RW, true)
        .unwrap();
    space
        .map_alloc(va(0x20_0000), 0x1000, USER_RW, false)
        .unwrap();
    for access in [Access::Read, Access::Write] {
        // Present page: the hardware faults because of SUM / PAN / SMAP, and will again.
        assert_eq!(
            space.handle_page_fault(fault(0x10_0008, access, false)),
            Err(FaultError::UserMemoryBlocked),
            "kernel {access:?} of a present user page"
        );
        // Lazy page: populating it would not help the access either.
        assert_eq!(
            space.handle_page_fault(fault(0x20_0008, access, false)),
            Err(FaultError::UserMemoryBlocked),
            "kernel {access:?} of a lazy user page"
        );
    }
    assert_eq!(lookup(&space, 0x20_0000), None, "nothing populated for it");
    // With user access open (copy_to_user / copy_from_user), the same accesses are served.
    assert_eq!(
        space.handle_page_fault(kernel_fault_with_user_access(0x20_0008, Access::Write)),
        Ok(FaultResolution::Populated)
    );
    assert_eq!(
        space.handle_page_fault(kernel_fault_with_user_access(0x10_1000, Access::Read)),
        Ok(FaultResolution::Spurious)
    );
    // Never an instruction fetch, whatever SUM / PAN say.
    let rwx = USER_RW | MappingFlags::EXECUTE;
    space.map_alloc(va(0x30_0000), 0x1000, rwx, true).unwrap();
    assert_eq!(
        space.handle_page_fault(kernel_fault_with_user_access(0x30_0000, Access::Execute)),
        Err(FaultError::KernelExecutesUserPage)
    );
}

#[test]
fn an_identical_fault_after_a_spurious_one_is_refused() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x2000, USER_RW, true)
        .unwrap();
    let read = fault(0x10_0010, Access::Read, true);
    assert_eq!(space.handle_page_fault(read), Ok(FaultResolution::Spurious));
    assert_eq!(
        space.handle_page_fault(read),
        Err(FaultError::Repeated),
        "the flush did not help: retrying would loop"
    );
    // A different fault in between, or a change of the table, makes the next one new again.
    assert_eq!(space.handle_page_fault(read), Ok(FaultResolution::Spurious));
    let other = fault(0x10_1000, Access::Write, true);
    assert_eq!(
        space.handle_page_fault(other),
        Ok(FaultResolution::Spurious)
    );
    assert_eq!(space.handle_page_fault(read), Ok(FaultResolution::Spurious));
    space.protect(va(0x10_0000), 0x1000, USER_RW).unwrap();
    assert_eq!(space.handle_page_fault(read), Ok(FaultResolution::Spurious));
    // A kernel page behaves the same.
    space.map_alloc(va(0x40_0000), 0x1000, RW, true).unwrap();
    let kernel = fault(0x40_0000, Access::Write, false);
    assert_eq!(
        space.handle_page_fault(kernel),
        Ok(FaultResolution::Spurious)
    );
    assert_eq!(space.handle_page_fault(kernel), Err(FaultError::Repeated));
}

#[test]
fn user_faults_the_hardware_repeats_are_refused() {
    let mut space = Space::try_new().unwrap();
    let user_read = READ | MappingFlags::USER;
    space
        .map_alloc(va(0x10_0000), 0x1000, user_read, true)
        .unwrap();
    space
        .map_alloc(va(0x20_0000), 0x1000, USER_RW, true)
        .unwrap();
    space.map_alloc(va(0x30_0000), 0x1000, RW, true).unwrap();
    let cases = [
        (
            0x10_0000,
            Access::Write,
            FaultError::AccessDenied,
            "write to a present read-only page",
        ),
        (
            0x20_0000,
            Access::Execute,
            FaultError::AccessDenied,
            "fetch from a non-executable page",
        ),
        (
            0x30_0000,
            Access::Read,
            FaultError::KernelArea,
            "user read of a kernel page",
        ),
        (
            0x30_0000,
            Access::Write,
            FaultError::KernelArea,
            "user write of a kernel page",
        ),
        (
            0x30_0000,
            Access::Execute,
            FaultError::KernelArea,
            "user fetch of a kernel page",
        ),
    ];
    for (address, access, expected, what) in cases {
        for _ in 0..2 {
            assert_eq!(
                space.handle_page_fault(fault(address, access, true)),
                Err(expected),
                "{what}"
            );
        }
    }
    // The kernel fetching from a kernel page that is not executable is refused too.
    assert_eq!(
        space.handle_page_fault(fault(0x30_0000, Access::Execute, false)),
        Err(FaultError::AccessDenied)
    );
}

#[test]
fn a_reserved_bit_fault_is_a_corrupt_table_never_an_ordinary_fault() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x1000, USER_RW, false)
        .unwrap();
    let corrupt = PageFaultInfo {
        cause: FaultCause::ReservedBit,
        ..fault(0x10_0000, Access::Read, true)
    };
    assert_eq!(
        space.handle_page_fault(corrupt),
        Err(FaultError::CorruptTable)
    );
    assert_eq!(lookup(&space, 0x10_0000), None, "not populated by it");
}

#[test]
fn cpus_that_raced_for_a_page_are_each_answered_spurious_once() {
    // CPUs 1, 2 and 3 fault on one lazy page at once; CPU 1 populates it, and the others,
    // which faulted before it was there, find it present: each is retried once. Only the same
    // CPU taking the same fault again means the hardware disagrees with the table.
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x1000, USER_RW, false)
        .unwrap();
    let on = |cpu| fault(0x10_0008, Access::Write, true).on_cpu(cpu);
    assert_eq!(
        space.handle_page_fault(on(1)),
        Ok(FaultResolution::Populated)
    );
    assert_eq!(
        space.handle_page_fault(on(2)),
        Ok(FaultResolution::Spurious)
    );
    assert_eq!(
        space.handle_page_fault(on(3)),
        Ok(FaultResolution::Spurious)
    );
    assert_eq!(
        space.handle_page_fault(on(2)),
        Err(FaultError::Repeated),
        "CPU 2 twice"
    );
    assert_eq!(
        space.handle_page_fault(on(3)),
        Err(FaultError::Repeated),
        "CPU 3 twice"
    );
}

#[test]
fn a_spurious_fault_flushes_only_the_cpu_that_took_it() {
    use crate::CpuContext;
    let mut space = Space::try_new().unwrap();
    space.set_tlb_flush_hook(Some(super::frames::record_flush));
    space
        .map_alloc(va(0x10_0000), 0x1000, USER_RW, true)
        .unwrap();
    for cpu in [0, 2, 5] {
        let mut context = CpuContext::new(cpu).unwrap();
        context.plan_switch(space.page_table(), None).unwrap();
        context.switched();
    }
    super::frames::take_flushes();
    let fault = fault(0x10_0000, Access::Read, true).on_cpu(2);
    assert_eq!(
        space.handle_page_fault(fault),
        Ok(FaultResolution::Spurious)
    );
    let flushes = super::frames::take_flushes();
    assert_eq!(flushes.len(), 1);
    assert_eq!(flushes[0].cpus, vmlayer_arch::CpuMask::single(2).unwrap());
}
