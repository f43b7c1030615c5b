//! Memstat records, serial-log samples and hand-made rows the modules'
//! tests share.

use crate::rows::{Row, Simulated};
use boot::qemu::Memstat;
use trace::Budget;

/// The TSC line a boot of the benchmark prints.
pub(crate) const TSC_LINE: &str = "bench-tsc-hz 1000000000\n";

/// A memstat of `name` under `policy` with `counters` (by name; the rest 0).
pub(crate) fn memstat(name: &str, policy: &str, counters: &[(&str, u64)]) -> Memstat {
    let mut words = [0; abi::MemoryCounters::WORDS];
    for &(key, value) in counters {
        let at = abi::MemoryCounters::FIELDS.iter().position(|field| *field == key).unwrap_or_else(|| panic!("no counter {key}"));
        words[at] = value;
    }
    let policy = abi::CommitPolicy::from_name(policy).unwrap_or_else(|| panic!("no policy {policy}"));
    Memstat { name: name.to_owned(), policy, counters: abi::MemoryCounters::from_words(words) }
}

/// Two runs of the workload `seq` without a budget and another process.
pub(crate) fn serial() -> Vec<Memstat> {
    vec![
        memstat("wl-seq", "demand", &[("pid", 3), ("faults_demand", 10), ("peak_committed", 12), ("footprint", 5), ("run_cycles", 2000), ("fault_cycles", 100)]),
        memstat(
            "wl-seq",
            "leap",
            &[("pid", 4), ("faults_demand", 2), ("ahead_commits", 8), ("hits", 8), ("peak_committed", 12), ("footprint", 5), ("run_cycles", 1500), ("fault_cycles", 40)],
        ),
        memstat("bench-memory", "demand", &[("pid", 2), ("faults_demand", 1)]),
    ]
}

/// The same workload under a budget of 6 pages (50%).
pub(crate) fn budgeted() -> Vec<Memstat> {
    let under = |pid, policy, faults, ahead, run, fault, major, outs, evictions, io| {
        memstat("wl-seq", policy, &[
            ("pid", pid),
            ("faults_demand", faults),
            ("ahead_commits", ahead),
            ("hits", ahead),
            ("peak_committed", 6),
            ("run_cycles", run),
            ("fault_cycles", fault),
            ("budget", 6),
            ("faults_major", major),
            ("swap_outs", outs),
            ("swap_ins", major),
            ("evictions", evictions),
            ("swap_io_cycles", io),
        ])
    };
    vec![under(6, "demand", 10, 0, 4000, 900, 20, 14, 16, 700), under(7, "leap", 2, 8, 3000, 800, 23, 15, 17, 750)]
}

/// A trace row under `budget` percent under `policy`.
pub(crate) fn traced(name: &str, budget: u64, policy: &str, major: u64, simulated: u64, belady: u64) -> Row {
    Row {
        name: name.to_owned(),
        kind: "trace",
        policy: policy.to_owned(),
        faults: 10,
        budget: Some(Budget::Percent(budget)),
        budget_pages: budget / 10,
        distinct: 10,
        major: major + 2,
        trace_major: major,
        swap_outs: major + 1,
        swap_ins: major,
        simulated: Some(Simulated { faults: 10, major: simulated }),
        belady: Some(belady),
        ..Row::default()
    }
}

/// Traces `a` (under 100 % and 50 %) and `b` (under 50 %), each under
/// demand and leap.
pub(crate) fn pressured() -> Vec<Row> {
    vec![
        traced("a", 100, "demand", 0, 0, 0),
        traced("a", 100, "leap", 0, 0, 0),
        traced("a", 50, "demand", 20, 20, 10),
        traced("a", 50, "leap", 23, 22, 10),
        traced("b", 50, "demand", 10, 10, 4),
        traced("b", 50, "leap", 10, 10, 4),
    ]
}
