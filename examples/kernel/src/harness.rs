//! The neutral test harness: prints `test NAME ... ok` / `test NAME ... FAILED`, then
//! `N passed, M failed`. The run succeeds only when nothing failed **and** the number of passed
//! cases equals the expected number, so a suite that stops early can never pass.

use alloc::string::String;

use crate::{print, println};

/// A test case: a name and a function returning a failure message.
pub(crate) struct TestCase {
    /// Printed after `test `.
    pub(crate) name: &'static str,
    /// The body; `Err` carries what went wrong.
    pub(crate) run: fn() -> Result<(), String>,
}

/// The result of a whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Cases that passed.
    pub(crate) passed: usize,
    /// Cases that failed.
    pub(crate) failed: usize,
    /// Cases the suite declares.
    pub(crate) expected: usize,
}

impl Outcome {
    /// Success means every declared case ran and passed.
    pub(crate) fn is_success(&self) -> bool {
        self.failed == 0 && self.passed == self.expected
    }
}

/// Runs `cases` in order; `expected` is the number of cases the suite must have.
/// Lines a case reports (figures it measured), printed indented after its verdict line so that
/// `test NAME ... ok` stays one line.
static NOTES: crate::global_cell::GlobalCell<alloc::vec::Vec<String>> =
    crate::global_cell::GlobalCell::new(alloc::vec::Vec::new());

/// Adds a line to the running case's report.
pub(crate) fn note(line: String) {
    NOTES.with(|notes| notes.push(line));
}

/// Prints and forgets the running case's notes.
fn print_notes() {
    for line in NOTES.with(core::mem::take) {
        println!("    {line}");
    }
}

pub(crate) fn run(cases: &[&TestCase], expected: usize) -> Outcome {
    println!("running {} tests", cases.len());
    let mut outcome = Outcome {
        passed: 0,
        failed: 0,
        expected,
    };
    for case in cases {
        // The name goes out first: a case that hangs or kills the kernel is left visibly
        // unfinished on the console (`test NAME ... kernel trap: ...`).
        print!("test {} ... ", case.name);
        match (case.run)() {
            Ok(()) => {
                println!("ok");
                print_notes();
                outcome.passed += 1;
            }
            Err(message) => {
                println!("FAILED");
                println!("    {message}");
                print_notes();
                outcome.failed += 1;
            }
        }
    }
    println!("{} passed, {} failed", outcome.passed, outcome.failed);
    if outcome.passed + outcome.failed != expected {
        println!(
            "error: {} cases ran but the suite declares {expected}",
            outcome.passed + outcome.failed
        );
    }
    outcome
}

/// Fails the enclosing test (returns `Err(String)`) unless `left == right`.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($context:tt)+) => {
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    return Err(alloc::format!(
                        "{}:{}: {}: {:x?} != {:x?}",
                        file!(),
                        line!(),
                        format_args!($($context)+),
                        left,
                        right
                    ));
                }
            }
        }
    };
}

/// Fails the enclosing test with a message unless `result` is `Ok`, else yields the value.
#[macro_export]
macro_rules! ensure_ok {
    ($result:expr, $($context:tt)+) => {
        match $result {
            Ok(value) => value,
            Err(error) => {
                return Err(alloc::format!(
                    "{}:{}: {}: {:x?}",
                    file!(),
                    line!(),
                    format_args!($($context)+),
                    error
                ))
            }
        }
    };
}

/// Fails the enclosing test with a message unless `condition` holds.
#[macro_export]
macro_rules! ensure {
    ($condition:expr, $($context:tt)+) => {
        if !$condition {
            return Err(alloc::format!(
                "{}:{}: {}",
                file!(),
                line!(),
                format_args!($($context)+)
            ));
        }
    };
}
