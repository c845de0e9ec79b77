//! Table tests of the VMSAv8-64 descriptor encodings against the Arm ARM.

use memory_addr::PhysAddr;
use page_table_multiarch::MappingFlags;
use vmlayer_arch::EntryKind;
use vmlayer_arch::conformance::all_flag_combinations;

use super::*;

const R: MappingFlags = MappingFlags::READ;
const W: MappingFlags = MappingFlags::WRITE;
const X: MappingFlags = MappingFlags::EXECUTE;
const U: MappingFlags = MappingFlags::USER;

const UXN: u64 = 1 << 54;
const PXN: u64 = 1 << 53;

/// Per access combination (R, W, X in `MappingFlags` bit order): the 4 KiB page descriptor the
/// Arm ARM requires for Normal write-back memory as a kernel page and as a user page, and the
/// access flags that decode back. Low bits: valid 0x1, page 0x2, AttrIndx=1 0x4, AP[1] (EL0)
/// 0x40, AP[2] (read-only) 0x80, SH=11 0x300, AF 0x400, nG 0x800.
const EXPECTED: [(u64, u64, MappingFlags); 8] = [
    // PROT_NONE: invalid, software bit 55.
    (1 << 55, 1 << 55, MappingFlags::empty()),
    // R: read-only, never executable.
    (UXN | PXN | 0x787, UXN | PXN | 0xfc7, R),
    // W: no write-only encoding, granted R W.
    (UXN | PXN | 0x707, UXN | PXN | 0xf47, R.union(W)),
    (UXN | PXN | 0x707, UXN | PXN | 0xf47, R.union(W)),
    // X: granted R X. Kernel: executable at EL1 only; user: at EL0 only.
    (UXN | 0x787, PXN | 0xfc7, R.union(X)),
    (UXN | 0x787, PXN | 0xfc7, R.union(X)),
    (UXN | 0x707, PXN | 0xf47, R.union(W).union(X)),
    (UXN | 0x707, PXN | 0xf47, R.union(W).union(X)),
];

/// The change of a Normal-memory descriptor for the memory type `flags` asks for, and the
/// attribute flag that decodes back.
fn memory_type_adjustment(flags: MappingFlags) -> (u64, u64, MappingFlags) {
    if flags.contains(MappingFlags::DEVICE) {
        // AttrIndx 1 -> 0 and SH 11 -> 00; UXN and PXN whatever EXECUTE says.
        (0x304, UXN | PXN, MappingFlags::DEVICE)
    } else if flags.contains(MappingFlags::UNCACHED) {
        // AttrIndx 1 -> 2.
        (0x4, 0x8, MappingFlags::UNCACHED)
    } else {
        (0, 0, MappingFlags::empty())
    }
}

#[test]
fn every_flag_combination_gives_the_bits_the_arm_arm_requires_and_decodes_back() {
    let paddr = PhysAddr::from(0x4765_4000);
    for flags in all_flag_combinations() {
        let (kernel_bits, user_bits, decoded_access) = EXPECTED[(flags & ACCESS_FLAGS).bits()];
        let user = flags.contains(U);
        let accessible = flags.intersects(ACCESS_FLAGS);
        let mut expected_page = 0x4765_4000 | if user { user_bits } else { kernel_bits };
        let mut decoded = decoded_access;
        if accessible {
            let (clear, set, memory_type) = memory_type_adjustment(flags);
            expected_page = (expected_page & !clear) | set;
            decoded |= memory_type | (flags & U);
            if flags.contains(MappingFlags::DEVICE) {
                decoded.remove(X);
            }
        }
        assert_eq!(
            encode_leaf(paddr, flags, 0),
            expected_page,
            "page for {flags:?}"
        );

        for level in 0..3 {
            let entry = encode_leaf(paddr, flags, level);
            let expected_entry = if level == 0 || !accessible {
                expected_page
            } else {
                // A block descriptor: the same with bit 1 clear.
                expected_page & !0x2
            };
            assert_eq!(entry, expected_entry, "{flags:?} at level {level}");
            let expected_kind = if accessible {
                EntryKind::Leaf {
                    paddr,
                    flags: decoded,
                }
            } else {
                EntryKind::Reserved { paddr }
            };
            assert_eq!(
                decode(entry, level),
                expected_kind,
                "decode {flags:?} at level {level}"
            );
            if accessible {
                assert_eq!(normalize_flags(flags), decoded, "normalize {flags:?}");
                assert_eq!(
                    encode_leaf(paddr, decoded, level),
                    entry,
                    "re-encode {flags:?}"
                );
            }
        }
    }
}

