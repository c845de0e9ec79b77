//! Cases 15–20: processes (the fork cases are in `fork.rs`). Each loads a user program (`crate::programs`) into a process of its
//! own (`crate::process`), runs it in user mode, and checks what the program's own accesses
//! and system calls did: its exit, the signal that killed it and where, its output, and its
//! address space afterwards. Every case ends with the frame pool's in-use count back where it
//! was: dropping an exited process returns every frame and table page it took.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use vmlayer_paging::{Access, FaultError, MappingFlags};

use super::fixtures::{Frame, kernel_slot};
use crate::kernel_space::va;
use crate::layout::{self, PAGE_SIZE};
use crate::process::{
    DATA_START, Exit, MMAP_BASE, Output, Process, SIGSEGV, STACK_GUARD, Stop, TEXT_START,
};
use crate::programs::{self, HELLO_MESSAGE, Program};
use crate::scheduler::Scheduler;
use crate::{ensure_eq, frame_pool, trap};

/// `si_code` of a `SIGSEGV` for an address no area holds.
pub(super) const SEGV_MAPERR: i32 = 1;
/// `si_code` of a `SIGSEGV` for an access the area (or the kernel half) forbids.
const SEGV_ACCERR: i32 = 2;

/// A process running `program` with `arguments`, its output captured.
pub(super) fn spawn(program: &Program, arguments: [usize; 3]) -> Result<Process, String> {
    Process::spawn(program, arguments, Output::Captured(Vec::new()))
        .map_err(|error| format!("spawning {}: {error}", program.name))
}

/// A process running `program` with `arguments` in `scheduler`, its output captured.
pub(super) fn spawn_into(
    scheduler: &mut Scheduler,
    program: &Program,
    arguments: [usize; 3],
) -> Result<usize, String> {
    scheduler
        .spawn(program, arguments, Output::Captured(Vec::new()))
        .map_err(|error| format!("spawning {}: {error}", program.name))
}

/// The frame that maps `address` in `process`'s space.
pub(super) fn frame_of(process: &Process, address: usize) -> Option<usize> {
    process
        .space
        .query(va(address))
        .map(|translation| translation.paddr.as_usize())
}

/// Checks that the frame pool is back at `in_use_before` once the case's processes are gone.
pub(super) fn frames_back(in_use_before: usize) -> Result<(), String> {
    ensure_eq!(
        frame_pool::stats().in_use,
        in_use_before,
        "frames in use after every process exited and was dropped"
    );
    Ok(())
}

/// The area flags of `address` in `process`'s space, if an area holds it.
pub(super) fn area_flags(process: &Process, address: usize) -> Option<MappingFlags> {
    process
        .space
        .find_area(va(address))
        .map(|area| area.flags())
}

/// A user program cannot reach kernel memory: its loads, stores and jumps to the kernel's text,
/// rodata, data, stack, heap and direct map kill it with `SIGSEGV` / `SEGV_ACCERR` at that
/// address (the kernel space refuses a user access to its areas), an unmapped kernel address
/// with `SEGV_MAPERR`; the store lands nowhere.
pub(crate) fn user_cannot_reach_kernel() -> Result<(), String> {
    let frame = Frame::filled(0x4b45_524e)?;
    let in_use_before = frame_pool::stats().in_use;
    let image = layout::kernel_layout();
    let heap_object = alloc::boxed::Box::new(0u64);
    let stack_word = 0u64;
    let mapped = [
        ("text", image.text.start),
        ("rodata", image.rodata.start),
        ("data", image.data.start),
        ("stack", &raw const stack_word as usize),
        ("heap", &raw const *heap_object as usize),
        ("direct map", frame.virt()),
    ];
    let accesses = [
        (programs::TOUCH_LOAD, Access::Read),
        (programs::TOUCH_STORE, Access::Write),
        (programs::TOUCH_JUMP, Access::Execute),
    ];
    let unmapped = kernel_slot(15);
    let targets = mapped
        .iter()
        .flat_map(|&(name, address)| {
            accesses
                .iter()
                .map(move |&access| (name, address, access, FaultError::KernelArea))
        })
        .chain([(
            "unmapped",
            unmapped,
            (programs::TOUCH_LOAD, Access::Read),
            FaultError::NoArea,
        )]);
    for (name, address, (operation, access), error) in targets {
        let mut process = spawn(&programs::touch(), [operation, address, 0x0bad])?;
        let exit = process.run_to_exit();
        ensure_eq!(
            exit,
            Exit::Killed {
                address,
                access,
                error
            },
            "{access:?} of the kernel's {name} at {address:#x} from user mode"
        );
        let code = if error == FaultError::NoArea {
            SEGV_MAPERR
        } else {
            SEGV_ACCERR
        };
        ensure_eq!(
            exit.signal(),
            Some((SIGSEGV, Some(code))),
            "the signal for the kernel's {name}"
        );
    }
    ensure_eq!(
        frame.word(0),
        0x4b45_524e,
        "the refused store left the direct-map frame alone"
    );
    frames_back(in_use_before)
}

