//! Workload: builds a linked list whose nodes (64 bytes each) are linked
//! in a seeded random order, then follows it twice end to end.

#![no_std]
#![no_main]

use abi::PartitionKind;
use runtime::workload::{self, Rng, Words};

runtime::entry!(main);

/// Words per node: the next node's index, then payload.
const NODE: usize = 8;

fn main(args: runtime::Args) -> i32 {
    let kib = workload::size_kib(&args, 4096);
    let nodes = (kib * 128) as usize / NODE;
    let Ok(mut order) = Words::new(nodes, PartitionKind::Heap) else { return 1 };
    let Ok(mut list) = Words::new(nodes * NODE, PartitionKind::Buffer) else { return 1 };
    // A random permutation (Fisher–Yates) gives the visiting order.
    for (index, slot) in order.iter_mut().enumerate() {
        *slot = index as u64;
    }
    let mut rng = Rng::new(0x5eed_0002);
    for index in (1..nodes).rev() {
        order.swap(index, rng.below(index as u64 + 1) as usize);
    }
    for step in 0..nodes {
        let (node, next) = (order[step] as usize, order[(step + 1) % nodes]);
        list[node * NODE] = next;
        list[node * NODE + 1] = step as u64;
    }
    let mut node = order[0] as usize;
    let mut checksum = 0u64;
    for _ in 0..2 * nodes {
        checksum = checksum.wrapping_add(list[node * NODE + 1]);
        node = list[node * NODE] as usize;
    }
    workload::report("listchase", kib, checksum);
    0
}
