//! Kernel access to user memory: checked copies, the loader write, populate, translation.

use vmlayer_arch::Access;

use super::frames::{live_frames, set_allocation_budget};
use super::*;
use crate::FaultError;

const USER_RW: MappingFlags = RW.union(MappingFlags::USER);
const USER_READ: MappingFlags = READ.union(MappingFlags::USER);
const USER_RX: MappingFlags = RX.union(MappingFlags::USER);

#[test]
fn copies_in_and_out_cross_pages_at_any_alignment_and_populate_lazy_pages() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x4000, USER_RW, false)
        .unwrap();
    let data: Vec<u8> = (0..0x1803u32).map(|i| (i * 7 + 3) as u8).collect();
    // From 5 bytes before the first page boundary to the middle of the third page.
    let start = 0x10_0ffb;
    space.write_user(va(start), &data).unwrap();
    assert_eq!(
        live_frames(),
        space.page_table().table_page_count() + 3,
        "three pages touched"
    );
    let mut back = std::vec![0u8; data.len()];
    space.read_user(va(start), &mut back).unwrap();
    assert_eq!(back, data);
    // The bytes are in the frames the page table maps, where the user will see them.
    let frame = space.query(va(0x10_1000)).unwrap().paddr.as_usize();
    // SAFETY: test frames are host memory at physical = virtual; the frame is mapped.
    let first = unsafe { (frame as *const u8).read() };
    assert_eq!(first, data[5]);
    // Reading a lazy page populates it with zeros.
    let mut zeros = [0xffu8; 16];
    space.read_user(va(0x10_3ff0), &mut zeros).unwrap();
    assert_eq!(zeros, [0; 16]);
}

#[test]
fn bad_pointers_and_forbidden_accesses_are_typed_errors_with_their_errno() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x1000, USER_READ, true)
        .unwrap();
    space.map_alloc(va(0x20_0000), 0x1000, RW, true).unwrap(); // kernel memory
    space
        .map_alloc(va(0x30_0000), 0x1000, MappingFlags::USER, true)
        .unwrap(); // PROT_NONE
    let mut buffer = [0u8; 8];
    let cases: [(usize, Option<Access>, FaultError); 6] = [
        (0x40_0000, None, FaultError::NoArea),
        (0x10_0000, Some(Access::Write), FaultError::AccessDenied),
        (0x20_0000, None, FaultError::KernelArea),
        (0x20_0000, Some(Access::Write), FaultError::KernelArea),
        (0x30_0000, None, FaultError::AccessDenied),
        (usize::MAX - 3, None, FaultError::NoArea),
    ];
    for (address, write, expected) in cases {
        let result = match write {
            Some(_) => space.write_user(va(address), &buffer),
            None => space.read_user(va(address), &mut buffer),
        };
        assert_eq!(result, Err(expected), "{address:#x} {write:?}");
        assert_eq!(expected.errno(), 14, "EFAULT");
    }
    // A read that runs off the end of an area copies what it can and then fails.
    assert_eq!(
        space.read_user(va(0x10_0ffc), &mut buffer),
        Err(FaultError::NoArea)
    );
    assert_eq!(space.read_user(va(0x10_0ff8), &mut buffer), Ok(()));
    assert_eq!(FaultError::NoMemory.errno(), 12);
    assert_eq!(FaultError::NoArea.segv_code(), Some(1));
    assert_eq!(FaultError::AccessDenied.segv_code(), Some(2));
}

#[test]
fn no_memory_for_a_lazy_page_is_enomem_and_maps_nothing() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x2000, USER_RW, false)
        .unwrap();
    space.write_user(va(0x10_0000), &[1]).unwrap();
    let before = live_frames();
    set_allocation_budget(Some(0));
    let result = space.write_user(va(0x10_0000), &[2u8; 0x1008]);
    set_allocation_budget(None);
    assert_eq!(result, Err(FaultError::NoMemory));
    assert_eq!(FaultError::NoMemory.errno(), 12);
    assert_eq!(live_frames(), before);
    assert_eq!(space.query(va(0x10_1000)), None);
    let mut first = [0u8; 1];
    space.read_user(va(0x10_0000), &mut first).unwrap();
    assert_eq!(first, [2], "the first page was written before the failure");
}

#[test]
fn the_loader_writes_read_only_and_executable_areas_and_populate_fills_a_range() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x40_0000), 0x2000, USER_RX, false)
        .unwrap();
    space
        .map_alloc(va(0x50_0000), 0x1000, USER_READ, false)
        .unwrap();
    let code = [0x13u8, 0, 0, 0, 0x73, 0, 0x10, 0];
    assert_eq!(
        space.write_user(va(0x40_0000), &code),
        Err(FaultError::AccessDenied)
    );
    space.load(va(0x40_0ffc), &code).unwrap();
    space.load(va(0x50_0000), b"rodata").unwrap();
    let mut back = [0u8; 8];
    space.read_user(va(0x40_0ffc), &mut back).unwrap();
    assert_eq!(back, code);
    assert_eq!(space.query(va(0x41_0000)), None);
    assert_eq!(space.load(va(0x60_0000), &code), Err(FaultError::NoArea));

    space
        .map_alloc(va(0x70_0000), 0x4000, USER_RW, false)
        .unwrap();
    assert_eq!(
        space.populate(va(0x70_0000), 0x5000),
        Err(FaultError::NoArea),
        "a hole at the end"
    );
    assert_eq!(space.query(va(0x70_0000)), None, "nothing populated then");
    space.populate(va(0x70_0000), 0x4000).unwrap();
    for page in pages(0x70_0000, 0x4000) {
        assert!(space.query(va(page)).is_some(), "{page:#x}");
    }
}

#[test]
fn translation_for_a_device_populates_and_checks_the_access() {
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x1000, USER_READ, false)
        .unwrap();
    assert_eq!(
        space.translate_user(va(0x10_0010), Access::Write),
        Err(FaultError::AccessDenied),
        "a device must not write a read-only buffer"
    );
    let paddr = space.translate_user(va(0x10_0010), Access::Read).unwrap();
    assert_eq!(Some(paddr), space.query(va(0x10_0010)).map(|t| t.paddr));
}

#[test]
fn unaligned_copies_within_one_page_keep_every_byte_in_place() {
    // A piece that starts inside a word and spans more than one: head, whole words, tail.
    let mut space = Space::try_new().unwrap();
    space
        .map_alloc(va(0x10_0000), 0x1000, USER_RW, true)
        .unwrap();
    let data: Vec<u8> = (1..=20u8).collect();
    space.write_user(va(0x10_0003), &data).unwrap();
    let mut page = std::vec![0u8; 32];
    space.read_user(va(0x10_0000), &mut page).unwrap();
    assert_eq!(&page[..3], &[0; 3]);
    assert_eq!(&page[3..23], &data[..]);
    assert_eq!(&page[23..], &[0; 9]);
    let mut back = [0u8; 20];
    space.read_user(va(0x10_0003), &mut back).unwrap();
    assert_eq!(&back[..], &data[..]);
}
