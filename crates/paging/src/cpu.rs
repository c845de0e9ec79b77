//! Which CPUs run which page table, with which ASID: the switch bookkeeping that TLB shootdown
//! and ASIDs need.
//!
//! Every page table has a [`TableTlb`]: the set of CPUs that may hold its translations and its
//! ASID context. A kernel keeps one [`CpuContext`] per CPU and switches through it
//! ([`CpuContext::switch_to`] on bare metal, or [`CpuContext::plan_switch`] + its own root write +
//! [`CpuContext::switched`]). Every flush request of the table then carries the ASID and a
//! snapshot of the set (`TlbFlushRequest::asid`, `TlbFlushRequest::cpus`), taken after the
//! entries were written, so a shootdown reaches exactly the CPUs that may still use the old
//! translations.
//!
//! # When a CPU leaves the set
//!
//! A CPU enters a table's set before it writes the table's root (sequentially consistent, so
//! that a CPU changing entries either sees it in the snapshot or the new CPU walks the changed
//! entries). It leaves lazily, only once it provably holds nothing of the table any more:
//! - without ASIDs (every space runs with ASID 0), when it switches to another space with
//!   ASID 0: that root write flushed the old space's (non-global) translations;
//! - with ASIDs, translations tagged with the space's ASID outlive the switch (that is the
//!   point), so the CPU stays in the set and keeps receiving the space's flushes, which it
//!   carries out by ASID while it runs something else. (A later refinement could drop it at
//!   the first full flush; Linux x86 does, with per-CPU generation counters.)
//! - never from the kernel space's set: its global translations survive every switch. Every CPU
//!   joins it at bring-up ([`CpuContext::join_kernel`]).

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use memory_addr::PhysAddr;
use page_table_multiarch::PagingHandler;
use vmlayer_arch::{CpuMask, CpuSet, MAX_CPUS, PagingArch};

use crate::asid::{AsidAllocator, AsidContext};
use crate::table::PageTable;

/// What the CPUs may cache of one page table: shared by the table and the [`CpuContext`]s of
/// the CPUs that ran it.
#[derive(Debug, Default)]
pub(crate) struct TableTlb {
    /// CPUs that may hold translations of the table.
    pub(crate) cpus: CpuSet,
    /// The table's [`AsidContext`], packed (generation << 16 | ASID); written only under the
    /// ASID allocator (`&mut AsidAllocator`).
    context: AtomicU64,
    /// The kernel space: ASID 0, and CPUs never leave its set.
    pub(crate) kernel: bool,
}

impl TableTlb {
    pub(crate) fn new(kernel: bool) -> Self {
        Self {
            cpus: CpuSet::new(),
            context: AtomicU64::new(0),
            kernel,
        }
    }

    /// The ASID the table's translations were last tagged with (0: none yet, or no ASIDs).
    /// Read after the CPU set (see `Batch`); a switching CPU stores the ASID before it joins
    /// the set, so a CPU found in the set is found with the ASID it switched in with (or a
    /// later one).
    pub(crate) fn asid(&self) -> u16 {
        self.context.load(Ordering::Acquire) as u16
    }

    /// The CPUs and the ASID a flush request must carry, read after every entry change of the
    /// operation (a `SeqCst` fence orders the relaxed entry stores before the reads).
    pub(crate) fn flush_target(&self) -> (CpuMask, u16) {
        core::sync::atomic::fence(Ordering::SeqCst);
        let cpus = self.cpus.snapshot();
        (cpus, self.asid())
    }

    fn load_context(&self) -> AsidContext {
        AsidContext::unpack(self.context.load(Ordering::Relaxed))
    }

    fn store_context(&self, context: AsidContext) {
        self.context.store(context.pack(), Ordering::Release);
    }
}

