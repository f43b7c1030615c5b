//! The first process. `init` (or `init run`) runs the demos: `bin/hello`,
//! then `bin/partition-demo` (a process printing its own partition table).
//! `init test` runs every test program listed in `boot/tests`, adds up the
//! tallies they report in their exit codes, prints `N passed, M failed`,
//! and exits 0 only if nothing failed; the tally and each program that
//! died also go to the host as records of `init`'s suite (`abi::record`). `init model FILE [PROGRAM ARGS...]`
//! puts the ramdisk's model `FILE` in service for the `pae` policy (the
//! system call only `init` may make), then runs `PROGRAM` if one is named
//! and exits as it did; if the kernel refused the model, the program runs
//! under the model already in service and `init` exits 1.
//!
//! Every program `init` starts gets, as its startup handle 0, a send
//! handle to an endpoint `init` receives on (its parent). `init` takes the
//! messages waiting there after each program ends (closing any handles
//! they carry): nobody is answered, so a child may send, never call.

#![no_std]
#![no_main]

extern crate alloc;

use abi::record::Outcome;
use abi::ExitReason;
use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use runtime::ipc::{self, Handle};
use runtime::{println, sys, Args};

/// The ramdisk file listing the test programs, one path a line.
const TEST_LIST: &str = "boot/tests";

runtime::entry!(main);

fn main(args: Args) -> i32 {
    match args.get(1) {
        None | Some("run") => demo(),
        Some("test") => run_tests(args.get(2)),
        Some("model") => match args.get(2) {
            Some(path) => swap_model(path, &args),
            None => {
                println!("init: `model` needs a model file: init model FILE [PROGRAM ARGS...]");
                1
            }
        },
        Some(other) => {
            println!("init: unknown mode `{other}` (expected `run`, `test` or `model`)");
            1
        }
    }
}

/// Runs `bin/hello from init`, then `bin/partition-demo` and
/// `bin/share-demo`, and reports how they ended.
fn demo() -> i32 {
    println!("init: running as pid {}", sys::getpid());
    let mut failures = 0;
    for (path, arguments) in [("bin/hello", &["from", "init"][..]), ("bin/partition-demo", &[][..]), ("bin/share-demo", &[][..])] {
        let name = path.trim_start_matches("bin/");
        match run(path, arguments) {
            Ok(ExitReason::Exited(code)) => {
                println!("init: {name} exited with {code}");
                failures += u32::from(code != 0);
            }
            Ok(ExitReason::Faulted { kind, address }) => {
                println!("init: {name} died: fault {kind} at {address:#x}");
                failures += 1;
            }
            Err(error) => {
                println!("init: cannot run {path}: {error}");
                failures += 1;
            }
        }
    }
    i32::from(failures > 0)
}

/// Puts the model at `path` in service, then runs the program after it in
/// `args` (if any) with the arguments after that.
fn swap_model(path: &str, args: &Args) -> i32 {
    let refused = match sys::read_whole_file(path) {
        Err(error) => {
            println!("init: cannot read {path}: {error}");
            true
        }
        Ok(bytes) => match sys::pae_model_set(&bytes) {
            Ok(()) => {
                println!("init: model {path} in service ({} bytes)", bytes.len());
                false
            }
            Err(error) => {
                println!("init: model {path} refused: {error}; the model in service stays");
                true
            }
        },
    };
    let Some(program) = args.get(3) else { return i32::from(refused) };
    let arguments: alloc::vec::Vec<&str> = (4..args.len()).filter_map(|index| args.get(index)).collect();
    match run(program, &arguments) {
        Ok(ExitReason::Exited(code)) if refused => {
            println!("init: {program} exited with {code}");
            1
        }
        Ok(ExitReason::Exited(code)) => code,
        Ok(ExitReason::Faulted { kind, address }) => {
            println!("init: {program} died: fault {kind} at {address:#x}");
            1
        }
        Err(error) => {
            println!("init: cannot run {program}: {error}");
            1
        }
    }
}

