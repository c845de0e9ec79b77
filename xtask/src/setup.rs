//! Making the host ready: the Rust targets and components of the toolchain file, the QEMU
//! binaries and the cross linkers and C libraries of the chosen ISAs.
//!
//! The check is fast (a `PATH` search, `--version` of each QEMU binary, a few file tests and one
//! `rustc --print sysroot`), so `test`, `run` and `ci` run it every time. A QEMU binary counts
//! as present when one of its names is on `PATH` and reports at least [`MINIMUM_QEMU`], wherever
//! it came from: a newer QEMU the user installed (bookworm-backports, a source build) is used as
//! is, never replaced.
//!
//! Missing pieces are installed with `rustup` and, when running as root on Debian or Ubuntu,
//! `apt-get`; elsewhere the exact commands are printed and the xtask stops. The `apt-get install`
//! is simulated first ([`crate::apt`]): when it would remove or downgrade an installed package,
//! set-up lists those packages and stops, installing nothing, unless the user agreed with
//! `--allow-removals` or the environment says CI (`CI=true`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::apt::{self, Consent, Removals};
use crate::arch::{Arch, HostFile, HostProgram, UnitTests};
use crate::error::XtaskError;
use crate::host_programs::{self, ProgramCheck, find_on_path};
use crate::process::run_interactive;
use crate::qemu_version::MINIMUM_QEMU;
use crate::workspace;

/// Whether [`ensure`] may change the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetupMode {
    /// Install what is missing when possible; whether apt may remove or downgrade installed
    /// packages on the way (`--allow-removals`).
    Install(Removals),
    /// Only report what is missing and how to install it.
    CheckOnly,
}

/// rustup components the CI steps need (also listed in `rust-toolchain.toml`), with the binary in
/// the toolchain's `bin/` that shows each is present.
const COMPONENTS: [(&str, &str); 2] = [("rustfmt", "rustfmt"), ("clippy", "cargo-clippy")];

/// The longest an `apt-get` or `rustup` step may take.
const INSTALL_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// What the chosen ISAs need from the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Requirements {
    /// Rust targets (rustup names).
    pub(crate) rust_targets: Vec<&'static str>,
    /// Programs looked up on `PATH`.
    pub(crate) programs: Vec<HostProgram>,
    /// Files that must exist (cross C libraries).
    pub(crate) files: Vec<HostFile>,
}

impl Requirements {
    /// The union of what `arches` need, without duplicates.
    pub(crate) fn of(arches: &[Arch]) -> Self {
        let mut requirements = Self::default();
        for &arch in arches {
            let spec = arch.spec();
            for target in arch.rust_targets() {
                push_unique(&mut requirements.rust_targets, target);
            }
            push_unique(&mut requirements.programs, spec.qemu_system);
            if let UnitTests::Emulated(emulated) = spec.unit_tests {
                push_unique(&mut requirements.programs, emulated.runner);
                push_unique(&mut requirements.programs, emulated.linker);
                push_unique(&mut requirements.files, emulated.libc_dev);
            }
        }
        requirements
    }
}

fn push_unique<T: PartialEq>(items: &mut Vec<T>, item: T) {
    if !items.contains(&item) {
        items.push(item);
    }
}

/// What is missing and what would install it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Missing {
    /// Rust targets to `rustup target add`.
    pub(crate) rust_targets: Vec<&'static str>,
    /// rustup components to `rustup component add`.
    pub(crate) components: Vec<&'static str>,
    /// Debian packages to `apt-get install`, in first-needed order, without duplicates.
    pub(crate) debian_packages: Vec<&'static str>,
    /// One line per missing item, for messages.
    pub(crate) descriptions: Vec<String>,
    /// The version-checked programs found and used as is, e.g. `qemu-system-riscv64 10.0.2`.
    pub(crate) in_use: Vec<String>,
    /// Warnings about programs used as is without a known version.
    pub(crate) notes: Vec<String>,
}

impl Missing {
    /// Whether nothing is missing.
    pub(crate) fn is_empty(&self) -> bool {
        self.descriptions.is_empty()
    }

    /// The commands that would install everything missing, one per line.
    pub(crate) fn install_commands(&self, as_root: bool) -> Vec<String> {
        let sudo = if as_root { "" } else { "sudo " };
        let mut commands = Vec::new();
        if !self.rust_targets.is_empty() {
            commands.push(format!("rustup target add {}", self.rust_targets.join(" ")));
        }
        if !self.components.is_empty() {
            commands.push(format!(
                "rustup component add {}",
                self.components.join(" ")
            ));
        }
        if !self.debian_packages.is_empty() {
            // No `-y`: apt shows what it would remove or downgrade and asks.
            commands.push(format!(
                "{sudo}apt-get update && {sudo}apt-get install --no-install-recommends {}",
                self.debian_packages.join(" ")
            ));
        }
        commands
    }
}

