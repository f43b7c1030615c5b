//! Workload: touches one word per page with a stride of 7 pages, in seven
//! interleaved passes, so every page is touched once per pass set.

#![no_std]
#![no_main]

use abi::PartitionKind;
use runtime::workload::{self, Words};

runtime::entry!(main);

const STRIDE: usize = 7;

fn main(args: runtime::Args) -> i32 {
    let kib = workload::size_kib(&args, 4096);
    let Ok(mut words) = Words::new((kib * 128) as usize, PartitionKind::Buffer) else { return 1 };
    let pages = words.len() / 512;
    let mut checksum = 0u64;
    for pass in 0..STRIDE {
        for page in (pass..pages).step_by(STRIDE) {
            words[page * 512] += page as u64 + 1;
            checksum = checksum.wrapping_mul(31).wrapping_add(words[page * 512]);
        }
    }
    workload::report("stride", kib, checksum);
    0
}