/// `write` with a bad buffer answers `-EFAULT` and the program goes on: the kernel copies with
/// `read_user`, which checks the areas and never faults, whatever the pointer (the kernel's
/// text and heap, the null page, an unmapped page, the stack's PROT_NONE guard page, a buffer
/// that runs past the data, a huge length); the good writes around it reach the output.
pub(crate) fn write_bad_pointer_is_efault() -> Result<(), String> {
    let in_use_before = frame_pool::stats().in_use;
    let (kernel_refusals_before, _) = trap::refused_faults();
    let heap_object = alloc::boxed::Box::new(0u64);
    let data_end = DATA_START + PAGE_SIZE;
    let bad_buffers = [
        ("kernel text", layout::kernel_layout().text.start, 8),
        ("kernel heap", &raw const *heap_object as usize, 8),
        ("the null page", 0, 8),
        ("an unmapped user page", MMAP_BASE, 8),
        ("the stack's guard page", STACK_GUARD, 8),
        ("a buffer running past the data segment", data_end - 4, 8),
        ("a huge length", DATA_START, usize::MAX),
    ];
    let mut expected_output = Vec::new();
    expected_output.extend_from_slice(HELLO_MESSAGE);
    expected_output.extend_from_slice(HELLO_MESSAGE);
    for (name, pointer, length) in bad_buffers {
        let mut process = spawn(&programs::write_checks(), [pointer, length, 0])?;
        let exit = process.run_to_exit();
        ensure_eq!(
            exit,
            Exit::Exited(0),
            "write_checks with {name} ({pointer:#x}, {length:#x}): exit 1 = the good write failed, \
             2 = the bad write did not answer -EFAULT, 3 = the write after it failed"
        );
        ensure_eq!(
            process.captured(),
            &expected_output[..],
            "the output of the two good writes, nothing of the bad one ({name})"
        );
    }
    ensure_eq!(
        trap::refused_faults().0,
        kernel_refusals_before,
        "no kernel-mode page fault was taken for any bad pointer"
    );
    frames_back(in_use_before)
}

/// `mprotect(READ)` on an anonymous page the program wrote, then a store from user mode: the
/// program is killed there (`SIGSEGV` / `SEGV_ACCERR`), the page is one read-only area and
/// still holds the first value.
pub(crate) fn mprotect_read_only_refuses_store() -> Result<(), String> {
    let in_use_before = frame_pool::stats().in_use;
    let mut process = spawn(&programs::mprotect_store(), [0; 3])?;
    let exit = process.run_to_exit();
    ensure_eq!(
        exit,
        Exit::Killed {
            address: MMAP_BASE,
            access: Access::Write,
            error: FaultError::AccessDenied
        },
        "mprotect_store (exit 1 = mmap failed, 2 = mprotect failed, 3 = the load after \
         mprotect, 4 = the read-only store worked)"
    );
    ensure_eq!(
        exit.signal(),
        Some((SIGSEGV, Some(SEGV_ACCERR))),
        "the signal"
    );
    let area = process
        .space
        .find_area(va(MMAP_BASE))
        .map(|area| (area.start().as_usize(), area.size(), area.flags()));
    ensure_eq!(
        area,
        Some((
            MMAP_BASE,
            PAGE_SIZE,
            MappingFlags::USER | MappingFlags::READ
        )),
        "the mmap'd page after mprotect"
    );
    ensure_eq!(
        process.read_word(MMAP_BASE),
        Ok(programs::MPROTECT_FIRST_VALUE as u64),
        "the refused store did not land"
    );
    drop(process);
    frames_back(in_use_before)
}

