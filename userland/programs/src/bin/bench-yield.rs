//! Helper for the benchmark: yields N times (first argument), then exits.

#![no_std]
#![no_main]

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let rounds: u64 = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(0);
    for _ in 0..rounds {
        runtime::sys::yield_now();
    }
    0
}
