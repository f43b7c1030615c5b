//! The results' rows and how they are read from a boot: the `Memstat`
//! records of workloads, the `replay` lines the replay program prints for
//! traces (with its process's `Memstat` record, found by pid), the TSC
//! frequency, the simulator's counts attached to trace rows, and the pairs
//! of runs for layout proposals.

use anyhow::{Context, Result, bail};
use boot::qemu::Memstat;
use std::collections::BTreeMap;
use trace::Budget;

/// One row of the results: a workload or trace under a policy, without a
/// memory budget (workloads only) or under one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub name: String,
    pub kind: &'static str,
    /// The workload's size in KiB (0 for traces).
    pub kib: u64,
    pub policy: String,
    /// First-touch (demand) faults.
    pub faults: u64,
    pub ahead: u64,
    pub hits: u64,
    pub waste: u64,
    pub peak: u64,
    pub footprint: u64,
    pub run_cycles: u64,
    pub fault_cycles: u64,
    /// The memory budget it ran under (`None`: none).
    pub budget: Option<Budget>,
    /// That budget in pages: a trace's over its own pages, a workload's over
    /// the whole process.
    pub budget_pages: u64,
    /// The distinct pages of the trace or workload (see the crate docs).
    pub distinct: u64,
    /// Faults that read a page back from swap (the process's; for a trace,
    /// its replay process's own pages included: they share the budget and
    /// CLOCK's sweeps).
    pub major: u64,
    /// Those on a trace's pages alone (traces).
    pub trace_major: u64,
    pub swap_outs: u64,
    pub swap_ins: u64,
    /// Pages evicted (written to swap or dropped).
    pub evicted: u64,
    /// Time-stamp-counter cycles in swap reads and writes (guest
    /// instructions under `-icount`, with `bench-tsc-hz`).
    pub swap_io_cycles: u64,
    /// Steps of the PAE's model for the run, and the TSC cycles of its
    /// kernel task (history, model, commits; guest instructions under
    /// `-icount`, with `bench-tsc-hz`).
    pub pae_steps: u64,
    pub pae_cycles: u64,
    /// Of `pae_cycles`, those in the model's steps (the inference).
    pub pae_model_cycles: u64,
    /// The model file (`pae` rows).
    pub model: String,
    /// Pages committed from the program's layout proposal (second runs).
    pub layout_commits: u64,
    /// What the host simulator counts for the same trace, policy and budget.
    pub simulated: Option<Simulated>,
    /// Belady's major faults (demand paging, optimal eviction) for the same
    /// trace and budget, from the simulator: the limit.
    pub belady: Option<u64>,
    /// The oracle's prefetching with Belady's eviction, from the simulator:
    /// the limit with prefetching.
    pub oracle_belady: Option<u64>,
}

impl Row {
    /// The major faults the pressure report compares: on a trace's pages,
    /// or a workload's in all (its budget covers its whole process).
    pub fn run_major(&self) -> u64 {
        if self.kind == "trace" { self.trace_major } else { self.major }
    }
}

/// The host simulator's counts for one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Simulated {
    /// First-touch faults.
    pub faults: u64,
    /// Major faults.
    pub major: u64,
}

/// Reads the workload rows (memstats of `wl-*` processes) of a boot that
/// ran them at `kib` KiB under `budget`; `distinct` gives each workload's
/// distinct pages.
pub(crate) fn workload_rows(memstats: &[Memstat], budget: Option<Budget>, kib: u64, distinct: &BTreeMap<String, u64>) -> Vec<Row> {
    memstats
        .iter()
        .filter_map(|stat| {
            let name = stat.name.strip_prefix("wl-")?.to_owned();
            let counters = &stat.counters;
            Some(Row {
                kind: "workload",
                kib,
                policy: stat.policy.name().to_owned(),
                faults: counters.faults_demand,
                ahead: counters.ahead_commits,
                hits: counters.hits,
                waste: counters.waste,
                peak: counters.peak_committed,
                footprint: counters.footprint,
                run_cycles: counters.run_cycles,
                fault_cycles: counters.fault_cycles,
                budget,
                budget_pages: counters.budget,
                distinct: distinct.get(&name).copied().unwrap_or(0),
                major: counters.faults_major,
                swap_outs: counters.swap_outs,
                swap_ins: counters.swap_ins,
                evicted: counters.evictions,
                swap_io_cycles: counters.swap_io_cycles,
                pae_steps: counters.pae_steps,
                pae_cycles: counters.pae_cycles,
                pae_model_cycles: counters.pae_model_cycles,
                layout_commits: counters.layout_commits,
                name,
                ..Row::default()
            })
        })
        .collect()
}

