//! The in-kernel test harness.
//!
//! Tests are functions marked `#[ktest]`; the attribute places a [`Ktest`]
//! record in a linker-assembled slice, so a test is registered where it is
//! written. In test mode the kernel runs them in name order and prints one
//! line per test, `ktest <module>::<name> ... ok` or `... FAILED: <why>`,
//! then `N passed, M failed`, and exits QEMU with the verdict. A panic inside
//! a test is reported as that test's failure before the run ends. Each
//! line has its record for the host (`crate::record`): a `TestResult` per
//! test and a closing `TestSummary`, of the kernel's suite.

use crate::arch::qemu::{self, ExitCode};
use crate::kprintln;
use crate::record::{self, FixedText};
use abi::record::{Outcome, Record, Suite, TestResult, TestSummary};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write as _};
use core::sync::atomic::{AtomicUsize, Ordering};

pub use kernel_macros::ktest;

/// A registered test.
#[derive(Debug)]
pub struct Ktest {
    /// `module_path!()` where the test is written.
    pub module: &'static str,
    /// The function name.
    pub name: &'static str,
    /// Runs only when selected by its exact name.
    pub manual: bool,
    /// The test body.
    pub run: fn() -> Result,
}

/// Every test in the kernel, gathered by the linker (linkme uses a link
/// section, which the `unsafe_code` lint flags).
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static KTESTS: [Ktest];

/// Why a test failed.
#[derive(Debug, Clone)]
pub struct Failure {
    message: String,
    file: &'static str,
    line: u32,
}

impl Failure {
    /// A failure with a message and the location that detected it.
    pub fn new(message: String, file: &'static str, line: u32) -> Failure {
        Failure { message, file, line }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}:{}", self.message, self.file, self.line)
    }
}

/// The result of a test.
pub type Result = core::result::Result<(), Failure>;

/// Fails the test with a formatted message unless `condition` holds.
#[macro_export]
macro_rules! ensure {
    ($condition:expr $(,)?) => {
        $crate::ensure!($condition, "condition failed: {}", stringify!($condition))
    };
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err($crate::ktest::Failure::new(alloc::format!($($message)+), file!(), line!()));
        }
    };
}

/// Fails the test unless the two values are equal, showing both.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (left, right) => $crate::ensure!(
                *left == *right,
                "{} == {} failed: left {:?}, right {:?}",
                stringify!($left),
                stringify!($right),
                left,
                right
            ),
        }
    };
}

/// A test's display name: its module path without the crate name and a
/// trailing `ktests` test module, then the function name. Formatting it does
/// not allocate, so the panic handler can use it.
pub struct TestName<'a>(&'a Ktest);

impl fmt::Display for TestName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let module = self.0.module.strip_prefix("kernel::").unwrap_or(self.0.module);
        let module = module.strip_suffix("::ktests").unwrap_or(module);
        match module {
            "kernel" | "ktests" => f.write_str(self.0.name),
            _ => write!(f, "{module}::{}", self.0.name),
        }
    }
}

/// The full display name of a test, as a string.
pub fn full_name(test: &Ktest) -> String {
    alloc::format!("{}", TestName(test))
}

/// Tests selected by `filter`: every non-manual test whose full name starts
/// with it, plus a manual test named exactly.
pub fn select(filter: Option<&str>) -> Vec<(String, &'static Ktest)> {
    let mut tests: Vec<_> = KTESTS
        .iter()
        .map(|test| (full_name(test), test))
        .filter(|(name, test)| match filter {
            None => !test.manual,
            Some(filter) => name == filter || (!test.manual && name.starts_with(filter)),
        })
        .collect();
    tests.sort_by(|a, b| a.0.cmp(&b.0));
    tests
}

/// Index into `KTESTS` of the running test, plus one (0: none running).
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PASSED: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);

