//! The memory benchmark (`cargo xtask bench memory`): every workload and every trace under every
//! commit policy, in QEMU under `-icount shift=0` (BIOS, release kernel),
//! with the kernel's own counters; writes `target/bench/results.csv`,
//! `target/bench/results.md` and SVG charts.
//!
//! Workloads run in one boot (`bin/bench-memory`: each workload under each
//! policy, the kernel's `memstat` line per run); each trace runs in a boot
//! of its own per memory budget (`bin/replay all --budget P FILE`: its
//! replay file under every policy with P% of its distinct pages, one
//! `replay ...` line per run, counted over the trace's partitions only,
//! with a fresh swap disk attached). The host simulator replays the same
//! trace, policy and budget through the same engine, and Belady's eviction
//! under demand paging gives the limit on major faults; the report says how
//! far the kernel's counts are from the simulator's.
//! 2 MiB pages are off, so hits and waste are counted per 4 KiB page. The
//! trace boots run without the accessed-bit sampler (`sample=0`), which
//! would clear the accessed bits CLOCK eviction reads (the simulator has
//! none).

use crate::image::RamdiskContents;
use crate::qemu::{self, RunConfig, Verdict};
use crate::{Firmware, Profile};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Policies the workloads run under (the oracle needs a trace's future).
const WORKLOAD_POLICIES: [&str; 4] = ["demand", "eager", "readahead", "leap"];
/// Policies `bin/replay all` runs every trace under, in its order.
const TRACE_POLICIES: [&str; 5] = ["demand", "eager", "readahead", "leap", "oracle"];
/// Memory budgets the traces run under by default, in percent of each
/// trace's distinct pages (100: all of them fit).
pub const DEFAULT_BUDGETS: [u64; 3] = [100, 50, 25];
/// Swap-disk pages beyond a trace's region pages: room for the replay
/// process's own pages, which may be evicted too.
const SWAP_MARGIN_PAGES: u64 = 2048;
/// A policy making more than this many times demand paging's major faults
/// (same trace and budget) is flagged.
const FLAG_RATIO: f64 = 1.1;
/// Bytes per swapped page.
const PAGE_BYTES: u64 = 4096;

/// What `bench memory` measures and where.
pub struct Options {
    /// Lackey traces to replay.
    pub traces: PathBuf,
    /// Workload size in KiB.
    pub kib: u64,
    /// Replay only the first accesses of each trace (0: all).
    pub accesses: usize,
    /// Only the first `limit` traces (0: all).
    pub trace_limit: usize,
    /// Memory budgets each trace runs under, in percent of its distinct
    /// pages (1..=100; see [`DEFAULT_BUDGETS`]).
    pub budgets: Vec<u64>,
}

/// One row of the results: a workload or trace under a policy (and, for a
/// trace, a memory budget).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub name: String,
    pub kind: &'static str,
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
    /// The memory budget in percent of the trace's distinct pages (traces).
    pub budget: Option<u64>,
    /// The budget in pages over the trace's own pages.
    pub budget_pages: u64,
    /// The trace's distinct pages (traces).
    pub distinct: u64,
    /// Faults that read a page back from swap (the process's, its own
    /// pages included: they share the budget and CLOCK's sweeps).
    pub major: u64,
    /// Those on the trace's pages alone.
    pub trace_major: u64,
    pub swap_outs: u64,
    pub swap_ins: u64,
    /// Pages evicted (written to swap or dropped).
    pub evicted: u64,
    /// What the host simulator counts for the same trace, policy and budget.
    pub simulated: Option<Simulated>,
    /// Belady's major faults (demand paging, optimal eviction) for the same
    /// trace and budget, from the simulator: the limit.
    pub belady: Option<u64>,
}

/// The host simulator's counts for one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Simulated {
    /// First-touch faults.
    pub faults: u64,
    /// Major faults.
    pub major: u64,
}

/// Reads the workload rows (`memstat` lines of `wl-*` processes).
fn workload_rows(serial: &str) -> Vec<Row> {
    crate::qemu::parse_memstats(serial)
        .into_iter()
        .filter_map(|stat| {
            let name = stat.name.strip_prefix("wl-")?.to_owned();
            let get = |key: &str| stat.get(key).unwrap_or(0);
            Some(Row {
                name,
                kind: "workload",
                policy: stat.policy.clone(),
                faults: get("faults_demand"),
                ahead: get("ahead_commits"),
                hits: get("hits"),
                waste: get("waste"),
                peak: get("peak_committed"),
                footprint: get("footprint"),
                run_cycles: get("run_cycles"),
                fault_cycles: get("fault_cycles"),
                ..Row::default()
            })
        })
        .collect()
}

