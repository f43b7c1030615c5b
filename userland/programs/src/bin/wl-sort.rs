//! Workload: fills a buffer with seeded random words and sorts it in place.

#![no_std]
#![no_main]

use abi::PartitionKind;
use runtime::workload::{self, Rng, Words};

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let kib = workload::size_kib(&args, 2048);
    let Ok(mut words) = Words::new((kib * 128) as usize, PartitionKind::Buffer) else { return 1 };
    let mut rng = Rng::new(0x5eed_0005);
    for word in words.iter_mut() {
        *word = rng.next();
    }
    words.sort_unstable();
    let sorted = words.windows(2).all(|pair| pair[0] <= pair[1]);
    let checksum = words.iter().step_by(97).fold(0u64, |sum, &word| sum.rotate_left(5) ^ word);
    workload::report("sort", kib, checksum);
    i32::from(!sorted)
}
