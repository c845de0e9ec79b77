//! `cargo xtask ci`: everything CI checks, in one command.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::apt::Removals;
use crate::arch::{Arch, KERNEL_PACKAGE, UnitTests, kernel_builds};
use crate::commands;
use crate::error::XtaskError;
use crate::process::{Echo, display_command, run_captured, run_interactive};
use crate::release;
use crate::setup::{self, SetupMode};
use crate::workspace;

/// How long one CI step (fmt, clippy, doc) may take.
const CI_STEP_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// One CI step: a name for the report and the command.
pub(crate) struct CiStep {
    name: String,
    command: Command,
    /// Whether a `warning:` line on the command's stderr fails the step (for cargo commands
    /// that have no flag to deny their own warnings, such as `cargo package`).
    deny_warnings: bool,
}

impl CiStep {
    /// A step that passes when `command` succeeds.
    pub(crate) fn new(name: impl Into<String>, command: Command) -> Self {
        Self {
            name: name.into(),
            command,
            deny_warnings: false,
        }
    }

    /// A step that passes when `command` succeeds without printing a warning.
    pub(crate) fn denying_warnings(name: impl Into<String>, command: Command) -> Self {
        Self {
            deny_warnings: true,
            ..Self::new(name, command)
        }
    }

    /// Runs the step on the terminal; `Err` says why it failed.
    fn run(&mut self) -> Result<(), String> {
        let termination = if self.deny_warnings {
            let captured = run_captured(&mut self.command, CI_STEP_DEADLINE, Echo::Both)
                .map_err(|error| error.to_string())?;
            let warnings = release::warning_lines(&captured.stderr);
            if captured.termination.is_success() && !warnings.is_empty() {
                return Err(format!("warnings denied: {}", warnings.join("; ")));
            }
            captured.termination
        } else {
            run_interactive(&mut self.command, CI_STEP_DEADLINE)
                .map_err(|error| error.to_string())?
                .0
        };
        if termination.is_success() {
            Ok(())
        } else {
            Err(format!(
                "ended with {termination:?}: {}",
                display_command(&self.command)
            ))
        }
    }
}

