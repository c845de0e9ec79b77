//! The system calls a process makes, served through the address-space API of
//! `vmlayer_paging` (no `unsafe`: user memory is reached only through `read_user`).
//!
//! The ABI, the same on the three ISAs:
//!
//! | | riscv64 | aarch64 | x86_64 |
//! |---|---|---|---|
//! | instruction | `ecall` | `svc #0` | `int 0x80` |
//! | number | `a7` | `x8` | `rax` |
//! | arguments 1–6 | `a0`–`a5` | `x0`–`x5` | `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9` |
//! | result | `a0` | `x0` | `rax` |
//!
//! Registers are those of Linux; every register except the result is preserved. The numbers
//! are Linux's generic ones (`asm-generic/unistd.h`, which riscv64 and aarch64 Linux use; on
//! x86_64 they are not Linux's). A result in `-4095..=-1` is `-errno` with Linux's errno
//! values; anything else is success.
//!
//! | number | call | result |
//! |---|---|---|
//! | 64 | `write(fd, buffer, length)` | `fd` 1 or 2 (else `-EBADF`); copies `length` bytes (at most [`MAX_WRITE`]) from user memory with `read_user`, all or nothing, to the process's standard output: the bytes written, or `-EFAULT` for a bad buffer |
//! | 93 | `exit(code)` | does not return; the exit status is `code & 0xff` |
//! | 124 | `sched_yield()` | 0, after the other runnable processes had their turn |
//! | 214 | `brk(address)` | the new break; the old one if `address` is below the heap's start or the heap cannot grow there; `brk(0)` asks |
//! | 215 | `munmap(address, length)` | 0; `-EINVAL` for an unaligned address or a zero length |
//! | 216 | `mremap(old, old_size, new_size, flags, new_address)` | `AddressSpace::mremap`: shrink or grow in place, or move the entries (never the data) with `MREMAP_MAYMOVE` (1), to `new_address` with `MREMAP_MAYMOVE \| MREMAP_FIXED` (2); the new address; `-EINVAL`, `-EFAULT` (the old range is not inside one mapping), `-ENOMEM` |
//! | 220 | `clone(flags, stack, ...)` as `fork()` | `flags` = `SIGCHLD` (17) or 0 and `stack` = 0 only (else `-EINVAL`): the child's pid in the parent, 0 in the child (`Process::fork`, `AddressSpace::fork`); `-ENOMEM` |
//! | 222 | `mmap(hint, length, prot, flags, fd, offset)` | the address; anonymous memory only (`MAP_ANONYMOUS`, with `MAP_PRIVATE`: lazily allocated, copy-on-write across `fork`; or `MAP_SHARED`: `Backend::Shared`, allocated now and shared writable across `fork`; with `MAP_FIXED` or `MAP_FIXED_NOREPLACE`; `fd` and `offset` ignored); without a fixed flag the kernel picks the lowest free range at or above `hint` (at or above `process::MMAP_BASE` for 0); `-EINVAL`, `-ENOMEM`, `-EEXIST` |
//! | 226 | `mprotect(address, length, prot)` | 0; `-ENOMEM` if a page of the range is not mapped, `-EINVAL` |
//! | 260 | `wait4(pid, status, options, rusage)` | a child's pid (`pid` -1: any child), once it has exited, reaped (its space dropped) with its status written to `status` (a 32-bit `int`: `code << 8` for an exit, the signal for a kill) unless it is 0; blocks until then (`crate::scheduler`), or answers 0 with `WNOHANG` (1); `-ECHILD` without such a child, `-EINVAL` for other `options`, a non-null `rusage` or a process group (`pid` 0 or below -1), `-EFAULT` for a bad `status` |
//!
//! Any other number answers `-ENOSYS`.

use alloc::vec;

use vmlayer_paging::{Area, Backend, FaultError, MappingError, MappingFlags, Placement, Remap};

use crate::kernel_space::va;
use crate::layout::PAGE_SIZE;
use crate::process::{MMAP_BASE, Process};

