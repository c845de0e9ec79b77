//! Cases 21–25: `fork`, `wait4`, `MAP_SHARED` and `mremap`, by user programs' own loads and
//! stores (`crate::programs`), with processes run by the scheduler (`crate::scheduler`) turn by
//! turn where the kernel looks in between: at the frames each space maps (`AddressSpace::query`)
//! and at their counts in the frame table. Every case ends with the frame pool's in-use count
//! where it was and no frame counted as shared.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use vmlayer_paging::{Access, Backend, FaultError, FaultResolution, MappingFlags};

use super::processes::{SEGV_MAPERR, area_flags, frame_of, frames_back, spawn, spawn_into};
use crate::kernel_space::va;
use crate::layout::PAGE_SIZE;
use crate::process::{DATA_START, Exit, MMAP_BASE, Process, SIGSEGV, Stop, TEXT_START};
use crate::programs::{self, WAIT_PID_OFFSET, WAIT_STATUS_OFFSET};
use crate::scheduler::Scheduler;
use crate::{ensure_eq, frame_pool};

/// Where `mremap_move` moves its two pages (1 MiB above the kernel's first `mmap` choice).
const MREMAP_TARGET: usize = MMAP_BASE + 0x10_0000;

/// The user read-write flags of a private or shared anonymous page.
const USER_READ_WRITE: MappingFlags = MappingFlags::USER
    .union(MappingFlags::READ)
    .union(MappingFlags::WRITE);

/// Whether `process`'s entry for `address` allows writes.
fn writable(process: &Process, address: usize) -> bool {
    process
        .space
        .query(va(address))
        .is_some_and(|translation| translation.flags.contains(MappingFlags::WRITE))
}

/// The process `pid` of `scheduler`.
fn process(scheduler: &Scheduler, pid: usize) -> Result<&Process, String> {
    scheduler
        .get(pid)
        .ok_or_else(|| format!("process {pid} is not in the scheduler's table"))
}

/// The process `pid` of `scheduler`, mutable.
fn process_mut(scheduler: &mut Scheduler, pid: usize) -> Result<&mut Process, String> {
    scheduler
        .get_mut(pid)
        .ok_or_else(|| format!("process {pid} is not in the scheduler's table"))
}

/// The only child of `parent`.
fn only_child(scheduler: &Scheduler, parent: usize) -> Result<usize, String> {
    match scheduler.children(parent)[..] {
        [child] => Ok(child),
        ref children => Err(format!(
            "process {parent} must have forked one child, it has {children:?}"
        )),
    }
}

/// What the parent's `wait4` wrote: the status (a 32-bit `int`) and the pid it returned.
fn wait_result(parent: &mut Process) -> Result<(u64, u64), String> {
    let status = parent
        .read_word(DATA_START + WAIT_STATUS_OFFSET)
        .map_err(|error| format!("reading the wait status: {error}"))?;
    let pid = parent
        .read_word(DATA_START + WAIT_PID_OFFSET)
        .map_err(|error| format!("reading the waited pid: {error}"))?;
    Ok((status & 0xffff_ffff, pid))
}

/// Checks that the frame pool is back at `in_use_before` and that no frame is counted as shared
/// any more, once every process is gone.
fn every_frame_back(in_use_before: usize) -> Result<(), String> {
    frames_back(in_use_before)?;
    ensure_eq!(
        frame_pool::shared_frames(),
        0,
        "frames the frame table still counts as shared"
    );
    Ok(())
}

