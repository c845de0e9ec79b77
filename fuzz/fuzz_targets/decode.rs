//! `decode`: the ISA crate's pure functions of numbers, with arbitrary numbers.
//!
//! Only the host's ISA crate (`vmlayer_x86_64`) takes part: `vmlayer_aarch64` and
//! `vmlayer_riscv64` are `#![cfg(target_arch = ...)]` (page_table_entry defines their entry
//! types only on their own ISA), so on an x86_64 host they compile to empty crates.
//!
//! - Entry decoding: any 64-bit entry at every level decodes without a panic, to what the
//!   Intel SDM says the MMU sees (P = 0: empty, or PROT_NONE with the software marker; a table
//!   pointer only above level 0 with PS = 0; a leaf's flags from R/W, U/S, XD, PCD, PWT and its
//!   address aligned to its size), and what it decodes to is a fixed point of the encoders:
//!   `decode(encode(decode(x))) == decode(x)`, and re-encoding that gives the same entry.
//! - Entry encoding: for any aligned address in the entry format and any flags with an access
//!   permission, the `PagingArch` contract of `vmlayer_arch` (what
//!   `conformance::assert_conforms` checks on samples) holds: the leaf decodes to its address
//!   and to flags that differ at most by an added `READ` (and `EXECUTE` dropped on device
//!   memory, which x86 does not do), and re-encodes to the same entry; PROT_NONE and table
//!   entries decode to their address.
//! - `#PF` decoding (`decode_page_fault`): any error code, CR2, RFLAGS and CR4.
//! - The TLB flush plan (`tlb::flush_plan`) for any request and PCID state: covers every page
//!   the request names, uses INVPCID only with PCIDs on, and never flushes another PCID by
//!   `INVLPG`.
//! - The CPUID readers (`phys_addr_bits_from_cpuid`, `asid_bits_from_cpuid`).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Input, RequestArg};
    use vmlayer_arch::tlb::{FLUSH_ALL_THRESHOLD_PAGES, pages_in};
    use vmlayer_arch::{
        ACCESS_FLAGS, Access, EntryKind, FaultCause, MappingFlags, PagingArch, PhysAddr, TlbFlush,
        TlbFlushRequest, VirtAddr, level_size,
    };
    use vmlayer_x86_64::tlb::{FlushPlan, PcidState, flush_plan};
    use vmlayer_x86_64::{
        CR4_SMAP, ENTRY_ADDRESS_MASK, MAX_PHYS_ADDR_BITS, PCID_BITS, RESERVED_MARKER, RFLAGS_AC,
        X86_64, asid_bits_from_cpuid, decode_page_fault, phys_addr_bits_from_cpuid,
    };

    const PRESENT: u64 = 1 << 0;
    const WRITABLE: u64 = 1 << 1;
    const USER: u64 = 1 << 2;
    const PWT: u64 = 1 << 3;
    const PCD: u64 = 1 << 4;
    const PS: u64 = 1 << 7;
    const XD: u64 = 1 << 63;

    /// What the MMU makes of `entry` at `level`, and the encoders' fixed point.
    fn entry(entry: u64, level: usize) {
        let decoded = X86_64::decode(entry, level);
        let block = !(level_size(level) as u64 - 1);
        if level > 2 && entry & (PRESENT | PS) == PRESENT | PS {
            assert_eq!(
                decoded,
                EntryKind::Empty,
                "{entry:#x} at {level}: PS is reserved"
            );
        }
        match decoded {
            EntryKind::Empty => {
                // PS is reserved in a PML4E (or PML5E): the MMU maps nothing through it.
                let reserved_ps = level > 2 && entry & (PRESENT | PS) == PRESENT | PS;
                assert!(
                    entry & PRESENT == 0 || reserved_ps,
                    "{entry:#x} at {level}: present but empty"
                );
                assert!(
                    reserved_ps || entry & RESERVED_MARKER == 0,
                    "{entry:#x} at {level}: marker ignored"
                );
            }
            EntryKind::Reserved { paddr } => {
                assert_eq!(
                    entry & PRESENT,
                    0,
                    "{entry:#x} at {level}: a present PROT_NONE"
                );
                assert_ne!(entry & RESERVED_MARKER, 0);
                assert_eq!(paddr.as_usize() as u64, entry & ENTRY_ADDRESS_MASK & block);
                let again = X86_64::encode_reserved(paddr, level);
                assert_ne!(again, 0);
                assert_eq!(
                    X86_64::decode(again, level),
                    decoded,
                    "{entry:#x} at {level}"
                );
            }
            EntryKind::Table(paddr) => {
                assert!(level > 0, "{entry:#x}: a table pointer at level 0");
                assert_eq!(entry & (PRESENT | PS), PRESENT, "{entry:#x} at {level}");
                assert_eq!(paddr.as_usize() as u64, entry & ENTRY_ADDRESS_MASK);
                let again = X86_64::encode_table(paddr);
                assert_eq!(
                    X86_64::decode(again, level),
                    decoded,
                    "{entry:#x} at {level}"
                );
            }
            EntryKind::Leaf { paddr, flags } => {
                assert_ne!(
                    entry & PRESENT,
                    0,
                    "{entry:#x} at {level}: a leaf not present"
                );
                assert!(
                    level == 0 || entry & PS != 0,
                    "{entry:#x} at {level}: PS = 0"
                );
                assert_eq!(paddr.as_usize() as u64, entry & ENTRY_ADDRESS_MASK & block);
                let bit = |mask: u64| entry & mask != 0;
                assert!(flags.contains(MappingFlags::READ));
                assert_eq!(flags.contains(MappingFlags::WRITE), bit(WRITABLE));
                assert_eq!(flags.contains(MappingFlags::USER), bit(USER));
                assert_eq!(flags.contains(MappingFlags::EXECUTE), !bit(XD));
                assert_eq!(flags.contains(MappingFlags::DEVICE), bit(PCD) && bit(PWT));
                assert_eq!(
                    flags.contains(MappingFlags::UNCACHED),
                    bit(PCD) && !bit(PWT)
                );
                if level <= X86_64::LARGEST_LEAF_LEVEL {
                    let again = X86_64::encode_leaf(paddr, flags, level);
                    assert_eq!(
                        X86_64::decode(again, level),
                        decoded,
                        "{entry:#x} at {level}"
                    );
                    assert_eq!(X86_64::encode_leaf(paddr, flags, level), again);
                }
            }
        }
        assert_eq!(
            X86_64::non_global(entry),
            entry,
            "x86 has no non-global rewrite"
        );
    }

    /// The leaf contract for one address and flag set (as `conformance.rs` states it).
    fn leaf(pa: u64, flag_bits: u8, level: usize) {
        let pa = pa & ((1 << X86_64::PA_BITS) - 1) & !(level_size(level) as u64 - 1);
        let paddr = PhysAddr::from(pa as usize);
        let flags = MappingFlags::from_bits_truncate(usize::from(flag_bits & 0x3f));
        if level > 0 {
            let table = X86_64::encode_table(paddr);
            assert_eq!(X86_64::decode(table, level), EntryKind::Table(paddr));
        }
        let reserved = X86_64::encode_reserved(paddr, level);
        assert_ne!(reserved, 0);
        assert_eq!(
            X86_64::decode(reserved, level),
            EntryKind::Reserved { paddr }
        );
        if !flags.intersects(ACCESS_FLAGS) || level > X86_64::LARGEST_LEAF_LEVEL {
            return;
        }
        let encoded = X86_64::encode_leaf(paddr, flags, level);
        let EntryKind::Leaf {
            paddr: got,
            flags: decoded,
        } = X86_64::decode(encoded, level)
        else {
            panic!(
                "leaf {flags:?} at {level} decodes as {:?}",
                X86_64::decode(encoded, level)
            );
        };
        assert_eq!(got, paddr, "leaf {flags:?} at {level}");
        let mut kept = ACCESS_FLAGS | MappingFlags::USER;
        if flags.contains(MappingFlags::DEVICE) {
            kept -= MappingFlags::EXECUTE;
        }
        assert_eq!(
            decoded & flags & kept,
            flags & kept,
            "leaf {flags:?} lost a permission"
        );
        let added = decoded - flags;
        assert!(
            added.is_empty() || added == MappingFlags::READ,
            "leaf {flags:?} gained {added:?}"
        );
        let attributes = MappingFlags::DEVICE | MappingFlags::UNCACHED;
        assert!(
            (flags - decoded).difference(attributes).is_empty(),
            "leaf {flags:?} lost {:?}",
            flags - decoded
        );
        assert_eq!(
            X86_64::encode_leaf(paddr, decoded, level),
            encoded,
            "re-encoding {flags:?}"
        );
    }

    fn page_fault(error_code: u64, cr2: u64, rflags: u64, cr4: u64) {
        let fault = decode_page_fault(error_code, cr2, rflags, cr4);
        assert_eq!(fault.address, VirtAddr::from(cr2 as usize));
        let bit = |n: u32| error_code & (1 << n) != 0;
        let access = if bit(4) {
            Access::Execute
        } else if bit(1) {
            Access::Write
        } else {
            Access::Read
        };
        assert_eq!(fault.access, access);
        assert_eq!(fault.user, bit(2));
        let cause = if bit(3) {
            FaultCause::ReservedBit
        } else if bit(0) {
            FaultCause::Permission
        } else {
            FaultCause::NotPresent
        };
        assert_eq!(fault.cause, cause);
        let open = cr4 & CR4_SMAP == 0 || rflags & RFLAGS_AC != 0;
        assert_eq!(fault.user_memory_access, !fault.user && open);
        assert_eq!(fault.cpu, 0);
    }

    fn flush(request: RequestArg) {
        let flush = match request.kind % 3 {
            0 => TlbFlush::Page(VirtAddr::from(request.address as usize)),
            1 => {
                let start = request.address as usize & !0xfff;
                let pages = 1 + usize::from(request.pages) % FLUSH_ALL_THRESHOLD_PAGES;
                let Some(end) = start.checked_add(pages * 0x1000) else {
                    return;
                };
                TlbFlush::Range {
                    start: VirtAddr::from(start),
                    end: VirtAddr::from(end),
                }
            }
            _ => TlbFlush::All,
        };
        let mut tlb = TlbFlushRequest::new(PhysAddr::from(request.root as usize & !0xfff), flush);
        tlb.asid = request.asid;
        tlb.tables_changed = request.tables_changed;
        tlb.global_changed = request.global_changed;
        let pcid = PcidState::from_registers(request.cr3, request.cr4);
        let plan = flush_plan(&tlb, pcid);
        // Pages the request names (none for All).
        let named: Vec<usize> = match flush {
            TlbFlush::Page(address) => vec![address.as_usize() & !0xfff],
            TlbFlush::Range { start, end } => {
                pages_in(start, end).map(VirtAddr::as_usize).collect()
            }
            TlbFlush::All => Vec::new(),
        };
        let current = !pcid.enabled || tlb.asid == pcid.current;
        let covers = |start: VirtAddr, end: VirtAddr| {
            let flushed: Vec<usize> = pages_in(start, end).map(VirtAddr::as_usize).collect();
            assert!(
                flushed.len() <= FLUSH_ALL_THRESHOLD_PAGES,
                "{plan:?}: too many pages"
            );
            assert!(
                named.iter().all(|page| flushed.contains(page)),
                "{plan:?} misses pages of {tlb:?}"
            );
        };
        match plan {
            FlushPlan::InvalidateAllPcids => assert!(pcid.enabled && tlb.global_changed),
            FlushPlan::ToggleGlobalPages => assert!(tlb.global_changed && !pcid.enabled),
            FlushPlan::ReloadCr3 => assert!(current && named.is_empty() && !tlb.global_changed),
            // INVPCID of the PCID, never of global entries (those need type 2).
            FlushPlan::InvalidatePages { start, end } => {
                // INVLPG drops the page's global entries too (SDM Vol. 3A, §4.10.4.1).
                assert!(
                    current && !(tlb.global_changed && pcid.enabled),
                    "{plan:?} for {tlb:?} in {pcid:?}"
                );
                covers(start, end);
            }
            FlushPlan::InvalidatePcid(asid) => {
                assert!(
                    pcid.enabled && !current && asid == tlb.asid,
                    "{plan:?} in {pcid:?}"
                );
            }
            FlushPlan::InvalidatePcidPages {
                start,
                end,
                pcid: asid,
            } => {
                assert!(
                    pcid.enabled && !current && asid == tlb.asid,
                    "{plan:?} in {pcid:?}"
                );
                assert!(
                    !tlb.tables_changed,
                    "{plan:?}: tables changed need the whole PCID"
                );
                covers(start, end);
            }
        }
        assert!(
            pcid.enabled || plan.invpcids().next().is_none(),
            "INVPCID without PCIDs"
        );
        assert!(plan.invpcids().count() <= FLUSH_ALL_THRESHOLD_PAGES);
    }

    pub(super) fn run(input: &Input) {
        for &bits in &input.entries {
            for level in 0..X86_64::LEVELS {
                entry(bits, level);
            }
        }
        for &(pa, flags, level) in &input.leaves {
            leaf(pa, flags, usize::from(level) % X86_64::LEVELS);
        }
        for &(error_code, cr2, rflags, cr4) in &input.faults {
            page_fault(error_code, cr2, rflags, cr4);
        }
        for &request in &input.flushes {
            flush(request);
        }
        for &(highest, eax, ecx, ebx) in &input.cpuid {
            let bits = phys_addr_bits_from_cpuid(highest, eax);
            assert!((1..=MAX_PHYS_ADDR_BITS).contains(&bits));
            assert!(
                asid_bits_from_cpuid(highest, ecx, ebx) == 0
                    || asid_bits_from_cpuid(highest, ecx, ebx) == PCID_BITS
            );
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct RequestArg {
    kind: u8,
    address: u64,
    pages: u8,
    root: u64,
    asid: u16,
    tables_changed: bool,
    global_changed: bool,
    cr3: u64,
    cr4: u64,
}

#[derive(Arbitrary, Debug)]
struct Input {
    entries: Vec<u64>,
    leaves: Vec<(u64, u8, u8)>,
    faults: Vec<(u64, u64, u64, u64)>,
    flushes: Vec<RequestArg>,
    cpuid: Vec<(u32, u32, u32, u32)>,
}

fuzz_target!(|input: Input| {
    #[cfg(target_arch = "x86_64")]
    x86::run(&input);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = input;
});
