//! Table tests of the x86_64 encodings against the Intel SDM.

use memory_addr::PhysAddr;
use page_table_multiarch::MappingFlags;
use vmlayer_arch::{ACCESS_FLAGS, EntryKind, PagingArch, level_size};

use crate::{
    RESERVED_MARKER, X86_64, asid_bits, asid_bits_from_cpuid, phys_addr_bits,
    phys_addr_bits_from_cpuid,
};

/// Every `MappingFlags` combination (bits: READ 0x1, WRITE 0x2, EXECUTE 0x4, USER 0x8,
/// DEVICE 0x10, UNCACHED 0x20) → the level-0 entry for frame 0x1234_5000 the SDM requires
/// (P 0, R/W 1, U/S 2, PWT 3, PCD 4, A 5, D 6, XD 63; PROT_NONE: P clear, bit 9 set) → the flags
/// decoded back. Rows without an access flag are PROT_NONE (`encode_reserved`).
const LEVEL0_TABLE: [(usize, u64, usize); 64] = [
    (0x00, 0x0000_0000_1234_5200, 0x00),
    (0x01, 0x8000_0000_1234_5021, 0x01),
    (0x02, 0x8000_0000_1234_5063, 0x03),
    (0x03, 0x8000_0000_1234_5063, 0x03),
    (0x04, 0x0000_0000_1234_5021, 0x05),
    (0x05, 0x0000_0000_1234_5021, 0x05),
    (0x06, 0x0000_0000_1234_5063, 0x07),
    (0x07, 0x0000_0000_1234_5063, 0x07),
    (0x08, 0x0000_0000_1234_5200, 0x00),
    (0x09, 0x8000_0000_1234_5025, 0x09),
    (0x0a, 0x8000_0000_1234_5067, 0x0b),
    (0x0b, 0x8000_0000_1234_5067, 0x0b),
    (0x0c, 0x0000_0000_1234_5025, 0x0d),
    (0x0d, 0x0000_0000_1234_5025, 0x0d),
    (0x0e, 0x0000_0000_1234_5067, 0x0f),
    (0x0f, 0x0000_0000_1234_5067, 0x0f),
    (0x10, 0x0000_0000_1234_5200, 0x00),
    (0x11, 0x8000_0000_1234_5039, 0x11),
    (0x12, 0x8000_0000_1234_507b, 0x13),
    (0x13, 0x8000_0000_1234_507b, 0x13),
    (0x14, 0x0000_0000_1234_5039, 0x15),
    (0x15, 0x0000_0000_1234_5039, 0x15),
    (0x16, 0x0000_0000_1234_507b, 0x17),
    (0x17, 0x0000_0000_1234_507b, 0x17),
    (0x18, 0x0000_0000_1234_5200, 0x00),
    (0x19, 0x8000_0000_1234_503d, 0x19),
    (0x1a, 0x8000_0000_1234_507f, 0x1b),
    (0x1b, 0x8000_0000_1234_507f, 0x1b),
    (0x1c, 0x0000_0000_1234_503d, 0x1d),
    (0x1d, 0x0000_0000_1234_503d, 0x1d),
    (0x1e, 0x0000_0000_1234_507f, 0x1f),
    (0x1f, 0x0000_0000_1234_507f, 0x1f),
    (0x20, 0x0000_0000_1234_5200, 0x00),
    (0x21, 0x8000_0000_1234_5031, 0x21),
    (0x22, 0x8000_0000_1234_5073, 0x23),
    (0x23, 0x8000_0000_1234_5073, 0x23),
    (0x24, 0x0000_0000_1234_5031, 0x25),
    (0x25, 0x0000_0000_1234_5031, 0x25),
    (0x26, 0x0000_0000_1234_5073, 0x27),
    (0x27, 0x0000_0000_1234_5073, 0x27),
    (0x28, 0x0000_0000_1234_5200, 0x00),
    (0x29, 0x8000_0000_1234_5035, 0x29),
    (0x2a, 0x8000_0000_1234_5077, 0x2b),
    (0x2b, 0x8000_0000_1234_5077, 0x2b),
    (0x2c, 0x0000_0000_1234_5035, 0x2d),
    (0x2d, 0x0000_0000_1234_5035, 0x2d),
    (0x2e, 0x0000_0000_1234_5077, 0x2f),
    (0x2f, 0x0000_0000_1234_5077, 0x2f),
    (0x30, 0x0000_0000_1234_5200, 0x00),
    (0x31, 0x8000_0000_1234_5039, 0x11),
    (0x32, 0x8000_0000_1234_507b, 0x13),
    (0x33, 0x8000_0000_1234_507b, 0x13),
    (0x34, 0x0000_0000_1234_5039, 0x15),
    (0x35, 0x0000_0000_1234_5039, 0x15),
    (0x36, 0x0000_0000_1234_507b, 0x17),
    (0x37, 0x0000_0000_1234_507b, 0x17),
    (0x38, 0x0000_0000_1234_5200, 0x00),
    (0x39, 0x8000_0000_1234_503d, 0x19),
    (0x3a, 0x8000_0000_1234_507f, 0x1b),
    (0x3b, 0x8000_0000_1234_507f, 0x1b),
    (0x3c, 0x0000_0000_1234_503d, 0x1d),
    (0x3d, 0x0000_0000_1234_503d, 0x1d),
    (0x3e, 0x0000_0000_1234_507f, 0x1f),
    (0x3f, 0x0000_0000_1234_507f, 0x1f),
];

