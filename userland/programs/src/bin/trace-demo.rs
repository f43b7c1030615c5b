//! A short, fixed script that leaves one of every kind of history event:
//! a declared working set, demand faults (writes and a read), commits and
//! decommits by request and by advice, a failing system call, pages the
//! accessed-bit sampler sees in use while it sleeps, a child killed for
//! writing to its code, and exit code 3.
//! `cargo xtask trace trace-demo` shows its history; the `trace`
//! integration test checks every event against what the script did.

#![no_std]
#![no_main]

use abi::{Advice, Dependency, PartitionKind, Rights};
use runtime::{println, sys};

runtime::entry!(main);

/// Pages in the demo partition.
const PAGES: u64 = 64;
use abi::PAGE_SIZE as PAGE;

fn main(_args: runtime::Args) -> i32 {
    let Ok(partition) = sys::partition_create(PAGES * PAGE, PartitionKind::Buffer, Rights::READ | Rights::WRITE) else { return 1 };
    let dependency = Dependency { kind: Dependency::PARTITION, value: partition.id, length: 0 };
    if sys::resource_request(PAGES * PAGE, 100, &[dependency]).is_err() {
        return 2;
    }
    let page = |index: u64| (partition.base + index * PAGE) as *mut u64;
    // Sequential writes: demand faults (and whatever the policy adds).
    for index in 0..16 {
        // SAFETY: the partition is ours, readable and writable, 64 pages long.
        unsafe { page(index).write_volatile(index) };
    }
    // A read of an untouched page: a read fault.
    // SAFETY: as above.
    let zero = unsafe { page(60).read_volatile() };
    let committed = sys::partition_commit(partition.id, 32 * PAGE, 8 * PAGE).unwrap_or(0);
    let advised = sys::partition_advise(partition.id, 48 * PAGE, 8 * PAGE, Advice::WillNeed).unwrap_or(0);
    let dropped = sys::partition_advise(partition.id, 0, 4 * PAGE, Advice::DontNeed).unwrap_or(0);
    let released = sys::partition_decommit(partition.id, 40 * PAGE, 4 * PAGE).unwrap_or(0);
    // Keep touching two committed pages while the sampler runs.
    for round in 0..4 {
        for index in 32..34 {
            // SAFETY: as above.
            unsafe { page(index).write_volatile(round) };
        }
        sys::sleep(2);
    }
    // A call that fails: no such partition.
    let failed = sys::partition_commit(u64::MAX / 2, 0, PAGE).is_err();
    // A child killed for writing to its code: a rights-violation fault.
    let _ = sys::run("bin/fault-write-code", &[]);
    println!("trace-demo committed={committed} advised={advised} dropped={dropped} released={released} zero={zero} failed={failed}");
    3
}
