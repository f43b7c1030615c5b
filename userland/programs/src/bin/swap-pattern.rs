//! Helper for the swap tests: `swap-pattern PAGES [BUDGET]` limits itself
//! to BUDGET committed pages (0: none of its own, only the system's;
//! without BUDGET, it keeps the budget it was spawned with), writes a
//! pattern over every byte of PAGES pages (more than the budget, so most
//! go to swap), reads every byte back and prints
//! `swap-pattern pages=P budget=B mismatches=M swap_outs=O major_faults=F
//! peak=K swap_io_cycles=C`. Exits 0 when no byte differs, 1 when some do,
//! 2 on bad arguments, no budget, or a refused budget or partition, 3 if it
//! ever held more pages than the budget it was spawned with.

#![no_std]
#![no_main]

use abi::{PartitionKind, Rights};
use runtime::{println, sys};

runtime::entry!(main);

use abi::PAGE_SIZE as PAGE;
const WORDS: u64 = PAGE / 8;

/// The word at `word` of page `page`: different for every word and page.
fn pattern(page: u64, word: u64) -> u64 {
    (page.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ word.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)).rotate_left((page % 61) as u32)
}

fn main(args: runtime::Args) -> i32 {
    let number = |index: usize| args.get(index).and_then(|text| text.parse::<u64>().ok());
    let Some(pages) = number(1) else {
        println!("usage: swap-pattern PAGES [BUDGET]");
        return 2;
    };
    let budget = match (args.get(2), number(2)) {
        (None, _) => sys::memory_counters().budget,
        (Some(_), Some(budget)) => match sys::memory_budget(budget) {
            Ok(_) => budget,
            Err(error) => {
                println!("swap-pattern: budget {budget} refused: {error:?}");
                return 2;
            }
        },
        (Some(text), None) => {
            println!("swap-pattern: `{text}` is not a page count");
            return 2;
        }
    };
    if budget == 0 && args.get(2).is_none() {
        println!("swap-pattern: no budget given or inherited from spawn");
        return 2;
    }
    let Ok(partition) = sys::partition_create(pages * PAGE, PartitionKind::Heap, Rights::READ | Rights::WRITE) else {
        println!("swap-pattern: no partition of {pages} pages");
        return 2;
    };
    for page in 0..pages {
        for word in 0..WORDS {
            let address = (partition.base + page * PAGE + word * 8) as *mut u64;
            // SAFETY: inside the read-write partition just created, aligned.
            unsafe { core::ptr::write_volatile(address, pattern(page, word)) };
        }
    }
    let mut mismatches = 0u64;
    for page in 0..pages {
        for word in 0..WORDS {
            let address = (partition.base + page * PAGE + word * 8) as *const u64;
            // SAFETY: as above.
            let value = unsafe { core::ptr::read_volatile(address) };
            // Count differing bytes, not words: every byte is checked.
            mismatches += u64::from((value ^ pattern(page, word)).to_le_bytes().iter().filter(|&&byte| byte != 0).count() as u8);
        }
    }
    let counters = sys::memory_counters();
    println!(
        "swap-pattern pages={pages} budget={budget} mismatches={mismatches} swap_outs={} major_faults={} peak={} swap_io_cycles={}",
        counters.swap_outs, counters.faults_major, counters.peak_committed, counters.swap_io_cycles
    );
    if mismatches != 0 {
        1
    } else if args.get(2).is_none() && counters.peak_committed > budget {
        3
    } else {
        0
    }
}
