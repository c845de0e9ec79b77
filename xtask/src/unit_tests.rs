//! Running an ISA's unit tests: natively for the host's ISA, under qemu-user for the others.
//!
//! The tests are built first (`cargo test --no-run`), then the xtask runs each test binary itself
//! (through the qemu-user runner when emulated), each under its own deadline, so a hanging test
//! is caught within that deadline and named, with its binary; the doctests follow
//! (`cargo test --doc`).

use std::env;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::arch::{Arch, UnitTests};
use crate::host_programs;
use crate::libtest::{self, LibtestRun, UnitTestReport, listed_tests};
use crate::outcome::{Outcome, seconds};
use crate::process::{Echo, Termination, run_captured};
use crate::test_binaries::{TestBinary, test_binaries};
use crate::workspace::{self, cargo_error_lines, quote_lines};

/// How long one test binary may run before it counts as hung, unless [`DEADLINE_VARIABLE`] says
/// otherwise: what the whole `cargo test` once had, so no binary that passed then counts as hung
/// now. The slowest binary, `vmlayer_areas` under qemu-riscv64, took 314 s on two cores shared
/// with a load of 15.
pub(crate) const DEFAULT_BINARY_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// The environment variable that sets the per-binary deadline, in whole seconds.
pub(crate) const DEADLINE_VARIABLE: &str = "XTASK_TEST_BINARY_DEADLINE";
/// How long building the tests may take (a cold build of the test dependencies included).
const BUILD_DEADLINE: Duration = Duration::from_secs(20 * 60);
/// How long `cargo test --doc` (building and running every doctest) may take.
const DOCTEST_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// How long a test binary's `--list` may take (asked for only after it hung or crashed).
const LIST_DEADLINE: Duration = Duration::from_secs(60);

/// Runs the unit tests of `arch` and judges libtest's output.
///
/// Native: the workspace's default members. Emulated: `--target <linux-gnu> -p …` with the
/// linker and runner (under the name set-up found on `PATH`) taken from the `Arch` table through
/// `CARGO_TARGET_<TRIPLE>_{LINKER,RUNNER}` (unless the caller already set them), so a fresh
/// machine needs no `.cargo/config.toml` entry; the xtask runs the test binaries through that
/// runner as cargo would.
pub(crate) fn run(arch: Arch) -> Outcome {
    let started = Instant::now();
    let deadline = match binary_deadline(env::var(DEADLINE_VARIABLE).ok().as_deref()) {
        Ok(deadline) => deadline,
        Err(reason) => return Outcome::not_run(reason, started.elapsed()),
    };
    let plan = Plan::for_arch(arch);
    let mut build = plan.cargo_test();
    build.args(["--no-run", "--message-format=json-render-diagnostics"]);
    let captured = match run_captured(&mut build, BUILD_DEADLINE, Echo::StderrOnly) {
        Ok(captured) => captured,
        Err(error) => return Outcome::not_run(error.to_string(), started.elapsed()),
    };
    if !captured.termination.is_success() {
        let reason = match captured.termination {
            Termination::TimedOut => format!(
                "hang: `cargo test --no-run` did not finish within {}",
                seconds(BUILD_DEADLINE)
            ),
            Termination::Exited(status) => format!(
                "`cargo test --no-run` exited with status {status}: {}",
                quote_lines(&cargo_error_lines(&captured.stderr))
            ),
            Termination::Signaled(signal) => {
                format!("`cargo test --no-run` was killed by signal {signal}")
            }
        };
        return Outcome::not_run(reason, started.elapsed());
    }
    let binaries = test_binaries(&captured.stdout);
    let mut problems = Vec::new();
    if binaries.is_empty() {
        problems.push("`cargo test --no-run` reported no test binary".to_owned());
    }
    let mut runs = Vec::new();
    for binary in &binaries {
        match run_binary(binary, &plan.runner, deadline, Echo::Both) {
            Ok(run) => runs.push(run),
            Err(problem) => problems.push(problem),
        }
    }
    let mut doctests = plan.cargo_test();
    doctests.args(["--doc", "--no-fail-fast"]);
    match run_captured(&mut doctests, DOCTEST_DEADLINE, Echo::Both) {
        Ok(captured) => runs.push(LibtestRun {
            subject: "`cargo test --doc`".to_owned(),
            report: UnitTestReport::parse(&captured.stdout, &captured.stderr),
            termination: captured.termination,
            deadline: DOCTEST_DEADLINE,
            listed: Vec::new(),
        }),
        Err(error) => problems.push(error.to_string()),
    }
    libtest::judge(&runs, problems, started.elapsed())
}

