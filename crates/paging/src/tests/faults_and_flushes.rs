//! Page faults, TLB flushes and the `/proc/self/maps` listing.

use page_table_multiarch::MappingFlags;
use vmlayer_arch::{Access, PageFaultInfo, TlbFlush, TlbFlushRequest};

use crate::{FaultError, FaultResolution};

use super::frames::{live_frames, record_flush, set_allocation_budget, take_flushes};
use super::*;

#[test]
fn lazy_pages_fault_in_and_forbidden_accesses_are_refused() {
    let mut space = Space::try_new().unwrap();
    let user_rw = RW | MappingFlags::USER;
    space
        .map_alloc(va(0x100_0000), 0x4000, user_rw, false)
        .unwrap();
    space
        .map_alloc(va(0x200_0000), 0x1000, READ, false)
        .unwrap();
    let after_map = live_frames();
    assert_eq!(after_map, 1, "a lazy map allocates nothing");
    let fault = |address, access, user| PageFaultInfo::new(va(address), access, user);

    assert_eq!(
        space.handle_page_fault(fault(0x100_1008, Access::Write, true)),
        Ok(FaultResolution::Populated)
    );
    assert_eq!(
        lookup(&space, 0x100_1000).map(|(_, f, s)| (f, s)),
        Some((normalized(user_rw), 0x1000))
    );
    assert_eq!(read_u64(&space, 0x100_1000), 0, "lazy frames are zeroed");
    assert_eq!(
        lookup(&space, 0x100_0000),
        None,
        "only the faulting page is populated"
    );
    let populated = live_frames();
    assert!(populated > after_map, "a frame (and tables) were allocated");
    // A second fault on the same page (stale TLB) is handled without allocating.
    assert_eq!(
        space.handle_page_fault(fault(0x100_1000, Access::Read, true)),
        Ok(FaultResolution::Spurious)
    );
    assert_eq!(live_frames(), populated);

    assert_eq!(
        space.handle_page_fault(fault(0x100_2000, Access::Execute, true)),
        Err(FaultError::AccessDenied),
        "no EXECUTE"
    );
    // The kernel never executes user memory, even where the user may.
    let user_rwx = user_rw | MappingFlags::EXECUTE;
    space
        .map_alloc(va(0x180_0000), 0x2000, user_rwx, false)
        .unwrap();
    assert_eq!(
        space.handle_page_fault(fault(0x180_0000, Access::Execute, false)),
        Err(FaultError::KernelExecutesUserPage),
        "kernel fetch from a lazy user page"
    );
    assert_eq!(lookup(&space, 0x180_0000), None, "not populated for it");
    assert_eq!(
        space.handle_page_fault(fault(0x180_1000, Access::Execute, true)),
        Ok(FaultResolution::Populated)
    );
    assert_eq!(
        space.handle_page_fault(fault(0x180_1000, Access::Execute, false)),
        Err(FaultError::KernelExecutesUserPage),
        "kernel fetch from a mapped user page is not spurious"
    );
    space.unmap(va(0x180_0000), 0x2000).unwrap();
    assert_eq!(
        space.handle_page_fault(fault(0x200_0000, Access::Write, false)),
        Err(FaultError::AccessDenied),
        "read-only area"
    );
    assert_eq!(
        space.handle_page_fault(fault(0x200_0000, Access::Read, true)),
        Err(FaultError::KernelArea),
        "kernel area, user access"
    );
    assert_eq!(
        space.handle_page_fault(fault(0x300_0000, Access::Read, false)),
        Err(FaultError::NoArea),
        "no area"
    );
    assert_eq!(live_frames(), populated, "refused faults allocate nothing");
    assert_eq!(
        space.handle_page_fault(fault(0x200_0000, Access::Read, false)),
        Ok(FaultResolution::Populated)
    );

    // Out of memory: the fault is not handled and nothing changes.
    set_allocation_budget(Some(0));
    assert_eq!(
        space.handle_page_fault(fault(0x100_3000, Access::Read, true)),
        Err(FaultError::NoMemory)
    );
    set_allocation_budget(None);
    assert_eq!(lookup(&space, 0x100_3000), None);
}

#[test]
fn protect_applies_to_lazy_pages_that_fault_in_later() {
    // ArceOS axmm defect: an untouched lazy page of an mprotect(READ) region faulted in
    // writable with the old flags.
    let mut space = Space::try_new().unwrap();
    space.map_alloc(va(0x100_0000), 0x2000, RW, false).unwrap();
    space.protect(va(0x100_0000), 0x2000, READ).unwrap();
    let write = PageFaultInfo::new(va(0x100_0000), Access::Write, false);
    assert_eq!(
        space.handle_page_fault(write),
        Err(FaultError::AccessDenied),
        "write to a now read-only lazy page"
    );
    let read = PageFaultInfo {
        access: Access::Read,
        ..write
    };
    assert_eq!(
        space.handle_page_fault(read),
        Ok(FaultResolution::Populated)
    );
    assert_eq!(
        lookup(&space, 0x100_0000).map(|(_, f, _)| f),
        Some(normalized(READ))
    );
}

