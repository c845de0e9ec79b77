//! Unit tests of the neutral types.

use core::sync::atomic::{AtomicUsize, Ordering};

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::MappingFlags;

use crate::{
    Access, FLUSH_ALL_THRESHOLD_PAGES, PageFaultInfo, TlbFlush, TlbFlushRequest, level_size,
    set_tlb_flush_hook, table_index, tlb_flush_hook,
};

fn va(address: usize) -> VirtAddr {
    VirtAddr::from(address)
}

#[test]
fn flush_requests_pick_page_range_or_all_by_size() {
    let threshold_end = FLUSH_ALL_THRESHOLD_PAGES * 0x1000;
    assert_eq!(
        TlbFlush::covering(va(0x2000), va(0x1000)),
        None,
        "reversed range"
    );
    assert_eq!(
        TlbFlush::covering(va(0x1000), va(0x1800)),
        Some(TlbFlush::Page(va(0x1000)))
    );
    assert_eq!(
        TlbFlush::covering(va(0), va(threshold_end)),
        Some(TlbFlush::Range {
            start: va(0),
            end: va(threshold_end)
        }),
        "exactly the threshold"
    );
    assert_eq!(
        TlbFlush::covering(va(0), va(threshold_end + 0x1000)),
        Some(TlbFlush::All)
    );
    let top = usize::MAX & !0xfff;
    assert_eq!(
        TlbFlush::covering(va(top), va(usize::MAX)),
        Some(TlbFlush::Page(va(top)))
    );
}

static FIRST_CALLS: AtomicUsize = AtomicUsize::new(0);
static SECOND_CALLS: AtomicUsize = AtomicUsize::new(0);

fn first_hook(_: &TlbFlushRequest) {
    FIRST_CALLS.fetch_add(1, Ordering::Relaxed);
}

fn second_hook(_: &TlbFlushRequest) {
    SECOND_CALLS.fetch_add(1, Ordering::Relaxed);
}

/// Calls the installed hook, if any, and returns how often each test hook has run.
fn call_installed_hook() -> (bool, usize, usize) {
    let request = TlbFlushRequest::new(PhysAddr::from(0x1000), TlbFlush::All);
    let installed = tlb_flush_hook();
    if let Some(hook) = installed {
        hook(&request);
    }
    (
        installed.is_some(),
        FIRST_CALLS.load(Ordering::Relaxed),
        SECOND_CALLS.load(Ordering::Relaxed),
    )
}

#[test]
fn the_global_hook_can_be_installed_replaced_and_removed() {
    // The only test touching the global hook, so parallel tests do not interfere.
    assert_eq!(call_installed_hook(), (false, 0, 0), "no hook by default");
    set_tlb_flush_hook(Some(first_hook));
    assert_eq!(call_installed_hook(), (true, 1, 0), "first hook installed");
    set_tlb_flush_hook(Some(second_hook));
    assert_eq!(
        call_installed_hook(),
        (true, 1, 1),
        "replaced by the second"
    );
    // `flush` goes to the hook while one is installed, else to the ISA's local flush.
    let request = TlbFlushRequest::new(PhysAddr::from(0x1000), TlbFlush::All);
    crate::tlb::flush::<Toy>(&request);
    assert_eq!(
        call_installed_hook(),
        (true, 1, 3),
        "flushed through the hook"
    );
    assert_eq!(TOY_LOCAL_FLUSHES.load(Ordering::Relaxed), 0, "not locally");
    set_tlb_flush_hook(None);
    assert_eq!(call_installed_hook(), (false, 1, 3), "removed");
    crate::tlb::flush::<Toy>(&request);
    assert_eq!(TOY_LOCAL_FLUSHES.load(Ordering::Relaxed), 1, "locally");
    assert_eq!(call_installed_hook(), (false, 1, 3), "not through a hook");
}

#[test]
fn faults_require_the_access_flag_and_user_for_user_mode() {
    let fault = |access, user| PageFaultInfo::new(va(0x1000), access, user);
    assert_eq!(
        fault(Access::Read, false).required_flags(),
        MappingFlags::READ
    );
    assert_eq!(
        fault(Access::Execute, false).required_flags(),
        MappingFlags::EXECUTE
    );
    assert_eq!(
        fault(Access::Write, true).required_flags(),
        MappingFlags::WRITE | MappingFlags::USER
    );
}

