//! Workload: naive i-j-k multiplication of two square matrices of `u64`.

#![no_std]
#![no_main]

use abi::PartitionKind;
use runtime::workload::{self, Words};

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let kib = workload::size_kib(&args, 768);
    let n = ((kib * 128 / 3).isqrt() as usize).max(2);
    let (Ok(mut a), Ok(mut b), Ok(mut c)) =
        (Words::new(n * n, PartitionKind::Data), Words::new(n * n, PartitionKind::Data), Words::new(n * n, PartitionKind::Data))
    else {
        return 1;
    };
    for index in 0..n * n {
        a[index] = index as u64 % 7 + 1;
        b[index] = index as u64 % 5 + 1;
    }
    for i in 0..n {
        for j in 0..n {
            let mut sum = 0u64;
            for k in 0..n {
                sum = sum.wrapping_add(a[i * n + k].wrapping_mul(b[k * n + j]));
            }
            c[i * n + j] = sum;
        }
    }
    let checksum = c.iter().fold(0u64, |sum, &value| sum.wrapping_add(value));
    workload::report("matmul", kib, checksum);
    0
}
