//! Finding a host program of the arch table on `PATH`, under any of its names, and judging a
//! QEMU binary by the version it reports rather than by the package it came from: a QEMU that is
//! new enough is used as is wherever it was installed from (bookworm-backports, a source build in
//! `/usr/local`), and only a missing or too old one makes set-up install the Debian package.

use std::env;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::arch::HostProgram;
use crate::qemu_version::QemuVersion;

/// What the host has of one [`HostProgram`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProgramCheck {
    /// Found under `name` and, for QEMU, at least the minimum version: used as is.
    Usable {
        /// The name found on `PATH` (the table's `program` or one of its alternatives).
        name: &'static str,
        /// The version it reported, for programs with a minimum version.
        version: Option<QemuVersion>,
    },
    /// Found under `name`, but its `--version` output holds no version (a wrapper script, an
    /// unusual build): used as is, since set-up does not replace what it cannot judge.
    UnknownVersion {
        /// The name found on `PATH`.
        name: &'static str,
        /// Where it was found.
        path: PathBuf,
    },
    /// Found, but older than the minimum under every name: counts as missing.
    TooOld {
        /// The name found on `PATH` (the first too old one).
        name: &'static str,
        /// Where it was found.
        path: PathBuf,
        /// The version it reported.
        version: QemuVersion,
        /// The oldest version that serves.
        minimum: QemuVersion,
    },
    /// Under none of its names on `PATH`.
    Absent,
}

impl ProgramCheck {
    /// The name to run it by: the one found, or `None` when it is absent or too old.
    pub(crate) fn usable_name(&self) -> Option<&'static str> {
        match self {
            Self::Usable { name, .. } | Self::UnknownVersion { name, .. } => Some(name),
            Self::TooOld { .. } | Self::Absent => None,
        }
    }
}

/// Judges `program` from what the host shows: `find` gives the path of a name on `PATH`,
/// `version_output` the `--version` output of a path (`None` when it cannot be run). Pure, so the
/// decision is tested without a QEMU.
///
/// The names are tried in the table's order; the first one new enough wins. Failing that, one
/// whose version cannot be read is used as is; failing that, the first too old one is reported.
pub(crate) fn judge(
    program: &HostProgram,
    find: impl Fn(&str) -> Option<PathBuf>,
    version_output: impl Fn(&Path) -> Option<String>,
) -> ProgramCheck {
    let names = std::iter::once(&program.program).chain(program.alternatives);
    let mut unknown = None;
    let mut too_old = None;
    for &name in names {
        let Some(path) = find(name) else {
            continue;
        };
        let Some(minimum) = program.minimum_version else {
            return ProgramCheck::Usable {
                name,
                version: None,
            };
        };
        match version_output(&path)
            .as_deref()
            .and_then(QemuVersion::parse)
        {
            Some(version) if version >= minimum => {
                return ProgramCheck::Usable {
                    name,
                    version: Some(version),
                };
            }
            Some(version) => {
                too_old.get_or_insert(ProgramCheck::TooOld {
                    name,
                    path,
                    version,
                    minimum,
                });
            }
            None => {
                unknown.get_or_insert(ProgramCheck::UnknownVersion { name, path });
            }
        }
    }
    unknown.or(too_old).unwrap_or(ProgramCheck::Absent)
}

/// Judges `program` on this host: its names looked up on `PATH`, QEMU binaries run with
/// `--version`.
pub(crate) fn check(program: &HostProgram) -> ProgramCheck {
    judge(program, find_on_path, |path| {
        let output = Command::new(path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&output.stdout).into_owned())
    })
}

/// The first executable file called `name` in the directories of `PATH`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|directory| directory.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file with an execute bit.
pub(crate) fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests;
