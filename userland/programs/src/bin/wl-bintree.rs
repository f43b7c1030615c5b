//! Workload: builds an unbalanced binary search tree of seeded random keys
//! in a node pool, then searches for every key and as many absent ones.

#![no_std]
#![no_main]

use abi::PartitionKind;
use runtime::workload::{self, Rng, Words};

runtime::entry!(main);

/// Words per node: key, left child, right child (0: none; node 0 is the root).
const NODE: usize = 4;

fn main(args: runtime::Args) -> i32 {
    let kib = workload::size_kib(&args, 4096);
    let capacity = (kib * 128) as usize / NODE;
    let Ok(mut pool) = Words::new(capacity * NODE, PartitionKind::Heap) else { return 1 };
    let mut rng = Rng::new(0x5eed_0004);
    pool[0] = rng.next() | 1;
    let mut used = 1;
    while used < capacity {
        let key = rng.next() | 1;
        let mut node = 0;
        loop {
            let existing = pool[node * NODE];
            if key == existing {
                break;
            }
            let child = if key < existing { node * NODE + 1 } else { node * NODE + 2 };
            if pool[child] == 0 {
                pool[child] = used as u64;
                pool[used * NODE] = key;
                used += 1;
                break;
            }
            node = pool[child] as usize;
        }
    }
    let search = |pool: &Words, key: u64| {
        let mut node = 0;
        loop {
            let existing = pool[node * NODE];
            if key == existing {
                return true;
            }
            let child = pool[if key < existing { node * NODE + 1 } else { node * NODE + 2 }];
            if child == 0 {
                return false;
            }
            node = child as usize;
        }
    };
    let mut rng = Rng::new(0x5eed_0004);
    let mut found = 0u64;
    for _ in 0..capacity {
        found += u64::from(search(&pool, rng.next() | 1));
        found += u64::from(search(&pool, rng.next() & !1));
    }
    workload::report("bintree", kib, found);
    0
}
