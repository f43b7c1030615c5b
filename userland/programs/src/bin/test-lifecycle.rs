//! Spawning and reaping 500 processes leaves nothing behind.

#![no_std]
#![no_main]

use abi::ExitReason;
use runtime::{check, check_eq, println, sys};

fn reclaimable(info: &abi::SystemInfo) -> (u64, u64) {
    // Cached program text is the text store's, given back on demand.
    (info.free_frames + info.kernel_heap_bytes / 4096 + info.text_cached_frames, info.user_frames - info.text_cached_frames)
}

/// Spawns `count` children, `batch` at a time, and reaps each batch.
fn churn(count: u64, batch: u64) -> Result<(), runtime::TestFailure> {
    let mut done = 0;
    while done < count {
        let this_batch = batch.min(count - done);
        for index in 0..this_batch {
            let code = ["0", "1", "2", "3"][((done + index) % 4) as usize];
            check!(sys::spawn("bin/exit-code", &[code]).is_ok(), "spawn {} failed", done + index);
        }
        for _ in 0..this_batch {
            let status = sys::wait(0);
            check!(matches!(status.map(|s| s.reason()), Ok(Some(ExitReason::Exited(0..=3)))), "{status:?}");
        }
        done += this_batch;
    }
    Ok(())
}

runtime::tests! {
    fn five_hundred_processes_come_and_go_without_leaks() {
        churn(16, 8)?;
        let before = sys::system_info();
        churn(500, 8)?;
        let after = sys::system_info();
        println!("test-lifecycle: {} spawned; frames free {} -> {}", after.spawned - before.spawned, before.free_frames, after.free_frames);
        check_eq!(after.spawned - before.spawned, 500);
        check_eq!(reclaimable(&after), reclaimable(&before));
        check_eq!(after.processes, before.processes);
        check_eq!(after.tasks, before.tasks);
    }

    fn orphans_are_reaped_by_the_kernel() {
        churn(4, 2)?;
        let before = sys::system_info();
        for _ in 0..5 {
            check_eq!(sys::run("bin/orphan-maker", &["3"]), Ok(ExitReason::Exited(0)));
        }
        // The orphans spin for 3 ticks each; give them time to finish.
        sys::sleep(20);
        let after = sys::system_info();
        check_eq!(after.spawned - before.spawned, 10);
        check_eq!(after.processes, before.processes, "orphans left in the process table");
        check_eq!(reclaimable(&after), reclaimable(&before));
    }
}
