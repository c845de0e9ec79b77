//! Which TLB instructions carry out a [`TlbFlushRequest`], as a pure function of the request and
//! of this CPU's PCID state (tested on any host); `PagingArch::flush_tlb_local` reads the state
//! from CR4 and CR3 and executes the plan on bare metal.
//!
//! # The instructions
//!
//! Intel SDM Vol. 3A, §4.10.4.1 "Operations that Invalidate TLBs and Paging-Structure Caches"
//! (and the INVPCID instruction in Vol. 2):
//!
//! - `INVLPG` invalidates the TLB entries for the page **of the current PCID**, global ones
//!   included (of any PCID), and all paging-structure-cache entries **of the current PCID**
//!   (every level, every address), so a by-address flush of the current space needs nothing
//!   more when tables changed (`tables_changed`) or global leaves changed (`global_changed`,
//!   with `CR4.PCIDE = 0`).
//! - `MOV to CR3` with bit 63 clear invalidates every non-global TLB entry and every
//!   paging-structure-cache entry of the PCID it installs (with `CR4.PCIDE = 0`: PCID 0, the
//!   only one). Bit 63 set (only with `CR4.PCIDE = 1`) invalidates nothing.
//! - `MOV to CR4` that changes `CR4.PGE` invalidates every TLB entry, global ones included, and
//!   every paging-structure-cache entry, of every PCID. With `CR4.PGE = 0` the G bit is ignored
//!   (§4.10.2.4 "Global Pages"): no entry is global and a CR3 reload drops everything.
//! - `INVPCID` ([`InvpcidType`], descriptor [`InvpcidDescriptor`]) invalidates "mappings":
//!   TLB entries and paging-structure-cache entries (Vol. 2, INVPCID: "Invalidates mappings in
//!   the translation lookaside buffers (TLBs) and paging-structure caches based on
//!   process-context identifier"). Type 0 (individual address) those "that would be used to
//!   translate the linear address" in the PCID, the paging-structure-cache entries for it
//!   included; type 1 (single context) all of the PCID; type 2 all of every PCID, global ones
//!   included; type 3 all of every PCID but the global ones. All except global translations
//!   (types 0, 1, 3). It acts on any PCID, not only the current one: that is why this crate
//!   uses PCIDs only with INVPCID ([`crate::asid_bits`]).
//!
//! # The plan
//!
//! Our x86 leaves are never global (no G bit, even for the kernel half): the kernel half's
//! translations are cached per PCID like the user ones. So [`flush_plan`], with `pcid` the
//! state of this CPU ([`PcidState`]: `CR4.PCIDE` and CR3's PCID):
//!
//! | request                                       | page / range             | everything          |
//! |-----------------------------------------------|--------------------------|---------------------|
//! | `global_changed`, PCIDs on                    | INVPCID type 2           | INVPCID type 2      |
//! | `global_changed`, PCIDs off                   | `INVLPG` per page        | toggle `CR4.PGE`    |
//! | `asid` = current PCID (or PCIDs off)          | `INVLPG` per page        | reload CR3          |
//! | another PCID, `tables_changed`                | INVPCID type 1           | INVPCID type 1      |
//! | another PCID                                  | INVPCID type 0 per page  | INVPCID type 1      |
//!
//! - Global changes (kernel leaves) with PCIDs on must reach every PCID, since every user space
//!   caches the kernel half under its own PCID: INVPCID type 2.
//! - The current space (the request's ASID is the PCID in CR3, both 0 without PCIDs): as
//!   without PCIDs; CR3 is reloaded with its own value (PCID kept, bit 63 clear).
//! - Another space's PCID (it exists only with PCIDs on; this CPU ran that space before and
//!   keeps its translations): INVPCID by address, or the whole PCID. Type 0 would also drop the
//!   paging-structure-cache entries for the addresses; when tables changed we still drop the
//!   whole PCID (type 1), as strong as the `INVLPG` of the current-space case, which drops every
//!   paging-structure-cache entry of the PCID whatever the address.
//!
//! With `CR4.PCIDE = 0` this CPU caches translations for PCID 0 only (Vol. 2, INVPCID: "If
//! CR4.PCIDE = 0, a logical processor does not cache information for any PCID other than
//! 000H"), so every request is treated as one for the current space, as before PCIDs.

use memory_addr::VirtAddr;
use vmlayer_arch::{TlbFlush, TlbFlushRequest};

#[cfg(test)]
mod tests;

/// `CR4.PCIDE` (bit 17): process-context identifiers enabled (SDM Vol. 3A, §2.5, §4.10.1).
pub const CR4_PCIDE: u64 = 1 << 17;

/// CR3 bits 11:0: the PCID when `CR4.PCIDE = 1` (SDM Vol. 3A, §4.5, table 4-12).
pub const CR3_PCID_MASK: u64 = 0xfff;

/// Bit 63 of a value written to CR3 with `CR4.PCIDE = 1`: keep the TLB entries and
/// paging-structure-cache entries of the PCID installed (SDM Vol. 3A, §4.10.4.1, MOV to CR3).
/// Never stored in CR3.
pub const CR3_NO_FLUSH: u64 = 1 << 63;

