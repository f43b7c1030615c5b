//! The memory benchmark is reproducible: two runs of a small subset under
//! `-icount shift=0` write identical CSVs. Every count is identical, swap
//! included; with a swap disk attached (the rows under a budget) the
//! instructions in swap I/O differ (the disk's completions arrive in host
//! time while the kernel polls for them, from a few percent to twice as
//! many on a loaded host), and with them the guest instructions in all and
//! in the fault path, and the footprint (ticks pass while it polls). The
//! guest instructions outside swap I/O stay within 0.1% (in practice a
//! timer interrupt or two that land outside swap I/O instead of inside).

use boot::bench::Options;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Columns that depend on how long the swap disk takes: footprint (page ×
/// ticks), guest instructions in all, in the fault path and in swap I/O.
const TIMED: [&str; 6] =
    ["footprint", "guest_instructions", "fault_path_instructions", "swap_io_instructions", "pae_instructions", "pae_model_instructions"];

/// The CSV's rows as column → value.
fn parse(csv: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines.map(|line| header.iter().map(|column| column.to_string()).zip(line.split(',').map(str::to_owned)).collect()).collect()
}

/// A row with its timed columns blanked if it ran with a swap disk.
fn counts(row: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let swap_disk = !row["budget"].is_empty();
    row.iter()
        .map(|(column, value)| (column.clone(), if swap_disk && TIMED.contains(&column.as_str()) { String::new() } else { value.clone() }))
        .collect()
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
        budgets: boot::bench::DEFAULT_BUDGETS.to_vec(),
        model: None,
        folds: Some(boot::workspace_root().join(boot::bench::DEFAULT_FOLDS)),
    };
    let out = boot::target_dir().join("bench-determinism");
    let (first, _) = boot::bench::run(&options, &out.join("first")).expect("the first run");
    let (second, _) = boot::bench::run(&options, &out.join("second")).expect("the second run");
    let (first, second) = (parse(&first), parse(&second));
    assert_eq!(first.iter().map(counts).collect::<Vec<_>>(), second.iter().map(counts).collect::<Vec<_>>(), "the two runs differ");
    for (one, other) in first.iter().zip(&second) {
        let swap_io = |row: &BTreeMap<String, String>| row["swap_io_instructions"].parse::<u64>().unwrap_or(0);
        let outside = |row| number(row, "guest_instructions") - swap_io(row);
        assert!(outside(one).abs_diff(outside(other)) <= outside(one) / 1000, "instructions outside swap I/O differ:\n{one:?}\n{other:?}");
    }
    assert_eq!(
        first.len(),
        10 * 5 + 2 * 5 * 3 + 6 * 3,
        "ten workloads under five policies, two of them under three budgets, one trace under six at three budgets:\n{first:#?}"
    );
    assert!(first.iter().all(|row| number(row, "guest_instructions") > 0), "instructions are measured");
    for kind in ["workload", "trace"] {
        let at = |budget: &'static str| first.iter().filter(move |row| row["kind"] == kind && row["budget"] == budget);
        assert!(at("25%").any(|row| number(row, "major_faults") > 0 && number(row, "swap_io_instructions") > 0), "{kind}s swap at a quarter");
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
}
