//! The integration point: the kernel's address spaces built with `vmlayer_paging::AddressSpace`.
//!
//! 1. [`KernelFrames`] feeds page tables and lazy pages from the frame pool
//!    (`page_table_multiarch::PagingHandler`); RAM is identity-mapped, so `phys_to_virt` is the
//!    identity.
//! 2. [`init`] maps the kernel image with honest permissions (text R+X, rodata R, data+bss R+W),
//!    all usable RAM R+W (linear, identity: every bank the frame pool hands out from), the MMIO
//!    pages as DEVICE; installs the TLB flush hook; turns the MMU on (`arch::enable_mmu`, which
//!    ends in the ISA crate's `PagingArch::activate`); and installs [`handle_page_fault`] as the
//!    trap's page-fault handler.
//! 3. Traps decode the ISA registers with the ISA crate's `decode_page_fault` and hand the
//!    `PageFaultInfo` to `AddressSpace::handle_page_fault` of the space that translates the
//!    address: the current space, or on AArch64 the kernel half for an upper-half address.
//!
//! On AArch64, [`init`] also builds the kernel half (`kernel_half`): the linear map of RAM in
//! the upper half, loaded into `TTBR1_EL1`.

use alloc::format;
use alloc::string::String;

use vmlayer_arch::{PageFaultInfo, PagingArch, PagingHandler, PhysAddr, TlbFlushRequest, VirtAddr};
use vmlayer_paging::{AddressSpace, FaultError, FaultResolution, MappingError, MappingFlags};

use crate::global_cell::GlobalCell;
use crate::layout;
use crate::{arch, frame_pool, println, trap};

#[cfg(target_arch = "aarch64")]
mod kernel_half;
#[cfg(target_arch = "aarch64")]
pub(crate) use self::kernel_half::linear_address;

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
        // All RAM the pool hands out is identity-mapped (see `init`).
        VirtAddr::from(paddr.as_usize())
    }
}

/// The kernel's address-space type.
pub(crate) type KernelAddressSpace = AddressSpace<KernelFrames, Arch>;

/// Which of the kernel's address spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Space {
    /// The kernel's own space, active after boot.
    Kernel,
    /// A second space (same kernel mappings) for the two-spaces case.
    Spare,
    /// AArch64: the kernel half, upper-half addresses only, in `TTBR1_EL1` beside whichever of
    /// the two others is in `TTBR0_EL1` (never "current": [`switch_to`] refuses it).
    #[cfg(target_arch = "aarch64")]
    KernelHalf,
}

struct Spaces {
    kernel: Option<KernelAddressSpace>,
    spare: Option<KernelAddressSpace>,
    #[cfg(target_arch = "aarch64")]
    kernel_half: Option<KernelAddressSpace>,
    /// The space in the root register (`TTBR0_EL1` on AArch64).
    current: Space,
}

impl Spaces {
    fn get(&mut self, which: Space) -> Option<&mut KernelAddressSpace> {
        match which {
            Space::Kernel => self.kernel.as_mut(),
            Space::Spare => self.spare.as_mut(),
            #[cfg(target_arch = "aarch64")]
            Space::KernelHalf => self.kernel_half.as_mut(),
        }
    }

    /// The space the CPU translates `address` with: the current one, or on AArch64 the kernel
    /// half for an upper-half address.
    fn translating(&self, address: VirtAddr) -> Space {
        #[cfg(target_arch = "aarch64")]
        if kernel_half::translates(address.as_usize()) {
            return Space::KernelHalf;
        }
        let _ = address;
        self.current
    }
}

static SPACES: GlobalCell<Spaces> = GlobalCell::new(Spaces {
    kernel: None,
    spare: None,
    #[cfg(target_arch = "aarch64")]
    kernel_half: None,
    current: Space::Kernel,
});

/// Shorthand for a virtual address.
pub(crate) fn va(address: usize) -> VirtAddr {
    VirtAddr::from(address)
}

/// Shorthand for a physical address.
pub(crate) fn pa(address: usize) -> PhysAddr {
    PhysAddr::from(address)
}

/// Runs `f` on one of the address spaces.
///
/// # Panics
/// If that space does not exist (the spare one before [`create_spare`]).
pub(crate) fn with<R>(which: Space, f: impl FnOnce(&mut KernelAddressSpace) -> R) -> R {
    SPACES.with(|spaces| f(spaces.get(which).expect("address space not created")))
}

/// The TLB flush hook of every kernel address space: a local flush on this single hart (an SMP
/// kernel would also send IPIs here). With the test-only feature `broken-skip-tlb-flush` it
/// skips the flush, to show that the suite catches a backend that forgets TLB maintenance.
fn flush_hook(request: &TlbFlushRequest) {
    if cfg!(feature = "broken-skip-tlb-flush") {
        return;
    }
    <Arch as PagingArch>::flush_tlb_local(request);
}

/// A new, empty address space with the kernel's TLB flush hook.
fn new_space() -> Result<KernelAddressSpace, MappingError> {
    let mut space = KernelAddressSpace::try_new()?;
    space.set_tlb_flush_hook(Some(flush_hook));
    Ok(space)
}

