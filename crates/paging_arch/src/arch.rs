//! The trait every ISA crate implements, and the decoded form of one entry.

use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::{GenericPTE, MappingFlags, PagingMetaData};

use crate::TlbFlushRequest;

/// Entries per table: 512 eight-byte entries in a 4 KiB page, on every supported ISA.
pub const ENTRY_COUNT: usize = 512;

/// The access permissions; a leaf with none of them is PROT_NONE and must be encoded with
/// [`PagingArch::encode_reserved`].
pub const ACCESS_FLAGS: MappingFlags = MappingFlags::READ
    .union(MappingFlags::WRITE)
    .union(MappingFlags::EXECUTE);

/// What one page-table entry holds, as the ISA-neutral walker sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EntryKind {
    /// Nothing is mapped here (the hardware treats the entry as invalid).
    Empty,
    /// A pointer to the next-level table at this physical address.
    Table(PhysAddr),
    /// A page (level 0) or block (level >= 1) of `level_size(level)` bytes at `paddr`.
    Leaf {
        /// Physical address of the page or block, aligned to its size.
        paddr: PhysAddr,
        /// The permissions and attributes, normalized by the ISA (see
        /// [`PagingArch::encode_leaf`]).
        flags: MappingFlags,
    },
    /// PROT_NONE: invalid to the hardware (every access faults) but still owning the page or
    /// block at `paddr`, so a later `protect` restores the same frames.
    Reserved {
        /// Physical address of the page or block, aligned to its size.
        paddr: PhysAddr,
    },
}

/// The size in bytes that one entry of a table at `level` covers: level 0 maps 4 KiB pages,
/// level 1 2 MiB blocks, level 2 1 GiB blocks, level 3 512 GiB.
///
/// ```
/// assert_eq!(vmlayer_arch::level_size(0), 0x1000);
/// assert_eq!(vmlayer_arch::level_size(1), 0x20_0000);
/// assert_eq!(vmlayer_arch::level_size(2), 0x4000_0000);
/// ```
pub const fn level_size(level: usize) -> usize {
    0x1000 << (9 * level)
}

/// The index of `vaddr` in a table at `level` (bits `12 + 9 * level ..` of the address).
///
/// ```
/// assert_eq!(vmlayer_arch::table_index(0x4020_3000, 0), 3);
/// assert_eq!(vmlayer_arch::table_index(0x4020_3000, 1), 1);
/// assert_eq!(vmlayer_arch::table_index(0x4020_3000, 2), 1);
/// ```
pub const fn table_index(vaddr: usize, level: usize) -> usize {
    (vaddr >> (12 + 9 * level)) & (ENTRY_COUNT - 1)
}

