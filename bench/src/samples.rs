//! Serial-log samples and hand-made rows the modules' tests share.

use crate::rows::{Row, Simulated};
use trace::Budget;

/// Two runs of the workload `seq` without a budget and a line of another
/// process.
pub(crate) const SERIAL: &str = "bench-tsc-hz 1000000000\n\
    [ 1.0] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=demand pid=3 faults_demand=10 ahead_commits=0 hits=0 waste=0 peak_committed=12 footprint=5 run_cycles=2000 fault_cycles=100\n\
    [ 1.1] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=leap pid=4 faults_demand=2 ahead_commits=8 hits=8 waste=0 peak_committed=12 footprint=5 run_cycles=1500 fault_cycles=40\n\
    [ 1.2] cpu0 INFO  process::lifecycle: memstat name=bench-memory policy=demand pid=2 faults_demand=1\n";

/// The same workload under a budget of 6 pages (50%).
pub(crate) const BUDGETED: &str = "bench-tsc-hz 1000000000\n\
    [ 2.0] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=demand pid=6 faults_demand=10 peak_committed=6 run_cycles=4000 fault_cycles=900 budget=6 faults_major=20 swap_outs=14 swap_ins=20 evictions=16 swap_io_cycles=700\n\
    [ 2.1] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=leap pid=7 faults_demand=2 ahead_commits=8 hits=8 peak_committed=6 run_cycles=3000 fault_cycles=800 budget=6 faults_major=23 swap_outs=15 swap_ins=23 evictions=17 swap_io_cycles=750\n";

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
