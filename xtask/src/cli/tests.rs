use super::{Task, parse};
use crate::arch::Arch;
use crate::setup::SetupMode;

fn arguments(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn test_defaults_to_every_isa() {
    assert_eq!(
        parse(&arguments("test")).ok(),
        Some(Task::Test(Arch::ALL.to_vec()))
    );
    assert_eq!(
        parse(&arguments("test --arch all")).ok(),
        Some(Task::Test(Arch::ALL.to_vec()))
    );
}

#[test]
fn test_and_run_take_one_isa() {
    assert_eq!(
        parse(&arguments("test --arch riscv64")).ok(),
        Some(Task::Test(vec![Arch::Riscv64]))
    );
    assert_eq!(
        parse(&arguments("run --arch=aarch64")).ok(),
        Some(Task::Run(Arch::Aarch64))
    );
    assert_eq!(
        parse(&arguments("run")).ok(),
        Some(Task::Run(Arch::Riscv64)),
        "default"
    );
}

#[test]
fn setup_ci_and_help_parse() {
    assert_eq!(
        parse(&arguments("setup")).ok(),
        Some(Task::Setup(SetupMode::Install))
    );
    assert_eq!(
        parse(&arguments("setup --check")).ok(),
        Some(Task::Setup(SetupMode::CheckOnly))
    );
    assert_eq!(parse(&arguments("ci")).ok(), Some(Task::Ci));
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
