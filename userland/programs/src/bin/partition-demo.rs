//! The partition table of a running process, before and after work.
//!
//! Prints its own table (the sealed code, data, bss and stack partitions
//! the loader made, and the heap), then creates a sparse buffer, declares
//! its needs, commits ahead, scans, protects, grows and advises, prints the
//! table again, and ends with its memory counters. The kernel prints the
//! same counters as a `memstat` line when the process exits.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{Advice, PartitionInfo, PartitionKind, Rights};
use alloc::string::String;
use alloc::vec::Vec;
use runtime::{println, sys, Args};

use abi::PAGE_SIZE as PAGE;
const MIB: u64 = 1 << 20;

runtime::entry!(main);

fn rights(bits: u64) -> String {
    let rights = Rights::from_bits_truncate(bits as u32);
    let flag = |right, letter| if rights.contains(right) { letter } else { '-' };
    [flag(Rights::READ, 'r'), flag(Rights::WRITE, 'w'), flag(Rights::EXECUTE, 'x')].iter().collect()
}

fn print_table(title: &str) {
    let mut ids = [0u64; 64];
    let count = sys::partition_list(&mut ids).unwrap_or(0).min(ids.len());
    let rows: Vec<PartitionInfo> = ids[..count].iter().filter_map(|&id| sys::partition_query(id).ok()).collect();
    println!("partition table of pid {} ({title}):", sys::getpid());
    println!(
        "{:>4} {:<8} {:<4} {:<6} {:>14} {:>9} {:>3} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>5} {:>6} {:>7} {:>3} {:>6}",
        "id", "kind", "rwx", "sealed", "base", "KiB", "rng", "commit", "loaded", "demand", "ahead", "hits", "untch", "waste", "faults", "extents", "2M", "recent"
    );
    for row in &rows {
        let kind = PartitionKind::from_code(row.kind).map_or(String::from("?"), |kind| alloc::format!("{kind}"));
        println!(
            "{:>4} {:<8} {:<4} {:<6} {:>#14x} {:>9} {:>3} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>5} {:>6} {:>7} {:>3} {:>6}",
            row.id,
            kind,
            rights(row.rights),
            if row.sealed == 1 { "yes" } else { "no" },
            row.base,
            row.size / 1024,
            row.ranges,
            row.committed_pages,
            row.loaded,
            row.demand_commits,
            row.ahead_commits,
            row.hits,
            row.untouched,
            row.waste,
            row.faults,
            row.extents,
            row.huge_pages,
            row.recent_accessed,
        );
    }
}

fn touch(address: u64) {
    // SAFETY: every address touched lies in the read-write buffer created below.
    unsafe { core::ptr::write_volatile(address as *mut u8, 1) };
}

fn main(_args: Args) -> i32 {
    print_table("at start");
    let rw = Rights::READ | Rights::WRITE;
    let Ok(buffer) = sys::partition_create(64 * MIB, PartitionKind::Buffer, rw) else {
        println!("partition-demo: cannot create a buffer");
        return 1;
    };
    let _ = sys::resource_request(16 * MIB, 200, &[]);
    let _ = sys::partition_advise(buffer.id, 0, 8 * MIB, Advice::Sequential);
    // Commit the first MiB ahead, then scan 4 MiB: 256 hits, 768 demand
    // faults, and the 2 MiB-aligned block inside becomes a 2 MiB page.
    let _ = sys::partition_commit(buffer.id, 0, MIB);
    for offset in (0..4 * MIB).step_by(PAGE as usize) {
        touch(buffer.base + offset);
    }
    // Sparse touches far into the buffer.
    for index in 0..16u64 {
        touch(buffer.base + 8 * MIB + index * 3 * MIB);
    }
    // A read-only window in the middle, a grown heap, an added range.
    let _ = sys::partition_protect(buffer.id, 4 * MIB, MIB, Rights::READ);
    let grown: Vec<u64> = (0..100_000).collect();
    let extra = sys::partition_add_range(buffer.id, MIB, 0).unwrap_or(0);
    if extra != 0 {
        touch(extra);
    }
    let _ = sys::partition_commit(buffer.id, 62 * MIB, 256 * 1024);
    print_table("after work");
    let counters = sys::memory_counters();
    println!("memory counters of pid {}:", counters.pid);
    for (name, value) in counters.fields() {
        println!("  {name:<24} {value}");
    }
    println!("partition-demo: done ({} heap numbers summed to {})", grown.len(), grown.iter().sum::<u64>());
    0
}
