use std::path::Path;

use super::{Arch, UnitTests};
use crate::exit_protocol::ExitProtocol;

#[test]
fn names_round_trip() {
    for arch in Arch::ALL {
        assert_eq!(
            Arch::from_name(arch.name()),
            Some(arch),
            "{arch} parses back"
        );
    }
    assert_eq!(Arch::from_name("mips"), None, "unknown ISA");
}

#[test]
fn each_isa_has_its_exit_protocol() {
    assert_eq!(
        Arch::X86_64.spec().exit_protocol,
        ExitProtocol::IsaDebugExit
    );
    assert_eq!(
        Arch::Aarch64.spec().exit_protocol,
        ExitProtocol::Semihosting
    );
    assert_eq!(Arch::Riscv64.spec().exit_protocol, ExitProtocol::SifiveTest);
}

#[test]
fn emulated_runner_environment_names_the_triple() {
    let UnitTests::Emulated(emulated) = Arch::Riscv64.spec().unit_tests else {
        panic!("riscv64 unit tests run under qemu-user");
    };
    let [linker, runner] = emulated.cargo_environment();
    assert_eq!(
        linker,
        (
            "CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_LINKER".to_owned(),
            "riscv64-linux-gnu-gcc".to_owned()
        )
    );
    assert_eq!(
        runner,
        (
            "CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_RUNNER".to_owned(),
            "qemu-riscv64-static -L /usr/riscv64-linux-gnu".to_owned()
        )
    );
}

#[test]
fn rust_targets_include_the_hosted_test_triple_only_when_emulated() {
    assert_eq!(Arch::X86_64.rust_targets(), ["x86_64-unknown-none"]);
    assert_eq!(
        Arch::Aarch64.rust_targets(),
        ["aarch64-unknown-none", "aarch64-unknown-linux-gnu"]
    );
}

#[test]
fn automated_boot_arguments_put_serial_on_stdout_and_end_with_the_kernel() {
    let arguments = Arch::X86_64.qemu_test_arguments(Path::new("/k"));
    assert_eq!(
        arguments.join(" "),
        "-machine q35 -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
         -display none -serial stdio -monitor none -kernel /k"
    );
    let interactive = Arch::Riscv64.qemu_interactive_arguments(Path::new("/k"));
    assert_eq!(
        interactive.join(" "),
        "-machine virt -bios default -nographic -kernel /k"
    );
}
