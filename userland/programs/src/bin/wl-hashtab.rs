//! Workload: inserts seeded random keys into an open-addressing hash table
//! (linear probing, half full), then looks every key up again.

#![no_std]
#![no_main]

use abi::PartitionKind;
use runtime::workload::{self, Rng, Words};

runtime::entry!(main);

fn hash(key: u64) -> u64 {
    key.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
}

fn main(args: runtime::Args) -> i32 {
    let kib = workload::size_kib(&args, 4096);
    let slots = ((kib * 128) as usize).next_power_of_two();
    let Ok(mut table) = Words::new(slots, PartitionKind::Heap) else { return 1 };
    let keys = slots / 2;
    let mut rng = Rng::new(0x5eed_0003);
    for _ in 0..keys {
        let key = rng.next() | 1;
        let mut slot = hash(key) as usize & (slots - 1);
        while table[slot] != 0 && table[slot] != key {
            slot = (slot + 1) & (slots - 1);
        }
        table[slot] = key;
    }
    let mut rng = Rng::new(0x5eed_0003);
    let mut found = 0u64;
    for _ in 0..keys {
        let key = rng.next() | 1;
        let mut slot = hash(key) as usize & (slots - 1);
        while table[slot] != 0 {
            if table[slot] == key {
                found += 1;
                break;
            }
            slot = (slot + 1) & (slots - 1);
        }
    }
    workload::report("hashtab", kib, found);
    i32::from(found != keys as u64)
}