/// Runs the selected tests and exits QEMU with the verdict.
pub fn run(filter: Option<&str>) -> ! {
    let tests = select(filter);
    kprintln!("ktest running {} tests (filter: {})", tests.len(), filter.unwrap_or("none"));
    if tests.is_empty() {
        kprintln!("ktest no test matches `{}`", filter.unwrap_or(""));
        record::write(&Record::TestResult(TestResult {
            suite: Suite::Kernel,
            name: filter.unwrap_or(""),
            outcome: Outcome::Failed("no test matches this filter"),
        }));
        kprintln!("0 passed, 1 failed");
        record::write(&summary(0, 1));
        qemu::exit(ExitCode::Failure);
    }
    for (name, test) in &tests {
        let index = KTESTS.iter().position(|entry| core::ptr::eq(entry, *test)).unwrap_or(usize::MAX - 1);
        CURRENT.store(index + 1, Ordering::SeqCst);
        let outcome = (test.run)();
        CURRENT.store(0, Ordering::SeqCst);
        let message = match outcome {
            Ok(()) => {
                PASSED.fetch_add(1, Ordering::SeqCst);
                kprintln!("ktest {name} ... ok");
                None
            }
            Err(failure) => {
                FAILED.fetch_add(1, Ordering::SeqCst);
                kprintln!("ktest {name} ... FAILED: {failure}");
                Some(failure.to_string())
            }
        };
        let outcome = message.as_deref().map_or(Outcome::Passed, Outcome::Failed);
        record::write(&Record::TestResult(TestResult { suite: Suite::Kernel, name: name.as_str(), outcome }));
    }
    let (passed, failed) = (PASSED.load(Ordering::SeqCst), FAILED.load(Ordering::SeqCst));
    kprintln!("{passed} passed, {failed} failed");
    record::write(&summary(passed, failed));
    qemu::exit(if failed == 0 { ExitCode::Success } else { ExitCode::Failure })
}

/// Called by the panic handler: if a test was running, reports it as failed
/// and prints the closing tally. Returns whether a test was running.
pub fn report_panic(info: &core::panic::PanicInfo<'_>) -> bool {
    let Some(test) = CURRENT.load(Ordering::SeqCst).checked_sub(1).and_then(|index| KTESTS.get(index)) else {
        return false;
    };
    let name = TestName(test);
    let (passed, failed) = (PASSED.load(Ordering::SeqCst), FAILED.load(Ordering::SeqCst) + 1);
    crate::logger::fatal(format_args!(
        "ktest {name} ... FAILED: panicked: {}\nktest aborting: a panic ends the run\n{passed} passed, {failed} failed\n",
        info.message()
    ));
    // The heap may be what panicked: the record's text is formatted on the stack.
    let (mut full_name, mut message) = (FixedText::<256>::new(), FixedText::<1024>::new());
    let _ = write!(full_name, "{name}");
    let _ = write!(message, "panicked: {}", info.message());
    let outcome = Outcome::Failed(message.as_str());
    record::write_fatal(&Record::TestResult(TestResult { suite: Suite::Kernel, name: full_name.as_str(), outcome }));
    record::write_fatal(&summary(passed, failed));
    true
}

/// The kernel suite's closing record.
fn summary(passed: usize, failed: usize) -> Record<&'static str> {
    Record::TestSummary(TestSummary { suite: Suite::Kernel, passed: passed as u64, failed: failed as u64 })
}

#[cfg(target_os = "none")]
mod ktests {
    use super::*;

    #[ktest]
    fn names_strip_crate_and_test_module() {
        let test = Ktest { module: "kernel::mm::frame::ktests", name: "alloc", manual: false, run: || Ok(()) };
        crate::ensure_eq!(full_name(&test), "mm::frame::alloc");
    }

    #[ktest]
    fn registry_is_populated_and_names_are_unique() {
        let all = select(Some(""));
        crate::ensure!(all.len() >= 20, "only {} tests registered", all.len());
        for pair in all.windows(2) {
            crate::ensure!(pair[0].0 != pair[1].0, "duplicate test name {}", pair[0].0);
        }
    }

    #[ktest]
    fn manual_tests_run_only_by_exact_name() {
        let default = select(None);
        crate::ensure!(default.iter().all(|(_, test)| !test.manual));
        let exact = select(Some("ktest::deliberately_fails"));
        crate::ensure_eq!(exact.len(), 1);
        crate::ensure!(select(Some("ktest::")).iter().all(|(_, test)| !test.manual));
    }

    /// Checks the harness: selecting this test must make the run fail.
    #[ktest(manual)]
    fn deliberately_fails() {
        crate::ensure_eq!(1 + 1, 3);
    }

    /// Checks the panic path: selecting this test must report it and fail.
    #[ktest(manual)]
    fn deliberately_panics() {
        panic!("this test panics on purpose");
    }
}
