//! Helper: recurses until the stack runs into its guard area.

#![no_std]
#![no_main]

runtime::entry!(main);

fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 512]);
    if core::hint::black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1) + frame[511]
}

fn main(_args: runtime::Args) -> i32 {
    runtime::println!("fault-stack-overflow: reached {}", recurse(0));
    0
}