/// Reads the trace rows of trace `name` (of `distinct` pages) run at
/// `budget` percent: each `replay ...` line, with the cycles of the
/// `memstat` line of the process that printed it (the next `replay` one).
fn trace_rows(serial: &str, name: &str, budget: Option<u64>, distinct: u64) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = Vec::new();
    let mut waiting_for_cycles = None;
    for line in serial.lines() {
        if let Some(rest) = line.strip_prefix("replay ") {
            let fields: BTreeMap<&str, &str> = rest.split_whitespace().filter_map(|word| word.split_once('=')).collect();
            let number = |key: &str| -> Result<u64> {
                fields.get(key).with_context(|| format!("no {key} in `{line}`"))?.parse().with_context(|| format!("bad {key} in `{line}`"))
            };
            rows.push(Row {
                name: name.to_owned(),
                kind: "trace",
                policy: fields.get("policy").context("no policy")?.to_string(),
                faults: number("faults")?,
                ahead: number("ahead")?,
                hits: number("hits")?,
                waste: number("waste")?,
                budget,
                budget_pages: number("budget")?,
                distinct,
                major: number("major")?,
                trace_major: number("trace_major")?,
                swap_outs: number("swap_outs")?,
                swap_ins: number("swap_ins")?,
                evicted: number("evicted")?,
                ..Row::default()
            });
            waiting_for_cycles = Some(rows.len() - 1);
        } else if line.contains("memstat name=replay ")
            && let Some(index) = waiting_for_cycles.take()
            && let Some(stat) = crate::qemu::parse_memstats(line).pop()
        {
            let row = &mut rows[index];
            row.peak = stat.get("peak_committed").unwrap_or(0);
            row.footprint = stat.get("footprint").unwrap_or(0);
            row.run_cycles = stat.get("run_cycles").unwrap_or(0);
            row.fault_cycles = stat.get("fault_cycles").unwrap_or(0);
        }
    }
    Ok(rows)
}

/// The simulator's counts for one trace: (budget percent, policy) →
/// counts, Belady's under the policy name `belady`.
type Simulations = BTreeMap<(u64, String), Simulated>;

/// Replays `replay` in the host simulator under every trace policy and
/// Belady's eviction (demand paging) at every budget in `budgets`.
fn simulate(name: &str, replay: &trace::Replay, budgets: &[u64]) -> Result<Simulations> {
    use kernel::policy::sim::{Pressure, policy_for, replay_under};
    let distinct = replay.distinct_pages();
    let mut simulations = Simulations::new();
    for &percent in budgets {
        let budget = Some(trace::budget_pages(percent, distinct, abi::MIN_MEMORY_BUDGET));
        let runs = TRACE_POLICIES.iter().map(|&policy| (policy, policy, false)).chain([("belady", "demand", true)]);
        for (label, policy, belady) in runs {
            let policy = policy_for(policy, replay).with_context(|| format!("no policy {policy}"))?;
            let (_, counters) = replay_under(replay, policy, Pressure { budget, belady })
                .map_err(|error| anyhow::anyhow!("simulating {name} under {label} at {percent}%: {error:?}"))?;
            simulations.insert((percent, label.to_owned()), Simulated { faults: counters.faults_demand, major: counters.faults_major });
        }
    }
    Ok(simulations)
}

/// Gives the trace rows of `name` their simulated counts and Belady's.
fn attach(rows: &mut [Row], name: &str, simulations: &Simulations) {
    for row in rows.iter_mut().filter(|row| row.kind == "trace" && row.name == name) {
        let Some(percent) = row.budget else { continue };
        row.simulated = simulations.get(&(percent, row.policy.clone())).copied();
        row.belady = simulations.get(&(percent, "belady".to_owned())).map(|belady| belady.major);
    }
}

fn tsc_hz(serial: &str) -> Result<u64> {
    serial
        .lines()
        .find_map(|line| line.strip_prefix("bench-tsc-hz ").and_then(|hz| hz.trim().parse().ok()))
        .context("no `bench-tsc-hz` line")
}

/// Boots `cmdline` with `extra` files in the ramdisk under `-icount shift=0`,
/// with a fresh swap disk of `swap_pages` pages if asked for.
fn boot(
    name: &str,
    kernel: &Path,
    programs: &[crate::build::UserProgram],
    cmdline: &str,
    extra: Vec<(String, Vec<u8>)>,
    swap_pages: Option<u64>,
) -> Result<String> {
    let mut ramdisk = RamdiskContents::standard(cmdline, programs)?;
    for (path, data) in extra {
        ramdisk.add(&path, data);
    }
    let out_dir = crate::target_dir().join("images").join("bench-memory").join(name);
    let image = crate::image::create(kernel, &ramdisk, Firmware::Bios, &out_dir)?;
    let mut config = RunConfig::new(&image.path, Firmware::Bios);
    config.icount = true;
    config.timeout = Duration::from_secs(900);
    if let Some(pages) = swap_pages {
        let swap = out_dir.join("swap.img");
        crate::image::create_swap_image(&swap, pages)?;
        config.swap_image = Some(swap);
    }
    let outcome = qemu::run(&config, false);
    if let Some(swap) = &config.swap_image {
        // Tens of MiB each, written anew for every run.
        let _ = std::fs::remove_file(swap);
    }
    let outcome = outcome?;
    if outcome.verdict != Verdict::Success {
        bail!("{name} ended with {:?}:\n{}", outcome.verdict, outcome.serial);
    }
    Ok(outcome.serial)
}

