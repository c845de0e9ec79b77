use std::path::PathBuf;

use super::{Requirements, find_missing, is_debian_like};
use crate::arch::{Arch, HostProgram};
use crate::host_programs::ProgramCheck;
use crate::qemu_version::{MINIMUM_QEMU, QemuVersion};

fn all_requirements() -> Requirements {
    Requirements::of(&Arch::ALL)
}

/// Every program found under its table name, QEMU at `version`.
fn present_at(version: QemuVersion) -> impl Fn(&HostProgram) -> ProgramCheck {
    move |program| ProgramCheck::Usable {
        name: program.program,
        version: program.minimum_version.map(|_| version),
    }
}

fn absent(_: &HostProgram) -> ProgramCheck {
    ProgramCheck::Absent
}

const QEMU_7_2: QemuVersion = QemuVersion {
    major: 7,
    minor: 2,
    micro: 22,
};

#[test]
fn requirements_of_all_isas_are_deduplicated() {
    let requirements = all_requirements();
    assert_eq!(
        requirements.rust_targets,
        [
            "x86_64-unknown-none",
            "aarch64-unknown-none",
            "aarch64-unknown-linux-gnu",
            "riscv64gc-unknown-none-elf",
            "riscv64gc-unknown-linux-gnu",
        ]
    );
    let programs: Vec<&str> = requirements.programs.iter().map(|p| p.program).collect();
    assert_eq!(
        programs,
        [
            "qemu-system-x86_64",
            "qemu-system-aarch64",
            "qemu-aarch64-static",
            "aarch64-linux-gnu-gcc",
            "qemu-system-riscv64",
            "qemu-riscv64-static",
            "riscv64-linux-gnu-gcc",
        ]
    );
    assert_eq!(requirements.files.len(), 2, "two cross libcs");
}

#[test]
fn a_complete_host_needs_nothing() {
    let missing = find_missing(
        &all_requirements(),
        |_| true,
        |_| true,
        present_at(QEMU_7_2),
        |_| true,
    );
    assert!(
        missing.is_empty(),
        "nothing missing: {:?}",
        missing.descriptions
    );
    assert_eq!(missing.install_commands(true), Vec::<String>::new());
    assert_eq!(
        missing.in_use,
        [
            "qemu-system-x86_64 7.2.22",
            "qemu-system-aarch64 7.2.22",
            "qemu-aarch64-static 7.2.22",
            "qemu-system-riscv64 7.2.22",
            "qemu-riscv64-static 7.2.22",
        ]
    );
}

#[test]
fn a_fresh_host_gets_the_exact_install_commands() {
    // Only the host target and the `cargo` binary exist on a fresh machine.
    let missing = find_missing(
        &all_requirements(),
        |target| target == "x86_64-unknown-linux-gnu",
        |_| false,
        absent,
        |_| false,
    );
    assert_eq!(
        missing.install_commands(true),
        [
            "rustup target add x86_64-unknown-none aarch64-unknown-none aarch64-unknown-linux-gnu \
             riscv64gc-unknown-none-elf riscv64gc-unknown-linux-gnu",
            "rustup component add rustfmt clippy",
            "apt-get update && apt-get install --no-install-recommends qemu-system-x86 \
             qemu-system-arm qemu-user-static gcc-aarch64-linux-gnu qemu-system-misc \
             gcc-riscv64-linux-gnu libc6-dev-arm64-cross libc6-dev-riscv64-cross",
        ]
    );
}

#[test]
fn a_non_root_user_is_told_to_use_sudo() {
    let requirements = Requirements::of(&[Arch::Riscv64]);
    let missing = find_missing(
        &requirements,
        |_| true,
        |_| true,
        |program| {
            if program.program == "qemu-system-riscv64" {
                ProgramCheck::Absent
            } else {
                present_at(QEMU_7_2)(program)
            }
        },
        |_| true,
    );
    assert_eq!(
        missing.descriptions,
        ["program qemu-system-riscv64 (Debian package qemu-system-misc)"]
    );
    assert_eq!(
        missing.install_commands(false),
        ["sudo apt-get update && sudo apt-get install --no-install-recommends qemu-system-misc"]
    );
}

#[test]
fn debian_and_derivatives_are_recognised() {
    assert!(
        is_debian_like("PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\n"),
        "Debian"
    );
    assert!(
        is_debian_like("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"),
        "derivative"
    );
    assert!(
        !is_debian_like("ID=fedora\nID_LIKE=\"rhel centos\"\n"),
        "Fedora"
    );
}

#[test]
fn a_newer_qemu_from_backports_needs_nothing() {
    // The machine: QEMU 10.0 from bookworm-backports everywhere.
    let qemu_10 = QemuVersion {
        major: 10,
        minor: 0,
        micro: 2,
    };
    let missing = find_missing(
        &Requirements::of(&[Arch::Riscv64]),
        |_| true,
        |_| true,
        present_at(qemu_10),
        |_| true,
    );
    assert_eq!(missing.debian_packages, Vec::<&str>::new());
    assert_eq!(
        missing.in_use,
        ["qemu-system-riscv64 10.0.2", "qemu-riscv64-static 10.0.2"]
    );
}

#[test]
fn a_too_old_or_missing_qemu_is_installed_from_its_package() {
    let qemu_6_2 = QemuVersion {
        major: 6,
        minor: 2,
        micro: 0,
    };
    let missing = find_missing(
        &Requirements::of(&[Arch::Riscv64]),
        |_| true,
        |_| true,
        |program| match program.program {
            "qemu-system-riscv64" => ProgramCheck::TooOld {
                name: "qemu-system-riscv64",
                path: PathBuf::from("/usr/bin/qemu-system-riscv64"),
                version: qemu_6_2,
                minimum: MINIMUM_QEMU,
            },
            "qemu-riscv64-static" => ProgramCheck::Absent,
            _ => present_at(QEMU_7_2)(program),
        },
        |_| true,
    );
    assert_eq!(
        missing.descriptions,
        [
            "program qemu-system-riscv64 is QEMU 6.2.0 (/usr/bin/qemu-system-riscv64), older \
             than the 7.0.0 needed (Debian package qemu-system-misc)",
            "program qemu-riscv64-static or qemu-riscv64 (Debian package qemu-user-static)",
        ]
    );
    assert_eq!(
        missing.debian_packages,
        ["qemu-system-misc", "qemu-user-static"]
    );
}

#[test]
fn a_qemu_of_unknown_version_is_kept_with_a_note() {
    let missing = find_missing(
        &Requirements::of(&[Arch::Riscv64]),
        |_| true,
        |_| true,
        |program| match program.program {
            "qemu-system-riscv64" => ProgramCheck::UnknownVersion {
                name: "qemu-system-riscv64",
                path: PathBuf::from("/opt/qemu/bin/qemu-system-riscv64"),
            },
            _ => present_at(QEMU_7_2)(program),
        },
        |_| true,
    );
    assert!(missing.is_empty(), "{:?}", missing.descriptions);
    assert_eq!(
        missing.notes,
        [
            "/opt/qemu/bin/qemu-system-riscv64 reports no version with `--version`; using it as \
          is (QEMU 7.0.0 or newer is needed)"
        ]
    );
}
