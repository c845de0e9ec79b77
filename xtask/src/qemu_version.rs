//! QEMU's version, as its binaries print it, and the oldest QEMU the workspace accepts.
//!
//! Every QEMU binary answers `--version` with a first line such as
//! `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)` (qemu-system),
//! `qemu-riscv64 version 7.2.22 (Debian …)` (qemu-user) or
//! `qemu-img version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)`; builds from git say
//! `version 9.2.50 (v9.2.0-123-gabcdef)`, and old ones put no space before the parenthesis. The
//! number after `version` is QEMU's own version, whatever package it came from, so set-up
//! compares that, not package names or Debian versions.

use std::fmt;

/// A QEMU release: `major.minor.micro`, ordered as numbers (field order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct QemuVersion {
    /// Major version, e.g. 7.
    pub(crate) major: u32,
    /// Minor version, e.g. 2.
    pub(crate) minor: u32,
    /// Micro (patch) version, e.g. 22; 0 when the binary prints only two numbers.
    pub(crate) micro: u32,
}

/// The oldest QEMU set-up accepts for every QEMU binary of the arch table (system and user
/// mode): 7.0.
///
/// Why 7.0: it is the first release with RISC-V Svpbmt (`-cpu rv64,svpbmt=on`), which the
/// riscv64 backend's `svpbmt` feature encodes; everything else the boot table uses is older
/// (PVH `-kernel` for x86_64 since 4.0, OpenSBI as `-bios default` on riscv64 `virt` since 4.1,
/// the aarch64 `virt` machine with `cortex-a53/a57/a72`, `max` and semihosting long before).
/// The suite is verified on 7.2, what Debian 12 ships; a newer QEMU (e.g. 10.0 from
/// bookworm-backports) is used as is.
pub(crate) const MINIMUM_QEMU: QemuVersion = QemuVersion {
    major: 7,
    minor: 0,
    micro: 0,
};

impl QemuVersion {
    /// The version in the output of a QEMU binary's `--version`: the first
    /// `version <major>.<minor>[.<micro>]` in it. `None` when there is none (not QEMU's output).
    pub(crate) fn parse(version_output: &str) -> Option<Self> {
        version_output.lines().find_map(|line| {
            let mut rest = line;
            while let Some(index) = rest.find("version ") {
                rest = &rest[index + "version ".len()..];
                if let Some(version) = Self::parse_number(rest) {
                    return Some(version);
                }
            }
            None
        })
    }

    /// `7.2.22` or `7.2` at the start of `text`, followed by the end, a space, `(`, `-` or `+`.
    fn parse_number(text: &str) -> Option<Self> {
        let end = text
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len());
        let (number, after) = text.split_at(end);
        if !(after.is_empty() || after.starts_with([' ', '(', '-', '+'])) {
            return None;
        }
        let fields: Vec<&str> = number.split('.').collect();
        let field = |index: usize| -> Option<u32> { fields.get(index)?.parse().ok() };
        match fields.len() {
            2 => Some(Self {
                major: field(0)?,
                minor: field(1)?,
                micro: 0,
            }),
            3 => Some(Self {
                major: field(0)?,
                minor: field(1)?,
                micro: field(2)?,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for QemuVersion {
    /// `7.2.22`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

#[cfg(test)]
mod tests;
