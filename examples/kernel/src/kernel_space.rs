//! The integration point: the kernel space and the user spaces, built with
//! `vmlayer_paging::AddressSpace`.
//!
//! 1. [`KernelFrames`] feeds page tables and lazy pages from the frame pool
//!    (`page_table_multiarch::PagingHandler`); the kernel reaches a frame through the direct
//!    map, so `phys_to_virt` adds `layout::PHYS_OFFSET`.
//! 2. [`init`] builds the kernel space with `AddressSpace::new_kernel(layout::KERNEL_SPACE)`
//!    (the upper half): the image with honest permissions (text R+X, rodata R, data+bss+stack
//!    R+W), the direct map of all usable RAM R+W (page tables, heap and frames are reached
//!    through it), the MMIO pages as DEVICE; installs the TLB flush hook; replaces the boot
//!    mapping with it (`arch::enable_kernel_space`: `satp` / `CR3`, or `TTBR1_EL1`); then makes
//!    the first user space current (`AddressSpace::new_user`: the lower half, sharing the
//!    kernel half) and installs [`handle_page_fault`] as the trap's page-fault handler. The
//!    kernel space gets the frame table first (`AddressSpace::set_frame_table`), so every user
//!    space and every fork counts the frames it shares there.
//! 3. Traps decode the ISA registers with the ISA crate's `decode_page_fault` and hand the
//!    `PageFaultInfo` to `AddressSpace::handle_page_fault` of the space that translates the
//!    address: the kernel space for an upper-half address, else the current user space.
//! 4. Processes (`crate::process`) own their user spaces: [`new_user_space`] makes one,
//!    [`switch_to_process`] makes it current, [`handle_user_fault`] routes its user-mode page
//!    faults the same way.
//!
//! 5. CPUs (`crate::smp`): every CPU switches through its own `vmlayer_paging::CpuContext`
//!    ([`switch_to`], [`switch_to_process`], [`activate_shared`]) with the one ASID allocator
//!    (`AsidAllocator`, as wide as the hardware's ASIDs, [`asid_summary`]), so each table
//!    knows the CPUs that may cache it and its ASID, and every flush request names them; the
//!    flush hook (`crate::smp::shootdown`) reaches exactly those CPUs. Every CPU joins the
//!    kernel space at bring-up ([`join_kernel_space`]).
//!
//! On x86_64 and RISC-V one root translates both halves: `new_kernel` links a table into every
//! root slot of the kernel range once, and `new_user` copies those root entries, so a kernel
//! mapping made at any time reaches every user space. On AArch64 the kernel space is the table
//! of `TTBR1_EL1` and user spaces are tables of `TTBR0_EL1`: switching user spaces leaves the
//! kernel alone.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicUsize, Ordering};

use vmlayer_paging::asid::AsidAllocator;
use vmlayer_paging::{
    CpuContext, FaultError, FaultResolution, FrameTable, MappingError, MappingFlags, PageFaultInfo,
    PageTable, PagingArch, PagingHandler, PhysAddr, VirtAddr, VirtAddrRange,
};

use crate::global_cell::GlobalCell;
use crate::layout::{self, KERNEL_SPACE, phys_to_virt};
use crate::smp::{self, MAX_CPUS};
use crate::{arch, frame_pool, println, trap};

/// The ISA this kernel is built for, as `vmlayer_paging` selected it from the target.
#[cfg(not(feature = "broken-drop-nx"))]
pub(crate) type Arch = vmlayer_paging::Arch;
/// Test-only: the target's ISA with the execute-never bit dropped (see `broken_arch`).
#[cfg(feature = "broken-drop-nx")]
pub(crate) type Arch = crate::broken_arch::NxDroppingArch;

/// Frames for page tables and Alloc areas, from the kernel's frame pool.
pub(crate) struct KernelFrames;

impl PagingHandler for KernelFrames {
    fn alloc_frames(count: usize, align: usize) -> Option<PhysAddr> {
        frame_pool::alloc(count, align).map(PhysAddr::from)
    }