/// `write(fd, buffer, length)`.
pub(crate) const WRITE: usize = 64;
/// `exit(code)`.
pub(crate) const EXIT: usize = 93;
/// `sched_yield()`.
pub(crate) const SCHED_YIELD: usize = 124;
/// `brk(address)`.
pub(crate) const BRK: usize = 214;
/// `munmap(address, length)`.
pub(crate) const MUNMAP: usize = 215;
/// `mremap(old, old_size, new_size, flags, new_address)`.
pub(crate) const MREMAP: usize = 216;
/// `clone(flags, stack, parent_tid, tls, child_tid)`, served as `fork()` only.
pub(crate) const CLONE: usize = 220;
/// `mmap(hint, length, prot, flags, fd, offset)`.
pub(crate) const MMAP: usize = 222;
/// `mprotect(address, length, prot)`.
pub(crate) const MPROTECT: usize = 226;
/// `wait4(pid, status, options, rusage)`.
pub(crate) const WAIT4: usize = 260;

/// `clone` flags: the signal the child sends its parent at exit (what `fork()` passes).
pub(crate) const SIGCHLD: usize = 17;
/// `wait4` options: answer 0 instead of blocking when no child has exited.
pub(crate) const WNOHANG: usize = 1;
/// `mremap` flags: the range may move.
pub(crate) const MREMAP_MAYMOVE: usize = 1;
/// `mremap` flags: move to `new_address` (with `MREMAP_MAYMOVE`), unmapping what is there.
pub(crate) const MREMAP_FIXED: usize = 2;

/// `prot`: readable.
pub(crate) const PROT_READ: usize = 0x1;
/// `prot`: writable.
pub(crate) const PROT_WRITE: usize = 0x2;
/// `prot`: executable.
pub(crate) const PROT_EXEC: usize = 0x4;
/// `mmap` flags: shared with the processes forked after the mapping (writes seen by all).
pub(crate) const MAP_SHARED: usize = 0x01;
/// `mmap` flags: private (copy-on-write across `fork`).
pub(crate) const MAP_PRIVATE: usize = 0x02;
/// `mmap` flags: exactly at `hint`, replacing what is there.
pub(crate) const MAP_FIXED: usize = 0x10;
/// `mmap` flags: no file, zero-filled.
pub(crate) const MAP_ANONYMOUS: usize = 0x20;
/// `mmap` flags: exactly at `hint`, `-EEXIST` if anything is there.
pub(crate) const MAP_FIXED_NOREPLACE: usize = 0x10_0000;

/// Bad file descriptor.
pub(crate) const EBADF: usize = 9;
/// No child process to wait for.
pub(crate) const ECHILD: usize = 10;
/// Bad address.
pub(crate) const EFAULT: usize = 14;
/// Already exists.
pub(crate) const EEXIST: usize = 17;
/// Invalid argument.
pub(crate) const EINVAL: usize = 22;
/// Out of memory.
pub(crate) const ENOMEM: usize = 12;
/// No such system call.
pub(crate) const ENOSYS: usize = 38;

/// The most bytes one `write` copies (a larger one is a partial write, as Linux allows).
pub(crate) const MAX_WRITE: usize = 0x1_0000;

/// What the process does after a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Continue with this result in the result register.
    Return(usize),
    /// Let the other processes run first, then continue with result 0.
    Yield,
    /// `wait4`: the scheduler answers (`crate::scheduler`), when a child has exited.
    Wait(WaitRequest),
    /// End the process with this exit status.
    Exit(usize),
}

/// A `wait4` the scheduler must answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaitRequest {
    /// The child to wait for; `None` for any child (`pid` -1).
    pub(crate) pid: Option<usize>,
    /// Where to write the status (a 32-bit `int`), 0 for nowhere.
    pub(crate) status_address: usize,
    /// `WNOHANG`: answer 0 instead of blocking.
    pub(crate) no_hang: bool,
}

