//! Preemption: two processes that never yield both make progress.

#![no_std]
#![no_main]

use abi::ExitReason;
use runtime::{check, check_eq, sys};

runtime::tests! {
    fn two_busy_processes_run_concurrently() {
        let start = sys::clock().ticks;
        let first = sys::spawn("bin/spin", &["20"]);
        let second = sys::spawn("bin/spin", &["20"]);
        check!(first.is_ok() && second.is_ok());
        for pid in [first.unwrap_or(0), second.unwrap_or(0)] {
            let status = sys::wait(pid).map(|status| status.reason());
            check_eq!(status, Ok(Some(ExitReason::Exited(0))));
        }
        let elapsed = sys::clock().ticks - start;
        // Run one after the other they would take 40 ticks or more.
        check!(elapsed < 36, "two 20-tick spinners took {elapsed} ticks: they did not overlap");
    }

    fn a_busy_child_does_not_starve_its_parent() {
        let child = sys::spawn("bin/spin", &["15"]);
        check!(child.is_ok());
        let start = sys::clock().ticks;
        let mut rounds = 0;
        while sys::clock().ticks < start + 10 {
            rounds += 1;
            for _ in 0..1000 {
                core::hint::black_box(rounds);
            }
        }
        check!(rounds > 0);
        check!(sys::wait(child.unwrap_or(0)).is_ok());
    }
}
