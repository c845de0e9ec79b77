//! The command line: `cargo xtask <test|run|setup|ci> [options] [-- <QEMU arguments>]`.

use crate::apt::Removals;
use crate::arch::Arch;
use crate::error::XtaskError;
use crate::setup::SetupMode;

/// What the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Task {
    /// `test [--arch <isa>|all] [--allow-removals] [-- <QEMU arguments>]`: unit tests and kernel
    /// suite per ISA (default: all ISAs). The kernel boots under every configuration of the arch
    /// table, or, when QEMU arguments are given, once with them.
    Test {
        /// The ISAs, in report order.
        arches: Vec<Arch>,
        /// Extra QEMU arguments (after `--`); empty for the table's configurations.
        qemu_args: Vec<String>,
        /// Whether set-up may remove or downgrade installed packages.
        removals: Removals,
    },
    /// `run [--arch <isa>] [--allow-removals] [-- <QEMU arguments>]`: boot the kernel with its
    /// console on the terminal (default riscv64).
    Run {
        /// The ISA.
        arch: Arch,
        /// Extra QEMU arguments (after `--`), e.g. `-m 4G -smp 4`.
        qemu_args: Vec<String>,
        /// Whether set-up may remove or downgrade installed packages.
        removals: Removals,
    },
    /// `setup [--check | --allow-removals]`: install (or only check) Rust targets, QEMU and
    /// cross linkers.
    Setup(SetupMode),
    /// `ci [--allow-removals]`: fmt, clippy, docs, then `test --arch all`.
    Ci(Removals),
    /// `help`, `-h`, `--help`.
    Help,
}

/// The help text.
pub(crate) const USAGE: &str = "\
cargo xtask <command> [options]

Commands:
  test [--arch x86_64|aarch64|riscv64|all] [--allow-removals] [-- <QEMU arguments>]
                                             unit tests (native or qemu-user) and the example
                                             kernel's suite under qemu-system, booted in each
                                             configuration of the ISA (default, small and large
                                             memory, several CPUs, riscv64 Sv48 and Svpbmt
                                             builds); with QEMU arguments, the default build
                                             booted once with them instead; default: all ISAs
  run  [--arch x86_64|aarch64|riscv64] [--allow-removals] [-- <QEMU arguments>]
                                             build and boot the example kernel, console on the
                                             terminal (Ctrl-A x quits); default: riscv64;
                                             e.g. run --arch x86_64 -- -m 4G -smp 4
  setup [--check | --allow-removals]         add missing Rust targets and install QEMU and cross
                                             linkers (apt-get, as root on Debian/Ubuntu);
                                             --check only reports
  ci [--allow-removals]                      fmt, clippy and docs with warnings denied, then
                                             test --arch all

Each unit-test binary may run XTASK_TEST_BINARY_DEADLINE seconds (default 600); a hang names
the binary and the tests that never finished.

test, run and ci set up first, as setup does. A QEMU 7.0 or newer already on PATH is used as
is. apt-get installs are simulated first: if one would remove or downgrade an installed package,
set-up lists them and stops; --allow-removals (or CI=true in the environment) lets it go ahead.
";

/// `test` and `run`: the ISA (as shown in messages; also written `--arch=<isa>`).
const ARCH: &str = "--arch <isa>";
/// `test`, `run`, `setup` and `ci`: set-up may remove or downgrade installed packages.
const ALLOW_REMOVALS: &str = "--allow-removals";
/// `setup`: only report.
const CHECK: &str = "--check";

/// The options given before `--`.
#[derive(Debug, Default)]
struct Options<'a> {
    /// `--arch X` or `--arch=X`.
    arch: Option<&'a str>,
    /// `--allow-removals`.
    removals: Removals,
    /// `--check`.
    check: bool,
}