/// What a switch of one CPU to a page table must do (see [`CpuContext::plan_switch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchPlan {
    /// The root table to install.
    pub root: PhysAddr,
    /// The ASID to install with it (0: none; the root write flushes that CPU's non-global
    /// translations).
    pub asid: u16,
    /// Whether the CPU must drop every non-global translation of every ASID right after the
    /// root write, before any access through the new root (a rollover of the ASID allocator
    /// made old ASIDs free for reuse; see `PagingArch::activate_asid`).
    pub flush_local: bool,
}

/// Why a switch did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SwitchError {
    /// The ASID allocator was made for fewer CPUs than this CPU's index.
    UnknownCpu,
    /// The CPU refused the root (`PagingArch::activate`).
    Activate(vmlayer_arch::ActivateError),
}

impl core::fmt::Display for SwitchError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownCpu => formatter.write_str("the ASID allocator does not serve this CPU"),
            Self::Activate(error) => write!(formatter, "{error}"),
        }
    }
}

impl core::error::Error for SwitchError {}

/// One CPU's switch state: which table it runs and with which ASID. A kernel keeps one per
/// CPU and touches it only on that CPU (with interrupts masked during a switch).
///
/// ```
/// use vmlayer_paging::{AddressSpace, CpuContext};
/// # use std::alloc::{Layout, alloc_zeroed, dealloc};
/// # use vmlayer_paging::{PagingHandler, PhysAddr, VirtAddr};
/// # struct Frames;
/// # impl PagingHandler for Frames {
/// #     fn alloc_frames(count: usize, align: usize) -> Option<PhysAddr> {
/// #         if align != 4096 || count == 0 { return None; }
/// #         let layout = Layout::from_size_align(count * 4096, 4096).ok()?;
/// #         // SAFETY: non-zero size.
/// #         let pointer = unsafe { alloc_zeroed(layout) };
/// #         (!pointer.is_null()).then(|| PhysAddr::from(pointer as usize))
/// #     }
/// #     fn dealloc_frames(paddr: PhysAddr, count: usize) {
/// #         let layout = Layout::from_size_align(count * 4096, 4096).unwrap();
/// #         // SAFETY: allocated by `alloc_frames` with this layout.
/// #         unsafe { dealloc(paddr.as_usize() as *mut u8, layout) }
/// #     }
/// #     fn phys_to_virt(paddr: PhysAddr) -> VirtAddr { VirtAddr::from(paddr.as_usize()) }
/// # }
/// use vmlayer_paging::asid::AsidAllocator;
///
/// let space: AddressSpace<Frames> = AddressSpace::try_new().unwrap();
/// let mut asids = AsidAllocator::new(8, 2).unwrap();
/// let mut cpu1 = CpuContext::new(1).unwrap();
/// let plan = cpu1.plan_switch(space.page_table(), Some(&mut asids)).unwrap();
/// assert_eq!((plan.root, plan.asid), (space.root_paddr(), 1));
/// // ... write the root register with the plan, then:
/// cpu1.switched();
/// assert!(space.page_table().cpus().contains(1));
/// ```
#[derive(Debug)]
pub struct CpuContext {
    cpu: usize,
    /// The table this CPU runs and the ASID it runs it with.
    current: Option<(Arc<TableTlb>, u16)>,
    /// The table it ran before the switch in progress, until [`Self::switched`].
    leaving: Option<(Arc<TableTlb>, u16)>,
}

impl CpuContext {
    /// The context of CPU `cpu` (the kernel's index, below [`MAX_CPUS`]); `None` past it.
    pub fn new(cpu: usize) -> Option<Self> {
        (cpu < MAX_CPUS).then_some(Self {
            cpu,
            current: None,
            leaving: None,
        })
    }

    /// This CPU's index.
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// Records that this CPU holds the kernel half of `kernel` (the kernel space's table) from
    /// now on: every change of the kernel space reaches it. Call it once per CPU at bring-up,
    /// before the CPU uses the kernel space (on AArch64 the kernel writes `TTBR1_EL1` itself).
    pub fn join_kernel<H: PagingHandler, A: PagingArch>(&self, kernel: &PageTable<H, A>) {
        kernel.tlb.cpus.insert(self.cpu);
    }

