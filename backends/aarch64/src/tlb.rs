//! TLB maintenance with `TLBI`: a flush request becomes a pure, tested [`FlushPlan`] (which
//! `TLBI`s, with which operands), executed either broadcast to the Inner Shareable domain
//! ([`flush_broadcast`], what `PagingArch::flush_tlb_local` does) or on this CPU only
//! ([`flush_this_cpu`]).
//!
//! # ASIDs
//!
//! A user address space may run with an ASID (`TTBR0_EL1.ASID`, see
//! [`crate::registers::switch_user_root_asid`]); its leaves are then not global (`nG`) and its
//! flush requests carry the ASID (`TlbFlushRequest::asid`). The kernel space (the table of
//! `TTBR1_EL1`) runs with ASID 0 and global leaves. [`flush_plan`] chooses:
//!
//! | request                              | by page (each 4 KiB page)  | everything     |
//! |--------------------------------------|----------------------------|----------------|
//! | `asid != 0` and not `global_changed` | `TLBI VAE1`, ASID in 63:48 | `TLBI ASIDE1`  |
//! | otherwise                            | `TLBI VAAE1` (every ASID)  | `TLBI VMALLE1` |
//!
//! (each with the `IS` suffix when broadcast). A flush by ASID leaves the other address spaces'
//! translations alone, and a CPU may carry it out whether or not it runs that ASID now. It
//! also drops *global* entries for the address (`VAE1`), which is harmless. Global entries
//! changed (`global_changed`: kernel leaves) must go from every ASID, hence the all-ASID forms
//! then: `TLBI VAAE1` invalidates the address "for all ASID values", global entries included,
//! and `TLBI VMALLE1` every stage-1 EL1&0 entry, global or not (Arm ARM C5.5 "A64 system
//! instructions for TLB maintenance", the descriptions of `TLBI VAE1`, `VAAE1`, `ASIDE1` and
//! `VMALLE1`). ASID 0 (a space without an ASID) also takes the all-ASID forms, as before ASIDs
//! existed.
//!
//! # Walk caches
//!
//! The all-levels forms (not `VALE1` / `VAALE1`, last level only) are used because the same
//! request covers freed page-table pages (`TlbFlushRequest::tables_changed`): a leaf-only
//! invalidation would leave walk-cache entries that point into a freed table. `TLBI VAE1` /
//! `VAAE1` invalidate cached entries "from any level of the translation table walk" for the
//! address, and `TLBI ASIDE1` every entry tagged with the ASID, intermediate ones included
//! (Linux frees a process's tables and then flushes it with `TLBI ASIDE1IS` alone:
//! `arch/arm64/include/asm/tlb.h`, `tlb_flush`). So `tables_changed` needs nothing more here. A
//! range longer than `vmlayer_arch::FLUSH_ALL_THRESHOLD_PAGES` already reaches us as
//! `TlbFlush::All`.
//!
//! # Broadcast or this CPU
//!
//! - [`flush_broadcast`] (the [`Scope::InnerShareable`] forms): `DSB ISHST` (the descriptor
//!   stores reach the walkers of all CPUs before the invalidation), the `TLBI …IS`s, `DSB ISH`
//!   (the invalidation has completed on every CPU of the Inner Shareable domain) and `ISB` (this
//!   CPU refetches with the new translations). Always correct: the hardware broadcasts, so no
//!   IPI is needed on AArch64, and `PagingArch::flush_tlb_local` uses it.
//! - [`flush_this_cpu`] (the [`Scope::ThisCpu`] forms): `DSB NSHST`, the `TLBI`s without `IS`,
//!   `DSB NSH`, `ISB`. Cheaper (no broadcast, no wait for the other CPUs), but correct only when
//!   no other CPU may hold translations of the table: the request's `cpus` is empty or holds
//!   only the current CPU (`TlbFlushRequest::cpus`, kept by `vmlayer_paging`'s `CpuContext`),
//!   and the kernel switches every CPU through `CpuContext` (a CPU outside the set then holds
//!   nothing of the table, and one that joins later walks the new entries). A flush of the
//!   kernel space (global entries, every CPU in its set) is therefore always broadcast.
//!
//! Only bare-metal builds (`target_os = "none"`) execute the instructions; elsewhere (hosted unit
//! tests under qemu-user, where EL0 cannot execute them) every function is a no-op.

