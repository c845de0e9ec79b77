use std::path::{Path, PathBuf};

use super::{ProgramCheck, judge};
use crate::arch::{Arch, HostProgram, UnitTests};
use crate::qemu_version::{MINIMUM_QEMU, QemuVersion};

const DEBIAN_12_SYSTEM: &str = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n\
     Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n";
const BACKPORTS_SYSTEM: &str =
    "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n";
const UBUNTU_22_04_USER: &str = "qemu-riscv64 version 6.2.0 (Debian 1:6.2+dfsg-2ubuntu6.24)\n";
const UPSTREAM_USER: &str = "qemu-riscv64 version 10.0.2\n";

fn riscv64_system() -> HostProgram {
    Arch::Riscv64.spec().qemu_system
}

fn riscv64_runner() -> HostProgram {
    match Arch::Riscv64.spec().unit_tests {
        UnitTests::Emulated(emulated) => emulated.runner,
        UnitTests::Native => panic!("riscv64 unit tests run under qemu-user"),
    }
}

/// A host with `installed` (directory, name, `--version` output) on `PATH`.
fn judge_on(program: &HostProgram, installed: &[(&str, &str, &str)]) -> ProgramCheck {
    let installed: Vec<(PathBuf, &str, &str)> = installed
        .iter()
        .map(|&(directory, name, output)| (Path::new(directory).join(name), name, output))
        .collect();
    judge(
        program,
        |name| {
            installed
                .iter()
                .find(|(_, installed_name, _)| *installed_name == name)
                .map(|(path, _, _)| path.clone())
        },
        |path| {
            installed
                .iter()
                .find(|(installed_path, _, _)| installed_path == path)
                .map(|(_, _, output)| (*output).to_owned())
        },
    )
}

fn version(major: u32, minor: u32, micro: u32) -> QemuVersion {
    QemuVersion {
        major,
        minor,
        micro,
    }
}

#[test]
fn debian_12_qemu_is_used_as_is() {
    assert_eq!(
        judge_on(
            &riscv64_system(),
            &[("/usr/bin", "qemu-system-riscv64", DEBIAN_12_SYSTEM)]
        ),
        ProgramCheck::Usable {
            name: "qemu-system-riscv64",
            version: Some(version(7, 2, 22)),
        }
    );
}

#[test]
fn a_newer_backports_qemu_is_used_as_is() {
    let check = judge_on(
        &riscv64_system(),
        &[("/usr/bin", "qemu-system-riscv64", BACKPORTS_SYSTEM)],
    );
    assert_eq!(
        check,
        ProgramCheck::Usable {
            name: "qemu-system-riscv64",
            version: Some(version(10, 0, 2)),
        }
    );
    assert_eq!(
        check.usable_name(),
        Some("qemu-system-riscv64"),
        "nothing to install"
    );
}

#[test]
fn a_too_old_qemu_counts_as_missing() {
    let check = judge_on(
        &riscv64_runner(),
        &[("/usr/bin", "qemu-riscv64-static", UBUNTU_22_04_USER)],
    );
    assert_eq!(
        check,
        ProgramCheck::TooOld {
            name: "qemu-riscv64-static",
            path: PathBuf::from("/usr/bin/qemu-riscv64-static"),
            version: version(6, 2, 0),
            minimum: MINIMUM_QEMU,
        }
    );
    assert_eq!(check.usable_name(), None);
}

#[test]
fn the_user_mode_emulator_is_found_under_its_upstream_name() {
    // A source build in /usr/local installs `qemu-riscv64`, no `-static`.
    let check = judge_on(
        &riscv64_runner(),
        &[("/usr/local/bin", "qemu-riscv64", UPSTREAM_USER)],
    );
    assert_eq!(check.usable_name(), Some("qemu-riscv64"));
    // A too old `-static` does not hide a new enough upstream one.
    let check = judge_on(
        &riscv64_runner(),
        &[
            ("/usr/bin", "qemu-riscv64-static", UBUNTU_22_04_USER),
            ("/usr/local/bin", "qemu-riscv64", UPSTREAM_USER),
        ],
    );
    assert_eq!(
        check,
        ProgramCheck::Usable {
            name: "qemu-riscv64",
            version: Some(version(10, 0, 2)),
        }
    );
}

#[test]
fn a_version_that_cannot_be_read_is_not_replaced() {
    let check = judge_on(
        &riscv64_system(),
        &[("/opt/qemu/bin", "qemu-system-riscv64", "wrapper 1\n")],
    );
    assert_eq!(
        check,
        ProgramCheck::UnknownVersion {
            name: "qemu-system-riscv64",
            path: PathBuf::from("/opt/qemu/bin/qemu-system-riscv64"),
        }
    );
    assert_eq!(
        check.usable_name(),
        Some("qemu-system-riscv64"),
        "used as is"
    );
}

#[test]
fn missing_programs_and_unversioned_ones() {
    assert_eq!(judge_on(&riscv64_runner(), &[]), ProgramCheck::Absent);
    let UnitTests::Emulated(emulated) = Arch::Riscv64.spec().unit_tests else {
        panic!("riscv64 unit tests run under qemu-user");
    };
    // The cross gcc has no minimum version: its `--version` is not even read.
    assert_eq!(
        judge(
            &emulated.linker,
            |name| Some(Path::new("/usr/bin").join(name)),
            |_| panic!("gcc's version is not checked"),
        ),
        ProgramCheck::Usable {
            name: "riscv64-linux-gnu-gcc",
            version: None,
        }
    );
}
