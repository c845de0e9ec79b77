//! The subcommands: `test`, `run`, `setup`, `ci`.

use std::time::{Duration, Instant};

use crate::arch::{Arch, UnitTests};
use crate::error::XtaskError;
use crate::kernel;
use crate::process::{display_command, run_interactive};
use crate::setup::{self, SetupMode};
use crate::table::{self, ArchResult};
use crate::unit_tests;
use crate::workspace;

/// How long `cargo xtask run` lets the kernel run before terminating QEMU.
const INTERACTIVE_DEADLINE: Duration = Duration::from_secs(120);
/// How long one CI step (fmt, clippy, doc) may take.
const CI_STEP_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// `cargo xtask test`: per ISA, unit tests then the kernel suite; prints the table.
///
/// # Errors
///
/// [`XtaskError::ChecksFailed`] listing every failure by ISA and case; setup errors.
pub(crate) fn test(arches: &[Arch]) -> Result<(), XtaskError> {
    setup::ensure(arches, SetupMode::Install)?;
    let mut results = Vec::new();
    for &arch in arches {
        println!("\n==> {arch}: unit tests");
        let unit_tests = unit_tests::run(arch);
        println!("\n==> {arch}: kernel suite");
        let kernel_suite = kernel::run_suite(arch);
        results.push(ArchResult {
            arch,
            unit_tests,
            kernel_suite,
        });
    }
    println!("\n{}", table::render(&results));
    let failures: Vec<String> = results.iter().flat_map(ArchResult::failures).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(XtaskError::ChecksFailed(failures))
    }
}

/// `cargo xtask run`: builds and boots the kernel with its console on the terminal and returns
/// QEMU's verdict under the ISA's exit protocol.
///
/// # Errors
///
/// [`XtaskError::ChecksFailed`] when QEMU's status is not the protocol's success code (or it
/// hung); build and setup errors.
pub(crate) fn run(arch: Arch) -> Result<(), XtaskError> {
    setup::ensure(&[arch], SetupMode::Install)?;
    let kernel = kernel::build(arch)?;
    let mut command = std::process::Command::new(arch.spec().qemu_system.program);
    command.args(arch.qemu_interactive_arguments(&kernel));
    let (termination, elapsed) = run_interactive(&mut command, INTERACTIVE_DEADLINE)?;
    let protocol = arch.spec().exit_protocol;
    let verdict = match termination {
        crate::process::Termination::Exited(status) if protocol.is_success(status) => {
            println!(
                "\n{arch}: {} ({:.2} s)",
                protocol.explain(status),
                elapsed.as_secs_f64()
            );
            return Ok(());
        }
        crate::process::Termination::Exited(status) => protocol.explain(status),
        crate::process::Termination::Signaled(signal) => {
            format!("QEMU was killed by signal {signal}")
        }
        crate::process::Termination::TimedOut => format!(
            "hang: QEMU did not exit within {} s",
            INTERACTIVE_DEADLINE.as_secs()
        ),
    };
    Err(XtaskError::ChecksFailed(vec![format!(
        "{arch} kernel: {verdict}"
    )]))
}

/// `cargo xtask setup [--check]`.
///
/// # Errors
///
/// See [`setup::ensure`].
pub(crate) fn setup(mode: SetupMode) -> Result<(), XtaskError> {
    setup::ensure(&Arch::ALL, mode)
}

/// One CI step: a name for the report and the command.
struct CiStep {
    name: String,
    command: std::process::Command,
}

/// `cargo xtask ci`: fmt check, clippy (host and every target) and docs with warnings denied, then
/// `test --arch all`; every step runs, and a table of steps ends the output.
///
/// # Errors
///
/// [`XtaskError::ChecksFailed`] naming every failed step and test failure; setup errors.
pub(crate) fn ci() -> Result<(), XtaskError> {
    setup::ensure(&Arch::ALL, SetupMode::Install)?;
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for mut step in ci_steps() {
        println!("\n==> ci: {}", step.name);
        let started = Instant::now();
        let passed = match run_interactive(&mut step.command, CI_STEP_DEADLINE) {
            Ok((termination, _)) if termination.is_success() => true,
            Ok((termination, _)) => {
                failures.push(format!(
                    "ci step `{}` ended with {termination:?}: {}",
                    step.name,
                    display_command(&step.command)
                ));
                false
            }
            Err(error) => {
                failures.push(format!("ci step `{}`: {error}", step.name));
                false
            }
        };
        rows.push((step.name, passed, started.elapsed()));
    }
    println!("\n==> ci: test --arch all");
    let started = Instant::now();
    let test_result = test(&Arch::ALL);
    rows.push((
        "test --arch all".to_owned(),
        test_result.is_ok(),
        started.elapsed(),
    ));
    match test_result {
        Ok(()) => {}
        Err(XtaskError::ChecksFailed(test_failures)) => failures.extend(test_failures),
        Err(error) => failures.push(format!("test --arch all: {error}")),
    }
    println!("\nCI steps:");
    for (name, passed, elapsed) in &rows {
        println!(
            "  {:<4} {:>7.1} s  {name}",
            if *passed { "ok" } else { "FAIL" },
            elapsed.as_secs_f64()
        );
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(XtaskError::ChecksFailed(failures))
    }
}

/// The CI steps before the tests, in order.
fn ci_steps() -> Vec<CiStep> {
    let mut steps = Vec::new();
    let mut fmt = workspace::cargo("fmt");
    fmt.args(["--all", "--check"]);
    steps.push(CiStep {
        name: "fmt".to_owned(),
        command: fmt,
    });
    let mut host_clippy = workspace::cargo("clippy");
    host_clippy.args(["--all-targets", "--", "-D", "warnings"]);
    steps.push(CiStep {
        name: "clippy host (default members, all targets)".to_owned(),
        command: host_clippy,
    });
    for arch in Arch::ALL {
        let spec = arch.spec();
        if let UnitTests::Emulated(emulated) = spec.unit_tests {
            let mut clippy = workspace::cargo("clippy");
            clippy.args(["--all-targets", "--target", emulated.triple]);
            add_packages(&mut clippy, spec.packages);
            clippy.args(["--", "-D", "warnings"]);
            steps.push(CiStep {
                name: format!("clippy {}", emulated.triple),
                command: clippy,
            });
        }
        let mut bare_metal = workspace::cargo("clippy");
        bare_metal.args(["--target", spec.bare_metal_triple]);
        add_packages(&mut bare_metal, spec.packages);
        add_packages(&mut bare_metal, &[crate::arch::KERNEL_PACKAGE]);
        bare_metal.args(["--", "-D", "warnings"]);
        steps.push(CiStep {
            name: format!("clippy {}", spec.bare_metal_triple),
            command: bare_metal,
        });
    }
    let mut host_doc = workspace::cargo("doc");
    host_doc.arg("--no-deps").env("RUSTDOCFLAGS", "-D warnings");
    steps.push(CiStep {
        name: "doc host (default members)".to_owned(),
        command: host_doc,
    });
    for arch in Arch::ALL {
        let spec = arch.spec();
        if let UnitTests::Emulated(emulated) = spec.unit_tests {
            let mut doc = workspace::cargo("doc");
            doc.args(["--no-deps", "--target", emulated.triple])
                .env("RUSTDOCFLAGS", "-D warnings");
            add_packages(&mut doc, spec.packages);
            steps.push(CiStep {
                name: format!("doc {}", emulated.triple),
                command: doc,
            });
        }
    }
    steps
}

fn add_packages(command: &mut std::process::Command, packages: &[&str]) {
    for package in packages {
        command.args(["--package", package]);
    }
}
