//! The guest side of the swap fault-injection integration tests
//! (`tests/tests/swap.rs`), which break the swap disk from the host: QEMU's
//! `blkdebug` fails reads or writes of chosen slots, or the host corrupts
//! the image file while the guest waits.
//!
//! `swap-inject victim PAGES BUDGET WAIT` limits itself to BUDGET committed
//! pages, writes a pattern over every byte of PAGES pages (most go to
//! swap), prints `swap-inject: swapped out ...` (with the partition's
//! address and the slots in use), sleeps WAIT timer ticks,
//! prints `swap-inject: reading back`, checks every byte and prints
//! `swap-inject: verified ... mismatches=M ...`. Exits 0 when no byte
//! differs, 1 when some do, 2 on bad arguments or a refused setup; a page
//! the kernel cannot bring back kills it (`swap-lost`).
//!
//! As the first process it supervises one scenario and exits 0 only if
//! every expectation held (each failed one is printed as `swap-inject:
//! FAILED: ...`):
//! - `read-error`: a victim dies with `swap-lost`, exactly one slot is
//!   quarantined and every other slot comes back;
//! - `write-error N`: a victim still gets every byte back, N slots are
//!   quarantined;
//! - `corrupt WAIT`: a victim that waits WAIT ticks between swapping out
//!   and reading back (the host corrupts the image meanwhile) dies with
//!   `swap-lost`, exactly one slot is quarantined.
//!
//! Each scenario then runs a second victim, which must get every byte back
//! without another slot quarantined: the kernel survived and swaps on.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{ExitReason, FaultKind, PartitionKind, Rights, SystemInfo};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use runtime::{Args, println, sys};

runtime::entry!(main);

use abi::PAGE_SIZE as PAGE;
const WORDS: u64 = PAGE / 8;
/// Pages each victim writes.
const VICTIM_PAGES: u64 = 128;
/// The committed pages each victim may keep.
const VICTIM_BUDGET: u64 = 32;

/// The word at `word` of page `page`: different for every word and page.
fn pattern(page: u64, word: u64) -> u64 {
    (page.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ word.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)).rotate_left((page % 61) as u32) | 1
}

fn main(args: Args) -> i32 {
    let number = |index: usize| args.get(index).and_then(|text| text.parse::<u64>().ok());
    match (args.get(1), number(2), number(3), number(4)) {
        (Some("victim"), Some(pages), Some(budget), Some(wait)) => victim(pages, budget, wait),
        (Some("read-error"), None, _, _) => supervise("read-error", Expect::Lost, 1, 0),
        (Some("write-error"), Some(failing), None, _) => supervise("write-error", Expect::Intact, failing, 0),
        (Some("corrupt"), Some(wait), None, _) => supervise("corrupt", Expect::Lost, 1, wait),
        _ => {
            println!("usage: swap-inject victim PAGES BUDGET WAIT | read-error | write-error N | corrupt WAIT");
            2
        }
    }
}

/// Writes, waits, reads back and checks (see the module docs).
fn victim(pages: u64, budget: u64, wait: u64) -> i32 {
    if let Err(error) = sys::memory_budget(budget) {
        println!("swap-inject: budget {budget} refused: {error:?}");
        return 2;
    }
    let Ok(partition) = sys::partition_create(pages * PAGE, PartitionKind::Heap, Rights::READ | Rights::WRITE) else {
        println!("swap-inject: no partition of {pages} pages");
        return 2;
    };
    let address = |page: u64, word: u64| (partition.base + page * PAGE + word * 8) as *mut u64;
    for page in 0..pages {
        for word in 0..WORDS {
            // SAFETY: inside the read-write partition just created, aligned.
            unsafe { core::ptr::write_volatile(address(page, word), pattern(page, word)) };
        }
    }
    let counters = sys::memory_counters();
    let info = sys::system_info();
    println!(
        "swap-inject: swapped out pages={pages} base={:#x} budget={budget} swap_outs={} swap_used={} wait={wait}",
        partition.base, counters.swap_outs, info.swap_used
    );
    if wait > 0 {
        sys::sleep(wait);
    }
    println!("swap-inject: reading back");
    let mut mismatches = 0u64;
    for page in 0..pages {
        for word in 0..WORDS {
            // SAFETY: as above.
            let value = unsafe { core::ptr::read_volatile(address(page, word)) };
            // Count differing bytes, not words: every byte is checked.
            mismatches += (value ^ pattern(page, word)).to_le_bytes().iter().filter(|&&byte| byte != 0).count() as u64;
        }
    }
    let counters = sys::memory_counters();
    println!(
        "swap-inject: verified pages={pages} mismatches={mismatches} swap_outs={} swap_ins={} major_faults={} swap_errors={}",
        counters.swap_outs, counters.swap_ins, counters.faults_major, counters.swap_errors
    );
    if mismatches == 0 { 0 } else { 1 }
}