const FRAME: usize = 0x1234_5000;

/// The entry the walker writes for `flags` at `level`: a leaf, or PROT_NONE without access.
fn encode(flags: MappingFlags, level: usize) -> u64 {
    if flags.intersects(ACCESS_FLAGS) {
        X86_64::encode_leaf(PhysAddr::from(FRAME), flags, level)
    } else {
        X86_64::encode_reserved(PhysAddr::from(FRAME), level)
    }
}

#[test]
fn every_flag_combination_encodes_as_the_sdm_requires_and_decodes_back() {
    for (flags, expected_entry, expected_decoded) in LEVEL0_TABLE {
        let flags = MappingFlags::from_bits_truncate(flags);
        let entry = encode(flags, 0);
        assert_eq!(entry, expected_entry, "entry for {flags:?}");
        let expected = if flags.intersects(ACCESS_FLAGS) {
            EntryKind::Leaf {
                paddr: PhysAddr::from(FRAME),
                flags: MappingFlags::from_bits_truncate(expected_decoded),
            }
        } else {
            EntryKind::Reserved {
                paddr: PhysAddr::from(FRAME),
            }
        };
        assert_eq!(
            X86_64::decode(entry, 0),
            expected,
            "decoding {entry:#x} ({flags:?})"
        );
    }
}

#[test]
fn blocks_set_the_page_size_bit_and_otherwise_match_level_zero() {
    const PS: u64 = 1 << 7;
    for (flags, level0_entry, _) in LEVEL0_TABLE {
        let flags = MappingFlags::from_bits_truncate(flags);
        if !flags.intersects(ACCESS_FLAGS) {
            continue;
        }
        for level in [1, 2] {
            let entry = encode(flags, level);
            assert_eq!(
                entry,
                level0_entry | PS,
                "level {level} entry for {flags:?}"
            );
        }
    }
}

#[test]
fn prot_none_is_never_present_at_any_level() {
    for level in 0..4 {
        for frame in [0, level_size(level), 0x000f_ffff_c000_0000] {
            let entry = X86_64::encode_reserved(PhysAddr::from(frame), level);
            assert_eq!(entry & 1, 0, "P bit of PROT_NONE at level {level}");
            assert_eq!(entry & 0b100, 0, "U/S bit of PROT_NONE at level {level}");
            assert_eq!(
                entry,
                RESERVED_MARKER | frame as u64,
                "PROT_NONE at level {level}"
            );
        }
    }
}

#[test]
fn table_entries_are_present_writable_user_accessed_without_page_size() {
    let entry = X86_64::encode_table(PhysAddr::from(0xabc_d000));
    // P | R/W | U/S | A (bit 5, preset like Linux's _PAGE_TABLE), PS (bit 7) clear.
    assert_eq!(entry, 0xabc_d027, "table entry");
    assert_eq!(entry & (1 << 5), 1 << 5, "accessed bit of a table entry");
    for level in 1..4 {
        assert_eq!(
            X86_64::decode(entry, level),
            EntryKind::Table(PhysAddr::from(0xabc_d000)),
            "table entry at level {level}"
        );
    }
}

#[test]
fn decode_ignores_hardware_set_bits_and_the_block_pat_bit() {
    // A 2 MiB block with PAT (bit 12), global (bit 8) and A/D set by the CPU.
    let entry = 0x8000_0000_4020_1000 | 0x1e1;
    assert_eq!(
        X86_64::decode(entry, 1),
        EntryKind::Leaf {
            paddr: PhysAddr::from(0x4020_0000),
            flags: MappingFlags::READ
        },
        "block with PAT"
    );
    // A non-present entry without the marker is empty whatever else it holds.
    assert_eq!(
        X86_64::decode(0x1234_5000, 0),
        EntryKind::Empty,
        "non-present garbage"
    );
}