/// Serves system call `number` with `arguments` for `process` (whose address space is the
/// current one).
pub(crate) fn dispatch(process: &mut Process, number: usize, arguments: [usize; 6]) -> Action {
    let [first, second, third, fourth, fifth, _] = arguments;
    let result = match number {
        WRITE => write(process, first, second, third),
        EXIT => return Action::Exit(first & 0xff),
        SCHED_YIELD => return Action::Yield,
        BRK => Ok(brk(process, first)),
        MUNMAP => munmap(process, first, second),
        MREMAP => mremap(process, [first, second, third, fourth, fifth]),
        CLONE => fork(process, first, second),
        MMAP => mmap(process, first, second, third, fourth),
        MPROTECT => mprotect(process, first, second, third),
        WAIT4 => match wait_request(first, second, third, fourth) {
            Ok(request) => return Action::Wait(request),
            Err(errno) => Err(errno),
        },
        _ => Err(ENOSYS),
    };
    Action::Return(result.unwrap_or_else(|errno| errno.wrapping_neg()))
}

/// A system call's result: the value, or the positive errno.
type SyscallResult = Result<usize, usize>;

fn mapping_errno(error: MappingError) -> usize {
    error.errno().unsigned_abs() as usize
}

fn fault_errno(error: FaultError) -> usize {
    error.errno().unsigned_abs() as usize
}

/// `length` rounded up to whole pages (`ENOMEM` on overflow, as Linux answers).
fn page_length(length: usize) -> Result<usize, usize> {
    length.checked_next_multiple_of(PAGE_SIZE).ok_or(ENOMEM)
}

/// The access flags for `prot` (`EINVAL` for unknown bits).
fn access_flags(prot: usize) -> Result<MappingFlags, usize> {
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        return Err(EINVAL);
    }
    let mut flags = MappingFlags::empty();
    for (bit, flag) in [
        (PROT_READ, MappingFlags::READ),
        (PROT_WRITE, MappingFlags::WRITE),
        (PROT_EXEC, MappingFlags::EXECUTE),
    ] {
        if prot & bit != 0 {
            flags |= flag;
        }
    }
    Ok(flags)
}

/// `write(fd, buffer, length)`: copies the bytes out of user memory first (`read_user`: a bad
/// pointer is `EFAULT`, never a kernel fault), then hands them to the process's output.
fn write(process: &mut Process, fd: usize, buffer: usize, length: usize) -> SyscallResult {
    if fd != 1 && fd != 2 {
        return Err(EBADF);
    }
    let length = length.min(MAX_WRITE);
    let mut bytes = vec![0; length];
    process
        .space
        .read_user(va(buffer), &mut bytes)
        .map_err(fault_errno)?;
    process.output(&bytes);
    Ok(length)
}

/// `brk(address)`: grows the heap by mapping the pages above the old break (they merge with the
/// area below, the data segment), shrinks it by unmapping the pages above the new one.
fn brk(process: &mut Process, address: usize) -> usize {
    if address < process.heap_start {
        return process.brk;
    }
    let (Some(old_top), Some(new_top)) = (
        process.brk.checked_next_multiple_of(PAGE_SIZE),
        address.checked_next_multiple_of(PAGE_SIZE),
    ) else {
        return process.brk;
    };
    let read_write = MappingFlags::USER | MappingFlags::READ | MappingFlags::WRITE;
    let changed = if new_top > old_top {
        let size = new_top - old_top;
        process
            .space
            .map_alloc(va(old_top), size, read_write, false)
    } else {
        process.space.unmap(va(new_top), old_top - new_top)
    };
    if changed.is_ok() {
        process.brk = address;
    }
    process.brk
}