/// After `fork`, the parent's store (right after the call, in the same space: a stale writable
/// TLB entry would let it reach the shared frame) does not reach the child, and the child's
/// store does not reach the parent; each reads back its own; `wait4` reaps the child with
/// status 0.
pub(crate) fn fork_isolates_writes() -> Result<(), String> {
    let in_use_before = frame_pool::stats().in_use;
    let mut scheduler = Scheduler::new();
    let parent = spawn_into(&mut scheduler, &programs::fork_isolation(), [0; 3])?;
    let codes = "fork_isolation: parent exit 1 = fork failed, 2 = the child's store reached the \
                 parent, 3 = wait4, 4 = the child's status; child exit 5 = the parent's store \
                 after fork reached the child, 6 = its own store was lost";
    ensure_eq!(
        scheduler.run(parent),
        Some(Stop::Yielded),
        "the parent forks, stores 3 and yields ({codes})"
    );
    let child = only_child(&scheduler, parent)?;
    ensure_eq!(
        scheduler.run(child),
        Some(Stop::Yielded),
        "the child finds 1, stores 2 and yields ({codes})"
    );
    let words = [parent, child]
        .map(|pid| process_mut(&mut scheduler, pid).map(|process| process.read_word(DATA_START)));
    ensure_eq!(
        words,
        [Ok(Ok(3)), Ok(Ok(2))],
        "the word each process stored at {DATA_START:#x}"
    );
    let frames =
        [parent, child].map(|pid| process(&scheduler, pid).map(|p| frame_of(p, DATA_START)));
    if frames[0] == frames[1] {
        return Err(format!(
            "after both stored, {DATA_START:#x} must map two frames: {frames:x?}"
        ));
    }
    scheduler.run_all();
    let parent_process = process_mut(&mut scheduler, parent)?;
    let exit = parent_process.exit;
    let (status, waited) = wait_result(parent_process)?;
    ensure_eq!(
        (exit, status, waited),
        (Some(Exit::Exited(0)), 0, child as u64),
        "the parent's exit, the child's wait status (its exit code << 8) and pid ({codes})"
    );
    ensure_eq!(
        scheduler.children(parent),
        Vec::<usize>::new(),
        "wait4 reaped the child"
    );
    drop(scheduler);
    every_frame_back(in_use_before)
}

/// After `fork`, before anyone writes, the parent and the child map the same frame for a
/// populated page (the query shows it, read-only in both, counted once more in the frame
/// table), and the text's frame too; the child's store copies (`CopiedOnWrite`: a new frame in
/// the child, the parent's unchanged); the parent's later store, as the last sharer, reuses its
/// frame in place (`ReusedOnWrite`: the query unchanged, now writable).
pub(crate) fn fork_shares_frames_until_written() -> Result<(), String> {
    let in_use_before = frame_pool::stats().in_use;
    let mut scheduler = Scheduler::new();
    let parent = spawn_into(&mut scheduler, &programs::cow_steps(), [0; 3])?;
    let codes = "cow_steps: parent exit 1 = fork failed, 2 = wait4, 3 = its word, 4 = the \
                 child's status; child exit 5 = its word";
    ensure_eq!(
        scheduler.run(parent),
        Some(Stop::Yielded),
        "the parent forks and yields ({codes})"
    );
    let child = only_child(&scheduler, parent)?;
    let (parent_process, child_process) =
        (process(&scheduler, parent)?, process(&scheduler, child)?);
    let original = frame_of(parent_process, DATA_START).ok_or("the parent's data is mapped")?;
    for address in [TEXT_START, DATA_START] {
        ensure_eq!(
            frame_of(child_process, address),
            frame_of(parent_process, address),
            "before any write, {address:#x} maps the parent's frame in the child"
        );
    }
    ensure_eq!(
        (
            writable(parent_process, DATA_START),
            writable(child_process, DATA_START),
            frame_pool::sharers(original)
        ),
        (false, false, 1),
        "the shared data frame: writable in the parent, in the child, its count of sharers \
         beyond one"
    );

    ensure_eq!(
        scheduler.run(child),
        Some(Stop::Yielded),
        "the child stores and yields ({codes})"
    );
    let (parent_process, child_process) =
        (process(&scheduler, parent)?, process(&scheduler, child)?);
    let copy = frame_of(child_process, DATA_START);
    if copy.is_none() || copy == Some(original) {
        return Err(format!(
            "the child's store must give it a new frame: {copy:x?}, the shared one \
             {original:#x}"
        ));
    }
    ensure_eq!(
        (
            child_process.fault_log.last().copied(),
            writable(child_process, DATA_START),
            frame_of(parent_process, DATA_START),
            writable(parent_process, DATA_START),
            frame_pool::sharers(original)
        ),
        (
            Some((DATA_START, FaultResolution::CopiedOnWrite)),
            true,
            Some(original),
            false,
            0
        ),
        "after the child's store: its last fault, its entry writable; the parent's frame, \
         writable, the count of sharers"
    );

    ensure_eq!(
        scheduler.run(parent),
        Some(Stop::Yielded),
        "the parent stores and yields ({codes})"
    );
    let parent_process = process(&scheduler, parent)?;
    ensure_eq!(
        (
            parent_process.fault_log.last().copied(),
            frame_of(parent_process, DATA_START),
            writable(parent_process, DATA_START)
        ),
        (
            Some((DATA_START, FaultResolution::ReusedOnWrite)),
            Some(original),
            true
        ),
        "the parent, the last sharer, writes in place: its last fault, its frame, writable"
    );
    let words = [parent, child]
        .map(|pid| process_mut(&mut scheduler, pid).map(|process| process.read_word(DATA_START)));
    ensure_eq!(words, [Ok(Ok(3)), Ok(Ok(2))], "each process's word");

    scheduler.run_all();
    let parent_process = process_mut(&mut scheduler, parent)?;
    let exit = parent_process.exit;
    let (status, waited) = wait_result(parent_process)?;
    ensure_eq!(
        (exit, status, waited),
        (Some(Exit::Exited(0)), 0, child as u64),
        "the parent's exit, the child's wait status and pid ({codes})"
    );
    drop(scheduler);
    every_frame_back(in_use_before)
}

