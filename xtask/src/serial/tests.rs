use std::time::Duration;

use super::{CaseResult, SuiteReport};
use crate::exit_protocol::ExitProtocol;
use crate::process::Termination;

const DEADLINE: Duration = Duration::from_secs(30);
const ELAPSED: Duration = Duration::from_millis(200);

const OPENSBI_BANNER: &str =
    "\r\nOpenSBI v1.1\r\nPlatform Name             : riscv-virtio,qemu\r\n";

fn passing_console() -> String {
    format!(
        "{OPENSBI_BANNER}test map_then_translate ... ok\r\ntest protect_read_only_faults ... ok\r\n\
         test unmap_faults ... ok\r\n3 passed, 0 failed\r\n"
    )
}

#[test]
fn a_clean_run_with_the_success_status_passes() {
    let report = SuiteReport::parse(&passing_console());
    assert_eq!(report.summary, Some((3, 0)), "summary parsed through \\r");
    assert_eq!(
        report.cases[1],
        ("protect_read_only_faults".to_owned(), CaseResult::Ok)
    );
    let outcome = report.judge(
        ExitProtocol::SifiveTest,
        Termination::Exited(0),
        DEADLINE,
        ELAPSED,
    );
    assert_eq!(outcome.problems, Vec::<String>::new(), "a pass");
    assert_eq!((outcome.passed, outcome.failed), (3, 0));
}

#[test]
fn x86_exit_zero_is_a_triple_fault_even_after_a_clean_console() {
    let report = SuiteReport::parse("test map ... ok\ntest switch_root ... ");
    let outcome = report.judge(
        ExitProtocol::IsaDebugExit,
        Termination::Exited(0),
        DEADLINE,
        ELAPSED,
    );
    assert!(!outcome.is_pass(), "status 0 never passes on x86");
    assert!(
        outcome.problems[0].contains("triple fault")
            && outcome.problems[0].ends_with("in case `switch_root`"),
        "crash named with its case: {}",
        outcome.problems[0]
    );
    assert!(
        outcome
            .problems
            .contains(&"no `N passed, M failed` summary line on the serial console".to_owned()),
        "missing summary reported: {:?}",
        outcome.problems
    );
}

#[test]
fn x86_success_status_with_a_complete_console_passes() {
    let report = SuiteReport::parse("test a ... ok\n1 passed, 0 failed\n");
    let outcome = report.judge(
        ExitProtocol::IsaDebugExit,
        Termination::Exited(33),
        DEADLINE,
        ELAPSED,
    );
    assert_eq!(
        outcome.problems,
        Vec::<String>::new(),
        "33 + summary is a pass"
    );
}

#[test]
fn a_failing_case_is_named_and_its_status_explained() {
    let console = "test map ... ok\ntest cow_fault ... FAILED\n  expected 0x1000, got 0x2000\n1 passed, 1 failed\n";
    let outcome = SuiteReport::parse(console).judge(
        ExitProtocol::Semihosting,
        Termination::Exited(1),
        DEADLINE,
        ELAPSED,
    );
    assert_eq!(
        outcome.problems,
        [
            "QEMU exited with status 1: the kernel's semihosting SYS_EXIT code was 1 (or QEMU \
             itself failed); success is status 0, after the summary (last case `cow_fault`)",
            "case `cow_fault` FAILED",
        ]
    );
    assert_eq!((outcome.passed, outcome.failed), (1, 1));
}

#[test]
fn a_hang_names_the_case_it_hung_in() {
    let console = "test map ... ok\ntest fault_loop ... ";
    let outcome = SuiteReport::parse(console).judge(
        ExitProtocol::SifiveTest,
        Termination::TimedOut,
        DEADLINE,
        Duration::from_secs(30),
    );
    assert_eq!(
        outcome.problems,
        [
            "hang: QEMU did not exit within 30 s, in case `fault_loop`",
            "no `N passed, M failed` summary line on the serial console",
        ]
    );
}

