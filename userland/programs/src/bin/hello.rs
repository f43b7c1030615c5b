//! Prints its pid and arguments.

#![no_std]
#![no_main]

use runtime::{println, sys, Args};

runtime::entry!(main);

fn main(args: Args) -> i32 {
    println!("hello from pid {}", sys::getpid());
    let mut line = alloc::string::String::new();
    for (index, argument) in args.iter().enumerate() {
        if index > 0 {
            line.push(' ');
        }
        line.push_str(argument);
    }
    println!("argv: {line}");
    0
}

extern crate alloc;