#[test]
fn levels_cover_4k_2m_1g_512g_and_index_nine_bits_each() {
    assert_eq!(
        [0, 1, 2, 3].map(level_size),
        [0x1000, 0x20_0000, 0x4000_0000, 0x80_0000_0000]
    );
    let address = 0xffff_8123_4567_8000usize;
    assert_eq!(
        [0, 1, 2, 3].map(|level| table_index(address, level)),
        [0x78, 0x2b, 0x8d, 0x102]
    );
}

// ---------------------------------------------------------------------------------------------
// The trait's default methods, the conformance check and the small types, through a toy ISA.
// (Added from `cargo mutants`' survivors, see MUTANTS.md.)

extern crate std;

use std::format;
use std::panic::catch_unwind;
use std::vec::Vec;

use page_table_multiarch::{GenericPTE, PagingMetaData};

use crate::conformance::{all_flag_combinations, assert_conforms};
use crate::{
    ACCESS_FLAGS, ActivateError, CpuMask, CpuSet, EntryKind, FaultCause, MAX_CPUS, PagingArch,
    tlb::pages_in,
};

/// A page-table entry type for the toy ISA's `Entry` (never used by the contract's code).
#[derive(Debug, Clone, Copy)]
struct ToyPte(u64);

impl GenericPTE for ToyPte {
    fn new_page(paddr: PhysAddr, _: MappingFlags, _: bool) -> Self {
        Self(paddr.as_usize() as u64 | 1)
    }
    fn new_table(paddr: PhysAddr) -> Self {
        Self(paddr.as_usize() as u64 | 3)
    }
    fn paddr(&self) -> PhysAddr {
        PhysAddr::from((self.0 & PA_MASK) as usize)
    }
    fn flags(&self) -> MappingFlags {
        MappingFlags::empty()
    }
    fn set_paddr(&mut self, paddr: PhysAddr) {
        self.0 = (self.0 & !PA_MASK) | paddr.as_usize() as u64;
    }
    fn set_flags(&mut self, _: MappingFlags, _: bool) {}
    fn bits(self) -> usize {
        self.0 as usize
    }
    fn is_unused(&self) -> bool {
        self.0 == 0
    }
    fn is_present(&self) -> bool {
        self.0 & 1 != 0
    }
    fn is_huge(&self) -> bool {
        false
    }
    fn clear(&mut self) {
        self.0 = 0;
    }
}

/// Four levels, 48-bit virtual and `PA` -bit physical addresses.
struct ToyMeta<const PA: usize>;

impl<const PA: usize> PagingMetaData for ToyMeta<PA> {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = PA;
    const VA_MAX_BITS: usize = 48;
    type VirtAddr = VirtAddr;
    fn flush_tlb(_: Option<VirtAddr>) {}
}

const VALID: u64 = 1;
const TABLE: u64 = 1 << 1;
/// The six `MappingFlags` bits sit at bits 2..8.
const FLAG_SHIFT: u32 = 2;
const RESERVED: u64 = 1 << 9;
const PA_MASK: u64 = ((1 << 52) - 1) & !0xfff;

/// How a toy ISA breaks (or bends, within the rules) the contract.
mod flaw {
    pub(super) const NONE: u8 = 0;
    pub(super) const ZERO_RESERVED: u8 = 1;
    pub(super) const RESERVED_DECODES_EMPTY: u8 = 2;
    pub(super) const TABLE_DECODES_AS_LEAF: u8 = 3;
    pub(super) const LEAF_LOSES_WRITE: u8 = 4;
    pub(super) const LEAF_GAINS_USER: u8 = 5;
    /// Allowed: write-only and execute-only leaves gain `READ`.
    pub(super) const LEAF_GAINS_READ: u8 = 6;
    /// Allowed: device memory is never executable.
    pub(super) const DEVICE_DROPS_EXECUTE: u8 = 7;
    /// `decode` adds `READ` that `encode_leaf` did not write: re-encoding differs.
    pub(super) const DECODE_ADDS_READ: u8 = 8;
    pub(super) const LEAF_PADDR_OFF: u8 = 9;
    pub(super) const LEAF_DECODES_RESERVED: u8 = 10;
    /// Only 1 GiB leaves (level 2, the largest leaf level) lose `WRITE`.
    pub(super) const LARGEST_LEAF_LOSES_WRITE: u8 = 11;
    /// Allowed: level 3 holds no leaf, so its leaf encoding is garbage.
    pub(super) const NO_LEAF_ABOVE_LARGEST: u8 = 12;
    /// The leaf encoding drops physical-address bit 47 (the top sample address has it).
    pub(super) const LEAF_DROPS_PA_BIT_47: u8 = 13;
    /// The zero entry decodes as a table at the root level.
    pub(super) const ZERO_IS_ROOT_TABLE: u8 = 14;
    /// Tables decode as leaves at level 3 only.
    pub(super) const ROOT_TABLE_DECODES_AS_LEAF: u8 = 15;
    /// Level-0 leaves at a non-zero address decode at address 0.
    pub(super) const PAGE_PADDR_LOST: u8 = 16;
}

