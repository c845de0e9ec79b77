use std::time::Duration;

use super::{ArchResult, render};
use crate::arch::{Arch, BootConfig};
use crate::kernel::BootResult;
use crate::outcome::Outcome;

fn passed(count: u64, seconds: u64) -> Outcome {
    Outcome {
        passed: count,
        failed: 0,
        problems: Vec::new(),
        elapsed: Duration::from_secs(seconds),
    }
}

fn boot(name: &str, qemu_args: &[&str], outcome: Outcome) -> BootResult {
    boot_with_features(name, &[], qemu_args, outcome)
}

fn boot_with_features(
    name: &str,
    features: &[&str],
    qemu_args: &[&str],
    outcome: Outcome,
) -> BootResult {
    BootResult {
        config: BootConfig {
            name: name.to_owned(),
            kernel_features: features.iter().map(|&feature| feature.to_owned()).collect(),
            qemu_args: qemu_args
                .iter()
                .map(|&argument| argument.to_owned())
                .collect(),
        },
        outcome,
    }
}

#[test]
fn the_table_has_a_row_per_boot_configuration_with_its_features_and_failures_name_it() {
    let results = [
        ArchResult {
            arch: Arch::X86_64,
            unit_tests: passed(120, 12),
            kernel_boots: vec![
                boot("default", &[], passed(9, 2)),
                boot("large-memory", &["-m", "4G"], passed(9, 1)),
            ],
        },
        ArchResult {
            arch: Arch::Riscv64,
            unit_tests: passed(80, 5),
            kernel_boots: vec![
                boot("default", &[], passed(9, 1)),
                boot(
                    "multi-cpu",
                    &["-smp", "4"],
                    Outcome {
                        passed: 8,
                        failed: 1,
                        problems: vec!["case `cow_fault` FAILED".to_owned()],
                        elapsed: Duration::from_millis(1500),
                    },
                ),
                boot_with_features("sv48", &["sv48"], &["-m", "4G"], passed(13, 3)),
                boot_with_features(
                    "svpbmt",
                    &["svpbmt"],
                    &["-cpu", "rv64,svpbmt=on"],
                    Outcome {
                        passed: 0,
                        failed: 0,
                        problems: vec!["QEMU exited with status 1".to_owned()],
                        elapsed: Duration::from_secs(4),
                    },
                ),
            ],
        },
    ];
    let table = render(&results);
    let expected = "\
ISA      | check                                                | result
------------------------------------------------------------------------------------------------------
x86_64   | unit tests                                           | ok    120 passed,   0 failed   12.0 s
x86_64   | kernel default                                       | ok      9 passed,   0 failed    2.0 s
x86_64   | kernel large-memory: -m 4G                           | ok      9 passed,   0 failed    1.0 s
riscv64  | unit tests                                           | ok     80 passed,   0 failed    5.0 s
riscv64  | kernel default                                       | ok      9 passed,   0 failed    1.0 s
riscv64  | kernel multi-cpu: -smp 4                             | FAIL    8 passed,   1 failed    1.5 s
riscv64  | kernel sv48 [features sv48]: -m 4G                   | ok     13 passed,   0 failed    3.0 s
riscv64  | kernel svpbmt [features svpbmt]: -cpu rv64,svpbmt=on | FAIL    0 passed,   0 failed    4.0 s

Failures:
  - riscv64 kernel suite (multi-cpu: -smp 4): case `cow_fault` FAILED
  - riscv64 kernel suite (svpbmt [features svpbmt]: -cpu rv64,svpbmt=on): QEMU exited with status 1
";
    assert_eq!(table, expected, "rendered:\n{table}");
}
