//! `address_space_ops`: operation sequences on `vmlayer_paging::AddressSpace` (the host's ISA,
//! x86_64) against a page-granular model, with frame allocations that fail on demand.
//!
//! The world: a kernel space over a 4 MiB window of the upper half and up to three user spaces
//! made from it (`new_user`, `fork`) over a 4 MiB window of the lower half, all counting shared
//! frames in one `FrameTable`. Operations: `map_linear`, `map_alloc` (lazy, populated), `map`
//! (Linear / Alloc / Shared, `MAP_FIXED` or not), `unmap`, `protect`, `mprotect`,
//! `resize_area`, `mremap` (in place, may move, fixed), `handle_page_fault` (read / write /
//! execute, user / kernel, every `FaultCause`, SMAP on or off, `.on_cpu(n)`), `fork`, exit,
//! `clear`, `read_user`, `write_user`, `load`, `populate`, `translate_user`. Each runs with a
//! frame budget decoded from the input.
//!
//! After every step, for every space and every page of its window: the page's area (flags and
//! backend) is the model's; a page without area has no translation; a Linear page translates to
//! its physical address, a populated (Alloc eager, Shared) page always has a frame, a lazy page
//! may; the entry's flags are the area's (or, for a private page after fork, the area's without
//! `WRITE`); the first byte of every frame is what the model says was written there. Across
//! spaces: every frame mapped is live, its `FrameTable` count is its mappings minus one, a
//! private frame mapped more than once is never writable, and the frames the allocator has out
//! are exactly the table pages plus the distinct frames mapped. After the last space is dropped
//! no frame is live and every count is 0. Each operation's result is predicted from the model
//! (and `NoMemory` is accepted only if an allocation was refused during it); an operation whose
//! contract says that an error changes nothing is checked for it.

#![no_main]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU32;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vmlayer_arch::ACCESS_FLAGS;
use vmlayer_paging::{
    Access, AddressSpace, Arch, Area, Backend, EntryKind, FaultCause, FaultError, FaultResolution,
    FrameTable, MappingError, MappingFlags, PageFaultInfo, PagingArch, PagingHandler, PhysAddr,
    Placement, Remap, VirtAddr, VirtAddrRange,
};

const PAGE: usize = 0x1000;
/// Pages of each space's window (its whole range): two 2 MiB blocks.
const WINDOW_PAGES: usize = 1024;
const USER_BASE: usize = 0x4000_0000;
/// The last 512 GiB root slot of the upper half.
const KERNEL_BASE: usize = 0xffff_ff80_0000_0000;
const MAX_SPACES: usize = 4;
const MAX_STEPS: usize = 48;

/// The frame pool: host memory, handed out as physical addresses from `POOL_PA` on.
const POOL_FRAMES: usize = 8192;
const POOL_PA: usize = 0x8000_0000;
/// Physical addresses Linear areas map (outside the pool): the kernel's view of them is a
/// scratch buffer they all alias, so that the user-memory helpers can touch them.
const LINEAR_PA: usize = 0x1_0000_0000;
const SCRATCH_PAGES: usize = 4;

struct Pool {
    host: usize,
    scratch: usize,
    free: Vec<usize>,
    live: Vec<bool>,
    live_count: usize,
    /// Allocations that may still succeed in this step.
    budget: Option<usize>,
    /// An allocation was refused in this step.
    refused: bool,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::new());
}

static COUNTS: [AtomicU32; POOL_FRAMES] = [const { AtomicU32::new(0) }; POOL_FRAMES];
static FRAMES: FrameTable = FrameTable::new(PhysAddr::from_usize(POOL_PA), &COUNTS);

impl Pool {
    fn new() -> Self {
        let layout = std::alloc::Layout::from_size_align(POOL_FRAMES * PAGE, PAGE).unwrap();
        // SAFETY: non-zero size; the pool lives as long as the process.
        let host = unsafe { std::alloc::alloc(layout) } as usize;
        let scratch_layout =
            std::alloc::Layout::from_size_align(SCRATCH_PAGES * PAGE, PAGE).unwrap();
        // SAFETY: as above.
        let scratch = unsafe { std::alloc::alloc_zeroed(scratch_layout) } as usize;
        assert!(host != 0 && scratch != 0);
        Self {
            host,
            scratch,
            free: (0..POOL_FRAMES)
                .rev()
                .map(|frame| POOL_PA + frame * PAGE)
                .collect(),
            live: vec![false; POOL_FRAMES],
            live_count: 0,
            budget: None,
            refused: false,
        }
    }
}

fn in_pool(pa: usize) -> bool {
    (POOL_PA..POOL_PA + POOL_FRAMES * PAGE).contains(&pa)
}

fn frame_live(pa: usize) -> bool {
    POOL.with_borrow(|pool| pool.live[(pa - POOL_PA) / PAGE])
}

fn live_frames() -> usize {
    POOL.with_borrow(|pool| pool.live_count)
}

/// Lets only `budget` allocations succeed from now on (`None`: all) and forgets refusals.
fn set_budget(budget: Option<usize>) {
    POOL.with_borrow_mut(|pool| {
        pool.budget = budget;
        pool.refused = false;
    });
}

/// Whether an allocation was refused since the last `set_budget`.
fn refused() -> bool {
    POOL.with_borrow(|pool| pool.refused)
}

struct Frames;

impl PagingHandler for Frames {
    fn alloc_frames(count: usize, align: usize) -> Option<PhysAddr> {
        assert!(
            count == 1 && align <= PAGE,
            "asked for {count} frames aligned {align:#x}"
        );
        POOL.with_borrow_mut(|pool| {
            if pool.budget == Some(0) || pool.free.is_empty() {
                pool.refused = true;
                return None;
            }
            if let Some(budget) = &mut pool.budget {
                *budget -= 1;
            }
            let pa = pool.free.pop()?;
            let index = (pa - POOL_PA) / PAGE;
            assert!(!pool.live[index]);
            pool.live[index] = true;
            pool.live_count += 1;
            // Poisoned: whatever the library uses it must zero.
            // SAFETY: a frame of the pool, 4 KiB, free until now.
            unsafe { std::ptr::write_bytes((pool.host + index * PAGE) as *mut u8, 0xa5, PAGE) };
            Some(PhysAddr::from(pa))
        })
    }

