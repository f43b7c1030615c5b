//! The guest side of the replica-restore integration test
//! (`tests/tests/swap.rs`): a shared partition whose swap copy the host
//! breaks, restored from a reader's replica.
//!
//! As the first process (nothing else swaps, so slots go out in order):
//! writes a pattern over every page of a 64-page shared partition; starts
//! a reader (`bin/share-peer`) that maps it read-only, replicates and
//! reads every page (so it holds a replica of each); pages the partition
//! out (`Advice::PageOut`: page `k` goes to slot `k`, which it checks and
//! prints); then reads every page back. The host fails every read of slot
//! [`LOST_SLOT`], so that page comes back from the reader's replica: it
//! prints `swap-replica: verified pages=64 mismatches=M replica_restores=R
//! swap_errors=E slot=S` and exits 0 only if no byte differs, one page was
//! restored and nothing died.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{Advice, Error, ExitReason, PartitionKind, Rights, PAGE_SIZE};
use programs::SharePeer;
use runtime::share::{self, Identity};
use runtime::{println, sys};

const PAGES: u64 = 64;
/// The page whose swap copy the host makes unreadable (it lands in the
/// slot of the same number).
const LOST_SLOT: u64 = 5;

runtime::entry!(main);

fn pattern(page: u64, word: u64) -> u64 {
    (page << 32) ^ word.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn main(_args: runtime::Args) -> i32 {
    match run() {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(error) => {
            println!("swap-replica: {error}");
            2
        }
    }
}

fn run() -> Result<bool, Error> {
    let ring = sys::partition_create(PAGES * PAGE_SIZE, PartitionKind::Shared, Rights::READ | Rights::WRITE)?;
    for page in 0..PAGES {
        for word in (0..PAGE_SIZE / 8).step_by(64) {
            // SAFETY: inside the partition just made, writable.
            unsafe { core::ptr::write_volatile((ring.base + page * PAGE_SIZE + 8 * word) as *mut u64, pattern(page, word)) };
        }
    }
    let reader = SharePeer::start(0)?;
    let grant = share::grant_create(ring.id, Identity::Process(reader.pid), Rights::READ, 0, PAGES * PAGE_SIZE)?;
    reader.map(grant, Rights::READ)?;
    reader.value(18, &[1], &[])?;
    reader.value(9, &[PAGES], &[])?;
    let out = sys::partition_advise(ring.id, 0, PAGES * PAGE_SIZE, Advice::PageOut)?;
    let slot = sys::page_query(ring.base + LOST_SLOT * PAGE_SIZE)?.slot;
    let info = sys::system_info();
    println!("swap-replica: swapped out {out} pages, page {LOST_SLOT} in slot {slot}, swap_used={}", info.swap_used);
    let mut mismatches = 0;
    for page in 0..PAGES {
        for word in (0..PAGE_SIZE / 8).step_by(64) {
            // SAFETY: as above; reading brings the page back.
            let value = unsafe { core::ptr::read_volatile((ring.base + page * PAGE_SIZE + 8 * word) as *const u64) };
            mismatches += u64::from(value != pattern(page, word));
        }
    }
    let counters = sys::memory_counters();
    println!(
        "swap-replica: verified pages={PAGES} mismatches={mismatches} replica_restores={} swap_errors={} slot={slot}",
        counters.replica_restores, counters.swap_errors
    );
    let reader_ok = matches!(reader.end(), Some(ExitReason::Exited(0)));
    sys::partition_destroy(ring.id)?;
    Ok(mismatches == 0 && counters.replica_restores == 1 && slot == LOST_SLOT && reader_ok)
}