use memory_addr::VirtAddr;
use vmlayer_arch::{TlbFlush, TlbFlushRequest};

#[cfg(test)]
mod tests;

/// The `TLBI` by-address operand: `VA[55:12]` in bits 43:0 and the ASID in bits 63:48.
///
/// ```
/// use vmlayer_aarch64::VirtAddr;
/// use vmlayer_aarch64::tlb::tlbi_operand;
///
/// assert_eq!(tlbi_operand(VirtAddr::from(0xffff_0000_4020_3000), 5), 0x0005_0ff0_0004_0203);
/// ```
pub const fn tlbi_operand(vaddr: VirtAddr, asid: u16) -> u64 {
    (((vaddr.as_usize() as u64) >> 12) & ((1 << 44) - 1)) | ((asid as u64) << 48)
}

/// The `TLBI ASIDE1` operand: the ASID in bits 63:48, the rest zero (RES0).
///
/// ```
/// assert_eq!(vmlayer_aarch64::tlb::asid_operand(0xbeef), 0xbeef_0000_0000_0000);
/// ```
pub const fn asid_operand(asid: u16) -> u64 {
    (asid as u64) << 48
}

/// Which CPUs a `TLBI` reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every CPU of the Inner Shareable domain (the `…IS` forms, `DSB ISHST` / `DSB ISH`).
    InnerShareable,
    /// This CPU only (the forms without `IS`, `DSB NSHST` / `DSB NSH`); see the module docs for
    /// when that is enough.
    ThisCpu,
}

/// One `TLBI` instruction of a plan, with its operand (stage 1, EL1&0 regime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tlbi {
    /// `TLBI VAE1`: one address ([`tlbi_operand`]) of one ASID, and global entries for it;
    /// every level of the walk.
    Vae1(u64),
    /// `TLBI VAAE1`: one address ([`tlbi_operand`] with ASID 0, ignored) in every ASID, global
    /// entries included; every level of the walk.
    Vaae1(u64),
    /// `TLBI ASIDE1`: every non-global entry of one ASID ([`asid_operand`]).
    Aside1(u64),
    /// `TLBI VMALLE1`: every stage-1 EL1&0 entry, every ASID, global ones included.
    Vmalle1,
}

/// Defines [`Tlbi::instruction`] and the bare-metal executor of one `TLBI` from one table, so
/// that the text the tests check is the text the `asm!` blocks assemble.
macro_rules! tlbi_instructions {
    ($(($variant:ident $(($operand:ident))?, $scope:ident) => $text:literal;)*) => {
        impl Tlbi {
            /// The instruction as `asm!` assembles it for `scope` (`{0}`: the operand register).
            ///
            /// ```
            /// use vmlayer_aarch64::tlb::{Scope, Tlbi};
            ///
            /// assert_eq!(Tlbi::Vae1(1).instruction(Scope::InnerShareable), "tlbi vae1is, {0}");
            /// assert_eq!(Tlbi::Vmalle1.instruction(Scope::ThisCpu), "tlbi vmalle1");
            /// ```
            pub const fn instruction(self, scope: Scope) -> &'static str {
                match (self, scope) {
                    $((Tlbi::$variant { .. }, Scope::$scope) => $text,)*
                }
            }
        }

        /// Executes `tlbi` for `scope`, without barriers.
        #[cfg(target_os = "none")]
        #[inline]
        fn execute_tlbi(tlbi: Tlbi, scope: Scope) {
            match (tlbi, scope) {
                $((Tlbi::$variant { .. }, Scope::$scope) => {
                    // SAFETY: a TLBI only drops cached translations; a bare-metal build of this
                    // crate runs at EL1, where it is permitted.
                    unsafe {
                        core::arch::asm!($text, $(in(reg) tlbi.$operand(),)? options(nostack));
                    }
                })*
            }
        }
    };
}

