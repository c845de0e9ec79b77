//! The boot-and-judge path end to end, with `sh` standing in for QEMU: it prints a console and
//! exits (or hangs) the way a kernel under QEMU would.

use std::process::Command;
use std::time::Duration;

use super::boot_and_judge;
use crate::exit_protocol::ExitProtocol;

fn fake_qemu(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(script);
    command
}

fn required() -> Vec<String> {
    vec!["map".to_owned(), "unmap".to_owned()]
}

#[test]
fn a_clean_console_with_status_33_passes_on_x86() {
    let outcome = boot_and_judge(
        &mut fake_qemu(
            r"printf 'test map ... ok\r\ntest unmap ... ok\r\n2 passed, 0 failed\r\n'; exit 33",
        ),
        ExitProtocol::IsaDebugExit,
        Duration::from_secs(10),
        &required(),
    );
    assert_eq!(outcome.problems, Vec::<String>::new(), "a pass");
    assert_eq!((outcome.passed, outcome.failed), (2, 0));
}

#[test]
fn the_same_console_with_status_0_is_a_triple_fault_on_x86() {
    let outcome = boot_and_judge(
        &mut fake_qemu(
            r"printf 'test map ... ok\ntest unmap ... ok\n2 passed, 0 failed\n'; exit 0",
        ),
        ExitProtocol::IsaDebugExit,
        Duration::from_secs(10),
        &required(),
    );
    assert_eq!(
        outcome.problems.len(),
        1,
        "only the status: {:?}",
        outcome.problems
    );
    assert!(
        outcome.problems[0].starts_with(
            "QEMU exited with status 0: the guest reset, which with -no-reboot means a triple fault"
        ),
        "crash reported: {}",
        outcome.problems[0]
    );
}

#[test]
fn a_hanging_guest_is_killed_and_the_case_named() {
    let outcome = boot_and_judge(
        &mut fake_qemu("printf 'test map ... ok\\ntest unmap ... '; sleep 60"),
        ExitProtocol::SifiveTest,
        Duration::from_millis(300),
        &required(),
    );
    assert_eq!(
        outcome.problems[0], "hang: QEMU did not exit within 0.3 s, in case `unmap`",
        "hang with its case"
    );
}

#[test]
fn a_missing_required_case_fails_a_run_that_otherwise_passes() {
    let outcome = boot_and_judge(
        &mut fake_qemu("printf 'test map ... ok\\n1 passed, 0 failed\\n'; exit 0"),
        ExitProtocol::SifiveTest,
        Duration::from_secs(10),
        &required(),
    );
    assert_eq!(
        outcome.problems,
        ["required case `unmap` did not run (listed in ci/kernel-cases.txt)"]
    );
}

#[test]
fn qemu_errors_are_quoted_when_the_boot_fails() {
    let outcome = boot_and_judge(
        &mut fake_qemu(
            "echo 'qemu-system-x86_64: Error loading uncompressed kernel without PVH ELF Note' >&2; exit 1",
        ),
        ExitProtocol::IsaDebugExit,
        Duration::from_secs(10),
        &required(),
    );
    assert_eq!(
        outcome.problems.last().map(String::as_str),
        Some(
            "QEMU's stderr: qemu-system-x86_64: Error loading uncompressed kernel without PVH ELF Note"
        )
    );
}
