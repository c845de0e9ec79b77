//! The user programs processes run: real machine code, written per ISA in assembly
//! (`arch/<isa>/programs.rs`) and specified here once.
//!
//! A program is a text segment (code, loaded read + execute at `process::TEXT_START`, where it
//! starts) and a data segment (loaded read + write at `process::DATA_START`). It receives three
//! arguments in the first argument registers (`a0..a2`, `x0..x2`, `rdi, rsi, rdx`), may use
//! the stack below `process::STACK_TOP`, and talks to the kernel only through system calls
//! (`crate::syscall`). It uses no floating point: the kernel does not save those registers.
//! Every check a program makes ends in `exit(code)` with a code that names the first check that
//! failed (0 when all passed), or in an access the kernel must refuse, which kills it.

/// A program's two segments, as the kernel image holds them (never executed there).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Program {
    /// For messages.
    pub(crate) name: &'static str,
    /// Machine code, entered at its first byte.
    pub(crate) text: &'static [u8],
    /// Initial data.
    pub(crate) data: &'static [u8],
}

/// `touch`'s operation: load a word from the address.
pub(crate) const TOUCH_LOAD: usize = 0;
/// `touch`'s operation: store the value at the address.
pub(crate) const TOUCH_STORE: usize = 1;
/// `touch`'s operation: jump to the address.
pub(crate) const TOUCH_JUMP: usize = 2;

/// The word `mprotect_store` stores while its page is writable.
pub(crate) const MPROTECT_FIRST_VALUE: usize = 0x5a5a;
/// The word `mprotect_store` tries to store once its page is read-only.
pub(crate) const MPROTECT_SECOND_VALUE: usize = 0xdead;

/// The message `hello` and `write_checks` write, from their data segment.
pub(crate) const HELLO_MESSAGE: &[u8] = b"hello from user mode\n";

/// Builds a [`Program`] from the four symbols its assembly defines.
macro_rules! program {
    ($name:literal, $data:ident .. $data_end:ident, $text:ident .. $text_end:ident) => {{
        unsafe extern "C" {
            static $data: u8;
            static $data_end: u8;
            static $text: u8;
            static $text_end: u8;
        }
        Program {
            name: $name,
            text: section(&raw const $text, &raw const $text_end),
            data: section(&raw const $data, &raw const $data_end),
        }
    }};
}

/// The bytes between two symbols of `arch::programs`' assembly.
fn section(start: *const u8, end: *const u8) -> &'static [u8] {
    // SAFETY: each pair of symbols brackets bytes of the kernel's read-only
    // `.rodata.example_user_programs` section, `start` before `end`; they are immutable for
    // the kernel's lifetime.
    unsafe { core::slice::from_raw_parts(start, end as usize - start as usize) }
}

/// `hello()`: `write(1, HELLO_MESSAGE)`, then `exit(0)`.
pub(crate) fn hello() -> Program {
    program!(
        "hello",
        example_hello_data..example_hello_data_end,
        example_hello_text..example_hello_text_end
    )
}

/// `touch(operation, address, value)`: a load from `address` ([`TOUCH_LOAD`]), a store of
/// `value` to it ([`TOUCH_STORE`]) or a jump to it ([`TOUCH_JUMP`]); then `exit(0)`, which it
/// reaches only if the access worked.
pub(crate) fn touch() -> Program {
    program!(
        "touch",
        example_touch_data..example_touch_data_end,
        example_touch_text..example_touch_text_end
    )
}

/// `write_checks(bad_pointer, bad_length)`: `write(1, HELLO_MESSAGE)` must return its length
/// (else exit 1), `write(1, bad_pointer, bad_length)` must return `-EFAULT` (else exit 2), and a
/// second good write must work again (else exit 3); then `exit(0)`.
pub(crate) fn write_checks() -> Program {
    program!(
        "write_checks",
        example_write_checks_data..example_write_checks_data_end,
        example_write_checks_text..example_write_checks_text_end
    )
}

