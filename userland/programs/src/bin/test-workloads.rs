//! Every workload program runs to completion, with correct results, under
//! each commit policy (children inherit the policy of the process that
//! starts them).

#![no_std]
#![no_main]

use abi::{CommitPolicy, ExitReason};
use runtime::{check, check_eq, sys};

/// The workloads, with a small size (KiB) that keeps the test quick.
const WORKLOADS: [(&str, &str); 10] = [
    ("bin/wl-seq", "256"),
    ("bin/wl-stride", "256"),
    ("bin/wl-random", "256"),
    ("bin/wl-listchase", "256"),
    ("bin/wl-matmul", "48"),
    ("bin/wl-matmul-blocked", "48"),
    ("bin/wl-hashtab", "256"),
    ("bin/wl-bintree", "256"),
    ("bin/wl-sort", "128"),
    ("bin/wl-phases", "256"),
];

fn run_all(policy: CommitPolicy) -> runtime::TestResult {
    let previous = sys::policy_set(policy);
    check!(previous.is_ok(), "{previous:?}");
    // User frames outside this process (its own heap may grow meanwhile)
    // and the text store's cache (the workloads' text stays cached).
    let others = || {
        let info = sys::system_info();
        info.user_frames - info.text_cached_frames - sys::memory_counters().committed
    };
    let before = others();
    for (path, kib) in WORKLOADS {
        check_eq!(sys::run(path, &[kib]), Ok(ExitReason::Exited(0)), "{path} under {}", policy.name());
    }
    check_eq!(others(), before, "every workload gave its memory back");
    let _ = sys::policy_set(CommitPolicy::Demand);
    Ok(())
}

runtime::tests! {
    fn workloads_run_under_demand() {
        run_all(CommitPolicy::Demand)?;
    }

    fn workloads_run_under_eager() {
        run_all(CommitPolicy::Eager)?;
    }

    fn workloads_run_under_readahead() {
        run_all(CommitPolicy::Readahead)?;
    }

    fn workloads_run_under_leap() {
        run_all(CommitPolicy::Leap)?;
    }

    fn workloads_run_under_pae() {
        run_all(CommitPolicy::Pae)?;
    }
}
