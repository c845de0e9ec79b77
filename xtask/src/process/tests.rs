use std::process::Command;
use std::time::Duration;

use super::{Echo, Termination, display_command, parent_from_stat, run_captured};

fn shell(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(script);
    command
}

#[test]
fn exit_status_and_both_streams_are_captured() {
    let captured = run_captured(
        &mut shell("echo out; echo err >&2; exit 33"),
        Duration::from_secs(10),
        Echo::Both,
    )
    .expect("sh runs");
    assert_eq!(
        captured.termination,
        Termination::Exited(33),
        "status passed through"
    );
    assert_eq!(captured.stdout, "out\n", "stdout captured");
    assert_eq!(captured.stderr, "err\n", "stderr captured");
}

#[test]
fn a_hanging_program_is_terminated_at_the_deadline_with_its_children() {
    // `sleep` is a child of `sh`: it holds the output pipe open, so only killing the whole tree
    // lets the capture finish quickly.
    let captured = run_captured(
        &mut shell("echo 'test a ... ok'; printf 'test b ... '; sleep 60; echo never"),
        Duration::from_millis(300),
        Echo::Both,
    )
    .expect("sh runs");
    assert_eq!(captured.termination, Termination::TimedOut, "deadline hit");
    // SIGTERM may let `sh` print its last words; everything before the hang must be there.
    assert!(
        captured.stdout.starts_with("test a ... ok\ntest b ... "),
        "output up to the hang: {:?}",
        captured.stdout
    );
    assert!(
        captured.elapsed < Duration::from_secs(5),
        "terminated promptly, took {:?}",
        captured.elapsed
    );
}

#[test]
fn death_by_signal_is_reported_as_such() {
    let captured = run_captured(
        &mut shell("kill -9 $$"),
        Duration::from_secs(10),
        Echo::Both,
    )
    .expect("sh");
    assert_eq!(captured.termination, Termination::Signaled(9), "SIGKILL");
}

#[test]
fn a_missing_program_is_an_io_error_naming_it() {
    let error = run_captured(
        &mut Command::new("/nonexistent/qemu-system-none"),
        Duration::from_secs(1),
        Echo::Both,
    )
    .expect_err("cannot spawn");
    assert!(
        error
            .to_string()
            .contains("spawning `/nonexistent/qemu-system-none`"),
        "message: {error}"
    );
}

#[test]
fn command_lines_are_shell_quoted_with_environment_first() {
    let mut command = Command::new("qemu-system-riscv64");
    command
        .env("A_B", "x y")
        .args(["-machine", "virt", "-append", "it's"]);
    assert_eq!(
        display_command(&command),
        r"A_B='x y' qemu-system-riscv64 -machine virt -append 'it'\''s'"
    );
}

#[test]
fn parent_pid_is_read_after_the_command_name() {
    assert_eq!(
        parent_from_stat("4242 (odd ) name) S 17 4242 4242 0 -1"),
        Some(17),
        "comm with spaces and parens"
    );
    assert_eq!(parent_from_stat("garbage"), None, "no closing paren");
}
