//! The user test harness: a test program is one file of test functions in
//! `runtime::tests! { ... }`. Each prints `utest <program>::<test> ... ok`
//! or `... FAILED: <why>`; the program ends with `<program>: N passed, M
//! failed` and reports the tally in its exit code so `init` can add it up.
//! Each result and the tally also go to the host as records (`test_report`,
//! `test_summary`: the kernel writes them under the program's name); a
//! report the kernel refuses is said on the console, and the test's outcome
//! stands.

use crate::{println, sys, Args};
use abi::record::Outcome;
use alloc::format;
use alloc::string::String;

/// Why a test failed.
#[derive(Debug)]
pub struct TestFailure {
    message: String,
    file: &'static str,
    line: u32,
}

impl TestFailure {
    /// A failure with a message and where it was detected.
    pub fn new(message: String, file: &'static str, line: u32) -> TestFailure {
        TestFailure { message, file, line }
    }
}

/// What a test returns.
pub type TestResult = Result<(), TestFailure>;

/// One test as `tests!` lists it: its name and its function.
pub type TestCase = (&'static str, fn() -> TestResult);

/// Set in every test program's exit code: a tally follows.
pub const TEST_EXIT_MAGIC: i32 = 0x4000_0000;
const FIELD_MAX: u32 = 0x7fff;

/// The exit code reporting `passed` and `failed` tests (each capped at 32767).
pub fn test_exit_code(passed: u32, failed: u32) -> i32 {
    TEST_EXIT_MAGIC | ((passed.min(FIELD_MAX) as i32) << 15) | failed.min(FIELD_MAX) as i32
}

/// The tally in a test program's exit code, if it carries one.
pub fn decode_test_exit_code(code: i32) -> Option<(u32, u32)> {
    if code < 0 || code & TEST_EXIT_MAGIC == 0 {
        return None;
    }
    let code = code as u32;
    Some(((code >> 15) & FIELD_MAX, code & FIELD_MAX))
}

/// Runs `tests` (name, function) in order; argument 1, if given, keeps only
/// tests whose name contains it. Returns the exit code.
pub fn run(args: Args, tests: &[TestCase]) -> i32 {
    let program = args.program_name();
    let filter = args.get(1).filter(|filter| !filter.is_empty());
    let (mut passed, mut failed) = (0u32, 0u32);
    for (name, test) in tests.iter().filter(|(name, _)| filter.is_none_or(|filter| name.contains(filter))) {
        let reported = match test() {
            Ok(()) => {
                passed += 1;
                println!("utest {program}::{name} ... ok");
                sys::test_report(name, Outcome::Passed)
            }
            Err(failure) => {
                failed += 1;
                let why = format!("{} at {}:{}", failure.message, failure.file, failure.line);
                println!("utest {program}::{name} ... FAILED: {why}");
                sys::test_report(name, Outcome::Failed(&why))
            }
        };
        if let Err(error) = reported {
            println!("utest {program}::{name}: not reported to the host: {error}");
        }
    }
    println!("{program}: {passed} passed, {failed} failed");
    if let Err(error) = sys::test_summary(passed.into(), failed.into()) {
        println!("utest {program}: tally not reported to the host: {error}");
    }
    test_exit_code(passed, failed)
}

/// Declares a test program: `tests! { fn name() { ... } ... }`.
#[macro_export]
macro_rules! tests {
    ($($(#[$attribute:meta])* fn $name:ident() $body:block)*) => {
        $(
            $(#[$attribute])*
            fn $name() -> $crate::TestResult {
                $body;
                #[allow(unreachable_code)]
                Ok(())
            }
        )*

        fn __runtime_tests_main(args: $crate::Args) -> i32 {
            let tests: &[$crate::harness::TestCase] = &[$((stringify!($name), $name)),*];
            $crate::harness::run(args, tests)
        }

        $crate::entry!(__runtime_tests_main);
    };
}

/// Fails the test unless `condition` holds.
#[macro_export]
macro_rules! check {
    ($condition:expr $(,)?) => {
        $crate::check!($condition, "check failed: {}", stringify!($condition))
    };
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err($crate::TestFailure::new($crate::format!($($message)+), file!(), line!()));
        }
    };
}

/// The value of a `Result`, or the test fails naming the expression and
/// the error.
#[macro_export]
macro_rules! take {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(error) => return Err($crate::TestFailure::new($crate::format!("{} failed: {:?}", stringify!($result), error), file!(), line!())),
        }
    };
}

/// Fails the test unless the two values are equal.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (left, right) => $crate::check!(
                *left == *right,
                "{} == {} failed: left {:?}, right {:?}",
                stringify!($left),
                stringify!($right),
                left,
                right
            ),
        }
    };
    ($left:expr, $right:expr, $($message:tt)+) => {
        match (&$left, &$right) {
            (left, right) => $crate::check!(*left == *right, $($message)+),
        }
    };
}

/// Fails the test if the two values are equal.
#[macro_export]
macro_rules! check_ne {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (left, right) => $crate::check!(*left != *right, "{} != {} failed: both {:?}", stringify!($left), stringify!($right), left),
        }
    };
    ($left:expr, $right:expr, $($message:tt)+) => {
        match (&$left, &$right) {
            (left, right) => $crate::check!(*left != *right, $($message)+),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_round_trip_through_exit_codes() {
        for (passed, failed) in [(0, 0), (1, 0), (0, 1), (12, 3), (32767, 32767)] {
            assert_eq!(decode_test_exit_code(test_exit_code(passed, failed)), Some((passed, failed)));
        }
        assert_eq!(decode_test_exit_code(test_exit_code(40_000, 1)), Some((32767, 1)));
    }

    fn failing_equality() -> TestResult {
        crate::check_eq!(1 + 1, 3, "sum was {}", 1 + 1);
        Ok(())
    }

    fn failing_condition() -> TestResult {
        crate::check!(2 < 1);
        Ok(())
    }

    fn passing_checks() -> TestResult {
        crate::check!(1 < 2, "never shown");
        crate::check_eq!("a", "a");
        crate::check_ne!(1, 2);
        crate::check_ne!(1, 2, "never shown");
        Ok(())
    }

    #[test]
    fn checks_fail_with_their_message_and_location() {
        let failure = failing_equality().unwrap_err();
        assert_eq!(failure.message, "sum was 2");
        assert!(failure.file.ends_with("harness.rs"));
        assert!(failure.line > 0);
        let failure = failing_condition().unwrap_err();
        assert_eq!(failure.message, "check failed: 2 < 1");
        assert!(passing_checks().is_ok());
    }

    #[test]
    fn run_reports_the_tally_in_the_exit_code() {
        let tests: &[TestCase] = &[("passes", passing_checks), ("fails", failing_condition), ("also_fails", failing_equality)];
        assert_eq!(decode_test_exit_code(run(Args::empty(), tests)), Some((1, 2)));
    }

    #[test]
    fn plain_exit_codes_carry_no_tally() {
        for code in [0, 1, 42, 101, -1, i32::MIN] {
            assert_eq!(decode_test_exit_code(code), None, "{code}");
        }
    }
}
