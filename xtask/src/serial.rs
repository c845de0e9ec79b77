//! Reading the example kernel's serial console: `test NAME ... ok|FAILED` per case and the final
//! `N passed, M failed` line, and the verdict combining them with QEMU's exit status.

use std::time::Duration;

use crate::exit_protocol::ExitProtocol;
use crate::outcome::{Outcome, seconds};
use crate::process::Termination;

/// How one conformance case ended on the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CaseResult {
    /// `test NAME ... ok`.
    Ok,
    /// `test NAME ... FAILED`.
    Failed,
    /// `test NAME ...` followed by anything else, or by nothing (the kernel hung or crashed in
    /// this case); holds what followed.
    Unfinished(String),
}

/// Everything the kernel's console said about its suite.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SuiteReport {
    /// Every `test NAME ...` line in order.
    pub(crate) cases: Vec<(String, CaseResult)>,
    /// The last `N passed, M failed` line, if any.
    pub(crate) summary: Option<(u64, u64)>,
    /// The `running N tests` header, if the kernel printed one: how many cases it meant to run.
    pub(crate) declared: Option<u64>,
    /// The last non-empty console line, for crash and hang messages.
    pub(crate) last_line: Option<String>,
}

impl SuiteReport {
    /// Parses the console output (firmware banners and other lines are ignored; `\r` is
    /// tolerated).
    pub(crate) fn parse(serial: &str) -> Self {
        let mut report = Self::default();
        for line in serial.lines().map(|line| line.trim_end_matches('\r')) {
            if !line.trim().is_empty() {
                report.last_line = Some(line.trim().to_owned());
            }
            if let Some(rest) = line.strip_prefix("test ") {
                let (name, result) = match rest.split_once(" ...") {
                    Some((name, after)) => (name, after.trim()),
                    None => (rest.trim_end(), ""),
                };
                let result = match result {
                    "ok" => CaseResult::Ok,
                    "FAILED" => CaseResult::Failed,
                    other => CaseResult::Unfinished(other.to_owned()),
                };
                report.cases.push((name.to_owned(), result));
            } else if let Some(summary) = parse_summary(line.trim()) {
                report.summary = Some(summary);
            } else if let Some(declared) = parse_declared(line.trim()) {
                report.declared = Some(declared);
            }
        }
        report
    }

    /// Number of cases that printed `ok`.
    pub(crate) fn ok_count(&self) -> u64 {
        self.count(|result| *result == CaseResult::Ok)
    }

    /// Number of cases that printed `FAILED`.
    pub(crate) fn failed_count(&self) -> u64 {
        self.count(|result| *result == CaseResult::Failed)
    }

    fn count(&self, predicate: impl Fn(&CaseResult) -> bool) -> u64 {
        let count = self
            .cases
            .iter()
            .filter(|(_, result)| predicate(result))
            .count();
        u64::try_from(count).unwrap_or(u64::MAX)
    }

    /// The `required` cases that never appeared on a console that reached its summary, each as a
    /// problem naming `source` (the file that requires them). Cases that ran and failed are
    /// reported by [`SuiteReport::judge`]; a run without a summary (hang, crash) is reported there
    /// too, so it gets no list of everything it never reached.
    pub(crate) fn missing_required(&self, required: &[String], source: &str) -> Vec<String> {
        if self.summary.is_none() {
            return Vec::new();
        }
        required
            .iter()
            .filter(|name| !self.cases.iter().any(|(case, _)| case == *name))
            .map(|name| format!("required case `{name}` did not run (listed in {source})"))
            .collect()
    }

    /// Where in the suite the kernel was when it stopped: for hang and crash messages.
    fn position(&self) -> String {
        match self.cases.last() {
            None => match &self.last_line {
                Some(line) => format!("before the first case (last console line: `{line}`)"),
                None => "before the first case (the console stayed silent)".to_owned(),
            },
            Some((name, CaseResult::Unfinished(_))) => format!("in case `{name}`"),
            Some((name, _)) if self.summary.is_some() => {
                format!("after the summary (last case `{name}`)")
            }
            Some((name, _)) => format!("after case `{name}`"),
        }
    }

    /// Judges a boot: a pass needs the protocol's success status, a summary saying 0 failed, and
    /// as many `ok` lines as the summary's passed count (at least one).
    pub(crate) fn judge(
        &self,
        protocol: ExitProtocol,
        termination: Termination,
        deadline: Duration,
        elapsed: Duration,
    ) -> Outcome {
        let mut problems = Vec::new();
        match termination {
            Termination::TimedOut => problems.push(format!(
                "hang: QEMU did not exit within {}, {}",
                seconds(deadline),
                self.position()
            )),
            Termination::Signaled(signal) => problems.push(format!(
                "QEMU was killed by signal {signal}, {}",
                self.position()
            )),
            Termination::Exited(status) if !protocol.is_success(status) => {
                problems.push(format!("{}, {}", protocol.explain(status), self.position()));
            }
            Termination::Exited(_) => {}
        }
        for (name, result) in &self.cases {
            match result {
                CaseResult::Ok => {}
                CaseResult::Failed => problems.push(format!("case `{name}` FAILED")),
                CaseResult::Unfinished(rest) if termination == Termination::TimedOut => {
                    // Already named by the hang message; only add unexpected trailing text.
                    if !rest.is_empty() {
                        problems.push(format!("case `{name}` printed `{rest}`"));
                    }
                }
                CaseResult::Unfinished(rest) => {
                    problems.push(format!("case `{name}` did not finish (printed `{rest}`)"));
                }
            }
        }
        let (ok, failed) = (self.ok_count(), self.failed_count());
        match self.summary {
            None => problems
                .push("no `N passed, M failed` summary line on the serial console".to_owned()),
            Some((summary_passed, summary_failed)) => {
                if summary_failed != 0 && summary_failed != failed {
                    problems.push(format!(
                        "summary says {summary_failed} failed but {failed} case(s) printed FAILED"
                    ));
                } else if summary_failed == 0 && failed != 0 {
                    problems.push(format!(
                        "summary says 0 failed but {failed} case(s) printed FAILED"
                    ));
                }
                if summary_passed != ok {
                    problems.push(format!(
                        "summary says {summary_passed} passed but {ok} case(s) printed ok"
                    ));
                }
            }
        }
        let printed = u64::try_from(self.cases.len()).unwrap_or(u64::MAX);
        if let (Some(declared), Termination::Exited(_)) = (self.declared, termination)
            && declared != printed
        {
            problems.push(format!(
                "the kernel announced {declared} case(s) but printed {printed}"
            ));
        }
        if ok == 0 && failed == 0 && self.cases.is_empty() {
            problems.push("the kernel ran no conformance case".to_owned());
        }
        let (passed, failed) = self.summary.unwrap_or((ok, failed));
        Outcome {
            passed,
            failed,
            problems,
            elapsed,
        }
    }
}

/// `running N tests` (or `running 1 test`) → `N`.
fn parse_declared(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("running ")?;
    rest.strip_suffix(" tests")
        .or_else(|| rest.strip_suffix(" test"))?
        .parse()
        .ok()
}

/// `N passed, M failed` → `(N, M)`.
fn parse_summary(line: &str) -> Option<(u64, u64)> {
    let (passed, failed) = line.split_once(" passed, ")?;
    let failed = failed.strip_suffix(" failed")?;
    Some((passed.parse().ok()?, failed.parse().ok()?))
}

#[cfg(test)]
mod tests;
