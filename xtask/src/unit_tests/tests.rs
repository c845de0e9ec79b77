//! Running a test binary end to end, with `sh -c` as the runner standing in for qemu-user: the
//! script plays a libtest binary (its first argument is the binary's path, `--list` follows when
//! the xtask asks for the list).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{DEFAULT_BINARY_DEADLINE, binary_deadline, run_binary};
use crate::process::{Echo, Termination};
use crate::test_binaries::TestBinary;

/// The fake binary's libtest lines must not reach our stdout: when these tests run under
/// `cargo xtask test`, the xtask reads that stdout as libtest output.
const QUIET: Echo = Echo::StderrOnly;

fn fake_binary() -> TestBinary {
    TestBinary {
        package: "vmlayer_riscv64".to_owned(),
        kind: "lib".to_owned(),
        target: "vmlayer_riscv64".to_owned(),
        executable: PathBuf::from("/nonexistent/vmlayer_riscv64-0123"),
        package_directory: Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf(),
    }
}

/// A runner that plays a test binary: `--list` prints `list`, a run runs `script`.
fn sh_runner(list: &str, script: &str) -> Vec<String> {
    let program = format!("if [ \"$2\" = --list ]; then printf '{list}'; exit 0; fi\n{script}");
    ["sh", "-c", &program, "fake-runner"]
        .map(str::to_owned)
        .to_vec()
}

const LIST: &str = "tests::quick: test\\ninjected_hang::spins: test\\ntests::model: test\\n\\n\
                    3 tests, 0 benchmarks\\n";

#[test]
fn a_passing_binary_is_run_once_and_counted() {
    let runner = sh_runner(
        LIST,
        "echo; echo 'running 3 tests'; echo 'test tests::quick ... ok'; \
         echo 'test injected_hang::spins ... ok'; echo 'test tests::model ... ok'; echo; \
         echo 'test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; \
         finished in 0.01s'",
    );
    let run = run_binary(&fake_binary(), &runner, Duration::from_secs(20), QUIET).expect("sh runs");
    assert_eq!(run.termination, Termination::Exited(0));
    assert_eq!(run.problems(), Vec::<String>::new(), "a pass");
    assert_eq!(run.report.passed, 3);
    assert!(run.listed.is_empty(), "no list asked for after a result");
}

#[test]
fn a_hanging_binary_is_killed_at_its_deadline_and_the_hung_test_named() {
    let runner = sh_runner(
        LIST,
        "echo; echo 'running 3 tests'; echo 'test tests::quick ... ok'; \
         echo 'test tests::model ... ok'; sleep 60",
    );
    let started = Instant::now();
    let run =
        run_binary(&fake_binary(), &runner, Duration::from_millis(500), QUIET).expect("sh runs");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "killed at the deadline, took {:?}",
        started.elapsed()
    );
    assert_eq!(run.termination, Termination::TimedOut);
    assert_eq!(
        run.problems(),
        [
            "hang: test binary `vmlayer_riscv64` (lib) did not finish within 0.5 s; unfinished: \
             test `injected_hang::spins`"
        ]
    );
}

#[test]
fn a_binary_that_cannot_be_started_is_named() {
    let runner = ["/nonexistent/qemu-riscv64-static".to_owned()];
    let problem = run_binary(&fake_binary(), &runner, Duration::from_secs(5), QUIET)
        .expect_err("no such runner");
    assert!(
        problem.starts_with("test binary `vmlayer_riscv64` (lib) could not be run: ")
            && problem.contains("/nonexistent/qemu-riscv64-static"),
        "{problem}"
    );
}

#[test]
fn the_deadline_comes_from_the_environment_in_seconds() {
    assert_eq!(binary_deadline(None), Ok(DEFAULT_BINARY_DEADLINE));
    assert_eq!(binary_deadline(Some("45")), Ok(Duration::from_secs(45)));
    assert_eq!(binary_deadline(Some(" 7 ")), Ok(Duration::from_secs(7)));
    for wrong in ["0", "-3", "2m", ""] {
        let error = binary_deadline(Some(wrong)).expect_err(wrong);
        assert!(
            error.starts_with("XTASK_TEST_BINARY_DEADLINE=") && error.contains("positive whole"),
            "{error}"
        );
    }
}

#[test]
fn the_usage_states_the_default_deadline() {
    let default = format!(
        "XTASK_TEST_BINARY_DEADLINE seconds (default {})",
        DEFAULT_BINARY_DEADLINE.as_secs()
    );
    assert!(
        crate::cli::USAGE.replace('\n', " ").contains(&default),
        "usage text says `{default}`"
    );
}