/// Calls to [`Toy`]'s local flush and instruction-cache sync, for the hook tests.
static TOY_LOCAL_FLUSHES: AtomicUsize = AtomicUsize::new(0);
static TOY_LOCAL_SYNCS: AtomicUsize = AtomicUsize::new(0);

/// A toy ISA: valid bit 0, table bit 1, the six flags at bits 2..8, a software PROT_NONE bit
/// 9, the address at bits 12..52; `FLAW` selects a deviation (see [`flaw`]).
struct Toy<const FLAW: u8 = { flaw::NONE }, const PA: usize = 52>;

// SAFETY: a test ISA; no table is ever walked by hardware through it.
unsafe impl<const FLAW: u8, const PA: usize> PagingArch for Toy<FLAW, PA> {
    const NAME: &'static str = "toy";
    type MetaData = ToyMeta<PA>;
    type Entry = ToyPte;

    fn encode_leaf(paddr: PhysAddr, flags: MappingFlags, level: usize) -> u64 {
        let mut flags = flags;
        match FLAW {
            flaw::LEAF_LOSES_WRITE => flags -= MappingFlags::WRITE,
            flaw::LARGEST_LEAF_LOSES_WRITE if level == 2 => flags -= MappingFlags::WRITE,
            flaw::LEAF_GAINS_USER => flags |= MappingFlags::USER,
            flaw::LEAF_GAINS_READ if !flags.contains(MappingFlags::READ) => {
                flags |= MappingFlags::READ;
            }
            flaw::DEVICE_DROPS_EXECUTE if flags.contains(MappingFlags::DEVICE) => {
                flags -= MappingFlags::EXECUTE;
            }
            flaw::NO_LEAF_ABOVE_LARGEST if level > 2 => return 0,
            _ => {}
        }
        let mut pa = paddr.as_usize() as u64 & PA_MASK;
        if FLAW == flaw::LEAF_DROPS_PA_BIT_47 {
            pa &= !(1 << 47);
        }
        if FLAW == flaw::PAGE_PADDR_LOST && level == 0 {
            pa = 0;
        }
        let valid = if FLAW == flaw::LEAF_DECODES_RESERVED {
            RESERVED
        } else {
            VALID
        };
        pa | (u64::from(flags.bits() as u8) << FLAG_SHIFT) | valid
    }

    fn encode_table(paddr: PhysAddr) -> u64 {
        let pa = paddr.as_usize() as u64 & PA_MASK;
        if FLAW == flaw::TABLE_DECODES_AS_LEAF {
            pa | VALID
        } else {
            pa | VALID | TABLE
        }
    }

    fn encode_reserved(paddr: PhysAddr, _level: usize) -> u64 {
        let pa = paddr.as_usize() as u64 & PA_MASK;
        match FLAW {
            flaw::ZERO_RESERVED => 0,
            flaw::RESERVED_DECODES_EMPTY => pa | 1 << 10,
            _ => pa | RESERVED,
        }
    }

