//! Running an ISA's unit tests: natively for the host's ISA, under qemu-user for the others.

use std::env;
use std::time::{Duration, Instant};

use crate::arch::{Arch, UnitTests};
use crate::host_programs;
use crate::libtest::UnitTestReport;
use crate::outcome::Outcome;
use crate::process::{Echo, run_captured};
use crate::workspace;

/// How long one ISA's `cargo test` (build included) may take before it counts as hung.
pub(crate) const UNIT_TEST_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// Runs `cargo test` for `arch` and judges libtest's output.
///
/// Native: `cargo test --no-fail-fast` on the workspace's default members (doctests included).
/// Emulated: `cargo test --no-fail-fast --target <linux-gnu> -p …` with the linker and runner
/// (under the name set-up found on `PATH`) taken from the `Arch` table through
/// `CARGO_TARGET_<TRIPLE>_{LINKER,RUNNER}` (unless the caller already set them), so a fresh
/// machine needs no `.cargo/config.toml` entry.
pub(crate) fn run(arch: Arch) -> Outcome {
    let started = Instant::now();
    let spec = arch.spec();
    let mut command = workspace::cargo("test");
    command.arg("--no-fail-fast");
    if let UnitTests::Emulated(emulated) = spec.unit_tests {
        command.args(["--target", emulated.triple]);
        for package in spec.packages {
            command.args(["--package", package]);
        }
        // The runner under the name set-up found (e.g. upstream's `qemu-riscv64`).
        let runner = host_programs::check(&emulated.runner)
            .usable_name()
            .unwrap_or(emulated.runner.program);
        for (key, value) in emulated.cargo_environment(runner) {
            if env::var_os(&key).is_none() {
                command.env(key, value);
            }
        }
    }
    match run_captured(&mut command, UNIT_TEST_DEADLINE, Echo::Both) {
        Ok(captured) => UnitTestReport::parse(&captured.stdout, &captured.stderr).judge(
            captured.termination,
            UNIT_TEST_DEADLINE,
            started.elapsed(),
        ),
        Err(error) => Outcome::not_run(error.to_string(), started.elapsed()),
    }
}
