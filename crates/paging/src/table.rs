//! The page table: a root frame, the ISA that encodes it and the allocator that feeds it.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::{MappingFlags, PageSize, PagingHandler};
use vmlayer_arch::{
    CpuMask, ENTRY_COUNT, EntryKind, PagingArch, TlbFlushHook, level_size, table_index,
};

use crate::Arch;
use crate::MappingError;
use crate::batch::Batch;
use crate::cpu::TableTlb;
use crate::frames::FrameTable;

/// What [`PageTable::query`] finds at an address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Translation {
    /// The physical address the queried virtual address translates to (page offset included).
    pub paddr: PhysAddr,
    /// The entry's flags as the ISA decodes them; empty for a PROT_NONE entry.
    pub flags: MappingFlags,
    /// The size of the page or block holding the address.
    pub page_size: PageSize,
}

impl Translation {
    /// Whether the entry is PROT_NONE: reserved (frame kept) but inaccessible.
    pub fn is_prot_none(&self) -> bool {
        self.flags.is_empty()
    }
}

/// A hardware page table of ISA `A` whose table pages come from `H`.
///
/// It owns its table pages (freed when they become empty and on drop) but not the frames its
/// leaves point to: those belong to the mapping backends ([`Backend`](crate::Backend)), which
/// [`AddressSpace`](crate::AddressSpace) drives. Changes go through the backends; this type
/// offers lookups and configuration.
pub struct PageTable<H: PagingHandler, A: PagingArch = Arch> {
    pub(crate) root: PhysAddr,
    pub(crate) largest_leaf_level: usize,
    pub(crate) flush_hook: Option<TlbFlushHook>,
    /// Physical-address bits the CPU implements ([`PagingArch::phys_addr_bits`]).
    pub(crate) phys_addr_bits: usize,
    /// Whether the range of the next unmap / protect may hold global (kernel) leaves: what its
    /// flush request says in `global_changed`. `true` unless
    /// [`AddressSpace`](crate::AddressSpace), which knows the areas' flags, says otherwise for
    /// one operation (decoding every old entry for it would triple the per-page cost).
    pub(crate) global_in_range: bool,
    /// Root slots whose tables this table shares with other tables (the kernel half); `None`
    /// if it shares nothing.
    pub(crate) shared: Option<Arc<SharedSlots>>,
    /// Whether this table created its shared slots (the kernel space): it counts their tables.
    pub(crate) shares_own_slots: bool,
    /// The counts of shared frames, if the kernel set them up (fork, shared memory).
    pub(crate) frames: Option<&'static FrameTable>,
    /// The CPUs that may cache this table's translations and its ASID ([`crate::CpuContext`]).
    pub(crate) tlb: Arc<TableTlb>,
    _marker: PhantomData<(A, fn() -> H)>,
}

/// Root slots shared by several page tables: the kernel half on ISAs that translate both halves
/// through one root (x86_64, RISC-V). A kernel space ([`AddressSpace::new_kernel`]) links a
/// table into every root slot its range covers when it is created, and never unlinks them, so
/// the root entries never change: every user space ([`AddressSpace::new_user`]) copies them
/// into its root and sees every kernel mapping made at any time. The tables belong to the
/// sharing as a whole: the last page table that drops (kernel or user) frees them.
///
/// [`AddressSpace::new_kernel`]: crate::AddressSpace::new_kernel
/// [`AddressSpace::new_user`]: crate::AddressSpace::new_user
#[derive(Debug)]
pub(crate) struct SharedSlots {
    /// The root indices.
    pub(crate) slots: Range<usize>,
    /// The root entries of those slots (table pointers), in slot order.
    pub(crate) entries: Vec<u64>,
    /// The tables they point to, in slot order.
    pub(crate) tables: Vec<PhysAddr>,
}

impl<H: PagingHandler, A: PagingArch> PageTable<H, A> {
    /// Creates an empty table: allocates and zeroes the root page.
    ///
    /// # Errors
    ///
    /// [`MappingError::NoMemory`] if `H` has no frame.
    pub fn try_new() -> Result<Self, MappingError> {
        let root = alloc_table::<H>()?;
        Ok(Self {
            root,
            largest_leaf_level: A::largest_leaf_level().min(A::LARGEST_LEAF_LEVEL),
            flush_hook: None,
            phys_addr_bits: A::phys_addr_bits().min(A::PA_BITS),
            global_in_range: true,
            shared: None,
            shares_own_slots: false,
            frames: None,
            tlb: Arc::new(TableTlb::new(false)),
            _marker: PhantomData,
        })
    }

