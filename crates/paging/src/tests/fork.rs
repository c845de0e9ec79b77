//! fork with copy-on-write, shared anonymous memory, exact frame counts.

use vmlayer_arch::{Access, PageFaultInfo};

use super::frames::{live_frames, use_frame_pool};
use super::*;
use crate::{Area, Backend, FaultResolution, FrameTable, MappingError, Placement};
use memory_addr::VirtAddrRange;

const USER_RW: MappingFlags = RW.union(MappingFlags::USER);
const HEAP: usize = 0x40_0000;

fn user_write(space: &mut Space, address: usize) -> Result<FaultResolution, crate::FaultError> {
    space.handle_page_fault(PageFaultInfo::new(va(address), Access::Write, true))
}

fn frame_of(space: &Space, address: usize) -> Option<usize> {
    space.query(va(address)).map(|t| t.paddr.as_usize())
}

fn writable(space: &Space, address: usize) -> bool {
    space
        .query(va(address))
        .is_some_and(|t| t.flags.contains(MappingFlags::WRITE))
}

/// A space that counts frames in a pool-backed table, with 4 pages of heap: 3 written, 1 lazy.
fn parent(pool_frames: usize) -> (Space, &'static FrameTable) {
    let frames = use_frame_pool(pool_frames);
    let mut space = Space::try_new().unwrap();
    space.set_frame_table(frames).unwrap();
    space.map_alloc(va(HEAP), 0x4000, USER_RW, false).unwrap();
    for page in 0..3 {
        space
            .write_user(va(HEAP + page * 0x1000), &[page as u8 + 1; 8])
            .unwrap();
    }
    (space, frames)
}

#[test]
fn fork_shares_populated_pages_read_only_and_the_first_write_copies() {
    let (mut parent, frames) = parent(256);
    let before = live_frames();
    let mut child = parent.fork().unwrap();
    assert_eq!(
        live_frames() - before,
        child.page_table().table_page_count(),
        "fork allocates tables only, no data frame"
    );
    for page in 0..3 {
        let address = HEAP + page * 0x1000;
        assert_eq!(
            frame_of(&child, address),
            frame_of(&parent, address),
            "one frame"
        );
        assert!(
            !writable(&parent, address) && !writable(&child, address),
            "both read-only"
        );
        assert_eq!(frames.sharers(pa(frame_of(&parent, address).unwrap())), 1);
    }
    assert_eq!(
        frame_of(&child, HEAP + 0x3000),
        None,
        "a lazy page stays lazy"
    );

    // A read never copies.
    let read = PageFaultInfo::new(va(HEAP + 8), Access::Read, true);
    assert_eq!(child.handle_page_fault(read), Ok(FaultResolution::Spurious));
    assert_eq!(frame_of(&child, HEAP), frame_of(&parent, HEAP));

    // The child's first write copies; the parent keeps its data.
    let shared = frame_of(&parent, HEAP).unwrap();
    assert_eq!(
        user_write(&mut child, HEAP),
        Ok(FaultResolution::CopiedOnWrite)
    );
    assert_ne!(frame_of(&child, HEAP), Some(shared));
    assert!(writable(&child, HEAP));
    child.write_user(va(HEAP), b"child!!!").unwrap();
    let mut seen = [0u8; 8];
    parent.read_user(va(HEAP), &mut seen).unwrap();
    assert_eq!(seen, [1; 8], "the child's write did not reach the parent");
    child.read_user(va(HEAP), &mut seen).unwrap();
    assert_eq!(&seen, b"child!!!");
    assert_eq!(
        frames.sharers(pa(shared)),
        0,
        "the parent is its last mapping"
    );

    // The parent, now the last sharer, writes in place without a copy.
    assert_eq!(
        user_write(&mut parent, HEAP),
        Ok(FaultResolution::ReusedOnWrite)
    );
    assert_eq!(frame_of(&parent, HEAP), Some(shared));
    assert!(writable(&parent, HEAP));

    // A kernel write for the parent (copy_to_user) breaks copy-on-write too.
    parent.write_user(va(HEAP + 0x1000), b"parent!!").unwrap();
    child.read_user(va(HEAP + 0x1000), &mut seen).unwrap();
    assert_eq!(seen, [2; 8], "the parent's write did not reach the child");
    assert_ne!(
        frame_of(&parent, HEAP + 0x1000),
        frame_of(&child, HEAP + 0x1000)
    );
}