/// Compares `requirements` with what the host has. Pure: the host is seen through the four
/// functions, so the decision is testable without touching the machine.
pub(crate) fn find_missing(
    requirements: &Requirements,
    has_rust_target: impl Fn(&str) -> bool,
    has_component: impl Fn(&str) -> bool,
    check_program: impl Fn(&HostProgram) -> ProgramCheck,
    has_file: impl Fn(&str) -> bool,
) -> Missing {
    let mut missing = Missing::default();
    for &target in &requirements.rust_targets {
        if !has_rust_target(target) {
            missing.rust_targets.push(target);
            missing.descriptions.push(format!("Rust target {target}"));
        }
    }
    for (component, binary) in COMPONENTS {
        if !has_component(binary) {
            missing.components.push(component);
            missing
                .descriptions
                .push(format!("rustup component {component}"));
        }
    }
    for program in &requirements.programs {
        let description = match check_program(program) {
            ProgramCheck::Usable {
                name,
                version: Some(version),
            } => {
                missing.in_use.push(format!("{name} {version}"));
                continue;
            }
            ProgramCheck::Usable { version: None, .. } => continue,
            ProgramCheck::UnknownVersion { name, path } => {
                missing.notes.push(format!(
                    "{} reports no version with `--version`; using it as is (QEMU {} or newer \
                     is needed)",
                    path.display(),
                    program.minimum_version.unwrap_or(MINIMUM_QEMU)
                ));
                missing.in_use.push(format!("{name} (version unknown)"));
                continue;
            }
            ProgramCheck::TooOld {
                path,
                version,
                minimum,
                ..
            } => format!(
                "program {} is QEMU {version} ({}), older than the {minimum} needed \
                 (Debian package {})",
                program.program,
                path.display(),
                program.debian_package
            ),
            ProgramCheck::Absent => {
                let mut names = vec![program.program];
                names.extend_from_slice(program.alternatives);
                format!(
                    "program {} (Debian package {})",
                    names.join(" or "),
                    program.debian_package
                )
            }
        };
        push_unique(&mut missing.debian_packages, program.debian_package);
        missing.descriptions.push(description);
    }
    for file in &requirements.files {
        if !has_file(file.path) {
            push_unique(&mut missing.debian_packages, file.debian_package);
            missing.descriptions.push(format!(
                "file {} (Debian package {})",
                file.path, file.debian_package
            ));
        }
    }
    missing
}

/// Checks the host for `arches` and, in [`SetupMode::Install`], installs what is missing.
///
/// Debian packages are installed only after a simulation of the install shows that it removes
/// and downgrades nothing installed, or the user agreed (`--allow-removals`, `CI=true`).
///
/// # Errors
///
/// [`XtaskError::MissingHostTools`] when something is missing and cannot be installed here (or
/// in [`SetupMode::CheckOnly`]), with the commands that would install it;
/// [`XtaskError::WouldChangeInstalledPackages`] when the install would remove or downgrade
/// installed packages and nobody agreed (nothing is installed then);
/// [`XtaskError::CommandFailed`] when an installation command fails.
pub(crate) fn ensure(arches: &[Arch], mode: SetupMode) -> Result<(), XtaskError> {
    let requirements = Requirements::of(arches);
    let missing = probe(&requirements)?;
    for note in &missing.notes {
        println!("setup: note: {note}");
    }
    if missing.is_empty() {
        println!(
            "setup: all present ({} Rust targets, {} host programs, {} cross C libraries)",
            requirements.rust_targets.len(),
            requirements.programs.len(),
            requirements.files.len()
        );
        print_in_use(&missing);
        return Ok(());
    }
    let host = HostKind::detect();
    let removals = match mode {
        SetupMode::CheckOnly => {
            return Err(missing_error(
                &missing,
                &host,
                "`cargo xtask setup --check` installs nothing",
            ));
        }
        SetupMode::Install(removals) => removals,
    };
    if !missing.debian_packages.is_empty() && !host.can_apt_install() {
        return Err(missing_error(&missing, &host, &host.why_no_apt()));
    }
    println!("setup: installing what is missing:");
    for description in &missing.descriptions {
        println!("  - {description}");
    }
    // Decide about apt before changing anything, so a refusal leaves the machine as it was.
    let apt_install = if missing.debian_packages.is_empty() {
        None
    } else {
        let consent = Consent::of(removals, env::var("CI").ok().as_deref());
        Some(plan_debian_install(&missing.debian_packages, consent)?)
    };
    if !missing.rust_targets.is_empty() {
        run_step(rustup(&["target", "add"], &missing.rust_targets))?;
    }
    if !missing.components.is_empty() {
        run_step(rustup(&["component", "add"], &missing.components))?;
    }
    if let Some(install) = apt_install {
        run_step(install)?;
    }
    let still_missing = probe(&requirements)?;
    if still_missing.is_empty() {
        println!("setup: everything installed");
        print_in_use(&still_missing);
        Ok(())
    } else {
        Err(missing_error(
            &still_missing,
            &host,
            "still missing after installation",
        ))
    }
}

fn print_in_use(missing: &Missing) {
    if !missing.in_use.is_empty() {
        println!(
            "setup: QEMU in use (at least {MINIMUM_QEMU} needed): {}",
            missing.in_use.join(", ")
        );
    }
}