/// A `MAP_SHARED` page stays one frame across `fork`, writable in both: the child's stores are
/// seen by the parent (also after `wait4`) and the parent's by the child.
pub(crate) fn map_shared_survives_fork() -> Result<(), String> {
    let in_use_before = frame_pool::stats().in_use;
    let mut scheduler = Scheduler::new();
    let parent = spawn_into(&mut scheduler, &programs::shared_fork(), [0; 3])?;
    let codes = "shared_fork: parent exit 1 = mmap failed, 2 = fork failed, 3 = the child's \
                 0x22 not seen, 4 = wait4, 5 = the child's 0x44 not seen after wait, 6 = the \
                 child's status; child exit 7 = the parent's 0x11 not seen, 8 = the parent's \
                 0x33 not seen";
    ensure_eq!(
        scheduler.run(parent),
        Some(Stop::Yielded),
        "the parent maps, stores, forks and yields ({codes})"
    );
    let child = only_child(&scheduler, parent)?;
    let (parent_process, child_process) =
        (process(&scheduler, parent)?, process(&scheduler, child)?);
    let backend = |process: &Process| {
        process
            .space
            .find_area(va(MMAP_BASE))
            .map(|area| (*area.backend(), area.flags()))
    };
    ensure_eq!(
        [backend(parent_process), backend(child_process)],
        [Some((Backend::Shared, USER_READ_WRITE)); 2],
        "the MAP_SHARED area at {MMAP_BASE:#x} in the parent and in the child"
    );
    let frame = frame_of(parent_process, MMAP_BASE).ok_or("the shared page is mapped")?;
    ensure_eq!(
        (
            frame_of(child_process, MMAP_BASE),
            writable(parent_process, MMAP_BASE),
            writable(child_process, MMAP_BASE),
            frame_pool::sharers(frame)
        ),
        (Some(frame), true, true, 1),
        "the shared page: the child's frame, writable in the parent and in the child, the \
         count of sharers beyond one"
    );
    ensure_eq!(
        scheduler.run(child),
        Some(Stop::Yielded),
        "the child finds 0x11, stores 0x22 and yields ({codes})"
    );
    scheduler.run_all();
    let parent_process = process_mut(&mut scheduler, parent)?;
    let exit = parent_process.exit;
    let (status, waited) = wait_result(parent_process)?;
    ensure_eq!(
        (exit, status, waited),
        (Some(Exit::Exited(0)), 0, child as u64),
        "the parent's exit, the child's wait status and pid ({codes})"
    );
    ensure_eq!(
        (
            parent_process.read_word(MMAP_BASE),
            frame_of(parent_process, MMAP_BASE),
            frame_pool::sharers(frame)
        ),
        (Ok(0x44), Some(frame), 0),
        "the shared page after the child is gone: the child's last store, the same frame, \
         one mapping"
    );
    drop(scheduler);
    every_frame_back(in_use_before)
}

