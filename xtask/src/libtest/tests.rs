use std::time::Duration;

use super::UnitTestReport;
use crate::process::Termination;

const DEADLINE: Duration = Duration::from_secs(600);
const ELAPSED: Duration = Duration::from_secs(3);

/// Two unit-test binaries and one doctest run, all passing (shape of real cargo output).
const PASSING_STDOUT: &str = "
running 3 tests
test area::tests::split ... ok
test set::tests::map ... ok
test set::tests::slow ... ignored

test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s


running 1 test
test model ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.20s


running 2 tests
test crates/memory_set/src/lib.rs - (line 33) ... ok
test crates/memory_set/src/set.rs - set::MemorySet::map (line 10) ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.30s
";

const FAILING_STDOUT: &str = "
running 2 tests
test walk::tests::unmap_huge ... FAILED
test walk::tests::map ... ok

failures:

---- walk::tests::unmap_huge stdout ----

thread 'walk::tests::unmap_huge' (1779) panicked at src/walk/tests.rs:9:5:
assertion `left == right` failed

failures:
    walk::tests::unmap_huge

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s
";

#[test]
fn passing_run_sums_every_binary_and_doctest() {
    let report = UnitTestReport::parse(PASSING_STDOUT, "   Doc-tests vmlayer_areas\n");
    assert_eq!(
        (report.passed, report.failed, report.ignored),
        (5, 0, 1),
        "counts summed"
    );
    assert_eq!(
        (report.runs_started, report.runs_finished),
        (3, 3),
        "runs paired"
    );
    let outcome = report.judge(Termination::Exited(0), DEADLINE, ELAPSED);
    assert_eq!(outcome.problems, Vec::<String>::new(), "a pass");
    assert_eq!((outcome.passed, outcome.failed), (5, 0));
}

#[test]
fn a_failing_test_is_named() {
    let stderr = "error: test failed, to rerun pass `-p vmlayer_paging --lib`\n";
    let report = UnitTestReport::parse(FAILING_STDOUT, stderr);
    assert_eq!(
        report.failed_tests,
        ["walk::tests::unmap_huge"],
        "name from the FAILED line"
    );
    let outcome = report.judge(Termination::Exited(101), DEADLINE, ELAPSED);
    assert_eq!(
        outcome.problems,
        [
            "test `walk::tests::unmap_huge` FAILED: panicked at src/walk/tests.rs:9:5: \
          assertion `left == right` failed"
        ],
        "exactly the failing case"
    );
    assert_eq!((outcome.passed, outcome.failed), (1, 1));
}

#[test]
fn a_test_binary_killed_by_a_signal_is_a_failure_quoting_cargo() {
    let stdout = "\nrunning 4 tests\ntest a ... ok\n";
    let stderr = "error: test failed, to rerun pass `-p vmlayer_riscv64 --lib`\n\nCaused by:\n  \
                  process didn't exit successfully: `qemu-riscv64-static -L /usr/riscv64-linux-gnu \
                  /t/deps/vmlayer_riscv64-1` (signal: 4, SIGILL: illegal instruction)\n";
    let report = UnitTestReport::parse(stdout, stderr);
    let outcome = report.judge(Termination::Exited(101), DEADLINE, ELAPSED);
    assert_eq!(
        outcome.problems.len(),
        1,
        "one problem: {:?}",
        outcome.problems
    );
    assert!(
        outcome.problems[0].starts_with("1 test binary(ies) died before reporting a result")
            && outcome.problems[0].contains("SIGILL"),
        "crash with cargo's reason: {}",
        outcome.problems[0]
    );
}

#[test]
fn a_build_failure_quotes_the_compiler_error() {
    let stderr = "   Compiling vmlayer_paging v0.1.0\nerror[E0425]: cannot find value `x` in this scope\n\
                  error: could not compile `vmlayer_paging` (lib test) due to 1 previous error\n";
    let report = UnitTestReport::parse("", stderr);
    let outcome = report.judge(Termination::Exited(101), DEADLINE, ELAPSED);
    assert_eq!(
        outcome.problems,
        [
            "`cargo test` exited with status 101: error[E0425]: cannot find value `x` in this scope \
          | error: could not compile `vmlayer_paging` (lib test) due to 1 previous error"
        ]
    );
}

#[test]
fn a_missing_package_is_a_clear_failure() {
    let stderr = "error: package ID specification `vmlayer_arch` did not match any packages\n";
    let outcome =
        UnitTestReport::parse("", stderr).judge(Termination::Exited(101), DEADLINE, ELAPSED);
    assert_eq!(
        outcome.problems,
        [
            "`cargo test` exited with status 101: error: package ID specification `vmlayer_arch` \
          did not match any packages"
        ]
    );
}

#[test]
fn a_hang_and_an_empty_run_fail() {
    let hung = UnitTestReport::parse("\nrunning 2 tests\ntest a ... ok\n", "").judge(
        Termination::TimedOut,
        DEADLINE,
        ELAPSED,
    );
    assert_eq!(
        hung.problems[0], "hang: `cargo test` did not finish within 600 s",
        "timeout named first"
    );
    let empty = UnitTestReport::parse(
        "\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n",
        "",
    )
    .judge(Termination::Exited(0), DEADLINE, ELAPSED);
    assert_eq!(
        empty.problems,
        ["no unit test ran (0 passed)"],
        "zero tests is no evidence"
    );
}

#[test]
fn a_hang_names_the_tests_libtest_flagged_as_slow() {
    let stdout = "\nrunning 3 tests\ntest quick ... ok\n\
                  test model::agree has been running for over 60 seconds\n\
                  test protect_none has been running for over 60 seconds\n\
                  test model::agree ... ok\n";
    let report = UnitTestReport::parse(stdout, "");
    assert_eq!(
        report.slow_tests,
        ["protect_none"],
        "finished slow test dropped"
    );
    let outcome = report.judge(Termination::TimedOut, DEADLINE, ELAPSED);
    assert_eq!(
        outcome.problems[0],
        "hang: `cargo test` did not finish within 600 s; still running: test `protect_none`"
    );
}

#[test]
fn a_failure_without_a_panic_section_is_still_named() {
    let stdout = "\nrunning 1 test\ntest quiet ... FAILED\n\nfailures:\n    quiet\n\n\
                  test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; \
                  finished in 0.00s\n";
    let outcome =
        UnitTestReport::parse(stdout, "").judge(Termination::Exited(101), DEADLINE, ELAPSED);
    assert_eq!(
        outcome.problems,
        ["test `quiet` FAILED"],
        "name without details"
    );
}
