//! Table tests of the Sv39/Sv48 entry encodings against the privileged spec.

use memory_addr::PhysAddr;
use page_table_multiarch::{GenericPTE, MappingFlags};
use vmlayer_arch::EntryKind;
use vmlayer_arch::conformance::all_flag_combinations;

use super::*;

const R: MappingFlags = MappingFlags::READ;
const W: MappingFlags = MappingFlags::WRITE;
const X: MappingFlags = MappingFlags::EXECUTE;
const U: MappingFlags = MappingFlags::USER;

/// Per access combination (R, W, X in `MappingFlags` bit order): the low ten bits the spec
/// requires for a kernel leaf and for a user leaf, and the access flags that decode back.
/// V=0x01 R=0x02 W=0x04 X=0x08 U=0x10 G=0x20 A=0x40 D=0x80, RSW bit 8 = 0x100.
const EXPECTED: [(u64, u64, MappingFlags); 8] = [
    // PROT_NONE: V = 0, only the software marker.
    (0x100, 0x100, MappingFlags::empty()),
    // R: V R A D (+G kernel / +U user).
    (0xe3, 0xd3, R),
    // W alone is reserved by the spec: granted R W.
    (0xe7, 0xd7, R.union(W)),
    (0xe7, 0xd7, R.union(W)),
    // X alone: execute-only is legal.
    (0xe9, 0xd9, X),
    (0xeb, 0xdb, R.union(X)),
    // W X: granted R W X.
    (0xef, 0xdf, R.union(W).union(X)),
    (0xef, 0xdf, R.union(W).union(X)),
];

fn expected_memory_type(flags: MappingFlags) -> (u64, MappingFlags) {
    if !cfg!(feature = "svpbmt") || !flags.intersects(ACCESS_FLAGS) {
        return (0, MappingFlags::empty());
    }
    if flags.contains(MappingFlags::DEVICE) {
        (2 << 61, MappingFlags::DEVICE)
    } else if flags.contains(MappingFlags::UNCACHED) {
        (1 << 61, MappingFlags::UNCACHED)
    } else {
        (0, MappingFlags::empty())
    }
}

#[test]
fn every_flag_combination_gives_the_bits_the_spec_requires_and_decodes_back() {
    let paddr = PhysAddr::from(0x8765_4000);
    let ppn = 0x8765_4000u64 >> 12 << 10;
    for flags in all_flag_combinations() {
        let access_index = (flags & ACCESS_FLAGS).bits();
        let (kernel_bits, user_bits, decoded_access) = EXPECTED[access_index];
        let user = flags.contains(U);
        let (memory_type_bits, decoded_memory_type) = expected_memory_type(flags);
        let expected_entry = ppn | memory_type_bits | if user { user_bits } else { kernel_bits };
        let entry = encode_leaf(paddr, flags);
        assert_eq!(entry, expected_entry, "entry for {flags:?}");

        let expected_kind = if flags.intersects(ACCESS_FLAGS) {
            let user_flag = if user { U } else { MappingFlags::empty() };
            EntryKind::Leaf {
                paddr,
                flags: decoded_access | user_flag | decoded_memory_type,
            }
        } else {
            EntryKind::Reserved { paddr }
        };
        for level in 0..3 {
            assert_eq!(
                decode(entry, level),
                expected_kind,
                "decode {flags:?} at level {level}"
            );
        }
        if let EntryKind::Leaf { flags: decoded, .. } = expected_kind {
            assert_eq!(normalize_flags(flags), decoded, "normalize {flags:?}");
            assert_eq!(encode_leaf(paddr, decoded), entry, "re-encode {flags:?}");
        }
    }
}

#[test]
fn no_combination_is_ever_a_table_pointer() {
    for flags in all_flag_combinations() {
        let entry = encode_leaf(PhysAddr::from(0x20_0000), flags);
        let valid_without_rwx =
            entry & VALID != 0 && entry & (READABLE | WRITABLE | EXECUTABLE) == 0;
        assert!(!valid_without_rwx, "{flags:?} gave pointer-like {entry:#x}");
        let write_without_read = entry & VALID != 0 && entry & (READABLE | WRITABLE) == WRITABLE;
        assert!(
            !write_without_read,
            "{flags:?} gave reserved W-only {entry:#x}"
        );
        assert_eq!(
            entry & (0x3ff << 54) & !PBMT_MASK,
            0,
            "{flags:?}: reserved bits 63:54"
        );
        for level in 1..3 {
            assert_ne!(
                decode(entry, level),
                EntryKind::Table(PhysAddr::from(0x20_0000)),
                "{flags:?} at level {level}"
            );
        }
    }
}

#[test]
fn upstream_rv64pte_turns_prot_none_into_a_table_pointer_and_we_do_not() {
    use page_table_entry::riscv::Rv64PTE;
    // The defect we must not inherit: protect(USER) on a 2 MiB leaf. (Release builds of
    // page_table_entry skip its debug_assert and write the entry.)
    let upstream_bits = page_table_entry::riscv::PTEFlags::from(U).bits() as u64;
    assert_eq!(upstream_bits & 0xf, VALID, "upstream: V=1, R=W=X=0");
    let ours = encode_leaf(PhysAddr::from(0x8020_0000), U);
    assert_eq!(
        decode(ours, 1),
        EntryKind::Reserved {
            paddr: PhysAddr::from(0x8020_0000)
        },
        "ours stays a reserved leaf"
    );
    // And a table pointer built by upstream decodes as a table with us.
    let table = Rv64PTE::new_table(PhysAddr::from(0x8000_1000)).bits() as u64;
    assert_eq!(
        table,
        encode_table(PhysAddr::from(0x8000_1000)),
        "same table pointer bits"
    );
}

#[test]
fn table_pointer_and_reserved_bits() {
    let paddr = PhysAddr::from(0x8000_3000);
    assert_eq!(encode_table(paddr), 0x2000_0c01, "PPN 0x80003 << 10 | V");
    assert_eq!(
        encode_reserved(paddr),
        0x2000_0d00,
        "PPN | RSW bit 8, V = 0"
    );
    assert_eq!(
        decode(encode_table(paddr), 1),
        EntryKind::Table(paddr),
        "table at level 1"
    );
    assert_eq!(
        decode(encode_table(paddr), 0),
        EntryKind::Empty,
        "no table at level 0"
    );
    assert_eq!(
        decode(encode_reserved(PhysAddr::from(0)), 2),
        EntryKind::Reserved {
            paddr: PhysAddr::from(0)
        }
    );
    assert_eq!(
        encode_reserved(PhysAddr::from(0)),
        RESERVED_MARKER,
        "frame 0 still non-zero"
    );
}

#[test]
fn hardware_refused_entries_decode_as_empty() {
    assert_eq!(decode(0, 0), EntryKind::Empty, "zero");
    assert_eq!(
        decode(0x2000_0000 | 0x40, 0),
        EntryKind::Empty,
        "V = 0 without marker"
    );
    assert_eq!(
        decode(0x2000_0000 | 0xc5, 0),
        EntryKind::Empty,
        "V W without R"
    );
}

#[test]
fn physical_address_field_covers_56_bits() {
    let top = (1usize << 56) - 0x1000;
    let entry = encode_leaf(PhysAddr::from(top), R);
    assert_eq!(entry & PPN_MASK, PPN_MASK, "PPN all ones");
    assert_eq!(entry_paddr(entry), top, "round trip of the top frame");
}