/// `brk` grows the heap (data kept across growth), shrinks it (data below the break kept),
/// grows it again with fresh pages; a store above the shrunk break kills the program
/// (`SEGV_MAPERR`). The heap is one area with the data segment, ending at the break.
pub(crate) fn brk_grows_and_shrinks() -> Result<(), String> {
    let in_use_before = frame_pool::stats().in_use;
    let mut process = spawn(&programs::brk_checks(), [0; 3])?;
    let heap = process.heap_start;
    let exit = process.run_to_exit();
    ensure_eq!(
        exit,
        Exit::Killed {
            address: heap + 2 * PAGE_SIZE,
            access: Access::Write,
            error: FaultError::NoArea
        },
        "the store above the shrunk break (brk_checks exit 1..=9: see programs::brk_checks)"
    );
    ensure_eq!(
        exit.signal(),
        Some((SIGSEGV, Some(SEGV_MAPERR))),
        "the signal"
    );
    ensure_eq!(process.brk, heap + PAGE_SIZE, "the break");
    let area = process
        .space
        .find_area(va(heap))
        .map(|area| (area.start().as_usize(), area.end().as_usize()));
    ensure_eq!(
        area,
        Some((DATA_START, heap + PAGE_SIZE)),
        "data segment and heap are one area, up to the break"
    );
    ensure_eq!(process.read_word(heap), Ok(0x11), "the heap's first word");
    ensure_eq!(
        process.resolved_faults,
        4,
        "one fault per first touch of a heap page: b, b + 2P, b + 8P, and b + 2P again after \
         the shrink unmapped it"
    );
    drop(process);
    frames_back(in_use_before)
}

/// `munmap` of one page of an anonymous mapping (after `MAP_FIXED_NOREPLACE` was refused with
/// `-EEXIST` and `MAP_FIXED` replaced the other page): a load from it kills the program
/// (`SEGV_MAPERR`), the other page stays mapped with its data.
pub(crate) fn munmap_then_access_faults() -> Result<(), String> {
    let in_use_before = frame_pool::stats().in_use;
    let mut process = spawn(&programs::munmap_checks(), [0; 3])?;
    let exit = process.run_to_exit();
    ensure_eq!(
        exit,
        Exit::Killed {
            address: MMAP_BASE,
            access: Access::Read,
            error: FaultError::NoArea
        },
        "the load from the unmapped page (munmap_checks exit 1..=7: see \
         programs::munmap_checks)"
    );
    ensure_eq!(
        exit.signal(),
        Some((SIGSEGV, Some(SEGV_MAPERR))),
        "the signal"
    );
    ensure_eq!(
        area_flags(&process, MMAP_BASE),
        None,
        "no area at the unmapped page"
    );
    ensure_eq!(
        area_flags(&process, MMAP_BASE + PAGE_SIZE),
        Some(MappingFlags::USER | MappingFlags::READ | MappingFlags::WRITE),
        "the page MAP_FIXED replaced"
    );
    ensure_eq!(
        process.read_word(MMAP_BASE + PAGE_SIZE),
        Ok(0x33),
        "its data"
    );
    drop(process);
    frames_back(in_use_before)
}

/// Two processes of one program store different values at the same address, yield to each
/// other, and each reads back its own (its exit status): the address maps a frame of each
/// process's own.
pub(crate) fn two_processes_same_address() -> Result<(), String> {
    let in_use_before = frame_pool::stats().in_use;
    let program = programs::same_address();
    let mut scheduler = Scheduler::new();
    let first = spawn_into(&mut scheduler, &program, [17, 0, 0])?;
    let second = spawn_into(&mut scheduler, &program, [42, 0, 0])?;
    ensure_eq!(
        scheduler.run(first),
        Some(Stop::Yielded),
        "the first process yields"
    );
    ensure_eq!(
        scheduler.run(second),
        Some(Stop::Yielded),
        "the second process yields"
    );
    let mut words = [Ok(0); 2];
    let mut frames = [None; 2];
    for (index, pid) in [first, second].into_iter().enumerate() {
        let process = scheduler
            .get_mut(pid)
            .ok_or("the two processes are in the scheduler's table")?;
        words[index] = process.read_word(DATA_START);
        frames[index] = frame_of(process, DATA_START);
    }
    ensure_eq!(
        words,
        [Ok(17), Ok(42)],
        "each process's word at {DATA_START:#x}"
    );
    let [first_frame, second_frame] = frames;
    if first_frame.is_none() || first_frame == second_frame {
        return Err(format!(
            "{DATA_START:#x} must map a frame of each process's own: {first_frame:?}, \
             {second_frame:?}"
        ));
    }
    ensure_eq!(
        scheduler
            .get(first)
            .and_then(|process| area_flags(process, TEXT_START)),
        Some(MappingFlags::USER | MappingFlags::READ | MappingFlags::EXECUTE),
        "the text"
    );
    scheduler.run_all();
    ensure_eq!(
        [first, second].map(|pid| scheduler.get(pid).and_then(|process| process.exit)),
        [Some(Exit::Exited(17)), Some(Exit::Exited(42))],
        "each process read back its own value after the other wrote (its exit status)"
    );
    drop(scheduler);
    frames_back(in_use_before)
}