#[test]
fn counts_are_exact_and_every_frame_returns_whatever_drops_first() {
    for parent_first in [true, false] {
        let (mut parent, frames) = parent(256);
        let baseline = live_frames() - parent.page_table().table_page_count() - 3;
        let mut child = parent.fork().unwrap();
        let grandchild = child.fork().unwrap();
        let page = pa(frame_of(&parent, HEAP + 0x2000).unwrap());
        assert_eq!(frames.sharers(page), 2, "three mappings");
        user_write(&mut child, HEAP + 0x2000).unwrap();
        assert_eq!(frames.sharers(page), 1);
        child.unmap(va(HEAP), 0x4000).unwrap();
        if parent_first {
            drop(parent);
            drop(grandchild);
        } else {
            drop(grandchild);
            drop(parent);
        }
        drop(child);
        assert_eq!(live_frames(), baseline, "parent_first = {parent_first}");
        assert_eq!(frames.sharers(page), 0);
    }
}

#[test]
fn prot_none_pages_are_carried_and_protect_never_makes_a_shared_frame_writable() {
    let (mut parent, frames) = parent(256);
    parent
        .protect(va(HEAP + 0x1000), 0x1000, MappingFlags::USER)
        .unwrap();
    let mut child = parent.fork().unwrap();
    let page = child.query(va(HEAP + 0x1000)).unwrap();
    assert!(page.is_prot_none(), "PROT_NONE carried over");
    assert_eq!(frames.sharers(page.paddr), 1);
    child.protect(va(HEAP + 0x1000), 0x1000, USER_RW).unwrap();
    assert!(
        !writable(&child, HEAP + 0x1000),
        "still shared: read-only until written"
    );
    assert_eq!(
        user_write(&mut child, HEAP + 0x1000),
        Ok(FaultResolution::CopiedOnWrite)
    );
    let mut seen = [0u8; 8];
    child.read_user(va(HEAP + 0x1000), &mut seen).unwrap();
    assert_eq!(seen, [2; 8], "the copy holds the data");
    assert!(
        parent.query(va(HEAP + 0x1000)).unwrap().is_prot_none(),
        "the parent's stays"
    );
    // A page still shared made PROT_NONE after the fork is PROT_NONE, not read-only.
    child.protect(va(HEAP), 0x1000, MappingFlags::USER).unwrap();
    assert!(child.query(va(HEAP)).unwrap().is_prot_none());
    assert_eq!(frames.sharers(pa(frame_of(&parent, HEAP).unwrap())), 1);
}

#[test]
fn shared_anonymous_memory_stays_shared_across_fork() {
    let (mut parent, frames) = parent(256);
    let shared_area = Area::new(va(0x80_0000), 0x2000, USER_RW, Backend::Shared);
    parent.map(shared_area, Placement::NoReplace).unwrap();
    let mut child = parent.fork().unwrap();
    child.write_user(va(0x80_1000), b"from child").unwrap();
    let mut seen = [0u8; 10];
    parent.read_user(va(0x80_1000), &mut seen).unwrap();
    assert_eq!(&seen, b"from child");
    parent.write_user(va(0x80_0000), b"and parent").unwrap();
    child.read_user(va(0x80_0000), &mut seen).unwrap();
    assert_eq!(&seen, b"and parent");
    assert!(writable(&child, 0x80_0000) && writable(&parent, 0x80_0000));
    let frame = pa(frame_of(&parent, 0x80_0000).unwrap());
    parent.unmap(va(0x80_0000), 0x2000).unwrap();
    assert_eq!(frames.sharers(frame), 0);
    child.read_user(va(0x80_0000), &mut seen).unwrap();
    assert_eq!(&seen, b"and parent", "the child's mapping keeps the frame");
}

