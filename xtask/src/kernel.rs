//! Building the example kernel for an ISA and booting it under qemu-system.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::arch::{Arch, BootConfig, KERNEL_DIRECTORY, KERNEL_PACKAGE, kernel_builds};
use crate::case_list::parse_required_cases;
use crate::error::XtaskError;
use crate::exit_protocol::ExitProtocol;
use crate::outcome::Outcome;
use crate::process::{Echo, display_command, run_captured};
use crate::serial::SuiteReport;
use crate::workspace::{self, cargo_error_lines, executable_from_messages, quote_lines};

/// How long a kernel may run under QEMU before it counts as hung: a one-CPU pass takes under a
/// second; a four-CPU pass populates and unmaps 1 GiB and spins while other CPUs work, 5–15 s
/// on an idle 2-core machine (four vCPU threads share two cores), several times that when the
/// machine is busy.
pub(crate) const BOOT_DEADLINE: Duration = Duration::from_secs(120);
/// The golden list of conformance cases each ISA's kernel must run (see [`crate::case_list`]),
/// relative to the root.
const REQUIRED_CASES_FILE: &str = "ci/kernel-cases.txt";
/// How long a kernel build may take (a cold build on two cores takes under a minute).
const BUILD_DEADLINE: Duration = Duration::from_secs(20 * 60);

/// Builds the kernel for `arch` in release mode with the cargo `features` (none: the default
/// build) and returns the ELF's path. Each feature set has its own ELF: cargo puts every build
/// at the same path, so a boot must use its ELF before the next build with other features.
///
/// # Errors
///
/// [`XtaskError::CommandFailed`] when `examples/kernel` is missing, the build fails (quoting the
/// compiler's error lines) or cargo reports no executable; [`XtaskError::Io`] when cargo cannot
/// be run.
pub(crate) fn build(arch: Arch, features: &[String]) -> Result<PathBuf, XtaskError> {
    let mut command = workspace::cargo("build");
    command.args([
        "--package",
        KERNEL_PACKAGE,
        "--release",
        "--target",
        arch.spec().bare_metal_triple,
        "--message-format=json-render-diagnostics",
    ]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let manifest = workspace::root().join(KERNEL_DIRECTORY).join("Cargo.toml");
    if !manifest.is_file() {
        return Err(XtaskError::CommandFailed {
            command: display_command(&command),
            reason: format!(
                "the example kernel is missing: {} does not exist (package `{KERNEL_PACKAGE}`)",
                manifest.display()
            ),
        });
    }
    let captured = run_captured(&mut command, BUILD_DEADLINE, Echo::StderrOnly)?;
    if !captured.termination.is_success() {
        return Err(XtaskError::CommandFailed {
            command: display_command(&command),
            reason: format!(
                "kernel build for {arch}{} ended with {:?}: {}",
                describe_features(features),
                captured.termination,
                quote_lines(&cargo_error_lines(&captured.stderr))
            ),
        });
    }
    executable_from_messages(&captured.stdout, KERNEL_PACKAGE).ok_or_else(|| {
        XtaskError::CommandFailed {
            command: display_command(&command),
            reason: format!("cargo reported no `{KERNEL_PACKAGE}` executable"),
        }
    })
}

/// ` with features a,b` for messages; empty for the default build.
fn describe_features(features: &[String]) -> String {
    if features.is_empty() {
        String::new()
    } else {
        format!(" with features {}", features.join(","))
    }
}

/// The qemu-system command that boots `kernel` for `arch` in `config` with its console on
/// stdout.
pub(crate) fn boot_command(arch: Arch, config: &BootConfig, kernel: &std::path::Path) -> Command {
    let mut command = Command::new(arch.spec().qemu_system.program);
    command.args(arch.qemu_test_arguments(&config.qemu_args, kernel));
    command
}

/// The verdict of the kernel suite in one boot configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BootResult {
    /// The configuration (name and added QEMU arguments).
    pub(crate) config: BootConfig,
    /// What the suite reported.
    pub(crate) outcome: Outcome,
}

