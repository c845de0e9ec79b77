//! The conformance suite, written once for the three ISAs.

use crate::harness::{self, Outcome, TestCase};

mod boot;

/// Runs every case and returns the outcome.
pub(crate) fn run_all() -> Outcome {
    let cases = [
        TestCase { name: "frame_pool_counts", run: boot::frame_pool_counts },
        TestCase { name: "heap_reuses_blocks", run: boot::heap_reuses_blocks },
    ];
    harness::run(&cases, EXPECTED_CASES)
}

/// The number of cases the suite declares; the run passes only if exactly this many passed.
const EXPECTED_CASES: usize = 2;