#[test]
fn ten_thousand_children_share_one_page() {
    let children_count = if cfg!(miri) { 8 } else { 10_000 };
    let frames = use_frame_pool(children_count * 5 + 64);
    let mut parent = Space::try_new().unwrap();
    parent.set_frame_table(frames).unwrap();
    parent.map_alloc(va(HEAP), 0x1000, USER_RW, true).unwrap();
    let baseline = live_frames();
    let children: Vec<Space> = (0..children_count)
        .map(|_| parent.fork().unwrap())
        .collect();
    let page = pa(frame_of(&parent, HEAP).unwrap());
    assert_eq!(frames.sharers(page) as usize, children_count);
    drop(children);
    assert_eq!(frames.sharers(page), 0);
    assert_eq!(live_frames(), baseline);
}

#[test]
fn a_full_count_fails_the_fork_and_changes_no_count() {
    let (mut parent, frames) = parent(256);
    let full = pa(frame_of(&parent, HEAP + 0x1000).unwrap());
    let other = pa(frame_of(&parent, HEAP).unwrap());
    let child = parent.fork().unwrap();
    drop(child);
    assert_eq!((frames.sharers(full), frames.sharers(other)), (0, 0));
    // The second page's frame looks shared by u32::MAX more mappings.
    frames.set_sharers_for_test(full, u32::MAX);
    let before = live_frames();
    assert_eq!(parent.fork().err(), Some(MappingError::NoMemory));
    assert_eq!(
        frames.sharers(other),
        0,
        "the first page's count was taken back"
    );
    assert_eq!(frames.sharers(full), u32::MAX);
    assert_eq!(live_frames(), before, "nothing of the child remains");
    frames.set_sharers_for_test(full, 0);
}

#[test]
fn fork_needs_a_frame_table_and_inherits_the_settings() {
    let mut plain = Space::try_new().unwrap();
    assert_eq!(plain.fork().err(), Some(MappingError::InvalidParam));
    let (mut parent, _) = parent(256);
    parent.set_tlb_flush_hook(Some(super::frames::record_flush));
    parent
        .map_linear(va(0x4000_0000), pa(0x8000_0000), 0x20_0000, RW)
        .unwrap();
    parent.set_max_areas(2);
    let mut child = parent.fork().unwrap();
    assert_eq!(child.range(), parent.range());
    assert_eq!(
        child.query(va(0x4000_0000)).unwrap().page_size,
        parent.query(va(0x4000_0000)).unwrap().page_size,
        "linear areas mapped again, huge entries as huge entries"
    );
    assert_eq!(
        child.map_alloc(va(0x9000_0000), 0x1000, RW, false),
        Err(MappingError::NoMemory)
    );
    super::frames::take_flushes();
    user_write(&mut child, HEAP).unwrap();
    let flushes = super::frames::take_flushes();
    assert!(
        flushes.iter().any(|f| f.root_paddr == child.root_paddr()),
        "the hook is the parent's"
    );
}

#[test]
fn a_copy_on_write_fault_asks_for_one_page_flush_of_its_own_space_only() {
    let (mut parent, _) = parent(256);
    let mut child = parent.fork().unwrap();
    child.set_tlb_flush_hook(Some(super::frames::record_flush));
    super::frames::take_flushes();
    assert_eq!(
        user_write(&mut child, HEAP),
        Ok(FaultResolution::CopiedOnWrite)
    );
    let flushes = super::frames::take_flushes();
    assert!(!flushes.is_empty());
    for request in &flushes {
        assert_eq!(
            request.root_paddr,
            child.root_paddr(),
            "the faulting space's own flush"
        );
        assert_eq!(
            request.flush,
            vmlayer_arch::TlbFlush::Page(va(HEAP)),
            "one page"
        );
        assert!(
            !request.tables_changed && !request.global_changed,
            "{request:?}"
        );
    }
    // One request, or two where the ISA needs break-before-make (AArch64).
    let expected = if <crate::Arch as vmlayer_arch::PagingArch>::BREAK_BEFORE_MAKE {
        2
    } else {
        1
    };
    assert_eq!(flushes.len(), expected);
}

