//! The first process. `init` (no argument) runs the demo: `bin/hello`.
//! `init test` runs every test program listed in `boot/tests`, adds up the
//! tallies they report in their exit codes, and prints `N passed, M failed`.

#![no_std]
#![no_main]

extern crate alloc;

use abi::ExitReason;
use alloc::string::String;
use runtime::{println, sys, Args};

runtime::entry!(main);

fn main(args: Args) -> i32 {
    match args.get(1) {
        Some("test") => run_tests(),
        _ => demo(),
    }
}

fn demo() -> i32 {
    println!("init: running pid {}", sys::getpid());
    let status = sys::spawn("bin/hello", &["from", "init"]).and_then(sys::wait);
    match status.map(|status| status.reason()) {
        Ok(Some(ExitReason::Exited(code))) => {
            println!("init: hello exited with {code}");
            code
        }
        other => {
            println!("init: hello failed: {other:?}");
            1
        }
    }
}

fn run_tests() -> i32 {
    let list = match sys::read_whole_file("boot/tests") {
        Ok(bytes) => String::from_utf8(bytes).unwrap_or_default(),
        Err(error) => {
            println!("init: cannot read boot/tests: {error}");
            println!("0 passed, 1 failed");
            return 1;
        }
    };
    let (mut passed, mut failed, mut programs) = (0u32, 0u32, 0u32);
    for program in list.lines().map(str::trim).filter(|line| !line.is_empty()) {
        programs += 1;
        let status = sys::spawn(program, &[]).and_then(sys::wait);
        match status.map(|status| status.reason()) {
            Ok(Some(ExitReason::Exited(code))) => match runtime::decode_test_exit_code(code) {
                Some((p, f)) => {
                    passed += p;
                    failed += f;
                }
                None => {
                    println!("init: {program} exited with {code} without a test tally");
                    failed += 1;
                }
            },
            Ok(Some(ExitReason::Faulted { kind, address })) => {
                println!("init: {program} died: fault {kind} at {address:#x}");
                failed += 1;
            }
            other => {
                println!("init: {program} could not run: {other:?}");
                failed += 1;
            }
        }
    }
    println!("init: ran {programs} test programs");
    println!("{passed} passed, {failed} failed");
    if failed == 0 && programs > 0 { 0 } else { 1 }
}