/// A new address space holding the kernel's own mappings.
fn new_space_with_kernel() -> Result<KernelAddressSpace, MappingError> {
    let mut space = new_space()?;
    let image = layout::kernel_layout();
    let read = MappingFlags::READ;
    let write = MappingFlags::WRITE;
    let image_regions = [
        (image.text.clone(), read | MappingFlags::EXECUTE),
        (image.rodata.clone(), read),
        (image.data.clone(), read | write),
    ];
    // All usable RAM (every bank the frame pool hands out from), identity-mapped read-write.
    let ram = layout::usable_ram();
    let ram_regions = ram
        .as_slice()
        .iter()
        .map(|range| (range.clone(), read | write));
    for (range, flags) in image_regions.into_iter().chain(ram_regions) {
        space.map_linear(
            va(range.start),
            pa(range.start),
            range.end - range.start,
            flags,
        )?;
    }
    for range in arch::MMIO_REGIONS {
        space.map_linear(
            va(range.start),
            pa(range.start),
            range.end - range.start,
            read | write | MappingFlags::DEVICE,
        )?;
    }
    Ok(space)
}

/// Builds the kernel address space, turns the MMU on and routes page faults to it; on AArch64
/// then builds the kernel half and loads it into `TTBR1_EL1`.
///
/// # Panics
/// If the kernel cannot be mapped (no memory): nothing can run without it.
pub(crate) fn init() {
    let space = new_space_with_kernel().expect("mapping the kernel failed");
    let root = space.root_paddr();
    SPACES.with(|spaces| spaces.kernel = Some(space));
    // SAFETY: the new table maps the running code, the stack, all data and the devices at
    // their current (identity) addresses, and lives in `SPACES` until the kernel exits.
    unsafe { arch::enable_mmu(root) }.expect("the CPU does not support the translation mode");
    trap::set_page_fault_handler(Some(handle_page_fault));
    let register = crate::hardware::TranslationRoot::read()
        .map_or_else(|error| error, |hardware| hardware.register);
    println!(
        "MMU on: {} root at {:#x}, {register}, {} physical-address bits",
        <Arch as PagingArch>::NAME,
        root.as_usize(),
        with(Space::Kernel, |space| space.page_table().phys_addr_bits())
    );
    #[cfg(target_arch = "aarch64")]
    kernel_half::init();
    println!("user memory: {}", arch::protect_user_memory());
}

/// The page-fault handler: asks the address space that translates the address (the current
/// one, or the AArch64 kernel half): lazy allocation, spurious faults, or a typed refusal.
fn handle_page_fault(fault: PageFaultInfo) -> Result<FaultResolution, FaultError> {
    SPACES.with(|spaces| {
        let which = spaces.translating(fault.address);
        spaces.get(which).map_or(Err(FaultError::NoArea), |space| {
            space.handle_page_fault(fault)
        })
    })
}

/// Creates the spare address space (kernel mappings only).
pub(crate) fn create_spare() -> Result<(), String> {
    let space = new_space_with_kernel().map_err(|error| format!("{error:?}"))?;
    SPACES.with(|spaces| spaces.spare = Some(space));
    Ok(())
}

/// Drops the spare address space (it must not be active).
pub(crate) fn destroy_spare() {
    let spare = SPACES.with(|spaces| {
        assert_eq!(
            spaces.current,
            Space::Kernel,
            "dropping the active address space"
        );
        spaces.spare.take()
    });
    drop(spare);
}

/// Makes `which` the active address space (root register switch through the ISA crate; on
/// AArch64 `TTBR0_EL1` only, the kernel half in `TTBR1_EL1` stays).
///
/// # Panics
/// If `which` is the AArch64 kernel half (it is never in `TTBR0_EL1`).
pub(crate) fn switch_to(which: Space) {
    #[cfg(target_arch = "aarch64")]
    assert_ne!(which, Space::KernelHalf, "the kernel half lives in TTBR1");
    let root = with(which, |space| space.root_paddr());
    SPACES.with(|spaces| spaces.current = which);
    // SAFETY: both spaces map the whole kernel identically (`new_space_with_kernel`) and stay
    // alive while active (`destroy_spare` refuses the active one).
    unsafe { <Arch as PagingArch>::activate(root) }
        .expect("the CPU took this translation mode at boot");
}

/// Whether the page table maps `address` (PROT_NONE pages count as mapped).
pub(crate) fn is_mapped(space: &KernelAddressSpace, address: usize) -> bool {
    space.query(va(address)).is_some()
}

/// The size of the page or block that maps `address`.
pub(crate) fn mapping_size(space: &KernelAddressSpace, address: usize) -> Option<usize> {
    space
        .query(va(address))
        .map(|translation| translation.page_size as usize)
}

/// The spaces that live as long as the kernel: its own and, on AArch64, the kernel half.
fn resident_spaces() -> &'static [(Space, &'static str)] {
    &[
        (Space::Kernel, "kernel address space"),
        #[cfg(target_arch = "aarch64")]
        (Space::KernelHalf, "kernel half (TTBR1)"),
    ]
}

/// The table pages of the spaces that live as long as the kernel (see [`print_maps`]).
pub(crate) fn resident_table_pages() -> usize {
    resident_spaces()
        .iter()
        .map(|&(which, _)| with(which, |space| space.page_table().table_page_count()))
        .sum()
}

/// Prints the kernel address space (and the AArch64 kernel half) like `/proc/self/maps`.
pub(crate) fn print_maps() {
    for &(which, name) in resident_spaces() {
        with(which, |space| {
            println!(
                "{name} ({} table pages):",
                space.page_table().table_page_count()
            );
            crate::print!("{space}");
        });
    }
}

/// Makes instructions the kernel wrote at `address` (`length` bytes, through a data mapping)
/// visible to instruction fetches: the ISA crate's sequence (AArch64 `DC CVAU` / `IC IVAU` with
/// the line sizes of `CTR_EL0`, RISC-V `fence.i`, nothing on x86_64).
pub(crate) fn sync_instruction_cache(address: usize, length: usize) {
    vmlayer_arch::cache::sync_instruction_cache::<Arch>(va(address), length);
}