    /// Plans the switch of this CPU to `table`: adds the CPU to the table's set and, with
    /// `asids` (a user table; the kernel space always runs with ASID 0), gives the table an
    /// ASID of the allocator's current generation. The caller writes the root as the plan
    /// says (`PagingArch::activate_asid`) and then calls [`Self::switched`].
    ///
    /// # Errors
    ///
    /// [`SwitchError::UnknownCpu`] if `asids` was made for fewer CPUs than this one's index;
    /// nothing changes then.
    pub fn plan_switch<H: PagingHandler, A: PagingArch>(
        &mut self,
        table: &PageTable<H, A>,
        asids: Option<&mut AsidAllocator>,
    ) -> Result<SwitchPlan, SwitchError> {
        let tlb = &table.tlb;
        let (asid, flush_local) = match asids {
            Some(asids) if !tlb.kernel => {
                let mut context = tlb.load_context();
                let switch = asids
                    .switch(self.cpu, &mut context)
                    .ok_or(SwitchError::UnknownCpu)?;
                // The ASID first, then the CPU: a batch that finds this CPU in the set reads
                // the ASID after it (`TableTlb::flush_target`), so it names this ASID.
                tlb.store_context(context);
                // `AsidAllocator::new` refuses more than 16 bits.
                (switch.asid as u16, switch.flush_local)
            }
            _ => (0, false),
        };
        tlb.cpus.insert(self.cpu);
        self.leaving = self.current.replace((Arc::clone(tlb), asid));
        Ok(SwitchPlan {
            root: table.root,
            asid,
            flush_local,
        })
    }

    /// Completes a switch after the root register was written as [`Self::plan_switch`] said:
    /// the table left behind drops this CPU from its set if the root write flushed its
    /// translations (both ran with ASID 0 and it is not the kernel space).
    pub fn switched(&mut self) {
        let Some((left, left_asid)) = self.leaving.take() else {
            return;
        };
        let Some((current, asid)) = &self.current else {
            return;
        };
        if !Arc::ptr_eq(&left, current) && !left.kernel && left_asid == 0 && *asid == 0 {
            left.cpus.remove(self.cpu);
        }
    }

    /// Switches this CPU to `table`: [`Self::plan_switch`], the root write
    /// (`PagingArch::activate_asid`), [`Self::switched`].
    ///
    /// # Errors
    ///
    /// [`SwitchError::UnknownCpu`] as [`Self::plan_switch`]; [`SwitchError::Activate`] as
    /// `PagingArch::activate`: the previous table stays active and this context unchanged (the
    /// CPU may stay in `table`'s set and the allocator may count `table` as running on this
    /// CPU: both only over-approximate, which costs at most a flush or a kept ASID).
    ///
    /// # Safety
    ///
    /// As `PagingArch::activate`: `table` must map the code, stack and data this CPU uses and
    /// stay alive while it is active; interrupts must be masked (this context belongs to the
    /// CPU); `asids` must be the one allocator every CPU of the machine switches with.
    #[cfg(target_os = "none")]
    pub unsafe fn switch_to<H: PagingHandler, A: PagingArch>(
        &mut self,
        table: &PageTable<H, A>,
        asids: Option<&mut AsidAllocator>,
    ) -> Result<SwitchPlan, SwitchError> {
        let before = self.current.clone();
        let plan = self.plan_switch(table, asids)?;
        // SAFETY: forwarded contract; the allocator guarantees the ASID's cached translations
        // are this table's (or asks for `flush_local`).
        if let Err(error) = unsafe { A::activate_asid(plan.root, plan.asid, plan.flush_local) } {
            self.current = before;
            self.leaving = None;
            return Err(SwitchError::Activate(error));
        }
        self.switched();
        Ok(plan)
    }

    /// The ASID this CPU runs its current table with (0: none).
    pub fn asid(&self) -> u16 {
        self.current.as_ref().map_or(0, |(_, asid)| *asid)
    }
}
