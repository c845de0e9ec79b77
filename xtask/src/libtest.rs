//! Reading libtest output — of a test binary the xtask runs itself, or of `cargo test --doc` —:
//! summaries, failing test names, tests that never finished (from the binary's `--list`), and
//! the verdict on an ISA's unit tests.

use std::time::Duration;

use crate::outcome::{Outcome, seconds};
use crate::process::Termination;
use crate::workspace::{cargo_error_lines, quote_lines};

/// The most unfinished tests a hang or crash message names.
const NAMED_UNFINISHED: usize = 10;
/// The most trailing stderr lines quoted when a run ends without cargo `error` lines.
const STDERR_TAIL: usize = 3;

/// What one libtest run printed (a test binary, or every run of a `cargo test --doc`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UnitTestReport {
    /// Sum of `N passed` over the `test result:` lines.
    pub(crate) passed: u64,
    /// Sum of `M failed` over the `test result:` lines.
    pub(crate) failed: u64,
    /// Sum of `K ignored`.
    pub(crate) ignored: u64,
    /// Names from `test NAME ... FAILED` lines, in order.
    pub(crate) failed_tests: Vec<String>,
    /// Names from every `test NAME ... <result>` line (`ok`, `FAILED`, `ignored`, …), in order.
    pub(crate) finished_tests: Vec<String>,
    /// Where and why each failed test panicked, from its `---- NAME stdout ----` section:
    /// `(NAME, "panicked at FILE:LINE:COLUMN: first message line")`.
    pub(crate) panics: Vec<(String, String)>,
    /// Tests libtest reported as `has been running for over 60 seconds` that never printed a
    /// result: the suspects when the run hangs.
    pub(crate) slow_tests: Vec<String>,
    /// `running N tests` lines: test binaries (or doctest runs) that started.
    pub(crate) runs_started: usize,
    /// `test result:` lines: runs that finished and reported.
    pub(crate) runs_finished: usize,
    /// cargo's `error…` lines and `process didn't exit successfully` lines from stderr: compile
    /// errors, missing packages, a test binary killed by a signal.
    pub(crate) cargo_errors: Vec<String>,
    /// The last non-empty stderr lines (a test binary's own last words, e.g. qemu-user's
    /// `uncaught target signal`), quoted when there is no cargo error line.
    pub(crate) stderr_tail: Vec<String>,
}

impl UnitTestReport {
    /// Parses a run's stdout (libtest's output) and stderr (cargo's own messages, or the test
    /// binary's).
    pub(crate) fn parse(stdout: &str, stderr: &str) -> Self {
        let mut report = Self::default();
        // The failed test whose captured output is being read, and its panic location once seen.
        let mut section: Option<&str> = None;
        let mut panic_location: Option<&str> = None;
        for line in stdout.lines().map(|line| line.trim_end_matches('\r')) {
            if let (Some(name), Some(location)) = (section, panic_location.take()) {
                report.panics.push((
                    name.to_owned(),
                    format!("panicked at {location}: {}", line.trim()),
                ));
                section = None;
            } else if let Some(name) = section_name(line) {
                section = Some(name);
            } else if section.is_some() && line.starts_with("thread '") {
                panic_location = line
                    .split_once(" panicked at ")
                    .map(|(_, location)| location.trim_end_matches(':'));
            } else if line == "failures:" {
                section = None;
            }
            if let Some(summary) = line.strip_prefix("test result: ") {
                report.runs_finished += 1;
                report.add_summary(summary);
            } else if let Some(name) = failed_test_name(line) {
                report.failed_tests.push(name.to_owned());
                report.finished_tests.push(name.to_owned());
                report.slow_tests.retain(|slow| slow != name);
            } else if let Some(name) = finished_test_name(line) {
                report.finished_tests.push(name.to_owned());
                report.slow_tests.retain(|slow| slow != name);
            } else if let Some(name) = slow_test_name(line) {
                report.slow_tests.push(name.to_owned());
            } else if is_run_start(line) {
                report.runs_started += 1;
            }
        }
        report.cargo_errors = cargo_error_lines(stderr);
        let mut tail: Vec<String> = stderr
            .lines()
            .rev()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .take(STDERR_TAIL)
            .map(str::to_owned)
            .collect();
        tail.reverse();
        report.stderr_tail = tail;
        report
    }

