//! Workload: naive i-j-k multiplication of two square matrices of `u64`.

#![no_std]
#![no_main]

use runtime::workload;

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let kib = workload::size_kib(&args, 768);
    let Ok((n, [a, b, mut c])) = workload::square_matrices(kib) else { return 1 };
    for i in 0..n {
        for j in 0..n {
            let mut sum = 0u64;
            for k in 0..n {
                sum = sum.wrapping_add(a[i * n + k].wrapping_mul(b[k * n + j]));
            }
            c[i * n + j] = sum;
        }
    }
    let checksum = workload::sum(&c);
    workload::report("matmul", kib, checksum);
    0
}
