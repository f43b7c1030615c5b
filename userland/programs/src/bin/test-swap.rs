//! Swap and memory budgets from user space: a process writing four times
//! its budget gets every byte back; a process that needs a frame when the
//! swap device is full is killed for it alone; a page whose copy on the
//! device is corrupt or cannot be read kills its process alone
//! (`swap-lost`), and the slot is quarantined; budgets are checked. (The
//! user tests boot with `swap-debug=on` for the fault injection.)

#![no_std]
#![no_main]

extern crate alloc;

use abi::{Error, ExitReason, FaultKind};
use alloc::string::ToString;
use runtime::{check, check_eq, sys};

/// The budget the pattern runs use, in pages.
const BUDGET: u64 = 32;

runtime::tests! {
    fn every_byte_of_four_times_the_budget_comes_back() {
        let info = sys::system_info();
        check!(info.swap_slots >= 4 * BUDGET, "a swap device of at least {} pages (has {})", 4 * BUDGET, info.swap_slots);
        let pages = (4 * BUDGET).to_string();
        let budget = BUDGET.to_string();
        check_eq!(sys::run("bin/swap-pattern", &[&pages, &budget]), Ok(ExitReason::Exited(0)), "no byte differs");
        check_eq!(sys::system_info().swap_used, info.swap_used, "its slots came back when it ended");
    }

    fn a_full_swap_device_kills_only_the_process_that_needs_a_frame() {
        let info = sys::system_info();
        let free = info.swap_slots - info.swap_used - info.swap_quarantined;
        // More than the budget plus every free slot: some page has nowhere to go.
        let pages = (BUDGET + free + 8).to_string();
        let budget = BUDGET.to_string();
        let reason = sys::run("bin/swap-pattern", &[&pages, &budget]);
        check!(matches!(reason, Ok(ExitReason::Faulted { kind: FaultKind::OutOfMemory, .. })), "got {reason:?}");
        check_eq!(sys::system_info().swap_used, info.swap_used, "its slots came back");
        // The system goes on: the same run within the device's size works.
        let pages = (2 * BUDGET).to_string();
        check_eq!(sys::run("bin/swap-pattern", &[&pages, &budget]), Ok(ExitReason::Exited(0)));
    }

    fn a_corrupt_or_unreadable_page_kills_only_its_process() {
        for (mode, what) in [("corrupt", "a flipped bit"), ("fail", "a failing read")] {
            let before = sys::system_info();
            let reason = sys::run("bin/swap-victim", &[mode]);
            check!(matches!(reason, Ok(ExitReason::Faulted { kind: FaultKind::SwapLost, .. })), "{what}: got {reason:?}");
            let after = sys::system_info();
            check_eq!(after.swap_quarantined, before.swap_quarantined + 1, "{what}: the slot is out of service");
            check_eq!(after.swap_used, before.swap_used, "{what}: every other slot came back");
        }
        // And the system swaps on.
        let pages = (2 * BUDGET).to_string();
        check_eq!(sys::run("bin/swap-pattern", &[&pages, &BUDGET.to_string()]), Ok(ExitReason::Exited(0)));
    }

    fn a_child_spawned_with_a_budget_keeps_it_from_its_first_page() {
        let info = sys::system_info();
        let pages = (4 * BUDGET).to_string();
        // swap-pattern without a budget argument runs under the one it was
        // spawned with, exits 2 if it has none and 3 if it ever held more.
        check_eq!(sys::run_with_budget("bin/swap-pattern", &[&pages], BUDGET), Ok(ExitReason::Exited(0)), "no byte differs, never over");
        check_eq!(sys::run("bin/swap-pattern", &[&pages]), Ok(ExitReason::Exited(2)), "no budget without one");
        check_eq!(sys::system_info().swap_used, info.swap_used, "its slots came back when it ended");
        check_eq!(sys::spawn_with_budget("bin/hello", &[], abi::MIN_MEMORY_BUDGET - 1), Err(Error::InvalidArgument));
        check_eq!(sys::spawn_with_budget("bin/hello", &[], abi::MAX_MEMORY_BUDGET + 1), Err(Error::InvalidArgument));
        check_eq!(sys::memory_counters().budget, 0, "the parent's own budget is untouched");
    }

    fn swap_io_is_timed_per_process() {
        let pages = 2 * BUDGET;
        let partition = sys::partition_create(pages * 4096, abi::PartitionKind::Heap, abi::Rights::READ | abi::Rights::WRITE);
        let partition = partition.map_err(|error| runtime::TestFailure::new(alloc::format!("{error:?}"), file!(), line!()))?;
        let before = sys::memory_counters();
        check_eq!(sys::memory_budget(BUDGET / 2), Ok(0));
        for page in 0..pages {
            // SAFETY: inside the read-write partition just created, aligned.
            unsafe { ((partition.base + page * 4096) as *mut u64).write_volatile(page + 1) };
        }
        let mut differ = 0;
        for page in 0..pages {
            // SAFETY: as above.
            differ += u64::from(unsafe { ((partition.base + page * 4096) as *const u64).read_volatile() } != page + 1);
        }
        let after = sys::memory_counters();
        check_eq!(sys::memory_budget(0), Ok(BUDGET / 2));
        let _ = sys::partition_destroy(partition.id);
        check_eq!(differ, 0);
        check!(after.swap_outs > before.swap_outs && after.swap_ins > before.swap_ins, "it swapped: {after:?}");
        check!(after.swap_io_cycles > before.swap_io_cycles, "swap I/O was timed: {after:?}");
        check!(after.fault_cycles - before.fault_cycles >= after.swap_io_cycles - before.swap_io_cycles, "within the fault path here");
    }

    fn budgets_are_checked_and_report_the_previous_one() {
        check_eq!(sys::memory_budget(abi::MIN_MEMORY_BUDGET - 1), Err(Error::InvalidArgument));
        check_eq!(sys::memory_budget(abi::MAX_MEMORY_BUDGET + 1), Err(Error::InvalidArgument));
        check_eq!(sys::memory_budget(u64::MAX), Err(Error::InvalidArgument), "a result must stay a valid count");
        check_eq!(sys::memory_budget(4096), Ok(0));
        check_eq!(sys::memory_counters().budget, 4096);
        check_eq!(sys::memory_budget(0), Ok(4096));
        check_eq!(sys::memory_counters().budget, 0);
    }
}
