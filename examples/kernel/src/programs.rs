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