#[test]
fn device_memory_is_never_executable_whatever_the_flags_say() {
    // Arm ARM B2.7.2 / D8.5; Linux's PROT_DEVICE_nGnRE carries PXN | UXN.
    let paddr = PhysAddr::from(0x0900_0000);
    for flags in all_flag_combinations().filter(|f| f.intersects(ACCESS_FLAGS)) {
        let flags = flags | MappingFlags::DEVICE;
        for level in 0..3 {
            let entry = encode_leaf(paddr, flags, level);
            assert_eq!(entry & (UXN | PXN), UXN | PXN, "{flags:?} at level {level}");
            assert_eq!(
                entry & ATTRIBUTE_INDEX_MASK,
                DEVICE_ATTRIBUTE_INDEX << 2,
                "{flags:?}"
            );
            let EntryKind::Leaf { flags: decoded, .. } = decode(entry, level) else {
                panic!("{flags:?} at level {level} is not a leaf");
            };
            assert!(!decoded.contains(X), "{flags:?} decodes as {decoded:?}");
        }
    }
    // The console page the example kernel maps: kernel RW device.
    assert_eq!(
        encode_leaf(paddr, R | W | X | MappingFlags::DEVICE, 0),
        UXN | PXN | 0x0900_0403,
        "kernel RWX device page: UXN PXN | AF | AttrIndx 0 | page | valid"
    );
}

#[test]
fn the_kernel_never_executes_user_memory_and_user_never_executes_kernel_memory() {
    for flags in all_flag_combinations().filter(|f| f.intersects(ACCESS_FLAGS)) {
        let entry = encode_leaf(PhysAddr::from(0x1000), flags, 0);
        if flags.contains(U) {
            assert_eq!(entry & PXN, PXN, "user page {flags:?} must be PXN");
            assert_eq!(
                entry & NOT_GLOBAL,
                NOT_GLOBAL,
                "user page {flags:?} must be nG"
            );
            assert_eq!(
                entry & EL0_ACCESS,
                EL0_ACCESS,
                "user page {flags:?} must be EL0-accessible"
            );
        } else {
            assert_eq!(entry & UXN, UXN, "kernel page {flags:?} must be UXN");
            assert_eq!(
                entry & NOT_GLOBAL,
                0,
                "kernel page {flags:?} must be global"
            );
            assert_eq!(
                entry & EL0_ACCESS,
                0,
                "kernel page {flags:?} must not be EL0-accessible"
            );
        }
        assert_eq!(entry & ACCESS_FLAG, ACCESS_FLAG, "{flags:?}: AF set");
    }
}

#[test]
fn upstream_a64pte_agrees_on_the_plain_kernel_and_user_pages() {
    use page_table_entry::aarch64::A64PTE;
    use page_table_multiarch::GenericPTE;
    // Where page_table_entry is right we produce the same bits, except nG on user pages (which
    // upstream never sets, wrong as soon as ASIDs are used).
    let paddr = PhysAddr::from(0x4000_0000);
    for flags in [R, R | W, R | X, R | W | X, R | U, R | W | U, R | X | U] {
        let upstream = A64PTE::new_page(paddr, flags, false).bits() as u64;
        let ours = encode_leaf(paddr, flags, 0);
        assert_eq!(ours & !NOT_GLOBAL, upstream, "{flags:?}");
    }
    assert_eq!(
        A64PTE::new_table(paddr).bits() as u64,
        encode_table(paddr),
        "table descriptor"
    );
    // Upstream's PROT_NONE is the zero descriptor: the frame is lost.
    assert_eq!(
        A64PTE::new_page(paddr, MappingFlags::empty(), false).bits() & 1,
        0
    );
    assert_eq!(
        encode_reserved(paddr),
        0x0080_0000_4000_0000,
        "ours keeps it"
    );
}