/// Boots the kernel for `arch` in each of `configs`, judging its conformance suite each time,
/// and returns the results in the order of `configs`. The kernel is built once per distinct
/// feature set ([`kernel_builds`]) and booted in that build's configurations right after it. A
/// failed build fails its configurations (the first carries the compiler's errors); a build's
/// time is counted in its first configuration's time.
pub(crate) fn run_suite(arch: Arch, configs: &[BootConfig]) -> Vec<BootResult> {
    let required_for = |cpus: usize| {
        fs::read_to_string(workspace::root().join(REQUIRED_CASES_FILE))
            .map_err(|error| format!("cannot read {REQUIRED_CASES_FILE}: {error}"))
            .and_then(|text| {
                parse_required_cases(&text, arch, cpus)
                    .map_err(|error| format!("{REQUIRED_CASES_FILE}: {error}"))
            })
    };
    let required = required_for(1);
    let mut results: Vec<Option<BootResult>> = vec![None; configs.len()];
    for kernel_build in kernel_builds(configs) {
        let started = Instant::now();
        let prepared = required.clone().and_then(|required| {
            build(arch, &kernel_build.features)
                .map(|kernel| (kernel, required))
                .map_err(|error| error.to_string())
        });
        let build_time = started.elapsed();
        for (position, &index) in kernel_build.configs.iter().enumerate() {
            let config = &configs[index];
            let charged_build_time = if position == 0 {
                build_time
            } else {
                Duration::ZERO
            };
            let outcome = match &prepared {
                Ok((kernel, required)) => {
                    println!("\n==> {arch}: kernel suite, boot {config}");
                    let booted = Instant::now();
                    let required = if config.cpus() > 1 {
                        required_for(config.cpus()).unwrap_or_else(|_| required.clone())
                    } else {
                        required.clone()
                    };
                    let mut outcome = boot_and_judge(
                        &mut boot_command(arch, config, kernel),
                        arch.spec().exit_protocol,
                        BOOT_DEADLINE,
                        &required,
                    );
                    outcome.elapsed = booted.elapsed() + charged_build_time;
                    outcome
                }
                Err(reason) if position == 0 => Outcome::not_run(reason.clone(), build_time),
                Err(_) => Outcome::not_run(
                    format!(
                        "not booted: the kernel build{} failed (see `{}`)",
                        describe_features(&kernel_build.features),
                        configs[kernel_build.configs[0]].name
                    ),
                    Duration::ZERO,
                ),
            };
            results[index] = Some(BootResult {
                config: config.clone(),
                outcome,
            });
        }
    }
    results.into_iter().flatten().collect()
}

/// Runs `qemu` (a command whose stdout is the kernel's serial console) under `deadline` and
/// judges the console and exit status under `protocol`, requiring the `required` cases.
pub(crate) fn boot_and_judge(
    qemu: &mut Command,
    protocol: ExitProtocol,
    deadline: Duration,
    required: &[String],
) -> Outcome {
    let captured = match run_captured(qemu, deadline, Echo::Both) {
        Ok(captured) => captured,
        Err(error) => return Outcome::not_run(error.to_string(), Duration::ZERO),
    };
    println!(
        "QEMU ran {:.2} s and ended with {:?}",
        captured.elapsed.as_secs_f64(),
        captured.termination
    );
    let report = SuiteReport::parse(&captured.stdout);
    let mut outcome = report.judge(protocol, captured.termination, deadline, captured.elapsed);
    outcome
        .problems
        .extend(report.missing_required(required, REQUIRED_CASES_FILE));
    let qemu_errors: Vec<String> = captured
        .stderr
        .lines()
        .map(str::trim)
        // QEMU's note that our own SIGTERM ended it says nothing about the kernel.
        .filter(|line| !line.is_empty() && !line.contains("terminating on signal"))
        .map(str::to_owned)
        .collect();
    if !outcome.is_pass() && !qemu_errors.is_empty() {
        outcome
            .problems
            .push(format!("QEMU's stderr: {}", quote_lines(&qemu_errors)));
    }
    outcome
}

#[cfg(test)]
mod tests;