tlbi_instructions! {
    (Vae1(operand), InnerShareable) => "tlbi vae1is, {0}";
    (Vae1(operand), ThisCpu) => "tlbi vae1, {0}";
    (Vaae1(operand), InnerShareable) => "tlbi vaae1is, {0}";
    (Vaae1(operand), ThisCpu) => "tlbi vaae1, {0}";
    (Aside1(operand), InnerShareable) => "tlbi aside1is, {0}";
    (Aside1(operand), ThisCpu) => "tlbi aside1, {0}";
    (Vmalle1, InnerShareable) => "tlbi vmalle1is";
    (Vmalle1, ThisCpu) => "tlbi vmalle1";
}

impl Tlbi {
    /// The operand register's value (0 for `VMALLE1`, which takes none).
    pub const fn operand(self) -> u64 {
        match self {
            Self::Vae1(operand) | Self::Vaae1(operand) | Self::Aside1(operand) => operand,
            Self::Vmalle1 => 0,
        }
    }
}

/// The `TLBI`s that carry out one flush request (see the module docs for the choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPlan {
    /// `TLBI VAE1` for each 4 KiB page of `[start, end)` (see [`vmlayer_arch::tlb::pages_in`])
    /// in `asid`.
    PagesOfAsid {
        /// The first page (page aligned).
        start: VirtAddr,
        /// One past the last byte to cover.
        end: VirtAddr,
        /// The ASID, not 0.
        asid: u16,
    },
    /// `TLBI VAAE1` for each 4 KiB page of `[start, end)`, every ASID.
    Pages {
        /// The first page (page aligned).
        start: VirtAddr,
        /// One past the last byte to cover.
        end: VirtAddr,
    },
    /// `TLBI ASIDE1`: every non-global translation of this ASID (not 0).
    Asid(u16),
    /// `TLBI VMALLE1`: everything.
    All,
}

impl FlushPlan {
    /// The `TLBI`s of the plan, in order.
    pub fn tlbis(self) -> impl Iterator<Item = Tlbi> {
        let (pages, single) = match self {
            Self::PagesOfAsid { start, end, asid } => (Some((start, end, Some(asid))), None),
            Self::Pages { start, end } => (Some((start, end, None)), None),
            Self::Asid(asid) => (None, Some(Tlbi::Aside1(asid_operand(asid)))),
            Self::All => (None, Some(Tlbi::Vmalle1)),
        };
        let pages = pages.into_iter().flat_map(|(start, end, asid)| {
            vmlayer_arch::tlb::pages_in(start, end).map(move |page| match asid {
                Some(asid) => Tlbi::Vae1(tlbi_operand(page, asid)),
                None => Tlbi::Vaae1(tlbi_operand(page, 0)),
            })
        });
        pages.chain(single)
    }
}

/// The plan for `request`: by the request's ASID when it has one and no global entry changed,
/// else in every ASID; page by page for a page or a range, at once for everything. See the
/// module docs.
///
/// ```
/// use vmlayer_arch::{PhysAddr, TlbFlush, TlbFlushRequest};
/// use vmlayer_aarch64::tlb::{FlushPlan, flush_plan};
///
/// let mut request = TlbFlushRequest::new(PhysAddr::from(0x4000_0000), TlbFlush::All);
/// assert_eq!(flush_plan(&request), FlushPlan::All);
/// request.asid = 7;
/// assert_eq!(flush_plan(&request), FlushPlan::Asid(7));
/// request.global_changed = true;
/// assert_eq!(flush_plan(&request), FlushPlan::All);
/// ```
pub const fn flush_plan(request: &TlbFlushRequest) -> FlushPlan {
    let by_asid = request.asid != 0 && !request.global_changed;
    let (start, end) = match request.flush {
        TlbFlush::Page(vaddr) => {
            let start = vaddr.as_usize() & !0xfff;
            // The last byte of the page, not one past it: the top page must not wrap to 0.
            (start, start.wrapping_add(0xfff))
        }
        TlbFlush::Range { start, end } => (start.as_usize() & !0xfff, end.as_usize()),
        TlbFlush::All if by_asid => return FlushPlan::Asid(request.asid),
        TlbFlush::All => return FlushPlan::All,
    };
    let (start, end) = (VirtAddr::from_usize(start), VirtAddr::from_usize(end));
    if by_asid {
        FlushPlan::PagesOfAsid {
            start,
            end,
            asid: request.asid,
        }
    } else {
        FlushPlan::Pages { start, end }
    }
}