    /// The CPUs that may hold translations of this table now: those that switched to it
    /// through a [`CpuContext`](crate::CpuContext) and did not provably drop them since.
    pub fn cpus(&self) -> CpuMask {
        self.tlb.cpus.snapshot()
    }

    /// The ASID this table's translations were last tagged with (0: none).
    pub fn asid(&self) -> u16 {
        self.tlb.asid()
    }

    /// Whether kernel leaves are global in this table: only in a kernel space's (see
    /// [`AddressSpace::new_kernel`](crate::AddressSpace::new_kernel)).
    #[inline(always)]
    pub(crate) fn global_leaves(&self) -> bool {
        self.tlb.kernel
    }

    /// Whether root slot `index` is shared with other tables (never unlinked or freed by this
    /// table).
    #[inline(always)]
    pub(crate) fn is_shared_slot(&self, index: usize) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|shared| shared.slots.contains(&index))
    }

    /// Links a fresh table into every root slot in `slots` and makes them shared slots. Only
    /// for a new table whose root is still empty.
    ///
    /// # Errors
    ///
    /// [`MappingError::NoMemory`]; the tables linked so far are freed when `self` drops.
    pub(crate) fn share_root_slots(&mut self, slots: Range<usize>) -> Result<(), MappingError> {
        // SAFETY: the root is a live table page of this table.
        let root = unsafe { Table::new::<H>(self.root) };
        let mut entries = Vec::with_capacity(slots.len());
        let mut tables = Vec::with_capacity(slots.len());
        for index in slots.clone() {
            let table = alloc_table::<H>()?;
            let entry = A::encode_table(table);
            root.publish(index, entry);
            entries.push(entry);
            tables.push(table);
        }
        self.shared = Some(Arc::new(SharedSlots {
            slots,
            entries,
            tables,
        }));
        self.shares_own_slots = true;
        Ok(())
    }

    /// Links the shared slots of `kernel` into this table's empty root and shares them.
    pub(crate) fn link_shared_slots(&mut self, kernel: &Self) {
        let Some(shared) = &kernel.shared else {
            return;
        };
        // SAFETY: the root is a live table page of this table.
        let root = unsafe { Table::new::<H>(self.root) };
        for (index, &entry) in shared.slots.clone().zip(&shared.entries) {
            root.publish(index, entry);
        }
        self.shared = Some(Arc::clone(shared));
    }

    /// The physical address of the root table (what `satp`, `TTBR0_EL1` or `CR3` points to).
    pub fn root_paddr(&self) -> PhysAddr {
        self.root
    }

    /// Limits the leaves the Linear backend creates to `largest`. Existing entries stay. A new
    /// table starts at the largest the CPU supports ([`PagingArch::largest_leaf_level`]: on
    /// x86_64 bare metal 2 MiB unless CPUID reports 1 GiB pages).
    ///
    /// # Errors
    ///
    /// [`MappingError::InvalidParam`] for a size the ISA has no leaf for (1 MiB).
    pub fn set_largest_page_size(&mut self, largest: PageSize) -> Result<(), MappingError> {
        self.largest_leaf_level = match largest {
            PageSize::Size4K => 0,
            PageSize::Size2M => 1,
            PageSize::Size1G => 2,
            PageSize::Size1M => return Err(MappingError::InvalidParam),
        }
        .min(A::LARGEST_LEAF_LEVEL);
        Ok(())
    }

    /// Replaces the TLB flush hook for this table only (`None`: the global one installed with
    /// [`vmlayer_arch::set_tlb_flush_hook`], else the ISA's local flush).
    pub fn set_tlb_flush_hook(&mut self, hook: Option<TlbFlushHook>) {
        self.flush_hook = hook;
    }

    /// Looks `vaddr` up. `None` if nothing is mapped there (PROT_NONE entries are found, with
    /// empty flags). Where the ISA has one table per half ([`PagingArch::ONE_HALF_PER_TABLE`],
    /// AArch64), an address of the other half reads the entry of its alias in this table;
    /// [`AddressSpace::query`](crate::AddressSpace::query) refuses those.
    pub fn query(&self, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.as_usize();
        if !A::is_valid_vaddr(vaddr) {
            return None;
        }
        let mut table = self.root;
        for level in (0..A::LEVELS).rev() {
            // SAFETY: `table` is the root or a table reached through a table entry of this page
            // table, so it is one of its live table pages; `&self` keeps them allocated.
            let entry = unsafe { Table::new::<H>(table) }.load(table_index(vaddr, level));
            let (paddr, flags) = match A::decode(entry, level) {
                EntryKind::Empty => return None,
                EntryKind::Table(next) => {
                    table = next;
                    continue;
                }
                EntryKind::Leaf { paddr, flags } => (paddr, flags),
                EntryKind::Reserved { paddr } => (paddr, MappingFlags::empty()),
            };
            let page_size = match level {
                0 => PageSize::Size4K,
                1 => PageSize::Size2M,
                _ => PageSize::Size1G,
            };
            let offset = vaddr & (level_size(level) - 1);
            return Some(Translation {
                paddr: paddr + offset,
                flags,
                page_size,
            });
        }
        None
    }

    /// The number of physical-address bits this table accepts: what the CPU implements
    /// ([`PagingArch::phys_addr_bits`], read when the table was created). A Linear mapping of
    /// a physical range reaching `1 << phys_addr_bits()` is refused with
    /// [`MappingError::InvalidParam`].
    pub fn phys_addr_bits(&self) -> usize {
        self.phys_addr_bits
    }

    /// Whether every byte of `[paddr, paddr + size)` (size > 0) is addressable by this CPU.
    pub(crate) fn is_addressable(&self, paddr: usize, size: usize) -> bool {
        paddr.checked_add(size - 1).is_some_and(|last| {
            self.phys_addr_bits >= usize::BITS as usize || last >> self.phys_addr_bits == 0
        })
    }

    /// The number of table pages this table owns, root included (a walk over the tables). The
    /// tables of shared root slots count for the kernel space that created them, not for the
    /// user spaces that link them.
    pub fn table_page_count(&self) -> usize {
        let top = A::LEVELS - 1;
        if top == 0 {
            return 1;
        }
        // SAFETY: the root is a live table page of this table, kept by `&self`.
        let root = unsafe { Table::new::<H>(self.root) };
        1 + (0..ENTRY_COUNT)
            .filter(|&index| self.shares_own_slots || !self.is_shared_slot(index))
            .filter_map(|index| match A::decode(root.load(index), top) {
                EntryKind::Table(next) => Some(count_tables::<H, A>(next, top - 1)),
                _ => None,
            })
            .sum::<usize>()
    }
}

