use std::time::Duration;

use super::{ArchResult, render};
use crate::arch::Arch;
use crate::outcome::Outcome;

fn passed(count: u64, seconds: u64) -> Outcome {
    Outcome {
        passed: count,
        failed: 0,
        problems: Vec::new(),
        elapsed: Duration::from_secs(seconds),
    }
}

#[test]
fn the_table_shows_counts_and_times_and_lists_failures_by_isa() {
    let results = [
        ArchResult {
            arch: Arch::X86_64,
            unit_tests: passed(120, 12),
            kernel_suite: passed(9, 2),
        },
        ArchResult {
            arch: Arch::Riscv64,
            unit_tests: passed(80, 5),
            kernel_suite: Outcome {
                passed: 8,
                failed: 1,
                problems: vec!["case `cow_fault` FAILED".to_owned()],
                elapsed: Duration::from_millis(1500),
            },
        },
    ];
    let table = render(&results);
    let expected = "\
ISA      | unit tests                           | kernel suite
--------------------------------------------------------------------------------------
x86_64   | ok    120 passed,   0 failed   12.0 s | ok      9 passed,   0 failed    2.0 s
riscv64  | ok     80 passed,   0 failed    5.0 s | FAIL    8 passed,   1 failed    1.5 s

Failures:
  - riscv64 kernel suite: case `cow_fault` FAILED
";
    assert_eq!(table, expected, "rendered:\n{table}");
}