#[test]
fn page_size_in_a_pml4_entry_is_reserved_not_a_512_gib_page() {
    // PS (bit 7) is reserved in a PML4E (SDM Vol. 3A, table 4-15): the MMU faults with RSVD
    // and maps nothing through it. At levels 1 and 2 the same bits are a 2 MiB / 1 GiB leaf.
    let entry = X86_64::encode_leaf(PhysAddr::from(0x80_0000_0000), MappingFlags::READ, 2);
    assert_eq!(entry & 0x80, 0x80, "PS set");
    assert_eq!(X86_64::decode(entry, 3), EntryKind::Empty, "PML4E with PS");
    assert!(
        matches!(X86_64::decode(entry, 2), EntryKind::Leaf { .. }),
        "1 GiB leaf"
    );
    assert!(
        matches!(X86_64::decode(entry, 1), EntryKind::Leaf { .. }),
        "2 MiB leaf"
    );
}

#[test]
fn conforms_to_the_paging_arch_contract() {
    vmlayer_arch::conformance::assert_conforms::<X86_64>();
}

#[test]
fn phys_addr_bits_come_from_cpuid_leaf_80000008() {
    // (CPUID.80000000H:EAX, CPUID.80000008H:EAX, MAXPHYADDR)
    let cases = [
        (
            0x8000_0008,
            0x0000_3028,
            40,
            "QEMU qemu64: 40 physical, 48 linear bits",
        ),
        (0x8000_0008, 0x0000_3027, 39, "a client CPU: 39 bits"),
        (0x8000_001f, 0x0000_3030, 48, "a server CPU: 48 bits"),
        (0x8000_0008, 0x0000_3034, 52, "52 bits"),
        (
            0x8000_0008,
            0x0000_303f,
            52,
            "more than an entry holds: capped at 52",
        ),
        (0x8000_0007, 0x0000_3028, 36, "leaf absent: 36 (SDM 4.1.4)"),
        (0x0000_0000, 0x0000_0000, 36, "no extended leaves at all"),
        (0x8000_0008, 0x0000_0000, 36, "leaf present but reporting 0"),
    ];
    for (highest, eax, expected, what) in cases {
        assert_eq!(phys_addr_bits_from_cpuid(highest, eax), expected, "{what}");
    }
}

#[test]
fn phys_addr_bits_of_the_host_cpu_are_cached_and_plausible() {
    // CPUID is unprivileged: hosted builds read the host CPU.
    let bits = phys_addr_bits();
    assert!((36..=52).contains(&bits), "host MAXPHYADDR {bits}");
    assert_eq!(phys_addr_bits(), bits, "cached value");
    assert_eq!(
        <X86_64 as PagingArch>::phys_addr_bits(),
        bits,
        "PagingArch::phys_addr_bits"
    );
}

#[test]
fn pcids_need_both_pcid_and_invpcid() {
    const PCID: u32 = 1 << 17;
    const INVPCID: u32 = 1 << 10;
    let cases = [
        // (CPUID.0H:EAX, CPUID.01H:ECX, CPUID.(07H,0):EBX, bits)
        (0x16, PCID, INVPCID, 12),
        (0x16, PCID | 0xfffd_ffff, INVPCID | 0xffff_fbff, 12), // every other bit set
        (0x16, PCID, 0, 0),                                    // PCID without INVPCID
        (0x16, 0, INVPCID, 0),                                 // INVPCID without PCID
        (0x16, 0xfffd_ffff, 0xffff_fbff, 0),                   // every other bit set
        (0x6, PCID, INVPCID, 0),                               // no leaf 7: its EBX is junk
        (0x0, PCID, INVPCID, 0),                               // no leaf 1 either
    ];
    for (highest, ecx, ebx, bits) in cases {
        assert_eq!(
            asid_bits_from_cpuid(highest, ecx, ebx),
            bits,
            "leaf 0 {highest:#x}, leaf 1 ECX {ecx:#x}, leaf 7 EBX {ebx:#x}"
        );
    }
}

#[test]
fn hosted_builds_have_no_asids() {
    // Whatever the host CPU implements: no table is ever loaded on a hosted build.
    assert_eq!(asid_bits(), 0);
    assert_eq!(<X86_64 as PagingArch>::asid_bits(), 0);
    let leaf = X86_64::encode_leaf(PhysAddr::from(0x5000), MappingFlags::READ, 0);
    assert_eq!(X86_64::non_global(leaf), leaf, "no G bit to clear");
}
