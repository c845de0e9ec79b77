//! Cases that `cargo mutants` showed the other tests did not pin down (see `MUTANTS.md` at the
//! workspace root).

use std::vec::Vec;

use vmlayer_arch::{Access, PageFaultInfo, PagingArch, TlbFlush};

use super::frames::{
    frame_counts, record_flush, set_allocation_budget, take_flushes, use_frame_pool,
};
use super::*;
use core::sync::atomic::AtomicU32;

use super::test_arch::{TestArch, take_synced};
use crate::asid::{AsidAllocator, AsidContext};
use crate::{
    Arch, Area, AreaBackend, Backend, CpuContext, FrameTable, MappingResult, PageSize, PageTable,
    Placement,
};
use vmlayer_areas::{MappingBackend, MemoryArea};

#[test]
fn a_context_reports_the_asid_of_its_last_switch() {
    let mut asids = AsidAllocator::new(2, 1).unwrap();
    let mut first = AsidContext::NEW;
    let mut second = AsidContext::NEW;
    assert_eq!(first.asid(), 0, "never ran");
    let switch = asids.switch(0, &mut first).unwrap();
    assert_eq!((switch.asid, first.asid()), (1, 1));
    let switch = asids.switch(0, &mut second).unwrap();
    assert_eq!((switch.asid, second.asid()), (2, 2));
    assert_eq!(first.asid(), 1, "unchanged while the generation holds");
}

#[test]
fn a_few_released_frames_wait_inline_without_a_spill_page() {
    let mut space = Space::try_new().unwrap();
    space.set_tlb_flush_hook(Some(record_flush));
    let (start, size) = (va(0x4000_0000), 8 * 0x1000);
    space.map_alloc(start, size, RW, true).unwrap();
    take_flushes();
    let (allocated, _) = frame_counts();
    space.unmap(start, size).unwrap();
    assert_eq!(frame_counts().0, allocated, "no spill page for 8 frames");
    assert_eq!(take_flushes().len(), 1);
    // With no frame to spare for a spill page, still one request.
    space.map_alloc(start, size, RW, true).unwrap();
    take_flushes();
    set_allocation_budget(Some(0));
    let result = space.unmap(start, size);
    set_allocation_budget(None);
    result.unwrap();
    assert_eq!(take_flushes().len(), 1, "no early flush");
}

#[test]
fn cpu_contexts_know_their_cpu_and_join_the_kernel_space() {
    let space = Space::try_new().unwrap();
    let cpu = CpuContext::new(3).unwrap();
    assert_eq!(cpu.cpu(), 3);
    assert_eq!(CpuContext::new(0).unwrap().cpu(), 0);
    assert!(!space.page_table().cpus().contains(3));
    cpu.join_kernel(space.page_table());
    assert!(space.page_table().cpus().contains(3));
}

#[test]
fn a_cpu_stays_in_the_set_of_the_table_it_still_runs() {
    let space = Space::try_new().unwrap();
    let mut cpu = CpuContext::new(1).unwrap();
    for _ in 0..2 {
        let plan = cpu.plan_switch(space.page_table(), None).unwrap();
        assert_eq!(plan.asid, 0);
        cpu.switched();
        assert!(
            space.page_table().cpus().contains(1),
            "switched to the table it runs, without ASIDs"
        );
    }
}

#[test]
fn a_cpu_stays_in_the_set_of_a_space_whose_asid_outlives_the_switch() {
    let first = Space::try_new().unwrap();
    let second = Space::try_new().unwrap();
    let mut asids = AsidAllocator::new(8, 2).unwrap();
    let mut cpu = CpuContext::new(0).unwrap();
    assert_ne!(
        cpu.plan_switch(first.page_table(), Some(&mut asids))
            .unwrap()
            .asid,
        0
    );
    cpu.switched();
    // To a space without an ASID: `first`'s tagged translations stay in the TLB.
    assert_eq!(cpu.plan_switch(second.page_table(), None).unwrap().asid, 0);
    cpu.switched();
    assert!(first.page_table().cpus().contains(0));
    assert!(second.page_table().cpus().contains(0));
}

