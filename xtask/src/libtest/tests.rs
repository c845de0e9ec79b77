use std::time::Duration;

use super::{LibtestRun, Unfinished, UnitTestReport, judge, listed_tests};
use crate::outcome::Outcome;
use crate::process::Termination;

const DEADLINE: Duration = Duration::from_secs(600);
const ELAPSED: Duration = Duration::from_secs(3);
const DOCTESTS: &str = "`cargo test --doc`";
const BINARY: &str = "test binary `vmlayer_paging` (lib)";

fn run(subject: &str, report: UnitTestReport, termination: Termination) -> LibtestRun {
    LibtestRun {
        subject: subject.to_owned(),
        report,
        termination,
        deadline: DEADLINE,
        listed: Vec::new(),
    }
}

/// The verdict on one run of `cargo test --doc`.
fn judge_doctests(report: UnitTestReport, termination: Termination) -> Outcome {
    judge(&[run(DOCTESTS, report, termination)], Vec::new(), ELAPSED)
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|&name| name.to_owned()).collect()
}

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
    let outcome = judge_doctests(report, Termination::Exited(0));
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
    let outcome = judge_doctests(report, Termination::Exited(101));
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
fn a_doctest_run_killed_by_a_signal_is_a_failure_quoting_cargo() {
    let stdout = "\nrunning 4 tests\ntest a ... ok\n";
    let stderr = "error: test failed, to rerun pass `-p vmlayer_riscv64 --doc`\n\nCaused by:\n  \
                  process didn't exit successfully: `qemu-riscv64-static -L /usr/riscv64-linux-gnu \
                  /t/deps/rustdoctest-1` (signal: 4, SIGILL: illegal instruction)\n";
    let outcome = judge_doctests(
        UnitTestReport::parse(stdout, stderr),
        Termination::Exited(101),
    );
    assert_eq!(
        outcome.problems.len(),
        1,
        "one problem: {:?}",
        outcome.problems
    );
    assert!(
        outcome.problems[0]
            .starts_with("`cargo test --doc` exited with status 101 before reporting a result: ")
            && outcome.problems[0].contains("SIGILL"),
        "crash with cargo's reason: {}",
        outcome.problems[0]
    );
}

#[test]
fn a_build_failure_quotes_the_compiler_error() {
    let stderr = "   Compiling vmlayer_paging v0.1.0\nerror[E0425]: cannot find value `x` in this scope\n\
                  error: could not compile `vmlayer_paging` (lib test) due to 1 previous error\n";
    let outcome = judge_doctests(UnitTestReport::parse("", stderr), Termination::Exited(101));
    assert_eq!(
        outcome.problems,
        [
            "`cargo test --doc` exited with status 101 before reporting a result: error[E0425]: cannot find value `x` in this scope \
          | error: could not compile `vmlayer_paging` (lib test) due to 1 previous error"
        ]
    );
}

#[test]
fn a_missing_package_is_a_clear_failure() {
    let stderr = "error: package ID specification `vmlayer_arch` did not match any packages\n";
    let outcome = judge_doctests(UnitTestReport::parse("", stderr), Termination::Exited(101));
    assert_eq!(
        outcome.problems,
        [
            "`cargo test --doc` exited with status 101 before reporting a result: error: package ID specification `vmlayer_arch` \
          did not match any packages"
        ]
    );
}

#[test]
fn a_hang_and_an_empty_run_fail() {
    let hung = judge_doctests(
        UnitTestReport::parse("\nrunning 2 tests\ntest a ... ok\n", ""),
        Termination::TimedOut,
    );
    assert_eq!(
        hung.problems[0], "hang: `cargo test --doc` did not finish within 600 s",
        "timeout named first"
    );
    let empty = judge_doctests(
        UnitTestReport::parse(
            "\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n",
            "",
        ),
        Termination::Exited(0),
    );
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
    let outcome = judge_doctests(report, Termination::TimedOut);
    assert_eq!(
        outcome.problems[0],
        "hang: `cargo test --doc` did not finish within 600 s; unfinished: test `protect_none` \
         (running for over 60 s)"
    );
}

#[test]
fn a_failure_without_a_panic_section_is_still_named() {
    let stdout = "\nrunning 1 test\ntest quiet ... FAILED\n\nfailures:\n    quiet\n\n\
                  test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; \
                  finished in 0.00s\n";
    let outcome = judge_doctests(UnitTestReport::parse(stdout, ""), Termination::Exited(101));
    assert_eq!(
        outcome.problems,
        ["test `quiet` FAILED"],
        "name without details"
    );
}

/// A real `--list` of a test binary.
const LIST_STDOUT: &str = "tests::a: test\ntests::hangs: test\nmodel::slow: test\ntests::skipped: test\n\n\
                           4 tests, 0 benchmarks\n";

#[test]
fn the_list_names_every_test_and_no_benchmark() {
    assert_eq!(
        listed_tests(&format!("{LIST_STDOUT}bench::walk: benchmark\n")),
        names(&["tests::a", "tests::hangs", "model::slow", "tests::skipped"])
    );
    assert_eq!(
        listed_tests("0 tests, 0 benchmarks\n"),
        Vec::<String>::new()
    );
}

