//! The memory benchmark is reproducible: two runs of a small subset under
//! `-icount shift=0` write byte-identical CSVs.

use boot::bench::Options;
use std::path::PathBuf;

#[test]
fn two_runs_of_the_memory_bench_give_identical_csvs() {
    let options = Options {
        traces: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces"),
        kib: 64,
        accesses: 5_000,
        trace_limit: 1,
    };
    let out = boot::target_dir().join("bench-determinism");
    let (first, _) = boot::bench::run(&options, &out.join("first")).expect("the first run");
    let (second, _) = boot::bench::run(&options, &out.join("second")).expect("the second run");
    assert_eq!(first, second, "the two runs differ");
    let rows = first.lines().count() - 1;
    assert_eq!(rows, 10 * 4 + 5, "ten workloads under four policies, one trace under five:\n{first}");
    assert!(first.lines().skip(1).all(|line| !line.ends_with(",0,0")), "instruction counts are measured:\n{first}");
}
