//! The whole flow of a teaching kernel with processes, through the public API only and with no
//! `unsafe` outside the frame allocator: a kernel space, processes that share its half, a
//! loader with two segments sharing a page, a stack with a guard page, `brk`, anonymous
//! `mmap` / `munmap` / `mprotect`, a `write` system call that copies from user memory, lazy and
//! protection faults, two processes at one address, and every frame back when they exit.

use std::alloc::{Layout, alloc, dealloc};
use std::cell::Cell;

use vmlayer_paging::{
    Access, AddressSpace, Arch, Area, Backend, FaultError, FaultResolution, MappingError,
    MappingFlags, PageFaultInfo, PagingArch, PagingHandler, PhysAddr, Placement, VirtAddr,
    VirtAddrRange,
};

std::thread_local! {
    static LIVE_FRAMES: Cell<usize> = const { Cell::new(0) };
}

/// Frames from the host heap, physical = virtual, counted.
struct Frames;

impl PagingHandler for Frames {
    fn alloc_frames(count: usize, align: usize) -> Option<PhysAddr> {
        if align != 4096 || count == 0 {
            return None;
        }
        let layout = Layout::from_size_align(count * 4096, 4096).ok()?;
        // SAFETY: the layout has a non-zero size.
        let pointer = unsafe { alloc(layout) };
        LIVE_FRAMES.set(LIVE_FRAMES.get() + count);
        (!pointer.is_null()).then(|| PhysAddr::from(pointer as usize))
    }

    fn dealloc_frames(paddr: PhysAddr, count: usize) {
        LIVE_FRAMES.set(LIVE_FRAMES.get() - count);
        let layout = Layout::from_size_align(count * 4096, 4096).unwrap();
        // SAFETY: allocated by `alloc_frames` with this layout.
        unsafe { dealloc(paddr.as_usize() as *mut u8, layout) }
    }

    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        VirtAddr::from(paddr.as_usize())
    }
}

type Space = AddressSpace<Frames>;

const PAGE: usize = 0x1000;
const USER: MappingFlags = MappingFlags::USER;
const R: MappingFlags = MappingFlags::READ;
const W: MappingFlags = MappingFlags::WRITE;
const X: MappingFlags = MappingFlags::EXECUTE;
/// Linux's errno values the system calls below answer with.
const EFAULT: i32 = 14;
const ENOMEM: i32 = 12;

fn va(address: usize) -> VirtAddr {
    VirtAddr::from(address)
}

fn upper_half() -> usize {
    !((1usize << (Arch::VA_BITS - 1)) - 1)
}

fn user_range() -> VirtAddrRange {
    VirtAddrRange::new(va(PAGE), va(1 << (Arch::VA_BITS - 1)))
}

/// A program: a text segment and a data segment that starts on the text's last page.
const TEXT_START: usize = 0x40_0000;
const TEXT: &[u8] = &[0x90; 0x1800];
const DATA_START: usize = 0x40_1800;
const DATA: &[u8] = b"initialized data";
const STACK_TOP: usize = 0x7000_0000;
const STACK_SIZE: usize = 16 * PAGE;

/// A process: its address space and its program break.
struct Process {
    space: Space,
    brk_start: usize,
    brk: usize,
}

impl Process {
    /// Creates the space, loads the two segments (the data segment replaces the shared page
    /// with MAP_FIXED, and the loader writes both segments' bytes, ignoring permissions), and
    /// maps a lazy stack with a guard page below it.
    fn spawn(kernel: &Space) -> Result<Self, MappingError> {
        let mut space = Space::new_user(kernel, user_range())?;
        let text_end = (TEXT_START + TEXT.len()).next_multiple_of(PAGE);
        let data_page = DATA_START & !(PAGE - 1);
        let data_end = (DATA_START + DATA.len()).next_multiple_of(PAGE);
        let lazy = Backend::Alloc { populate: false };
        let text = Area::new(va(TEXT_START), text_end - TEXT_START, USER | R | X, lazy);
        space.map(text, Placement::NoReplace)?;
        let data = Area::new(va(data_page), data_end - data_page, USER | R | W, lazy);
        assert_eq!(
            space.map(data.clone(), Placement::NoReplace),
            Err(MappingError::AlreadyExists)
        );
        space.map(data, Placement::Fixed)?;
        space
            .load(va(TEXT_START), TEXT)
            .map_err(|_| MappingError::NoMemory)?;
        space
            .load(va(DATA_START), DATA)
            .map_err(|_| MappingError::NoMemory)?;
        space.map_alloc(va(STACK_TOP - STACK_SIZE), STACK_SIZE, USER | R | W, false)?;
        Ok(Self {
            space,
            brk_start: data_end,
            brk: data_end,
        })
    }

