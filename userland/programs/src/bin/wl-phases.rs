//! Workload whose pattern changes between phases: a sequential fill, then
//! seeded random updates, then a backward strided sweep.

#![no_std]
#![no_main]

use abi::PartitionKind;
use runtime::workload::{self, Rng, Words};

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let kib = workload::size_kib(&args, 4096);
    let Ok(mut words) = Words::new((kib * 128) as usize, PartitionKind::Buffer) else { return 1 };
    let pages = words.len() / 512;
    // Phase 1: the first third, in order.
    for index in 0..words.len() / 3 {
        words[index] = index as u64;
    }
    // Phase 2: random pages of the middle third.
    let mut rng = Rng::new(0x5eed_0006);
    let (low, high) = (pages / 3, 2 * pages / 3);
    for _ in 0..(high - low) * 2 {
        let page = low + rng.below((high - low) as u64) as usize;
        words[page * 512] = words[page * 512].wrapping_add(rng.next());
    }
    // Phase 3: every other page of the last third, backwards.
    let mut checksum = 0u64;
    for page in (2 * pages / 3..pages).rev().step_by(2) {
        checksum = checksum.wrapping_add(words[page * 512]).wrapping_add(page as u64);
        words[page * 512 + 1] = checksum;
    }
    checksum = words.iter().step_by(512).fold(checksum, |sum, &word| sum.wrapping_add(word));
    workload::report("phases", kib, checksum);
    0
}
