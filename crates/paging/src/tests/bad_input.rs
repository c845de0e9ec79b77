//! Bad input to every `AddressSpace` entry point: a typed error (or `None` / `false`), never a
//! panic, and nothing changes.

use vmlayer_arch::{Access, PageFaultInfo, PagingArch};
use vmlayer_areas::MappingError;

use super::frames::live_frames;
use super::*;

/// A space holding one populated Alloc area at 0x40_0000 (4 pages) and one 2 MiB Linear
/// block at 2 GiB, and what it looked like.
fn populated_space() -> (Space, std::string::String, usize) {
    let mut space = Space::try_new().unwrap();
    space.map_alloc(va(0x40_0000), 0x4000, RW, true).unwrap();
    space
        .map_linear(va(2 * GIB), pa(2 * MIB), 2 * MIB, READ)
        .unwrap();
    let listing = std::format!("{space}");
    let frames = live_frames();
    (space, listing, frames)
}

#[test]
fn every_entry_point_refuses_bad_ranges_with_a_typed_error() {
    let (mut space, listing, frames) = populated_space();
    let non_canonical = 1usize << Arch::VA_BITS;
    let top_page = usize::MAX & !0xfff;
    let bad_pa = if Arch::PA_BITS >= 64 {
        None
    } else {
        Some(1usize << Arch::PA_BITS)
    };

    // (what, vaddr, paddr, size) for map_linear.
    let mut linear_cases = std::vec![
        ("unaligned va", 0x1001, 0x1000, 0x1000),
        ("unaligned pa", 0x1000, 0x1008, 0x1000),
        ("unaligned size", 0x1000, 0x1000, 0x1001),
        ("zero size", 0x1000, 0x1000, 0),
        ("va + size overflows", top_page, 0x1000, 0x2000),
        ("size usize::MAX", 0x1000, 0x1000, usize::MAX),
        ("aligned huge size", 0x1000, 0x1000, usize::MAX & !0xfff),
        ("non-canonical va", non_canonical, 0x1000, 0x1000),
        (
            "range crosses into the hole",
            non_canonical - 0x1000,
            0x1000,
            0x2000
        ),
        ("pa + size overflows", 0x1000, top_page, 0x2000),
    ];
    if let Some(bad_pa) = bad_pa {
        linear_cases.push(("pa beyond the entry's bits", 0x1000, bad_pa, 0x1000));
        linear_cases.push(("pa range ends beyond", 0x1000, bad_pa - 0x1000, 0x2000));
    }
    for (what, vaddr, paddr, size) in linear_cases {
        assert_eq!(
            space.map_linear(va(vaddr), pa(paddr), size, RW),
            Err(MappingError::InvalidParam),
            "map_linear: {what}"
        );
    }

    // (what, vaddr, size) for map_alloc, unmap and protect.
    let range_cases = [
        ("unaligned va", 0x40_0001, 0x1000),
        ("unaligned size", 0x40_0000, 0x1001),
        ("va + size overflows", top_page, 0x2000),
        ("size usize::MAX", 0x40_0000, usize::MAX),
        ("unaligned top", usize::MAX, 0x1000),
    ];
    for (what, vaddr, size) in range_cases {
        assert_eq!(
            space.map_alloc(va(vaddr), size, RW, true),
            Err(MappingError::InvalidParam),
            "map_alloc: {what}"
        );
        assert_eq!(
            space.map_alloc(va(vaddr), size, RW, false),
            Err(MappingError::InvalidParam),
            "lazy map_alloc: {what}"
        );
        assert_eq!(
            space.unmap(va(vaddr), size),
            Err(MappingError::InvalidParam),
            "unmap: {what}"
        );
        assert_eq!(
            space.protect(va(vaddr), size, READ),
            Err(MappingError::InvalidParam),
            "protect: {what}"
        );
    }
    for (what, vaddr) in [("zero size", 0x40_0000), ("non-canonical", non_canonical)] {
        assert_eq!(
            space.map_alloc(
                va(vaddr),
                if vaddr == 0x40_0000 { 0 } else { 0x1000 },
                RW,
                false
            ),
            Err(MappingError::InvalidParam),
            "map_alloc: {what}"
        );
    }

    // Lookups and faults at any address answer without panicking.
    for address in [
        0,
        0xfff,
        non_canonical,
        non_canonical + 0x123,
        top_page,
        usize::MAX,
    ] {
        assert_eq!(space.query(va(address)), None, "query {address:#x}");
        assert_eq!(
            space.find_area(va(address)).map(|area| area.start()),
            None,
            "find_area {address:#x}"
        );
        for access in [Access::Read, Access::Write, Access::Execute] {
            for user in [false, true] {
                let fault = PageFaultInfo::new(va(address), access, user);
                assert_eq!(
                    space.handle_page_fault(fault),
                    Err(crate::FaultError::NoArea),
                    "{fault:?}"
                );
            }
        }
    }

    assert_eq!(std::format!("{space}"), listing, "areas unchanged");
    assert_eq!(live_frames(), frames, "frames unchanged");
    assert_eq!(
        lookup(&space, 0x40_3000).map(|(_, flags, _)| flags),
        Some(normalized(RW)),
        "alloc area still mapped"
    );
    assert_eq!(
        lookup(&space, 2 * GIB + 0x1234),
        Some((2 * MIB + 0x1234, normalized(READ), 2 * MIB)),
        "linear block still mapped"
    );
}

