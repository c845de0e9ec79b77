//! `cargo xtask`: builds, boots and tests the workspace on x86_64, AArch64 and RISC-V.
//!
//! - `cargo xtask test [--arch x86_64|aarch64|riscv64|all] [-- <QEMU arguments>]`: per ISA, the
//!   unit tests (natively for x86_64, under qemu-user for the others), then the example kernel
//!   built for the ISA (once per set of kernel features the configurations ask for) and booted
//!   under qemu-system once per boot configuration of the [`arch`] table (default, small and
//!   large memory, several CPUs, other CPU models, riscv64 Sv48 and Svpbmt builds; or once with
//!   the given QEMU arguments), its conformance suite read from the serial console. Ends with a
//!   table of counts and times (a row per ISA and check, one per boot configuration) and exits
//!   non-zero on any failure, naming the ISA, the configuration and the case.
//! - `cargo xtask run [--arch <isa>] [-- <QEMU arguments>]`: builds and boots the kernel with its
//!   console on the terminal; the exit status follows the ISA's exit protocol.
//! - `cargo xtask setup [--check | --allow-removals]`: adds missing Rust targets and installs
//!   QEMU and the cross linkers (run automatically by `test`, `run` and `ci`, which take
//!   `--allow-removals` too). A QEMU of at least the [`qemu_version::MINIMUM_QEMU`] already on
//!   `PATH` is used as is, whatever package it came from; `apt-get install` is simulated first,
//!   and set-up stops, listing them, if it would remove or downgrade installed packages, unless
//!   `--allow-removals` is given or `CI=true` is set ([`setup`], [`apt`]).
//! - `cargo xtask ci`: fmt check, clippy and docs with warnings denied, then `test --arch all`.
//!
//! Only this crate knows QEMU: the [`arch`] table holds every triple, binary, machine argument,
//! boot configuration (with its kernel features) and exit protocol. QEMU runs with a deadline under a guard that kills it (and any process tree)
//! when dropped, its full command line printed first, and only the protocol's explicit success
//! status counts as a pass.
//!
//! The linker and runner for the qemu-user unit tests come from the same table through
//! `CARGO_TARGET_<TRIPLE>_{LINKER,RUNNER}` (unless already set in the environment), so an xtask
//! run works whatever `.cargo/config.toml` says.
//! A unit test checks that `.cargo/config.toml`, where it names them too (for plain
//! `cargo test --target …`), agrees with the table.
//!
//! # Verdicts
//!
//! - Unit tests are built with `cargo test --no-run`; the xtask then runs each test binary itself
//!   (through the qemu-user runner when emulated), each under its own deadline
//!   ([`unit_tests::DEFAULT_BINARY_DEADLINE`], or `XTASK_TEST_BINARY_DEADLINE` seconds), then
//!   `cargo test --doc`. They pass when every binary and the doctest run exited with status 0
//!   after its `test result:` line, none failed and at least one test passed. A failure names the
//!   test and its panic location. A hang names the binary and the tests that printed no result
//!   (from the binary's `--list`; those libtest flagged as running for over 60 s first); a test
//!   binary killed by a signal, a build error and a missing package are failures too.
//! - The kernel suite passes when QEMU's status is the exit protocol's success code (x86_64: 33;
//!   status 0 there is a triple fault), the console's `N passed, M failed` summary says 0 failed
//!   and N equals the `test NAME ... ok` lines, every case the kernel announced printed, and every
//!   case `ci/kernel-cases.txt` lists for the ISA ran (a `name` line on every ISA, an
//!   `isa: name` line on that one). A hang is QEMU still running after 120 s, reported
//!   with the case it hung in.
//!
//! `ci/failure-modes.sh` breaks a scratch clone six ways (failing unit test, hanging unit test,
//! failing case, kernel hang, triple fault, the svpbmt build on a CPU without Svpbmt) and checks
//! that `cargo xtask test` fails naming the ISA and the case.

mod apt;
mod arch;
mod case_list;
mod ci;
mod cli;
mod commands;
mod debian_version;
mod error;
mod exit_protocol;
mod host_programs;
mod kernel;
mod libtest;
mod outcome;
mod process;
mod qemu_version;
mod release;
mod serial;
mod setup;
mod table;
mod test_binaries;
mod unit_tests;
mod workspace;

use std::process::ExitCode;

use crate::cli::Task;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = cli::parse(&arguments).and_then(|task| match task {
        Task::Test {
            arches,
            qemu_args,
            removals,
        } => commands::test(&arches, &qemu_args, removals),
        Task::Run {
            arch,
            qemu_args,
            removals,
        } => commands::run(arch, &qemu_args, removals),
        Task::Setup(mode) => commands::setup(mode),
        Task::Ci(removals) => ci::run(removals),
        Task::Help => {
            print!("{}", cli::USAGE);
            Ok(())
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nerror: {error}");
            if matches!(error, error::XtaskError::Usage(_)) {
                eprint!("\n{}", cli::USAGE);
            }
            ExitCode::FAILURE
        }
    }
}