/// A parallel run at its deadline: two tests done, one flagged at 60 s, one never named.
const HUNG_STDOUT: &str = "\nrunning 4 tests\ntest tests::a ... ok\ntest tests::skipped ... ignored\n\
                           test model::slow has been running for over 60 seconds\n";

#[test]
fn unfinished_tests_are_the_listed_ones_without_a_result_flagged_ones_first() {
    let report = UnitTestReport::parse(HUNG_STDOUT, "");
    assert!(!report.reported_result(), "no `test result:` line");
    assert_eq!(
        report.unfinished(&listed_tests(LIST_STDOUT)),
        [
            Unfinished {
                name: "model::slow".to_owned(),
                over_60_seconds: true,
            },
            Unfinished {
                name: "tests::hangs".to_owned(),
                over_60_seconds: false,
            },
        ]
    );
    assert_eq!(
        report.unfinished(&[]),
        [Unfinished {
            name: "model::slow".to_owned(),
            over_60_seconds: true,
        }],
        "without a list, the flagged test alone"
    );
}

#[test]
fn a_hung_binary_is_named_with_the_tests_that_never_finished() {
    let mut hung = run(
        BINARY,
        UnitTestReport::parse(HUNG_STDOUT, ""),
        Termination::TimedOut,
    );
    hung.deadline = Duration::from_secs(300);
    hung.listed = listed_tests(LIST_STDOUT);
    let passing = run(
        "test binary `vmlayer_areas` (lib)",
        UnitTestReport::parse(PASSING_STDOUT, ""),
        Termination::Exited(0),
    );
    let outcome = judge(&[passing, hung], Vec::new(), ELAPSED);
    assert_eq!(
        outcome.problems,
        [
            "hang: test binary `vmlayer_paging` (lib) did not finish within 300 s; unfinished: \
             test `model::slow` (running for over 60 s), test `tests::hangs`"
        ]
    );
    assert_eq!(
        (outcome.passed, outcome.failed),
        (5, 0),
        "counts of every run"
    );
}

#[test]
fn a_single_threaded_run_names_the_test_it_hung_in() {
    // `--test-threads=1` prints the name when the test starts and the result when it ends.
    let stdout = "\nrunning 3 tests\ntest a ... ok\ntest b ... test b has been running for over 60 \
                  seconds\n";
    let report = UnitTestReport::parse(stdout, "");
    assert_eq!(report.finished_tests, ["a"]);
    assert_eq!(report.slow_tests, ["b"]);
    let before_the_warning =
        UnitTestReport::parse("\nrunning 3 tests\ntest a ... ok\ntest b ... ", "");
    assert_eq!(
        before_the_warning.unfinished(&names(&["a", "b", "c"])),
        [
            Unfinished {
                name: "b".to_owned(),
                over_60_seconds: false,
            },
            Unfinished {
                name: "c".to_owned(),
                over_60_seconds: false,
            },
        ],
        "`test b ... ` without a result is not finished"
    );
}

#[test]
fn a_long_list_of_unfinished_tests_is_cut_short() {
    let listed: Vec<String> = (0..13).map(|index| format!("t{index:02}")).collect();
    let mut hung = run(
        BINARY,
        UnitTestReport::parse("\nrunning 13 tests\n", ""),
        Termination::TimedOut,
    );
    hung.listed = listed;
    assert_eq!(
        hung.problems(),
        [
            "hang: test binary `vmlayer_paging` (lib) did not finish within 600 s; unfinished: \
             test `t00`, test `t01`, test `t02`, test `t03`, test `t04`, test `t05`, test `t06`, \
             test `t07`, test `t08`, test `t09`, and 3 more"
        ]
    );
}

#[test]
fn a_crashed_binary_quotes_its_last_words_and_names_the_unfinished_tests() {
    let stderr = "\nqemu: uncaught target signal 4 (Illegal instruction) - core dumped\n";
    let mut crashed = run(
        BINARY,
        UnitTestReport::parse("\nrunning 2 tests\ntest tests::a ... ok\n", stderr),
        Termination::Signaled(4),
    );
    crashed.listed = names(&["tests::a", "tests::sfence"]);
    assert_eq!(
        crashed.problems(),
        [
            "test binary `vmlayer_paging` (lib) was killed by signal 4 before reporting a result: \
             qemu: uncaught target signal 4 (Illegal instruction) - core dumped; unfinished: \
             test `tests::sfence`"
        ]
    );
    let panicked = run(
        BINARY,
        UnitTestReport::parse("", "thread 'main' panicked at src/main.rs:1:1:\nboom\n"),
        Termination::Exited(101),
    );
    assert_eq!(
        panicked.problems(),
        [
            "test binary `vmlayer_paging` (lib) exited with status 101 before reporting a \
             result: thread 'main' panicked at src/main.rs:1:1: | boom"
        ]
    );
}

#[test]
fn problems_found_outside_the_runs_fail_the_verdict() {
    let passing = run(
        BINARY,
        UnitTestReport::parse(PASSING_STDOUT, ""),
        Termination::Exited(0),
    );
    let outcome = judge(
        &[passing],
        vec!["test binary `x` (lib) could not be run".to_owned()],
        ELAPSED,
    );
    assert_eq!(outcome.problems, ["test binary `x` (lib) could not be run"]);
    assert_eq!(outcome.passed, 5);
}
