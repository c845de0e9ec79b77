//! A check of the decodable part of the [`PagingArch`] contract, run by every ISA crate's tests.

use memory_addr::PhysAddr;
use page_table_multiarch::MappingFlags;

use crate::{ACCESS_FLAGS, EntryKind, PagingArch, level_size};

/// Every combination of the six [`MappingFlags`] bits (64 values), in bit order.
pub fn all_flag_combinations() -> impl Iterator<Item = MappingFlags> {
    (0..64usize).map(MappingFlags::from_bits_truncate)
}

/// Asserts, for every level, for sample physical addresses and for all 64 flag combinations,
/// that encoding and decoding agree as the [`PagingArch`] safety section requires.
///
/// # Panics
///
/// On the first violation, with a message naming the ISA, level, address and flags.
pub fn assert_conforms<A: PagingArch>() {
    let name = A::NAME;
    for level in 0..A::LEVELS {
        assert_eq!(
            A::decode(0, level),
            EntryKind::Empty,
            "{name}: zero entry at level {level}"
        );
        let top_pa = ((1usize << A::PA_BITS.min(48)) - 1) & !(level_size(level) - 1);
        for pa in [0, level_size(level), top_pa] {
            let paddr = PhysAddr::from(pa);
            let reserved = A::encode_reserved(paddr, level);
            assert_ne!(
                reserved, 0,
                "{name}: reserved entry for {pa:#x} at level {level} is zero"
            );
            assert_eq!(
                A::decode(reserved, level),
                EntryKind::Reserved { paddr },
                "{name}: reserved entry {reserved:#x} at level {level}"
            );
            if level >= 1 {
                let table = A::encode_table(paddr);
                assert_eq!(
                    A::decode(table, level),
                    EntryKind::Table(paddr),
                    "{name}: table entry {table:#x} at level {level}"
                );
            }
            if level > A::LARGEST_LEAF_LEVEL {
                continue;
            }
            for flags in all_flag_combinations().filter(|f| f.intersects(ACCESS_FLAGS)) {
                assert_leaf_round_trip::<A>(paddr, flags, level);
            }
        }
    }
}

/// Asserts the leaf part of the contract for one address, flag set and level.
fn assert_leaf_round_trip<A: PagingArch>(paddr: PhysAddr, flags: MappingFlags, level: usize) {
    let name = A::NAME;
    let entry = A::encode_leaf(paddr, flags, level);
    let EntryKind::Leaf {
        paddr: decoded_paddr,
        flags: decoded,
    } = A::decode(entry, level)
    else {
        panic!(
            "{name}: leaf {flags:?} at level {level} decodes as {:?}",
            A::decode(entry, level)
        );
    };
    assert_eq!(
        decoded_paddr, paddr,
        "{name}: paddr of leaf {entry:#x} at level {level}"
    );
    let mut access_and_user = ACCESS_FLAGS | MappingFlags::USER;
    if flags.contains(MappingFlags::DEVICE) {
        // Device memory may be made non-executable whatever the flags say.
        access_and_user -= MappingFlags::EXECUTE;
    }
    assert_eq!(
        decoded & flags & access_and_user,
        flags & access_and_user,
        "{name}: leaf {flags:?} at level {level} lost a permission (decoded {decoded:?})"
    );
    let added = decoded - flags;
    assert!(
        added.is_empty() || added == MappingFlags::READ,
        "{name}: leaf {flags:?} at level {level} gained {added:?}"
    );
    assert_eq!(
        A::encode_leaf(paddr, decoded, level),
        entry,
        "{name}: re-encoding the decoded flags {decoded:?} of {flags:?} at level {level}"
    );
}
