//! The workload half of `cargo xtask bench memory`: runs every workload
//! under every policy named on the command line, each in a fresh child that
//! inherits the policy, so the kernel's `memstat` lines carry the results.
//!
//! `bench-memory KIB POLICY... [--budget NAME=PAGES...]` (e.g.
//! `bench-memory 1024 demand leap`). With `--budget`, only the workloads
//! named after it run (`seq`, `matmul-blocked`, ...), each spawned with a
//! memory budget of PAGES from its first page on (`sys::spawn_with_budget`:
//! its code, stack and heap count too), so over it the kernel swaps its
//! pages out; their `memstat` lines carry `budget=PAGES`.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{CommitPolicy, ExitReason};
use alloc::vec::Vec;
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

const USAGE: &str = "usage: bench-memory KIB POLICY... [--budget NAME=PAGES...]";

runtime::entry!(main);

fn main(args: Args) -> i32 {
    let Some(kib) = args.get(1).and_then(|text| text.parse::<u64>().ok()) else {
        println!("{USAGE}");
        return 2;
    };
    let mut policies = Vec::new();
    let mut index = 2;
    while let Some(name) = args.get(index).filter(|&word| word != "--budget") {
        let Some(policy) = CommitPolicy::ALL.iter().copied().find(|policy| policy.name() == name) else {
            println!("bench-memory: unknown policy `{name}`");
            return 2;
        };
        policies.push((name, policy));
        index += 1;
    }
    // (workload path, budget in pages; 0: none).
    let runs: Vec<(&str, u64, u64)> = if args.get(index).is_some() {
        let mut runs = Vec::new();
        for word in (index + 1..).map_while(|index| args.get(index)) {
            let parsed = word.split_once('=').and_then(|(name, pages)| {
                let (path, divisor) = WORKLOADS.iter().copied().find(|(path, _)| path.strip_prefix("bin/wl-") == Some(name))?;
                Some((path, divisor, pages.parse::<u64>().ok().filter(|&pages| pages >= abi::MIN_MEMORY_BUDGET)?))
            });
            let Some(run) = parsed else {
                println!("bench-memory: `{word}` is not WORKLOAD=PAGES (a workload's name, at least {} pages)", abi::MIN_MEMORY_BUDGET);
                return 2;
            };
            runs.push(run);
        }
        if runs.is_empty() {
            println!("{USAGE}");
            return 2;
        }
        runs
    } else {
        WORKLOADS.iter().map(|&(path, divisor)| (path, divisor, 0)).collect()
    };
    println!("bench-tsc-hz {}", sys::clock().tsc_hz);
    let mut failures = 0;
    for (name, policy) in policies {
        for &(path, divisor, budget) in &runs {
            let size = alloc::format!("{}", (kib / divisor).max(16));
            let _ = sys::policy_set(policy);
            let outcome = sys::run_with_budget(path, &[size.as_str()], budget);
            let _ = sys::policy_set(CommitPolicy::Demand);
            if outcome != Ok(ExitReason::Exited(0)) {
                println!("bench-memory: {path} under {name} (budget {budget}): {outcome:?}");
                failures += 1;
            }
        }
    }
    i32::from(failures > 0)
}