/// The per-binary deadline: `value` (of [`DEADLINE_VARIABLE`]) in whole seconds, else
/// [`DEFAULT_BINARY_DEADLINE`].
///
/// # Errors
///
/// A sentence naming the variable when `value` is not a positive whole number of seconds.
pub(crate) fn binary_deadline(value: Option<&str>) -> Result<Duration, String> {
    let Some(value) = value else {
        return Ok(DEFAULT_BINARY_DEADLINE);
    };
    match value.trim().parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => Err(format!(
            "{DEADLINE_VARIABLE}={value:?}: expected the seconds each test binary may run, a \
             positive whole number"
        )),
    }
}

/// How an ISA's tests are built and run.
struct Plan {
    /// `--target` and `--package` arguments for cargo (none when native).
    cargo_args: Vec<String>,
    /// Environment for cargo: the emulated target's linker and runner.
    cargo_environment: Vec<(String, String)>,
    /// The runner that executes a test binary: program and arguments before the binary's path
    /// (empty when native).
    runner: Vec<String>,
}

impl Plan {
    fn for_arch(arch: Arch) -> Self {
        let spec = arch.spec();
        let UnitTests::Emulated(emulated) = spec.unit_tests else {
            return Self {
                cargo_args: Vec::new(),
                cargo_environment: Vec::new(),
                runner: Vec::new(),
            };
        };
        let mut cargo_args = vec!["--target".to_owned(), emulated.triple.to_owned()];
        for package in spec.packages {
            cargo_args.extend(["--package".to_owned(), (*package).to_owned()]);
        }
        // The runner under the name set-up found (e.g. upstream's `qemu-riscv64`).
        let runner_name = host_programs::check(&emulated.runner)
            .usable_name()
            .unwrap_or(emulated.runner.program);
        let mut cargo_environment = Vec::new();
        let mut runner = Vec::new();
        for (key, value) in emulated.cargo_environment(runner_name) {
            // A variable the caller set wins, for cargo and for the xtask's own runs alike.
            let value = match env::var(&key) {
                Ok(set) => set,
                Err(_) => {
                    cargo_environment.push((key.clone(), value.clone()));
                    value
                }
            };
            if key.ends_with("_RUNNER") {
                // cargo splits a runner given as one string on whitespace, too.
                runner = value.split_whitespace().map(str::to_owned).collect();
            }
        }
        Self {
            cargo_args,
            cargo_environment,
            runner,
        }
    }

    /// `cargo test` with the ISA's target, packages and environment.
    fn cargo_test(&self) -> Command {
        let mut command = workspace::cargo("test");
        command.args(&self.cargo_args);
        command.envs(self.cargo_environment.iter().cloned());
        command
    }
}

/// The command that runs `executable` with `arguments` through `runner` (program and arguments;
/// empty: directly) in the package's `directory`, with `CARGO_MANIFEST_DIR` set to it, as cargo
/// runs a test binary.
fn binary_command(
    runner: &[String],
    executable: &Path,
    arguments: &[&str],
    directory: &Path,
) -> Command {
    let mut command = match runner.split_first() {
        Some((program, runner_arguments)) => {
            let mut command = Command::new(program);
            command.args(runner_arguments).arg(executable);
            command
        }
        None => Command::new(executable),
    };
    command
        .args(arguments)
        .current_dir(directory)
        .env("CARGO_MANIFEST_DIR", directory);
    command
}

/// Runs one test binary under `deadline` (libtest's default parallelism, no extra flags; `echo`
/// says whether its stdout is copied to ours as it comes) and, when it ended without its
/// `test result:` line (a hang or a crash), asks it for its list of tests so the verdict can
/// name those that never finished.
///
/// # Errors
///
/// A sentence naming the binary when it could not be started.
pub(crate) fn run_binary(
    binary: &TestBinary,
    runner: &[String],
    deadline: Duration,
    echo: Echo,
) -> Result<LibtestRun, String> {
    let subject = format!("test binary {binary}");
    let mut command = binary_command(runner, &binary.executable, &[], &binary.package_directory);
    let captured = run_captured(&mut command, deadline, echo)
        .map_err(|error| format!("{subject} could not be run: {error}"))?;
    let report = UnitTestReport::parse(&captured.stdout, &captured.stderr);
    let listed = if report.reported_result() {
        Vec::new()
    } else {
        let mut list = binary_command(
            runner,
            &binary.executable,
            &["--list"],
            &binary.package_directory,
        );
        match run_captured(&mut list, LIST_DEADLINE, Echo::StderrOnly) {
            Ok(listing) if listing.termination.is_success() => listed_tests(&listing.stdout),
            // Without the list the verdict still names the tests flagged at 60 s.
            _ => Vec::new(),
        }
    };
    Ok(LibtestRun {
        subject,
        report,
        termination: captured.termination,
        deadline,
        listed,
    })
}

#[cfg(test)]
mod tests;
