//! Swap and memory budgets from user space: a process writing four times
//! its budget gets every byte back; a process that needs a frame when the
//! swap device is full is killed for it alone; a page whose copy on the
//! device is corrupt or cannot be read kills its process alone
//! (`swap-lost`), whether the process or the kernel (for a system call)
//! touches it, and the slot is quarantined; budgets are checked; pages
//! advised cold are the first to go and paged-out ones come back, as the
//! partition table shows; locked pages stay in while the others are
//! swapped. (The user tests boot with `swap-debug=on` for the fault
//! injection.)

#![no_std]
#![no_main]

extern crate alloc;

use abi::{Advice, CommitPolicy, Error, ExitReason, FaultKind, PartitionKind, Rights};
use alloc::string::ToString;
use runtime::{check, check_eq, sys};

/// The budget the pattern runs use, in pages.
const BUDGET: u64 = 32;
use abi::PAGE_SIZE as PAGE;

/// The word of `page` of a partition at `base` that the tests write.
fn word(base: u64, page: u64) -> *mut u64 {
    (base + page * PAGE + 8) as *mut u64
}

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
        // Under a prefetching policy too: with every slot taken, the child
        // could evict only its clean pages (code, stack, copies still on
        // the device), one of which each fault needed next; it faulted
        // forever until the kernel learned to call that out of memory.
        for policy in [None, Some(CommitPolicy::Readahead)] {
            let previous = policy.map(sys::policy_set);
            let reason = sys::run("bin/swap-pattern", &[&pages, &budget]);
            if let Some(Ok(previous)) = previous {
                let _ = sys::policy_set(previous);
            }
            check!(matches!(reason, Ok(ExitReason::Faulted { kind: FaultKind::OutOfMemory, .. })), "under {policy:?}: got {reason:?}");
            check_eq!(sys::system_info().swap_used, info.swap_used, "its slots came back");
        }
        // The system goes on: the same run within the device's size works.
        let pages = (2 * BUDGET).to_string();
        check_eq!(sys::run("bin/swap-pattern", &[&pages, &budget]), Ok(ExitReason::Exited(0)));
    }

    fn a_corrupt_or_unreadable_page_kills_only_its_process() {
        let modes = [("corrupt", "a flipped bit"), ("fail", "a failing read"), ("syscall", "a failing read for a system call")];
        for (mode, what) in modes {
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

    fn cold_and_paged_out_ranges_go_first_and_show_in_the_partition_table() {
        // What demand paging commits, whatever policy the boot chose.
        let _ = sys::policy_set(abi::CommitPolicy::Demand);
        let Ok(partition) = sys::partition_create(64 * PAGE, PartitionKind::Heap, Rights::READ | Rights::WRITE) else {
            return Err(runtime::TestFailure::new("no partition".to_string(), file!(), line!()));
        };
        let value = |page: u64| 0xc01d_0000 + page;
        for page in 0..64 {
            // SAFETY: inside the read-write partition just created, aligned.
            unsafe { core::ptr::write_volatile(word(partition.base, page), value(page)) };
        }
        // Page-out: the first 16 pages go to swap now.
        check_eq!(sys::partition_advise(partition.id, 0, 16 * PAGE, Advice::PageOut), Ok(16));
        let info = sys::partition_query(partition.id).unwrap_or_default();
        check_eq!((info.swapped_pages, info.committed_pages, info.evictions), (16, 48, 16));
        // The VASM records where each page is: a swap slot, or a frame.
        let out = sys::page_query(partition.base).unwrap_or_default();
        check_eq!((out.partition, out.state), (partition.id, abi::PAGE_SWAPPED));
        check!(out.slot != u64::MAX && out.frame == 0, "a swapped page has a slot and no frame: {out:?}");
        let resident = sys::page_query(partition.base + 16 * PAGE).unwrap_or_default();
        check_eq!(resident.state, abi::PAGE_COMMITTED);
        check!(resident.frame != 0 && resident.dirty == 1 && resident.slot == u64::MAX, "{resident:?}");
        // The last 16 are advised cold; under a budget one page short, the
        // first eviction takes every cold page (a cluster) and nothing else
        // of this partition.
        check_eq!(sys::partition_advise(partition.id, 48 * PAGE, 16 * PAGE, Advice::Cold), Ok(0));
        check_eq!(sys::partition_query(partition.id).map(|info| info.cold_pages), Ok(16));
        check_eq!(sys::page_query(partition.base + 63 * PAGE).map(|page| (page.cold, page.accessed)), Ok((1, 0)));
        let Ok(extra) = sys::partition_create(PAGE, PartitionKind::Heap, Rights::READ | Rights::WRITE) else {
            return Err(runtime::TestFailure::new("no partition".to_string(), file!(), line!()));
        };
        let committed = sys::memory_counters().committed;
        check_eq!(sys::memory_budget(committed), Ok(0));
        // SAFETY: inside the one-page read-write partition just created.
        unsafe { core::ptr::write_volatile(extra.base as *mut u64, 1) };
        check_eq!(sys::memory_budget(0), Ok(committed));
        let info = sys::partition_query(partition.id).unwrap_or_default();
        check_eq!((info.swapped_pages, info.committed_pages, info.evictions), (32, 32, 32), "the cold range went whole");
        // Every byte comes back; the faults clear the cold marks.
        for page in 0..64 {
            // SAFETY: as above.
            let got = unsafe { core::ptr::read_volatile(word(partition.base, page)) };
            check_eq!(got, value(page), "page {page}");
        }
        let info = sys::partition_query(partition.id).unwrap_or_default();
        check_eq!((info.swapped_pages, info.major_faults, info.cold_pages), (0, 32, 0));
        // Read back and not written since: the slot keeps a clean copy.
        let back = sys::page_query(partition.base).unwrap_or_default();
        check_eq!(back.state, abi::PAGE_COMMITTED);
        check!(back.slot != u64::MAX && back.frame != 0 && back.cold == 0, "{back:?}");
        check_eq!(sys::page_query(0x1000).map(|page| page.state), Err(Error::NotFound), "outside every partition");
        check_eq!(sys::page_query(u64::MAX).map(|page| page.state), Err(Error::NotFound));
        check_eq!(sys::partition_destroy(partition.id), Ok(()));
        check_eq!(sys::partition_destroy(extra.id), Ok(()));
    }

    fn locked_pages_stay_in_while_the_others_are_swapped() {
        let _ = sys::policy_set(abi::CommitPolicy::Demand);
        let Ok(partition) = sys::partition_create(64 * PAGE, PartitionKind::Heap, Rights::READ | Rights::WRITE) else {
            return Err(runtime::TestFailure::new("no partition".to_string(), file!(), line!()));
        };
        // The first 8 pages are locked before any is committed.
        check_eq!(sys::partition_advise(partition.id, 0, 8 * PAGE, Advice::Lock), Ok(0));
        check_eq!(sys::page_query(partition.base).map(|page| (page.locked, page.state)), Ok((1, abi::PAGE_UNCOMMITTED)));
        check_eq!(sys::page_query(partition.base + 8 * PAGE).map(|page| page.locked), Ok(0));
        let committed = sys::memory_counters().committed;
        check_eq!(sys::memory_budget(committed + 16), Ok(0));
        let value = |page: u64| 0x10c4_0000 + page;
        for page in 0..64 {
            // SAFETY: inside the read-write partition just created, aligned.
            unsafe { core::ptr::write_volatile(word(partition.base, page), value(page)) };
        }
        // Paging everything out passes over the locked pages too.
        check_eq!(sys::partition_advise(partition.id, 0, 64 * PAGE, Advice::PageOut).map(|out| out <= 56), Ok(true));
        for page in 0..8 {
            check_eq!(sys::page_query(partition.base + page * PAGE).map(|page| page.state), Ok(abi::PAGE_COMMITTED), "locked page {page}");
        }
        let info = sys::partition_query(partition.id).unwrap_or_default();
        check!(info.swapped_pages >= 48 && info.evictions >= 48, "the other pages took the evictions: {info:?}");
        for page in 0..64 {
            // SAFETY: as above.
            let got = unsafe { core::ptr::read_volatile(word(partition.base, page)) };
            check_eq!(got, value(page), "page {page}");
        }
        check_eq!(sys::memory_budget(0), Ok(committed + 16));
        // Unlocked, they may go.
        check_eq!(sys::partition_advise(partition.id, 0, 8 * PAGE, Advice::Unlock), Ok(0));
        check_eq!(sys::partition_advise(partition.id, 0, 8 * PAGE, Advice::PageOut), Ok(8));
        // A process locks at most MAX_LOCKED_PAGES pages of ranges.
        let Ok(big) = sys::partition_create((abi::MAX_LOCKED_PAGES + 1) * PAGE, PartitionKind::Heap, Rights::READ | Rights::WRITE) else {
            return Err(runtime::TestFailure::new("no partition".to_string(), file!(), line!()));
        };
        check_eq!(sys::partition_advise(big.id, 0, (abi::MAX_LOCKED_PAGES + 1) * PAGE, Advice::Lock), Err(Error::TooLarge));
        check_eq!(sys::page_query(big.base).map(|page| page.locked), Ok(0), "a refused lock changes nothing");
        check_eq!(sys::partition_destroy(big.id), Ok(()));
        check_eq!(sys::partition_destroy(partition.id), Ok(()));
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
