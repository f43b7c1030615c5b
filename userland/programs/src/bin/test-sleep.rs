//! Sleeping blocks for the requested number of ticks, not much longer.

#![no_std]
#![no_main]

use runtime::{check, sys};

runtime::tests! {
    fn sleep_lasts_the_requested_ticks() {
        for ticks in [1u64, 5, 10] {
            let start = sys::clock().ticks;
            sys::sleep(ticks);
            let slept = sys::clock().ticks - start;
            check!(slept >= ticks && slept <= ticks + 3, "sleep({ticks}) took {slept} ticks");
        }
    }

    fn sleep_zero_returns_at_once() {
        let start = sys::clock().ticks;
        sys::sleep(0);
        check!(sys::clock().ticks <= start + 1);
    }

    fn a_sleeping_parent_lets_children_run() {
        let child = sys::spawn("bin/exit-code", &["5"]);
        check!(child.is_ok());
        sys::sleep(3);
        let status = sys::wait(child.unwrap_or(0));
        check!(matches!(status.map(|s| s.reason()), Ok(Some(abi::ExitReason::Exited(5)))));
    }
}