#[test]
fn frame_tables_cover_their_ram_and_need_four_bytes_a_frame() {
    assert_eq!(FrameTable::bytes_for(0), 0);
    assert_eq!(FrameTable::bytes_for(1), 4);
    assert_eq!(FrameTable::bytes_for(0x1000), 4);
    assert_eq!(FrameTable::bytes_for(0x1001), 8);
    assert_eq!(FrameTable::bytes_for(16 << 20), 16 << 10);
    static COUNTS: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
    let table = FrameTable::new(PhysAddr::from(0x8000_0000), &COUNTS);
    assert!(table.covers(PhysAddr::from(0x8000_0000)));
    assert!(table.covers(PhysAddr::from(0x8000_3fff)));
    assert!(!table.covers(PhysAddr::from(0x8000_4000)));
    assert!(!table.covers(PhysAddr::from(0x7fff_f000)));
    assert_eq!(table.sharers(PhysAddr::from(0x8000_4000)), 0);
}

const USER_RW: MappingFlags = RW.union(MappingFlags::USER);
const HEAP: usize = 0x40_0000;

/// A space counting shared frames in a pool-backed table, with two populated heap pages.
fn space_with_two_pages() -> Space {
    let frames = use_frame_pool(64);
    let mut space = Space::try_new().unwrap();
    space.set_frame_table(frames).unwrap();
    space.map_alloc(va(HEAP), 0x2000, USER_RW, true).unwrap();
    space
}

#[test]
fn fork_flushes_exactly_the_pages_it_made_read_only() {
    let mut parent = space_with_two_pages();
    parent.set_tlb_flush_hook(Some(record_flush));
    take_flushes();
    let child = parent.fork().unwrap();
    let root = parent.root_paddr();
    let flushes: Vec<_> = take_flushes()
        .into_iter()
        .filter(|request| request.root_paddr == root)
        .collect();
    assert_eq!(flushes.len(), 1, "{flushes:?}");
    assert_eq!(
        flushes[0].flush,
        TlbFlush::Range {
            start: va(HEAP),
            end: va(HEAP + 0x2000)
        }
    );
    drop(child);
}

#[test]
fn loading_into_a_private_page_nobody_shares_rewrites_no_entry() {
    let mut space = space_with_two_pages();
    space.set_tlb_flush_hook(Some(record_flush));
    take_flushes();
    space.load(va(HEAP + 0x1000), &[7; 16]).unwrap();
    assert_eq!(
        take_flushes(),
        Vec::new(),
        "no entry rewritten, nothing to flush"
    );
    let mut read = [0; 16];
    space.read_user(va(HEAP + 0x1000), &mut read).unwrap();
    assert_eq!(read, [7; 16]);
}

#[test]
fn a_demand_fault_without_a_data_frame_unlinks_the_tables_it_linked() {
    let mut space = Space::try_new().unwrap();
    let page = va(0x4000_0000);
    space.map_alloc(page, 0x1000, USER_RW, false).unwrap();
    let tables = space.page_table().table_page_count();
    // Enough frames for every table down to the page, none for the page itself.
    set_allocation_budget(Some(Arch::LEVELS - 1));
    let result = space.handle_page_fault(PageFaultInfo::new(page, Access::Write, true));
    set_allocation_budget(None);
    assert!(result.is_err(), "{result:?}");
    assert_eq!(space.page_table().table_page_count(), tables);
    assert!(space.query(page).is_none());
    // And the fault succeeds once frames are there.
    space
        .handle_page_fault(PageFaultInfo::new(page, Access::Write, true))
        .unwrap();
    assert!(space.query(page).is_some());
}