    /// `brk(new)`: grows the heap by mapping the pages above it (they merge with the area
    /// below: the data segment, then the heap, stay one area), shrinks it by unmapping the
    /// pages above the new break; a break below the start only asks.
    fn sys_brk(&mut self, new: usize) -> usize {
        if new < self.brk_start {
            return self.brk;
        }
        let old_top = self.brk.next_multiple_of(PAGE);
        let new_top = new.next_multiple_of(PAGE);
        let result = if new_top > old_top {
            let size = new_top - old_top;
            self.space.map_alloc(va(old_top), size, USER | R | W, false)
        } else {
            self.space.unmap(va(new_top), old_top - new_top)
        };
        if result.is_ok() {
            self.brk = new;
        }
        self.brk
    }

    /// `mmap(hint, len, prot, MAP_ANONYMOUS | MAP_PRIVATE [| MAP_FIXED])`.
    fn sys_mmap(
        &mut self,
        hint: usize,
        len: usize,
        prot: MappingFlags,
        fixed: bool,
    ) -> Result<usize, i32> {
        let size = len.next_multiple_of(PAGE);
        let start = if fixed {
            hint
        } else {
            let found = self.space.find_free_area(va(hint), size, PAGE);
            found.ok_or(ENOMEM)?.as_usize()
        };
        let area = Area::new(
            va(start),
            size,
            USER | prot,
            Backend::Alloc { populate: false },
        );
        let placement = if fixed {
            Placement::Fixed
        } else {
            Placement::NoReplace
        };
        self.space
            .map(area, placement)
            .map_err(MappingError::errno)?;
        Ok(start)
    }

    /// `write(1, buffer, len)`: copies the bytes out of user memory.
    fn sys_write(
        &mut self,
        buffer: usize,
        len: usize,
        console: &mut Vec<u8>,
    ) -> Result<usize, i32> {
        let mut bytes = vec![0; len];
        self.space
            .read_user(va(buffer), &mut bytes)
            .map_err(FaultError::errno)?;
        console.extend_from_slice(&bytes);
        Ok(len)
    }

    /// A user-mode access, as the trap handler sees it after the hardware faulted.
    fn fault(&mut self, address: usize, access: Access) -> Result<FaultResolution, FaultError> {
        self.space
            .handle_page_fault(PageFaultInfo::new(va(address), access, true))
    }

    /// A user-mode store that the MMU allowed or that a fault made possible.
    fn store(&mut self, address: usize, bytes: &[u8]) -> Result<(), FaultError> {
        let mapped = self
            .space
            .query(va(address))
            .is_some_and(|t| t.flags.contains(W));
        if !mapped {
            self.fault(address, Access::Write)?;
        }
        self.space.write_user(va(address), bytes)
    }
}

