//! The memory benchmark is reproducible: two runs of a small subset under
//! `-icount shift=0` write identical CSVs. Every count is identical, swap
//! included; with a swap disk attached (the trace rows) the guest
//! instructions and the footprint may differ a little, as the disk's
//! completions arrive in host time while the kernel polls for them.

use boot::bench::Options;
use std::path::PathBuf;

/// Columns that depend on guest time: footprint (page × ticks), guest
/// instructions in all and in the fault path.
const TIMED: [usize; 3] = [10, 11, 12];

/// A row with the timed columns of trace rows blanked.
fn counts(line: &str) -> String {
    let trace = line.contains(",trace,");
    line.split(',').enumerate().map(|(index, field)| if trace && TIMED.contains(&index) { "" } else { field }).collect::<Vec<_>>().join(",")
}

#[test]
fn two_runs_of_the_memory_bench_give_identical_csvs() {
    let options = Options {
        traces: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces"),
        kib: 64,
        accesses: 5_000,
        trace_limit: 1,
        budgets: boot::bench::DEFAULT_BUDGETS.to_vec(),
    };
    let out = boot::target_dir().join("bench-determinism");
    let (first, _) = boot::bench::run(&options, &out.join("first")).expect("the first run");
    let (second, _) = boot::bench::run(&options, &out.join("second")).expect("the second run");
    assert_eq!(first.lines().map(counts).collect::<Vec<_>>(), second.lines().map(counts).collect::<Vec<_>>(), "the two runs differ");
    for (one, other) in first.lines().zip(second.lines()).skip(1) {
        let instructions = |line: &str| line.split(',').nth(11).and_then(|field| field.parse::<f64>().ok()).unwrap_or(0.0);
        let (one, other) = (instructions(one), instructions(other));
        assert!((one - other).abs() <= one * 0.05, "guest instructions {one} and {other} differ by over 5%");
    }
    let rows = first.lines().count() - 1;
    assert_eq!(rows, 10 * 4 + 5 * 3, "ten workloads under four policies, one trace under five at three budgets:\n{first}");
    let instructions = |line: &str| line.split(',').skip(11).take(2).map(str::to_owned).collect::<Vec<_>>();
    assert!(first.lines().skip(1).all(|line| instructions(line) != ["0", "0"]), "instruction counts are measured:\n{first}");
    let major = |line: &str| line.split(',').nth(15).and_then(|major| major.parse::<u64>().ok());
    assert!(
        first.lines().any(|line| line.split(',').nth(13) == Some("25") && major(line).is_some_and(|major| major > 0)),
        "a quarter budget swaps:\n{first}"
    );
    for line in first.lines().filter(|line| line.contains(",trace,")) {
        let fields: Vec<&str> = line.split(',').collect();
        let number = |index: usize| -> u64 { fields[index].parse().unwrap() };
        // First-touch faults stay near the simulator's under every budget
        // (a prefetch that evicted the page its fault had just served made
        // the oracle fault several times per page), and equal them when
        // every page fits.
        let (kernel, simulated) = (number(3), number(22));
        assert!(kernel.abs_diff(simulated) <= simulated / 10 + 2, "first-touch faults {kernel}, simulated {simulated}: {line}");
        if fields[13] == "100" {
            assert_eq!((kernel, number(16)), (simulated, 0), "all pages fit: {line}");
        }
    }
}
