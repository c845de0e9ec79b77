use super::{Requirements, find_missing, is_debian_like};
use crate::arch::Arch;

fn all_requirements() -> Requirements {
    Requirements::of(&Arch::ALL)
}

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
    let missing = find_missing(&all_requirements(), |_| true, |_| true, |_| true, |_| true);
    assert!(
        missing.is_empty(),
        "nothing missing: {:?}",
        missing.descriptions
    );
    assert_eq!(missing.install_commands(true), Vec::<String>::new());
}

#[test]
fn a_fresh_host_gets_the_exact_install_commands() {
    // Only the host target and the `cargo` binary exist on a fresh machine.
    let missing = find_missing(
        &all_requirements(),
        |target| target == "x86_64-unknown-linux-gnu",
        |_| false,
        |_| false,
        |_| false,
    );
    assert_eq!(
        missing.install_commands(true),
        [
            "rustup target add x86_64-unknown-none aarch64-unknown-none aarch64-unknown-linux-gnu \
             riscv64gc-unknown-none-elf riscv64gc-unknown-linux-gnu",
            "rustup component add rustfmt clippy",
            "apt-get update && apt-get install -y --no-install-recommends qemu-system-x86 \
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
        |program| program != "qemu-system-riscv64",
        |_| true,
    );
    assert_eq!(
        missing.descriptions,
        ["program qemu-system-riscv64 (Debian package qemu-system-misc)"]
    );
    assert_eq!(
        missing.install_commands(false),
        ["sudo apt-get update && sudo apt-get install -y --no-install-recommends qemu-system-misc"]
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