/// Runs the whole benchmark (QEMU and OVMF must be installed); returns
/// the rows and the TSC frequency.
pub fn measure(options: &Options) -> Result<(Vec<Row>, u64)> {
    if options.budgets.is_empty() || options.budgets.iter().any(|&percent| !(1..=100).contains(&percent)) {
        bail!("budgets are percentages in 1..=100, at least one: {:?}", options.budgets);
    }
    let kernel = crate::build::kernel(Profile::Release)?;
    let programs = crate::build::user_programs(Profile::Release)?;
    let settings = "mode=run log=info huge=off";
    let started = Instant::now();
    eprintln!("bench: workloads ({} KiB) under {}", options.kib, WORKLOAD_POLICIES.join(", "));
    let cmdline = format!("{settings} sample=64 init=bin/bench-memory init-args={},{}", options.kib, WORKLOAD_POLICIES.join(","));
    let serial = boot("workloads", &kernel, &programs, &cmdline, Vec::new(), None)?;
    let hz = tsc_hz(&serial)?;
    let mut rows = workload_rows(&serial);
    let mut traces = trace::file::trace_files(&options.traces).map_err(anyhow::Error::msg)?;
    if options.trace_limit > 0 {
        traces.truncate(options.trace_limit);
    }
    // The simulator works through the traces on another core while QEMU
    // replays them.
    let (to_simulator, simulator_queue) = mpsc::channel::<(String, trace::Replay)>();
    let budgets = options.budgets.clone();
    let simulator = std::thread::spawn(move || -> Result<Vec<(String, Simulations)>> {
        simulator_queue.into_iter().map(|(name, replay)| Ok((name.clone(), simulate(&name, &replay, &budgets)?))).collect()
    });
    for (index, path) in traces.iter().enumerate() {
        let name = trace::file::trace_name(path);
        let accesses = trace::file::read_lackey(path).map_err(anyhow::Error::msg)?;
        let mut replay = trace::Replay::from_accesses(&accesses).map_err(|error| anyhow::anyhow!("{name}: {error}"))?;
        if options.accesses > 0 {
            replay = replay.truncated(options.accesses);
        }
        let distinct = replay.distinct_pages();
        let swap_pages = replay.regions.iter().map(|region| region.pages).sum::<u64>() + SWAP_MARGIN_PAGES;
        let file = format!("replay/{name}.vrpl");
        let encoded = replay.encode();
        // A closed queue means the simulator failed: its error comes at the join.
        let _ = to_simulator.send((name.clone(), replay));
        for &percent in &options.budgets {
            eprintln!(
                "bench: trace {}/{} {name} at {percent}% of {distinct} pages ({:.0} s so far)",
                index + 1,
                traces.len(),
                started.elapsed().as_secs_f64()
            );
            let cmdline = format!("{settings} sample=0 init=bin/replay init-args=all,--budget,{percent},{file}");
            let extra = vec![(file.clone(), encoded.clone())];
            let serial = boot(&format!("{name}-{percent}"), &kernel, &programs, &cmdline, extra, Some(swap_pages))?;
            let found = trace_rows(&serial, &name, Some(percent), distinct)?;
            if found.len() != TRACE_POLICIES.len() {
                bail!("{name} at {percent}%: {} replay lines, not {}:\n{serial}", found.len(), TRACE_POLICIES.len());
            }
            let expected = trace::budget_pages(percent, distinct, abi::MIN_MEMORY_BUDGET);
            if let Some(row) = found.iter().find(|row| row.budget_pages != expected) {
                bail!("{name} at {percent}%: the kernel's budget is {} pages, the simulator's {expected}", row.budget_pages);
            }
            rows.extend(found);
        }
    }
    drop(to_simulator);
    eprintln!("bench: waiting for the simulator ({:.0} s so far)", started.elapsed().as_secs_f64());
    let simulations = simulator.join().map_err(|_| anyhow::anyhow!("the simulator thread panicked"))??;
    for (name, simulations) in &simulations {
        attach(&mut rows, name, simulations);
    }
    eprintln!("bench: done in {:.0} s", started.elapsed().as_secs_f64());
    Ok((rows, hz))
}

/// Faults avoided relative to the same workload (or trace at the same
/// budget) under demand paging.
fn coverage(row: &Row, rows: &[Row]) -> f64 {
    match demand_row(row, rows) {
        Some(demand) if demand.faults > 0 => 1.0 - row.faults as f64 / demand.faults as f64,
        _ => 0.0,
    }
}

/// The demand-paging row `row` compares with: same name, kind and budget.
fn demand_row<'a>(row: &Row, rows: &'a [Row]) -> Option<&'a Row> {
    rows.iter().find(|other| other.name == row.name && other.kind == row.kind && other.budget == row.budget && other.policy == "demand")
}

fn accuracy(row: &Row) -> f64 {
    if row.ahead == 0 { 1.0 } else { row.hits as f64 / row.ahead as f64 }
}

/// The budgets the trace rows ran at, largest first.
fn budgets(rows: &[Row]) -> Vec<u64> {
    let mut budgets: Vec<u64> = rows.iter().filter_map(|row| row.budget).collect();
    budgets.sort_unstable_by(|a, b| b.cmp(a));
    budgets.dedup();
    budgets
}

/// The policies of `rows` in the order they first appear.
fn policies(rows: &[Row]) -> Vec<&str> {
    let mut policies: Vec<&str> = Vec::new();
    for row in rows {
        if !policies.contains(&row.policy.as_str()) {
            policies.push(row.policy.as_str());
        }
    }
    policies
}