impl<H: PagingHandler, A: PagingArch> Drop for PageTable<H, A> {
    /// Frees every table page, after a flush of everything (walk caches and global entries
    /// included) so that no CPU can still walk them. Frames the leaves still point to are not
    /// freed: the backends own them ([`AddressSpace`](crate::AddressSpace) unmaps everything
    /// before its table drops).
    fn drop(&mut self) {
        let mut batch = self.batch();
        batch.table_unlinked();
        // (The last table sharing the kernel half frees the kernel's tables too.)
        batch.force_global();
        let top = A::LEVELS - 1;
        // SAFETY: the root is a live table page of this table; the batch frees nothing before
        // its flush, after this walk has read it.
        let root = unsafe { Table::new::<H>(self.root) };
        for index in (0..ENTRY_COUNT).filter(|&index| !self.is_shared_slot(index)) {
            if let EntryKind::Table(next) = A::decode(root.load(index), top) {
                free_tables::<H, A>(next, top - 1, &mut batch);
            }
        }
        batch.release(self.root);
        // The last table sharing the kernel half frees its tables (and what hangs below them).
        if let Some(shared) = self.shared.take().and_then(Arc::into_inner) {
            for &table in &shared.tables {
                free_tables::<H, A>(table, top - 1, &mut batch);
            }
        }
        batch.finish();
    }
}

impl<H: PagingHandler, A: PagingArch> fmt::Debug for PageTable<H, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageTable")
            .field("arch", &A::NAME)
            .field("root", &self.root)
            .finish()
    }
}

/// A live table page, read and written entry by entry through atomic accesses.
///
/// Table memory is shared with the hardware walker (which may set Accessed / Dirty bits in
/// entries at any time) and, on SMP, with other CPUs that walk or change the same tables, so it
/// is never behind a Rust reference to plain integers: every entry is an `AtomicU64` accessed
/// with relaxed ordering (a plain load or store on every supported ISA), except that linking a
/// new table uses release ordering so that its zeroed or filled entries are visible first (as
/// Linux's `pmd_populate` orders them with `smp_wmb`).
#[derive(Clone, Copy)]
pub(crate) struct Table {
    entries: *const AtomicU64,
}