#[test]
fn making_a_kernel_page_a_user_page_flushes_its_global_translation() {
    // Only the kernel space's kernel leaves are global.
    let upper_start = !((1usize << (Arch::VA_BITS - 1)) - 1);
    let upper = VirtAddrRange::from_start_size(va(upper_start), 4 * GIB);
    let mut space = Space::new_kernel(upper).unwrap();
    let page = va(upper_start);
    space.map_alloc(page, 0x1000, RW, true).unwrap();
    space.set_tlb_flush_hook(Some(record_flush));
    take_flushes();
    space.protect(page, 0x1000, USER_RW).unwrap();
    let flushes = take_flushes();
    assert!(
        !flushes.is_empty() && flushes.iter().all(|request| request.global_changed),
        "{flushes:?}"
    );
}

#[test]
fn protecting_linear_memory_to_executable_synchronizes_nothing() {
    let mut space = AddressSpace::<TestFrames, TestArch<false, 0>>::try_new().unwrap();
    space.map_linear(va(GIB), pa(GIB), 0x1000, RW).unwrap();
    take_synced();
    space.protect(va(GIB), 0x1000, RX).unwrap();
    assert_eq!(take_synced(), [], "the kernel's own business");
}

#[test]
fn shared_memory_made_writable_again_is_writable_in_place() {
    let frames = use_frame_pool(64);
    let mut parent = Space::try_new().unwrap();
    parent.set_frame_table(frames).unwrap();
    let shared = Area::new(va(0x80_0000), 0x1000, USER_RW, Backend::Shared);
    parent.map(shared, Placement::NoReplace).unwrap();
    parent.write_user(va(0x80_0000), b"shared").unwrap();
    let child = parent.fork().unwrap();
    let writable = |space: &Space| {
        space
            .query(va(0x80_0000))
            .is_some_and(|t| t.flags.contains(MappingFlags::WRITE))
    };
    assert!(writable(&parent));
    parent
        .protect(
            va(0x80_0000),
            0x1000,
            MappingFlags::READ | MappingFlags::USER,
        )
        .unwrap();
    assert!(!writable(&parent));
    parent.protect(va(0x80_0000), 0x1000, USER_RW).unwrap();
    assert!(writable(&parent), "shared by design, not copy-on-write");
    drop(child);
}

#[test]
fn unmap_and_return_hands_back_every_frame_of_a_huge_leaf() {
    let mut table = PageTable::<TestFrames>::try_new().unwrap();
    table
        .map_contiguous(va(0x20_0000), pa(0x4000_0000), 0x20_0000, RW)
        .unwrap();
    assert_eq!(
        table.query(va(0x20_0000)).unwrap().page_size,
        PageSize::Size2M
    );
    let mut returned = Vec::new();
    table
        .unmap_and_return(va(0x20_0000), 0x20_0000, |frame| {
            returned.push(frame.as_usize())
        })
        .unwrap();
    let expected: Vec<usize> = (0..512).map(|frame| 0x4000_0000 + frame * 0x1000).collect();
    assert_eq!(returned, expected);
    assert_eq!(table.query(va(0x20_0000)), None);
}

#[test]
fn a_protect_flushes_the_whole_range_it_changed() {
    let mut space = Space::try_new().unwrap();
    space.map_alloc(va(HEAP), 0x2000, USER_RW, true).unwrap();
    space.set_tlb_flush_hook(Some(record_flush));
    take_flushes();
    space
        .protect(va(HEAP), 0x2000, MappingFlags::READ | MappingFlags::USER)
        .unwrap();
    let flushes = take_flushes();
    assert_eq!(flushes.len(), 1, "{flushes:?}");
    assert_eq!(
        flushes[0].flush,
        TlbFlush::Range {
            start: va(HEAP),
            end: va(HEAP + 0x2000)
        }
    );
}

#[test]
fn a_private_page_nobody_shares_is_writable_again_after_protect() {
    let mut space = space_with_two_pages();
    let writable = |space: &Space| {
        space
            .query(va(HEAP))
            .is_some_and(|t| t.flags.contains(MappingFlags::WRITE))
    };
    space
        .protect(va(HEAP), 0x2000, MappingFlags::READ | MappingFlags::USER)
        .unwrap();
    assert!(!writable(&space));
    space.protect(va(HEAP), 0x2000, USER_RW).unwrap();
    assert!(writable(&space), "not shared: no copy-on-write");
}