/// The rows with the least memory pressure: the workloads, and the traces
/// at the largest budget.
fn unpressured(rows: &[Row]) -> Vec<Row> {
    let largest = budgets(rows).first().copied();
    rows.iter().filter(|row| row.budget.is_none() || row.budget == largest).cloned().collect()
}

/// The mean over the traces at `budget` where demand paging had major
/// faults (on the trace's pages) of `pick(demand row)` relative to them,
/// and how many traces that was; `None` if demand paging had none anywhere.
fn mean_relative_major(rows: &[Row], budget: u64, pick: impl Fn(&Row) -> Option<u64>) -> Option<(f64, usize)> {
    let ratios: Vec<f64> = rows
        .iter()
        .filter(|row| row.kind == "trace" && row.budget == Some(budget) && row.policy == "demand" && row.trace_major > 0)
        .filter_map(|demand| Some(pick(demand)? as f64 / demand.trace_major as f64))
        .collect();
    (!ratios.is_empty()).then(|| (ratios.iter().sum::<f64>() / ratios.len() as f64, ratios.len()))
}

/// The mean over the traces at `budget` of `pick(demand row)` per distinct
/// page; `None` if there are none.
fn mean_per_page(rows: &[Row], budget: u64, pick: impl Fn(&Row) -> Option<u64>) -> Option<f64> {
    let values: Vec<f64> = rows
        .iter()
        .filter(|row| row.kind == "trace" && row.budget == Some(budget) && row.policy == "demand" && row.distinct > 0)
        .filter_map(|demand| Some(pick(demand)? as f64 / demand.distinct as f64))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The major faults on the trace's pages of `policy`'s row beside `demand`
/// (same trace and budget).
fn major_of<'a>(rows: &'a [Row], policy: &'a str) -> impl Fn(&Row) -> Option<u64> + 'a {
    move |demand: &Row| {
        rows.iter()
            .find(|row| row.kind == demand.kind && row.name == demand.name && row.budget == demand.budget && row.policy == policy)
            .map(|row| row.trace_major)
    }
}

/// A trace, budget and policy with more than [`FLAG_RATIO`] times demand
/// paging's major faults.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    pub name: String,
    pub budget: u64,
    pub policy: String,
    pub major: u64,
    pub demand_major: u64,
}

/// Every trace row under memory pressure whose major faults (on the
/// trace's pages) exceed [`FLAG_RATIO`] times demand paging's at the same
/// trace and budget.
pub fn flags(rows: &[Row]) -> Vec<Flag> {
    rows.iter()
        .filter(|row| row.kind == "trace" && row.policy != "demand")
        .filter_map(|row| {
            let (demand, budget) = (demand_row(row, rows)?, row.budget?);
            (row.trace_major as f64 > FLAG_RATIO * demand.trace_major as f64).then(|| Flag {
                name: row.name.clone(),
                budget,
                policy: row.policy.clone(),
                major: row.trace_major,
                demand_major: demand.trace_major,
            })
        })
        .collect()
}

/// How the kernel's counts at one budget compare with the simulator's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Agreement {
    pub budget: u64,
    /// Rows with a simulated count.
    pub rows: usize,
    /// Rows whose first-touch faults equal the simulator's.
    pub faults_equal: usize,
    /// Rows whose major faults on the trace's pages equal the simulator's.
    pub major_equal: usize,
    /// The largest difference in first-touch faults (kernel − simulator),
    /// with its row (`trace/policy`) and the simulator's count.
    pub faults_worst: Option<(i64, String, u64)>,
    /// The same for major faults on the trace's pages.
    pub major_worst: Option<(i64, String, u64)>,
    /// Major faults over every row: the kernel's on the trace's pages, the
    /// kernel's in all (the process's own pages too) and the simulator's.
    pub kernel_trace_major: u64,
    pub kernel_major: u64,
    pub simulated_major: u64,
}

/// The kernel's counts against the simulator's, per budget.
pub fn agreement(rows: &[Row]) -> Vec<Agreement> {
    budgets(rows)
        .into_iter()
        .map(|budget| {
            let mut agreement = Agreement { budget, ..Agreement::default() };
            let worse = |worst: &mut Option<(i64, String, u64)>, difference: i64, row: &Row, simulated: u64| {
                if worst.as_ref().is_none_or(|(largest, _, _)| difference.abs() > largest.abs()) {
                    *worst = Some((difference, format!("{}/{}", row.name, row.policy), simulated));
                }
            };
            for row in rows.iter().filter(|row| row.budget == Some(budget)) {
                let Some(simulated) = row.simulated else { continue };
                agreement.rows += 1;
                agreement.faults_equal += usize::from(row.faults == simulated.faults);
                agreement.major_equal += usize::from(row.trace_major == simulated.major);
                agreement.kernel_trace_major += row.trace_major;
                agreement.kernel_major += row.major;
                agreement.simulated_major += simulated.major;
                worse(&mut agreement.faults_worst, row.faults as i64 - simulated.faults as i64, row, simulated.faults);
                worse(&mut agreement.major_worst, row.trace_major as i64 - simulated.major as i64, row, simulated.major);
            }
            agreement
        })
        .collect()
}

/// `difference (percent of simulated, row)`, or `–`.
fn difference_text(worst: &Option<(i64, String, u64)>) -> String {
    match worst {
        Some((0, _, _)) | None => "0".to_owned(),
        Some((difference, row, simulated)) => {
            format!("{difference:+} ({:+.1}%, {row})", *difference as f64 * 100.0 / (*simulated).max(1) as f64)
        }
    }
}

