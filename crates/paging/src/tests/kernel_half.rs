//! Kernel and user spaces: the kernel half shared without copies, the user range.

use vmlayer_arch::{Access, PageFaultInfo, PagingArch};
use vmlayer_areas::MappingError;

use super::frames::live_frames;
use super::*;
use crate::FaultError;

/// The lowest upper-half (kernel) address of the ISA.
fn upper_half() -> usize {
    !((1usize << (Arch::VA_BITS - 1)) - 1)
}

/// 4 GiB at the bottom of the upper half.
fn kernel_range() -> VirtAddrRange {
    VirtAddrRange::new(va(upper_half()), va(upper_half() + 4 * GIB))
}

/// The lower half without its first page.
fn user_range() -> VirtAddrRange {
    VirtAddrRange::new(va(0x1000), va(1 << (Arch::VA_BITS - 1)))
}

/// Whether the ISA shares the kernel's root slots (one root for both halves).
fn shares_root_slots() -> bool {
    !Arch::ONE_HALF_PER_TABLE
}

#[test]
fn a_kernel_mapping_made_after_a_user_space_exists_reaches_it() {
    let mut kernel = Space::new_kernel(kernel_range()).unwrap();
    let user = Space::new_user(&kernel, user_range()).unwrap();
    let kernel_page = upper_half() + 3 * GIB + 0x5000;
    kernel
        .map_linear(va(kernel_page), pa(0x8000_0000), 0x1000, RW)
        .unwrap();
    let seen = user.page_table().query(va(kernel_page));
    if shares_root_slots() {
        assert_eq!(
            seen,
            kernel.query(va(kernel_page)),
            "the user's root walks the kernel's tables"
        );
        assert_eq!(seen.unwrap().paddr, pa(0x8000_0000));
    } else {
        // AArch64: the kernel half is another table (TTBR1); the user table holds nothing.
        assert_eq!(seen, None);
        assert_ne!(user.root_paddr(), kernel.root_paddr());
    }
    assert_eq!(user.query(va(kernel_page)), None, "outside the user range");
}

#[test]
fn a_user_space_costs_one_table_page_and_never_frees_kernel_tables() {
    let mut kernel = Space::new_kernel(kernel_range()).unwrap();
    let kernel_page = upper_half() + 0x20_0000;
    kernel.map_alloc(va(kernel_page), 0x1000, RW, true).unwrap();
    write_u64(&kernel, kernel_page, 0x5eed);
    let before = live_frames();
    let mut user = Space::new_user(&kernel, user_range()).unwrap();
    assert_eq!(
        live_frames(),
        before + 1,
        "a new user space is its root only"
    );
    assert_eq!(user.page_table().table_page_count(), 1);
    user.map_alloc(va(0x40_0000), 0x3000, RW, true).unwrap();
    drop(user);
    assert_eq!(
        live_frames(),
        before,
        "the user's frames and tables, no more, no less"
    );
    // The kernel's tables are alive and still reached (Miri would flag a freed table here).
    assert_eq!(read_u64(&kernel, kernel_page), 0x5eed);
    kernel
        .map_alloc(va(kernel_page + 0x1000), 0x1000, RW, true)
        .unwrap();
    drop(kernel);
    assert_eq!(live_frames(), 0);
}

#[test]
fn the_shared_kernel_tables_outlive_the_kernel_space_until_the_last_user_drops() {
    let mut kernel = Space::new_kernel(kernel_range()).unwrap();
    kernel
        .map_alloc(va(upper_half() + 0x1000), 0x1000, RW, true)
        .unwrap();
    let mut user = Space::new_user(&kernel, user_range()).unwrap();
    user.map_alloc(va(0x1000), 0x1000, RW, true).unwrap();
    // The user's tables and its one frame.
    let user_owned = user.page_table().table_page_count() + 1;
    drop(kernel);
    assert_eq!(
        live_frames(),
        user_owned + shared_slot_tables(),
        "the kernel's own tables and frame are gone, the shared slot tables stay"
    );
    drop(user);
    assert_eq!(live_frames(), 0);
}

/// The tables [`kernel_range`] pre-allocates: one per root slot it covers.
fn shared_slot_tables() -> usize {
    if !shares_root_slots() {
        return 0;
    }
    let slot_size = vmlayer_arch::level_size(Arch::LEVELS - 1);
    (4 * GIB).div_ceil(slot_size)
}

#[test]
fn an_emptied_kernel_table_stays_linked_for_the_users() {
    let mut kernel = Space::new_kernel(kernel_range()).unwrap();
    let user = Space::new_user(&kernel, user_range()).unwrap();
    let page = upper_half() + 2 * GIB;
    kernel.map_alloc(va(page), 0x1000, RW, true).unwrap();
    // The unmap empties every table below the root slot; the slot's table must stay, or the
    // next kernel mapping would go to a table the user's root does not link.
    kernel.unmap(va(page), 0x1000).unwrap();
    kernel
        .map_linear(va(page), pa(0x9000_0000), 0x1000, RW)
        .unwrap();
    let seen = user.page_table().query(va(page)).map(|t| t.paddr);
    let expected = shares_root_slots().then_some(pa(0x9000_0000));
    assert_eq!(seen, expected);
}