/// `mmap(hint, length, prot, flags)`: anonymous memory, private (lazily allocated) or shared
/// (`Backend::Shared`: allocated now, shared writable with the children forked later).
fn mmap(
    process: &mut Process,
    hint: usize,
    length: usize,
    prot: usize,
    flags: usize,
) -> SyscallResult {
    let known = MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_FIXED_NOREPLACE;
    let sharing = flags & (MAP_SHARED | MAP_PRIVATE);
    let backend = match sharing {
        MAP_PRIVATE => Backend::Alloc { populate: false },
        MAP_SHARED => Backend::Shared,
        _ => return Err(EINVAL),
    };
    if flags & !known != 0 || flags & MAP_ANONYMOUS == 0 || length == 0 {
        return Err(EINVAL);
    }
    let access = access_flags(prot)?;
    let size = page_length(length)?;
    let placement = if flags & MAP_FIXED_NOREPLACE != 0 {
        Some(Placement::NoReplace)
    } else if flags & MAP_FIXED != 0 {
        Some(Placement::Fixed)
    } else {
        None
    };
    let start = match placement {
        Some(_) if !hint.is_multiple_of(PAGE_SIZE) => return Err(EINVAL),
        Some(_) => hint,
        None => {
            let from = if hint == 0 { MMAP_BASE } else { hint };
            let found = process
                .space
                .find_free_area(va(from & !(PAGE_SIZE - 1)), size, PAGE_SIZE);
            found.ok_or(ENOMEM)?.as_usize()
        }
    };
    let area = Area::new(va(start), size, MappingFlags::USER | access, backend);
    process
        .space
        .map(area, placement.unwrap_or(Placement::NoReplace))
        .map_err(mapping_errno)?;
    Ok(start)
}

/// `munmap(address, length)`.
fn munmap(process: &mut Process, address: usize, length: usize) -> SyscallResult {
    if !address.is_multiple_of(PAGE_SIZE) || length == 0 {
        return Err(EINVAL);
    }
    let size = page_length(length)?;
    process
        .space
        .unmap(va(address), size)
        .map_err(mapping_errno)?;
    Ok(0)
}

/// `mprotect(address, length, prot)`: Linux semantics, `ENOMEM` over a hole.
fn mprotect(process: &mut Process, address: usize, length: usize, prot: usize) -> SyscallResult {
    if !address.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let access = access_flags(prot)?;
    if length == 0 {
        return Ok(0);
    }
    let size = page_length(length)?;
    process
        .space
        .mprotect(va(address), size, access)
        .map_err(mapping_errno)?;
    Ok(0)
}

/// `mremap(old, old_size, new_size, flags, new_address)`: `AddressSpace::mremap` with the
/// `Remap` the flags ask for. Linux's `EFAULT` when the old range is not inside one mapping.
fn mremap(process: &mut Process, arguments: [usize; 5]) -> SyscallResult {
    let [old, old_size, new_size, flags, new_address] = arguments;
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0 || !old.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let how = match (flags & MREMAP_MAYMOVE != 0, flags & MREMAP_FIXED != 0) {
        (false, false) => Remap::InPlace,
        (true, false) => Remap::MayMove,
        (true, true) => Remap::Fixed(va(new_address)),
        (false, true) => return Err(EINVAL),
    };
    let (old_size, new_size) = (page_length(old_size)?, page_length(new_size)?);
    process
        .space
        .mremap(va(old), old_size, new_size, how)
        .map(|address| address.as_usize())
        .map_err(|error| match error {
            MappingError::NotMapped => EFAULT,
            error => mapping_errno(error),
        })
}

/// `clone(flags, stack, ..)` as plain `fork()`: the child (`Process::fork`) waits in the
/// parent's `forked` list for the scheduler; the parent gets its pid.
fn fork(process: &mut Process, flags: usize, stack: usize) -> SyscallResult {
    if (flags != SIGCHLD && flags != 0) || stack != 0 {
        return Err(EINVAL);
    }
    let child = process.fork().map_err(mapping_errno)?;
    let pid = child.pid;
    process.forked.push(child);
    Ok(pid)
}

/// The request of `wait4(pid, status, options, rusage)`, checked.
fn wait_request(
    pid: usize,
    status_address: usize,
    options: usize,
    rusage: usize,
) -> Result<WaitRequest, usize> {
    if options & !WNOHANG != 0 || rusage != 0 {
        return Err(EINVAL);
    }
    let pid = match pid as isize {
        -1 => None,
        pid if pid > 0 => Some(pid as usize),
        _ => return Err(EINVAL),
    };
    Ok(WaitRequest {
        pid,
        status_address,
        no_hang: options & WNOHANG != 0,
    })
}