/// How the first victim of a scenario must end.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Killed because a page could not be brought back.
    Lost,
    /// Every byte back.
    Intact,
}

/// Runs a victim and says how it ended.
fn run_victim(wait: u64) -> Option<ExitReason> {
    let (pages, budget, wait) = (VICTIM_PAGES.to_string(), VICTIM_BUDGET.to_string(), wait.to_string());
    match sys::run("bin/swap-inject", &["victim", &pages, &budget, &wait]) {
        Ok(reason) => {
            println!("swap-inject: victim ended: {}", describe(reason));
            Some(reason)
        }
        Err(error) => {
            println!("swap-inject: cannot run a victim: {error}");
            None
        }
    }
}

fn describe(reason: ExitReason) -> String {
    match reason {
        ExitReason::Exited(code) => alloc::format!("exited with {code}"),
        ExitReason::Faulted { kind, address } => alloc::format!("fault {kind} at {address:#x}"),
    }
}

fn print_swap(info: &SystemInfo) {
    println!("swap-inject: swap slots={} used={} quarantined={}", info.swap_slots, info.swap_used, info.swap_quarantined);
}

/// Runs one scenario: a victim that must end as `expect` and leave
/// `quarantined` more slots out of service, then a victim that must get
/// every byte back (see the module docs).
fn supervise(scenario: &str, expect: Expect, quarantined: u64, wait: u64) -> i32 {
    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            println!("swap-inject: FAILED: {what}");
            failures.push(what);
        }
    };
    let before = sys::system_info();
    print_swap(&before);
    check(before.swap_slots >= 2 * VICTIM_PAGES, alloc::format!("a swap disk of at least {} slots", 2 * VICTIM_PAGES));
    let first = run_victim(wait);
    let after = sys::system_info();
    print_swap(&after);
    match expect {
        Expect::Lost => check(
            matches!(first, Some(ExitReason::Faulted { kind: FaultKind::SwapLost, .. })),
            alloc::format!("the first victim is killed with swap-lost (got {:?})", first.map(describe)),
        ),
        Expect::Intact => check(
            first == Some(ExitReason::Exited(0)),
            alloc::format!("the first victim got every byte back (got {:?})", first.map(describe)),
        ),
    }
    check(
        after.swap_quarantined == before.swap_quarantined + quarantined,
        alloc::format!("{quarantined} more slots quarantined (from {} to {})", before.swap_quarantined, after.swap_quarantined),
    );
    check(
        after.swap_used == before.swap_used,
        alloc::format!("its slots came back ({} in use, {} before)", after.swap_used, before.swap_used),
    );
    let second = run_victim(0);
    let last = sys::system_info();
    print_swap(&last);
    check(second == Some(ExitReason::Exited(0)), alloc::format!("a second victim got every byte back (got {:?})", second.map(describe)));
    check(
        last.swap_quarantined == after.swap_quarantined,
        alloc::format!("no slot quarantined by the second victim ({} then {})", after.swap_quarantined, last.swap_quarantined),
    );
    check(last.swap_used == before.swap_used, alloc::format!("the second victim's slots came back ({} in use)", last.swap_used));
    let failed = failures.len();
    if failed == 0 {
        println!("swap-inject {scenario}: passed");
        0
    } else {
        println!("swap-inject {scenario}: {failed} expectations failed");
        1
    }
}