/// Parses the arguments after `cargo xtask`.
///
/// # Errors
///
/// [`XtaskError::Usage`] for an unknown command, option or ISA.
pub(crate) fn parse(arguments: &[String]) -> Result<Task, XtaskError> {
    let Some((command, options)) = arguments.split_first() else {
        return Ok(Task::Help);
    };
    match command.as_str() {
        "test" => {
            let (options, qemu_args) = split_qemu_arguments(options);
            let options = parse_options("test", options, &[ARCH, ALLOW_REMOVALS])?;
            let arches = match options.arch {
                None | Some("all") => Arch::ALL.to_vec(),
                Some(name) => vec![parse_arch(name)?],
            };
            Ok(Task::Test {
                arches,
                qemu_args,
                removals: options.removals,
            })
        }
        "run" => {
            let (options, qemu_args) = split_qemu_arguments(options);
            let options = parse_options("run", options, &[ARCH, ALLOW_REMOVALS])?;
            let arch = options.arch.map_or(Ok(Arch::Riscv64), parse_arch)?;
            Ok(Task::Run {
                arch,
                qemu_args,
                removals: options.removals,
            })
        }
        "setup" => {
            let options = parse_options("setup", options, &[CHECK, ALLOW_REMOVALS])?;
            match (options.check, options.removals) {
                (false, removals) => Ok(Task::Setup(SetupMode::Install(removals))),
                (true, Removals::Refuse) => Ok(Task::Setup(SetupMode::CheckOnly)),
                (true, Removals::Allow) => Err(XtaskError::Usage(
                    "`setup --check` installs nothing, so `--allow-removals` makes no sense \
                     with it"
                        .to_owned(),
                )),
            }
        }
        "ci" => Ok(Task::Ci(
            parse_options("ci", options, &[ALLOW_REMOVALS])?.removals,
        )),
        "help" | "-h" | "--help" => Ok(Task::Help),
        other => Err(XtaskError::Usage(format!("unknown command `{other}`"))),
    }
}

/// The options before `--` and the QEMU arguments after it (empty without `--`).
fn split_qemu_arguments(options: &[String]) -> (&[String], Vec<String>) {
    match options.iter().position(|option| option == "--") {
        Some(separator) => (&options[..separator], options[separator + 1..].to_vec()),
        None => (options, Vec::new()),
    }
}

/// Reads `options` (before any `--`) of `command`, which takes those in `accepted` (among
/// [`ARCH`], [`ALLOW_REMOVALS`] and [`CHECK`]).
fn parse_options<'a>(
    command: &str,
    options: &'a [String],
    accepted: &[&str],
) -> Result<Options<'a>, XtaskError> {
    let unexpected = |option: &str| {
        let qemu_hint = if accepted.contains(&ARCH) {
            " (QEMU arguments go after `--`)"
        } else {
            ""
        };
        let takes = if accepted.is_empty() {
            "no options".to_owned()
        } else {
            accepted
                .iter()
                .map(|option| format!("`{option}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        XtaskError::Usage(format!(
            "`{command}` does not take `{option}`; it takes {takes}{qemu_hint}"
        ))
    };
    let mut parsed = Options::default();
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        match option.as_str() {
            "--arch" if accepted.contains(&ARCH) => {
                let value = rest
                    .next()
                    .ok_or_else(|| XtaskError::Usage(format!("`{command} --arch` needs an ISA")))?;
                parsed.arch = Some(value);
            }
            arch if accepted.contains(&ARCH) && arch.starts_with("--arch=") => {
                parsed.arch = Some(&arch["--arch=".len()..]);
            }
            "--allow-removals" if accepted.contains(&ALLOW_REMOVALS) => {
                parsed.removals = Removals::Allow;
            }
            "--check" if accepted.contains(&CHECK) => parsed.check = true,
            other => return Err(unexpected(other)),
        }
    }
    Ok(parsed)
}

fn parse_arch(name: &str) -> Result<Arch, XtaskError> {
    Arch::from_name(name).ok_or_else(|| {
        XtaskError::Usage(format!(
            "unknown ISA `{name}`; expected x86_64, aarch64 or riscv64"
        ))
    })
}

#[cfg(test)]
mod tests;