#[test]
fn the_loader_writes_shared_memory_in_place_and_private_pages_get_their_own_frame() {
    let (mut parent, frames) = parent(256);
    let shared_area = Area::new(va(0x80_0000), 0x1000, USER_RW, Backend::Shared);
    parent.map(shared_area, Placement::NoReplace).unwrap();
    let mut child = parent.fork().unwrap();
    child.load(va(0x80_0000), b"loaded").unwrap();
    let mut seen = [0u8; 6];
    parent.read_user(va(0x80_0000), &mut seen).unwrap();
    assert_eq!(&seen, b"loaded", "shared memory stays shared");
    let shared = frame_of(&parent, HEAP).unwrap();
    child.load(va(HEAP), b"private").unwrap();
    assert_ne!(
        frame_of(&child, HEAP),
        Some(shared),
        "a private page gets its own frame"
    );
    parent.read_user(va(HEAP), &mut seen).unwrap();
    assert_eq!(seen, [1; 6], "the parent's page is untouched");
    assert_eq!(frames.sharers(pa(shared)), 0);
}

#[test]
fn a_kernel_space_is_never_forked() {
    let frames = use_frame_pool(64);
    let upper = !((1usize << (<crate::Arch as vmlayer_arch::PagingArch>::VA_BITS - 1)) - 1);
    let range = VirtAddrRange::new(va(upper), va(upper + 0x4000_0000));
    let mut kernel = Space::new_kernel(range).unwrap();
    kernel.set_frame_table(frames).unwrap();
    kernel
        .map_alloc(va(upper + 0x1000), 0x1000, RW, true)
        .unwrap();
    assert_eq!(kernel.fork().err(), Some(MappingError::InvalidParam));
    assert!(
        kernel.query(va(upper + 0x1000)).is_some(),
        "the kernel's pages are untouched"
    );
}

/// Found while writing the `address_space_ops` fuzz target's model of copy-on-write: `protect`
/// of a page shared after fork to write-only flags wrote a PROT_NONE entry (the flags without
/// `WRITE` have no access left), so its writes were refused forever instead of copying it.
#[test]
fn a_shared_page_made_write_only_still_copies_on_write() {
    let (mut parent, frames) = parent(256);
    let mut child = parent.fork().unwrap();
    let write_only = MappingFlags::WRITE | MappingFlags::USER;
    parent
        .mprotect(va(HEAP), 0x1000, MappingFlags::WRITE)
        .unwrap();
    assert_eq!(parent.find_area(va(HEAP)).unwrap().flags(), write_only);
    let entry = parent.query(va(HEAP)).unwrap();
    assert!(!entry.is_prot_none() && !entry.flags.contains(MappingFlags::WRITE));
    assert_eq!(
        user_write(&mut parent, HEAP),
        Ok(FaultResolution::CopiedOnWrite)
    );
    assert!(writable(&parent, HEAP));
    parent.write_user(va(HEAP), b"parent!!").unwrap();
    let mut seen = [0u8; 8];
    child.read_user(va(HEAP), &mut seen).unwrap();
    assert_eq!(seen, [1; 8], "the child keeps its data");
    assert_eq!(frames.sharers(pa(frame_of(&child, HEAP).unwrap())), 0);
}