/// `apt-get update`, then `apt-get -s install` of `packages`; returns the real install command
/// when the simulation removes and downgrades nothing installed, or `consent` was given (after
/// listing what will be removed and downgraded).
fn plan_debian_install(packages: &[&str], consent: Consent) -> Result<Command, XtaskError> {
    let mut update = apt::apt_get();
    update.arg("update");
    run_step(update)?;
    let plan = apt::simulate_install(packages)?;
    let arguments = apt::install_arguments(packages, &plan, consent).map_err(|changes| {
        XtaskError::WouldChangeInstalledPackages {
            command: format!(
                "apt-get install -y --no-install-recommends {}",
                packages.join(" ")
            ),
            changes,
        }
    })?;
    let changes = plan.installed_changes();
    if let Some(agreed_by) = consent.describe().filter(|_| !changes.is_empty()) {
        print!(
            "setup: apt-get will remove or downgrade these installed packages (agreed by \
             {agreed_by}):\n{changes}"
        );
    } else {
        println!("setup: apt-get removes and downgrades nothing installed");
    }
    println!(
        "setup: apt-get will install {} new package(s) and upgrade {}",
        plan.new.len(),
        plan.upgrades.len()
    );
    let mut install = apt::apt_get();
    install.args(arguments);
    Ok(install)
}

fn missing_error(missing: &Missing, host: &HostKind, why: &str) -> XtaskError {
    let mut text = format!("{why}; missing:\n");
    for description in &missing.descriptions {
        text.push_str(&format!("  - {description}\n"));
    }
    text.push_str("install with:\n");
    for command in missing.install_commands(host.is_root) {
        text.push_str(&format!("  {command}\n"));
    }
    if !host.is_debian_like && !missing.debian_packages.is_empty() {
        text.push_str(
            "(package names are Debian's; on other systems install the programs and files \
             listed above with the system's package manager)\n",
        );
    }
    XtaskError::MissingHostTools(text)
}

fn rustup(subcommand: &[&str], names: &[&str]) -> Command {
    let mut command = Command::new("rustup");
    command
        .args(subcommand)
        .args(names)
        .current_dir(workspace::root());
    command
}

fn run_step(mut command: Command) -> Result<(), XtaskError> {
    let (termination, _) = run_interactive(&mut command, INSTALL_DEADLINE)?;
    if termination.is_success() {
        Ok(())
    } else {
        Err(XtaskError::CommandFailed {
            command: crate::process::display_command(&command),
            reason: format!("an installation step ended with {termination:?}"),
        })
    }
}

/// Looks at this host: Rust sysroot, `PATH` (and the QEMU binaries' versions), files.
fn probe(requirements: &Requirements) -> Result<Missing, XtaskError> {
    let sysroot = rust_sysroot()?;
    Ok(find_missing(
        requirements,
        |target| {
            sysroot
                .join("lib/rustlib")
                .join(target)
                .join("lib")
                .is_dir()
        },
        |binary| sysroot.join("bin").join(binary).is_file(),
        host_programs::check,
        |file| Path::new(file).is_file(),
    ))
}

/// The sysroot of the toolchain the workspace uses (`rustc` run from the workspace root, so the
/// toolchain file selects it).
fn rust_sysroot() -> Result<PathBuf, XtaskError> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(workspace::root())
        .output()
        .map_err(|error| XtaskError::io("running `rustc --print sysroot`", error))?;
    if !output.status.success() {
        return Err(XtaskError::CommandFailed {
            command: "rustc --print sysroot".to_owned(),
            reason: format!(
                "cannot find the Rust toolchain: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// What kind of host this is, for deciding whether `apt-get` may be run.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HostKind {
    is_root: bool,
    is_debian_like: bool,
    has_apt_get: bool,
}

impl HostKind {
    fn detect() -> Self {
        let os_release = fs::read_to_string("/etc/os-release").unwrap_or_default();
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0");
        let has_apt_get = find_on_path("apt-get").is_some();
        Self {
            is_root,
            is_debian_like: is_debian_like(&os_release),
            has_apt_get,
        }
    }

    fn can_apt_install(&self) -> bool {
        self.is_root && self.is_debian_like && self.has_apt_get
    }

    fn why_no_apt(&self) -> String {
        if !self.is_debian_like {
            "this is not Debian or Ubuntu, so the xtask does not install system packages".to_owned()
        } else if !self.is_root {
            "not running as root, so the xtask does not run apt-get (run the commands below \
             yourself, or run `cargo xtask setup` as root)"
                .to_owned()
        } else {
            "apt-get is not on PATH".to_owned()
        }
    }
}

/// Whether an `/etc/os-release` text describes Debian, Ubuntu or a derivative.
pub(crate) fn is_debian_like(os_release: &str) -> bool {
    os_release.lines().any(|line| {
        let Some((key, value)) = line.split_once('=') else {
            return false;
        };
        let value = value.trim_matches('"');
        (key == "ID" || key == "ID_LIKE")
            && value
                .split_whitespace()
                .any(|id| id == "debian" || id == "ubuntu")
    })
}

#[cfg(test)]
mod tests;