    /// Whether every libtest run that started (at least one) printed its `test result:` line.
    pub(crate) fn reported_result(&self) -> bool {
        self.runs_finished > 0 && self.runs_finished >= self.runs_started
    }

    /// The tests that never printed a result: the ones libtest flagged as running for over 60 s
    /// first, then the rest of `listed` (the binary's `--list`) in its order. In a parallel run
    /// the hung test is among them (libtest names a test only when it finishes, or at 60 s).
    pub(crate) fn unfinished(&self, listed: &[String]) -> Vec<Unfinished> {
        let mut unfinished: Vec<Unfinished> = self
            .slow_tests
            .iter()
            .map(|name| Unfinished {
                name: name.clone(),
                over_60_seconds: true,
            })
            .collect();
        for name in listed {
            if !self.finished_tests.contains(name) && !self.slow_tests.contains(name) {
                unfinished.push(Unfinished {
                    name: name.clone(),
                    over_60_seconds: false,
                });
            }
        }
        unfinished
    }

    /// Adds `ok. 5 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.1s`.
    fn add_summary(&mut self, summary: &str) {
        let counts = summary.split_once(". ").map_or(summary, |(_, rest)| rest);
        for part in counts.split(';') {
            let mut words = part.split_whitespace();
            let (Some(number), Some(label)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(number) = number.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => self.passed += number,
                "failed" => self.failed += number,
                "ignored" => self.ignored += number,
                _ => {}
            }
        }
    }

    /// cargo's error lines, or else the last stderr lines, for a one-line message.
    fn quoted_errors(&self) -> String {
        if self.cargo_errors.is_empty() {
            quote_lines(&self.stderr_tail)
        } else {
            quote_lines(&self.cargo_errors)
        }
    }
}

/// A test that printed no result line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unfinished {
    /// The test's name, e.g. `walk::tests::unmap_huge`.
    pub(crate) name: String,
    /// Whether libtest warned that it had been running for over 60 seconds.
    pub(crate) over_60_seconds: bool,
}

/// One libtest run the xtask started and waited for: a test binary, or `cargo test --doc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LibtestRun {
    /// What ran, for messages: ``test binary `vmlayer_paging` (lib)``, `` `cargo test --doc` ``.
    pub(crate) subject: String,
    /// What it printed.
    pub(crate) report: UnitTestReport,
    /// How it ended.
    pub(crate) termination: Termination,
    /// Its deadline.
    pub(crate) deadline: Duration,
    /// The binary's tests, from its `--list`, when it ended without a result (empty otherwise,
    /// and for `cargo test --doc`).
    pub(crate) listed: Vec<String>,
}

impl LibtestRun {
    /// Why the run failed, one sentence each: a hang or a crash naming the tests that did not
    /// finish, every failed test with its panic, a non-zero status.
    pub(crate) fn problems(&self) -> Vec<String> {
        let report = &self.report;
        let subject = &self.subject;
        let mut problems = Vec::new();
        let unfinished = describe_unfinished(&report.unfinished(&self.listed));
        match self.termination {
            Termination::TimedOut => problems.push(format!(
                "hang: {subject} did not finish within {}{unfinished}",
                seconds(self.deadline)
            )),
            Termination::Signaled(signal) if !report.reported_result() => problems.push(format!(
                "{subject} was killed by signal {signal} before reporting a result: {}{unfinished}",
                report.quoted_errors()
            )),
            Termination::Signaled(signal) => {
                problems.push(format!("{subject} was killed by signal {signal}"));
            }
            Termination::Exited(_) => {}
        }
        for name in &report.failed_tests {
            match report.panics.iter().find(|(panicked, _)| panicked == name) {
                Some((_, panic)) => problems.push(format!("test `{name}` FAILED: {panic}")),
                None => problems.push(format!("test `{name}` FAILED")),
            }
        }
        let named = u64::try_from(report.failed_tests.len()).unwrap_or(u64::MAX);
        if report.failed > named {
            problems.push(format!(
                "libtest reports {} failed test(s), {named} named",
                report.failed
            ));
        }
        if let Termination::Exited(status) = self.termination {
            if !report.reported_result() && (status != 0 || report.runs_started > 0) {
                problems.push(format!(
                    "{subject} exited with status {status} before reporting a result: {}{unfinished}",
                    report.quoted_errors()
                ));
            } else if status != 0 && problems.is_empty() {
                problems.push(format!(
                    "{subject} exited with status {status}: {}",
                    report.quoted_errors()
                ));
            }
        }
        problems
    }
}