/// `cargo xtask ci`: set-up (`removals` says whether it may remove or downgrade packages; on a
/// CI machine `CI=true` agrees as well), then fmt check, clippy (host and every target) and docs
/// with warnings denied, then `test --arch all`; every step runs, and a table of steps ends the
/// output.
///
/// # Errors
///
/// [`XtaskError::ChecksFailed`] naming every failed step and test failure; setup errors.
pub(crate) fn run(removals: Removals) -> Result<(), XtaskError> {
    setup::ensure(&Arch::ALL, SetupMode::Install(removals))?;
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for mut step in ci_steps()? {
        println!("\n==> ci: {}", step.name);
        let started = Instant::now();
        let passed = match step.run() {
            Ok(()) => true,
            Err(reason) => {
                failures.push(format!("ci step `{}` {reason}", step.name));
                false
            }
        };
        rows.push((step.name, passed, started.elapsed()));
    }
    println!("\n==> ci: test --arch all");
    let started = Instant::now();
    let test_result = commands::test(&Arch::ALL, &[], removals);
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
fn ci_steps() -> Result<Vec<CiStep>, XtaskError> {
    let mut steps = Vec::new();
    let mut fmt = workspace::cargo("fmt");
    fmt.args(["--all", "--check"]);
    steps.push(CiStep::new("fmt", fmt));
    let mut host_clippy = workspace::cargo("clippy");
    host_clippy.args(["--all-targets", "--", "-D", "warnings"]);
    steps.push(CiStep::new(
        "clippy host (default members, all targets)",
        host_clippy,
    ));
    for arch in Arch::ALL {
        let spec = arch.spec();
        if let UnitTests::Emulated(emulated) = spec.unit_tests {
            let mut clippy = workspace::cargo("clippy");
            clippy.args(["--all-targets", "--target", emulated.triple]);
            add_packages(&mut clippy, spec.packages);
            clippy.args(["--", "-D", "warnings"]);
            steps.push(CiStep::new(format!("clippy {}", emulated.triple), clippy));
        }
        let mut bare_metal = workspace::cargo("clippy");
        bare_metal.args(["--target", spec.bare_metal_triple]);
        add_packages(&mut bare_metal, spec.packages);
        add_packages(&mut bare_metal, &[KERNEL_PACKAGE]);
        bare_metal.args(["--", "-D", "warnings"]);
        steps.push(CiStep::new(
            format!("clippy {}", spec.bare_metal_triple),
            bare_metal,
        ));
        // The kernel as the boot configurations build it with other features (Sv48, Svpbmt).
        for build in kernel_builds(&arch.boot_configs()) {
            if build.features.is_empty() {
                continue;
            }
            let features = build.features.join(",");
            let mut kernel = workspace::cargo("clippy");
            kernel.args(["--target", spec.bare_metal_triple, "--features", &features]);
            add_packages(&mut kernel, &[KERNEL_PACKAGE]);
            kernel.args(["--", "-D", "warnings"]);
            steps.push(CiStep::new(
                format!(
                    "clippy {} {KERNEL_PACKAGE} --features {features}",
                    spec.bare_metal_triple
                ),
                kernel,
            ));
        }
    }
    let mut host_doc = workspace::cargo("doc");
    host_doc.arg("--no-deps").env("RUSTDOCFLAGS", "-D warnings");
    steps.push(CiStep::new("doc host (default members)", host_doc));
    // The library crates' docs for the bare-metal targets: as docs.rs builds them (release.rs).
    steps.extend(release::ci_steps()?);
    steps.extend(miri_steps());
    steps.extend(fuzz_steps());
    Ok(steps)
}

/// The hosted crates Miri checks: every test of the ISA contract, the walker and the host's ISA
/// crate, the crates with `unsafe` code (tests too slow under Miri shrink themselves with
/// `cfg!(miri)`). The area set (`vmlayer_areas`) is left out: it forbids `unsafe` and uses its
/// one dependency (`memory_addr`) for address arithmetic only, so Miri finds nothing there
/// that the compiler has not excluded, and its property tests took 5.5 of CI's 30 minutes.
pub(crate) const MIRI_PACKAGES: &[&str] = &["vmlayer_arch", "vmlayer_paging", "vmlayer_x86_64"];

/// The nightly toolchain Miri comes from (Miri exists only on nightly).
const MIRI_TOOLCHAIN: &str = "nightly";

/// Miri's flags: isolation off (proptest reads its regression files), and integer-to-pointer
/// casts allowed (the test frame allocator hands out host heap addresses as physical
/// addresses, and `phys_to_virt` turns them back into pointers, as a kernel's direct map does).
pub(crate) const MIRI_FLAGS: &str = "-Zmiri-disable-isolation -Zmiri-permissive-provenance";

/// Installs Miri on the nightly toolchain (a no-op when present), then runs the hosted tests
/// under it. Undefined behaviour, such as a `&mut` to a table the flush hook reads, fails the
/// step.
fn miri_steps() -> Vec<CiStep> {
    // Installs nightly only where it is missing (an existing one is not updated; a new one is
    // the latest that ships Miri), then adds the two components.
    let mut install = Command::new("sh");
    install.arg("-c").arg(format!(
        "rustup run {MIRI_TOOLCHAIN} rustc --version >/dev/null 2>&1 || \
         rustup toolchain install {MIRI_TOOLCHAIN} --profile minimal --component miri,rust-src \
             --allow-downgrade; \
         rustup component add --toolchain {MIRI_TOOLCHAIN} miri rust-src"
    ));
    let mut test = Command::new("rustup");
    test.args(["run", MIRI_TOOLCHAIN, "cargo", "miri", "test"])
        .current_dir(workspace::root())
        .env("MIRIFLAGS", MIRI_FLAGS)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC");
    add_packages(&mut test, MIRI_PACKAGES);
    vec![
        CiStep::new(format!("miri toolchain ({MIRI_TOOLCHAIN})"), install),
        CiStep::new(format!("miri test {}", MIRI_PACKAGES.join(" ")), test),
    ]
}

/// The cargo-fuzz targets of `fuzz/` (a crate outside the workspace: see `fuzz/README.md`).
pub(crate) const FUZZ_TARGETS: &[&str] = &["area_ops", "address_space_ops", "decode"];

/// How long the CI smoke run of each fuzz target lasts, in seconds.
const FUZZ_SMOKE_SECONDS: u32 = 20;

/// `cargo fuzz <args>` (installed by `.ci/run`) on the nightly toolchain, from the workspace
/// root, building into `<target dir>/fuzz` so that nothing lands in the source tree.
fn cargo_fuzz(args: &[&str]) -> Command {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || workspace::root().join("target"),
            std::path::PathBuf::from,
        )
        .join("fuzz");
    let mut command = Command::new("rustup");
    command
        .args(["run", MIRI_TOOLCHAIN, "cargo", "fuzz"])
        .args(args)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(workspace::root())
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC");
    command
}

/// A smoke run of every fuzz target: the nightly toolchain (as for Miri), one build of the
/// targets, then each for [`FUZZ_SMOKE_SECONDS`] from its committed corpus, new inputs going to
/// a scratch directory emptied first (so the tree stays clean) and crashes to
/// `fuzz/artifacts/` (ignored by git, kept for `cargo fuzz run <target> <file>`). A crash or a
/// failed check fails the step.
fn fuzz_steps() -> Vec<CiStep> {
    let mut toolchain = Command::new("sh");
    toolchain.arg("-c").arg(format!(
        "rustup run {MIRI_TOOLCHAIN} rustc --version >/dev/null 2>&1 || \
         rustup toolchain install {MIRI_TOOLCHAIN} --profile minimal --allow-downgrade; \
         rustup run {MIRI_TOOLCHAIN} cargo fuzz --version"
    ));
    let mut steps = vec![
        CiStep::new(
            format!("fuzz toolchain ({MIRI_TOOLCHAIN}, cargo-fuzz)"),
            toolchain,
        ),
        CiStep::new("fuzz build", cargo_fuzz(&["build"])),
    ];
    let scratch = std::env::temp_dir().join("vmlayer-fuzz-corpus");
    for target in FUZZ_TARGETS {
        let new_inputs = scratch.join(target);
        let _ = std::fs::remove_dir_all(&new_inputs);
        let _ = std::fs::create_dir_all(&new_inputs);
        let mut run = cargo_fuzz(&["run", target]);
        run.arg(&new_inputs)
            .arg(workspace::root().join("fuzz/corpus").join(target))
            .args(["--", &format!("-max_total_time={FUZZ_SMOKE_SECONDS}")]);
        steps.push(CiStep::new(
            format!("fuzz {target} ({FUZZ_SMOKE_SECONDS} s)"),
            run,
        ));
    }
    steps
}

fn add_packages(command: &mut Command, packages: &[&str]) {
    for package in packages {
        command.args(["--package", package]);
    }
}
