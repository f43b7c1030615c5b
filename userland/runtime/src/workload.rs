//! Building blocks for workload programs: memory in a partition of its own
//! (so its access pattern is visible per partition), a seeded generator,
//! and the closing report line.
//!
//! A workload takes its size in KiB as `argv[1]` ([`size_kib`]) and ends
//! with `workload <name> kib=<n> checksum=<x>` ([`report`]); the kernel
//! adds its `memstat` line when it exits.

use crate::sys;
use abi::{Error, PartitionKind, Rights};
use core::ops::{Deref, DerefMut};

/// `count` zeroed `u64`s in a fresh partition, destroyed on drop.
pub struct Words {
    id: u64,
    base: *mut u64,
    count: usize,
}

impl Words {
    /// A partition of `kind` holding `count` words, committed as touched.
    pub fn new(count: usize, kind: PartitionKind) -> Result<Words, Error> {
        let bytes = (count as u64).checked_mul(8).ok_or(Error::TooLarge)?.max(8);
        let partition = sys::partition_create(bytes, kind, Rights::READ | Rights::WRITE)?;
        Ok(Words { id: partition.id, base: partition.base as *mut u64, count })
    }

    /// The partition's id (for queries and advice; destroying it while
    /// this value lives would pull the memory from under the slice).
    pub fn partition(&self) -> u64 {
        self.id
    }
}

impl Deref for Words {
    type Target = [u64];

    fn deref(&self) -> &[u64] {
        // SAFETY: the partition is `count` words of readable, writable,
        // zero-filled memory owned by this value until it is dropped; the
        // kernel commits pages on first touch.
        unsafe { core::slice::from_raw_parts(self.base, self.count) }
    }
}

impl DerefMut for Words {
    fn deref_mut(&mut self) -> &mut [u64] {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe { core::slice::from_raw_parts_mut(self.base, self.count) }
    }
}

impl Drop for Words {
    fn drop(&mut self) {
        let _ = sys::partition_destroy(self.id);
    }
}

/// Three `n`×`n` matrices for the matrix-product workloads, each in a
/// partition of its own, sized so the three fill about `kib` KiB: `a` and
/// `b` filled with small repeating values, `c` zero. Returns `n` too.
pub fn square_matrices(kib: u64) -> Result<(usize, [Words; 3]), Error> {
    let n = ((kib * 128 / 3).isqrt() as usize).max(2);
    let mut a = Words::new(n * n, PartitionKind::Data)?;
    let mut b = Words::new(n * n, PartitionKind::Data)?;
    let c = Words::new(n * n, PartitionKind::Data)?;
    for index in 0..n * n {
        a[index] = index as u64 % 7 + 1;
        b[index] = index as u64 % 5 + 1;
    }
    Ok((n, [a, b, c]))
}

/// The wrapping sum of `words` (a workload's checksum).
pub fn sum(words: &[u64]) -> u64 {
    words.iter().fold(0u64, |sum, &word| sum.wrapping_add(word))
}

/// xorshift64*: a small seeded generator, the same sequence everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator with `seed` (0 is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }

    /// The next value.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value below `bound` (0 for a bound of 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.next() % bound }
    }
}

/// The size argument of a workload (`argv[1]`, in KiB), or `default`.
pub fn size_kib(args: &crate::Args, default: u64) -> u64 {
    args.get(1).and_then(|text| text.parse().ok()).filter(|&kib| kib > 0).unwrap_or(default)
}

/// Prints the closing line every workload ends with:
/// `workload <name> kib=<size> checksum=<value>`.
pub fn report(name: &str, kib: u64, checksum: u64) {
    crate::println!("workload {name} kib={kib} checksum={checksum:#x}");
}
