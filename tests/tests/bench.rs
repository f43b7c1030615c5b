//! The memory benchmark is reproducible: two runs of a small subset under
//! `-icount shift=0` write byte-identical `results.csv` and `layout.csv`
//! files. Every count is identical, swap included; with a swap disk
//! attached (the rows under a budget) the instructions in swap I/O differ
//! (the disk's completions arrive in host time while the kernel polls for
//! them, from a few percent to twice as many on a loaded host), and with
//! them the guest instructions in all and in the fault path, and the
//! footprint (ticks pass while it polls): those go to `timing.csv`, where
//! the guest instructions outside swap I/O stay within 0.1% (in practice a
//! timer interrupt or two that land outside swap I/O instead of inside).

use bench::Options;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The CSV's rows as column → value.
fn parse(csv: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines.map(|line| header.iter().map(|column| column.to_string()).zip(line.split(',').map(str::to_owned)).collect()).collect()
}

fn number(row: &BTreeMap<String, String>, column: &str) -> u64 {
    row[column].parse().unwrap_or_else(|_| panic!("{column} is `{}` in {row:?}", row[column]))
}

#[test]
fn two_runs_of_the_memory_bench_give_identical_csvs() {
    let options = Options {
        traces: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces"),
        kib: 64,
        budget_kib: 64,
        budget_workloads: vec!["seq".to_owned(), "sort".to_owned()],
        accesses: 5_000,
        trace_limit: 1,
        budgets: bench::DEFAULT_BUDGETS.to_vec(),
        model: None,
        folds: Some(boot::workspace_root().join(bench::DEFAULT_FOLDS)),
        programs: None,
    };
    let out = boot::target_dir().join("bench-determinism");
    let (first_csv, _) = bench::run(&options, &out.join("first")).expect("the first run");
    let (second_csv, _) = bench::run(&options, &out.join("second")).expect("the second run");
    assert_eq!(first_csv, second_csv, "results.csv differs between the runs");
    let file = |run: &str, name: &str| std::fs::read_to_string(out.join(run).join(name)).unwrap_or_else(|error| panic!("{run}/{name}: {error}"));
    assert_eq!(file("first", "results.csv"), first_csv, "run() returns what it wrote");
    let (first, timing) = (parse(&first_csv), parse(&file("first", "timing.csv")));
    for (one, other) in timing.iter().zip(&parse(&file("second", "timing.csv"))) {
        assert_eq!((&one["name"], &one["policy"], &one["budget"]), (&other["name"], &other["policy"], &other["budget"]));
        let outside = |row| number(row, "guest_instructions") - number(row, "swap_io_instructions");
        assert!(outside(one).abs_diff(outside(other)) <= outside(one) / 1000, "instructions outside swap I/O differ:\n{one:?}\n{other:?}");
    }
    assert_eq!(
        first.len(),
        10 * 5 + 2 * 5 * 3 + 6 * 3,
        "ten workloads under five policies, two of them under three budgets, one trace under six at three budgets:\n{first:#?}"
    );
    assert_eq!(timing.len(), 2 * 5 * 3 + 6 * 3, "a timing row per run under a budget");
    for row in &first {
        let timed = !row["budget"].is_empty();
        assert_eq!(row["guest_instructions"].is_empty(), timed, "instructions in results.csv exactly for runs without a swap disk: {row:?}");
    }
    assert!(first.iter().filter(|row| row["budget"].is_empty()).all(|row| number(row, "guest_instructions") > 0), "instructions are measured");
    assert!(timing.iter().all(|row| number(row, "guest_instructions") > 0), "instructions are measured");
    for kind in ["workload", "trace"] {
        let at = |budget: &'static str| first.iter().filter(move |row| row["kind"] == kind && row["budget"] == budget);
        assert!(at("25%").any(|row| number(row, "major_faults") > 0), "{kind}s swap at a quarter");
        let timed = |budget: &'static str| timing.iter().filter(move |row| row["kind"] == kind && row["budget"] == budget);
        assert!(timed("25%").any(|row| number(row, "swap_io_instructions") > 0), "{kind}s' swap I/O is timed at a quarter");
        assert!(at("100%").all(|row| row["policy"] != "demand" || number(row, "major_faults") == 0), "{kind}s fit at 100% under demand paging");
        assert!(at("50%").all(|row| number(row, "bytes_read") == 4096 * number(row, "swap_ins")));
    }
    for row in first.iter().filter(|row| row["kind"] == "workload" && !row["budget"].is_empty()) {
        // The distinct pages are demand paging's peak without a budget, and a
        // process spawned with a budget never holds more.
        assert!(number(row, "peak_committed") <= number(row, "budget_pages"), "over its budget: {row:?}");
        let unbudgeted = first.iter().find(|other| other["name"] == row["name"] && other["budget"].is_empty() && other["policy"] == "demand");
        assert_eq!(row["distinct_pages"], unbudgeted.expect("the run without a budget")["peak_committed"]);
    }
    for row in first.iter().filter(|row| row["kind"] == "trace") {
        // First-touch faults stay near the simulator's under every budget
        // (a prefetch that evicted the page its fault had just served made
        // the oracle fault several times per page), and equal them when
        // every page fits. Under pressure the replay's own pages (code,
        // stack, heap: a few pages next to this trace's 34 or 17) take part
        // in CLOCK's sweeps and the simulator has none, so a few faults
        // move either way.
        let (kernel, simulated) = (number(row, "faults"), number(row, "sim_faults"));
        assert!(kernel.abs_diff(simulated) <= simulated / 5 + 2, "first-touch faults {kernel}, simulated {simulated}: {row:?}");
        if row["budget"] == "100%" {
            assert_eq!(number(row, "trace_major_faults"), 0, "every page the trace touches fits: {row:?}");
            if number(row, "evictions") == 0 {
                // Nothing committed ahead beyond the budget either.
                assert_eq!(kernel, simulated, "all pages fit: {row:?}");
            }
        }
    }
    // Layout proposals: the second run under pae of each program faults
    // less in all than the first, and the comparison is the same twice.
    assert_eq!(file("first", "layout.csv"), file("second", "layout.csv"), "the layout comparison differs between the runs");
    let one = parse(&file("first", "layout.csv"));
    assert_eq!(one.len(), 10 + 1, "ten workloads and one trace, two runs each: {one:#?}");
    for kind in ["workload", "trace"] {
        let total = |column: &str| one.iter().filter(|row| row["kind"] == kind).map(|row| number(row, column)).sum::<u64>();
        assert!(total("run2_layout_commits") > 0, "{kind}s: the second runs committed from their proposals: {one:#?}");
        assert!(total("run2_faults") < total("run1_faults"), "{kind}s fault less on their second run: {one:#?}");
    }
}
