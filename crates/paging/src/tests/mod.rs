//! ISA-neutral tests: they run with the build target's ISA (natively on x86_64, under
//! qemu-user for riscv64 and aarch64).

mod alloc_failures;
mod bad_input;
mod bad_input_table;
mod break_before_make;
mod fault_rules;
mod faults_and_flushes;
mod fork;
mod fork_model;
mod frames;
mod isa_hooks;
mod kernel_half;
mod model;
mod mremap;
mod mutants;
mod open_backends;
mod operations;
mod regressions;
mod shootdown;
mod test_arch;
mod tlb_model;
mod tlb_rules;
mod user_access;
mod vocabulary;

use std::vec::Vec;

use memory_addr::{PhysAddr, VirtAddr, VirtAddrRange};
use page_table_multiarch::MappingFlags;
use vmlayer_arch::{ACCESS_FLAGS, EntryKind, PagingArch};

use crate::{AddressSpace, Arch};

use self::frames::TestFrames;

/// The address space every test uses: frames from the test allocator, the target's ISA.
type Space = AddressSpace<TestFrames>;

const READ: MappingFlags = MappingFlags::READ;
const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
const RX: MappingFlags = MappingFlags::READ.union(MappingFlags::EXECUTE);
const NONE: MappingFlags = MappingFlags::empty();

const MIB: usize = 0x10_0000;
const GIB: usize = 0x4000_0000;

fn va(address: usize) -> VirtAddr {
    VirtAddr::from(address)
}

fn pa(address: usize) -> PhysAddr {
    PhysAddr::from(address)
}

/// The flags the ISA reports for a leaf mapped with `flags` (it may add READ or drop
/// attributes it cannot express); empty for PROT_NONE.
fn normalized(flags: MappingFlags) -> MappingFlags {
    if !flags.intersects(ACCESS_FLAGS) {
        return MappingFlags::empty();
    }
    match Arch::decode(Arch::encode_leaf(pa(0), flags, 0), 0) {
        EntryKind::Leaf { flags, .. } => flags,
        other => panic!("a leaf decodes as {other:?}"),
    }
}

/// Table pages of a table holding nothing but one 1 GiB leaf: the levels above the 1 GiB
/// level (the root is one of them, or is the 1 GiB level itself on Sv39).
fn tables_for_one_gib_leaf() -> usize {
    (Arch::LEVELS - 2).max(1)
}

/// The physical address and page size `space` maps `address` to, with normalized flags.
fn lookup(space: &Space, address: usize) -> Option<(usize, MappingFlags, usize)> {
    space
        .query(va(address))
        .map(|t| (t.paddr.as_usize(), t.flags, t.page_size as usize))
}

/// Reads the first 8 bytes of the frame behind `address`.
fn read_u64(space: &Space, address: usize) -> u64 {
    let translation = space.query(va(address)).expect("mapped");
    // SAFETY: test frames are host heap memory at physical = virtual; the frame is live.
    unsafe { (translation.paddr.as_usize() as *const u64).read() }
}

/// Writes `value` to the first 8 bytes of the frame behind `address`.
fn write_u64(space: &Space, address: usize, value: u64) {
    let translation = space.query(va(address)).expect("mapped");
    // SAFETY: as in `read_u64`.
    unsafe { (translation.paddr.as_usize() as *mut u64).write(value) }
}

/// The page-aligned addresses of `[start, start + size)`.
fn pages(start: usize, size: usize) -> Vec<usize> {
    (start..start + size).step_by(0x1000).collect()
}

/// The number of cases a property test runs: `default`, or fewer when the environment's
/// `PROPTEST_CASES` asks for fewer (mutation testing runs the suite once per mutant; see
/// `MUTANTS.md`). It never raises the number.
pub(crate) fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse::<u32>().ok())
        .map_or(default, |cases| cases.clamp(1, default))
}
