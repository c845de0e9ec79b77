use super::{Task, parse};
use crate::apt::Removals;
use crate::arch::Arch;
use crate::setup::SetupMode;

fn arguments(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

fn test_task(arches: &[Arch], qemu_args: &str) -> Task {
    Task::Test {
        arches: arches.to_vec(),
        qemu_args: arguments(qemu_args),
        removals: Removals::Refuse,
    }
}

fn run_task(arch: Arch, qemu_args: &str) -> Task {
    Task::Run {
        arch,
        qemu_args: arguments(qemu_args),
        removals: Removals::Refuse,
    }
}

#[test]
fn test_defaults_to_every_isa() {
    assert_eq!(
        parse(&arguments("test")).ok(),
        Some(test_task(&Arch::ALL, ""))
    );
    assert_eq!(
        parse(&arguments("test --arch all")).ok(),
        Some(test_task(&Arch::ALL, ""))
    );
}

#[test]
fn test_and_run_take_one_isa() {
    assert_eq!(
        parse(&arguments("test --arch riscv64")).ok(),
        Some(test_task(&[Arch::Riscv64], ""))
    );
    assert_eq!(
        parse(&arguments("run --arch=aarch64")).ok(),
        Some(run_task(Arch::Aarch64, ""))
    );
    assert_eq!(
        parse(&arguments("run")).ok(),
        Some(run_task(Arch::Riscv64, "")),
        "default"
    );
}

#[test]
fn qemu_arguments_follow_the_separator() {
    assert_eq!(
        parse(&arguments("run --arch x86_64 -- -m 4G -smp 4")).ok(),
        Some(run_task(Arch::X86_64, "-m 4G -smp 4"))
    );
    assert_eq!(
        parse(&arguments("test --arch riscv64 -- -smp 4")).ok(),
        Some(test_task(&[Arch::Riscv64], "-smp 4"))
    );
    assert_eq!(
        parse(&arguments("test -- -m 2G")).ok(),
        Some(test_task(&Arch::ALL, "-m 2G")),
        "every ISA with the same arguments"
    );
    assert_eq!(
        parse(&arguments("run --")).ok(),
        Some(run_task(Arch::Riscv64, "")),
        "an empty list"
    );
    let before_separator = parse(&arguments("run -m 4G")).expect_err("QEMU arguments need --");
    assert_eq!(
        before_separator.to_string(),
        "usage error: `run` does not take `-m`; it takes `--arch <isa>`, `--allow-removals` \
         (QEMU arguments go after `--`)"
    );
}

#[test]
fn setup_ci_and_help_parse() {
    assert_eq!(
        parse(&arguments("setup")).ok(),
        Some(Task::Setup(SetupMode::Install(Removals::Refuse)))
    );
    assert_eq!(
        parse(&arguments("setup --check")).ok(),
        Some(Task::Setup(SetupMode::CheckOnly))
    );
    assert_eq!(
        parse(&arguments("ci")).ok(),
        Some(Task::Ci(Removals::Refuse))
    );
    assert_eq!(parse(&[]).ok(), Some(Task::Help));
}

#[test]
fn bad_input_is_a_usage_error_naming_it() {
    let unknown_isa = parse(&arguments("test --arch mips")).expect_err("mips unsupported");
    assert_eq!(
        unknown_isa.to_string(),
        "usage error: unknown ISA `mips`; expected x86_64, aarch64 or riscv64"
    );
    let unknown_command = parse(&arguments("bench")).expect_err("no bench command");
    assert_eq!(
        unknown_command.to_string(),
        "usage error: unknown command `bench`"
    );
    let all_for_run = parse(&arguments("run --arch all")).expect_err("run boots one ISA");
    assert_eq!(
        all_for_run.to_string(),
        "usage error: unknown ISA `all`; expected x86_64, aarch64 or riscv64"
    );
}

#[test]
fn every_command_that_sets_up_takes_allow_removals() {
    assert_eq!(
        parse(&arguments("setup --allow-removals")).ok(),
        Some(Task::Setup(SetupMode::Install(Removals::Allow)))
    );
    assert_eq!(
        parse(&arguments("ci --allow-removals")).ok(),
        Some(Task::Ci(Removals::Allow))
    );
    assert_eq!(
        parse(&arguments("test --allow-removals --arch riscv64 -- -smp 4")).ok(),
        Some(Task::Test {
            arches: vec![Arch::Riscv64],
            qemu_args: arguments("-smp 4"),
            removals: Removals::Allow,
        }),
        "before or after --arch"
    );
    assert_eq!(
        parse(&arguments("run --arch=x86_64 --allow-removals")).ok(),
        Some(Task::Run {
            arch: Arch::X86_64,
            qemu_args: Vec::new(),
            removals: Removals::Allow,
        })
    );
    // After `--` it is a QEMU argument, not ours.
    assert_eq!(
        parse(&arguments("run -- --allow-removals")).ok(),
        Some(Task::Run {
            arch: Arch::Riscv64,
            qemu_args: arguments("--allow-removals"),
            removals: Removals::Refuse,
        })
    );
}

#[test]
fn options_a_command_does_not_take_are_usage_errors() {
    let check_and_allow =
        parse(&arguments("setup --check --allow-removals")).expect_err("contradictory");
    assert_eq!(
        check_and_allow.to_string(),
        "usage error: `setup --check` installs nothing, so `--allow-removals` makes no sense \
         with it"
    );
    let arch_for_ci = parse(&arguments("ci --arch riscv64")).expect_err("ci runs all ISAs");
    assert_eq!(
        arch_for_ci.to_string(),
        "usage error: `ci` does not take `--arch`; it takes `--allow-removals`"
    );
    let check_for_test = parse(&arguments("test --check")).expect_err("setup only");
    assert_eq!(
        check_for_test.to_string(),
        "usage error: `test` does not take `--check`; it takes `--arch <isa>`, \
         `--allow-removals` (QEMU arguments go after `--`)"
    );
    let no_isa = parse(&arguments("test --arch")).expect_err("needs a value");
    assert_eq!(
        no_isa.to_string(),
        "usage error: `test --arch` needs an ISA"
    );
}
