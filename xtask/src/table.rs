//! The final report of `cargo xtask test`: one row per ISA, one column per check, then every
//! failure on its own line naming the ISA and the case.

use crate::arch::Arch;
use crate::outcome::Outcome;

/// The two checks of one ISA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ArchResult {
    /// The ISA.
    pub(crate) arch: Arch,
    /// Its unit tests (natively or under qemu-user).
    pub(crate) unit_tests: Outcome,
    /// Its example kernel's conformance suite under qemu-system.
    pub(crate) kernel_suite: Outcome,
}

impl ArchResult {
    /// One line per problem, each starting with the ISA and the check.
    pub(crate) fn failures(&self) -> Vec<String> {
        let unit = self
            .unit_tests
            .problems
            .iter()
            .map(|problem| format!("{} unit tests: {problem}", self.arch));
        let kernel = self
            .kernel_suite
            .problems
            .iter()
            .map(|problem| format!("{} kernel suite: {problem}", self.arch));
        unit.chain(kernel).collect()
    }
}

/// The table (with a header) followed by the failure lines, if any.
pub(crate) fn render(results: &[ArchResult]) -> String {
    let mut text = format!(
        "{:<8} | {:<CELL_WIDTH$} | kernel suite\n{}\n",
        "ISA",
        "unit tests",
        "-".repeat(8 + 3 + CELL_WIDTH + 3 + CELL_WIDTH)
    );
    for result in results {
        text.push_str(&format!(
            "{:<8} | {:<CELL_WIDTH$} | {}\n",
            result.arch.name(),
            cell(&result.unit_tests),
            cell(&result.kernel_suite)
        ));
    }
    let failures: Vec<String> = results.iter().flat_map(ArchResult::failures).collect();
    if !failures.is_empty() {
        text.push_str("\nFailures:\n");
        for failure in failures {
            text.push_str(&format!("  - {failure}\n"));
        }
    }
    text
}

/// Width of one check's cell: `FAIL 1234 passed, 123 failed 1234.5 s`.
const CELL_WIDTH: usize = 36;

fn cell(outcome: &Outcome) -> String {
    format!(
        "{:<4} {:>4} passed, {:>3} failed {:>6.1} s",
        if outcome.is_pass() { "ok" } else { "FAIL" },
        outcome.passed,
        outcome.failed,
        outcome.elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests;
