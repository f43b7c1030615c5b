//! Prints its pid and arguments (argv[0], its path, included), then exits 0.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use runtime::{println, sys, Args};

runtime::entry!(main);

fn main(args: Args) -> i32 {
    println!("hello from pid {}", sys::getpid());
    println!("argv: {}", args.collect::<Vec<_>>().join(" "));
    0
}
