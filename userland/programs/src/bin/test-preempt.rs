//! Preemption: processes that never yield still share the processor.

#![no_std]
#![no_main]

use abi::ExitReason;
use runtime::{check, check_eq, sys};

/// Clock ticks each spinner busy-loops for, and the same as its argument.
const SPIN_TICKS: u64 = 30;
const SPIN_TICKS_ARGUMENT: &str = "30";

runtime::tests! {
    fn two_busy_processes_run_concurrently() {
        let before_spawning = sys::clock().ticks;
        let first = sys::spawn("bin/spin", &[SPIN_TICKS_ARGUMENT]);
        let second = sys::spawn("bin/spin", &[SPIN_TICKS_ARGUMENT]);
        // Measured from here, the time spent loading the programs does not count.
        let start = sys::clock().ticks;
        check!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
        for pid in [first.unwrap_or(0), second.unwrap_or(0)] {
            let status = sys::wait(pid).map(|status| status.reason());
            check_eq!(status, Ok(Some(ExitReason::Exited(0))));
        }
        let end = sys::clock().ticks;
        check!(end - before_spawning >= SPIN_TICKS, "{SPIN_TICKS}-tick spinners ended after {} ticks", end - before_spawning);
        // One after the other they would take 2 * SPIN_TICKS or more;
        // overlapping, a little over SPIN_TICKS. The margin absorbs slow starts.
        let elapsed = end - start;
        check!(
            elapsed < 2 * SPIN_TICKS - 10,
            "two {SPIN_TICKS}-tick spinners took {elapsed} ticks: they did not overlap"
        );
    }

    fn a_busy_parent_and_a_busy_child_overlap() {
        let child = sys::spawn("bin/spin", &["15"]);
        let start = sys::clock().ticks;
        check!(child.is_ok(), "{child:?}");
        // The parent spins too, without yielding, for 10 ticks.
        let mut rounds = 0u64;
        while sys::clock().ticks < start + 10 {
            rounds = core::hint::black_box(rounds + 1);
        }
        check!(rounds > 0);
        check_eq!(sys::wait(child.unwrap_or(0)).map(|status| status.reason()), Ok(Some(ExitReason::Exited(0))));
        let elapsed = sys::clock().ticks - start;
        // In turns this takes 10 + 15 ticks or more; overlapping, about 15.
        check!(elapsed < 22, "a 10-tick parent and a 15-tick child took {elapsed} ticks: they did not overlap");
    }
}