/// The ISA contract: how one ISA encodes page-table entries, flushes its TLB and switches
/// address spaces.
///
/// Entries are handled as raw `u64` (every supported ISA uses 64-bit entries in 4 KiB tables
/// of [`ENTRY_COUNT`] entries). Levels count from the leaves: level 0 tables hold 4 KiB pages,
/// the root table is at level `LEVELS - 1`.
///
/// # Safety
///
/// The ISA-neutral walker writes through the physical addresses this trait decodes, so an
/// implementation must guarantee, for every `level < LEVELS` and every address the encoders
/// accept:
///
/// - `decode(0, level) == EntryKind::Empty`;
/// - `decode(encode_table(pa), level) == EntryKind::Table(pa)` for `level >= 1`;
/// - `decode(encode_leaf(pa, flags, level), level) == EntryKind::Leaf { paddr: pa, flags: f }`
///   where `f` contains every access flag of `flags` except that `EXECUTE` may be dropped on
///   `DEVICE` memory (device memory is never executable where the ISA can say so), differs from
///   `flags` otherwise at most by an added `READ` or dropped `DEVICE` / `UNCACHED` the ISA
///   cannot express, and keeps `USER` exactly;
/// - `decode(encode_reserved(pa, level), level) == EntryKind::Reserved { paddr: pa }`, the
///   entry is non-zero and the hardware treats it as invalid (no access at any privilege, never
///   as a table pointer);
/// - `decode` returns `Table` only for entries the hardware walks as table pointers, and never at
///   level 0.
///
/// [`conformance::assert_conforms`](crate::conformance::assert_conforms) checks the decodable
/// part of this contract; each ISA crate runs it in its tests.
pub unsafe trait PagingArch: 'static + Sized {
    /// A short name for messages: `"x86_64"`, `"aarch64"`, `"riscv64-sv39"`.
    const NAME: &'static str;

    /// page_table_multiarch's metadata for this ISA (used to compare against upstream's
    /// `PageTable64` and for its level count).
    type MetaData: PagingMetaData<VirtAddr = VirtAddr>;

    /// page_table_entry's entry type for this ISA.
    type Entry: GenericPTE;

    /// Number of table levels (4 on x86_64 and AArch64, 3 on Sv39).
    const LEVELS: usize = <Self::MetaData as PagingMetaData>::LEVELS;

    /// Number of implemented virtual-address bits (48, or 39 on Sv39).
    const VA_BITS: usize = <Self::MetaData as PagingMetaData>::VA_MAX_BITS;

    /// Number of physical-address bits the entry format can hold (the architectural maximum;
    /// the CPU may implement fewer, see [`Self::phys_addr_bits`]).
    const PA_BITS: usize = <Self::MetaData as PagingMetaData>::PA_MAX_BITS;

    /// The highest level that may hold a leaf: 2 (1 GiB blocks) on every supported ISA.
    const LARGEST_LEAF_LEVEL: usize = 2;

    /// Whether replacing a valid entry by one of a different size (a block by a table of
    /// smaller entries when splitting, or back) needs break-before-make: write an invalid
    /// entry, flush the TLB for the block, then write the new entry. The Arm ARM requires it
    /// for AArch64 without FEAT_BBM (level 2); x86_64 and RISC-V allow the direct replacement.
    /// With it, `protect` also breaks before it makes when a live leaf's memory type (`DEVICE`,
    /// `UNCACHED`) or owner (`USER`, i.e. global vs non-global) changes: those leaves first
    /// become PROT_NONE entries (invalid, frame kept), the TLB is flushed, then the new leaves
    /// are written. During the break, an access to the block faults;
    /// `AddressSpace::handle_page_fault` treats such a fault as spurious once the new entry is
    /// written. Default `false`.
    const BREAK_BEFORE_MAKE: bool = false;

    /// Whether the two halves of the address space are translated by separate root tables
    /// (AArch64: `TTBR0_EL1` below, `TTBR1_EL1` above), so that a table indexes an upper-half
    /// address with the same bits as a lower-half one and must hold addresses of one half
    /// only. `AddressSpace` then refuses a map in the other half than its areas'. Default
    /// `false` (x86_64 and RISC-V index the sign-extended address: no two valid addresses
    /// alias).
    const ONE_HALF_PER_TABLE: bool = false;

    /// The highest leaf level this CPU supports, at most [`Self::LARGEST_LEAF_LEVEL`]. The
    /// default returns that constant; an ISA whose large leaves are optional (x86_64 1 GiB
    /// pages need `pdpe1gb`) checks the CPU on bare metal. Page tables read it when created.
    fn largest_leaf_level() -> usize {
        Self::LARGEST_LEAF_LEVEL
    }

    /// Whether `vaddr` can be translated by a table of this ISA. The default accepts addresses
    /// whose bits above `VA_BITS - 1` are a sign extension (canonical addresses).
    fn is_valid_vaddr(vaddr: usize) -> bool {
        let top_mask = usize::MAX << (Self::VA_BITS - 1);
        vaddr & top_mask == 0 || vaddr & top_mask == top_mask
    }

    /// The number of physical-address bits this CPU implements, at most [`Self::PA_BITS`]: an
    /// entry holding an address at or above `1 << phys_addr_bits()` has reserved bits set
    /// (x86: a `RSVD` fault on every access) or addresses nothing. ISA crates read it from the
    /// CPU on bare metal (x86 `CPUID.80000008H:EAX[7:0]`, AArch64
    /// `ID_AA64MMFR0_EL1.PARange`) and document their hosted default. Page tables read it when
    /// created. The default returns [`Self::PA_BITS`].
    fn phys_addr_bits() -> usize {
        Self::PA_BITS
    }

    /// Whether `paddr` fits in an entry of this ISA's format (see [`Self::phys_addr_bits`] for
    /// what the CPU can address).
    fn is_valid_paddr(paddr: usize) -> bool {
        Self::PA_BITS >= usize::BITS as usize || paddr >> Self::PA_BITS == 0
    }

    /// A valid leaf at `level` mapping `paddr` with `flags`.
    ///
    /// `flags` contains at least one of [`ACCESS_FLAGS`] (the walker encodes an access-less
    /// leaf with [`Self::encode_reserved`]). An ISA that cannot express a combination grants
    /// `READ` in addition (write-only, execute-only) and ignores attributes it has no bits for;
    /// `DEVICE` selects device memory, `UNCACHED` normal non-cacheable memory.
    fn encode_leaf(paddr: PhysAddr, flags: MappingFlags, level: usize) -> u64;

    /// A pointer to the next-level table at `paddr`, permissive at this level (the leaf decides
    /// the access rights).
    fn encode_table(paddr: PhysAddr) -> u64;

    /// PROT_NONE at `level`: invalid to the hardware, but remembering `paddr` (with a software
    /// bit so that even `paddr == 0` gives a non-zero entry).
    fn encode_reserved(paddr: PhysAddr, level: usize) -> u64;

    /// Decodes an entry read from a table at `level`.
    fn decode(entry: u64, level: usize) -> EntryKind;

    /// Flushes this CPU's TLB as `request` says: the leaf translations of `request.flush`,
    /// non-leaf (walk-cache) entries too when `tables_changed`, and without sparing global
    /// entries when `global_changed`; tagged with `request.asid` (whether or not that ASID is
    /// the one this CPU runs now), or every ASID when `global_changed`. Only bare-metal builds
    /// (`target_os = "none"`) execute an instruction; hosted builds (unit tests) compile it as
    /// a no-op. (AArch64's implementation is the broadcast `TLBI …IS` form, which covers every
    /// CPU of the Inner Shareable domain.)
    fn flush_tlb_local(request: &TlbFlushRequest);

    /// The ASID bits this CPU implements and this crate can use (RISC-V: the `satp.ASID` bits
    /// that stick, probed; AArch64: 16 if `ID_AA64MMFR0_EL1.ASIDBits` and `TCR_EL1.AS` allow,
    /// else 8; x86: 12 with CPUID's PCID and INVPCID, else 0). 0 means "no ASIDs": every
    /// address space runs with ASID 0 and a switch flushes. Hosted builds and the default: 0.
    fn asid_bits() -> u32 {
        0
    }

    /// `entry` (a leaf made by [`Self::encode_leaf`]) without the global attribute (RISC-V
    /// `G` cleared, AArch64 `nG` set): a leaf of a space that tags its translations with an
    /// ASID must not survive a switch to another space. Default: `entry` (no global bit).
    fn non_global(entry: u64) -> u64 {
        entry
    }

    /// Makes `[kernel_vaddr, kernel_vaddr + size)` (the kernel's alias of frames about to be
    /// mapped executable) coherent for instruction fetches on this CPU, see [`crate::cache`].
    /// Default: nothing (ISAs whose instruction fetches are coherent, x86_64).
    fn sync_instruction_cache(kernel_vaddr: VirtAddr, size: usize) {
        let _ = (kernel_vaddr, size);
    }

    /// Makes the table at `root_paddr` the current user (lower-half) address space of this CPU
    /// and flushes its non-global TLB entries.
    ///
    /// # Errors
    ///
    /// [`ActivateError::ModeNotSupported`] if the CPU did not take the translation mode (RISC-V
    /// `satp.MODE` is WARL: a core without Sv48 keeps the old value); the previous address
    /// space is still active then.
    ///
    /// # Safety
    ///
    /// `root_paddr` must be the root of a complete table of this ISA that maps the code, stack
    /// and data the CPU uses from here on, and it must stay alive while it is active.
    #[cfg(target_os = "none")]
    unsafe fn activate(root_paddr: PhysAddr) -> Result<(), ActivateError>;

    /// Like [`Self::activate`], but tags the space's translations with `asid` (at most
    /// [`Self::asid_bits`] bits; 0 = none) and does **not** flush them: the translations this
    /// CPU cached for `asid` stay valid. With `flush_local`, this CPU drops every non-global
    /// translation of every ASID (an ASID allocator's rollover asks for it) **after** the root
    /// write and before any access through the new root: until the write, the old root may
    /// still refill translations under the old ASID, which the rollover may have handed to
    /// another space.
    /// Default (ISAs without ASIDs): `activate`, which flushes.
    ///
    /// # Errors
    ///
    /// As [`Self::activate`].
    ///
    /// # Safety
    ///
    /// As [`Self::activate`]; moreover, the translations this CPU holds for `asid` must be
    /// translations of this table (an ASID allocator guarantees it).
    #[cfg(target_os = "none")]
    unsafe fn activate_asid(
        root_paddr: PhysAddr,
        asid: u16,
        flush_local: bool,
    ) -> Result<(), ActivateError> {
        let _ = (asid, flush_local);
        // SAFETY: forwarded contract; `activate` flushes, which is at least as strong.
        unsafe { Self::activate(root_paddr) }
    }

    /// The physical address of this CPU's current (lower-half) root table.
    #[cfg(target_os = "none")]
    fn current_root() -> PhysAddr;
}

/// Why [`PagingArch`]'s `activate` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActivateError {
    /// The CPU does not implement the translation mode the table is built for (read back from
    /// the root register after the write).
    ModeNotSupported,
}

impl core::fmt::Display for ActivateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ModeNotSupported => f.write_str("the CPU does not support this translation mode"),
        }
    }
}

impl core::error::Error for ActivateError {}