impl Table {
    /// The table page at `paddr`.
    ///
    /// # Safety
    ///
    /// `paddr` must be a 4 KiB aligned table page that `H::phys_to_virt` maps, and stay
    /// allocated while the returned handle is used.
    #[inline(always)]
    pub(crate) unsafe fn new<H: PagingHandler>(paddr: PhysAddr) -> Self {
        Self {
            entries: H::phys_to_virt(paddr).as_ptr().cast::<AtomicU64>(),
        }
    }

    /// The entry at `index` (< [`ENTRY_COUNT`]).
    #[inline(always)]
    pub(crate) fn load(self, index: usize) -> u64 {
        debug_assert!(index < ENTRY_COUNT);
        // SAFETY: `new`'s contract makes the page live and aligned; `index` is in the page.
        unsafe { (*self.entries.add(index)).load(Ordering::Relaxed) }
    }

    /// Writes the entry at `index` (< [`ENTRY_COUNT`]).
    #[inline(always)]
    pub(crate) fn store(self, index: usize, entry: u64) {
        debug_assert!(index < ENTRY_COUNT);
        // SAFETY: as in `load`.
        unsafe { (*self.entries.add(index)).store(entry, Ordering::Relaxed) }
    }

    /// Writes the entry at `index` that links a new table, after every earlier store (the new
    /// table's entries) is visible.
    #[inline(always)]
    pub(crate) fn publish(self, index: usize, entry: u64) {
        debug_assert!(index < ENTRY_COUNT);
        // SAFETY: as in `load`.
        unsafe { (*self.entries.add(index)).store(entry, Ordering::Release) }
    }

    /// The entries `first..first + count` (within the table) as atomics, for the tight loops
    /// over a leaf table. A shared slice of `AtomicU64` is sound over memory that the MMU or
    /// other CPUs write: every access through it is atomic.
    #[inline(always)]
    pub(crate) fn slots<'a>(self, first: usize, count: usize) -> &'a [AtomicU64] {
        debug_assert!(first + count <= ENTRY_COUNT);
        // SAFETY: `new`'s contract makes the page live and aligned; the range is in the page.
        unsafe { core::slice::from_raw_parts(self.entries.add(first), count) }
    }

    /// Whether every entry is zero (the walker always clears entries to zero).
    pub(crate) fn is_empty(self) -> bool {
        (0..ENTRY_COUNT).all(|index| self.load(index) == 0)
    }
}

/// Allocates and zeroes a table page.
pub(crate) fn alloc_table<H: PagingHandler>() -> Result<PhysAddr, MappingError> {
    alloc_zeroed_frame::<H>()
}

/// Allocates a frame from `H` and fills it with zeros.
pub(crate) fn alloc_zeroed_frame<H: PagingHandler>() -> Result<PhysAddr, MappingError> {
    let paddr = H::alloc_frame().ok_or(MappingError::NoMemory)?;
    // SAFETY: `H` just handed us this 4 KiB frame; `phys_to_virt` maps it and nobody else uses it.
    unsafe { core::ptr::write_bytes(H::phys_to_virt(paddr).as_mut_ptr(), 0, 0x1000) };
    Ok(paddr)
}

/// Hands the table at `paddr` (at `level`) and every table below it to `batch` for freeing.
fn free_tables<H: PagingHandler, A: PagingArch>(
    paddr: PhysAddr,
    level: usize,
    batch: &mut Batch<'_, A, H>,
) {
    if level > 0 {
        // SAFETY: `paddr` is a live table page of the table being dropped: the batch frees
        // nothing before its flush, after this walk has read it.
        let table = unsafe { Table::new::<H>(paddr) };
        for index in 0..ENTRY_COUNT {
            if let EntryKind::Table(next) = A::decode(table.load(index), level) {
                free_tables::<H, A>(next, level - 1, batch);
            }
        }
    }
    batch.release(paddr);
}

/// Counts the table at `paddr` and every table below it.
fn count_tables<H: PagingHandler, A: PagingArch>(paddr: PhysAddr, level: usize) -> usize {
    if level == 0 {
        return 1;
    }
    // SAFETY: `paddr` is a live table page of this page table, kept allocated by the caller's
    // `&self`.
    let table = unsafe { Table::new::<H>(paddr) };
    1 + (0..ENTRY_COUNT)
        .filter_map(|index| match A::decode(table.load(index), level) {
            EntryKind::Table(next) => Some(count_tables::<H, A>(next, level - 1)),
            _ => None,
        })
        .sum::<usize>()
}