#[test]
fn every_operation_of_a_user_space_stays_in_its_range() {
    let kernel = Space::new_kernel(kernel_range()).unwrap();
    let mut user = Space::new_user(&kernel, user_range()).unwrap();
    let kernel_address = upper_half() + 0x1000;
    let invalid = Err(MappingError::InvalidParam);
    assert_eq!(
        user.map_alloc(va(kernel_address), 0x1000, RW, false),
        invalid
    );
    assert_eq!(
        user.map_linear(va(kernel_address), pa(0x8000_0000), 0x1000, RW),
        invalid
    );
    assert_eq!(
        user.map_alloc(va(0), 0x2000, RW, false),
        invalid,
        "below the range"
    );
    let top = user_range().end.as_usize();
    assert_eq!(
        user.map_alloc(va(top - 0x1000), 0x2000, RW, false),
        invalid,
        "across its end"
    );
    assert_eq!(user.unmap(va(kernel_address), 0x1000), invalid);
    assert_eq!(user.protect(va(kernel_address), 0x1000, READ), invalid);
    let fault = PageFaultInfo::new(va(kernel_address), Access::Read, true);
    assert_eq!(user.handle_page_fault(fault), Err(FaultError::NoArea));
    user.map_alloc(va(top - 0x1000), 0x1000, RW, false).unwrap();
    let found = user
        .find_free_area(va(top - 0x4000), 0x4000, 0x1000)
        .unwrap();
    assert!(user_range().contains_range(VirtAddrRange::from_start_size(found, 0x4000)));
    assert_eq!(user.range(), user_range());
    assert_eq!(
        user.areas().count(),
        1,
        "the kernel's areas are not the user's"
    );
}

#[test]
fn user_ranges_that_cannot_be_separated_from_the_kernel_are_refused() {
    let kernel = Space::new_kernel(kernel_range()).unwrap();
    let inside_kernel = VirtAddrRange::new(va(upper_half() + 8 * GIB), va(upper_half() + 9 * GIB));
    let result = Space::new_user(&kernel, inside_kernel).err();
    if shares_root_slots() {
        // Sv39: 8 GiB above the kernel range is another root slot; elsewhere it is the same.
        let slot_size = vmlayer_arch::level_size(Arch::LEVELS - 1);
        let same_slot = (upper_half() + 8 * GIB) / slot_size == upper_half() / slot_size;
        assert_eq!(result.is_some(), same_slot);
    } else {
        assert_eq!(
            result,
            Some(MappingError::InvalidParam),
            "the kernel's half"
        );
    }
    let plain = Space::try_new().unwrap();
    let upper = VirtAddrRange::new(va(upper_half()), va(upper_half() + GIB));
    for range in [user_range(), upper] {
        assert_eq!(
            Space::new_user(&plain, range).err(),
            Some(MappingError::InvalidParam),
            "a plain space has no kernel half to share ({range:?})"
        );
    }
    let unaligned = VirtAddrRange::new(va(0x1800), va(0x4000));
    assert_eq!(
        Space::new_user(&kernel, unaligned).err(),
        Some(MappingError::InvalidParam)
    );
    let empty = VirtAddrRange::new(va(0x1000), va(0x1000));
    assert_eq!(
        Space::new_user(&kernel, empty).err(),
        Some(MappingError::InvalidParam)
    );
}

#[test]
fn a_user_table_cannot_reach_the_kernel_half_through_the_range_operations() {
    let mut kernel = Space::new_kernel(kernel_range()).unwrap();
    kernel
        .map_alloc(va(upper_half() + 0x1000), 0x1000, RW, true)
        .unwrap();
    let mut user = Space::new_user(&kernel, user_range()).unwrap();
    let invalid = Err(MappingError::InvalidParam);
    let table = &mut user.page_table;
    let result = table.unmap(va(upper_half()), 0x2000);
    if shares_root_slots() {
        assert_eq!(
            result, invalid,
            "a backend of the user space cannot unmap kernel pages"
        );
        assert_eq!(
            table.protect(va(upper_half() + 0x1000), 0x1000, READ),
            invalid
        );
        assert_eq!(
            table.map_contiguous(va(upper_half() + 0x2000), pa(0x8000_0000), 0x1000, RW),
            invalid
        );
    }
    assert!(
        kernel.query(va(upper_half() + 0x1000)).is_some(),
        "the kernel page is there"
    );
}

#[test]
fn the_range_operations_reach_every_slot_a_table_owns() {
    // The kernel's table owns its shared slots; a user table owns every slot of its range, up
    // to its last page (where one root holds both halves: the page right below the kernel's
    // first slot).
    let mut kernel = Space::new_kernel(kernel_range()).unwrap();
    let kernel_page = va(upper_half() + 0x2000);
    let table = &mut kernel.page_table;
    table
        .map_contiguous(kernel_page, pa(0x8000_0000), 0x1000, RW)
        .unwrap();
    assert!(kernel.query(kernel_page).is_some());
    kernel.page_table.unmap(kernel_page, 0x1000).unwrap();
    let mut user = Space::new_user(&kernel, user_range()).unwrap();
    let top = va(user_range().end.as_usize() - 0x1000);
    let table = &mut user.page_table;
    table
        .map_contiguous(top, pa(0x8000_0000), 0x1000, RW)
        .unwrap();
    assert_eq!(table.protect(top, 0x1000, READ), Ok(()));
    assert_eq!(user.query(top).map(|t| t.flags), Some(READ));
    user.page_table.unmap(top, 0x1000).unwrap();
    assert!(user.query(top).is_none());
}
