//! Reading `cargo test` output: libtest's per-binary summaries, failing test names and crashed
//! test binaries, and the verdict on a unit-test run.

use std::time::Duration;

use crate::outcome::{Outcome, seconds};
use crate::process::Termination;
use crate::workspace::{cargo_error_lines, quote_lines};

/// What a `cargo test` run printed, summed over every test binary and doctest run.
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
}

impl UnitTestReport {
    /// Parses `cargo test`'s stdout (libtest's output) and stderr (cargo's own messages).
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
                report.slow_tests.retain(|slow| slow != name);
            } else if let Some(name) = finished_test_name(line) {
                report.slow_tests.retain(|slow| slow != name);
            } else if let Some(name) = slow_test_name(line) {
                report.slow_tests.push(name.to_owned());
            } else if is_run_start(line) {
                report.runs_started += 1;
            }
        }
        report.cargo_errors = cargo_error_lines(stderr);
        report
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

    /// Judges the run: a pass needs cargo's success, no failed or crashed test, and at least one
    /// passed test.
    pub(crate) fn judge(
        &self,
        termination: Termination,
        deadline: Duration,
        elapsed: Duration,
    ) -> Outcome {
        let mut problems = Vec::new();
        match termination {
            Termination::TimedOut if self.slow_tests.is_empty() => problems.push(format!(
                "hang: `cargo test` did not finish within {}",
                seconds(deadline)
            )),
            Termination::TimedOut => problems.push(format!(
                "hang: `cargo test` did not finish within {}; still running: {}",
                seconds(deadline),
                self.slow_tests
                    .iter()
                    .map(|name| format!("test `{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Termination::Signaled(signal) => {
                problems.push(format!("`cargo test` was killed by signal {signal}"));
            }
            Termination::Exited(_) => {}
        }
        for name in &self.failed_tests {
            match self.panics.iter().find(|(panicked, _)| panicked == name) {
                Some((_, panic)) => problems.push(format!("test `{name}` FAILED: {panic}")),
                None => problems.push(format!("test `{name}` FAILED")),
            }
        }
        let named = u64::try_from(self.failed_tests.len()).unwrap_or(u64::MAX);
        if self.failed > named {
            problems.push(format!(
                "libtest reports {} failed test(s), {named} named",
                self.failed
            ));
        }
        let crashed = self.runs_started.saturating_sub(self.runs_finished);
        if crashed > 0 {
            problems.push(format!(
                "{crashed} test binary(ies) died before reporting a result: {}",
                self.quoted_errors()
            ));
        }
        if let Termination::Exited(status) = termination
            && status != 0
            && problems.is_empty()
        {
            problems.push(format!(
                "`cargo test` exited with status {status}: {}",
                self.quoted_errors()
            ));
        }
        if problems.is_empty() && self.passed == 0 {
            problems.push("no unit test ran (0 passed)".to_owned());
        }
        Outcome {
            passed: self.passed,
            failed: self.failed,
            problems,
            elapsed,
        }
    }

    fn quoted_errors(&self) -> String {
        quote_lines(&self.cargo_errors)
    }
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
fn finished_test_name(line: &str) -> Option<&str> {
    let (name, _) = line.strip_prefix("test ")?.split_once(" ... ")?;
    Some(name)
}

/// The NAME of libtest's `test NAME has been running for over 60 seconds` warning.
fn slow_test_name(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("test ")?;
    Some(&rest[..rest.find(" has been running for over ")?])
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
