//! The one error type of the xtask: what went wrong, with enough context to act on it.

use std::fmt;
use std::io;

use crate::apt::InstalledChanges;
use crate::qemu_version::MINIMUM_QEMU;

/// Why an xtask command could not do its job.
#[derive(Debug)]
pub(crate) enum XtaskError {
    /// The command line could not be understood; the text says what was expected.
    Usage(String),
    /// An operating-system call failed (spawning a program, reading a file).
    Io {
        /// What the xtask was doing, e.g. "spawning `qemu-system-riscv64`".
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// Host tools or Rust targets are missing and could not be installed automatically; the text
    /// lists the exact commands that would install them.
    MissingHostTools(String),
    /// Installing the missing host tools would remove or downgrade packages already installed
    /// (seen in `apt-get`'s simulation), and the user did not agree; nothing was installed.
    WouldChangeInstalledPackages {
        /// The `apt-get install` that was simulated.
        command: String,
        /// The installed packages it would remove or downgrade.
        changes: InstalledChanges,
    },
    /// A program the xtask depends on ran but did not succeed (e.g. `cargo build` of the kernel).
    CommandFailed {
        /// The command line as printed before it ran.
        command: String,
        /// How it ended and, where known, the lines that explain why.
        reason: String,
    },
    /// Checks ran to completion and some of them failed; one line per failure, each naming the
    /// ISA (or CI step) and the failing case.
    ChecksFailed(Vec<String>),
}

impl XtaskError {
    /// Wraps an I/O error with a description of what was being attempted.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for XtaskError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(text) => write!(formatter, "usage error: {text}"),
            Self::Io { context, source } => write!(formatter, "{context}: {source}"),
            Self::MissingHostTools(text) => write!(formatter, "missing host tools:\n{text}"),
            Self::WouldChangeInstalledPackages { command, changes } => write!(
                formatter,
                "`{command}` would change packages installed on this machine, so set-up \
                 installed nothing:\n{changes}\
                 To let set-up go ahead, rerun with `--allow-removals` (or with CI=true in the \
                 environment).\n\
                 To keep these packages, install what is missing yourself from the same source \
                 as them (for packages from backports: `apt-get install -t <release>-backports \
                 …`), or put a QEMU {MINIMUM_QEMU} or newer that provides the missing programs \
                 on PATH: set-up uses it as is."
            ),
            Self::CommandFailed { command, reason } => {
                write!(formatter, "{reason} (command: {command})")
            }
            Self::ChecksFailed(failures) => {
                write!(formatter, "{} check(s) failed:", failures.len())?;
                for failure in failures {
                    write!(formatter, "\n  - {failure}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for XtaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