#[test]
fn mapping_over_a_mapped_page_is_refused_and_changes_nothing() {
    let mut table = PageTable::<TestFrames>::try_new().unwrap();
    table
        .map_contiguous(va(0x1000), pa(0x4000_0000), 0x2000, RW)
        .unwrap();
    assert_eq!(
        table.map_contiguous(va(0x2000), pa(0x5000_0000), 0x1000, RW),
        Err(crate::MappingError::AlreadyExists)
    );
    assert_eq!(table.query(va(0x2000)).unwrap().paddr, pa(0x4000_1000));
}

#[test]
fn a_prot_none_page_made_executable_is_synchronized_and_mapped() {
    let mut space = AddressSpace::<TestFrames, TestArch<false, 0>>::try_new().unwrap();
    space.map_alloc(va(HEAP), 0x1000, USER_RW, true).unwrap();
    space.protect(va(HEAP), 0x1000, MappingFlags::USER).unwrap();
    take_synced();
    space
        .protect(va(HEAP), 0x1000, RX | MappingFlags::USER)
        .unwrap();
    let translation = space.query(va(HEAP)).unwrap();
    assert!(translation.flags.contains(MappingFlags::EXECUTE));
    assert_eq!(
        take_synced(),
        [(translation.paddr.as_usize(), 0x1000)],
        "the frame, through its kernel alias"
    );
}

#[test]
fn pages_from_address_zero_map_and_unmap() {
    let mut table = PageTable::<TestFrames>::try_new().unwrap();
    table
        .map_contiguous(va(0), pa(0x4000_0000), 0x2000, RW)
        .unwrap();
    assert_eq!(table.query(va(0x1000)).unwrap().paddr, pa(0x4000_1000));
    table.unmap(va(0), 0x2000).unwrap();
    assert_eq!(table.query(va(0)), None);
}

#[test]
fn with_break_before_make_a_protect_that_keeps_the_attributes_does_not_break() {
    let mut space = AddressSpace::<TestFrames, TestArch<true, 0>>::try_new().unwrap();
    space.map_alloc(va(HEAP), 0x2000, USER_RW, true).unwrap();
    space.set_tlb_flush_hook(Some(record_flush));
    take_flushes();
    space
        .protect(va(HEAP), 0x2000, MappingFlags::READ | MappingFlags::USER)
        .unwrap();
    assert_eq!(take_flushes().len(), 1, "no break round, one flush");
}

#[test]
fn with_break_before_make_a_protect_to_none_does_not_break() {
    // PROT_NONE entries are invalid: no break round before them, one flush after.
    let mut space = AddressSpace::<TestFrames, TestArch<true, 0>>::try_new().unwrap();
    space.map_alloc(va(HEAP), 0x2000, USER_RW, true).unwrap();
    space.set_tlb_flush_hook(Some(record_flush));
    take_flushes();
    space.protect(va(HEAP), 0x2000, MappingFlags::USER).unwrap();
    assert_eq!(take_flushes().len(), 1, "no break round, one flush");
}

#[test]
fn a_space_changes_frame_tables_only_while_it_maps_nothing() {
    static OTHER_COUNTS: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
    static OTHER: FrameTable = FrameTable::new(PhysAddr::from_usize(0x1000_0000), &OTHER_COUNTS);
    let frames = use_frame_pool(16);
    let other = &OTHER;
    let mut space = Space::try_new().unwrap();
    space.set_frame_table(frames).unwrap();
    assert_eq!(space.set_frame_table(other), Ok(()), "nothing mapped yet");
    assert_eq!(space.set_frame_table(frames), Ok(()), "and back");
    space.map_alloc(va(HEAP), 0x1000, RW, true).unwrap();
    assert_eq!(
        space.set_frame_table(frames),
        Ok(()),
        "the same table again"
    );
    assert_eq!(
        space.set_frame_table(other),
        Err(crate::MappingError::BadState),
        "another table while frames are counted"
    );
}