    fn decode(entry: u64, level: usize) -> EntryKind {
        let paddr = PhysAddr::from((entry & PA_MASK) as usize);
        if entry == 0 {
            return if FLAW == flaw::ZERO_IS_ROOT_TABLE && level == 3 {
                EntryKind::Table(paddr)
            } else {
                EntryKind::Empty
            };
        }
        if entry & VALID == 0 {
            return if entry & RESERVED != 0 {
                EntryKind::Reserved { paddr }
            } else {
                EntryKind::Empty
            };
        }
        let as_table = entry & TABLE != 0 && level >= 1;
        if as_table && !(FLAW == flaw::ROOT_TABLE_DECODES_AS_LEAF && level == 3) {
            return EntryKind::Table(paddr);
        }
        let mut flags = MappingFlags::from_bits_truncate((entry >> FLAG_SHIFT) as usize & 0x3f);
        if FLAW == flaw::DECODE_ADDS_READ {
            flags |= MappingFlags::READ;
        }
        let paddr = if FLAW == flaw::LEAF_PADDR_OFF {
            paddr + 0x1000
        } else {
            paddr
        };
        EntryKind::Leaf { paddr, flags }
    }

    fn flush_tlb_local(_: &TlbFlushRequest) {
        TOY_LOCAL_FLUSHES.fetch_add(1, Ordering::Relaxed);
    }

    fn sync_instruction_cache(_: VirtAddr, _: usize) {
        TOY_LOCAL_SYNCS.fetch_add(1, Ordering::Relaxed);
    }
}

fn conforms<A: PagingArch>() -> bool {
    catch_unwind(assert_conforms::<A>).is_ok()
}

#[test]
fn the_conformance_check_accepts_an_isa_that_keeps_the_contract() {
    assert!(conforms::<Toy>(), "exact round trips");
    assert!(
        conforms::<Toy<{ flaw::LEAF_GAINS_READ }>>(),
        "READ may be added"
    );
    assert!(
        conforms::<Toy<{ flaw::DEVICE_DROPS_EXECUTE }>>(),
        "device memory may lose EXECUTE"
    );
    assert!(
        conforms::<Toy<{ flaw::NO_LEAF_ABOVE_LARGEST }>>(),
        "no leaf is checked above the largest leaf level"
    );
}

#[test]
fn the_conformance_check_rejects_each_broken_rule() {
    let broken: [(bool, &str); 12] = [
        (
            conforms::<Toy<{ flaw::ZERO_RESERVED }>>(),
            "zero reserved entry",
        ),
        (
            conforms::<Toy<{ flaw::RESERVED_DECODES_EMPTY }>>(),
            "reserved decodes as empty",
        ),
        (
            conforms::<Toy<{ flaw::TABLE_DECODES_AS_LEAF }>>(),
            "table decodes as leaf",
        ),
        (
            conforms::<Toy<{ flaw::LEAF_LOSES_WRITE }>>(),
            "leaf loses WRITE",
        ),
        (
            conforms::<Toy<{ flaw::LEAF_GAINS_USER }>>(),
            "leaf gains USER",
        ),
        (
            conforms::<Toy<{ flaw::DECODE_ADDS_READ }>>(),
            "re-encoding differs",
        ),
        (
            conforms::<Toy<{ flaw::LEAF_PADDR_OFF }>>(),
            "leaf paddr off",
        ),
        (
            conforms::<Toy<{ flaw::LEAF_DECODES_RESERVED }>>(),
            "leaf decodes as reserved",
        ),
        (
            conforms::<Toy<{ flaw::LARGEST_LEAF_LOSES_WRITE }>>(),
            "1 GiB leaf loses WRITE",
        ),
        (
            conforms::<Toy<{ flaw::LEAF_DROPS_PA_BIT_47 }>>(),
            "top address loses a bit",
        ),
        (
            conforms::<Toy<{ flaw::ZERO_IS_ROOT_TABLE }>>(),
            "zero entry at the root level",
        ),
        (
            conforms::<Toy<{ flaw::ROOT_TABLE_DECODES_AS_LEAF }>>(),
            "table at the root level",
        ),
    ];
    for (conformed, what) in broken {
        assert!(!conformed, "the check missed: {what}");
    }
    assert!(
        !conforms::<Toy<{ flaw::PAGE_PADDR_LOST }>>(),
        "the check missed: a 4 KiB page at a non-zero address"
    );
}

#[test]
fn every_flag_combination_is_listed_once_in_bit_order() {
    let all: Vec<MappingFlags> = all_flag_combinations().collect();
    assert_eq!(all.len(), 64);
    for (bits, flags) in all.iter().enumerate() {
        assert_eq!(flags.bits(), bits);
    }
}