/// `mremap(MREMAP_MAYMOVE | MREMAP_FIXED)` of two written pages: the program finds its data at
/// the new address; the entries moved (the same frames, no copy); its load from the old
/// address, warm in the TLB, kills it (`SEGV_MAPERR`, `NoArea`).
pub(crate) fn mremap_move_keeps_data() -> Result<(), String> {
    let in_use_before = frame_pool::stats().in_use;
    let mut process = spawn(&programs::mremap_move(), [MREMAP_TARGET, 0, 0])?;
    let codes = "mremap_move exit 1 = mmap failed, 2 = mremap did not return the target, 3, 4 = \
                 the data at the target, 5 = the load from the old address worked";
    ensure_eq!(
        process.run(),
        Stop::Yielded,
        "mremap_move maps, stores and yields ({codes})"
    );
    let pages = [MMAP_BASE, MMAP_BASE + PAGE_SIZE];
    let frames_before = pages.map(|page| frame_of(&process, page));
    if frames_before.contains(&None) {
        return Err(format!(
            "the two written pages are mapped: {frames_before:x?}"
        ));
    }
    let exit = process.run_to_exit();
    ensure_eq!(
        exit,
        Exit::Killed {
            address: MMAP_BASE,
            access: Access::Read,
            error: FaultError::NoArea
        },
        "the load from the old address ({codes})"
    );
    ensure_eq!(
        exit.signal(),
        Some((SIGSEGV, Some(SEGV_MAPERR))),
        "the signal"
    );
    let target_area = process
        .space
        .find_area(va(MREMAP_TARGET))
        .map(|area| (area.start().as_usize(), area.size(), area.flags()));
    ensure_eq!(
        (target_area, area_flags(&process, MMAP_BASE)),
        (Some((MREMAP_TARGET, 2 * PAGE_SIZE, USER_READ_WRITE)), None),
        "the area at the target, and none at the old address"
    );
    let targets = [MREMAP_TARGET, MREMAP_TARGET + PAGE_SIZE];
    ensure_eq!(
        targets.map(|page| frame_of(&process, page)),
        frames_before,
        "the target maps the frames the old address mapped (entries moved, data not copied)"
    );
    ensure_eq!(
        targets.map(|page| process.read_word(page)),
        [Ok(0x11), Ok(0x22)],
        "the data at the target"
    );
    ensure_eq!(
        pages.map(|page| frame_of(&process, page)),
        [None, None],
        "nothing mapped at the old address"
    );
    drop(process);
    every_frame_back(in_use_before)
}

/// A parent, its child and a grandchild (killed by a fault) share, copy and map private and
/// `MAP_SHARED` pages; once every process has exited and been reaped, the frame pool's in-use
/// count is where it was before them and no frame is counted as shared.
pub(crate) fn fork_frees_every_frame() -> Result<(), String> {
    let in_use_before = frame_pool::stats().in_use;
    let mut scheduler = Scheduler::new();
    let parent = spawn_into(&mut scheduler, &programs::fork_tree(), [0; 3])?;
    let codes = "fork_tree: parent exit 1 = mmap, 2 = fork, 3 = wait4, 4 = the child's status, 5 \
                 = the shared counter; child exit 6 = fork, 7 = wait4, 8 = the grandchild's \
                 status (must be SIGSEGV)";
    let stop = scheduler.run(parent);
    if !matches!(stop, Some(Stop::Waiting(_))) {
        return Err(format!(
            "the parent forks and blocks in wait4: {stop:?} ({codes})"
        ));
    }
    only_child(&scheduler, parent)?;
    ensure_eq!(
        frame_pool::shared_frames(),
        5,
        "frames shared after the first fork: text, data, two written private pages, the \
         MAP_SHARED page"
    );
    scheduler.run_all();
    let parent_process = process_mut(&mut scheduler, parent)?;
    let exit = parent_process.exit;
    let (status, _) = wait_result(parent_process)?;
    ensure_eq!(
        (exit, status),
        (Some(Exit::Exited(0)), 0),
        "the parent's exit and the child's wait status ({codes})"
    );
    ensure_eq!(
        scheduler.children(parent),
        Vec::<usize>::new(),
        "every child reaped"
    );
    drop(scheduler);
    every_frame_back(in_use_before)
}