/// Each workload's distinct pages: its peak committed pages under demand
/// paging without a budget.
pub(crate) fn workload_distinct(rows: &[Row]) -> BTreeMap<String, u64> {
    rows.iter()
        .filter(|row| row.kind == "workload" && row.budget.is_none() && row.policy == "demand")
        .map(|row| (row.name.clone(), row.peak))
        .collect()
}

/// Reads the trace rows of trace `name` (of `distinct` pages) run under
/// `budget`: each `replay ...` line in `serial` (its counters and cycles
/// cover the replay itself), with the peak, footprint and layout commits
/// of the memstat of the process that printed it (the line's `pid`).
pub(crate) fn trace_rows(serial: &str, memstats: &[Memstat], name: &str, budget: Option<Budget>, distinct: u64) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = Vec::new();
    for line in serial.lines() {
        let Some(rest) = line.strip_prefix("replay ") else { continue };
        let fields: BTreeMap<&str, &str> = rest.split_whitespace().filter_map(|word| word.split_once('=')).collect();
        let number = |key: &str| -> Result<u64> {
            fields.get(key).with_context(|| format!("no {key} in `{line}`"))?.parse().with_context(|| format!("bad {key} in `{line}`"))
        };
        let pid = number("pid")?;
        let process = memstats.iter().find(|stat| stat.name == "replay" && stat.pid() == pid).map(|stat| &stat.counters);
        rows.push(Row {
            name: name.to_owned(),
            kind: "trace",
            policy: fields.get("policy").context("no policy")?.to_string(),
            faults: number("faults")?,
            ahead: number("ahead")?,
            hits: number("hits")?,
            waste: number("waste")?,
            peak: process.map_or(0, |counters| counters.peak_committed),
            footprint: process.map_or(0, |counters| counters.footprint),
            layout_commits: process.map_or(0, |counters| counters.layout_commits),
            budget,
            budget_pages: number("budget")?,
            distinct,
            major: number("major")?,
            trace_major: number("trace_major")?,
            swap_outs: number("swap_outs")?,
            swap_ins: number("swap_ins")?,
            evicted: number("evicted")?,
            run_cycles: number("cycles")?,
            fault_cycles: number("fault_cycles")?,
            swap_io_cycles: number("swap_io_cycles")?,
            pae_steps: number("pae_steps")?,
            pae_cycles: number("pae_cycles")?,
            pae_model_cycles: number("pae_model_cycles")?,
            ..Row::default()
        });
    }
    Ok(rows)
}

/// The simulator's counts for one trace: (budget, policy) → counts,
/// Belady's under the policy name `belady`.
pub(crate) type Simulations = BTreeMap<(String, String), Simulated>;

/// Gives the trace rows of `name` their simulated counts and Belady's.
pub(crate) fn attach(rows: &mut [Row], name: &str, simulations: &Simulations) {
    for row in rows.iter_mut().filter(|row| row.kind == "trace" && row.name == name) {
        let Some(budget) = row.budget.map(|budget| budget.to_string()) else { continue };
        row.simulated = simulations.get(&(budget.clone(), row.policy.clone())).copied();
        row.belady = simulations.get(&(budget.clone(), "belady".to_owned())).map(|belady| belady.major);
        row.oracle_belady = simulations.get(&(budget, "oracle-belady".to_owned())).map(|limit| limit.major);
    }
}

pub(crate) fn tsc_hz(serial: &str) -> Result<u64> {
    serial
        .lines()
        .find_map(|line| line.strip_prefix("bench-tsc-hz ").and_then(|hz| hz.trim().parse().ok()))
        .context("no `bench-tsc-hz` line")
}

/// A program's first and second run under `pae` in one boot: the second
/// starts from the layout proposal the first left (`pae::proposal`).
#[derive(Clone, Debug, PartialEq)]
pub struct LayoutRuns {
    /// The first run.
    pub first: Row,
    /// The second run.
    pub second: Row,
}