    fn dealloc_frames(paddr: PhysAddr, count: usize) {
        frame_pool::free(paddr.as_usize(), count);
    }

    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        // Every frame the pool hands out is in the direct map (the boot mapping's until the
        // kernel space is active, then the kernel space's).
        VirtAddr::from(phys_to_virt(paddr.as_usize()))
    }
}

/// The address-space type of the kernel space and of every user space.
pub(crate) type AddressSpace = vmlayer_paging::AddressSpace<KernelFrames, Arch>;

/// Which of the kernel's address spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Space {
    /// The kernel space: the upper half, in every user space (x86_64, RISC-V: through the
    /// shared root slots; AArch64: in `TTBR1_EL1`). Never "current": [`switch_to`] refuses it.
    Kernel,
    /// The first user space, made at boot: current unless a case switches.
    User,
    /// A second user space, for the cases that need two.
    Spare,
    /// A process's user space (`crate::process`), owned by its `Process`, not by this module:
    /// [`with`] cannot reach it, and a kernel-mode fault in the lower half while it is current
    /// is refused (the kernel touches a process's memory only through `read_user` and the
    /// other user-memory helpers, which never fault).
    Process,
    /// The space several CPUs run at once (the SMP cases): in its own lock ([`with_shared`]),
    /// so that CPUs faulting in it do not wait for the other spaces.
    Shared,
}

struct Spaces {
    kernel: Option<AddressSpace>,
    user: Option<AddressSpace>,
    spare: Option<AddressSpace>,
    /// The user space in each CPU's root register (`TTBR0_EL1` on AArch64).
    current: [Space; MAX_CPUS],
}

impl Spaces {
    fn get(&mut self, which: Space) -> Option<&mut AddressSpace> {
        match which {
            Space::Kernel => self.kernel.as_mut(),
            Space::User => self.user.as_mut(),
            Space::Spare => self.spare.as_mut(),
            Space::Process | Space::Shared => None,
        }
    }

    /// The space that translates `address` on this CPU: the kernel space for an upper-half
    /// address, else this CPU's current user space.
    fn translating(&self, address: VirtAddr) -> Space {
        if is_upper_half(address.as_usize()) {
            Space::Kernel
        } else {
            self.current[smp::this_cpu()]
        }
    }

    /// A new user space sharing the kernel space's half.
    fn new_user_space(&self) -> Result<AddressSpace, MappingError> {
        let kernel = self.kernel.as_ref().ok_or(MappingError::BadState)?;
        AddressSpace::new_user(kernel, user_range())
    }
}

static SPACES: GlobalCell<Spaces> = GlobalCell::new(Spaces {
    kernel: None,
    user: None,
    spare: None,
    current: [Space::User; MAX_CPUS],
});

/// The space several CPUs run at once (see [`Space::Shared`]).
static SHARED: GlobalCell<Option<AddressSpace>> = GlobalCell::new(None);

/// Each CPU's switch state; touched only by that CPU.
static CPU_CONTEXTS: [GlobalCell<Option<CpuContext>>; MAX_CPUS] =
    [const { GlobalCell::new(None) }; MAX_CPUS];

/// The machine's ASIDs (`None` when the hardware has too few for [`MAX_CPUS`] CPUs: every space
/// then runs with ASID 0 and every switch flushes).
static ASIDS: GlobalCell<Option<AsidAllocator>> = GlobalCell::new(None);

/// The ASID bits this kernel uses: the hardware's, or at most 4 with the test feature
/// `small-asids` (15 ASIDs for 8 CPUs: the generation rolls over after a few switches).
fn asid_bits() -> u32 {
    let hardware = <Arch as PagingArch>::asid_bits();
    if cfg!(feature = "small-asids") {
        hardware.min(4)
    } else {
        hardware
    }
}