/// On an ISA whose halves are translated by separate tables (AArch64), an area in the other
/// half would alias the same entries: unmapping or protecting it would change the first
/// half's pages and free its frames. Elsewhere both halves live in one table.
#[test]
fn one_table_holds_one_half_where_the_isa_splits_them() {
    let (mut space, listing, frames) = populated_space();
    // Where it is translatable (AArch64), the upper-half address whose table indices (bits
    // 47:12) equal those of the alloc area's first page; elsewhere the same low bits in the
    // (sign-extended) upper half.
    let alias = if Arch::is_valid_vaddr(0xffff_0000_0040_0000) {
        0xffff_0000_0040_0000
    } else {
        (usize::MAX << (Arch::VA_BITS - 1)) | 0x40_0000
    };
    let results = [
        space.map_alloc(va(alias), 0x1000, RW, false),
        space.map_alloc(va(alias + 0x1000), 0x1000, RW, true),
        space.map_linear(va(alias + 0x8000), pa(0x1000), 0x1000, RW),
    ];
    if Arch::ONE_HALF_PER_TABLE {
        assert_eq!(
            results,
            [Err(MappingError::InvalidParam); 3],
            "{}: maps in the other half",
            Arch::NAME
        );
        assert_eq!(space.query(va(alias)), None, "no aliased lookup");
        assert_eq!(std::format!("{space}"), listing, "areas unchanged");
        assert_eq!(live_frames(), frames, "frames unchanged");
        // Once the space is empty, it may serve the other half.
        space.unmap(va(0), 4 * GIB).unwrap();
        space.map_alloc(va(alias), 0x1000, RW, true).unwrap();
        assert_eq!(
            space.map_alloc(va(0x40_0000), 0x1000, RW, false),
            Err(MappingError::InvalidParam),
            "and then refuses the lower half"
        );
    } else {
        assert_eq!(
            results,
            [Ok(()); 3],
            "{}: both halves in one table",
            Arch::NAME
        );
        space.unmap(va(alias), 0x1000).unwrap();
        assert_eq!(
            lookup(&space, 0x40_0000).map(|(_, flags, _)| flags),
            Some(normalized(RW)),
            "the lower half is untouched by an upper-half unmap"
        );
        assert_eq!(
            lookup(&space, alias + 0x1000).map(|(_, _, size)| size),
            Some(0x1000)
        );
    }
}