#[test]
fn mprotect_of_a_whole_area_with_nothing_after_it() {
    let mut space = Space::try_new().unwrap();
    space.map_alloc(va(HEAP), 0x2000, RW, true).unwrap();
    assert_eq!(space.mprotect(va(HEAP), 0x2000, MappingFlags::READ), Ok(()));
    let flags = space.find_area(va(HEAP)).unwrap().flags();
    assert_eq!(flags, MappingFlags::READ);
}

/// A backend that implements only what `AreaBackend` requires: it maps the first page of an
/// area read-only to a fixed frame and leaves the rest unmapped.
#[derive(Clone, Debug)]
struct FirstPageOnly;

impl MappingBackend<MappingFlags, PageTable<TestFrames>> for FirstPageOnly {
    fn map(
        &self,
        start: VirtAddr,
        _size: usize,
        flags: MappingFlags,
        pt: &mut PageTable<TestFrames>,
    ) -> MappingResult {
        let read_only = flags - MappingFlags::WRITE;
        pt.map_frames(start, 0x1000, read_only, |_| {
            Ok(PhysAddr::from(0x8000_0000))
        })
    }

    fn unmap(&self, start: VirtAddr, size: usize, pt: &mut PageTable<TestFrames>) -> MappingResult {
        pt.unmap(start, size)
    }

    fn protect(
        &self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        pt: &mut PageTable<TestFrames>,
    ) -> MappingResult {
        pt.protect(start, size, flags)
    }
}

impl AreaBackend<TestFrames, Arch> for FirstPageOnly {
    fn describe(
        &self,
        _area: &MemoryArea<MappingFlags, Self>,
        f: &mut core::fmt::Formatter<'_>,
    ) -> core::fmt::Result {
        f.write_str("first page only")
    }
}

#[test]
fn the_default_backend_hooks_refuse_faults_and_fork_maps_again() {
    let mut space = AddressSpace::<TestFrames, Arch, FirstPageOnly>::try_new().unwrap();
    space.set_frame_table(use_frame_pool(16)).unwrap();
    let area = MemoryArea::new(va(HEAP), 0x2000, USER_RW, FirstPageOnly);
    space.map(area, Placement::NoReplace).unwrap();
    let fault = |address, access| PageFaultInfo::new(va(address), access, true);
    assert_eq!(
        space.handle_page_fault(fault(HEAP + 0x1000, Access::Read)),
        Err(crate::FaultError::NotPopulatable),
        "a missing page of a backend that cannot populate"
    );
    assert_eq!(
        space.handle_page_fault(fault(HEAP, Access::Write)),
        Err(crate::FaultError::AccessDenied),
        "a write to a read-only page of a backend without copy-on-write"
    );
    assert_eq!(
        space.write_user(va(HEAP), b"x"),
        Err(crate::FaultError::AccessDenied),
        "the user-memory helpers ask the backend too"
    );
    let child = space.fork().unwrap();
    let mapped = |space: &AddressSpace<TestFrames, Arch, FirstPageOnly>, address| {
        space.query(va(address)).map(|t| t.paddr.as_usize())
    };
    assert_eq!(mapped(&child, HEAP), Some(0x8000_0000), "mapped again");
    assert_eq!(mapped(&child, HEAP + 0x1000), None);
    let debug = std::format!("{space:?}");
    assert!(debug.starts_with("AddressSpace {"), "{debug}");
    assert!(debug.contains("areas: 1"), "{debug}");
    let debug = std::format!("{:?}", space.page_table());
    assert!(debug.starts_with("PageTable {"), "{debug}");
    assert!(debug.contains(Arch::NAME), "{debug}");
}

