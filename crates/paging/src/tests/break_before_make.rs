//! Break-before-make on splits, with an ISA wrapper that requires it (as AArch64 does).

use std::cell::RefCell;
use std::vec::Vec;

use page_table_multiarch::PagingHandler;
use vmlayer_arch::{TlbFlush, TlbFlushRequest, table_index};

use super::frames::TestFrames;
use super::*;

/// The build target's ISA, but demanding break-before-make.
type BreakBeforeMake = super::test_arch::TestArch<true, 0>;

/// The level-1 (2 MiB) entry covering this address is what the hook records.
const WATCHED: usize = 2 * MIB + 0x1000;

std::thread_local! {
    static SEEN: RefCell<Vec<(TlbFlush, EntryKind)>> = const { RefCell::new(Vec::new()) };
}

/// Records each flush with the decoded level-1 entry covering [`WATCHED`] at that moment.
fn record_watched_entry(request: &TlbFlushRequest) {
    let mut table = request.root_paddr;
    let mut found = EntryKind::Empty;
    for level in (1..Arch::LEVELS).rev() {
        let address = TestFrames::phys_to_virt(table).as_usize() as *const u64;
        // SAFETY: test tables are live host memory at physical = virtual while the hook runs.
        let entry = unsafe { address.add(table_index(WATCHED, level)).read() };
        found = Arch::decode(entry, level);
        match found {
            EntryKind::Table(next) if level > 1 => table = next,
            _ => break,
        }
    }
    SEEN.with_borrow_mut(|seen| seen.push((request.flush, found)));
}

fn split_and_record<A: PagingArch>() -> Vec<(TlbFlush, EntryKind)> {
    let mut space = AddressSpace::<TestFrames, A>::try_new().unwrap();
    space
        .map_linear(va(2 * MIB), pa(8 * MIB), 2 * MIB, RW)
        .unwrap();
    space.set_tlb_flush_hook(Some(record_watched_entry));
    SEEN.with_borrow_mut(Vec::clear);
    space.protect(va(WATCHED), 0x1000, READ).unwrap();
    SEEN.with_borrow_mut(std::mem::take)
}

#[test]
fn splits_break_before_make_where_the_isa_requires_it() {
    let seen = split_and_record::<BreakBeforeMake>();
    assert_eq!(
        seen.len(),
        2,
        "a break flush, then the final flush: {seen:?}"
    );
    assert_eq!(
        seen[0],
        (TlbFlush::All, EntryKind::Empty),
        "the block is invalid while flushed"
    );
    assert!(
        matches!(seen[1], (_, EntryKind::Table(_))),
        "then the table is in place: {:?}",
        seen[1]
    );
}

#[test]
fn splits_replace_the_block_directly_otherwise() {
    let seen = split_and_record::<Arch>();
    assert_eq!(
        seen.len(),
        usize::from(Arch::BREAK_BEFORE_MAKE) + 1,
        "{seen:?}"
    );
    assert!(
        matches!(seen.last(), Some((_, EntryKind::Table(_)))),
        "{seen:?}"
    );
}

/// Maps a 2 MiB block at 2 MiB, then records the flushes of `protect(block, new_flags)`.
fn protect_block_and_record<A: PagingArch>(new_flags: MappingFlags) -> Vec<(TlbFlush, EntryKind)> {
    let mut space = AddressSpace::<TestFrames, A>::try_new().unwrap();
    space
        .map_linear(va(2 * MIB), pa(8 * MIB), 2 * MIB, RW)
        .unwrap();
    space.set_tlb_flush_hook(Some(record_watched_entry));
    SEEN.with_borrow_mut(Vec::clear);
    space.protect(va(2 * MIB), 2 * MIB, new_flags).unwrap();
    assert_eq!(
        lookup_in(&space, WATCHED),
        Some(normalized(new_flags)),
        "{}: flags after protect to {new_flags:?}",
        A::NAME
    );
    SEEN.with_borrow_mut(std::mem::take)
}

fn lookup_in<A: PagingArch>(
    space: &AddressSpace<TestFrames, A>,
    address: usize,
) -> Option<MappingFlags> {
    space
        .query(va(address))
        .map(|translation| translation.flags)
}

/// The flags a live leaf changes to in the cases below, and whether that change needs
/// break-before-make: the user/kernel owner (AArch64 nG), and the memory types the ISA can
/// express (RISC-V without Svpbmt has none, so those cases are left out there).
fn attribute_changes() -> Vec<(MappingFlags, bool)> {
    let mut changes = std::vec![
        (READ, false),
        (RW | MappingFlags::USER, true),
        (NONE, false)
    ];
    for memory_type in [MappingFlags::DEVICE, MappingFlags::UNCACHED] {
        if normalized(RW | memory_type).contains(memory_type) {
            changes.push((RW | memory_type, true));
        }
    }
    changes
}

#[test]
fn protect_changing_memory_type_or_owner_breaks_before_make_where_required() {
    let block = EntryKind::Leaf {
        paddr: pa(8 * MIB),
        flags: normalized(RW),
    };
    for (new_flags, needs_break) in attribute_changes() {
        let seen = protect_block_and_record::<BreakBeforeMake>(new_flags);
        let made = if new_flags.is_empty() {
            EntryKind::Reserved { paddr: pa(8 * MIB) }
        } else {
            EntryKind::Leaf {
                paddr: pa(8 * MIB),
                flags: normalized(new_flags),
            }
        };
        let expected = if needs_break {
            std::vec![
                (TlbFlush::All, EntryKind::Reserved { paddr: pa(8 * MIB) }),
                (TlbFlush::All, made),
            ]
        } else {
            std::vec![(TlbFlush::All, made)]
        };
        assert_eq!(
            seen, expected,
            "RW block protected to {new_flags:?}: the break (invalid entry, flushed) comes \
             first exactly when the change needs it"
        );
        assert_ne!(made, block, "the case changes the entry");
    }
}

#[test]
fn protect_rewrites_live_leaves_directly_without_break_before_make() {
    for (new_flags, needs_break) in attribute_changes() {
        let seen = protect_block_and_record::<Arch>(new_flags);
        let breaks = usize::from(Arch::BREAK_BEFORE_MAKE && needs_break);
        assert_eq!(seen.len(), breaks + 1, "{new_flags:?}: {seen:?}");
        if breaks == 1 {
            assert_eq!(
                seen[0].1,
                EntryKind::Reserved { paddr: pa(8 * MIB) },
                "{new_flags:?}: the break"
            );
        }
    }
}