/// `mprotect_store()`: `p = mmap(NULL, 4096, READ | WRITE, PRIVATE | ANONYMOUS)` (exit 1 on
/// error), stores [`MPROTECT_FIRST_VALUE`] at `p`, `mprotect(p, 4096, READ)` (exit 2 unless
/// 0), loads `p` back (exit 3 unless the value), then stores [`MPROTECT_SECOND_VALUE`] at `p`:
/// the kernel must kill it there (exit 4 if the store worked).
pub(crate) fn mprotect_store() -> Program {
    program!(
        "mprotect_store",
        example_mprotect_store_data..example_mprotect_store_data_end,
        example_mprotect_store_text..example_mprotect_store_text_end
    )
}

/// `brk_checks()`, with `b = brk(0)` and `P = 4096`: `brk(b + 3P)` (exit 1 unless it returns
/// that), stores `0x11` at `b` and `0x22` at `b + 2P`; `brk(b + 9P)` (exit 2), stores `0x99` at
/// `b + 8P`; both words still there (exit 3); shrinks, `brk(b + P)` (exit 4); `b` still holds
/// `0x11` (exit 5); grows again, `brk(b + 3P)` (exit 6), and `b + 2P` is a fresh zero page
/// (exit 7); shrinks to `b + P` (exit 8) and stores at `b + 2P`, above the break: the kernel
/// must kill it there (exit 9 if the store worked).
pub(crate) fn brk_checks() -> Program {
    program!(
        "brk_checks",
        example_brk_checks_data..example_brk_checks_data_end,
        example_brk_checks_text..example_brk_checks_text_end
    )
}

/// `munmap_checks()`, with `P = 4096`: `p = mmap(NULL, 2P, READ | WRITE, PRIVATE |
/// ANONYMOUS)` (exit 1 on error), stores `0x11` at `p` and `0x22` at `p + P`;
/// `mmap(p + P, P, .., MAP_FIXED_NOREPLACE)` must return `-EEXIST` (exit 2); `mmap(p + P, P,
/// .., MAP_FIXED)` must return `p + P` (exit 3) with a fresh zero page there (exit 4) and `p`
/// untouched (exit 5); `munmap(p, P)` must return 0 (exit 6); a store to `p + P` still works,
/// and a load from `p` must kill it (exit 7 if the load worked).
pub(crate) fn munmap_checks() -> Program {
    program!(
        "munmap_checks",
        example_munmap_checks_data..example_munmap_checks_data_end,
        example_munmap_checks_text..example_munmap_checks_text_end
    )
}

/// `same_address(value)`: stores `value` at `DATA_START`, `sched_yield()`, then exits with the
/// word at `DATA_START` (its low 8 bits, as any exit status).
pub(crate) fn same_address() -> Program {
    program!(
        "same_address",
        example_same_address_data..example_same_address_data_end,
        example_same_address_text..example_same_address_text_end
    )
}

/// Where the fork programs' `wait4` writes the child's status (a 32-bit `int`): the second
/// word of their data segment (the first is the word they share or keep apart).
pub(crate) const WAIT_STATUS_OFFSET: usize = 8;
/// Where the fork programs store the pid `wait4` returned: the third word of their data.
pub(crate) const WAIT_PID_OFFSET: usize = 16;

/// `fork_isolation()`, with `A` the first word of its data: stores 1 at `A` (a writable TLB
/// entry for the page), `fork()` (exit 1 if it fails). The parent stores 3 at `A` right away
/// (no other process ran, no root switch: a missing flush of the parent's page, which fork made
/// read-only, would let this store reach the frame the child shares), `sched_yield()`, then
/// finds 3 at `A` (exit 2: the child's store reached it), `wait4(-1, &status)` must return the
/// child (exit 3; the pid stored at [`WAIT_PID_OFFSET`]) with status 0 (exit 4). The child
/// (which runs when the parent yields) finds 1 at `A` (exit 5: the parent's store reached
/// it), stores 2, `sched_yield()`, finds its 2 again (exit 6).
pub(crate) fn fork_isolation() -> Program {
    program!(
        "fork_isolation",
        example_fork_isolation_data..example_fork_isolation_data_end,
        example_fork_isolation_text..example_fork_isolation_text_end
    )
}

