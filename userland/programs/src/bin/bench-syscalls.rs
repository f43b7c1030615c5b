//! Benchmark for `cargo xtask bench syscalls`: null system call, `yield`
//! ping-pong context switch, and spawn+exit+wait, timed with the TSC.
//! Prints `bench <name> <iterations> <tsc cycles>` lines (see xtask's bench).

#![no_std]
#![no_main]

extern crate alloc;

use runtime::{println, sys};

const NULL_CALLS: u64 = 20_000;
const YIELD_ROUNDS: u64 = 2_000;
const SPAWNS: u64 = 50;

runtime::entry!(main);

fn main(_args: runtime::Args) -> i32 {
    println!("bench-tsc-hz {}", sys::clock().tsc_hz);

    let start = sys::tsc();
    for _ in 0..NULL_CALLS {
        core::hint::black_box(sys::getpid());
    }
    println!("bench null-syscall {NULL_CALLS} {}", sys::tsc() - start);

    let rounds = alloc::format!("{YIELD_ROUNDS}");
    let Ok(partner) = sys::spawn("bin/bench-yield", &[rounds.as_str()]) else { return 1 };
    // Let the partner start, so both loops run in lockstep.
    sys::yield_now();
    let start = sys::tsc();
    for _ in 0..YIELD_ROUNDS {
        sys::yield_now();
    }
    let elapsed = sys::tsc() - start;
    if sys::wait(partner).is_err() {
        return 1;
    }
    // Each round is two switches: to the partner and back.
    println!("bench yield-context-switch {} {elapsed}", 2 * YIELD_ROUNDS);

    let start = sys::tsc();
    for _ in 0..SPAWNS {
        let Ok(pid) = sys::spawn("bin/exit-code", &[]) else { return 1 };
        if sys::wait(pid).is_err() {
            return 1;
        }
    }
    println!("bench spawn-exit-wait {SPAWNS} {}", sys::tsc() - start);
    0
}