/// The value to write to CR3 for the root table at `root` (bits 51:12) with PCID `pcid` (bits
/// 11:0, the low 12 bits of `pcid`), with [`CR3_NO_FLUSH`] if `keep_tlb` (which needs
/// `CR4.PCIDE = 1`).
///
/// ```
/// use vmlayer_arch::PhysAddr;
/// use vmlayer_x86_64::tlb::cr3_value;
///
/// assert_eq!(cr3_value(PhysAddr::from(0x10_2000), 0, false), 0x10_2000);
/// assert_eq!(cr3_value(PhysAddr::from(0x10_2000), 0x5a, true), 0x8000_0000_0010_205a);
/// ```
pub const fn cr3_value(root: memory_addr::PhysAddr, pcid: u16, keep_tlb: bool) -> u64 {
    let value =
        (root.as_usize() as u64 & crate::ENTRY_ADDRESS_MASK) | (pcid as u64 & CR3_PCID_MASK);
    if keep_tlb {
        value | CR3_NO_FLUSH
    } else {
        value
    }
}

/// What [`flush_plan`] needs to know of this CPU: whether PCIDs are on and which one it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PcidState {
    /// `CR4.PCIDE`.
    pub enabled: bool,
    /// The PCID in CR3 (bits 11:0); 0 when PCIDs are off.
    pub current: u16,
}

impl PcidState {
    /// PCIDs off (`CR4.PCIDE = 0`): everything is PCID 0.
    pub const DISABLED: Self = Self {
        enabled: false,
        current: 0,
    };

    /// The state that CR3 and CR4 hold (with `CR4.PCIDE = 0`, CR3 bits 11:0 are PWT, PCD and
    /// ignored bits, not a PCID).
    ///
    /// ```
    /// use vmlayer_x86_64::tlb::{CR4_PCIDE, PcidState};
    ///
    /// assert_eq!(PcidState::from_registers(0x10_2018, 0x20), PcidState::DISABLED);
    /// assert_eq!(
    ///     PcidState::from_registers(0x10_2005, CR4_PCIDE | 0x20),
    ///     PcidState { enabled: true, current: 5 }
    /// );
    /// ```
    pub const fn from_registers(cr3: u64, cr4: u64) -> Self {
        if cr4 & CR4_PCIDE == 0 {
            Self::DISABLED
        } else {
            Self {
                enabled: true,
                current: (cr3 & CR3_PCID_MASK) as u16,
            }
        }
    }
}

/// The INVPCID types (SDM Vol. 2, INVPCID; Vol. 3A, §4.10.4.1), the value of its register
/// operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum InvpcidType {
    /// Type 0: the mappings for one linear address in one PCID, except global translations.
    IndividualAddress = 0,
    /// Type 1: every mapping of one PCID, except global translations.
    SingleContext = 1,
    /// Type 2: every mapping of every PCID, global translations included.
    AllContextsIncludingGlobal = 2,
    /// Type 3: every mapping of every PCID, except global translations.
    AllContexts = 3,
}

/// The 16-byte INVPCID descriptor (SDM Vol. 2, INVPCID, "INVPCID Descriptor"): the PCID in
/// bits 11:0 of the first quadword (bits 63:12 reserved, zero), the linear address (used by
/// type 0 only, canonical) in the second. No alignment is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct InvpcidDescriptor {
    pcid: u64,
    address: u64,
}

impl InvpcidDescriptor {
    /// The descriptor for `pcid` (its low 12 bits) and `address`.
    ///
    /// ```
    /// use vmlayer_arch::VirtAddr;
    /// use vmlayer_x86_64::tlb::InvpcidDescriptor;
    ///
    /// let descriptor = InvpcidDescriptor::new(0xabc, VirtAddr::from(0x4020_3000));
    /// assert_eq!(descriptor.quadwords(), [0xabc, 0x4020_3000]);
    /// ```
    pub const fn new(pcid: u16, address: VirtAddr) -> Self {
        Self {
            pcid: pcid as u64 & CR3_PCID_MASK,
            address: address.as_usize() as u64,
        }
    }

    /// The descriptor as the CPU reads it: bytes 0-7, then bytes 8-15.
    pub const fn quadwords(&self) -> [u64; 2] {
        [self.pcid, self.address]
    }
}

/// The instructions one flush executes on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPlan {
    /// `INVLPG` for each 4 KiB page of `[start, end)` (see [`vmlayer_arch::tlb::pages_in`]);
    /// `start` is page aligned.
    InvalidatePages {
        /// The first page.
        start: VirtAddr,
        /// One past the last byte to cover.
        end: VirtAddr,
    },
    /// Reload CR3 with its value (PCID kept, bit 63 clear): every non-global entry of the
    /// current PCID.
    ReloadCr3,
    /// Clear then restore `CR4.PGE` if it is set (every entry, global ones included), else
    /// reload CR3 (nothing is global then). Only planned with PCIDs off.
    ToggleGlobalPages,
    /// INVPCID type 0 for each 4 KiB page of `[start, end)` in `pcid`.
    InvalidatePcidPages {
        /// The first page.
        start: VirtAddr,
        /// One past the last byte to cover.
        end: VirtAddr,
        /// The PCID (not the current one).
        pcid: u16,
    },
    /// INVPCID type 1: every non-global mapping of `pcid`.
    InvalidatePcid(u16),
    /// INVPCID type 2: every mapping of every PCID, global ones included.
    InvalidateAllPcids,
}