/// The Markdown sections on memory pressure: major faults per policy and
/// budget relative to demand paging, Belady's limit, the flagged runs and
/// the kernel's agreement with the simulator. Empty without budgets.
pub fn pressure_report(rows: &[Row]) -> String {
    let budgets = budgets(rows);
    if budgets.is_empty() {
        return String::new();
    }
    let trace_rows: Vec<Row> = rows.iter().filter(|row| row.kind == "trace").cloned().collect();
    let policies = policies(&trace_rows);
    let header = |first: &str| {
        let mut header = format!("| {first} |");
        let mut rule = String::from("|---|");
        for budget in &budgets {
            let _ = write!(header, " {budget}% |");
            rule.push_str("---:|");
        }
        format!("{header}\n{rule}\n")
    };
    let mut md = String::from(
        "\n**Major faults under memory pressure**: mean over the traces of each policy's major faults on the trace's pages relative to \
         demand paging's at the same budget (in brackets: traces where demand paging had any); Belady is the simulator's \
         optimal eviction under demand paging, the limit.\n\n",
    );
    md.push_str(&header("policy"));
    let relative = |pick: &dyn Fn(&Row) -> Option<u64>, budget: u64| match mean_relative_major(&trace_rows, budget, pick) {
        Some((mean, traces)) => format!("{mean:.3} ({traces})"),
        None => "–".to_owned(),
    };
    let per_page = |pick: &dyn Fn(&Row) -> Option<u64>, budget: u64| match mean_per_page(&trace_rows, budget, pick) {
        Some(mean) => format!("{mean:.3}"),
        None => "–".to_owned(),
    };
    let belady = |demand: &Row| demand.belady;
    for policy in &policies {
        let pick = major_of(&trace_rows, policy);
        let cells: Vec<String> = budgets.iter().map(|&budget| relative(&pick, budget)).collect();
        let _ = writeln!(md, "| {policy} | {} |", cells.join(" | "));
    }
    let cells: Vec<String> = budgets.iter().map(|&budget| relative(&belady, budget)).collect();
    let _ = writeln!(md, "| Belady (simulator) | {} |", cells.join(" | "));
    md.push_str("\nMajor faults per distinct page (mean over the traces):\n\n");
    md.push_str(&header("policy"));
    for policy in &policies {
        let pick = major_of(&trace_rows, policy);
        let cells: Vec<String> = budgets.iter().map(|&budget| per_page(&pick, budget)).collect();
        let _ = writeln!(md, "| {policy} | {} |", cells.join(" | "));
    }
    let cells: Vec<String> = budgets.iter().map(|&budget| per_page(&belady, budget)).collect();
    let _ = writeln!(md, "| Belady (simulator) | {} |", cells.join(" | "));
    let flagged = flags(&trace_rows);
    let _ = writeln!(md, "\n**Over {FLAG_RATIO}× demand paging's major faults**: {}\n", if flagged.is_empty() { "none." } else { "" });
    if !flagged.is_empty() {
        md.push_str("| trace | budget | policy | major | demand's | ratio |\n|---|---:|---|---:|---:|---:|\n");
        for flag in &flagged {
            let ratio =
                if flag.demand_major == 0 { "–".to_owned() } else { format!("{:.3}", flag.major as f64 / flag.demand_major as f64) };
            let _ = writeln!(md, "| {} | {}% | {} | {} | {} | {ratio} |", flag.name, flag.budget, flag.policy, flag.major, flag.demand_major);
        }
    }
    md.push_str(
        "\n**Kernel against simulator** (the same trace, policy and budget through the same engine; the kernel's process \
         also holds its own code, stack and heap, which its budget covers and which share CLOCK's sweeps with the \
         trace's pages; \"trace\" counts major faults on the trace's pages, \"all\" the process's):\n\n\
         | budget | rows | first-touch faults equal | largest difference | trace major faults equal | largest difference | \
         major, kernel (trace) | major, kernel (all) | major, simulator |\n|---:|---:|---:|---|---:|---|---:|---:|---:|\n",
    );
    for agreement in agreement(&trace_rows) {
        let _ = writeln!(
            md,
            "| {}% | {} | {} | {} | {} | {} | {} | {} | {} |",
            agreement.budget,
            agreement.rows,
            agreement.faults_equal,
            difference_text(&agreement.faults_worst),
            agreement.major_equal,
            difference_text(&agreement.major_worst),
            agreement.kernel_trace_major,
            agreement.kernel_major,
            agreement.simulated_major
        );
    }
    md
}

