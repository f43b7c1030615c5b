//! The workload half of `cargo xtask bench memory`: runs every workload
//! under every policy named on the command line, each in a fresh child that
//! inherits the policy, so the kernel's `memstat` lines carry the results.
//!
//! `bench-memory KIB POLICY...` (e.g. `bench-memory 1024 demand leap`).

#![no_std]
#![no_main]

extern crate alloc;

use abi::{CommitPolicy, ExitReason};
use runtime::{println, sys, Args};

/// Every workload, with its share of the size (matrix products are cubic).
const WORKLOADS: [(&str, u64); 10] = [
    ("bin/wl-seq", 1),
    ("bin/wl-stride", 1),
    ("bin/wl-random", 1),
    ("bin/wl-listchase", 1),
    ("bin/wl-matmul", 16),
    ("bin/wl-matmul-blocked", 16),
    ("bin/wl-hashtab", 1),
    ("bin/wl-bintree", 1),
    ("bin/wl-sort", 2),
    ("bin/wl-phases", 1),
];

runtime::entry!(main);

fn main(args: Args) -> i32 {
    let Some(kib) = args.get(1).and_then(|text| text.parse::<u64>().ok()) else {
        println!("usage: bench-memory KIB POLICY...");
        return 2;
    };
    println!("bench-tsc-hz {}", sys::clock().tsc_hz);
    let mut failures = 0;
    for index in 2.. {
        let Some(name) = args.get(index) else { break };
        let Some(policy) = CommitPolicy::ALL.iter().copied().find(|policy| policy.name() == name) else {
            println!("bench-memory: unknown policy `{name}`");
            return 2;
        };
        for (path, divisor) in WORKLOADS {
            let size = alloc::format!("{}", (kib / divisor).max(16));
            let _ = sys::policy_set(policy);
            let outcome = sys::run(path, &[size.as_str()]);
            let _ = sys::policy_set(CommitPolicy::Demand);
            if outcome != Ok(ExitReason::Exited(0)) {
                println!("bench-memory: {path} under {name}: {outcome:?}");
                failures += 1;
            }
        }
    }
    i32::from(failures > 0)
}