/// `cow_steps()`, with `A` the first word of its data, in steps the kernel looks between: stores
/// 1 at `A`, `fork()` (exit 1 if it fails). The parent yields (step 1: nobody wrote since the
/// fork), stores 3 at `A` and yields (step 3: after the child's store), then `wait4(-1,
/// &status)` must return the child (exit 2; pid at [`WAIT_PID_OFFSET`]), `A` must hold 3
/// (exit 3) and the status be 0 (exit 4). The child stores 2 at `A` and yields (step 2), then
/// finds its 2 (exit 5).
pub(crate) fn cow_steps() -> Program {
    program!(
        "cow_steps",
        example_cow_steps_data..example_cow_steps_data_end,
        example_cow_steps_text..example_cow_steps_text_end
    )
}

/// `shared_fork()`: `p = mmap(NULL, 4096, READ | WRITE, MAP_SHARED | MAP_ANONYMOUS)` (exit 1),
/// stores `0x11` at `p`, `fork()` (exit 2), and the parent yields. The child finds `0x11` (exit
/// 7), stores `0x22` and yields; the parent finds `0x22` (exit 3), stores `0x33` and waits:
/// `wait4(-1, &status)` must return the child (exit 4; pid at [`WAIT_PID_OFFSET`]). The child
/// finds `0x33` (exit 8), stores `0x44` and exits 0; the parent, after the wait, finds `0x44`
/// (exit 5) and the status 0 (exit 6).
pub(crate) fn shared_fork() -> Program {
    program!(
        "shared_fork",
        example_shared_fork_data..example_shared_fork_data_end,
        example_shared_fork_text..example_shared_fork_text_end
    )
}

/// `mremap_move(target)`: `p = mmap(NULL, 2 * 4096, READ | WRITE, MAP_PRIVATE |
/// MAP_ANONYMOUS)` (exit 1), stores `0x11` at `p` and `0x22` at `p + 4096`, yields (the kernel
/// notes the frames), stores `0x11` at `p` again (a warm TLB entry), `mremap(p, 2 * 4096, 2 *
/// 4096, MREMAP_MAYMOVE | MREMAP_FIXED, target)` must return `target` (exit 2), which holds
/// `0x11` (exit 3) and `target + 4096` `0x22` (exit 4); then it loads from `p`: the kernel must
/// kill it there (exit 5 if the load worked).
pub(crate) fn mremap_move() -> Program {
    program!(
        "mremap_move",
        example_mremap_move_data..example_mremap_move_data_end,
        example_mremap_move_text..example_mremap_move_text_end
    )
}

/// `fork_tree()`: a shared page `s` (`MAP_SHARED`) and four private lazy pages `q` (exit 1 if
/// either `mmap` fails); stores 1 in `q`, `q + P` and its data; `fork()` (exit 2). The parent
/// adds 1 to `s`, `wait4(-1, &status)` must return the child (exit 3) with status 0 (exit 4),
/// and `s` must hold 3 (exit 5). The child stores 2 in `q`, `q + 2P` and its data (copies and a
/// fresh page), forks a grandchild (exit 6), adds 1 to `s`, waits for it (exit 7) and must find
/// it killed by `SIGSEGV` (status 11, exit 8). The grandchild stores 3 in `q + P` and
/// `q + 3P`, adds 1 to `s` and loads from the null page: killed (exit 9 if the load worked).
pub(crate) fn fork_tree() -> Program {
    program!(
        "fork_tree",
        example_fork_tree_data..example_fork_tree_data_end,
        example_fork_tree_text..example_fork_tree_text_end
    )
}