/// Found while writing the `address_space_ops` fuzz target's model: the loader writing a
/// PROT_NONE page shared after fork wrote the shared frame in place (`break_cow` refused
/// PROT_NONE entries), so the other process saw the write.
#[test]
fn the_loader_copies_a_prot_none_page_shared_after_fork() {
    let (mut parent, frames) = parent(256);
    let mut child = parent.fork().unwrap();
    parent
        .mprotect(va(HEAP), 0x1000, MappingFlags::empty())
        .unwrap();
    let shared = frame_of(&child, HEAP).unwrap();
    parent.load(va(HEAP), b"loaded!!").unwrap();
    let mut seen = [0u8; 8];
    child.read_user(va(HEAP), &mut seen).unwrap();
    assert_eq!(seen, [1; 8], "the parent's load did not reach the child");
    let copy = parent.query(va(HEAP)).unwrap();
    assert!(copy.is_prot_none(), "still PROT_NONE");
    assert_ne!(copy.paddr.as_usize(), shared);
    assert_eq!(frames.sharers(pa(shared)), 0);
    parent.mprotect(va(HEAP), 0x1000, RW).unwrap();
    parent.read_user(va(HEAP), &mut seen).unwrap();
    assert_eq!(&seen, b"loaded!!");
}

#[test]
fn a_copy_on_write_changes_the_table_so_another_cpus_fault_is_not_a_repeat() {
    // CPU 1 read-faults on a shared page (stale entry: Spurious); CPU 2 then copies it on a
    // write. CPU 1 faulting on it again is legitimate (the entry changed, and was invalid for a
    // moment where the ISA breaks before it makes): it must not be answered `Repeated`.
    let (mut parent, _) = parent(256);
    let _child = parent.fork().unwrap();
    let read = |cpu| PageFaultInfo::new(va(HEAP), Access::Read, true).on_cpu(cpu);
    let write = PageFaultInfo::new(va(HEAP), Access::Write, true).on_cpu(2);
    assert_eq!(
        parent.handle_page_fault(read(1)),
        Ok(FaultResolution::Spurious)
    );
    assert_eq!(
        parent.handle_page_fault(write),
        Ok(FaultResolution::CopiedOnWrite)
    );
    assert_eq!(
        parent.handle_page_fault(read(1)),
        Ok(FaultResolution::Spurious)
    );
    assert_eq!(
        parent.handle_page_fault(read(1)),
        Err(crate::FaultError::Repeated),
        "the same CPU again with no change in between"
    );
}

#[test]
fn a_fixed_map_the_cpu_cannot_address_is_refused_before_it_replaces_anything() {
    // Found by the `address_space_ops` fuzz target: the old area was unmapped, then the new
    // Linear range was refused.
    let mut space = Space::try_new().unwrap();
    let rx = MappingFlags::READ | MappingFlags::EXECUTE;
    space
        .map_linear(va(0x4000_5000), PhysAddr::from(0x1_0052_5000), 0x5000, rx)
        .unwrap();
    let unaddressable = Area::new(
        va(0x4000_5000),
        0x5000,
        READ,
        Backend::linear_for(va(0x4000_5000), PhysAddr::from(0xffff_ffff_ffff_2000)),
    );
    assert_eq!(
        space.map(unaddressable, Placement::Fixed),
        Err(MappingError::InvalidParam)
    );
    assert_eq!(
        space.query(va(0x4000_5000)).map(|t| t.paddr),
        Some(PhysAddr::from(0x1_0052_5000)),
        "the old area is still there"
    );
    assert_eq!(space.areas().count(), 1);
}

#[test]
fn a_shared_page_made_writable_and_executable_stays_execute_only_until_written() {
    // The read-only stand-in for a write-and-execute page is the execute-only page (READ is
    // added only where no access would be left), as far as the ISA can express it.
    let (mut parent, _frames) = parent(256);
    let _child = parent.fork().unwrap();
    let wx = MappingFlags::USER | MappingFlags::WRITE | MappingFlags::EXECUTE;
    parent.protect(va(HEAP), 0x1000, wx).unwrap();
    let page = parent.query(va(HEAP)).unwrap();
    let execute_only = MappingFlags::USER | MappingFlags::EXECUTE;
    let expected = match Arch::decode(Arch::encode_leaf(page.paddr, execute_only, 0), 0) {
        vmlayer_arch::EntryKind::Leaf { flags, .. } => flags,
        other => panic!("{other:?}"),
    };
    assert_eq!(page.flags, expected);
}