#[test]
fn every_change_is_flushed_through_the_hook() {
    // A kernel space: its kernel leaves (without `USER`) are global, so changing them needs an
    // all-ASID flush (`global_changed`); in a user space they are not (see below).
    let mut space = Space::new_kernel(VirtAddrRange::new(va(0x1000), va(4 * GIB))).unwrap();
    space.set_tlb_flush_hook(Some(record_flush));
    take_flushes();
    let root = space.root_paddr();
    // A request for `flush`; `tables`: non-leaf entries changed; `global`: a kernel entry did.
    let request = |flush, tables, global| TlbFlushRequest {
        root_paddr: root,
        asid: 0,
        cpus: vmlayer_arch::CpuMask::EMPTY,
        flush,
        tables_changed: tables,
        global_changed: global,
    };
    let range = |start: usize, end: usize| TlbFlush::Range {
        start: va(start),
        end: va(end),
    };
    let user_rw = RW | MappingFlags::USER;

    // A kernel map that links new tables: global entries and tables changed.
    space.map_alloc(va(0x40_0000), 0x2000, RW, true).unwrap();
    assert_eq!(
        take_flushes(),
        [request(range(0x40_0000, 0x40_2000), true, true)]
    );
    // A user map into existing tables: leaves only, none global.
    space
        .map_alloc(va(0x40_2000), 0x1000, user_rw, true)
        .unwrap();
    assert_eq!(
        take_flushes(),
        [request(TlbFlush::Page(va(0x40_2000)), false, false)]
    );
    space
        .protect(va(0x40_2000), 0x1000, user_rw - MappingFlags::WRITE)
        .unwrap();
    assert_eq!(
        take_flushes(),
        [request(TlbFlush::Page(va(0x40_2000)), false, false)]
    );
    space.protect(va(0x40_1000), 0x1000, READ).unwrap();
    assert_eq!(
        take_flushes(),
        [request(TlbFlush::Page(va(0x40_1000)), false, true)]
    );
    space.unmap(va(0x40_2000), 0x1000).unwrap();
    assert_eq!(
        take_flushes(),
        [request(TlbFlush::Page(va(0x40_2000)), false, false)]
    );
    space.unmap(va(0x40_0000), 0x1000).unwrap();
    assert_eq!(
        take_flushes(),
        [request(TlbFlush::Page(va(0x40_0000)), false, true)]
    );
    space.map_linear(va(GIB), pa(0), 64 * 0x1000, RW).unwrap();
    assert_eq!(
        take_flushes(),
        [request(TlbFlush::All, true, true)],
        "past the threshold"
    );
    // Freeing table pages flushes everything (paging-structure caches).
    space.unmap(va(0x40_1000), 0x1000).unwrap();
    assert_eq!(take_flushes(), [request(TlbFlush::All, true, true)]);
    // A lazy map changes no entry and flushes nothing.
    space.map_alloc(va(0x80_0000), 0x1000, RW, false).unwrap();
    assert_eq!(take_flushes(), []);
    // Populating a lazy page on a fault flushes that page (its leaf table is new). A spurious
    // fault on a page already mapped flushes it as if tables changed: the stale entry may be a
    // cached non-leaf one. A refused fault changes and flushes nothing.
    let fault = PageFaultInfo::new(va(0x80_0123), Access::Write, false);
    assert_eq!(
        space.handle_page_fault(fault),
        Ok(FaultResolution::Populated)
    );
    assert_eq!(
        take_flushes(),
        [request(TlbFlush::Page(va(0x80_0000)), true, true)]
    );
    assert_eq!(
        space.handle_page_fault(fault),
        Ok(FaultResolution::Spurious)
    );
    assert_eq!(
        take_flushes(),
        [request(TlbFlush::Page(va(0x80_0000)), true, true)]
    );
    let fetch = PageFaultInfo {
        access: Access::Execute,
        ..fault
    };
    assert_eq!(
        space.handle_page_fault(fetch),
        Err(FaultError::AccessDenied)
    );
    assert_eq!(take_flushes(), []);
    // A split flushes the whole block it replaces (past the threshold: everything).
    space.map_linear(va(2 * GIB), pa(0), 2 * MIB, RW).unwrap();
    take_flushes();
    space.protect(va(2 * GIB + 0x1000), 0x1000, READ).unwrap();
    let flushes = take_flushes();
    assert_eq!(
        flushes.last(),
        Some(&request(TlbFlush::All, true, true)),
        "split of a 2 MiB block: {flushes:?}"
    );
    // Dropping the space unmaps every area, then frees the tables after a full flush.
    drop(space);
    assert_eq!(
        take_flushes().last(),
        Some(&request(TlbFlush::All, true, true)),
        "drop"
    );
}

#[test]
fn display_lists_areas_like_proc_maps() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x1000), 0x2000, RW | MappingFlags::USER, true)
        .unwrap();
    space
        .map_linear(
            va(0x40_0000),
            pa(0x9000_0000),
            0x1000,
            RW | MappingFlags::DEVICE,
        )
        .unwrap();
    space.map_alloc(va(0x80_0000), 0x1000, RX, false).unwrap();
    space
        .protect(va(0x2000), 0x1000, NONE | MappingFlags::USER)
        .unwrap();
    assert_eq!(
        std::format!("{space}"),
        "0000000000001000-0000000000002000 rw-p alloc user\n\
         0000000000002000-0000000000003000 ---p alloc user\n\
         0000000000400000-0000000000401000 rw-p linear pa 0x90000000 device\n\
         0000000000800000-0000000000801000 r-xp alloc\n"
    );
}