/// The CSV and the Markdown table.
pub fn report(rows: &[Row], hz: u64) -> (String, String) {
    let instructions = |cycles: u64| (cycles as u128 * 1_000_000_000 / u128::from(hz.max(1))) as u64;
    let mut csv = String::from(
        "name,kind,policy,faults,committed_ahead,hits,waste,coverage,accuracy,peak_committed,footprint,guest_instructions,fault_path_instructions,\
         budget_percent,budget_pages,major_faults,trace_major_faults,swap_outs,swap_ins,bytes_written,bytes_read,evictions,sim_faults,sim_major_faults,\
         belady_major_faults\n",
    );
    let mut md = String::from(
        "| name | kind | policy | faults | ahead | hits | waste | coverage | accuracy | peak | footprint | instructions | in faults | \
         budget | major | trace major | swapped out | swapped in | bytes written | bytes read | sim faults | sim major | Belady major |\n",
    );
    md.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let optional = |value: Option<u64>| value.map_or_else(String::new, |value| value.to_string());
    for row in rows {
        let fields = |digits: usize| -> Vec<String> {
            let mut fields = vec![row.name.clone(), row.kind.to_owned(), row.policy.clone()];
            fields.extend([row.faults, row.ahead, row.hits, row.waste].map(|value| value.to_string()));
            fields.push(format!("{:.digits$}", coverage(row, rows)));
            fields.push(format!("{:.digits$}", accuracy(row)));
            fields.extend([row.peak, row.footprint, instructions(row.run_cycles), instructions(row.fault_cycles)].map(|value| value.to_string()));
            fields
        };
        let pressure = row.budget.is_some();
        let swap = |value: u64| optional(pressure.then_some(value));
        let mut csv_fields = fields(4);
        csv_fields.extend([optional(row.budget), swap(row.budget_pages), swap(row.major), swap(row.trace_major)]);
        csv_fields.extend([swap(row.swap_outs), swap(row.swap_ins)]);
        csv_fields.extend([swap(row.swap_outs * PAGE_BYTES), swap(row.swap_ins * PAGE_BYTES), swap(row.evicted)]);
        csv_fields.extend([optional(row.simulated.map(|sim| sim.faults)), optional(row.simulated.map(|sim| sim.major)), optional(row.belady)]);
        let _ = writeln!(csv, "{}", csv_fields.join(","));
        let mut md_fields = fields(3);
        md_fields.extend([row.budget.map_or_else(String::new, |budget| format!("{budget}%")), swap(row.major), swap(row.trace_major)]);
        md_fields.extend([swap(row.swap_outs), swap(row.swap_ins)]);
        md_fields.extend([swap(row.swap_outs * PAGE_BYTES), swap(row.swap_ins * PAGE_BYTES)]);
        md_fields.extend([optional(row.simulated.map(|sim| sim.faults)), optional(row.simulated.map(|sim| sim.major)), optional(row.belady)]);
        let _ = writeln!(md, "| {} |", md_fields.join(" | "));
    }
    let calm = unpressured(rows);
    let scope = match budgets(rows).first() {
        Some(largest) => format!("every workload and every trace at {largest}%"),
        None => "every workload and trace".to_owned(),
    };
    let _ = write!(
        md,
        "\n**Per policy** (means over {scope} it ran):\n\n| policy | rows | mean coverage | mean accuracy |\n|---|---:|---:|---:|\n"
    );
    let mut names = policies(&calm);
    names.sort_unstable();
    for policy in names {
        let mine: Vec<&Row> = calm.iter().filter(|row| row.policy == policy).collect();
        let n = mine.len().max(1) as f64;
        let coverage = mine.iter().map(|row| coverage(row, &calm)).sum::<f64>() / n;
        let accuracy = mine.iter().map(|row| accuracy(row)).sum::<f64>() / n;
        let _ = writeln!(md, "| {policy} | {} | {coverage:.3} | {accuracy:.3} |", mine.len());
    }
    md.push_str(&pressure_report(rows));
    (csv, md)
}

/// A line chart as SVG: for every trace policy, the mean major faults per
/// distinct page at each budget, and Belady's (dashed), the limit.
pub fn plot_budgets(rows: &[Row]) -> Result<String> {
    use plotters::prelude::*;
    let trace_rows: Vec<Row> = rows.iter().filter(|row| row.kind == "trace" && row.budget.is_some()).cloned().collect();
    let mut budgets = budgets(&trace_rows);
    budgets.reverse();
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = policies(&trace_rows)
        .into_iter()
        .map(|policy| {
            let pick = major_of(&trace_rows, policy);
            let points = budgets.iter().filter_map(|&budget| Some((budget as f64, mean_per_page(&trace_rows, budget, &pick)?))).collect();
            (policy.to_owned(), points)
        })
        .collect();
    let belady: Vec<(f64, f64)> =
        budgets.iter().filter_map(|&budget| Some((budget as f64, mean_per_page(&trace_rows, budget, |demand| demand.belady)?))).collect();
    let highest = lines.iter().flat_map(|(_, points)| points.iter().map(|&(_, y)| y)).chain(belady.iter().map(|&(_, y)| y)).fold(0.1f64, f64::max);
    let left = budgets.first().map_or(0.0, |&budget| budget as f64 - 5.0).max(0.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 480)).into_drawing_area();
        let error = |error: DrawingAreaErrorKind<_>| anyhow::anyhow!("{error:?}");
        root.fill(&WHITE).map_err(error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Major faults per distinct page against the memory budget", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(left..105f64, 0f64..highest * 1.1)
            .map_err(error)?;
        chart
            .configure_mesh()
            .x_desc("budget (% of the trace's distinct pages)")
            .y_desc("major faults per distinct page (mean over traces)")
            .draw()
            .map_err(error)?;
        for (index, (policy, points)) in lines.drain(..).enumerate() {
            let color = Palette99::pick(index).to_rgba();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)).point_size(3))
                .map_err(error)?
                .label(policy)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        chart
            .draw_series(DashedLineSeries::new(belady, 6, 4, BLACK.stroke_width(2)))
            .map_err(error)?
            .label("Belady (simulator)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.stroke_width(2)));
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(error)?;
        root.present().map_err(error)?;
    }
    Ok(svg)
}