#[test]
fn table_reserved_and_refused_descriptors() {
    let paddr = PhysAddr::from(0x4008_3000);
    assert_eq!(
        encode_table(paddr),
        0x4008_3003,
        "table: address | type | valid"
    );
    for level in 1..4 {
        assert_eq!(
            decode(encode_table(paddr), level),
            EntryKind::Table(paddr),
            "level {level}"
        );
    }
    // At level 0 bits 1:0 = 11 is a page, not a table.
    assert_eq!(
        decode(encode_table(paddr), 0),
        EntryKind::Leaf {
            paddr,
            flags: MappingFlags::READ
                | MappingFlags::WRITE
                | MappingFlags::EXECUTE
                | MappingFlags::DEVICE
        },
        "a table pointer read at level 0 is what the MMU sees: a kernel RWX Device page"
    );
    // A block-type descriptor (bits 1:0 = 01) is refused at level 0 and at the root.
    let block = encode_leaf(PhysAddr::from(0x4000_0000), R, 2);
    assert_eq!(
        decode(block & !0x2, 0),
        EntryKind::Empty,
        "block type at level 0"
    );
    assert_eq!(
        decode(block, 3),
        EntryKind::Empty,
        "block at the root (Arm level 0)"
    );
    assert_eq!(
        encode_reserved(PhysAddr::from(0)),
        RESERVED_MARKER,
        "frame 0 still non-zero"
    );
    assert_eq!(
        decode(0x4000_0000 | 0x700, 1),
        EntryKind::Empty,
        "invalid without marker"
    );
}

#[test]
fn mair_value_matches_the_attribute_indices() {
    assert_eq!(
        MAIR_VALUE, 0x0044_ff04,
        "Attr2 = 0x44, Attr1 = 0xff, Attr0 = 0x04"
    );
    assert_eq!(
        (
            DEVICE_ATTRIBUTE_INDEX,
            NORMAL_ATTRIBUTE_INDEX,
            NON_CACHEABLE_ATTRIBUTE_INDEX
        ),
        (0, 1, 2),
        "indices"
    );
}

#[test]
fn output_address_field_covers_48_bits() {
    let top = (1usize << 48) - 0x1000;
    let entry = encode_leaf(PhysAddr::from(top), R, 0);
    assert_eq!(
        entry & OUTPUT_ADDRESS_MASK,
        OUTPUT_ADDRESS_MASK,
        "address all ones"
    );
    assert_eq!(
        decode(entry, 0),
        EntryKind::Leaf {
            paddr: PhysAddr::from(top),
            flags: R
        }
    );
}

#[test]
fn non_global_sets_ng_on_every_leaf_and_changes_nothing_else() {
    let frame = PhysAddr::from(0x4000_0000);
    for flags in all_flag_combinations() {
        for level in 0..=2 {
            let leaf = encode_leaf(frame, flags, level);
            let tagged = non_global(leaf);
            if leaf & VALID == 0 {
                assert_eq!(tagged, leaf, "PROT_NONE {flags:?} level {level}: unchanged");
                continue;
            }
            assert_eq!(tagged, leaf | NOT_GLOBAL, "{flags:?} level {level}: bit 11");
            assert_eq!(
                non_global(tagged),
                tagged,
                "{flags:?} level {level}: idempotent"
            );
            assert_eq!(
                decode(tagged, level),
                decode(leaf, level),
                "{flags:?} level {level}: decodes as before"
            );
        }
    }
    assert_eq!(NOT_GLOBAL, 1 << 11, "nG is bit 11");
    let reserved = encode_reserved(frame);
    assert_eq!(non_global(reserved), reserved, "PROT_NONE");
    assert_eq!(non_global(0), 0, "empty");
}