#[test]
fn default_methods_follow_the_metadata() {
    assert_eq!(Toy::<0>::LEVELS, 4);
    assert_eq!(Toy::<0>::largest_leaf_level(), 2);
    assert_eq!(Toy::<0>::phys_addr_bits(), 52);
    assert_eq!(Toy::<0, 40>::phys_addr_bits(), 40);
    assert_eq!(Toy::<0>::asid_bits(), 0);
    assert_eq!(Toy::<0>::non_global(0x1234_5007), 0x1234_5007);
    for (vaddr, valid) in [
        (0, true),
        (0x7fff_ffff_f000, true),
        (0x8000_0000_0000, false),
        (0x1_0000_0000_0000, false),
        (0xffff_7fff_ffff_f000, false),
        (0xffff_8000_0000_0000, true),
        (0x8000_0000_0000_0000, false),
        (usize::MAX, true),
    ] {
        assert_eq!(Toy::<0>::is_valid_vaddr(vaddr), valid, "{vaddr:#x}");
    }
    for (paddr, valid) in [
        (0, true),
        (0xfff, true),
        ((1 << 52) - 1, true),
        (1 << 52, false),
        (1 << 63, false),
        (usize::MAX, false),
    ] {
        assert_eq!(Toy::<0>::is_valid_paddr(paddr), valid, "{paddr:#x}");
    }
    // An entry format as wide as the address: every address fits.
    assert!(Toy::<0, 64>::is_valid_paddr(usize::MAX));
    assert!(Toy::<0, 64>::is_valid_paddr(0));
}

#[test]
fn activate_errors_explain_themselves() {
    assert_eq!(
        format!("{}", ActivateError::ModeNotSupported),
        "the CPU does not support this translation mode"
    );
}

#[test]
fn cpu_masks_hold_exactly_the_cpus_inserted() {
    assert_eq!(CpuMask::single(MAX_CPUS), None);
    assert_eq!(CpuMask::single(usize::MAX), None);
    let last = CpuMask::single(MAX_CPUS - 1).unwrap();
    assert_eq!(last.word(3), 1 << 63);
    assert_eq!(last.word(4), 0, "past the end");
    assert_eq!(CpuMask::single(65).unwrap().word(1), 2);
    assert!(CpuMask::EMPTY.is_empty() && !last.is_empty());
    assert!(!CpuMask::single(0).unwrap().is_empty());

    let mut mask = CpuMask::EMPTY;
    assert!(mask.insert(0) && mask.insert(63) && mask.insert(64) && mask.insert(255));
    assert!(!mask.insert(MAX_CPUS) && !mask.insert(usize::MAX));
    assert_eq!(mask.len(), 4);
    assert_eq!(mask.iter().collect::<Vec<_>>(), [0, 63, 64, 255]);
    assert_eq!(format!("{mask:?}"), "{0, 63, 64, 255}");
    assert!(mask.contains(63) && mask.contains(64) && !mask.contains(62));
    assert!(!mask.contains(MAX_CPUS) && !mask.contains(usize::MAX));
    assert_eq!(
        (mask.word(0), mask.word(1), mask.word(2), mask.word(3)),
        (1 | 1 << 63, 1, 0, 1 << 63)
    );
    let fewer = mask.without(63).without(MAX_CPUS).without(255);
    assert_eq!(fewer.iter().collect::<Vec<_>>(), [0, 64]);
    assert_eq!(fewer.len(), 2);
    assert!(!fewer.is_only(0));
    assert!(fewer.without(64).is_only(0) && !fewer.without(64).is_only(1));
    assert!(fewer.without(0).without(64).is_empty());
    assert!(CpuMask::single(200).unwrap().without(200).is_empty());
    assert!(!CpuMask::EMPTY.is_only(0));
}

#[test]
fn cpu_sets_are_shared_masks() {
    let set = CpuSet::new();
    assert!(set.snapshot().is_empty());
    set.insert(1);
    set.insert(130);
    set.insert(MAX_CPUS);
    assert!(set.contains(1) && set.contains(130) && !set.contains(2));
    assert!(!set.contains(MAX_CPUS));
    assert_eq!(set.snapshot().iter().collect::<Vec<_>>(), [1, 130]);
    assert_eq!(format!("{set:?}"), "{1, 130}");
    set.remove(1);
    set.remove(MAX_CPUS);
    assert!(!set.contains(1) && set.contains(130));
    assert!(set.snapshot().is_only(130));
    set.remove(130);
    assert!(set.snapshot().is_empty());
}