/// Runs the test programs in `boot/tests` in order (only those whose
/// path contains `only`, if given: `init test share`) and adds up their
/// tallies.
fn run_tests(only: Option<&str>) -> i32 {
    let list = match sys::read_whole_file(TEST_LIST) {
        Ok(bytes) => String::from_utf8(bytes),
        Err(error) => {
            println!("init: cannot read {TEST_LIST}: {error}");
            report(TEST_LIST, &format!("cannot be read: {error}"));
            println!("init: ran 0 test programs");
            println!("0 passed, 1 failed");
            return summary(0, 1);
        }
    };
    let Ok(list) = list else {
        println!("init: {TEST_LIST} is not UTF-8");
        report(TEST_LIST, "is not UTF-8");
        println!("init: ran 0 test programs");
        println!("0 passed, 1 failed");
        return summary(0, 1);
    };
    let (mut passed, mut failed, mut programs) = (0u32, 0u32, 0u32);
    for program in list.lines().map(str::trim).filter(|line| !line.is_empty() && only.is_none_or(|only| line.contains(only))) {
        programs += 1;
        let death = match run(program, &[]) {
            Ok(ExitReason::Exited(code)) => match runtime::decode_test_exit_code(code) {
                Some((program_passed, program_failed)) => {
                    passed = passed.saturating_add(program_passed);
                    failed = failed.saturating_add(program_failed);
                    None
                }
                None => Some(format!("exited with {code}, which carries no test tally")),
            },
            Ok(ExitReason::Faulted { kind, address }) => Some(format!("fault {kind} at {address:#x}")),
            Err(error) => Some(format!("could not start: {error}")),
        };
        if let Some(reason) = death {
            println!("init: {program} died: {reason}");
            report(program, &format!("died: {reason}"));
            failed = failed.saturating_add(1);
        }
    }
    if programs == 0 {
        // An empty list means the build packed no tests: that is a failure.
        println!("init: {TEST_LIST} lists no test programs");
        report(TEST_LIST, "lists no test programs");
        failed = failed.saturating_add(1);
    }
    println!("init: ran {programs} test programs");
    println!("{passed} passed, {failed} failed");
    summary(passed, failed)
}

/// Reports a failure of `init`'s own suite to the host: `what` (a test
/// program, the list) failed with `why`.
fn report(what: &str, why: &str) {
    if let Err(error) = sys::test_report(what, Outcome::Failed(why)) {
        println!("init: {what}: failure not reported to the host: {error}");
    }
}

/// Reports the closing tally to the host and returns the exit code.
fn summary(passed: u32, failed: u32) -> i32 {
    if let Err(error) = sys::test_summary(passed.into(), failed.into()) {
        println!("init: tally not reported to the host: {error}");
    }
    if failed == 0 { 0 } else { 1 }
}

/// The rights of the handle to `init` each child starts with.
const PARENT_RIGHTS: abi::HandleRights =
    abi::HandleRights::SEND.union(abi::HandleRights::TRANSFER).union(abi::HandleRights::DUPLICATE);

/// The endpoint children send to `init` on (made on first use; 0: not
/// yet, `u64::MAX`: none could be made).
static PARENT: AtomicU64 = AtomicU64::new(0);

/// Runs `path` with `arguments` like `sys::run`, with a send handle to
/// `init` as its startup handle 0, then takes what it sent.
fn run(path: &str, arguments: &[&str]) -> Result<ExitReason, abi::Error> {
    if PARENT.load(Ordering::Relaxed) == 0 {
        let made = ipc::endpoint_create().unwrap_or_else(|error| {
            println!("init: no endpoint for children: {error}");
            Handle(u64::MAX)
        });
        PARENT.store(made.raw(), Ordering::Relaxed);
    }
    let parent = Some(Handle(PARENT.load(Ordering::Relaxed))).filter(|handle| handle.raw() != u64::MAX);
    let handles: alloc::vec::Vec<_> = parent.map(|endpoint| ipc::duplicated(endpoint, PARENT_RIGHTS)).into_iter().collect();
    let pid = ipc::spawn_with_handles(path, arguments, 0, &handles)?;
    let status = sys::wait(pid)?;
    if let Some(endpoint) = parent {
        while let Ok(message) = ipc::try_receive(endpoint) {
            for handle in message.received_handles() {
                let _ = Handle(handle.handle).close();
            }
        }
    }
    status.reason().ok_or(abi::Error::InvalidArgument)
}
