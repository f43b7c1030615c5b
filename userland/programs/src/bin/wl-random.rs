//! Workload: seeded random reads and writes over a buffer (four per page).

#![no_std]
#![no_main]

use abi::PartitionKind;
use runtime::workload::{self, Rng, Words};

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let kib = workload::size_kib(&args, 4096);
    let Ok(mut words) = Words::new((kib * 128) as usize, PartitionKind::Buffer) else { return 1 };
    let mut rng = Rng::new(0x5eed_0001);
    let mut checksum = 0u64;
    for _ in 0..words.len() / 128 {
        let index = rng.below(words.len() as u64) as usize;
        words[index] = words[index].wrapping_add(rng.next());
        checksum ^= words[rng.below(words.len() as u64) as usize];
    }
    workload::report("random", kib, checksum);
    0
}