impl FlushPlan {
    /// The INVPCIDs the plan executes, in order (none for the plans without INVPCID).
    ///
    /// ```
    /// use vmlayer_arch::VirtAddr;
    /// use vmlayer_x86_64::tlb::{FlushPlan, InvpcidDescriptor, InvpcidType};
    ///
    /// let plan = FlushPlan::InvalidatePcid(3);
    /// let invpcids: Vec<_> = plan.invpcids().collect();
    /// assert_eq!(invpcids, [(InvpcidType::SingleContext, InvpcidDescriptor::new(3, VirtAddr::from(0)))]);
    /// ```
    pub fn invpcids(self) -> impl Iterator<Item = (InvpcidType, InvpcidDescriptor)> {
        let (pages, single) = match self {
            Self::InvalidatePcidPages { start, end, pcid } => (Some((start, end, pcid)), None),
            Self::InvalidatePcid(pcid) => (
                None,
                Some((
                    InvpcidType::SingleContext,
                    InvpcidDescriptor::new(pcid, VirtAddr::from_usize(0)),
                )),
            ),
            Self::InvalidateAllPcids => (
                None,
                Some((
                    InvpcidType::AllContextsIncludingGlobal,
                    InvpcidDescriptor::new(0, VirtAddr::from_usize(0)),
                )),
            ),
            Self::InvalidatePages { .. } | Self::ReloadCr3 | Self::ToggleGlobalPages => {
                (None, None)
            }
        };
        let pages = pages.into_iter().flat_map(|(start, end, pcid)| {
            vmlayer_arch::tlb::pages_in(start, end).map(move |page| {
                (
                    InvpcidType::IndividualAddress,
                    InvpcidDescriptor::new(pcid, page),
                )
            })
        });
        pages.chain(single)
    }
}

/// The plan for `request` on a CPU in state `pcid` (see the module docs): the current space's
/// pages by `INVLPG` (whatever `tables_changed` says, since `INVLPG` covers the
/// paging-structure caches), everything by a CR3 reload; global changes by toggling `CR4.PGE`
/// or, with PCIDs, INVPCID type 2; another PCID's pages by INVPCID type 0, or the whole PCID by
/// type 1.
///
/// ```
/// use vmlayer_arch::{PhysAddr, TlbFlush, TlbFlushRequest, VirtAddr};
/// use vmlayer_x86_64::tlb::{FlushPlan, PcidState, flush_plan};
///
/// let mut request = TlbFlushRequest::new(PhysAddr::from(0x1000), TlbFlush::All);
/// assert_eq!(flush_plan(&request, PcidState::DISABLED), FlushPlan::ReloadCr3);
/// request.asid = 7;
/// let running_7 = PcidState { enabled: true, current: 7 };
/// let running_8 = PcidState { enabled: true, current: 8 };
/// assert_eq!(flush_plan(&request, running_7), FlushPlan::ReloadCr3);
/// assert_eq!(flush_plan(&request, running_8), FlushPlan::InvalidatePcid(7));
/// request.global_changed = true;
/// assert_eq!(flush_plan(&request, PcidState::DISABLED), FlushPlan::ToggleGlobalPages);
/// assert_eq!(flush_plan(&request, running_8), FlushPlan::InvalidateAllPcids);
/// ```
pub const fn flush_plan(request: &TlbFlushRequest, pcid: PcidState) -> FlushPlan {
    if request.global_changed && pcid.enabled {
        return FlushPlan::InvalidateAllPcids;
    }
    let current_space = !pcid.enabled || request.asid == pcid.current;
    let (start, end) = match request.flush {
        TlbFlush::Page(vaddr) => {
            let start = vaddr.as_usize() & !0xfff;
            // The last byte of the page, not one past it: the top page must not wrap to 0.
            (start, start.wrapping_add(0xfff))
        }
        TlbFlush::Range { start, end } => (start.as_usize() & !0xfff, end.as_usize()),
        TlbFlush::All if request.global_changed => return FlushPlan::ToggleGlobalPages,
        TlbFlush::All if current_space => return FlushPlan::ReloadCr3,
        TlbFlush::All => return FlushPlan::InvalidatePcid(request.asid),
    };
    let (start, end) = (VirtAddr::from_usize(start), VirtAddr::from_usize(end));
    if current_space {
        FlushPlan::InvalidatePages { start, end }
    } else if request.tables_changed {
        FlushPlan::InvalidatePcid(request.asid)
    } else {
        FlushPlan::InvalidatePcidPages {
            start,
            end,
            pcid: request.asid,
        }
    }
}
