//! Workload: the same product as `wl-matmul`, computed in 16×16 tiles.

#![no_std]
#![no_main]

use runtime::workload;

runtime::entry!(main);

const TILE: usize = 16;

fn main(args: runtime::Args) -> i32 {
    let kib = workload::size_kib(&args, 768);
    let Ok((n, [a, b, mut c])) = workload::square_matrices(kib) else { return 1 };
    for i0 in (0..n).step_by(TILE) {
        for k0 in (0..n).step_by(TILE) {
            for j0 in (0..n).step_by(TILE) {
                for i in i0..(i0 + TILE).min(n) {
                    for k in k0..(k0 + TILE).min(n) {
                        let left = a[i * n + k];
                        for j in j0..(j0 + TILE).min(n) {
                            c[i * n + j] = c[i * n + j].wrapping_add(left.wrapping_mul(b[k * n + j]));
                        }
                    }
                }
            }
        }
    }
    let checksum = workload::sum(&c);
    workload::report("matmul-blocked", kib, checksum);
    0
}