#[test]
fn a_hang_before_any_output_says_so() {
    let outcome = SuiteReport::parse("").judge(
        ExitProtocol::Semihosting,
        Termination::TimedOut,
        DEADLINE,
        DEADLINE,
    );
    assert_eq!(
        outcome.problems[0],
        "hang: QEMU did not exit within 30 s, before the first case (the console stayed silent)",
        "no case to name"
    );
    assert_eq!(
        outcome.problems.last().map(String::as_str),
        Some("the kernel ran no conformance case")
    );
}

#[test]
fn success_status_does_not_hide_an_inconsistent_console() {
    // Exit code says pass but the console does not back it: the summary lies about its counts.
    let console = "test a ... ok\ntest b ... FAILED\n2 passed, 0 failed\n";
    let outcome = SuiteReport::parse(console).judge(
        ExitProtocol::SifiveTest,
        Termination::Exited(0),
        DEADLINE,
        ELAPSED,
    );
    assert_eq!(
        outcome.problems,
        [
            "case `b` FAILED",
            "summary says 0 failed but 1 case(s) printed FAILED",
            "summary says 2 passed but 1 case(s) printed ok",
        ]
    );
}

#[test]
fn success_status_without_any_case_fails() {
    let outcome = SuiteReport::parse("0 passed, 0 failed\n").judge(
        ExitProtocol::SifiveTest,
        Termination::Exited(0),
        DEADLINE,
        ELAPSED,
    );
    assert_eq!(outcome.problems, ["the kernel ran no conformance case"]);
}

#[test]
fn a_signal_is_reported_with_the_position() {
    let outcome = SuiteReport::parse("test a ... ok\n").judge(
        ExitProtocol::SifiveTest,
        Termination::Signaled(11),
        DEADLINE,
        ELAPSED,
    );
    assert_eq!(
        outcome.problems[0],
        "QEMU was killed by signal 11, after case `a`"
    );
}

#[test]
fn a_kernel_that_skips_announced_cases_fails() {
    let console = "running 3 tests\ntest a ... ok\ntest b ... ok\n2 passed, 0 failed\n";
    let report = SuiteReport::parse(console);
    assert_eq!(report.declared, Some(3), "header parsed");
    let outcome = report.judge(
        ExitProtocol::SifiveTest,
        Termination::Exited(0),
        DEADLINE,
        ELAPSED,
    );
    assert_eq!(
        outcome.problems,
        ["the kernel announced 3 case(s) but printed 2"]
    );
}

#[test]
fn a_crash_before_the_first_case_quotes_the_last_console_line() {
    let console = "example_kernel: booted on x86_64\r\nMMU on: x86_64 root at 0x233000\r\n";
    let outcome = SuiteReport::parse(console).judge(
        ExitProtocol::IsaDebugExit,
        Termination::Exited(0),
        DEADLINE,
        ELAPSED,
    );
    assert!(
        outcome.problems[0].ends_with(
            "before the first case (last console line: `MMU on: x86_64 root at 0x233000`)"
        ),
        "position quoted: {}",
        outcome.problems[0]
    );
}

#[test]
fn required_cases_that_never_ran_are_named() {
    let required = ["map", "stale_tlb", "cow"].map(str::to_owned);
    let report = SuiteReport::parse("test map ... ok\ntest cow ... FAILED\n1 passed, 1 failed\n");
    assert_eq!(
        report.missing_required(&required, "ci/kernel-cases.txt"),
        ["required case `stale_tlb` did not run (listed in ci/kernel-cases.txt)"],
        "a failed case ran; only the absent one is missing"
    );
    let hung = SuiteReport::parse("test map ... ok\ntest stale_tlb ... ");
    assert_eq!(
        hung.missing_required(&required, "ci/kernel-cases.txt"),
        Vec::<String>::new(),
        "no summary: the hang message says it all"
    );
}
