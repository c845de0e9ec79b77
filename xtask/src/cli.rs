//! The command line: `cargo xtask <test|run|setup|ci> [options] [-- <QEMU arguments>]`.

use crate::arch::Arch;
use crate::error::XtaskError;
use crate::setup::SetupMode;

/// What the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Task {
    /// `test [--arch <isa>|all] [-- <QEMU arguments>]`: unit tests and kernel suite per ISA
    /// (default: all ISAs). The kernel boots under every configuration of the arch table, or,
    /// when QEMU arguments are given, once with them.
    Test {
        /// The ISAs, in report order.
        arches: Vec<Arch>,
        /// Extra QEMU arguments (after `--`); empty for the table's configurations.
        qemu_args: Vec<String>,
    },
    /// `run [--arch <isa>] [-- <QEMU arguments>]`: boot the kernel with its console on the
    /// terminal (default riscv64).
    Run {
        /// The ISA.
        arch: Arch,
        /// Extra QEMU arguments (after `--`), e.g. `-m 4G -smp 4`.
        qemu_args: Vec<String>,
    },
    /// `setup [--check]`: install (or only check) Rust targets, QEMU and cross linkers.
    Setup(SetupMode),
    /// `ci`: fmt, clippy, docs, then `test --arch all`.
    Ci,
    /// `help`, `-h`, `--help`.
    Help,
}

/// The help text.
pub(crate) const USAGE: &str = "\
cargo xtask <command> [options]

Commands:
  test [--arch x86_64|aarch64|riscv64|all] [-- <QEMU arguments>]
                                             unit tests (native or qemu-user) and the example
                                             kernel's suite under qemu-system, booted in each
                                             configuration of the ISA (default, small and large
                                             memory, several CPUs, riscv64 Sv48 and Svpbmt
                                             builds); with QEMU arguments, the default build
                                             booted once with them instead; default: all ISAs
  run  [--arch x86_64|aarch64|riscv64] [-- <QEMU arguments>]
                                             build and boot the example kernel, console on the
                                             terminal (Ctrl-A x quits); default: riscv64;
                                             e.g. run --arch x86_64 -- -m 4G -smp 4
  setup [--check]                            add missing Rust targets and install QEMU and cross
                                             linkers (apt-get, as root on Debian/Ubuntu);
                                             --check only reports
  ci                                         fmt, clippy and docs with warnings denied, then
                                             test --arch all
";

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
            let arches = match arch_option(options)? {
                None | Some("all") => Arch::ALL.to_vec(),
                Some(name) => vec![parse_arch(name)?],
            };
            Ok(Task::Test { arches, qemu_args })
        }
        "run" => {
            let (options, qemu_args) = split_qemu_arguments(options);
            let arch = arch_option(options)?.map_or(Ok(Arch::Riscv64), parse_arch)?;
            Ok(Task::Run { arch, qemu_args })
        }
        "setup" => match options {
            [] => Ok(Task::Setup(SetupMode::Install)),
            [flag] if flag == "--check" => Ok(Task::Setup(SetupMode::CheckOnly)),
            _ => Err(XtaskError::Usage(format!(
                "`setup` takes only `--check`, got {options:?}"
            ))),
        },
        "ci" if options.is_empty() => Ok(Task::Ci),
        "ci" => Err(XtaskError::Usage(format!(
            "`ci` takes no options, got {options:?}"
        ))),
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

/// The value of `--arch X` or `--arch=X`, the only option of `test` and `run` before `--`.
fn arch_option(options: &[String]) -> Result<Option<&str>, XtaskError> {
    match options {
        [] => Ok(None),
        [flag, value] if flag == "--arch" => Ok(Some(value)),
        [flag] if flag.starts_with("--arch=") => Ok(Some(&flag["--arch=".len()..])),
        _ => Err(XtaskError::Usage(format!(
            "expected `--arch <isa>`, got {options:?}"
        ))),
    }
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