#[test]
fn a_range_that_leaves_the_lower_half_is_refused() {
    // The last page of the lower half and the first address past it (the hole of
    // non-canonical addresses, or AArch64's gap below the upper half): each address alone may
    // be checked, but the range crosses out of the half.
    let half = 1usize << (Arch::VA_BITS - 1);
    let end = if Arch::is_valid_vaddr(half) {
        1 << Arch::VA_BITS
    } else {
        half
    };
    let top = end - 0x1000;
    assert!(Arch::is_valid_vaddr(top) && !Arch::is_valid_vaddr(end));
    let mut space = Space::try_new().unwrap();
    assert_eq!(
        space.map_alloc(va(top), 0x2000, RW, false),
        Err(crate::MappingError::InvalidParam)
    );
    space.map_alloc(va(top), 0x1000, RW, false).unwrap();
}

#[test]
fn every_fault_error_has_its_errno_signal_code_and_message() {
    use crate::FaultError as E;
    let all = [
        (E::NoArea, 14, Some(1), "no area contains the address"),
        (
            E::AccessDenied,
            14,
            Some(2),
            "the area's permissions forbid the access",
        ),
        (E::KernelArea, 14, Some(2), "user access to a kernel area"),
        (
            E::KernelExecutesUserPage,
            14,
            Some(2),
            "kernel instruction fetch from a user page",
        ),
        (
            E::UserMemoryBlocked,
            14,
            Some(2),
            "kernel access to user memory while the CPU forbids it",
        ),
        (E::NoMemory, 12, None, "no memory for the page"),
        (
            E::CorruptTable,
            14,
            Some(2),
            "reserved bit set in a page-table entry",
        ),
        (
            E::Repeated,
            14,
            Some(2),
            "the same fault repeated after its page was flushed",
        ),
        (
            E::NotPopulatable,
            14,
            Some(2),
            "the area's backend cannot populate the page",
        ),
    ];
    for (error, errno, code, message) in all {
        assert_eq!(error.errno(), errno, "{error:?}");
        assert_eq!(error.segv_code(), code, "{error:?}");
        assert_eq!(std::format!("{error}"), message);
    }
}

#[test]
fn adjacent_shared_areas_with_equal_flags_merge() {
    let mut space = Space::try_new().unwrap();
    space.set_frame_table(use_frame_pool(16)).unwrap();
    for start in [HEAP, HEAP + 0x2000] {
        let area = Area::new(va(start), 0x2000, USER_RW, Backend::Shared);
        space.map(area, Placement::NoReplace).unwrap();
    }
    let area = space.find_area(va(HEAP)).unwrap();
    assert_eq!((area.start(), area.size()), (va(HEAP), 0x4000), "one area");
}

#[test]
fn caller_frames_are_mapped_page_by_page_even_where_a_block_would_fit() {
    let mut space = Space::try_new().unwrap();
    let base = 0x4000_0000;
    let frame_of = |page: VirtAddr| Ok(PhysAddr::from(0x8000_0000 + (page.as_usize() - base)));
    space
        .page_table
        .map_frames(va(base), 0x20_0000, RW, frame_of)
        .unwrap();
    let mapped = space.query(va(base + 0x1000)).unwrap();
    assert_eq!(
        mapped.page_size,
        PageSize::Size4K,
        "the frames are the caller's pages"
    );
    assert_eq!(mapped.paddr, PhysAddr::from(0x8000_1000));
    space.page_table.unmap(va(base), 0x20_0000).unwrap();
}

#[test]
fn a_linear_mapping_may_end_at_the_last_physical_page() {
    // A CPU that addresses every physical address the entries can hold.
    const BITS: usize = <Arch as PagingArch>::PA_BITS;
    let mut space = AddressSpace::<TestFrames, TestArch<false, BITS>>::try_new().unwrap();
    let last = PhysAddr::from((1usize << BITS) - 0x1000);
    assert_eq!(space.map_linear(va(HEAP), last, 0x1000, RW), Ok(()));
    assert_eq!(space.query(va(HEAP)).unwrap().paddr, last);
    assert_eq!(
        space.map_linear(va(HEAP + 0x1000), last, 0x2000, RW),
        Err(crate::MappingError::InvalidParam),
        "one page past the last"
    );
}

