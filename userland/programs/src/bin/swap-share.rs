//! Helper for the global-budget test: `swap-share PAGES...` starts one
//! `swap-pattern PAGES 0` per argument, all at once (no budget of their
//! own: only the system's), waits for every one, and exits 0 if all of them
//! got every byte back, 1 if one did not, 2 on bad arguments or a failed
//! start. Under `mem-budget=` smaller than their sum they take pages from
//! each other: the largest gives pages up.

#![no_std]
#![no_main]

extern crate alloc;

use abi::ExitReason;
use alloc::vec::Vec;
use runtime::{println, sys};

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let sizes: Vec<&str> = (1..args.len()).filter_map(|index| args.get(index)).collect();
    if sizes.is_empty() || sizes.iter().any(|size| size.parse::<u64>().is_err()) {
        println!("usage: swap-share PAGES...");
        return 2;
    }
    let mut children = Vec::new();
    for size in &sizes {
        match sys::spawn("bin/swap-pattern", &[size, "0"]) {
            Ok(pid) => children.push(pid),
            Err(error) => {
                println!("swap-share: starting swap-pattern {size}: {error:?}");
                return 2;
            }
        }
    }
    let mut failed = 0;
    for pid in children {
        let reason = sys::wait(pid).ok().and_then(|status| status.reason());
        if reason != Some(ExitReason::Exited(0)) {
            println!("swap-share: pid {pid} ended {reason:?}");
            failed += 1;
        }
    }
    println!("swap-share: {} processes, {failed} failed", sizes.len());
    if failed == 0 { 0 } else { 1 }
}
