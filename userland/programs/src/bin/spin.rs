//! Helper: busy-loops (never yielding) for N timer ticks (first argument,
//! default 30), then exits 0.

#![no_std]
#![no_main]

use runtime::sys;

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let ticks: u64 = args.get(1).and_then(|t| t.parse().ok()).unwrap_or(30);
    let start = sys::clock().ticks;
    let mut spins = 0u64;
    while sys::clock().ticks < start + ticks {
        for _ in 0..1000 {
            spins = core::hint::black_box(spins + 1);
        }
    }
    0
}
