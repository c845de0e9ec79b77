//! The final report of `cargo xtask test`: one row per ISA and check — its unit tests, then its
//! kernel suite once per boot configuration, with the QEMU arguments that configuration adds —
//! then every failure on its own line naming the ISA, the configuration and the case.

use crate::arch::Arch;
use crate::kernel::BootResult;
use crate::outcome::Outcome;

/// The checks of one ISA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ArchResult {
    /// The ISA.
    pub(crate) arch: Arch,
    /// Its unit tests (natively or under qemu-user).
    pub(crate) unit_tests: Outcome,
    /// Its example kernel's conformance suite under qemu-system, one per boot configuration.
    pub(crate) kernel_boots: Vec<BootResult>,
}

impl ArchResult {
    /// One line per problem, each starting with the ISA and the check (for the kernel suite, the
    /// boot configuration and its QEMU arguments).
    pub(crate) fn failures(&self) -> Vec<String> {
        let unit = self
            .unit_tests
            .problems
            .iter()
            .map(|problem| format!("{} unit tests: {problem}", self.arch));
        let kernel = self.kernel_boots.iter().flat_map(|boot| {
            boot.outcome.problems.iter().map(move |problem| {
                format!("{} kernel suite ({}): {problem}", self.arch, boot.config)
            })
        });
        unit.chain(kernel).collect()
    }

    /// The rows of the table: (check, outcome).
    fn rows(&self) -> impl Iterator<Item = (String, &Outcome)> {
        let unit = std::iter::once(("unit tests".to_owned(), &self.unit_tests));
        let kernel = self
            .kernel_boots
            .iter()
            .map(|boot| (format!("kernel {}", boot.config), &boot.outcome));
        unit.chain(kernel)
    }
}

/// The table (with a header) followed by the failure lines, if any.
pub(crate) fn render(results: &[ArchResult]) -> String {
    let check_width = results
        .iter()
        .flat_map(ArchResult::rows)
        .map(|(check, _)| check.len())
        .chain([MIN_CHECK_WIDTH])
        .max()
        .unwrap_or(MIN_CHECK_WIDTH);
    let mut text = format!(
        "{:<8} | {:<check_width$} | result\n{}\n",
        "ISA",
        "check",
        "-".repeat(8 + 3 + check_width + 3 + CELL_WIDTH)
    );
    for result in results {
        for (check, outcome) in result.rows() {
            text.push_str(&format!(
                "{:<8} | {check:<check_width$} | {}\n",
                result.arch.name(),
                cell(outcome)
            ));
        }
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

/// Narrowest check column (`unit tests` and `kernel default` fit).
const MIN_CHECK_WIDTH: usize = 14;

/// Width of the result cell: `FAIL 1234 passed, 123 failed 1234.5 s`.
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
