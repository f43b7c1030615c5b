//! Workload: writes a buffer from start to end, then reads it back in order.

#![no_std]
#![no_main]

use abi::PartitionKind;
use runtime::workload::{self, Words};

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let kib = workload::size_kib(&args, 4096);
    let Ok(mut words) = Words::new((kib * 128) as usize, PartitionKind::Buffer) else { return 1 };
    for (index, word) in words.iter_mut().enumerate() {
        *word = index as u64 * 3;
    }
    let checksum = workload::sum(&words);
    workload::report("seq", kib, checksum);
    0
}