/// One line for the boot log: the ASID width in use and how many rollovers happened.
pub(crate) fn asid_summary() -> String {
    ASIDS.with(|asids| match asids {
        Some(asids) => format!(
            "{} ASID bits (hardware {}), {} rollovers",
            asid_bits(),
            <Arch as PagingArch>::asid_bits(),
            asids.rollovers()
        ),
        None => format!(
            "no ASIDs (hardware {} bits): every switch flushes",
            <Arch as PagingArch>::asid_bits()
        ),
    })
}

/// How many times the ASID generation rolled over.
pub(crate) fn asid_rollovers() -> u64 {
    ASIDS.with(|asids| asids.as_ref().map_or(0, AsidAllocator::rollovers))
}

/// Makes `table` this CPU's current user table through its `CpuContext`, with an ASID.
///
/// # Safety
/// `table` must share the kernel half (every user space does) and stay alive while current.
unsafe fn activate(table: &PageTable<KernelFrames, Arch>) {
    let cpu = smp::this_cpu();
    ASIDS.with(|asids| {
        CPU_CONTEXTS[cpu].with(|context| {
            let context = context.get_or_insert_with(|| CpuContext::new(cpu).expect("CPU index"));
            // SAFETY: forwarded contract; interrupts are masked on this CPU or only serve
            // shootdowns, which do not touch the context; `ASIDS` is the machine's allocator.
            let plan = unsafe { context.switch_to(table, asids.as_mut()) }
                .expect("the CPU took this translation mode at boot, and the ASIDs serve MAX_CPUS");
            if plan.asid == 0 || plan.flush_local {
                SWITCH_FLUSHES.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
}

/// Switches whose root write flushed the TLB (no ASID, or a rollover's flush).
static SWITCH_FLUSHES: AtomicUsize = AtomicUsize::new(0);

/// How many switches flushed the TLB since boot.
pub(crate) fn switch_flushes() -> usize {
    SWITCH_FLUSHES.load(Ordering::Relaxed)
}

/// Whether spaces run with ASIDs (the hardware has enough for [`MAX_CPUS`] CPUs).
pub(crate) fn asids_in_use() -> bool {
    ASIDS.with(|asids| asids.is_some())
}

/// Faults in the shared space that populated a page.
static SHARED_POPULATED: AtomicUsize = AtomicUsize::new(0);

/// How many faults in the shared space populated a page since boot.
pub(crate) fn shared_populated() -> usize {
    SHARED_POPULATED.load(Ordering::Relaxed)
}

/// Records that this CPU holds the kernel half from now on (every CPU, at bring-up, before it
/// uses the kernel space): kernel-space changes reach it.
pub(crate) fn join_kernel_space() {
    let cpu = smp::this_cpu();
    with(Space::Kernel, |kernel| {
        CPU_CONTEXTS[cpu].with(|context| {
            context
                .get_or_insert_with(|| CpuContext::new(cpu).expect("CPU index"))
                .join_kernel(kernel.page_table());
        })
    });
}

/// The kernel space's root table (what a secondary CPU installs at bring-up, like [`init`]).
#[cfg_attr(
    target_arch = "riscv64",
    expect(dead_code, reason = "the riscv64 harts read it through `with`")
)]
pub(crate) fn kernel_root() -> PhysAddr {
    with(Space::Kernel, |space| space.root_paddr())
}

/// Installs `space` as the space several CPUs run at once ([`Space::Shared`]); `None` drops
/// it (no CPU may run it then).
pub(crate) fn set_shared(space: Option<AddressSpace>) {
    let old = SHARED.with(|shared| core::mem::replace(shared, space));
    drop(old);
}

/// Runs `f` on the shared space.
///
/// # Panics
/// If there is none.
pub(crate) fn with_shared<R>(f: impl FnOnce(&mut AddressSpace) -> R) -> R {
    SHARED.with(|shared| f(shared.as_mut().expect("no shared space")))
}

/// Makes the shared space this CPU's current user space (any CPU).
pub(crate) fn activate_shared() {
    SPACES.with(|spaces| spaces.current[smp::this_cpu()] = Space::Shared);
    // SAFETY: the shared space shares the kernel half; `set_shared(None)` runs only after
    // every CPU left it (`leave_shared`).
    SHARED
        .with(|shared| unsafe { activate(shared.as_ref().expect("no shared space").page_table()) });
}

/// Makes the first user space this CPU's current one again (after [`activate_shared`]).
pub(crate) fn leave_shared() {
    let root_owner = Space::User;
    SPACES.with(|spaces| {
        spaces.current[smp::this_cpu()] = root_owner;
        // SAFETY: the first user space lives as long as the kernel.
        unsafe { activate(spaces.user.as_ref().expect("first user space").page_table()) };
    });
}

/// Shorthand for a virtual address.
pub(crate) fn va(address: usize) -> VirtAddr {
    VirtAddr::from(address)
}

/// Shorthand for a physical address.
pub(crate) fn pa(address: usize) -> PhysAddr {
    PhysAddr::from(address)
}

/// Whether `address` is in the upper half (bit 63 set), which only the kernel space maps.
pub(crate) fn is_upper_half(address: usize) -> bool {
    address >> (usize::BITS - 1) == 1
}

/// The range of every user space: the lower half without its first page (so that a null
/// access always faults).
pub(crate) fn user_range() -> VirtAddrRange {
    VirtAddrRange::new(va(layout::PAGE_SIZE), va(layout::user_space_end()))
}

/// Runs `f` on one of the address spaces.
///
/// # Panics
/// If that space does not exist (the spare one before [`create_spare`]).
pub(crate) fn with<R>(which: Space, f: impl FnOnce(&mut AddressSpace) -> R) -> R {
    SPACES.with(|spaces| f(spaces.get(which).expect("address space not created")))
}

/// The kernel space: the image at its link address with honest permissions, the direct map of
/// every usable RAM range (the frames the pool hands out, the heap) and the MMIO pages.
fn new_kernel_space() -> Result<AddressSpace, MappingError> {
    let range = VirtAddrRange::new(va(KERNEL_SPACE.start), va(KERNEL_SPACE.end));
    let mut space = AddressSpace::new_kernel(range)?;
    space.set_tlb_flush_hook(Some(smp::shootdown));
    let image = layout::kernel_layout();
    let (read, write) = (MappingFlags::READ, MappingFlags::WRITE);
    for (range, flags) in [
        (image.text, read | MappingFlags::EXECUTE),
        (image.rodata, read),
        (image.data, read | write),
    ] {
        let size = range.end - range.start;
        space.map_linear(
            va(range.start),
            pa(layout::image_phys(range.start)),
            size,
            flags,
        )?;
    }
    let ram = layout::usable_ram();
    let ram_regions = ram.as_slice().iter().map(|range| (range, read | write));
    let mmio_regions = arch::MMIO_REGIONS
        .iter()
        .map(|range| (range, read | write | MappingFlags::DEVICE));
    for (range, flags) in ram_regions.chain(mmio_regions) {
        let size = range.end - range.start;
        space.map_linear(va(phys_to_virt(range.start)), pa(range.start), size, flags)?;
    }
    Ok(space)
}

/// Builds the kernel space and the first user space, replaces the boot mapping with them and
/// routes page faults to them. The kernel space counts shared frames in `frames`
/// (`AddressSpace::set_frame_table`), and every user space and fork inherits it.
///
/// # Panics
/// If the kernel cannot be mapped (no memory) or the CPU refuses the translation mode: nothing
/// can run without them.
pub(crate) fn init(frames: &'static FrameTable) {
    let mut kernel = new_kernel_space().expect("mapping the kernel failed");
    kernel
        .set_frame_table(frames)
        .expect("a new kernel space takes a frame table");
    let kernel_root = kernel.root_paddr();
    SPACES.with(|spaces| spaces.kernel = Some(kernel));
    ASIDS.with(|asids| *asids = AsidAllocator::new(asid_bits(), MAX_CPUS));
    join_kernel_space();
    // SAFETY: the kernel space maps the running code, the stack, all data and the devices at
    // the addresses the boot mapping gave them, and lives in `SPACES` until the kernel exits.
    unsafe { arch::enable_kernel_space(kernel_root) };
    let user = SPACES
        .with(|spaces| spaces.new_user_space())
        .expect("creating the first user space failed");
    SPACES.with(|spaces| spaces.user = Some(user));
    switch_to(Space::User);
    trap::set_page_fault_handler(Some(handle_page_fault));
    let register = crate::hardware::TranslationRoot::read()
        .map_or_else(|error| error, |hardware| hardware.register);
    println!(
        "kernel space: {} root at {:#x}, {:#x}..{:#x}, RAM at {:#x} + pa; {} physical-address bits",
        <Arch as PagingArch>::NAME,
        kernel_root.as_usize(),
        KERNEL_SPACE.start,
        KERNEL_SPACE.end,
        layout::PHYS_OFFSET,
        with(Space::Kernel, |space| space.page_table().phys_addr_bits())
    );
    println!(
        "user space: root at {:#x}, {:#x}..{:#x}, {register}",
        with(Space::User, |space| space.root_paddr().as_usize()),
        user_range().start.as_usize(),
        user_range().end.as_usize()
    );
    #[cfg(target_arch = "aarch64")]
    println!("{}", arch::kernel_half_registers());
    println!("user memory: {}", arch::protect_user_memory());
    println!("ASIDs: {}", asid_summary());
    let (span, bytes) = frame_pool::frame_table_size();
    println!(
        "frame table: {} KiB of counts for {:#x}..{:#x} ({} frames), inherited by every user space",
        bytes / 1024,
        span.start,
        span.end,
        (span.end - span.start) / layout::PAGE_SIZE
    );
}

/// The page-fault handler: asks the address space that translates the address (the kernel
/// space for the upper half, else the current user space): lazy allocation, spurious faults,
/// or a typed refusal.
fn handle_page_fault(fault: PageFaultInfo) -> Result<FaultResolution, FaultError> {
    // Several CPUs may take the same fault at once: each is answered for itself.
    let fault = fault.on_cpu(smp::this_cpu());
    let which = SPACES.with(|spaces| spaces.translating(fault.address));
    if which == Space::Shared {
        // Its own lock: the other CPUs that fault in it wait here (serving shootdowns).
        let result = SHARED.with(|shared| {
            shared.as_mut().map_or(Err(FaultError::NoArea), |space| {
                space.handle_page_fault(fault)
            })
        });
        if result == Ok(FaultResolution::Populated) {
            SHARED_POPULATED.fetch_add(1, Ordering::Relaxed);
        }
        return result;
    }
    SPACES.with(|spaces| {
        spaces.get(which).map_or(Err(FaultError::NoArea), |space| {
            space.handle_page_fault(fault)
        })
    })
}

/// A new user space sharing the kernel half (for a process).
pub(crate) fn new_user_space() -> Result<AddressSpace, MappingError> {
    SPACES.with(|spaces| spaces.new_user_space())
}

/// Makes a process's user space current (`satp` / `CR3` / `TTBR0_EL1`, as [`switch_to`]).
///
/// # Safety
/// `space` must not be dropped before [`switch_to`] has made another space current.
pub(crate) unsafe fn switch_to_process(space: &AddressSpace) {
    SPACES.with(|spaces| spaces.current[smp::this_cpu()] = Space::Process);
    // SAFETY: every user space shares the kernel half (`new_user`), which maps the whole
    // kernel; the caller keeps `space` alive while it is current.
    unsafe { activate(space.page_table()) };
}

/// A page fault from user mode while a process runs: asks the space that translates the
/// address, the kernel space for the upper half (which refuses: `KernelArea` for its areas,
/// `NoArea` elsewhere) and else the process's `space`.
pub(crate) fn handle_user_fault(
    space: &mut AddressSpace,
    fault: PageFaultInfo,
) -> Result<FaultResolution, FaultError> {
    let fault = fault.on_cpu(smp::this_cpu());
    if is_upper_half(fault.address.as_usize()) {
        SPACES.with(|spaces| {
            spaces
                .get(Space::Kernel)
                .map_or(Err(FaultError::NoArea), |kernel| {
                    kernel.handle_page_fault(fault)
                })
        })
    } else {
        space.handle_page_fault(fault)
    }
}

/// Creates the spare user space (sharing the kernel half, nothing of its own yet).
pub(crate) fn create_spare() -> Result<(), String> {
    let space = SPACES
        .with(|spaces| spaces.new_user_space())
        .map_err(|error| format!("{error:?}"))?;
    SPACES.with(|spaces| spaces.spare = Some(space));
    Ok(())
}

/// Drops the spare user space (it must not be current).
pub(crate) fn destroy_spare() {
    let spare = SPACES.with(|spaces| {
        assert!(
            !spaces.current.contains(&Space::Spare),
            "dropping a current address space"
        );
        spaces.spare.take()
    });
    drop(spare);
}

/// Makes user space `which` current: the ISA crate's root switch (`satp` / `CR3`, whose
/// kernel slots are the kernel space's; on AArch64 `TTBR0_EL1` only, the kernel space in
/// `TTBR1_EL1` stays).
///
/// # Panics
/// If `which` is the kernel space or a process's space ([`switch_to_process`]).
pub(crate) fn switch_to(which: Space) {
    assert!(
        matches!(which, Space::User | Space::Spare),
        "only the kernel's own user spaces are switched here"
    );
    SPACES.with(|spaces| {
        spaces.current[smp::this_cpu()] = which;
        let space = spaces.get(which).expect("address space not created");
        // SAFETY: every user space shares the kernel half (`new_user`), which maps the whole
        // kernel, and stays alive while current (`destroy_spare` refuses the current one).
        unsafe { activate(space.page_table()) };
    });
}

/// Whether the page table maps `address` (PROT_NONE pages count as mapped).
pub(crate) fn is_mapped(space: &AddressSpace, address: usize) -> bool {
    space.query(va(address)).is_some()
}

/// The size of the page or block that maps `address`.
pub(crate) fn mapping_size(space: &AddressSpace, address: usize) -> Option<usize> {
    space
        .query(va(address))
        .map(|translation| translation.page_size as usize)
}

/// The spaces that live as long as the kernel: the kernel space and the first user space.
const RESIDENT_SPACES: [(Space, &str); 2] =
    [(Space::Kernel, "kernel space"), (Space::User, "user space")];

/// The table pages of the spaces that live as long as the kernel. The kernel space's are
/// counted by a walk of its root (`crate::hardware`): `PageTable::table_page_count` leaves out
/// the tables of shared root slots, which on x86_64 and RISC-V hold every kernel mapping.
pub(crate) fn resident_table_pages() -> usize {
    RESIDENT_SPACES
        .iter()
        .map(|&(which, _)| table_pages(which))
        .sum()
}

fn table_pages(which: Space) -> usize {
    match which {
        Space::Kernel => crate::hardware::table_pages(
            with(Space::Kernel, |space| space.root_paddr().as_usize()),
            <Arch as PagingArch>::LEVELS,
        ),
        _ => with(which, |space| space.page_table().table_page_count()),
    }
}

/// Prints the resident spaces like `/proc/self/maps`.
pub(crate) fn print_maps() {
    for (which, name) in RESIDENT_SPACES {
        let pages = table_pages(which);
        with(which, |space| {
            println!("{name} ({pages} table pages):");
            crate::print!("{space}");
        });
    }
}

/// Makes instructions the kernel wrote at `address` (`length` bytes, through a data mapping)
/// visible to instruction fetches on this CPU: the ISA crate's sequence (AArch64 `DC CVAU` /
/// `IC IVAU` with the line sizes of `CTR_EL0`, RISC-V `fence.i`, nothing on x86_64). (The
/// loader needs none of this: `AddressSpace::load` syncs what it writes to executable areas.)
pub(crate) fn sync_instruction_cache(address: usize, length: usize) {
    <Arch as PagingArch>::sync_instruction_cache(va(address), length);
}