/// A grouped bar chart as SVG: for every row name a group of bars, one per
/// policy, showing `value(row) / value(the demand row)` (demand is 1).
pub fn plot(rows: &[Row], title: &str, value: impl Fn(&Row) -> u64) -> Result<String> {
    use plotters::prelude::*;
    let mut names: Vec<(&'static str, &str)> = Vec::new();
    for row in rows {
        if !names.contains(&(row.kind, row.name.as_str())) {
            names.push((row.kind, row.name.as_str()));
        }
    }
    let mut policies: Vec<&str> = Vec::new();
    for row in rows {
        if !policies.contains(&row.policy.as_str()) {
            policies.push(row.policy.as_str());
        }
    }
    let ratio = |kind: &str, name: &str, policy: &str| -> Option<f64> {
        let find = |policy: &str| rows.iter().find(|row| row.kind == kind && row.name == name && row.policy == policy);
        let (row, demand) = (find(policy)?, find("demand")?);
        let base = value(demand);
        (base > 0).then(|| value(row) as f64 / base as f64)
    };
    let highest = names
        .iter()
        .flat_map(|&(kind, name)| policies.iter().filter_map(move |policy| ratio(kind, name, policy)))
        .fold(1.0f64, f64::max)
        .min(20.0);
    let mut svg = String::new();
    {
        let width = 120 + 40 * (names.len() * policies.len()) as u32;
        let root = SVGBackend::with_string(&mut svg, (width.max(640), 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let groups = names.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(90)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..groups, 0f64..highest * 1.1)
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let labels: Vec<String> = names.iter().map(|(_, name)| (*name).to_owned()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(names.len().max(1))
            .x_label_formatter(&|x| labels.get(x.floor() as usize).cloned().unwrap_or_default())
            .y_desc("relative to demand")
            .draw()
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let slot = 0.8 / policies.len().max(1) as f64;
        for (index, policy) in policies.iter().enumerate() {
            let color = Palette99::pick(index).to_rgba();
            let bars: Vec<Rectangle<(f64, f64)>> = names
                .iter()
                .enumerate()
                .filter_map(|(group, &(kind, name))| {
                    let ratio = ratio(kind, name, policy)?.min(highest * 1.1);
                    let left = group as f64 + 0.1 + slot * index as f64;
                    Some(Rectangle::new([(left, 0.0), (left + slot * 0.9, ratio)], color.filled()))
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(|error| anyhow::anyhow!("{error:?}"))?
                .label(*policy)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        root.present().map_err(|error| anyhow::anyhow!("{error:?}"))?;
    }
    Ok(svg)
}

/// Measures and writes `results.csv`, `results.md`, `faults.svg`,
/// `footprint.svg` (workloads, traces at their largest budget) and
/// `budgets.svg` (major faults against the budget) into `out`; returns the
/// CSV and the Markdown.
pub fn run(options: &Options, out: &Path) -> Result<(String, String)> {
    let (rows, hz) = measure(options)?;
    if rows.is_empty() {
        bail!("the benchmark reported no rows");
    }
    let (csv, md) = report(&rows, hz);
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("results.csv"), &csv)?;
    std::fs::write(out.join("results.md"), &md)?;
    let calm = unpressured(&rows);
    std::fs::write(out.join("faults.svg"), plot(&calm, "Demand faults, relative to demand paging", |row| row.faults)?)?;
    std::fs::write(out.join("footprint.svg"), plot(&calm, "Footprint (pages × ticks), relative to demand paging", |row| row.footprint)?)?;
    std::fs::write(out.join("budgets.svg"), plot_budgets(&rows)?)?;
    Ok((csv, md))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIAL: &str = "bench-tsc-hz 1000000000\n\
        [ 1.0] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=demand pid=3 faults_demand=10 ahead_commits=0 hits=0 waste=0 peak_committed=12 footprint=5 run_cycles=2000 fault_cycles=100\n\
        [ 1.1] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=leap pid=4 faults_demand=2 ahead_commits=8 hits=8 waste=0 peak_committed=12 footprint=5 run_cycles=1500 fault_cycles=40\n\
        [ 1.2] cpu0 INFO  process::lifecycle: memstat name=bench-memory policy=demand pid=2 faults_demand=1\n";

    #[test]
    fn workload_rows_come_from_memstat_lines_of_workloads_only() {
        let rows = workload_rows(SERIAL);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].name.as_str(), rows[1].policy.as_str(), rows[1].faults, rows[1].hits), ("seq", "leap", 2, 8));
        assert_eq!(tsc_hz(SERIAL).unwrap(), 1_000_000_000);
        let (csv, md) = report(&rows, 1_000_000_000);
        assert!(csv.lines().nth(2).unwrap().starts_with("seq,workload,leap,2,8,8,0,0.8000,1.0000,12,5,1500,40"), "{csv}");
        assert!(md.contains("| leap | 1 | 0.800 | 1.000 |"), "{md}");
    }

    #[test]
    fn plots_are_svg_with_a_bar_per_policy() {
        let rows = workload_rows(SERIAL);
        let svg = plot(&rows, "faults", |row| row.faults).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("leap") && svg.contains("demand"), "{svg}");
        assert_eq!(svg, plot(&rows, "faults", |row| row.faults).unwrap(), "the same rows draw the same file");
    }

    #[test]
    fn trace_rows_pair_each_replay_with_its_process() {
        let serial = "replay replay/a.vrpl policy=leap accesses=9 faults=3 ahead=4 hits=3 waste=1 budget=8 own=20 major=5 trace_major=4 swap_outs=6 swap_ins=5 evicted=7\n\
            [ 2.0] cpu0 INFO  process::lifecycle: memstat name=replay policy=leap pid=5 peak_committed=7 footprint=9 run_cycles=70 fault_cycles=7\n\
            [ 2.1] cpu0 INFO  process::lifecycle: memstat name=replay policy=demand pid=1 run_cycles=99\n";
        let rows = trace_rows(serial, "a", Some(50), 16).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].faults, rows[0].ahead, rows[0].waste, rows[0].run_cycles, rows[0].peak), (3, 4, 1, 70, 7));
        assert_eq!((rows[0].budget, rows[0].budget_pages, rows[0].distinct), (Some(50), 8, 16));
        assert_eq!((rows[0].major, rows[0].trace_major, rows[0].swap_outs, rows[0].swap_ins, rows[0].evicted), (5, 4, 6, 5, 7));
        assert!(trace_rows("replay replay/a.vrpl policy=leap faults=x\n", "a", None, 1).is_err());
        assert!(trace_rows("replay replay/a.vrpl policy=leap accesses=9 faults=3 ahead=4 hits=3 waste=1\n", "a", None, 1).is_err(), "no budget");
    }

    /// A trace row at `budget`% under `policy`.
    fn traced(name: &str, budget: u64, policy: &str, major: u64, simulated: u64, belady: u64) -> Row {
        Row {
            name: name.to_owned(),
            kind: "trace",
            policy: policy.to_owned(),
            faults: 10,
            budget: Some(budget),
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

    fn pressured() -> Vec<Row> {
        vec![
            traced("a", 100, "demand", 0, 0, 0),
            traced("a", 100, "leap", 0, 0, 0),
            traced("a", 50, "demand", 20, 20, 10),
            traced("a", 50, "leap", 23, 22, 10),
            traced("b", 50, "demand", 10, 10, 4),
            traced("b", 50, "leap", 10, 10, 4),
        ]
    }

    #[test]
    fn budgeted_rows_report_swap_columns_means_flags_and_agreement() {
        let rows = pressured();
        let (csv, md) = report(&rows, 1_000_000_000);
        assert!(csv.lines().next().unwrap().ends_with(",budget_percent,budget_pages,major_faults,trace_major_faults,swap_outs,swap_ins,bytes_written,bytes_read,evictions,sim_faults,sim_major_faults,belady_major_faults"));
        assert!(csv.lines().nth(4).unwrap().ends_with(",50,5,25,23,24,23,98304,94208,0,10,22,10"), "{csv}");
        // leap: (23/20 + 10/10) / 2; Belady: (10/20 + 4/10) / 2.
        assert!(md.contains("| leap | – | 1.075 (2) |"), "{md}");
        assert!(md.contains("| Belady (simulator) | – | 0.450 (2) |"), "{md}");
        assert!(md.contains("| leap | 0.000 | 1.650 |"), "per distinct page: {md}");
        assert!(md.contains("| a | 50% | leap | 23 | 20 | 1.150 |"), "flagged: {md}");
        assert!(md.contains("| 50% | 4 | 4 | 0 | 3 | +1 (+4.5%, a/leap) | 63 | 71 | 62 |"), "{md}");
        assert!(md.contains("(means over every workload and every trace at 100% it ran)"), "{md}");
        let workloads = workload_rows(SERIAL);
        assert_eq!(csv.lines().count(), 7);
        let (csv, _) = report(&workloads, 1_000_000_000);
        assert!(csv.lines().nth(1).unwrap().ends_with(",2000,100,,,,,,,,,,,,"), "workloads leave the pressure columns empty: {csv}");
    }

    #[test]
    fn flags_and_agreement_compare_like_with_like() {
        let mut rows = pressured();
        assert_eq!(flags(&rows).len(), 1);
        rows[1].trace_major = 1;
        let flagged = flags(&rows);
        assert_eq!((flagged[0].budget, flagged[0].demand_major), (100, 0), "any major fault over none is flagged");
        let agreement = agreement(&rows);
        assert_eq!(agreement.iter().map(|a| a.budget).collect::<Vec<_>>(), vec![100, 50]);
        assert_eq!((agreement[0].rows, agreement[0].major_equal), (2, 1));
        assert_eq!(agreement[1].major_worst, Some((1, "a/leap".to_owned(), 22)));
        assert!(pressure_report(&workload_rows(SERIAL)).is_empty());
    }

    #[test]
    fn the_budget_chart_has_a_line_per_policy_and_beladys() {
        let svg = plot_budgets(&pressured()).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("leap") && svg.contains("Belady"), "{svg}");
        assert_eq!(svg, plot_budgets(&pressured()).unwrap());
    }
}