    fn dealloc_frames(paddr: PhysAddr, count: usize) {
        let pa = paddr.as_usize();
        assert!(
            count == 1 && in_pool(pa) && pa.is_multiple_of(PAGE),
            "freeing {count} at {pa:#x}"
        );
        POOL.with_borrow_mut(|pool| {
            let index = (pa - POOL_PA) / PAGE;
            assert!(pool.live[index], "double free of {pa:#x}");
            pool.live[index] = false;
            pool.live_count -= 1;
            // SAFETY: a frame of the pool that was live.
            unsafe { std::ptr::write_bytes((pool.host + index * PAGE) as *mut u8, 0x5a, PAGE) };
            pool.free.push(pa);
        });
    }

    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        let pa = paddr.as_usize();
        POOL.with_borrow(|pool| {
            if in_pool(pa) {
                VirtAddr::from(pool.host + (pa - POOL_PA))
            } else {
                VirtAddr::from(pool.scratch + pa % (SCRATCH_PAGES * PAGE))
            }
        })
    }
}

/// The first byte of the frame at `pa` (in the pool).
fn first_byte(pa: usize) -> u8 {
    let host = Frames::phys_to_virt(PhysAddr::from(pa & !(PAGE - 1))).as_usize();
    // SAFETY: a live pool frame (checked by the caller); the library writes user memory with
    // atomics only while it runs, never concurrently with this read.
    unsafe { (host as *const u8).read_volatile() }
}

type Space = AddressSpace<Frames>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// The physical address of this page.
    Linear(usize),
    Alloc(bool),
    Shared,
}

#[derive(Clone, Copy, PartialEq, Debug)]
struct Page {
    flags: MappingFlags,
    kind: Kind,
    /// The first byte of a private (Alloc) page; Shared pages keep theirs by frame.
    data: u8,
}

type Model = BTreeMap<usize, Page>;

/// What the model knows of a CPU's last spurious fault in a space.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Spurious {
    Known((usize, Access, bool)),
    Unknown,
}

struct Entry {
    space: Space,
    model: Model,
    base: usize,
    kernel: bool,
    /// Per CPU; a CPU not listed has none.
    spurious: BTreeMap<usize, Spurious>,
    /// The pool frames the window maps, as of the last scan; `None`: to scan again.
    scan: Option<Vec<(usize, usize, bool, Kind)>>,
}

impl Entry {
    fn in_window(&self, start: usize, size: usize) -> bool {
        start >= self.base
            && start
                .checked_add(size)
                .is_some_and(|end| end <= self.base + WINDOW_PAGES * PAGE)
    }

    fn pages(&self) -> impl Iterator<Item = usize> + use<> {
        (self.base..self.base + WINDOW_PAGES * PAGE).step_by(PAGE)
    }

    fn overlaps(&self, start: usize, size: usize) -> bool {
        self.model
            .range(start..start.saturating_add(size))
            .next()
            .is_some()
    }

    /// An operation that certainly forgot every spurious fault.
    fn forget_spurious(&mut self) {
        self.spurious.clear();
    }

    /// An operation that may have forgotten them.
    fn maybe_forget_spurious(&mut self) {
        for state in self.spurious.values_mut() {
            *state = Spurious::Unknown;
        }
    }

    /// The area of `page` as (start, end, flags, kind of `page`).
    fn area(&self, page: usize) -> Option<(usize, usize, MappingFlags, Kind)> {
        let area = self.space.find_area(VirtAddr::from(page))?;
        Some((
            area.start().as_usize(),
            area.end().as_usize(),
            area.flags(),
            kind_of(area.backend(), page),
        ))
    }
}

fn kind_of(backend: &Backend, page: usize) -> Kind {
    match *backend {
        Backend::Linear { .. } => Kind::Linear(
            backend
                .linear_paddr(VirtAddr::from(page))
                .unwrap()
                .as_usize(),
        ),
        Backend::Alloc { populate } => Kind::Alloc(populate),
        Backend::Shared => Kind::Shared,
    }
}

/// The flags the ISA reports for a leaf mapped with `flags`; empty for PROT_NONE.
fn normalized(flags: MappingFlags) -> MappingFlags {
    if !flags.intersects(ACCESS_FLAGS) {
        return MappingFlags::empty();
    }
    match Arch::decode(Arch::encode_leaf(PhysAddr::from(0), flags, 0), 0) {
        EntryKind::Leaf { flags, .. } => flags,
        other => panic!("a leaf decodes as {other:?}"),
    }
}

// ---- the input ----

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Pages {
    Few(u8),
    Block(u8),
}