#[test]
fn a_teaching_kernel_runs_two_processes_and_gets_every_frame_back() {
    let kernel_range = VirtAddrRange::new(va(upper_half()), va(upper_half() + 0x4000_0000));
    let mut kernel = Space::new_kernel(kernel_range).unwrap();
    let kernel_heap = upper_half() + 0x20_0000;
    kernel
        .map_alloc(va(kernel_heap), 4 * PAGE, R | W, true)
        .unwrap();
    let baseline = LIVE_FRAMES.get();

    let mut first = Process::spawn(&kernel).unwrap();
    let mut second = Process::spawn(&kernel).unwrap();

    // The loader's bytes are there, read as the program would read them.
    let mut data = [0; DATA.len()];
    first.space.read_user(va(DATA_START), &mut data).unwrap();
    assert_eq!(&data, DATA);
    let mut text = [0; 4];
    first
        .space
        .read_user(va(DATA_START - 4), &mut text)
        .unwrap();
    assert_eq!(
        text, [0x90; 4],
        "the text's tail, loaded into the shared page"
    );
    assert_eq!(
        first.space.find_area(va(TEXT_START)).unwrap().flags(),
        USER | R | X,
        "text keeps its page; the shared page went to the data segment"
    );
    // Text is not writable from user mode.
    let refused = first.fault(TEXT_START, Access::Write).unwrap_err();
    assert_eq!(
        (refused, refused.segv_code()),
        (FaultError::AccessDenied, Some(2))
    );

    // The stack grows down lazily; the guard page below it is no area.
    assert_eq!(
        first.fault(STACK_TOP - 8, Access::Write),
        Ok(FaultResolution::Populated)
    );
    let guard = STACK_TOP - STACK_SIZE - 8;
    let segv = first.fault(guard, Access::Write).unwrap_err();
    assert_eq!((segv, segv.segv_code()), (FaultError::NoArea, Some(1)));

    // brk grows and shrinks one area in place, keeping the data.
    let heap = first.brk_start;
    assert_eq!(first.sys_brk(0), heap, "brk(0) asks");
    assert_eq!(first.sys_brk(heap + 3 * PAGE), heap + 3 * PAGE);
    first.store(heap + 16, b"heap").unwrap();
    assert_eq!(first.sys_brk(heap + 9 * PAGE), heap + 9 * PAGE);
    assert_eq!(first.sys_brk(heap + PAGE), heap + PAGE);
    let mut back = [0; 4];
    first.space.read_user(va(heap + 16), &mut back).unwrap();
    assert_eq!(&back, b"heap");
    let heap_area = first.space.find_area(va(heap)).unwrap();
    assert!(
        heap_area.va_range().contains(va(DATA_START)),
        "merged with the data segment"
    );
    assert_eq!(
        heap_area.end(),
        va(heap + PAGE),
        "one area, whatever the number of calls"
    );
    assert_eq!(first.sys_brk(heap), heap, "back to an empty heap");
    assert!(first.space.find_area(va(heap)).is_none());
    assert_eq!(first.sys_brk(heap + PAGE), heap + PAGE, "and growing again");

    // Anonymous mmap, kernel-chosen and fixed; mprotect; munmap.
    let anon = first.sys_mmap(0x1000_0000, 3 * PAGE, R | W, false).unwrap();
    first.store(anon + PAGE, b"anon").unwrap();
    let fixed = first.sys_mmap(anon + 2 * PAGE, PAGE, R, true).unwrap();
    assert_eq!(fixed, anon + 2 * PAGE);
    first.space.mprotect(va(anon), PAGE, R).unwrap();
    assert_eq!(
        first.store(anon, b"x"),
        Err(FaultError::AccessDenied),
        "read-only now"
    );
    assert_eq!(
        first
            .space
            .mprotect(va(anon), 8 * PAGE, R)
            .map_err(MappingError::errno),
        Err(ENOMEM),
        "mprotect over a hole"
    );
    first.space.unmap(va(anon), 3 * PAGE).unwrap();
    assert_eq!(
        first.fault(anon + PAGE, Access::Read),
        Err(FaultError::NoArea)
    );

    // write(): good and bad pointers; the kernel survives both.
    let mut console = Vec::new();
    assert_eq!(
        first.sys_write(DATA_START, DATA.len(), &mut console),
        Ok(DATA.len())
    );
    assert_eq!(
        first.sys_write(upper_half() + 0x20_0000, 4, &mut console),
        Err(EFAULT)
    );
    assert_eq!(first.sys_write(0x10, 4, &mut console), Err(EFAULT));
    assert_eq!(console, DATA);

    // Two processes at the same address see their own data.
    first.store(DATA_START, b"first").unwrap();
    second.store(DATA_START, b"other").unwrap();
    let mut seen = [0; 5];
    first.space.read_user(va(DATA_START), &mut seen).unwrap();
    assert_eq!(&seen, b"first");
    second.space.read_user(va(DATA_START), &mut seen).unwrap();
    assert_eq!(&seen, b"other");

    // User spaces cannot reach the kernel; a kernel mapping made now reaches them.
    assert_eq!(
        first.space.unmap(va(kernel_heap), PAGE),
        Err(MappingError::InvalidParam)
    );
    let late = upper_half() + 0x30_0000;
    kernel.map_alloc(va(late), PAGE, R | W, true).unwrap();
    if !Arch::ONE_HALF_PER_TABLE {
        let walked = second.space.page_table().query(va(late)).map(|t| t.paddr);
        assert_eq!(walked, kernel.query(va(late)).map(|t| t.paddr));
    }
    kernel.unmap(va(late), PAGE).unwrap();

    // Exit: every frame of both processes comes back; the kernel keeps its own.
    drop(first);
    drop(second);
    assert_eq!(LIVE_FRAMES.get(), baseline);
    drop(kernel);
    assert_eq!(LIVE_FRAMES.get(), 0);
}