/// Executes `plan` for `scope`: the store barrier, the `TLBI`s, the completion barrier and
/// `ISB` of that scope (see the module docs). A no-op on hosted builds.
pub fn execute(plan: FlushPlan, scope: Scope) {
    #[cfg(target_os = "none")]
    {
        // SAFETY: barriers only order memory accesses; permitted at EL1.
        unsafe {
            match scope {
                Scope::InnerShareable => core::arch::asm!(tlbi_begin!(is), options(nostack)),
                Scope::ThisCpu => core::arch::asm!(tlbi_begin!(local), options(nostack)),
            }
        }
        for tlbi in plan.tlbis() {
            execute_tlbi(tlbi, scope);
        }
        // SAFETY: as above.
        unsafe {
            match scope {
                Scope::InnerShareable => core::arch::asm!(tlbi_end!(is), options(nostack)),
                Scope::ThisCpu => core::arch::asm!(tlbi_end!(local), options(nostack)),
            }
        }
    }
    #[cfg(not(target_os = "none"))]
    let _ = (plan, scope);
}

/// Carries out `request` on every CPU of the Inner Shareable domain (`TLBI …IS`, then
/// `DSB ISH`: returns once every CPU has completed it). Always correct; what
/// `PagingArch::flush_tlb_local` does.
pub fn flush_broadcast(request: &TlbFlushRequest) {
    execute(flush_plan(request), Scope::InnerShareable);
}

/// Carries out `request` on this CPU only (`TLBI` without `IS`, `DSB NSH`). Correct only when
/// no other CPU may cache the table's translations: `request.cpus` is empty or only the
/// current CPU, and every CPU switches through `vmlayer_paging`'s `CpuContext` (see the module
/// docs). A shootdown hook may call it for that case instead of [`flush_broadcast`].
pub fn flush_this_cpu(request: &TlbFlushRequest) {
    execute(flush_plan(request), Scope::ThisCpu);
}

/// Drops the translation of the page or block containing `vaddr` in every ASID and every CPU:
/// `DSB ISHST; TLBI VAAE1IS; DSB ISH; ISB`.
#[inline]
pub fn flush_page(vaddr: VirtAddr) {
    flush(TlbFlush::Page(vaddr));
}

/// Drops the translation of `vaddr` tagged with `asid` (and global translations of it), on
/// every CPU: `DSB ISHST; TLBI VAE1IS; DSB ISH; ISB` (or `VAAE1IS` for ASID 0, like
/// [`flush_page`]).
pub fn flush_page_in_address_space(vaddr: VirtAddr, asid: u16) {
    let mut request = TlbFlushRequest::new(vmlayer_arch::PhysAddr::from(0), TlbFlush::Page(vaddr));
    request.asid = asid;
    flush_broadcast(&request);
}

/// Drops the translations of every page in `[start, end)` in every ASID on every CPU, with one
/// barrier pair around all the `TLBI VAAE1IS`s.
pub fn flush_range(start: VirtAddr, end: VirtAddr) {
    flush(TlbFlush::Range { start, end });
}

/// Drops every stage-1 EL1&0 translation, global ones included, on every CPU:
/// `DSB ISHST; TLBI VMALLE1IS; DSB ISH; ISB`.
#[inline]
pub fn flush_all() {
    flush(TlbFlush::All);
}

/// Carries out `flush` in every ASID on every CPU (the all-ASID forms of [`flush_plan`]).
pub fn flush(flush: TlbFlush) {
    let mut request = TlbFlushRequest::new(vmlayer_arch::PhysAddr::from(0), flush);
    request.global_changed = true;
    flush_broadcast(&request);
}
