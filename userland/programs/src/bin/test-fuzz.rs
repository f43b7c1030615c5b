//! The kernel survives a seeded system-call fuzzer (100,000 calls with
//! boundary arguments and faulting children) and gets every frame back.

#![no_std]
#![no_main]

use abi::ExitReason;
use runtime::{check, check_eq, println, sys};

/// Frames not accounted to user processes or the heap: what must return.
fn reclaimable(info: &abi::SystemInfo) -> (u64, u64) {
    // Cached program text is the text store's, given back on demand.
    (info.free_frames + info.kernel_heap_bytes / 4096 + info.text_cached_frames, info.user_frames - info.text_cached_frames)
}

runtime::tests! {
    fn the_kernel_survives_100000_random_calls_and_frees_everything() {
        // A short warm-up run lets kernel structures reach their steady size.
        check_eq!(sys::run("bin/fuzz", &["7", "2000"]), Ok(ExitReason::Exited(0)));
        let before = sys::system_info();
        check_eq!(sys::run("bin/fuzz", &["1", "100000"]), Ok(ExitReason::Exited(0)));
        let after = sys::system_info();
        println!("test-fuzz: before {before:?}");
        println!("test-fuzz: after  {after:?}");
        check_eq!(reclaimable(&after), reclaimable(&before), "frames leaked (free + heap pages, user frames)");
        check_eq!(after.processes, before.processes);
        check!(after.spawned > before.spawned, "the fuzzer spawned no children");
    }
}
