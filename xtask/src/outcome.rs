//! The verdict of one check (an ISA's unit tests or its kernel suite): counts, and every reason it
//! failed. A check passes exactly when there is no reason.

use std::time::Duration;

/// What one check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Cases reported as passed.
    pub(crate) passed: u64,
    /// Cases reported as failed.
    pub(crate) failed: u64,
    /// Why the check failed, one sentence each, naming the failing case where known. Empty on a
    /// pass.
    pub(crate) problems: Vec<String>,
    /// Wall time of the check, build included.
    pub(crate) elapsed: Duration,
}

impl Outcome {
    /// An outcome for a check that could not run at all.
    pub(crate) fn not_run(reason: String, elapsed: Duration) -> Self {
        Self {
            problems: vec![reason],
            elapsed,
            ..Self::default()
        }
    }

    /// Whether the check passed: no problem was found.
    pub(crate) fn is_pass(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A duration for messages: whole seconds as `30 s`, anything else with one decimal (`0.3 s`).
pub(crate) fn seconds(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}