/// Pairs the rows of a boot that ran each program twice under `pae`, in
/// the order they ran: a name's first row with its second.
pub(crate) fn layout_pairs(rows: Vec<Row>) -> Result<Vec<LayoutRuns>> {
    let mut firsts: Vec<Row> = Vec::new();
    let mut pairs = Vec::new();
    for row in rows {
        if row.policy != "pae" {
            bail!("{} ran under {}, not pae", row.name, row.policy);
        }
        match firsts.iter().position(|first| first.name == row.name) {
            Some(at) => pairs.push(LayoutRuns { first: firsts.remove(at), second: row }),
            None => firsts.push(row),
        }
    }
    if let Some(alone) = firsts.first() {
        bail!("{} ran once, not twice", alone.name);
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::{TSC_LINE, budgeted, memstat, serial};
    use crate::plot::plot_budgets;
    use crate::report::{layout_report, report, timing_report};

    #[test]
    fn workload_rows_come_from_memstats_of_workloads_only() {
        let rows = workload_rows(&serial(), None, 64, &BTreeMap::new());
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].name.as_str(), rows[1].policy.as_str(), rows[1].faults, rows[1].hits), ("seq", "leap", 2, 8));
        assert_eq!(workload_distinct(&rows), BTreeMap::from([("seq".to_owned(), 12)]), "demand paging's peak");
        assert_eq!(tsc_hz(TSC_LINE).unwrap(), 1_000_000_000);
        let (csv, md) = report(&rows, 1_000_000_000);
        assert!(csv.lines().nth(2).unwrap().starts_with("seq,workload,64,leap,2,8,8,0,0.8000,1.0000,12,5,1500,40"), "{csv}");
        assert!(md.contains("| leap | 1 | 0.800 | 1.000 |"), "{md}");
    }

    #[test]
    fn budgeted_workload_rows_carry_their_budget_and_swap_counters() {
        let distinct = BTreeMap::from([("seq".to_owned(), 12)]);
        let rows = workload_rows(&budgeted(), Some(Budget::Percent(50)), 64, &distinct);
        assert_eq!(rows.len(), 2);
        let row = &rows[1];
        assert_eq!((row.budget, row.budget_pages, row.distinct), (Some(Budget::Percent(50)), 6, 12));
        assert_eq!((row.major, row.swap_outs, row.swap_ins, row.evicted, row.swap_io_cycles), (23, 15, 23, 17, 750));
        assert_eq!((row.run_major(), row.trace_major), (23, 0), "a workload's major faults are its process's");
        let mut all = workload_rows(&serial(), None, 64, &distinct);
        all.extend(rows);
        let (csv, md) = report(&all, 1_000_000_000);
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let line: Vec<&str> = csv.lines().nth(4).unwrap().split(',').collect();
        let field = |name: &str| line[header.iter().position(|column| *column == name).unwrap()];
        assert_eq!(
            ["budget", "budget_pages", "distinct_pages", "major_faults", "trace_major_faults", "bytes_written", "swap_io_instructions"].map(field),
            ["50%", "6", "12", "23", "", "61440", ""],
            "timed columns are left out under a budget"
        );
        assert_eq!(
            timing_report(&all, 1_000_000_000),
            "name,kind,kib,policy,budget,footprint,guest_instructions,fault_path_instructions,swap_io_instructions,pae_instructions,pae_model_instructions\n\
             seq,workload,64,demand,50%,0,4000,900,700,,\n\
             seq,workload,64,leap,50%,0,3000,800,750,,\n",
            "and go to timing.csv"
        );
        assert!(md.contains("*workloads, major faults relative to demand paging:*\n\n| policy | 50% |\n|---|---:|\n| demand | 1.000 (1) |\n| leap | 1.150 (1) |"), "{md}");
        assert!(md.contains("| leap | 1.917 |"), "per distinct page: 23/12: {md}");
        assert!(md.contains("| seq | workload | 50% | leap | 23 | 20 | 1.150 |"), "flagged: {md}");
        assert!(!md.contains("Kernel against simulator"), "no simulator for workloads: {md}");
        assert!(md.contains("| leap | 1 | 0.800 | 1.000 |"), "per-policy means over the unbudgeted runs: {md}");
        let svg = plot_budgets(&all).unwrap();
        assert!(svg.contains("workloads") && !svg.contains("traces"), "one panel, the workloads'");
    }

    #[test]
    fn layout_runs_pair_each_programs_first_and_second_run() {
        let run = |name, pid, faults, ahead, hits, peak, layout| {
            memstat(name, "pae", &[("pid", pid), ("faults_demand", faults), ("ahead_commits", ahead), ("hits", hits), ("peak_committed", peak), ("layout_commits", layout)])
        };
        let memstats =
            [run("wl-seq", 3, 10, 4, 4, 12, 0), run("wl-sort", 4, 20, 0, 0, 30, 0), run("wl-seq", 5, 2, 12, 12, 12, 9), run("wl-sort", 6, 25, 1, 0, 31, 1)];
        let pairs = layout_pairs(workload_rows(&memstats, None, 64, &BTreeMap::new())).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!((pairs[0].first.faults, pairs[0].second.faults, pairs[0].second.layout_commits), (10, 2, 9));
        assert_eq!((pairs[1].first.name.as_str(), pairs[1].first.faults, pairs[1].second.faults), ("sort", 20, 25));
        let (csv, md) = layout_report(&pairs);
        assert_eq!(csv.lines().nth(1), Some("seq,workload,,10,2,9,4,12,4,12,12,12"), "{csv}");
        assert!(md.contains("| seq | workload | 10 | 2 | 9 | 4 | 12 | 12 | 12 |"), "{md}");
        assert!(md.contains("workloads: 30 demand faults on run 1, 27 on run 2 (90.0 %); run 2 faulted less on 1 of 2; peak pages 42 → 43."), "{md}");
        let once = workload_rows(&memstats[..3], None, 64, &BTreeMap::new());
        assert!(layout_pairs(once).is_err(), "a program that ran once is an error");
        let demand = workload_rows(&serial(), None, 64, &BTreeMap::new());
        assert!(layout_pairs(demand).is_err(), "runs under another policy are an error");
    }

    #[test]
    fn trace_rows_pair_each_replay_with_its_process() {
        let serial = "replay replay/a.vrpl policy=leap accesses=9 faults=3 ahead=4 hits=3 waste=1 budget=8 own=20 major=5 trace_major=4 swap_outs=6 swap_ins=5 evicted=7 cycles=70 fault_cycles=7 swap_io_cycles=5 pae_steps=0 pae_cycles=0 pae_model_cycles=0 pid=5\n";
        let memstats = [
            memstat("replay", "leap", &[("pid", 5), ("peak_committed", 7), ("footprint", 9), ("run_cycles", 700), ("fault_cycles", 70)]),
            memstat("replay", "demand", &[("pid", 1), ("run_cycles", 99)]),
        ];
        let rows = trace_rows(serial, &memstats, "a", Some(Budget::Percent(50)), 16).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].faults, rows[0].ahead, rows[0].waste, rows[0].run_cycles, rows[0].peak), (3, 4, 1, 70, 7));
        assert_eq!((rows[0].budget, rows[0].budget_pages, rows[0].distinct), (Some(Budget::Percent(50)), 8, 16));
        assert_eq!((rows[0].major, rows[0].trace_major, rows[0].swap_outs, rows[0].swap_ins, rows[0].evicted), (5, 4, 6, 5, 7));
        assert_eq!((rows[0].fault_cycles, rows[0].swap_io_cycles, rows[0].run_major()), (7, 5, 4), "the replay's, not the process's");
        assert!(trace_rows("replay replay/a.vrpl policy=leap faults=x\n", &memstats, "a", None, 1).is_err());
        assert!(trace_rows("replay replay/a.vrpl policy=leap accesses=9 faults=3 ahead=4 hits=3 waste=1\n", &memstats, "a", None, 1).is_err(), "no budget");
    }

    /// A complete `replay` line: trace `a` under `leap`, by pid 5.
    const REPLAY: &str = "replay replay/a.vrpl policy=leap accesses=9 faults=3 ahead=4 hits=3 waste=1 budget=8 own=20 major=5 trace_major=4 swap_outs=6 swap_ins=5 evicted=7 cycles=70 fault_cycles=7 swap_io_cycles=5 pae_steps=0 pae_cycles=0 pae_model_cycles=0 pid=5";

    #[test]
    fn a_replay_line_without_a_counter_or_with_a_bad_one_is_an_error_naming_it() {
        assert_eq!(trace_rows(REPLAY, &[], "a", None, 16).unwrap().len(), 1, "the complete line is a row");
        let keys = [
            "faults", "ahead", "hits", "waste", "budget", "major", "trace_major", "swap_outs", "swap_ins", "evicted", "cycles", "fault_cycles",
            "swap_io_cycles", "pae_steps", "pae_cycles", "pae_model_cycles", "pid",
        ];
        for key in keys {
            let without: Vec<&str> = REPLAY.split(' ').filter(|word| !word.starts_with(&format!("{key}="))).collect();
            assert_eq!(without.len(), REPLAY.split(' ').count() - 1, "{key} is one word");
            let error = trace_rows(&without.join(" "), &[], "a", None, 16).unwrap_err().to_string();
            assert!(error.starts_with(&format!("no {key} in `replay replay/a.vrpl")), "{key}: {error}");
        }
        for key in ["faults", "ahead", "pid", "pae_model_cycles"] {
            let malformed = REPLAY.replace(&format!(" {key}="), &format!(" {key}=-"));
            let error = trace_rows(&malformed, &[], "a", None, 16).unwrap_err().to_string();
            assert!(error.starts_with(&format!("bad {key} in `")), "{key}: {error}");
        }
        let error = trace_rows(&REPLAY.replace(" policy=leap", ""), &[], "a", None, 16).unwrap_err().to_string();
        assert_eq!(error, "no policy");
        assert!(trace_rows(&format!("[ 1.0] cpu0 INFO  {REPLAY}\nreplaying\n"), &[], "a", None, 16).unwrap().is_empty(), "only lines that start with `replay `");
    }

    #[test]
    fn a_replay_row_takes_peak_footprint_and_layout_commits_from_its_own_process_only() {
        let serial = format!("{}\n{}\n", REPLAY.replace("policy=leap", "policy=demand"), REPLAY.replace("pid=5", "pid=8"));
        let memstats = [
            memstat("replay", "leap", &[("pid", 1), ("peak_committed", 99), ("footprint", 99)]),
            memstat("init", "demand", &[("pid", 8), ("peak_committed", 50), ("footprint", 50)]),
            memstat("replay", "demand", &[("pid", 5), ("peak_committed", 7), ("footprint", 9), ("layout_commits", 2)]),
            memstat("replay", "demand", &[("pid", 6), ("peak_committed", 8), ("footprint", 8)]),
        ];
        let rows = trace_rows(&serial, &memstats, "a", Some(Budget::Pages(8)), 16).unwrap();
        let picked: Vec<(&str, u64, u64, u64)> = rows.iter().map(|row| (row.policy.as_str(), row.peak, row.footprint, row.layout_commits)).collect();
        assert_eq!(picked, vec![("demand", 7, 9, 2), ("leap", 0, 0, 0)], "another pid's, and another program's of the same pid, are ignored");
        assert!(rows.iter().all(|row| (row.name.as_str(), row.kind, row.kib, row.distinct) == ("a", "trace", 0, 16)));
    }

    #[test]
    fn workload_rows_take_every_counter_of_workloads_alone() {
        let memstats = [
            memstat("wl-sort", "eager", &[("pid", 3), ("faults_demand", 4)]),
            memstat("init", "demand", &[("pid", 1), ("faults_demand", 9)]),
            memstat("wl-seq", "pae", &[
                ("pid", 5),
                ("faults_demand", 3),
                ("budget", 7),
                ("faults_major", 11),
                ("pae_steps", 6),
                ("pae_cycles", 60),
                ("pae_model_cycles", 40),
                ("layout_commits", 1),
            ]),
        ];
        let distinct = BTreeMap::from([("sort".to_owned(), 30)]);
        let rows = workload_rows(&memstats, Some(Budget::Percent(25)), 128, &distinct);
        let expected = Row {
            name: "sort".to_owned(),
            kind: "workload",
            kib: 128,
            policy: "eager".to_owned(),
            faults: 4,
            budget: Some(Budget::Percent(25)),
            distinct: 30,
            ..Row::default()
        };
        assert_eq!(rows.len(), 2, "init's is no row: {rows:?}");
        assert_eq!(rows[0], expected);
        let seq = &rows[1];
        assert_eq!((seq.name.as_str(), seq.distinct, seq.budget_pages, seq.major, seq.trace_major), ("seq", 0, 7, 11, 0), "no distinct pages known: 0");
        assert_eq!((seq.pae_steps, seq.pae_cycles, seq.pae_model_cycles, seq.layout_commits, seq.model.as_str()), (6, 60, 40, 1, ""));
    }

    #[test]
    fn the_tsc_frequency_is_the_first_well_formed_line_of_its_own() {
        assert_eq!(tsc_hz("bench-tsc-hz fast\nbench-tsc-hz  2500000000 \nbench-tsc-hz 1\n").unwrap(), 2_500_000_000);
        for serial in ["", "[ 0.1] cpu0 INFO  bench-tsc-hz 1000\n", "bench-tsc-hz\n", "bench-tsc-hz -5\n"] {
            assert_eq!(tsc_hz(serial).unwrap_err().to_string(), "no `bench-tsc-hz` line", "{serial:?}");
        }
    }

    #[test]
    fn distinct_pages_are_demand_pagings_peak_without_a_budget() {
        let row = |name: &str, kind: &'static str, policy: &str, budget: Option<Budget>, peak: u64| Row {
            name: name.to_owned(),
            kind,
            policy: policy.to_owned(),
            budget,
            peak,
            ..Row::default()
        };
        let rows = [
            row("seq", "workload", "leap", None, 20),
            row("seq", "workload", "demand", Some(Budget::Percent(50)), 6),
            row("seq", "workload", "demand", None, 12),
            row("seq", "trace", "demand", None, 99),
            row("sort", "workload", "demand", None, 30),
        ];
        assert_eq!(workload_distinct(&rows), BTreeMap::from([("seq".to_owned(), 12), ("sort".to_owned(), 30)]));
    }

    #[test]
    fn attach_gives_the_trace_rows_of_one_name_the_simulation_of_their_budget_and_policy() {
        let row = |name: &str, kind: &'static str, policy: &str, budget: Option<Budget>| Row {
            name: name.to_owned(),
            kind,
            policy: policy.to_owned(),
            budget,
            ..Row::default()
        };
        let half = Some(Budget::Percent(50));
        let mut rows =
            [row("a", "trace", "leap", half), row("a", "trace", "pae", half), row("b", "trace", "leap", half), row("a", "workload", "leap", half), row("a", "trace", "leap", None)];
        let simulated = |faults, major| Simulated { faults, major };
        let simulations = Simulations::from([
            (("50%".to_owned(), "leap".to_owned()), simulated(3, 7)),
            (("25%".to_owned(), "leap".to_owned()), simulated(30, 70)),
            (("50%".to_owned(), "belady".to_owned()), simulated(9, 5)),
            (("50%".to_owned(), "oracle-belady".to_owned()), simulated(1, 2)),
        ]);
        attach(&mut rows, "a", &simulations);
        let got: Vec<_> = rows.iter().map(|row| (row.simulated, row.belady, row.oracle_belady)).collect();
        assert_eq!(
            got,
            vec![
                (Some(simulated(3, 7)), Some(5), Some(2)),
                (None, Some(5), Some(2)),
                (None, None, None),
                (None, None, None),
                (None, None, None),
            ],
            "pae was not simulated; b is another trace; a workload and a run without a budget have no simulation"
        );
    }

    #[test]
    fn layout_pairs_match_interleaved_runs_by_name_in_the_order_the_second_ends() {
        let run = |name: &str, faults: u64| Row { name: name.to_owned(), kind: "workload", policy: "pae".to_owned(), faults, ..Row::default() };
        let pairs = layout_pairs(vec![run("a", 1), run("b", 2), run("b", 3), run("a", 4)]).unwrap();
        let got: Vec<(&str, u64, u64)> = pairs.iter().map(|pair| (pair.first.name.as_str(), pair.first.faults, pair.second.faults)).collect();
        assert_eq!(got, vec![("b", 2, 3), ("a", 1, 4)]);
        let error = layout_pairs(vec![run("a", 1), run("a", 2), run("a", 3)]).unwrap_err().to_string();
        assert_eq!(error, "a ran once, not twice", "a third run starts a pair of its own");
        assert!(layout_pairs(Vec::new()).unwrap().is_empty());
    }
}