/// `; unfinished: test `a` (running for over 60 s), test `b`, and 3 more`, or nothing.
fn describe_unfinished(unfinished: &[Unfinished]) -> String {
    if unfinished.is_empty() {
        return String::new();
    }
    let mut names: Vec<String> = unfinished
        .iter()
        .take(NAMED_UNFINISHED)
        .map(|test| {
            if test.over_60_seconds {
                format!("test `{}` (running for over 60 s)", test.name)
            } else {
                format!("test `{}`", test.name)
            }
        })
        .collect();
    if unfinished.len() > NAMED_UNFINISHED {
        names.push(format!("and {} more", unfinished.len() - NAMED_UNFINISHED));
    }
    format!("; unfinished: {}", names.join(", "))
}

/// The verdict on an ISA's unit tests: the counts summed over `runs`, the `problems` found
/// before or besides them (a failed build, a binary that could not be started) and every run's
/// own; a pass also needs at least one passed test.
pub(crate) fn judge(runs: &[LibtestRun], mut problems: Vec<String>, elapsed: Duration) -> Outcome {
    problems.extend(runs.iter().flat_map(LibtestRun::problems));
    let passed = runs.iter().map(|run| run.report.passed).sum();
    let failed = runs.iter().map(|run| run.report.failed).sum();
    if problems.is_empty() && passed == 0 {
        problems.push("no unit test ran (0 passed)".to_owned());
    }
    Outcome {
        passed,
        failed,
        problems,
        elapsed,
    }
}

/// The test names in a test binary's `--list` output (`NAME: test` lines; benchmarks skipped).
pub(crate) fn listed_tests(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| line.trim_end_matches('\r').strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

/// Whether `line` is libtest's `running N tests` (or `running 1 test`) header.
fn is_run_start(line: &str) -> bool {
    line.strip_prefix("running ")
        .and_then(|rest| {
            rest.strip_suffix(" tests")
                .or_else(|| rest.strip_suffix(" test"))
        })
        .is_some_and(|count| count.parse::<u64>().is_ok())
}

/// The NAME of a `test NAME ... <result>` line of a test that finished other than by failing.
/// A single-threaded run prints `test NAME ... ` when the test starts: without a result (or with
/// the 60-second warning after it) the test has not finished.
fn finished_test_name(line: &str) -> Option<&str> {
    let (name, result) = line.strip_prefix("test ")?.split_once(" ... ")?;
    (!result.trim().is_empty() && !result.contains(SLOW_WARNING)).then_some(name)
}

/// libtest's warning about a long-running test, after its name.
const SLOW_WARNING: &str = " has been running for over ";

/// The NAME of libtest's `test NAME has been running for over 60 seconds` warning (in a
/// single-threaded run it follows the test's `test NAME ... ` on the same line).
fn slow_test_name(line: &str) -> Option<&str> {
    let warning = &line[..line.find(SLOW_WARNING)?];
    warning
        .rsplit_once(" ... ")
        .map_or(warning, |(_, after)| after)
        .strip_prefix("test ")
}

/// The NAME of libtest's `---- NAME stdout ----` header of a failed test's captured output.
fn section_name(line: &str) -> Option<&str> {
    line.strip_prefix("---- ")?.strip_suffix(" stdout ----")
}

/// The NAME of a `test NAME ... FAILED` line.
fn failed_test_name(line: &str) -> Option<&str> {
    line.strip_prefix("test ")?.strip_suffix(" ... FAILED")
}

#[cfg(test)]
mod tests;