impl Pages {
    fn bytes(self) -> usize {
        match self {
            Self::Few(pages) => usize::from(pages % 16) * PAGE,
            Self::Block(kind) => [512, 1024, 511, 513, 0][usize::from(kind % 5)] * PAGE,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Pa {
    Window(u16),
    Raw(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum KindArg {
    Linear(Pa),
    Alloc(bool),
    Shared,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum AccessArg {
    Read,
    Write,
    Execute,
}

impl AccessArg {
    fn access(self) -> Access {
        match self {
            Self::Read => Access::Read,
            Self::Write => Access::Write,
            Self::Execute => Access::Execute,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum HowArg {
    InPlace,
    MayMove,
    Fixed(u16),
}

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    MapLinear {
        page: u16,
        pa: Pa,
        size: Pages,
        flags: u8,
    },
    MapAlloc {
        page: u16,
        size: Pages,
        flags: u8,
        populate: bool,
    },
    Map {
        page: u16,
        size: Pages,
        flags: u8,
        kind: KindArg,
        fixed: bool,
    },
    Unmap {
        page: u16,
        size: Pages,
    },
    Protect {
        page: u16,
        size: Pages,
        flags: u8,
    },
    Mprotect {
        page: u16,
        size: Pages,
        access: u8,
    },
    Resize {
        page: u16,
        size: Pages,
    },
    Mremap {
        page: u16,
        old: Pages,
        new: Pages,
        how: HowArg,
    },
    Fault {
        page: u16,
        offset: u16,
        access: AccessArg,
        user: bool,
        cpu: u8,
        cause: u8,
        smap_open: bool,
    },
    Fork,
    Exit,
    Clear,
    ReadUser {
        page: u16,
        offset: u16,
        len: u16,
    },
    WriteUser {
        page: u16,
        offset: u16,
        len: u16,
        value: u8,
    },
    Load {
        page: u16,
        offset: u16,
        len: u16,
        value: u8,
    },
    Populate {
        page: u16,
        size: Pages,
    },
    TranslateUser {
        page: u16,
        access: AccessArg,
    },
}

#[derive(Arbitrary, Debug, Clone)]
struct Step {
    space: u8,
    budget: Option<u8>,
    op: Op,
}

#[derive(Arbitrary, Debug)]
struct Input {
    steps: Vec<Step>,
}

// ---- the world ----

struct World {
    /// `spaces[0]` is the kernel space.
    spaces: Vec<Entry>,
    /// The first byte of every Shared frame, by physical address.
    shared: BTreeMap<usize, u8>,
}

/// How a user-memory helper checks the pages it touches (as `user_access.rs` does).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Check {
    User(Access),
    Load,
    AreaOnly,
}

fn flags_arg(bits: u8, kernel: bool) -> MappingFlags {
    let mut flags = MappingFlags::from_bits_truncate(usize::from(bits & 0x3f));
    if bits & 0xc0 != 0 {
        flags.set(MappingFlags::USER, !kernel);
    }
    flags
}

impl World {
    fn address(&self, s: usize, page: u16) -> usize {
        self.spaces[s].base + usize::from(page) % (WINDOW_PAGES + 32) * PAGE
    }

    /// The data the model expects in the first byte of `page` of space `s`, if it knows it.
    fn expected_byte(&self, s: usize, page: usize) -> Option<u8> {
        let entry = &self.spaces[s];
        let model = entry.model.get(&page)?;
        match model.kind {
            Kind::Linear(_) => None,
            Kind::Alloc(_) => Some(model.data),
            Kind::Shared => {
                let pa = entry.space.query(VirtAddr::from(page))?.paddr.as_usize();
                Some(self.shared.get(&pa).copied().unwrap_or(0))
            }
        }
    }

    /// Rebuilds space `s`'s model from its areas and frames (after an error whose contract
    /// leaves a choice), and forgets its spurious faults.
    fn resync(&mut self, s: usize) {
        let entry = &mut self.spaces[s];
        let mut model = Model::new();
        for page in entry.pages() {
            let Some((_, _, flags, kind)) = entry.area(page) else {
                continue;
            };
            let pa = entry
                .space
                .query(VirtAddr::from(page))
                .map(|t| t.paddr.as_usize());
            let data = match (kind, pa) {
                (Kind::Alloc(_), Some(pa)) if in_pool(pa) => first_byte(pa),
                (Kind::Shared, Some(pa)) if in_pool(pa) => {
                    self.shared.insert(pa, first_byte(pa));
                    0
                }
                _ => 0,
            };
            model.insert(page, Page { flags, kind, data });
        }
        entry.model = model;
        entry.maybe_forget_spurious();
    }

    /// Gives fresh Shared frames of `[start, start + size)` in space `s` their zero byte.
    fn fresh_shared(&mut self, s: usize, start: usize, size: usize) {
        for page in (start..start + size).step_by(PAGE) {
            if self.spaces[s]
                .model
                .get(&page)
                .is_some_and(|p| p.kind == Kind::Shared)
            {
                let t = self.spaces[s]
                    .space
                    .query(VirtAddr::from(page))
                    .expect("shared page");
                self.shared.insert(t.paddr.as_usize(), 0);
            }
        }
    }

    fn run(&mut self, step: &Step) {
        let s = usize::from(step.space) % self.spaces.len();
        let kernel = self.spaces[s].kernel;
        let what = format!("{:?} in space {s}", step.op);
        match step.op {
            Op::MapLinear {
                page,
                pa,
                size,
                flags,
            } => {
                let start = self.address(s, page);
                let (size, flags) = (size.bytes(), flags_arg(flags, kernel));
                let pa = match pa {
                    Pa::Window(page) => LINEAR_PA + usize::from(page % 2048) * PAGE,
                    Pa::Raw(raw) => raw as usize & !(PAGE - 1),
                };
                if pa
                    .checked_add(size)
                    .is_none_or(|end| end > POOL_PA && pa < POOL_PA + POOL_FRAMES * PAGE)
                {
                    return;
                }
                let entry = &mut self.spaces[s];
                let bits = entry.space.page_table().phys_addr_bits();
                let addressable = size == 0 || (pa + size - 1) >> bits == 0;
                let result =
                    entry
                        .space
                        .map_linear(VirtAddr::from(start), PhysAddr::from(pa), size, flags);
                let expected = if !entry.in_window(start, size) || size == 0 {
                    Err(MappingError::InvalidParam)
                } else if entry.overlaps(start, size) {
                    Err(MappingError::AlreadyExists)
                } else if !addressable {
                    Err(MappingError::InvalidParam)
                } else {
                    Ok(())
                };
                self.expect_map(s, result, expected, &what);
                if result.is_ok() {
                    let entry = &mut self.spaces[s];
                    for i in 0..size / PAGE {
                        let page = Page {
                            flags,
                            kind: Kind::Linear(pa + i * PAGE),
                            data: 0,
                        };
                        entry.model.insert(start + i * PAGE, page);
                    }
                }
            }
            Op::MapAlloc {
                page,
                size,
                flags,
                populate,
            } => {
                let start = self.address(s, page);
                let (size, flags) = (size.bytes(), flags_arg(flags, kernel));
                let entry = &mut self.spaces[s];
                let result = entry
                    .space
                    .map_alloc(VirtAddr::from(start), size, flags, populate);
                let expected = if !entry.in_window(start, size) || size == 0 {
                    Err(MappingError::InvalidParam)
                } else if entry.overlaps(start, size) {
                    Err(MappingError::AlreadyExists)
                } else {
                    Ok(())
                };
                self.expect_map(s, result, expected, &what);
                if result.is_ok() {
                    let entry = &mut self.spaces[s];
                    for i in 0..size / PAGE {
                        let page = Page {
                            flags,
                            kind: Kind::Alloc(populate),
                            data: 0,
                        };
                        entry.model.insert(start + i * PAGE, page);
                    }
                }
            }
            Op::Map {
                page,
                size,
                flags,
                kind,
                fixed,
            } => {
                let start = self.address(s, page);
                let (size, flags) = (size.bytes(), flags_arg(flags, kernel));
                let (backend, linear_pa) = match kind {
                    KindArg::Linear(pa) => {
                        let pa = match pa {
                            Pa::Window(page) => LINEAR_PA + usize::from(page % 2048) * PAGE,
                            Pa::Raw(raw) => raw as usize & !(PAGE - 1),
                        };
                        if pa
                            .checked_add(size)
                            .is_none_or(|end| end > POOL_PA && pa < POOL_PA + POOL_FRAMES * PAGE)
                        {
                            return;
                        }
                        (
                            Backend::linear_for(VirtAddr::from(start), PhysAddr::from(pa)),
                            Some(pa),
                        )
                    }
                    KindArg::Alloc(populate) => (Backend::Alloc { populate }, None),
                    KindArg::Shared => (Backend::Shared, None),
                };
                let entry = &mut self.spaces[s];
                let bits = entry.space.page_table().phys_addr_bits();
                let valid_pa = linear_pa.is_none_or(|pa| size == 0 || (pa + size - 1) >> bits == 0);
                let overlap = entry.overlaps(start, size);
                let placement = if fixed {
                    Placement::Fixed
                } else {
                    Placement::NoReplace
                };
                let area = Area::new(VirtAddr::from(start), size, flags, backend);
                let entry_in_window = entry.in_window(start, size) && size != 0;
                let result = entry.space.map(area, placement);
                let expected = if !entry_in_window {
                    Err(MappingError::InvalidParam)
                } else if overlap && !fixed {
                    Err(MappingError::AlreadyExists)
                } else if !valid_pa {
                    Err(MappingError::InvalidParam)
                } else {
                    Ok(())
                };
                if result.is_err() && fixed && overlap && expected.is_ok() {
                    // MAP_FIXED: what was replaced may be gone already.
                    assert!(
                        result == Err(MappingError::NoMemory) && refused(),
                        "{what}: {result:?}"
                    );
                    self.check_prefix_then_resync(s, start, size, &what);
                    return;
                }
                self.expect_map(s, result, expected, &what);
                if result.is_ok() {
                    let entry = &mut self.spaces[s];
                    let kind_of_page = |i: usize| match kind {
                        KindArg::Linear(_) => Kind::Linear(linear_pa.unwrap() + i * PAGE),
                        KindArg::Alloc(populate) => Kind::Alloc(populate),
                        KindArg::Shared => Kind::Shared,
                    };
                    for i in 0..size / PAGE {
                        let page = Page {
                            flags,
                            kind: kind_of_page(i),
                            data: 0,
                        };
                        entry.model.insert(start + i * PAGE, page);
                    }
                    self.fresh_shared(s, start, size);
                }
            }
            Op::Unmap { page, size } => {
                let (start, size) = (self.address(s, page), size.bytes());
                let entry = &mut self.spaces[s];
                let result = entry.space.unmap(VirtAddr::from(start), size);
                if !entry.in_window(start, size) && size != 0 {
                    assert_eq!(result, Err(MappingError::InvalidParam), "{what}");
                    return;
                }
                match result {
                    Ok(()) => {
                        let gone: Vec<usize> = entry
                            .model
                            .range(start..start + size)
                            .map(|(&p, _)| p)
                            .collect();
                        for page in gone {
                            entry.model.remove(&page);
                        }
                        entry.forget_spurious();
                    }
                    Err(MappingError::NoMemory) if refused() => {
                        self.check_prefix_then_resync(s, start, size, &what);
                    }
                    Err(error) => panic!("{what}: {error:?}"),
                }
            }
            Op::Protect { page, size, flags } => {
                let (start, size) = (self.address(s, page), size.bytes());
                let flags = flags_arg(flags, kernel);
                let entry = &mut self.spaces[s];
                let result = entry.space.protect(VirtAddr::from(start), size, flags);
                self.expect_protect(s, start, size, result, None, |_| flags, &what);
            }
            Op::Mprotect { page, size, access } => {
                let (start, size) = (self.address(s, page), size.bytes());
                let access = MappingFlags::from_bits_truncate(usize::from(access % 16));
                let entry = &mut self.spaces[s];
                let result = entry.space.mprotect(VirtAddr::from(start), size, access);
                let expected = if !ACCESS_FLAGS.contains(access)
                    || !entry.in_window(start, size) && size != 0
                {
                    Some(Err(MappingError::InvalidParam))
                } else if (start..start + size)
                    .step_by(PAGE)
                    .any(|p| !entry.model.contains_key(&p))
                {
                    Some(Err(MappingError::NotMapped))
                } else {
                    None
                };
                self.expect_protect(
                    s,
                    start,
                    size,
                    result,
                    expected,
                    |old| (old - ACCESS_FLAGS) | access,
                    &what,
                );
            }
            Op::Resize { page, size } => {
                let (start, new_size) = (self.address(s, page), size.bytes());
                let entry = &mut self.spaces[s];
                let area = entry.area(start).filter(|&(a_start, ..)| a_start == start);
                let result = entry.space.resize_area(VirtAddr::from(start), new_size);
                let expected = if !entry.in_window(start, new_size) && new_size != 0 {
                    Err(MappingError::InvalidParam)
                } else if let Some((_, end, _, _)) = area {
                    let new_end = start + new_size;
                    if new_end > end && entry.overlaps(end, new_end - end) {
                        Err(MappingError::AlreadyExists)
                    } else {
                        Ok(())
                    }
                } else {
                    Err(MappingError::NotMapped)
                };
                match (result, expected) {
                    (Ok(()), Ok(())) => {
                        let (_, end, flags, kind) = area.unwrap();
                        let new_end = start + new_size;
                        self.apply_resize(s, end, new_end, flags, kind);
                        self.spaces[s].forget_spurious();
                    }
                    (Err(MappingError::NoMemory), Ok(())) if refused() => {
                        self.spaces[s].maybe_forget_spurious();
                    }
                    (result, expected) => assert_eq!(result, expected, "{what}"),
                }
                if result.is_err() {
                    self.spaces[s].maybe_forget_spurious();
                }
            }
            Op::Mremap {
                page,
                old,
                new,
                how,
            } => self.mremap(s, page, old, new, how, &what),
            Op::Fault {
                page,
                offset,
                access,
                user,
                cpu,
                cause,
                smap_open,
            } => {
                let address = self.address(s, page) + usize::from(offset) % PAGE;
                let cause = [
                    FaultCause::NotPresent,
                    FaultCause::Permission,
                    FaultCause::AccessFlag,
                    FaultCause::ReservedBit,
                    FaultCause::Unspecified,
                ][usize::from(cause % 5)];
                let mut fault = PageFaultInfo::new(VirtAddr::from(address), access.access(), user)
                    .on_cpu(usize::from(cpu % 4));
                fault.cause = cause;
                fault.user_memory_access = smap_open;
                self.fault(s, fault, &what);
            }
            Op::Fork => {
                if self.spaces.len() == MAX_SPACES {
                    return;
                }
                let result = self.spaces[s].space.fork();
                match result {
                    Ok(child) => {
                        assert!(!kernel, "{what}: a kernel space forked");
                        let parent = &mut self.spaces[s];
                        parent.forget_spurious();
                        let entry = Entry {
                            space: child,
                            model: parent.model.clone(),
                            base: parent.base,
                            kernel: false,
                            spurious: BTreeMap::new(),
                            scan: None,
                        };
                        self.spaces.push(entry);
                    }
                    Err(MappingError::InvalidParam) => assert!(kernel, "{what}"),
                    Err(MappingError::NoMemory) if refused() => {
                        // The parent may have pages made read-only: the check allows it.
                        self.spaces[s].maybe_forget_spurious();
                    }
                    Err(error) => panic!("{what}: {error:?}"),
                }
            }
            Op::Exit => {
                if !kernel {
                    self.spaces.swap_remove(s);
                }
            }
            Op::Clear => {
                let result = self.spaces[s].space.clear();
                assert_eq!(result, Ok(()), "{what}");
                self.spaces[s].model.clear();
                self.spaces[s].forget_spurious();
            }
            Op::ReadUser { page, offset, len } => {
                let address = self.address(s, page) + usize::from(offset) % PAGE;
                let len = usize::from(len) % (3 * PAGE);
                let expected = self.predict_helper(s, address, len, Check::User(Access::Read));
                let mut buffer = vec![0u8; len];
                let result = self.spaces[s]
                    .space
                    .read_user(VirtAddr::from(address), &mut buffer);
                self.expect_helper(s, result, expected, &what);
                if result.is_ok() {
                    for page in (address.next_multiple_of(PAGE)..address + len).step_by(PAGE) {
                        if let Some(byte) = self.expected_byte(s, page) {
                            assert_eq!(buffer[page - address], byte, "{what}: read of {page:#x}");
                        }
                    }
                }
            }
            Op::WriteUser {
                page,
                offset,
                len,
                value,
            } => {
                let address = self.address(s, page) + usize::from(offset) % PAGE;
                let len = usize::from(len) % (3 * PAGE);
                self.write(s, address, len, value, Check::User(Access::Write), &what);
            }
            Op::Load {
                page,
                offset,
                len,
                value,
            } => {
                let address = self.address(s, page) + usize::from(offset) % PAGE;
                let len = usize::from(len) % (3 * PAGE);
                self.write(s, address, len, value, Check::Load, &what);
            }
            Op::Populate { page, size } => {
                let (start, size) = (self.address(s, page), size.bytes());
                let covered = (start..start + size)
                    .step_by(PAGE)
                    .all(|p| self.spaces[s].model.contains_key(&p));
                let expected = if covered {
                    self.predict_helper(s, start, size, Check::AreaOnly)
                } else {
                    Err(FaultError::NoArea)
                };
                let result = self.spaces[s].space.populate(VirtAddr::from(start), size);
                self.expect_helper(s, result, expected, &what);
            }
            Op::TranslateUser { page, access } => {
                let address = self.address(s, page);
                let access = access.access();
                let expected = self.predict_helper(s, address, 1, Check::User(access));
                let result = self.spaces[s]
                    .space
                    .translate_user(VirtAddr::from(address), access);
                self.expect_helper(s, result.map(|_| ()), expected, &what);
                if let Ok(pa) = result {
                    let t = self.spaces[s]
                        .space
                        .query(VirtAddr::from(address))
                        .expect("mapped");
                    assert_eq!(pa, t.paddr, "{what}");
                }
            }
        }
    }

    /// A map refused or accepted as expected (`NoMemory` only when an allocation was refused;
    /// nothing changes on error).
    fn expect_map(
        &mut self,
        s: usize,
        result: Result<(), MappingError>,
        expected: Result<(), MappingError>,
        what: &str,
    ) {
        match (result, expected) {
            (Err(MappingError::NoMemory), Ok(())) if refused() => {}
            (result, expected) => assert_eq!(result, expected, "{what}"),
        }
        if result.is_ok() {
            self.spaces[s].forget_spurious();
        } else {
            self.spaces[s].maybe_forget_spurious();
        }
    }

    /// After a failed unmap (or the unmap of `MAP_FIXED`): the pages of `[start, start + size)`
    /// that are gone are a lowest-first prefix of those the model had, nothing else changed.
    fn check_prefix_then_resync(&mut self, s: usize, start: usize, size: usize, what: &str) {
        let entry = &self.spaces[s];
        let mut kept_seen = false;
        for (&page, model) in &entry.model {
            let now = entry.area(page);
            let inside = (start..start + size).contains(&page);
            match now {
                Some((_, _, flags, kind)) => {
                    assert_eq!(
                        (flags, kind),
                        (model.flags, model.kind),
                        "{what}: page {page:#x}"
                    );
                    kept_seen |= inside;
                }
                None => {
                    assert!(inside, "{what}: page {page:#x} outside the range is gone");
                    assert!(!kept_seen, "{what}: not a lowest-first prefix at {page:#x}");
                }
            }
        }
        for page in entry.pages() {
            assert!(
                entry.model.contains_key(&page) || entry.area(page).is_none(),
                "{what}: an area appeared at {page:#x}"
            );
        }
        self.resync(s);
    }

    fn apply_resize(
        &mut self,
        s: usize,
        end: usize,
        new_end: usize,
        flags: MappingFlags,
        kind: Kind,
    ) {
        let entry = &mut self.spaces[s];
        if new_end <= end {
            let gone: Vec<usize> = entry.model.range(new_end..end).map(|(&p, _)| p).collect();
            for page in gone {
                entry.model.remove(&page);
            }
            return;
        }
        for page in (end..new_end).step_by(PAGE) {
            let kind = match kind {
                // `kind` is that of the area's first page queried: continue its addresses.
                Kind::Linear(_) => {
                    let last = entry.model[&(end - PAGE)].kind;
                    let Kind::Linear(pa) = last else {
                        panic!("linear area with {last:?}")
                    };
                    Kind::Linear(pa + (page - (end - PAGE)))
                }
                other => other,
            };
            entry.model.insert(
                page,
                Page {
                    flags,
                    kind,
                    data: 0,
                },
            );
        }
        self.fresh_shared(s, end, new_end - end);
    }

    #[allow(clippy::too_many_arguments)]
    fn expect_protect(
        &mut self,
        s: usize,
        start: usize,
        size: usize,
        result: Result<(), MappingError>,
        expected_error: Option<Result<(), MappingError>>,
        new_flags: impl Fn(MappingFlags) -> MappingFlags,
        what: &str,
    ) {
        let entry = &mut self.spaces[s];
        let out_of_range = !entry.in_window(start, size) && size != 0;
        let expected = expected_error.unwrap_or(if out_of_range {
            Err(MappingError::InvalidParam)
        } else {
            Ok(())
        });
        match (result, expected) {
            (Err(MappingError::NoMemory), Ok(())) if refused() => {
                // On error every area keeps its old flags: the model is unchanged.
                entry.maybe_forget_spurious();
            }
            (result, expected) => assert_eq!(result, expected, "{what}"),
        }
        if result.is_ok() {
            for (_, page) in entry.model.range_mut(start..start + size) {
                page.flags = new_flags(page.flags);
            }
            entry.forget_spurious();
        } else {
            entry.maybe_forget_spurious();
        }
    }

    fn mremap(&mut self, s: usize, page: u16, old: Pages, new: Pages, how: HowArg, what: &str) {
        let start = self.address(s, page);
        let (old_size, new_size) = (old.bytes(), new.bytes());
        let how = match how {
            HowArg::InPlace => Remap::InPlace,
            HowArg::MayMove => Remap::MayMove,
            HowArg::Fixed(target) => Remap::Fixed(VirtAddr::from(self.address(s, target))),
        };
        let entry = &self.spaces[s];
        let area = entry.area(start);
        let before = entry.model.clone();
        // The prediction, as `AddressSpace::mremap` documents it: Ok(where), or the error.
        let prediction: Result<usize, MappingError> = (|| {
            if new_size == 0 {
                return Err(MappingError::InvalidParam);
            }
            if !entry.in_window(start, old_size) && old_size != 0 {
                return Err(MappingError::InvalidParam);
            }
            let (area_start, area_end, ..) = area.ok_or(MappingError::NotMapped)?;
            if old_size == 0 {
                return Err(MappingError::InvalidParam);
            }
            let old_end = start + old_size;
            if old_end > area_end {
                return Err(MappingError::NotMapped);
            }
            let _ = area_start;
            if let Remap::InPlace | Remap::MayMove = how {
                if new_size <= old_size {
                    return Ok(start);
                }
                let room = old_end == area_end
                    && entry.in_window(start, new_size)
                    && !entry.overlaps(old_end, new_size - old_size);
                if room {
                    return Ok(start);
                }
                if how == Remap::InPlace {
                    return Err(MappingError::NoMemory);
                }
            }
            match how {
                Remap::Fixed(target) => {
                    let target = target.as_usize();
                    if !entry.in_window(target, new_size) {
                        return Err(MappingError::InvalidParam);
                    }
                    if target < old_end && start < target + new_size {
                        return Err(MappingError::InvalidParam);
                    }
                    Ok(target)
                }
                _ => {
                    // The lowest free range at or above the old address, else below it.
                    let fits =
                        |a: usize| entry.in_window(a, new_size) && !entry.overlaps(a, new_size);
                    let window_end = entry.base + WINDOW_PAGES * PAGE;
                    (start..window_end)
                        .step_by(PAGE)
                        .find(|&a| fits(a))
                        .or_else(|| (entry.base..start).step_by(PAGE).find(|&a| fits(a)))
                        .ok_or(MappingError::NoMemory)
                }
            }
        })();
        let result = self.spaces[s]
            .space
            .mremap(VirtAddr::from(start), old_size, new_size, how);
        let result = result.map(VirtAddr::as_usize);
        match (result, prediction) {
            (Ok(got), Ok(want)) => {
                assert_eq!(got, want, "{what}");
                let (_, area_end, flags, kind) = area.unwrap();
                let entry = &mut self.spaces[s];
                if got == start {
                    if new_size <= old_size {
                        for page in (start + new_size..start + old_size).step_by(PAGE) {
                            entry.model.remove(&page);
                        }
                    } else {
                        let _ = area_end;
                        self.apply_resize(s, start + old_size, start + new_size, flags, kind);
                    }
                } else {
                    // Moved: the destination's old pages are gone, the first
                    // min(old, new) bytes move, the rest of the old range is unmapped, and the
                    // range grows at its new place.
                    let moved = old_size.min(new_size);
                    for page in (got..got + new_size).step_by(PAGE) {
                        entry.model.remove(&page);
                    }
                    for offset in (0..old_size).step_by(PAGE) {
                        let page = entry.model.remove(&(start + offset)).expect("mapped");
                        if offset < moved {
                            entry.model.insert(got + offset, page);
                        }
                    }
                    if new_size > old_size {
                        let last = entry.model[&(got + old_size - PAGE)];
                        self.apply_resize(s, got + old_size, got + new_size, last.flags, last.kind);
                    }
                }
                self.spaces[s].forget_spurious();
            }
            (Err(error), Err(want)) if error == want => {
                // Refused before anything changed (a fixed target is unmapped only after
                // these checks).
                assert_eq!(self.spaces[s].model, before);
                self.spaces[s].maybe_forget_spurious();
            }
            (Err(MappingError::NoMemory), Ok(_)) if refused() => {
                // The documented exceptions (fixed target unmapped, moved but not shrunk or
                // grown): pages outside both ranges are as they were.
                self.resync(s);
                let entry = &self.spaces[s];
                let target = prediction.unwrap();
                for (&page, model) in &before {
                    let inside = (start..start + old_size).contains(&page)
                        || (target..target + new_size).contains(&page);
                    if !inside {
                        assert_eq!(
                            entry.model.get(&page).map(|p| (p.flags, p.kind)),
                            Some((model.flags, model.kind)),
                            "{what}: page {page:#x} outside both ranges"
                        );
                    }
                }
            }
            (result, prediction) => panic!("{what}: {result:x?}, predicted {prediction:x?}"),
        }
    }

    fn fault(&mut self, s: usize, fault: PageFaultInfo, what: &str) {
        let entry = &mut self.spaces[s];
        let page = fault.address.as_usize() & !(PAGE - 1);
        let before = entry.space.query(VirtAddr::from(page));
        let sharers = before.map_or(0, |t| FRAMES.sharers(t.paddr));
        let key = (page, fault.access, fault.user);
        let last = entry.spurious.remove(&fault.cpu);
        // `Ok(answer)`, or the error; `None` where either of Spurious / Repeated is possible.
        let predicted: Option<Result<FaultResolution, FaultError>> = (|| {
            if fault.cause == FaultCause::ReservedBit {
                return Some(Err(FaultError::CorruptTable));
            }
            let Some(model) = entry.model.get(&page) else {
                return Some(Err(FaultError::NoArea));
            };
            let user_page = model.flags.contains(MappingFlags::USER);
            if fault.user && !user_page {
                return Some(Err(FaultError::KernelArea));
            }
            if !model.flags.contains(fault.access.required_flag()) {
                return Some(Err(FaultError::AccessDenied));
            }
            if !fault.user && user_page {
                if fault.access == Access::Execute {
                    return Some(Err(FaultError::KernelExecutesUserPage));
                }
                if !fault.user_memory_access {
                    return Some(Err(FaultError::UserMemoryBlocked));
                }
            }
            match before {
                Some(t) if !t.flags.contains(fault.required_flags()) => {
                    let cow = fault.access == Access::Write
                        && !t.is_prot_none()
                        && !t.flags.contains(MappingFlags::WRITE);
                    match model.kind {
                        Kind::Alloc(_) if cow => Some(Ok(if sharers == 0 {
                            FaultResolution::ReusedOnWrite
                        } else {
                            FaultResolution::CopiedOnWrite
                        })),
                        _ => Some(Err(FaultError::AccessDenied)),
                    }
                }
                Some(_) => match last {
                    Some(Spurious::Known(k)) if k == key => Some(Err(FaultError::Repeated)),
                    Some(Spurious::Unknown) => None,
                    _ => Some(Ok(FaultResolution::Spurious)),
                },
                None => match model.kind {
                    Kind::Alloc(_) => Some(Ok(FaultResolution::Populated)),
                    _ => Some(Err(FaultError::NotPopulatable)),
                },
            }
        })();
        let result = entry.space.handle_page_fault(fault);
        match (result, predicted) {
            (
                Err(FaultError::NoMemory),
                Some(Ok(FaultResolution::Populated | FaultResolution::CopiedOnWrite)),
            ) if refused() => {}
            (Ok(FaultResolution::Spurious) | Err(FaultError::Repeated), None) => {}
            (result, Some(predicted)) => assert_eq!(result, predicted, "{what}"),
            (result, None) => panic!("{what}: {result:?}, predicted Spurious or Repeated"),
        }
        let after = entry.space.query(VirtAddr::from(page));
        match result {
            Ok(FaultResolution::Spurious) => {
                entry.spurious.insert(fault.cpu, Spurious::Known(key));
                assert_eq!(after, before, "{what}: a spurious fault changed the entry");
            }
            Ok(FaultResolution::Populated) => {
                let t = after.expect("populated");
                assert!(t.flags.contains(fault.required_flags()), "{what}: {t:?}");
            }
            Ok(FaultResolution::CopiedOnWrite) => {
                let t = after.expect("copied");
                assert_ne!(t.paddr, before.unwrap().paddr, "{what}: copied in place");
                assert!(t.flags.contains(MappingFlags::WRITE), "{what}: {t:?}");
            }
            Ok(FaultResolution::ReusedOnWrite) => {
                let t = after.expect("reused");
                assert_eq!(
                    t.paddr,
                    before.unwrap().paddr,
                    "{what}: reuse moved the frame"
                );
                assert!(t.flags.contains(MappingFlags::WRITE), "{what}: {t:?}");
            }
            Err(_) => assert_eq!(after, before, "{what}: a refused fault changed the entry"),
        }
    }

    /// The result a user-memory helper should have over `[address, address + len)`, from the
    /// model and the current entries (as `user_access.rs` documents each check).
    fn predict_helper(
        &self,
        s: usize,
        address: usize,
        len: usize,
        check: Check,
    ) -> Result<(), FaultError> {
        let entry = &self.spaces[s];
        let Some(end) = address.checked_add(len) else {
            return Err(FaultError::NoArea);
        };
        let first = address & !(PAGE - 1);
        if len == 0 {
            return Ok(());
        }
        for page in (first..end).step_by(PAGE) {
            let Some(model) = entry.model.get(&page) else {
                return Err(FaultError::NoArea);
            };
            if model
                .flags
                .intersects(MappingFlags::DEVICE | MappingFlags::UNCACHED)
            {
                return Err(FaultError::AccessDenied);
            }
            if let Check::User(access) = check {
                if !model.flags.contains(MappingFlags::USER) {
                    return Err(FaultError::KernelArea);
                }
                if !model.flags.contains(access.required_flag()) {
                    return Err(FaultError::AccessDenied);
                }
            }
            match entry.space.query(VirtAddr::from(page)) {
                Some(t) => {
                    if let Check::User(access) = check
                        && !t.flags.contains(access.required_flag())
                    {
                        let cow = access == Access::Write && !t.is_prot_none();
                        if !cow || !matches!(model.kind, Kind::Alloc(_)) {
                            return Err(FaultError::AccessDenied);
                        }
                    }
                }
                None => {
                    if !matches!(model.kind, Kind::Alloc(_)) {
                        return Err(FaultError::NotPopulatable);
                    }
                }
            }
        }
        Ok(())
    }

    fn expect_helper(
        &mut self,
        s: usize,
        result: Result<(), FaultError>,
        expected: Result<(), FaultError>,
        what: &str,
    ) {
        match (result, expected) {
            (Err(FaultError::NoMemory), _) if refused() => {}
            (result, expected) => assert_eq!(result, expected, "{what}"),
        }
        // Populating and copying forget the spurious faults.
        self.spaces[s].maybe_forget_spurious();
    }

    fn write(&mut self, s: usize, address: usize, len: usize, value: u8, check: Check, what: &str) {
        let expected = self.predict_helper(s, address, len, check);
        let data = vec![value; len];
        let olds: Vec<(usize, Option<u8>)> = (address.next_multiple_of(PAGE)..address + len)
            .step_by(PAGE)
            .map(|page| (page, self.expected_byte(s, page)))
            .collect();
        let entry = &mut self.spaces[s];
        let result = match check {
            Check::Load => entry.space.load(VirtAddr::from(address), &data),
            _ => entry.space.write_user(VirtAddr::from(address), &data),
        };
        self.expect_helper(s, result, expected, what);
        for (page, old) in olds {
            let Some(old) = old else { continue };
            let entry = &mut self.spaces[s];
            let Some(t) = entry.space.query(VirtAddr::from(page)) else {
                continue;
            };
            let now = first_byte(t.paddr.as_usize());
            if result.is_ok() {
                assert_eq!(now, value, "{what}: page {page:#x} not written");
            } else {
                assert!(
                    now == old || now == value,
                    "{what}: page {page:#x} holds {now}"
                );
            }
            let model = entry.model.get_mut(&page).unwrap();
            match model.kind {
                Kind::Alloc(_) => model.data = now,
                Kind::Shared => {
                    self.shared.insert(t.paddr.as_usize(), now);
                }
                Kind::Linear(_) => {}
            }
        }
    }

    /// Every page of space `s`'s window against the model; returns its mappings of pool frames
    /// as (frame, page, writable, kind).
    fn scan(&self, s: usize, what: &str) -> Vec<(usize, usize, bool, Kind)> {
        let entry = &self.spaces[s];
        let mut mappings = Vec::new();
        let mut areas: Vec<Option<(MappingFlags, Kind)>> = vec![None; WINDOW_PAGES];
        for area in entry.space.areas() {
            for page in (area.start().as_usize()..area.end().as_usize()).step_by(PAGE) {
                assert!(
                    entry.in_window(page, PAGE),
                    "{what}: area outside the range"
                );
                areas[(page - entry.base) / PAGE] =
                    Some((area.flags(), kind_of(area.backend(), page)));
            }
        }
        for (index, page) in entry.pages().enumerate() {
            let model = entry.model.get(&page);
            assert_eq!(
                areas[index],
                model.map(|m| (m.flags, m.kind)),
                "{what}: space {s} page {page:#x}: area vs model"
            );
            let t = entry.space.query(VirtAddr::from(page));
            let Some(model) = model else {
                assert_eq!(
                    t, None,
                    "{what}: space {s} page {page:#x}: a translation outside areas"
                );
                continue;
            };
            let Some(t) = t else {
                assert!(
                    model.kind == Kind::Alloc(false),
                    "{what}: space {s} page {page:#x}: {:?} page not mapped",
                    model.kind
                );
                assert_eq!(model.data, 0, "{what}: space {s} page {page:#x}: data lost");
                continue;
            };
            let pa = t.paddr.as_usize();
            let want = normalized(model.flags);
            match model.kind {
                Kind::Linear(linear) => {
                    assert_eq!(
                        pa, linear,
                        "{what}: space {s} page {page:#x}: linear address"
                    );
                    assert_eq!(t.flags, want, "{what}: space {s} page {page:#x}: flags");
                    continue;
                }
                Kind::Alloc(_) => {
                    let read_only = model.flags.contains(MappingFlags::WRITE)
                        && t.flags == want - MappingFlags::WRITE;
                    assert!(
                        t.flags == want || read_only,
                        "{what}: space {s} page {page:#x}: flags {:?} for an area {:?}",
                        t.flags,
                        model.flags
                    );
                }
                Kind::Shared => {
                    assert_eq!(t.flags, want, "{what}: space {s} page {page:#x}: flags");
                }
            }
            assert!(
                in_pool(pa) && frame_live(pa),
                "{what}: space {s} page {page:#x}: frame {pa:#x} not live"
            );
            assert_eq!(pa % PAGE, 0);
            let expected = match model.kind {
                Kind::Shared => self.shared.get(&pa).copied().unwrap_or(0),
                _ => model.data,
            };
            assert_eq!(
                first_byte(pa),
                expected,
                "{what}: space {s} page {page:#x}: data"
            );
            mappings.push((pa, page, t.flags.contains(MappingFlags::WRITE), model.kind));
        }
        mappings
    }

    /// Rescans the spaces whose scan is stale (every one with `all`), then checks the frames
    /// across spaces: counts, copy-on-write, and the allocator's total.
    fn check(&mut self, what: &str, all: bool) {
        for s in 0..self.spaces.len() {
            if all || self.spaces[s].scan.is_none() {
                let scan = self.scan(s, what);
                self.spaces[s].scan = Some(scan);
            }
        }
        let mut mappings: BTreeMap<usize, Vec<(usize, usize, bool, Kind)>> = BTreeMap::new();
        for (s, entry) in self.spaces.iter().enumerate() {
            for &(pa, page, writable, kind) in entry.scan.as_ref().unwrap() {
                mappings
                    .entry(pa)
                    .or_default()
                    .push((s, page, writable, kind));
            }
        }
        for (&pa, users) in &mappings {
            assert_eq!(
                FRAMES.sharers(PhysAddr::from(pa)) as usize,
                users.len() - 1,
                "{what}: count of frame {pa:#x} mapped by {users:x?}"
            );
            if users.len() > 1 {
                for &(s, page, writable, kind) in users {
                    assert!(
                        !writable || kind == Kind::Shared,
                        "{what}: private frame {pa:#x} shared by {users:x?} writable in space {s} at {page:#x}"
                    );
                }
            }
        }
        let tables: usize = self
            .spaces
            .iter()
            .map(|e| e.space.page_table().table_page_count())
            .sum();
        assert_eq!(
            live_frames(),
            tables + mappings.len(),
            "{what}: frames out ({tables} table pages, {} mapped)",
            mappings.len()
        );
    }
}

fuzz_target!(|input: Input| {
    assert_eq!(live_frames(), 0, "frames live before the run");
    set_budget(None);
    let kernel_range =
        VirtAddrRange::from_start_size(VirtAddr::from(KERNEL_BASE), WINDOW_PAGES * PAGE);
    let mut kernel = Space::new_kernel(kernel_range).expect("kernel space");
    kernel.set_frame_table(&FRAMES).expect("frame table");
    let user_range = VirtAddrRange::from_start_size(VirtAddr::from(USER_BASE), WINDOW_PAGES * PAGE);
    let user = Space::new_user(&kernel, user_range).expect("user space");
    let mut world = World {
        spaces: vec![
            Entry {
                space: kernel,
                model: Model::new(),
                base: KERNEL_BASE,
                kernel: true,
                spurious: BTreeMap::new(),
                scan: None,
            },
            Entry {
                space: user,
                model: Model::new(),
                base: USER_BASE,
                kernel: false,
                spurious: BTreeMap::new(),
                scan: None,
            },
        ],
        shared: BTreeMap::new(),
    };
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    for (index, step) in input.steps.iter().take(MAX_STEPS).enumerate() {
        set_budget(step.budget.map(|budget| usize::from(budget % 8)));
        let s = usize::from(step.space) % world.spaces.len();
        world.spaces[s].scan = None;
        world.run(step);
        if trace {
            let areas: Vec<String> = world.spaces.iter().map(|e| e.space.to_string()).collect();
            eprintln!("{step:?}\n  refused: {}, areas: {areas:#?}", refused());
        }
        let what = format!("after {step:?}");
        world.check(&what, index % 8 == 7);
        set_budget(None);
    }
    world.check("at the end", true);
    // Users first, then the kernel space (the last sharer of the kernel half).
    while world.spaces.len() > 1 {
        world.spaces.pop();
        world.check("after an exit", true);
    }
    drop(world);
    assert_eq!(
        live_frames(),
        0,
        "frames left after every space was dropped"
    );
    for (index, count) in COUNTS.iter().enumerate() {
        assert_eq!(
            count.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "count of frame {index}"
        );
    }
});
