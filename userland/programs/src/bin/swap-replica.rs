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

use abi::{Advice, Error, ExitReason, HandleRights, PartitionKind, Rights, PAGE_SIZE};
use runtime::ipc::{self, Handle};
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

fn call(calls: Handle, op: u8, arguments: &[u64], transfers: &[abi::ipc::HandleTransfer]) -> Result<u64, Error> {
    let mut bytes = alloc::vec![op];
    for argument in arguments {
        bytes.extend_from_slice(&argument.to_le_bytes());
    }
    let answer = ipc::call_endpoint(calls, &bytes, transfers)?;
    let status = answer.data().get(..8).map_or(-1, |word| i64::from_le_bytes(word.try_into().unwrap_or_default()));
    if status < 0 { Err(Error::from_code(-status).unwrap_or(Error::InvalidArgument)) } else { Ok(status as u64) }
}

fn run() -> Result<bool, Error> {
    let ring = sys::partition_create(PAGES * PAGE_SIZE, PartitionKind::Shared, Rights::READ | Rights::WRITE)?;
    for page in 0..PAGES {
        for word in (0..PAGE_SIZE / 8).step_by(64) {
            // SAFETY: inside the partition just made, writable.
            unsafe { core::ptr::write_volatile((ring.base + page * PAGE_SIZE + 8 * word) as *mut u64, pattern(page, word)) };
        }
    }
    let endpoint = ipc::endpoint_create()?;
    let calls = endpoint.duplicate(HandleRights::SEND)?;
    let reader = ipc::spawn_with_handles("bin/share-peer", &[], 0, &[ipc::moved_with(endpoint, HandleRights::RECEIVE)])?;
    let grant = share::grant_create(ring.id, Identity::Process(reader), Rights::READ, 0, PAGES * PAGE_SIZE)?;
    call(calls, 1, &[u64::from(Rights::READ.bits()), 0], &[ipc::moved(grant)])?;
    call(calls, 18, &[1], &[])?;
    call(calls, 9, &[PAGES], &[])?;
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
    calls.close()?;
    let reader_ok = matches!(sys::wait(reader).ok().and_then(|status| status.reason()), Some(ExitReason::Exited(0)));
    sys::partition_destroy(ring.id)?;
    Ok(mismatches == 0 && counters.replica_restores == 1 && slot == LOST_SLOT && reader_ok)
}