#[test]
fn the_user_memory_helpers_refuse_device_and_uncached_memory() {
    let mut space = Space::try_new().unwrap();
    let user_rw = RW | MappingFlags::USER;
    for (page, kind) in [(0, MappingFlags::DEVICE), (1, MappingFlags::UNCACHED)] {
        let address = HEAP + page * 0x1000;
        let pa = PhysAddr::from(0x9000_0000 + page * 0x1000);
        space
            .map_linear(va(address), pa, 0x1000, user_rw | kind)
            .unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(
            space.read_user(va(address), &mut byte),
            Err(crate::FaultError::AccessDenied),
            "read {kind:?}"
        );
        assert_eq!(
            space.write_user(va(address), &byte),
            Err(crate::FaultError::AccessDenied),
            "write {kind:?}"
        );
    }
}

/// The raw last-level entry on the way to `vaddr` in `space`'s table.
fn raw_leaf(space: &Space, vaddr: usize) -> u64 {
    let mut table = space.root_paddr();
    for level in (0..Arch::LEVELS).rev() {
        let index = (vaddr >> (12 + 9 * level)) & 0x1ff;
        // SAFETY: the root or a table linked below it; `space` keeps it live.
        let entry = unsafe { crate::table::Table::new::<TestFrames>(table) }.load(index);
        match Arch::decode(entry, level) {
            vmlayer_arch::EntryKind::Table(next) if level > 0 => table = next,
            _ => return entry,
        }
    }
    unreachable!("level 0 returns")
}

#[test]
fn a_split_writes_the_entries_a_map_would_global_only_in_the_kernel_space() {
    // The 4 KiB leaves a huge-page split writes are exactly what mapping those pages writes:
    // the level-0 encoding (on x86_64 bit 7 is PAT there, not PS), global in the kernel
    // space's table and tagged with the ASID in a user space's (kernel leaves, no USER).
    let upper = !((1usize << (Arch::VA_BITS - 1)) - 1);
    let kernel_range = VirtAddrRange::new(va(upper), va(upper + 0x4000_0000));
    let mut kernel = Space::new_kernel(kernel_range).unwrap();
    let kernel_block = upper + 0x20_0000;
    let frame = PhysAddr::from(0x8000_0000);
    kernel
        .map_linear(va(kernel_block), frame, 0x20_0000, RW)
        .unwrap();
    kernel.unmap(va(kernel_block + 0x1000), 0x1000).unwrap();
    let user_range = VirtAddrRange::new(va(0x1000), va(1 << (Arch::VA_BITS - 1)));
    let mut user = Space::new_user(&kernel, user_range).unwrap();
    user.map_linear(va(0x20_0000), frame, 0x20_0000, RW)
        .unwrap();
    user.unmap(va(0x20_1000), 0x1000).unwrap();
    let flags = kernel.query(va(kernel_block)).unwrap().flags;
    let page = Arch::encode_leaf(frame, flags, 0);
    assert_eq!(
        raw_leaf(&kernel, kernel_block),
        page,
        "kernel space: global"
    );
    assert_eq!(
        raw_leaf(&user, 0x20_0000),
        Arch::non_global(page),
        "user space: tagged"
    );
}

#[test]
fn switch_errors_say_what_went_wrong() {
    use vmlayer_arch::ActivateError;
    let unknown = crate::SwitchError::UnknownCpu;
    assert_eq!(
        std::format!("{unknown}"),
        "the ASID allocator does not serve this CPU"
    );
    let refused = crate::SwitchError::Activate(ActivateError::ModeNotSupported);
    let cause = ActivateError::ModeNotSupported;
    assert_eq!(std::format!("{refused}"), std::format!("{cause}"));
    assert!(!std::format!("{cause}").is_empty());
}
