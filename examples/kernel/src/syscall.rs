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
//! | 222 | `mmap(hint, length, prot, flags, fd, offset)` | the address; anonymous private memory only (`MAP_PRIVATE \| MAP_ANONYMOUS`, with `MAP_FIXED` or `MAP_FIXED_NOREPLACE`; `fd` and `offset` ignored), lazily allocated; without a fixed flag the kernel picks the lowest free range at or above `hint` (at or above `process::MMAP_BASE` for 0); `-EINVAL`, `-ENOMEM`, `-EEXIST` |
//! | 226 | `mprotect(address, length, prot)` | 0; `-ENOMEM` if a page of the range is not mapped, `-EINVAL` |
//!
//! Any other number answers `-ENOSYS`.

use alloc::vec;

use vmlayer_paging::{Area, Backend, FaultError, MappingError, MappingFlags, Placement};

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
/// `mmap(hint, length, prot, flags, fd, offset)`.
pub(crate) const MMAP: usize = 222;
/// `mprotect(address, length, prot)`.
pub(crate) const MPROTECT: usize = 226;

/// `prot`: readable.
pub(crate) const PROT_READ: usize = 0x1;
/// `prot`: writable.
pub(crate) const PROT_WRITE: usize = 0x2;
/// `prot`: executable.
pub(crate) const PROT_EXEC: usize = 0x4;
/// `mmap` flags: private (copy-on-write for files; here: anonymous memory of its own).
pub(crate) const MAP_PRIVATE: usize = 0x02;
/// `mmap` flags: exactly at `hint`, replacing what is there.
pub(crate) const MAP_FIXED: usize = 0x10;
/// `mmap` flags: no file, zero-filled.
pub(crate) const MAP_ANONYMOUS: usize = 0x20;
/// `mmap` flags: exactly at `hint`, `-EEXIST` if anything is there.
pub(crate) const MAP_FIXED_NOREPLACE: usize = 0x10_0000;

/// Bad file descriptor.
pub(crate) const EBADF: usize = 9;
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
    /// End the process with this exit status.
    Exit(usize),
}

/// Serves system call `number` with `arguments` for `process` (whose address space is the
/// current one).
pub(crate) fn dispatch(process: &mut Process, number: usize, arguments: [usize; 6]) -> Action {
    let [first, second, third, fourth, _, _] = arguments;
    let result = match number {
        WRITE => write(process, first, second, third),
        EXIT => return Action::Exit(first & 0xff),
        SCHED_YIELD => return Action::Yield,
        BRK => Ok(brk(process, first)),
        MUNMAP => munmap(process, first, second),
        MMAP => mmap(process, first, second, third, fourth),
        MPROTECT => mprotect(process, first, second, third),
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

/// `mmap(hint, length, prot, flags)`: anonymous private memory, lazily allocated.
fn mmap(
    process: &mut Process,
    hint: usize,
    length: usize,
    prot: usize,
    flags: usize,
) -> SyscallResult {
    let known = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_FIXED_NOREPLACE;
    let anonymous_private = MAP_PRIVATE | MAP_ANONYMOUS;
    if flags & !known != 0 || flags & anonymous_private != anonymous_private || length == 0 {
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
    let area = Area::new(
        va(start),
        size,
        MappingFlags::USER | access,
        Backend::Alloc { populate: false },
    );
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