#[test]
fn faults_carry_their_cpu_and_cause() {
    let fault = PageFaultInfo::new(va(0x5000), Access::Execute, true);
    assert_eq!(fault.cause, FaultCause::Unspecified);
    assert!(!fault.user_memory_access);
    assert_eq!(fault.cpu, 0);
    assert_eq!(fault.on_cpu(7).cpu, 7);
    assert_eq!(fault.on_cpu(7).address, va(0x5000));
    assert_eq!(
        fault.required_flags(),
        MappingFlags::EXECUTE | MappingFlags::USER
    );
    assert_eq!(Access::Read.required_flag(), MappingFlags::READ);
    assert_eq!(Access::Write.required_flag(), MappingFlags::WRITE);
    assert_eq!(Access::Execute.required_flag(), MappingFlags::EXECUTE);
    assert_eq!(
        PageFaultInfo::new(va(0), Access::Write, false).required_flags(),
        MappingFlags::WRITE
    );
    assert!(ACCESS_FLAGS.contains(MappingFlags::READ | MappingFlags::WRITE));
}

#[test]
fn flushes_cover_ranges_by_page_count() {
    let page = |a: usize| TlbFlush::covering(va(a), va(a + 0x1000));
    assert_eq!(page(0x3000), Some(TlbFlush::Page(va(0x3000))));
    assert_eq!(TlbFlush::covering(va(0x1000), va(0x1000)), None);
    assert_eq!(
        TlbFlush::covering(va(0x1000), va(0x2001)),
        Some(TlbFlush::Range {
            start: va(0x1000),
            end: va(0x2001)
        }),
        "a partial second page counts"
    );
    assert_eq!(
        TlbFlush::covering(va(0x1000), va(0x3000)),
        Some(TlbFlush::Range {
            start: va(0x1000),
            end: va(0x3000)
        })
    );
    let threshold = FLUSH_ALL_THRESHOLD_PAGES * 0x1000;
    assert_eq!(
        TlbFlush::covering(va(0x1000), va(0x1000 + threshold + 1)),
        Some(TlbFlush::All)
    );
    assert_eq!(
        pages_in(va(0x1800), va(0x3001)).collect::<Vec<_>>(),
        [va(0x1000), va(0x2000), va(0x3000)]
    );
    assert_eq!(pages_in(va(0x2000), va(0x2000)).count(), 0);
    let request = TlbFlushRequest::new(PhysAddr::from(0x8000), TlbFlush::Page(va(0x1000)));
    assert_eq!(request.root_paddr, PhysAddr::from(0x8000));
    assert_eq!(request.flush, TlbFlush::Page(va(0x1000)));
    assert!(!request.tables_changed && !request.global_changed);
    assert_eq!((request.asid, request.cpus), (0, CpuMask::EMPTY));
}

static SYNC_HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

fn sync_hook(_: VirtAddr, size: usize) {
    SYNC_HOOK_CALLS.fetch_add(size, Ordering::Relaxed);
}

#[test]
fn instruction_syncs_go_to_the_hook_or_to_the_isa() {
    // The only test touching the instruction-sync hook.
    use crate::cache::{instruction_sync_hook, set_instruction_sync_hook, sync_instruction_cache};
    assert!(instruction_sync_hook().is_none());
    sync_instruction_cache::<Toy>(va(0x1000), 0x1000);
    assert_eq!(TOY_LOCAL_SYNCS.load(Ordering::Relaxed), 1, "local");
    set_instruction_sync_hook(Some(sync_hook));
    assert!(instruction_sync_hook().is_some());
    sync_instruction_cache::<Toy>(va(0x1000), 0x3000);
    assert_eq!(SYNC_HOOK_CALLS.load(Ordering::Relaxed), 0x3000, "hook");
    assert_eq!(TOY_LOCAL_SYNCS.load(Ordering::Relaxed), 1, "not local");
    set_instruction_sync_hook(None);
    assert!(instruction_sync_hook().is_none());
    sync_instruction_cache::<Toy>(va(0x1000), 0x1000);
    assert_eq!(TOY_LOCAL_SYNCS.load(Ordering::Relaxed), 2, "local again");
}
