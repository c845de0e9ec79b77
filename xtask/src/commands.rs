//! The subcommands `test`, `run` and `setup` (`ci` has its own module).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::apt::Removals;
use crate::arch::{Arch, BootConfig};
use crate::error::XtaskError;
use crate::kernel;
use crate::process::{Termination, run_interactive};
use crate::setup::{self, SetupMode};
use crate::table::{self, ArchResult};
use crate::unit_tests;

/// How long `cargo xtask run` lets the kernel run before terminating QEMU.
const INTERACTIVE_DEADLINE: Duration = Duration::from_secs(120);

/// `cargo xtask test`: set-up (`removals` says whether it may remove or downgrade packages),
/// then per ISA, unit tests then the kernel suite under each boot configuration of the arch
/// table (or once with `qemu_args`, when given); prints the table.
///
/// # Errors
///
/// [`XtaskError::ChecksFailed`] listing every failure by ISA, configuration and case; setup
/// errors.
pub(crate) fn test(
    arches: &[Arch],
    qemu_args: &[String],
    removals: Removals,
) -> Result<(), XtaskError> {
    let started = Instant::now();
    setup::ensure(arches, SetupMode::Install(removals))?;
    let mut results = Vec::new();
    for &arch in arches {
        println!("\n==> {arch}: unit tests");
        let unit_tests = unit_tests::run(arch);
        let configs = if qemu_args.is_empty() {
            arch.boot_configs()
        } else {
            vec![BootConfig::custom(qemu_args)]
        };
        let kernel_boots = kernel::run_suite(arch, &configs);
        results.push(ArchResult {
            arch,
            unit_tests,
            kernel_boots,
        });
    }
    println!("\n{}", table::render(&results));
    println!("total wall time {:.1} s", started.elapsed().as_secs_f64());
    let failures: Vec<String> = results.iter().flat_map(ArchResult::failures).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(XtaskError::ChecksFailed(failures))
    }
}

/// `cargo xtask run`: set-up (`removals` as for [`fn@test`]), then builds and boots the kernel
/// (with `qemu_args` after the machine arguments) with its console on the terminal and returns
/// QEMU's verdict under the ISA's exit protocol.
///
/// # Errors
///
/// [`XtaskError::ChecksFailed`] when QEMU's status is not the protocol's success code (or it
/// hung); build and setup errors.
pub(crate) fn run(arch: Arch, qemu_args: &[String], removals: Removals) -> Result<(), XtaskError> {
    setup::ensure(&[arch], SetupMode::Install(removals))?;
    let kernel = kernel::build(arch, &[])?;
    let mut command = Command::new(arch.spec().qemu_system.program);
    command.args(arch.qemu_interactive_arguments(qemu_args, &kernel));
    let (termination, elapsed) = run_interactive(&mut command, INTERACTIVE_DEADLINE)?;
    let protocol = arch.spec().exit_protocol;
    let verdict = match termination {
        Termination::Exited(status) if protocol.is_success(status) => {
            println!(
                "\n{arch}: {} ({:.2} s)",
                protocol.explain(status),
                elapsed.as_secs_f64()
            );
            return Ok(());
        }
        Termination::Exited(status) => protocol.explain(status),
        Termination::Signaled(signal) => {
            format!("QEMU was killed by signal {signal}")
        }
        Termination::TimedOut => format!(
            "hang: QEMU did not exit within {} s",
            INTERACTIVE_DEADLINE.as_secs()
        ),
    };
    Err(XtaskError::ChecksFailed(vec![format!(
        "{arch} kernel: {verdict}"
    )]))
}

/// `cargo xtask setup [--check | --allow-removals]`.
///
/// # Errors
///
/// See [`setup::ensure`].
pub(crate) fn setup(mode: SetupMode) -> Result<(), XtaskError> {
    setup::ensure(&Arch::ALL, mode)
}
