//! The memory benchmark (`cargo xtask bench memory`): every workload and every trace under every
//! commit policy, in QEMU under `-icount shift=0` (BIOS, release kernel),
//! with the kernel's own counters, without a memory budget and under each
//! budget asked for; writes `target/bench/results.csv`,
//! `target/bench/results.md` and SVG charts.
//!
//! Workloads run in one boot without a budget (`bin/bench-memory`: each
//! workload under each policy, the kernel's `memstat` line per run), which
//! also measures each workload's *distinct pages*: the most pages it holds
//! at once under demand paging (`peak_committed`: every page it touched —
//! code, data, stack, heap and its own partitions — less those it had
//! released by then; it releases its data only at the end, so this is the
//! pages it touches). Then one boot per budget runs every workload under
//! every policy again, each spawned with that share of its distinct pages
//! as its memory budget (`bench-memory ... --budget NAME=PAGES...`), with a
//! fresh swap disk.
//!
//! Each trace runs in a boot of its own per memory budget (`bin/replay all
//! --budget B FILE`: its replay file under every policy with B of its
//! distinct pages, one `replay ...` line per run, counted over the trace's
//! partitions only, with a fresh swap disk attached). The host simulator
//! replays the same trace, policy and budget through the same engine, and
//! Belady's eviction under demand paging gives the limit on major faults;
//! the report says how far the kernel's counts are from the simulator's.
//! 2 MiB pages are off, so hits and waste are counted per 4 KiB page. The
//! boots under a budget run without the accessed-bit sampler (`sample=0`),
//! which would clear the accessed bits CLOCK eviction reads (the simulator
//! has none).

use crate::image::RamdiskContents;
use crate::qemu::{self, RunConfig, Verdict};
use crate::{Firmware, Profile};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use pae_model::integer::IntegerModel;
use std::time::{Duration, Instant};
pub use trace::Budget;

/// Policies the workloads run under (the oracle needs a trace's future).
const WORKLOAD_POLICIES: [&str; 5] = ["demand", "eager", "readahead", "leap", "pae"];
/// Policies `bin/replay all` runs every trace under, in its order.
const TRACE_POLICIES: [&str; 6] = ["demand", "eager", "readahead", "leap", "oracle", "pae"];
/// The manifest of a directory of fold models (`cargo xtask eval
/// --save-models DIR`): one line per model, `fold-N.onnx: TRACE TRACE ...`,
/// the traces it was not trained on; `#` starts a comment.
pub const FOLDS_MANIFEST: &str = "folds.txt";
/// Where the repository keeps its fold models.
pub const DEFAULT_FOLDS: &str = "pae-model/models/folds";
/// Memory budgets every workload and trace runs under by default: 100 %,
/// 50 % and 25 % of its distinct pages (100 %: all of them fit).
pub const DEFAULT_BUDGETS: [Budget; 3] = [Budget::Percent(100), Budget::Percent(50), Budget::Percent(25)];
/// The workloads' size under the memory budgets by default, in KiB (see
/// [`Options::budget_kib`]).
pub const DEFAULT_BUDGET_KIB: u64 = 256;
/// Swap-disk pages beyond the most pages a boot's runs can have on swap at
/// once (a trace's region pages; a workload's distinct pages, as a process
/// gives its slots back when it ends): room for the pages of the programs
/// themselves, which may be evicted too.
const SWAP_MARGIN_PAGES: u64 = 2048;
/// A policy making more than this many times demand paging's major faults
/// (same workload or trace and budget) is flagged.
const FLAG_RATIO: f64 = 1.1;
/// Bytes per swapped page.
const PAGE_BYTES: u64 = 4096;

/// Accesses of each trace `cargo xtask bench memory` replays by default
/// (the start of each; `--accesses 0` replays all).
pub const DEFAULT_ACCESSES: usize = 50_000;

/// What `bench memory` measures and where.
pub struct Options {
    /// Lackey traces to replay.
    pub traces: PathBuf,
    /// Workload size in KiB.
    pub kib: u64,
    /// Workload size in KiB under the memory budgets: smaller, as every
    /// major fault waits for the disk (about 0.4 ms of host time under TCG)
    /// and the random-access workloads fault on most accesses at 25 %.
    pub budget_kib: u64,
    /// The workloads that run under the budgets, by name without `wl-`
    /// (empty: every one).
    pub budget_workloads: Vec<String>,
    /// Replay only the first accesses of each trace (0: all).
    pub accesses: usize,
    /// Only the first `limit` traces (0: all).
    pub trace_limit: usize,
    /// Memory budgets every workload and trace runs under, in pages or in
    /// percent of its distinct pages (see [`DEFAULT_BUDGETS`]); at least one.
    pub budgets: Vec<Budget>,
    /// The PAE model for every run (`None`: see `folds`).
    pub model: Option<PathBuf>,
    /// Fold models (see [`FOLDS_MANIFEST`]): a trace one of them was not
    /// trained on runs under that one (leave-programs-out); other traces
    /// and the workloads under the default model, which was trained on the
    /// shared traces only.
    pub folds: Option<PathBuf>,
}

/// The model each run uses: a name for the table and the file's bytes.
#[derive(Clone, Debug)]
pub struct Models {
    default: (String, Vec<u8>),
    by_trace: BTreeMap<String, (String, Vec<u8>)>,
}

impl Models {
    /// Reads `options.model`, or the default model and the fold models of
    /// `options.folds`.
    pub fn load(options: &Options) -> Result<Models> {
        Models::from_paths(options.model.as_deref(), options.folds.as_deref())
    }

    /// Reads `model`, or the default model and the fold models of `folds`.
    pub fn from_paths(model: Option<&Path>, folds: Option<&Path>) -> Result<Models> {
        let read = |path: &Path| std::fs::read(path).with_context(|| format!("reading the model {}", path.display()));
        if let Some(path) = model {
            let name = path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned());
            return Ok(Models { default: (name, read(path)?), by_trace: BTreeMap::new() });
        }
        let default = ("default.onnx".to_owned(), read(&crate::workspace_root().join(crate::image::DEFAULT_MODEL))?);
        let mut by_trace = BTreeMap::new();
        if let Some(directory) = folds {
            let manifest = directory.join(FOLDS_MANIFEST);
            let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
            for line in text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')) {
                let (file, traces) = line.split_once(':').with_context(|| format!("{}: `{line}` is not `FILE: TRACE...`", manifest.display()))?;
                let bytes = read(&directory.join(file.trim()))?;
                for trace in traces.split_whitespace() {
                    by_trace.insert(trace.to_owned(), (file.trim().to_owned(), bytes.clone()));
                }
            }
        }
        Ok(Models { default, by_trace })
    }

    /// The model trace `name` runs under.
    pub fn for_trace(&self, name: &str) -> &(String, Vec<u8>) {
        self.by_trace.get(name).unwrap_or(&self.default)
    }

    /// The model trace `name` runs under, compiled for the simulator.
    pub fn compile_for_trace(&self, name: &str) -> Result<Arc<IntegerModel>> {
        let (file, bytes) = self.for_trace(name);
        Ok(Arc::new(IntegerModel::load(bytes).map_err(|error| anyhow::anyhow!("the model {file}: {error}"))?))
    }

    /// The model the workloads run under.
    pub fn for_workloads(&self) -> &(String, Vec<u8>) {
        &self.default
    }
}

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
    /// The distinct pages of the trace or workload (see the module docs).
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

/// Reads the workload rows (`memstat` lines of `wl-*` processes) of a boot
/// that ran them at `kib` KiB under `budget`; `distinct` gives each
/// workload's distinct pages.
fn workload_rows(serial: &str, budget: Option<Budget>, kib: u64, distinct: &BTreeMap<String, u64>) -> Vec<Row> {
    crate::qemu::parse_memstats(serial)
        .into_iter()
        .filter_map(|stat| {
            let name = stat.name.strip_prefix("wl-")?.to_owned();
            let get = |key: &str| stat.get(key).unwrap_or(0);
            Some(Row {
                kind: "workload",
                kib,
                policy: stat.policy.clone(),
                faults: get("faults_demand"),
                ahead: get("ahead_commits"),
                hits: get("hits"),
                waste: get("waste"),
                peak: get("peak_committed"),
                footprint: get("footprint"),
                run_cycles: get("run_cycles"),
                fault_cycles: get("fault_cycles"),
                budget,
                budget_pages: get("budget"),
                distinct: distinct.get(&name).copied().unwrap_or(0),
                major: get("faults_major"),
                swap_outs: get("swap_outs"),
                swap_ins: get("swap_ins"),
                evicted: get("evictions"),
                swap_io_cycles: get("swap_io_cycles"),
                pae_steps: get("pae_steps"),
                pae_cycles: get("pae_cycles"),
                pae_model_cycles: get("pae_model_cycles"),
                layout_commits: get("layout_commits"),
                name,
                ..Row::default()
            })
        })
        .collect()
}

/// Each workload's distinct pages: its peak committed pages under demand
/// paging without a budget.
fn workload_distinct(rows: &[Row]) -> BTreeMap<String, u64> {
    rows.iter()
        .filter(|row| row.kind == "workload" && row.budget.is_none() && row.policy == "demand")
        .map(|row| (row.name.clone(), row.peak))
        .collect()
}

/// Reads the trace rows of trace `name` (of `distinct` pages) run under
/// `budget`: each `replay ...` line (its counters and cycles cover the
/// replay itself), with the peak and footprint of the `memstat` line of the
/// process that printed it (the next `replay` one).
fn trace_rows(serial: &str, name: &str, budget: Option<Budget>, distinct: u64) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = Vec::new();
    let mut waiting_for_process = None;
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
                run_cycles: number("cycles")?,
                fault_cycles: number("fault_cycles")?,
                swap_io_cycles: number("swap_io_cycles")?,
                pae_steps: number("pae_steps")?,
                pae_cycles: number("pae_cycles")?,
                pae_model_cycles: number("pae_model_cycles")?,
                ..Row::default()
            });
            waiting_for_process = Some(rows.len() - 1);
        } else if line.contains("memstat name=replay ")
            && let Some(index) = waiting_for_process.take()
            && let Some(stat) = crate::qemu::parse_memstats(line).pop()
        {
            let row = &mut rows[index];
            row.peak = stat.get("peak_committed").unwrap_or(0);
            row.footprint = stat.get("footprint").unwrap_or(0);
            row.layout_commits = stat.get("layout_commits").unwrap_or(0);
        }
    }
    Ok(rows)
}

/// The simulator's counts for one trace: (budget, policy) → counts,
/// Belady's under the policy name `belady`.
type Simulations = BTreeMap<(String, String), Simulated>;

/// Replays `replay` in the host simulator under every trace policy and
/// Belady's eviction (demand paging) under every budget in `budgets`.
fn simulate(name: &str, replay: &trace::Replay, budgets: &[Budget], model: &Arc<IntegerModel>) -> Result<Simulations> {
    use kernel::policy::sim::{Pressure, policy_for, replay_under};
    let distinct = replay.distinct_pages();
    let mut simulations = Simulations::new();
    for &budget in budgets {
        let pages = Some(budget.pages(distinct, abi::MIN_MEMORY_BUDGET));
        let runs = TRACE_POLICIES.iter().map(|&policy| (policy, policy, false)).chain([("belady", "demand", true), ("oracle-belady", "oracle", true)]);
        for (label, policy, belady) in runs {
            let policy = policy_for(policy, replay, Some(model)).with_context(|| format!("no policy {policy}"))?;
            let (_, counters) = replay_under(replay, policy, Pressure { budget: pages, belady })
                .map_err(|error| anyhow::anyhow!("simulating {name} under {label} at {budget}: {error:?}"))?;
            simulations
                .insert((budget.to_string(), label.to_owned()), Simulated { faults: counters.faults_demand, major: counters.faults_major });
        }
    }
    Ok(simulations)
}

/// Gives the trace rows of `name` their simulated counts and Belady's.
fn attach(rows: &mut [Row], name: &str, simulations: &Simulations) {
    for row in rows.iter_mut().filter(|row| row.kind == "trace" && row.name == name) {
        let Some(budget) = row.budget.map(|budget| budget.to_string()) else { continue };
        row.simulated = simulations.get(&(budget.clone(), row.policy.clone())).copied();
        row.belady = simulations.get(&(budget.clone(), "belady".to_owned())).map(|belady| belady.major);
        row.oracle_belady = simulations.get(&(budget, "oracle-belady".to_owned())).map(|limit| limit.major);
    }
}

fn tsc_hz(serial: &str) -> Result<u64> {
    serial
        .lines()
        .find_map(|line| line.strip_prefix("bench-tsc-hz ").and_then(|hz| hz.trim().parse().ok()))
        .context("no `bench-tsc-hz` line")
}

/// `budget` as part of a file name (`50pct`, `4096p`).
fn file_label(budget: Budget) -> String {
    match budget {
        Budget::Percent(percent) => format!("{percent}pct"),
        Budget::Pages(pages) => format!("{pages}p"),
    }
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

/// Runs the workloads: every one under every policy without a budget at
/// `options.kib` KiB, then (those of `options.budget_workloads`) at
/// `options.budget_kib` KiB under each budget, one boot per budget; their
/// distinct pages come from the run without a budget under demand paging
/// at that size (a boot of its own if the sizes differ). Returns the rows
/// and the TSC frequency.
fn measure_workloads(
    options: &Options,
    model: &(String, Vec<u8>),
    kernel: &Path,
    programs: &[crate::build::UserProgram],
    settings: &str,
    elapsed: &dyn Fn() -> f64,
) -> Result<(Vec<Row>, u64)> {
    let policies = WORKLOAD_POLICIES.join(",");
    eprintln!("bench: workloads ({} KiB) under {}", options.kib, WORKLOAD_POLICIES.join(", "));
    let cmdline = format!("{settings} sample=64 init=bin/bench-memory init-args={},{policies}", options.kib);
    let model_file = || vec![(kernel::policy::MODEL_PATH.to_owned(), model.1.clone())];
    let serial = boot("workloads", kernel, programs, &cmdline, model_file(), None)?;
    let hz = tsc_hz(&serial)?;
    let mut rows = workload_rows(&serial, None, options.kib, &BTreeMap::new());
    let mut distinct = workload_distinct(&rows);
    if distinct.is_empty() || rows.len() != distinct.len() * WORKLOAD_POLICIES.len() {
        bail!("{} workload rows, {} under demand paging:\n{serial}", rows.len(), distinct.len());
    }
    for row in &mut rows {
        row.distinct = distinct.get(&row.name).copied().unwrap_or(0);
    }
    if options.budget_kib != options.kib {
        eprintln!("bench: workloads ({} KiB) under demand paging, for their distinct pages ({:.0} s so far)", options.budget_kib, elapsed());
        let cmdline = format!("{settings} sample=64 init=bin/bench-memory init-args={},demand", options.budget_kib);
        let serial = boot("workloads-distinct", kernel, programs, &cmdline, Vec::new(), None)?;
        distinct = workload_distinct(&workload_rows(&serial, None, options.budget_kib, &BTreeMap::new()));
    }
    if let Some(name) = options.budget_workloads.iter().find(|name| !distinct.contains_key(name.as_str())) {
        bail!("no workload `{name}` (one of {})", distinct.keys().cloned().collect::<Vec<_>>().join(", "));
    }
    distinct.retain(|name, _| options.budget_workloads.is_empty() || options.budget_workloads.contains(name));
    let swap_pages = distinct.values().max().copied().unwrap_or(0) + SWAP_MARGIN_PAGES;
    let runs = distinct.len() * WORKLOAD_POLICIES.len();
    for &budget in &options.budgets {
        let pages: BTreeMap<&str, u64> =
            distinct.iter().map(|(name, &distinct)| (name.as_str(), budget.pages(distinct, abi::MIN_MEMORY_BUDGET))).collect();
        eprintln!("bench: workloads ({} KiB) under {budget} of their distinct pages {pages:?} ({:.0} s so far)", options.budget_kib, elapsed());
        let words: Vec<String> = pages.iter().map(|(name, pages)| format!("{name}={pages}")).collect();
        let cmdline =
            format!("{settings} sample=0 init=bin/bench-memory init-args={},{policies},--budget,{}", options.budget_kib, words.join(","));
        let serial = boot(&format!("workloads-{}", file_label(budget)), kernel, programs, &cmdline, model_file(), Some(swap_pages))?;
        let found = workload_rows(&serial, Some(budget), options.budget_kib, &distinct);
        if found.len() != runs {
            bail!("{} workload rows under {budget}, not {runs}:\n{serial}", found.len());
        }
        if let Some(row) = found.iter().find(|row| Some(&row.budget_pages) != pages.get(row.name.as_str())) {
            bail!("{} under {budget}: the kernel's budget is {} pages, not {:?}", row.name, row.budget_pages, pages.get(row.name.as_str()));
        }
        rows.extend(found);
    }
    for row in rows.iter_mut().filter(|row| row.policy == "pae") {
        row.model = model.0.clone();
    }
    Ok((rows, hz))
}

/// A program's first and second run under `pae` in one boot: the second
/// starts from the layout proposal the first left (`policy::layout`).
#[derive(Clone, Debug, PartialEq)]
pub struct LayoutRuns {
    /// The first run.
    pub first: Row,
    /// The second run.
    pub second: Row,
}

/// Pairs the rows of a boot that ran each program twice under `pae`, in
/// the order they ran: a name's first row with its second.
fn layout_pairs(rows: Vec<Row>) -> Result<Vec<LayoutRuns>> {
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

/// What [`measure`] measured.
pub struct Measured {
    /// Every workload and trace under every policy and budget.
    pub rows: Vec<Row>,
    /// The guest's TSC frequency.
    pub hz: u64,
    /// First and second runs under `pae`: the workloads without a budget,
    /// the traces under the largest budget.
    pub layouts: Vec<LayoutRuns>,
}

/// Runs the whole benchmark (QEMU and OVMF must be installed).
pub fn measure(options: &Options) -> Result<Measured> {
    if options.budgets.is_empty() {
        bail!("no memory budget to run under");
    }
    let models = Models::load(options)?;
    let kernel = crate::build::kernel(Profile::Release)?;
    let programs = crate::build::user_programs(Profile::Release)?;
    // `pae-budget=0`: the PAE task reads every fault before the access is
    // retried, so what it commits depends on the faults alone, not on when
    // a tick falls (swap I/O is polled in host time, so under a budget the
    // ticks land at different instructions from run to run). What it costs
    // is measured all the same (the inference section).
    let settings = "mode=run log=info huge=off pae-budget=0";
    let started = Instant::now();
    let elapsed = || started.elapsed().as_secs_f64();
    let (mut rows, hz) = measure_workloads(options, models.for_workloads(), &kernel, &programs, settings, &elapsed)?;
    // Layout proposals: every workload twice under pae in one boot.
    eprintln!("bench: workloads ({} KiB) twice under pae, for layout proposals ({:.0} s so far)", options.kib, elapsed());
    let cmdline = format!("{settings} sample=64 init=bin/bench-memory init-args={},pae,pae", options.kib);
    let model_file = vec![(kernel::policy::MODEL_PATH.to_owned(), models.for_workloads().1.clone())];
    let serial = boot("workloads-layout", &kernel, &programs, &cmdline, model_file, None)?;
    let mut layouts = layout_pairs(workload_rows(&serial, None, options.kib, &workload_distinct(&rows)))?;
    let largest = options.budgets.iter().copied().max_by_key(|budget| budget_order(*budget)).context("no budget")?;
    let mut traces = trace::file::trace_files(&options.traces).map_err(anyhow::Error::msg)?;
    if options.trace_limit > 0 {
        traces.truncate(options.trace_limit);
    }
    // The simulator works through the traces on another core while QEMU
    // replays them.
    let (to_simulator, simulator_queue) = mpsc::channel::<(String, trace::Replay, Arc<IntegerModel>)>();
    let budgets = options.budgets.clone();
    let simulator = std::thread::spawn(move || -> Result<Vec<(String, Simulations)>> {
        simulator_queue.into_iter().map(|(name, replay, model)| Ok((name.clone(), simulate(&name, &replay, &budgets, &model)?))).collect()
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
        let model = models.for_trace(&name);
        let _ = to_simulator.send((name.clone(), replay, models.compile_for_trace(&name)?));
        for &budget in &options.budgets {
            eprintln!("bench: trace {}/{} {name} under {budget} of {distinct} pages ({:.0} s so far)", index + 1, traces.len(), elapsed());
            let cmdline = format!("{settings} sample=0 init=bin/replay init-args=all,--budget,{budget},{file}");
            let extra = vec![(file.clone(), encoded.clone()), (kernel::policy::MODEL_PATH.to_owned(), model.1.clone())];
            let serial = boot(&format!("{name}-{}", file_label(budget)), &kernel, &programs, &cmdline, extra, Some(swap_pages))?;
            let found = trace_rows(&serial, &name, Some(budget), distinct)?;
            if found.len() != TRACE_POLICIES.len() {
                bail!("{name} under {budget}: {} replay lines, not {}:\n{serial}", found.len(), TRACE_POLICIES.len());
            }
            let mut found = found;
            for row in found.iter_mut().filter(|row| row.policy == "pae") {
                row.model = model.0.clone();
            }
            let expected = budget.pages(distinct, abi::MIN_MEMORY_BUDGET);
            if let Some(row) = found.iter().find(|row| row.budget_pages != expected) {
                bail!("{name} under {budget}: the kernel's budget is {} pages, the simulator's {expected}", row.budget_pages);
            }
            rows.extend(found);
        }
        eprintln!("bench: trace {name} twice under pae at {largest}, for layout proposals ({:.0} s so far)", elapsed());
        let cmdline = format!("{settings} sample=0 init=bin/replay init-args=pae+pae,--budget,{largest},{file}");
        let extra = vec![(file.clone(), encoded.clone()), (kernel::policy::MODEL_PATH.to_owned(), model.1.clone())];
        let serial = boot(&format!("{name}-layout"), &kernel, &programs, &cmdline, extra, Some(swap_pages))?;
        let mut pairs = layout_pairs(trace_rows(&serial, &name, Some(largest), distinct)?)?;
        if pairs.len() != 1 {
            bail!("{name}: {} pairs of runs under pae, not one:\n{serial}", pairs.len());
        }
        for pair in &mut pairs {
            pair.first.model = model.0.clone();
            pair.second.model = model.0.clone();
        }
        layouts.extend(pairs);
    }
    drop(to_simulator);
    eprintln!("bench: waiting for the simulator ({:.0} s so far)", elapsed());
    let simulations = simulator.join().map_err(|_| anyhow::anyhow!("the simulator thread panicked"))??;
    for (name, simulations) in &simulations {
        attach(&mut rows, name, simulations);
    }
    eprintln!("bench: done in {:.0} s", elapsed());
    Ok(Measured { rows, hz, layouts })
}

/// Orders budgets from the smallest share to the largest (pages after
/// percentages, by count).
fn budget_order(budget: Budget) -> (u8, u64) {
    match budget {
        Budget::Percent(percent) => (0, percent),
        Budget::Pages(pages) => (1, pages),
    }
}

/// The layout comparison as CSV and as a Markdown section: per program,
/// demand faults, pages committed ahead, hits and peak pages on the first
/// and the second run under `pae`, and the pages the second committed from
/// its proposal.
pub fn layout_report(layouts: &[LayoutRuns]) -> (String, String) {
    let mut csv = String::from(
        "name,kind,budget,run1_faults,run2_faults,run2_layout_commits,run1_committed_ahead,run2_committed_ahead,run1_hits,run2_hits,run1_peak,run2_peak\n",
    );
    let mut md = String::from(
        "\n**Layout proposals** (each workload without a budget and each trace under its largest budget, run twice under `pae` in one \
         boot: when the first run ends, the PAE records its layout, keyed by the hash of the program's ELF file; the second run \
         commits each partition's hot ranges at its first fault): demand faults on run 1 and run 2, and what run 2 committed \
         from the proposal.\n\n\
         | name | kind | faults, run 1 | faults, run 2 | from the proposal | ahead, run 1 | ahead, run 2 | peak, run 1 | peak, run 2 |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for LayoutRuns { first, second } in layouts {
        let budget = first.budget.map_or_else(String::new, |budget| budget.to_string());
        let _ = writeln!(
            csv,
            "{},{},{budget},{},{},{},{},{},{},{},{},{}",
            first.name,
            first.kind,
            first.faults,
            second.faults,
            second.layout_commits,
            first.ahead,
            second.ahead,
            first.hits,
            second.hits,
            first.peak,
            second.peak
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            first.name, first.kind, first.faults, second.faults, second.layout_commits, first.ahead, second.ahead, first.peak, second.peak
        );
    }
    for kind in ["trace", "workload"] {
        let mine: Vec<&LayoutRuns> = layouts.iter().filter(|pair| pair.first.kind == kind).collect();
        if mine.is_empty() {
            continue;
        }
        let sum = |pick: &dyn Fn(&LayoutRuns) -> u64| mine.iter().map(|pair| pick(pair)).sum::<u64>();
        let fewer = mine.iter().filter(|pair| pair.second.faults < pair.first.faults).count();
        let _ = writeln!(
            md,
            "\n{kind}s: {} demand faults on run 1, {} on run 2 ({:.1} %); run 2 faulted less on {fewer} of {}; peak pages {} → {}.",
            sum(&|pair| pair.first.faults),
            sum(&|pair| pair.second.faults),
            100.0 * sum(&|pair| pair.second.faults) as f64 / sum(&|pair| pair.first.faults).max(1) as f64,
            mine.len(),
            sum(&|pair| pair.first.peak),
            sum(&|pair| pair.second.peak),
        );
    }
    (csv, md)
}

/// Faults avoided relative to the same workload or trace under demand
/// paging (under the same budget).
fn coverage(row: &Row, rows: &[Row]) -> f64 {
    match demand_row(row, rows) {
        Some(demand) if demand.faults > 0 => 1.0 - row.faults as f64 / demand.faults as f64,
        _ => 0.0,
    }
}

/// Whether `row` and `other` are the same workload or trace (at the same
/// size) under the same budget.
fn same_run(row: &Row, other: &Row) -> bool {
    other.name == row.name && other.kind == row.kind && other.kib == row.kib && other.budget == row.budget
}

/// The demand-paging row `row` compares with: the same run under demand paging.
fn demand_row<'a>(row: &Row, rows: &'a [Row]) -> Option<&'a Row> {
    rows.iter().find(|other| same_run(row, other) && other.policy == "demand")
}

fn accuracy(row: &Row) -> f64 {
    if row.ahead == 0 { 1.0 } else { row.hits as f64 / row.ahead as f64 }
}

/// The budgets of `rows`, in the order they first appear (the order they
/// ran in).
fn budgets(rows: &[Row]) -> Vec<Budget> {
    let mut budgets = Vec::new();
    for budget in rows.iter().filter_map(|row| row.budget) {
        if !budgets.contains(&budget) {
            budgets.push(budget);
        }
    }
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

/// The rows with the least memory pressure: each workload or trace
/// without a budget if it ran without one (the workloads), else under its
/// largest budget in pages (the traces).
fn unpressured(rows: &[Row]) -> Vec<Row> {
    let mut calmest: BTreeMap<(&str, &str), (Option<Budget>, u64)> = BTreeMap::new();
    for row in rows {
        let pages = if row.budget.is_none() { u64::MAX } else { row.budget_pages };
        let entry = calmest.entry((row.kind, row.name.as_str())).or_insert((row.budget, pages));
        if pages > entry.1 {
            *entry = (row.budget, pages);
        }
    }
    rows.iter().filter(|row| calmest.get(&(row.kind, row.name.as_str())).is_some_and(|&(budget, _)| budget == row.budget)).cloned().collect()
}

/// The kinds of run, each with its name in the plural, in report order.
const KINDS: [(&str, &str); 2] = [("trace", "traces"), ("workload", "workloads")];

/// The demand-paging rows of `kind` under `budget`.
fn demand_rows<'a>(rows: &'a [Row], kind: &'a str, budget: Budget) -> impl Iterator<Item = &'a Row> + 'a {
    rows.iter().filter(move |row| row.kind == kind && row.budget == Some(budget) && row.policy == "demand")
}

/// The mean over the `kind` runs under `budget` where demand paging had
/// major faults of `pick(demand row)` relative to them, and how many runs
/// that was; `None` if demand paging had none anywhere.
fn mean_relative_major(rows: &[Row], kind: &str, budget: Budget, pick: impl Fn(&Row) -> Option<u64>) -> Option<(f64, usize)> {
    let ratios: Vec<f64> = demand_rows(rows, kind, budget)
        .filter(|demand| demand.run_major() > 0)
        .filter_map(|demand| Some(pick(demand)? as f64 / demand.run_major() as f64))
        .collect();
    (!ratios.is_empty()).then(|| (ratios.iter().sum::<f64>() / ratios.len() as f64, ratios.len()))
}

/// The mean over the `kind` runs under `budget` of `pick(demand row)` per
/// distinct page; `None` if there are none.
fn mean_per_page(rows: &[Row], kind: &str, budget: Budget, pick: impl Fn(&Row) -> Option<u64>) -> Option<f64> {
    let values: Vec<f64> = demand_rows(rows, kind, budget)
        .filter(|demand| demand.distinct > 0)
        .filter_map(|demand| Some(pick(demand)? as f64 / demand.distinct as f64))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The major faults ([`Row::run_major`]) of `policy`'s row beside `demand`
/// (same workload or trace and budget).
fn major_of<'a>(rows: &'a [Row], policy: &'a str) -> impl Fn(&Row) -> Option<u64> + 'a {
    move |demand: &Row| {
        rows.iter().find(|row| same_run(demand, row) && row.policy == policy).map(Row::run_major)
    }
}

/// Where `budget` lies on the budget axis for the `kind` runs, in percent
/// of their distinct pages: its percentage, or for pages, the mean share of
/// their distinct pages it gave them.
fn budget_axis(rows: &[Row], kind: &str, budget: Budget) -> Option<f64> {
    match budget {
        Budget::Percent(percent) => Some(percent as f64),
        Budget::Pages(_) => {
            let shares: Vec<f64> = demand_rows(rows, kind, budget)
                .filter(|demand| demand.distinct > 0)
                .map(|demand| demand.budget_pages as f64 * 100.0 / demand.distinct as f64)
                .collect();
            (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64)
        }
    }
}

/// A workload or trace, budget and policy with more than [`FLAG_RATIO`]
/// times demand paging's major faults.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    pub name: String,
    pub kind: &'static str,
    pub budget: Budget,
    pub policy: String,
    pub major: u64,
    pub demand_major: u64,
}

/// Every row under a memory budget whose major faults
/// ([`Row::run_major`]) exceed [`FLAG_RATIO`] times demand paging's for
/// the same workload or trace and budget.
pub fn flags(rows: &[Row]) -> Vec<Flag> {
    rows.iter()
        .filter(|row| row.policy != "demand")
        .filter_map(|row| {
            let (demand, budget) = (demand_row(row, rows)?, row.budget?);
            (row.run_major() as f64 > FLAG_RATIO * demand.run_major() as f64).then(|| Flag {
                name: row.name.clone(),
                kind: row.kind,
                budget,
                policy: row.policy.clone(),
                major: row.run_major(),
                demand_major: demand.run_major(),
            })
        })
        .collect()
}

/// How the kernel's counts under one budget compare with the simulator's,
/// for the policies that plan at the fault or for `pae`.
#[derive(Clone, Debug, PartialEq)]
pub struct Agreement {
    pub budget: Budget,
    /// Whether these are the `pae` rows: in the kernel the PAE task steps
    /// the model after the fault, while the process runs on (the
    /// simulator steps it at the fault), so its counts may differ.
    pub pae: bool,
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

/// The kernel's counts against the simulator's, per budget (the rows the
/// simulator ran too: the traces).
pub fn agreement(rows: &[Row]) -> Vec<Agreement> {
    let simulated: Vec<Row> = rows.iter().filter(|row| row.simulated.is_some()).cloned().collect();
    let mut agreements = Vec::new();
    for budget in budgets(&simulated) {
        for pae in [false, true] {
            let mut agreement = Agreement {
                budget,
                pae,
                rows: 0,
                faults_equal: 0,
                major_equal: 0,
                faults_worst: None,
                major_worst: None,
                kernel_trace_major: 0,
                kernel_major: 0,
                simulated_major: 0,
            };
            let worse = |worst: &mut Option<(i64, String, u64)>, difference: i64, row: &Row, simulated: u64| {
                if worst.as_ref().is_none_or(|(largest, _, _)| difference.abs() > largest.abs()) {
                    *worst = Some((difference, format!("{}/{}", row.name, row.policy), simulated));
                }
            };
            for row in simulated.iter().filter(|row| row.budget == Some(budget) && (row.policy == "pae") == pae) {
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
            if agreement.rows > 0 {
                agreements.push(agreement);
            }
        }
    }
    agreements
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
/// budget relative to demand paging, for the traces (with Belady's limit)
/// and the workloads; the flagged runs; the kernel's agreement with the
/// simulator. Empty without budgets.
pub fn pressure_report(rows: &[Row]) -> String {
    if budgets(rows).is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n**Major faults under memory pressure**: for each policy, the mean over the runs of its major faults relative to \
         demand paging's under the same budget (in brackets: runs where demand paging had any), then per distinct page. \
         A trace's major faults are those on its pages; a workload's, its process's (its budget covers the whole process). \
         Belady is the simulator's optimal eviction under demand paging, the limit (traces only: a workload has no trace \
         to look ahead in).\n",
    );
    for (kind, plural) in KINDS {
        let mine: Vec<Row> = rows.iter().filter(|row| row.kind == kind && row.budget.is_some()).cloned().collect();
        let budgets = budgets(&mine);
        if budgets.is_empty() {
            continue;
        }
        let header = |first: &str| {
            let mut header = format!("| {first} |");
            let mut rule = String::from("|---|");
            for budget in &budgets {
                let _ = write!(header, " {budget} |");
                rule.push_str("---:|");
            }
            format!("{header}\n{rule}\n")
        };
        let relative = |pick: &dyn Fn(&Row) -> Option<u64>, budget: Budget| match mean_relative_major(&mine, kind, budget, pick) {
            Some((mean, runs)) => format!("{mean:.3} ({runs})"),
            None => "–".to_owned(),
        };
        let per_page = |pick: &dyn Fn(&Row) -> Option<u64>, budget: Budget| match mean_per_page(&mine, kind, budget, pick) {
            Some(mean) => format!("{mean:.3}"),
            None => "–".to_owned(),
        };
        let belady = |demand: &Row| demand.belady;
        let policies = policies(&mine);
        for (title, per_distinct_page) in [("relative to demand paging", false), ("per distinct page", true)] {
            let cell = |pick: &dyn Fn(&Row) -> Option<u64>, budget: Budget| {
                if per_distinct_page { per_page(pick, budget) } else { relative(pick, budget) }
            };
            let _ = write!(md, "\n*{plural}, major faults {title}:*\n\n");
            md.push_str(&header("policy"));
            for policy in &policies {
                let pick = major_of(&mine, policy);
                let cells: Vec<String> = budgets.iter().map(|&budget| cell(&pick, budget)).collect();
                let _ = writeln!(md, "| {policy} | {} |", cells.join(" | "));
            }
            if kind == "trace" {
                let cells: Vec<String> = budgets.iter().map(|&budget| cell(&belady, budget)).collect();
                let _ = writeln!(md, "| Belady (simulator) | {} |", cells.join(" | "));
            }
        }
    }
    let flagged = flags(rows);
    let _ = writeln!(md, "\n**Over {FLAG_RATIO}× demand paging's major faults**: {}\n", if flagged.is_empty() { "none." } else { "" });
    if !flagged.is_empty() {
        md.push_str("| name | kind | budget | policy | major | demand's | ratio |\n|---|---|---:|---|---:|---:|---:|\n");
        for flag in &flagged {
            let ratio =
                if flag.demand_major == 0 { "–".to_owned() } else { format!("{:.3}", flag.major as f64 / flag.demand_major as f64) };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {ratio} |",
                flag.name, flag.kind, flag.budget, flag.policy, flag.major, flag.demand_major
            );
        }
    }
    let agreements = agreement(rows);
    if agreements.is_empty() {
        return md;
    }
    md.push_str(
        "\n**Kernel against simulator** (the same trace, policy and budget through the same engine; the kernel's process \
         also holds its own code, stack and heap, locked, so the trace's pages alone share the trace's budget; \
         \"trace\" counts major faults on the trace's pages, \"all\" the process's; `pae` apart: in the kernel the PAE task \
         steps the model after the fault while the process runs on, the simulator steps it at the fault):\n\n\
         | budget | policies | rows | first-touch faults equal | largest difference | trace major faults equal | largest difference | \
         major, kernel (trace) | major, kernel (all) | major, simulator |\n|---:|---|---:|---:|---|---:|---|---:|---:|---:|\n",
    );
    for agreement in agreements {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            agreement.budget,
            if agreement.pae { "pae" } else { "the others" },
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

/// The columns of `results.csv`.
pub const CSV_COLUMNS: [&str; 32] = [
    "name",
    "kind",
    "kib",
    "policy",
    "faults",
    "committed_ahead",
    "hits",
    "waste",
    "coverage",
    "accuracy",
    "peak_committed",
    "footprint",
    "guest_instructions",
    "fault_path_instructions",
    "budget",
    "budget_pages",
    "distinct_pages",
    "major_faults",
    "trace_major_faults",
    "swap_outs",
    "swap_ins",
    "bytes_written",
    "bytes_read",
    "evictions",
    "swap_io_instructions",
    "sim_faults",
    "sim_major_faults",
    "belady_major_faults",
    "model",
    "pae_steps",
    "pae_instructions",
    "pae_model_instructions",
];

/// The columns that depend on how long the swap disk takes, for the runs
/// with one (under a budget): the disk's completions arrive in host time
/// while the kernel polls for them, so the guest instructions spent
/// waiting (in all, in the fault path, in swap I/O, in the PAE task when it
/// reads pages back) and the footprint (ticks pass meanwhile) vary from
/// run to run. Every count is exact. `results.csv` leaves these columns
/// empty for those runs, so it is byte-identical from run to run;
/// `timing.csv` holds them.
pub const TIMED_COLUMNS: [&str; 6] =
    ["footprint", "guest_instructions", "fault_path_instructions", "swap_io_instructions", "pae_instructions", "pae_model_instructions"];

/// `timing.csv`: the [`TIMED_COLUMNS`] of the runs under a budget (see
/// there), with the columns that name the run.
pub fn timing_report(rows: &[Row], hz: u64) -> String {
    let instructions = |cycles: u64| (cycles as u128 * 1_000_000_000 / u128::from(hz.max(1))) as u64;
    let mut csv = String::from("name,kind,kib,policy,budget,");
    csv.push_str(&TIMED_COLUMNS.join(","));
    csv.push('\n');
    for row in rows.iter().filter(|row| row.budget.is_some()) {
        let kib = if row.kib > 0 { row.kib.to_string() } else { String::new() };
        let budget = row.budget.map_or_else(String::new, |budget| budget.to_string());
        let pae = |value: u64| if row.policy == "pae" { value.to_string() } else { String::new() };
        let _ = writeln!(
            csv,
            "{},{},{kib},{},{budget},{},{},{},{},{},{}",
            row.name,
            row.kind,
            row.policy,
            row.footprint,
            instructions(row.run_cycles),
            instructions(row.fault_cycles),
            instructions(row.swap_io_cycles),
            pae(instructions(row.pae_cycles)),
            pae(instructions(row.pae_model_cycles)),
        );
    }
    csv
}

/// The CSV (`results.csv`: every count; the [`TIMED_COLUMNS`] of runs
/// under a budget left empty) and the Markdown table (everything).
pub fn report(rows: &[Row], hz: u64) -> (String, String) {
    let instructions = |cycles: u64| (cycles as u128 * 1_000_000_000 / u128::from(hz.max(1))) as u64;
    let mut csv = CSV_COLUMNS.join(",");
    csv.push('\n');
    let mut md = String::from(
        "| name | kind | KiB | policy | faults | ahead | hits | waste | coverage | accuracy | peak | footprint | instructions | in faults | \
         budget | budget pages | distinct | major | trace major | swapped out | swapped in | bytes written | bytes read | in swap I/O | \
         sim faults | sim major | Belady major |\n",
    );
    md.push_str("|---|---|---:|---|");
    md.push_str(&"---:|".repeat(23));
    md.push('\n');
    let optional = |value: Option<u64>| value.map_or_else(String::new, |value| value.to_string());
    for row in rows {
        // The pressure columns are empty for rows without a budget.
        let pressure = row.budget.is_some();
        let swap = |value: u64| optional(pressure.then_some(value));
        let fields = |digits: usize| -> Vec<String> {
            let kib = if row.kib > 0 { row.kib.to_string() } else { String::new() };
            let mut fields = vec![row.name.clone(), row.kind.to_owned(), kib, row.policy.clone()];
            fields.extend([row.faults, row.ahead, row.hits, row.waste].map(|value| value.to_string()));
            fields.push(format!("{:.digits$}", coverage(row, rows)));
            fields.push(format!("{:.digits$}", accuracy(row)));
            fields.extend([row.peak, row.footprint, instructions(row.run_cycles), instructions(row.fault_cycles)].map(|value| value.to_string()));
            fields.extend([row.budget.map_or_else(String::new, |budget| budget.to_string()), swap(row.budget_pages)]);
            fields.extend([optional((row.distinct > 0).then_some(row.distinct)), swap(row.major)]);
            fields.push(optional((pressure && row.kind == "trace").then_some(row.trace_major)));
            fields.extend([swap(row.swap_outs), swap(row.swap_ins), swap(row.swap_outs * PAGE_BYTES), swap(row.swap_ins * PAGE_BYTES)]);
            fields
        };
        let simulated = [optional(row.simulated.map(|sim| sim.faults)), optional(row.simulated.map(|sim| sim.major)), optional(row.belady)];
        let mut csv_fields = fields(4);
        csv_fields.extend([swap(row.evicted), swap(instructions(row.swap_io_cycles))]);
        csv_fields.extend(simulated.clone());
        let pae = row.policy == "pae";
        csv_fields.extend([row.model.clone(), optional(pae.then_some(row.pae_steps)), optional(pae.then_some(instructions(row.pae_cycles)))]);
        csv_fields.push(optional(pae.then_some(instructions(row.pae_model_cycles))));
        if pressure {
            // Timed by the swap disk: in `timing.csv` (see `timing_report`).
            for column in TIMED_COLUMNS {
                if let Some(at) = CSV_COLUMNS.iter().position(|name| *name == column) {
                    csv_fields[at].clear();
                }
            }
        }
        let _ = writeln!(csv, "{}", csv_fields.join(","));
        let mut md_fields = fields(3);
        md_fields.push(swap(instructions(row.swap_io_cycles)));
        md_fields.extend(simulated);
        let _ = writeln!(md, "| {} |", md_fields.join(" | "));
    }
    let calm = unpressured(rows);
    let _ = write!(
        md,
        "\n`in faults` and `in swap I/O` are guest instructions (TSC cycles under `-icount shift=0`) in the page-fault path and \
         in swap reads and writes (checksum, request, polling the disk; mostly inside the fault path). `distinct` is a trace's \
         distinct pages, or a workload's peak committed pages under demand paging without a budget; a budget is a share of \
         them (or pages).\n\n\
         **Per policy** (means over every workload without a budget and every trace under its largest budget):\n\n\
         | policy | rows | mean coverage | mean accuracy |\n|---|---:|---:|---:|\n"
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
    md.push_str(&inference_report(rows, hz));
    md.push_str(&pressure_report(rows));
    (csv, md)
}

/// F1 of coverage and accuracy (0 when nothing was covered).
fn f1(row: &Row, rows: &[Row]) -> f64 {
    let (coverage, accuracy) = (coverage(row, rows), accuracy(row));
    if coverage + accuracy <= 0.0 { 0.0 } else { 2.0 * coverage * accuracy / (coverage + accuracy) }
}

/// The short results (README's): per policy and kind the mean coverage,
/// accuracy, F1 and peak pages relative to demand paging without pressure;
/// how often `pae` beats readahead and leap; the inference cost; and the
/// pressure report.
pub fn summary(rows: &[Row], hz: u64) -> String {
    let calm = unpressured(rows);
    let mut md = String::from(
        "**Without memory pressure** (workloads without a budget; traces under their largest budget): means per policy of \
         coverage (first-touch faults avoided relative to demand paging), accuracy (pages committed ahead that were used), \
         their F1, and peak committed pages relative to demand paging.\n\n\
         | kind | policy | rows | coverage | accuracy | F1 | peak |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    let mut names = policies(&calm);
    names.sort_unstable();
    for kind in ["trace", "workload"] {
        for &policy in &names {
            let mine: Vec<&Row> = calm.iter().filter(|row| row.kind == kind && row.policy == policy).collect();
            if mine.is_empty() {
                continue;
            }
            let n = mine.len() as f64;
            let mean = |value: &dyn Fn(&Row) -> f64| mine.iter().map(|row| value(row)).sum::<f64>() / n;
            let peak = |row: &Row| demand_row(row, &calm).map_or(1.0, |demand| row.peak as f64 / demand.peak.max(1) as f64);
            let _ = writeln!(
                md,
                "| {kind} | {policy} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                mine.len(),
                mean(&|row| coverage(row, &calm)),
                mean(&|row| accuracy(row)),
                mean(&|row| f1(row, &calm)),
                mean(&peak)
            );
        }
    }
    for kind in ["trace", "workload"] {
        let pae: Vec<&Row> = calm.iter().filter(|row| row.kind == kind && row.policy == "pae").collect();
        let other = |row: &Row, policy: &str| calm.iter().find(|other| same_run(row, other) && other.policy == policy).map(|other| f1(other, &calm));
        let above = pae.iter().filter(|row| ["readahead", "leap"].iter().all(|policy| other(row, policy).is_some_and(|theirs| f1(row, &calm) > theirs))).count();
        if !pae.is_empty() {
            let _ = writeln!(md, "\n`pae`'s F1 is above both readahead's and leap's on {above} of {} {kind}s.", pae.len());
        }
    }
    let pressured: Vec<&Row> = rows.iter().filter(|row| row.policy == "pae" && row.budget.is_some_and(|budget| budget != Budget::Percent(100))).collect();
    if !pressured.is_empty() {
        md.push_str("\n**`pae` under memory pressure**, per budget: runs where its major faults are below both readahead's and leap's, \
                     at most demand paging's, and within 1.5× of the limit (the simulator's oracle prefetching with Belady's eviction; traces only).\n\n\
                     | kind | budget | runs | below readahead and leap | at most demand | within 1.5× of the limit |\n|---|---|---:|---:|---:|---:|\n");
        for kind in ["trace", "workload"] {
            for budget in budgets(rows) {
                let mine: Vec<&&Row> = pressured.iter().filter(|row| row.kind == kind && row.budget == Some(budget)).collect();
                if mine.is_empty() {
                    continue;
                }
                let major = |row: &Row, policy: &str| rows.iter().find(|other| same_run(row, other) && other.policy == policy).map(Row::run_major);
                let below = mine.iter().filter(|row| ["readahead", "leap"].iter().all(|policy| major(row, policy).is_some_and(|theirs| row.run_major() < theirs))).count();
                let bounded = mine.iter().filter(|row| major(row, "demand").is_some_and(|demand| row.run_major() <= demand)).count();
                let limit = if kind == "trace" {
                    let near = mine.iter().filter(|row| row.oracle_belady.is_some_and(|limit| row.run_major() as f64 <= 1.5 * limit as f64)).count();
                    near.to_string()
                } else {
                    "–".to_owned()
                };
                let _ = writeln!(md, "| {kind} | {budget} | {} | {below} | {bounded} | {limit} |", mine.len());
            }
        }
    }
    md.push_str(&inference_report(rows, hz));
    md.push_str(&pressure_report(rows));
    md
}

/// The Markdown section on what the PAE's model cost: guest instructions
/// of its kernel task (reading the history, the model's steps, committing
/// what they predicted) per step and as a share of each run's.
pub fn inference_report(rows: &[Row], hz: u64) -> String {
    let instructions = |cycles: u64| cycles as f64 * 1e9 / hz.max(1) as f64;
    let mine: Vec<&Row> = rows.iter().filter(|row| row.policy == "pae" && row.pae_steps > 0).collect();
    if mine.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n**Inference cost** (`pae` runs; guest instructions per model step and as a share of the run's guest instructions: \
         *model*, the inference alone — encoding the fault and the integer GRU's step; *task*, all of the PAE task's work, \
         which adds reading the history, choosing the pages over the threshold and committing (zeroing or reading back) the pages the steps ask for):\n\n\
         | runs | kind | steps | model per step (mean) | (max) | model share (mean) | (max) | task per step (mean) | task share (mean) |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for kind in ["workload", "trace"] {
        let group: Vec<&&Row> = mine.iter().filter(|row| row.kind == kind).collect();
        if group.is_empty() {
            continue;
        }
        let steps: u64 = group.iter().map(|row| row.pae_steps).sum();
        let per_step = |cycles: fn(&Row) -> u64| instructions(group.iter().map(|row| cycles(row)).sum()) / steps.max(1) as f64;
        let max_per_step = group.iter().map(|row| instructions(row.pae_model_cycles) / row.pae_steps.max(1) as f64).fold(0.0, f64::max);
        let share = |row: &Row, cycles: u64| cycles as f64 / row.run_cycles.max(1) as f64;
        let mean_share = |cycles: fn(&Row) -> u64| group.iter().map(|row| share(row, cycles(row))).sum::<f64>() / group.len() as f64;
        let max_share = group.iter().map(|row| share(row, row.pae_model_cycles)).fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "| {} | {kind} | {steps} | {:.0} | {max_per_step:.0} | {:.1} % | {:.1} % | {:.0} | {:.1} % |",
            group.len(),
            per_step(|row| row.pae_model_cycles),
            100.0 * mean_share(|row| row.pae_model_cycles),
            100.0 * max_share,
            per_step(|row| row.pae_cycles),
            100.0 * mean_share(|row| row.pae_cycles),
        );
    }
    md
}

/// One panel of the budget chart: for every policy, the mean major faults
/// per distinct page of the `kind` runs under each budget, and Belady's
/// (dashed) where the simulator gave it.
fn plot_budget_panel(
    area: &plotters::prelude::DrawingArea<plotters::prelude::SVGBackend<'_>, plotters::coord::Shift>,
    rows: &[Row],
    kind: &str,
    plural: &str,
) -> Result<()> {
    use plotters::prelude::*;
    let error = |error: DrawingAreaErrorKind<_>| anyhow::anyhow!("{error:?}");
    let mine: Vec<Row> = rows.iter().filter(|row| row.kind == kind && row.budget.is_some()).cloned().collect();
    let budgets = budgets(&mine);
    let line = |pick: &dyn Fn(&Row) -> Option<u64>| -> Vec<(f64, f64)> {
        let mut points: Vec<(f64, f64)> = budgets
            .iter()
            .filter_map(|&budget| Some((budget_axis(&mine, kind, budget)?, mean_per_page(&mine, kind, budget, pick)?)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    };
    let lines: Vec<(String, Vec<(f64, f64)>)> =
        policies(&mine).into_iter().map(|policy| (policy.to_owned(), line(&major_of(&mine, policy)))).collect();
    let belady = line(&|demand: &Row| demand.belady);
    let all = || lines.iter().flat_map(|(_, points)| points.iter().copied()).chain(belady.iter().copied());
    let highest = all().map(|(_, y)| y).fold(0.1f64, f64::max);
    let left = all().map(|(x, _)| x).fold(f64::INFINITY, f64::min);
    let right = all().map(|(x, _)| x).fold(0f64, f64::max);
    let (left, right) = if left.is_finite() { ((left - 5.0).max(0.0), right + 5.0) } else { (0.0, 105.0) };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("Major faults per distinct page against the budget: {plural}"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(left..right, 0f64..highest * 1.1)
        .map_err(error)?;
    chart
        .configure_mesh()
        .x_desc(format!("budget (% of the {}'s distinct pages)", if kind == "trace" { "trace" } else { "workload" }))
        .y_desc(format!("major faults per distinct page (mean over {plural})"))
        .draw()
        .map_err(error)?;
    for (index, (policy, points)) in lines.into_iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(3))
            .map_err(error)?
            .label(policy)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    if !belady.is_empty() {
        chart
            .draw_series(DashedLineSeries::new(belady, 6, 4, BLACK.stroke_width(2)))
            .map_err(error)?
            .label("Belady (simulator)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(error)?;
    Ok(())
}

/// A line chart as SVG, a panel for the traces and one for the workloads
/// (those that ran under a budget): for every policy, the mean major faults
/// per distinct page under each budget, and Belady's (dashed), the limit.
pub fn plot_budgets(rows: &[Row]) -> Result<String> {
    use plotters::prelude::*;
    let kinds: Vec<(&str, &str)> =
        KINDS.into_iter().filter(|&(kind, _)| rows.iter().any(|row| row.kind == kind && row.budget.is_some())).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720 * kinds.len().max(1) as u32, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let panels = root.split_evenly((1, kinds.len().max(1)));
        for (panel, (kind, plural)) in panels.iter().zip(kinds) {
            plot_budget_panel(panel, rows, kind, plural)?;
        }
        root.present().map_err(|error| anyhow::anyhow!("{error:?}"))?;
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

/// The marker of the policy with colour index `index` (see
/// [`plot_coverage_accuracy`]) at `at` in `color`: a circle, square,
/// triangle, diamond or downward triangle in turn, so that policies whose
/// points coincide stay apart; only its outline if `hollow`.
fn policy_marker<'a, DB: plotters::prelude::DrawingBackend + 'a, C: Clone + 'a>(
    at: C,
    index: usize,
    color: plotters::style::RGBAColor,
    hollow: bool,
) -> plotters::element::DynElement<'a, DB, C> {
    use plotters::prelude::*;
    let style = if hollow { color.stroke_width(2) } else { color.filled() };
    let mut vertices = match index % 5 {
        0 => return (EmptyElement::at(at) + Circle::new((0, 0), 5, style)).into_dyn(),
        1 => vec![(-4, -4), (4, -4), (4, 4), (-4, 4)],
        2 => vec![(0, -6), (5, 4), (-5, 4)],
        3 => vec![(0, -6), (6, 0), (0, 6), (-6, 0)],
        _ => vec![(0, 6), (5, -4), (-5, -4)],
    };
    if hollow {
        vertices.push(vertices[0]);
        (EmptyElement::at(at) + PathElement::new(vertices, style)).into_dyn()
    } else {
        (EmptyElement::at(at) + Polygon::new(vertices, style)).into_dyn()
    }
}

/// Columns of the coverage-against-accuracy grid.
const COVERAGE_COLUMNS: usize = 5;

/// A grid of scatter panels as SVG, one per trace and one per workload
/// without memory pressure ([`unpressured`]: workloads without a budget,
/// traces under their largest, as they always run under one), the traces
/// first and each kind in the order `rows` list it, titled with the name
/// (and the kind where a trace and a workload share it): a marker per
/// policy at its coverage (x) and accuracy (y), each clamped to 0..1, and
/// one legend above the panels. A policy has the colour it has in the other
/// charts (its place in [`policies`] of those rows) and a marker shape of
/// its own; a hollow marker is a run that committed nothing ahead, whose
/// accuracy counts as 1 (as in the tables). `demand` is left out: it is
/// the baseline, at coverage 0 by definition and accuracy 1 by that
/// convention in every panel. Without such rows the SVG says so.
pub fn plot_coverage_accuracy(rows: &[Row]) -> Result<String> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let error = |error: DrawingAreaErrorKind<_>| anyhow::anyhow!("{error:?}");
    let calm = unpressured(rows);
    let shown: Vec<(usize, &str)> = policies(&calm).into_iter().enumerate().filter(|&(_, policy)| policy != "demand").collect();
    let mut panels: Vec<(&str, &str)> = Vec::new();
    for (kind, _) in KINDS {
        for row in calm.iter().filter(|row| row.kind == kind) {
            if !panels.contains(&(kind, row.name.as_str())) {
                panels.push((kind, row.name.as_str()));
            }
        }
    }
    let title = |kind: &str, name: &str| {
        if panels.iter().any(|&(other, same)| same == name && other != kind) { format!("{name} ({kind})") } else { name.to_owned() }
    };
    // Coverage, accuracy and whether it committed nothing ahead.
    let point = |kind: &str, name: &str, policy: &str| {
        let row = calm.iter().find(|row| row.kind == kind && row.name == name && row.policy == policy)?;
        Some(((coverage(row, &calm).clamp(0.0, 1.0), accuracy(row).clamp(0.0, 1.0)), row.ahead == 0))
    };
    let any_hollow =
        panels.iter().any(|&(kind, name)| shown.iter().any(|&(_, policy)| point(kind, name, policy).is_some_and(|(_, hollow)| hollow)));
    let columns = COVERAGE_COLUMNS.min(panels.len()).max(1);
    let lines = panels.len().div_ceil(columns).max(1);
    let (width, header, panel_height) = ((240 * columns as u32).max(720), 76u32, 230u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, header + panel_height * lines as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(error)?;
        let (top, grid) = root.split_vertically(header);
        let style = |size: u32, horizontal: HPos| TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(horizontal, VPos::Center));
        let caption = "Coverage against accuracy per policy (traces under their largest budget, workloads without one)";
        top.draw(&Text::new(caption, (width as i32 / 2, 18), style(18, HPos::Center))).map_err(error)?;
        // The legend: marker and name per policy, centred by an estimate of
        // the names' widths (about 8 pixels a character).
        let mut items: Vec<(Option<usize>, String)> = shown.iter().map(|&(index, policy)| (Some(index), policy.to_owned())).collect();
        if any_hollow {
            items.push((None, "hollow: nothing committed ahead (accuracy counted as 1)".to_owned()));
        }
        let item_width = |name: &str| 40 + 8 * name.chars().count() as i32;
        let mut x = (width as i32 - items.iter().map(|(_, name)| item_width(name)).sum::<i32>()).max(0) / 2;
        for (index, name) in &items {
            let marker = match *index {
                Some(index) => policy_marker((x + 8, 52), index, Palette99::pick(index).to_rgba(), false),
                None => policy_marker((x + 8, 52), 0, BLACK.to_rgba(), true),
            };
            top.draw(&marker).map_err(error)?;
            top.draw(&Text::new(name.as_str(), (x + 20, 52), style(14, HPos::Left))).map_err(error)?;
            x += item_width(name);
        }
        if panels.is_empty() {
            let (grid_width, grid_height) = grid.dim_in_pixel();
            let middle = (grid_width as i32 / 2, grid_height as i32 / 2);
            grid.draw(&Text::new("no runs without memory pressure to plot", middle, style(16, HPos::Center))).map_err(error)?;
        }
        for (area, &(kind, name)) in grid.split_evenly((lines, columns)).iter().zip(&panels) {
            let mut chart = ChartBuilder::on(area)
                .caption(title(kind, name), ("sans-serif", 14))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(44)
                .build_cartesian_2d(-0.05f64..1.05, -0.05f64..1.05)
                .map_err(error)?;
            chart
                .configure_mesh()
                .x_labels(3)
                .y_labels(3)
                .x_label_formatter(&|x| format!("{x:.1}"))
                .y_label_formatter(&|y| format!("{y:.1}"))
                .label_style(("sans-serif", 11))
                .axis_desc_style(("sans-serif", 12))
                .x_desc("coverage")
                .y_desc("accuracy")
                .draw()
                .map_err(error)?;
            for &(index, policy) in &shown {
                if let Some((at, hollow)) = point(kind, name, policy) {
                    chart.plotting_area().draw(&policy_marker(at, index, Palette99::pick(index).to_rgba(), hollow)).map_err(error)?;
                }
            }
        }
        root.present().map_err(error)?;
    }
    Ok(svg)
}

/// Measures and writes `results.csv`, `results.md`, `summary.md`,
/// `faults.svg`, `footprint.svg` (workloads without a budget, traces under
/// their largest budget), `coverage.svg` (coverage against accuracy per
/// policy, a panel per trace and workload, the same runs) and
/// `budgets.svg` (major faults against the budget, traces and workloads)
/// `layout.csv` (first and second runs under `pae`: the layout
/// proposals' effect, also a section of both Markdown files) and
/// `timing.csv` (the [`TIMED_COLUMNS`] of the runs under a budget) into `out`;
/// returns the CSV and the Markdown.
pub fn run(options: &Options, out: &Path) -> Result<(String, String)> {
    let Measured { rows, hz, layouts } = measure(options)?;
    if rows.is_empty() {
        bail!("the benchmark reported no rows");
    }
    let (csv, md) = report(&rows, hz);
    std::fs::create_dir_all(out)?;
    let (layout_csv, layout_md) = layout_report(&layouts);
    let md = md + &layout_md;
    std::fs::write(out.join("results.csv"), &csv)?;
    std::fs::write(out.join("layout.csv"), &layout_csv)?;
    std::fs::write(out.join("timing.csv"), timing_report(&rows, hz))?;
    std::fs::write(out.join("results.md"), &md)?;
    std::fs::write(out.join("summary.md"), summary(&rows, hz) + &layout_md)?;
    let calm = unpressured(&rows);
    std::fs::write(out.join("faults.svg"), plot(&calm, "Demand faults, relative to demand paging", |row| row.faults)?)?;
    std::fs::write(out.join("footprint.svg"), plot(&calm, "Footprint (pages × ticks), relative to demand paging", |row| row.footprint)?)?;
    std::fs::write(out.join("coverage.svg"), plot_coverage_accuracy(&rows)?)?;
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

    /// The same workload under a budget of 6 pages (50%).
    const BUDGETED: &str = "bench-tsc-hz 1000000000\n\
        [ 2.0] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=demand pid=6 faults_demand=10 peak_committed=6 run_cycles=4000 fault_cycles=900 budget=6 faults_major=20 swap_outs=14 swap_ins=20 evictions=16 swap_io_cycles=700\n\
        [ 2.1] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=leap pid=7 faults_demand=2 ahead_commits=8 hits=8 peak_committed=6 run_cycles=3000 fault_cycles=800 budget=6 faults_major=23 swap_outs=15 swap_ins=23 evictions=17 swap_io_cycles=750\n";

    #[test]
    fn workload_rows_come_from_memstat_lines_of_workloads_only() {
        let rows = workload_rows(SERIAL, None, 64, &BTreeMap::new());
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].name.as_str(), rows[1].policy.as_str(), rows[1].faults, rows[1].hits), ("seq", "leap", 2, 8));
        assert_eq!(workload_distinct(&rows), BTreeMap::from([("seq".to_owned(), 12)]), "demand paging's peak");
        assert_eq!(tsc_hz(SERIAL).unwrap(), 1_000_000_000);
        let (csv, md) = report(&rows, 1_000_000_000);
        assert!(csv.lines().nth(2).unwrap().starts_with("seq,workload,64,leap,2,8,8,0,0.8000,1.0000,12,5,1500,40"), "{csv}");
        assert!(md.contains("| leap | 1 | 0.800 | 1.000 |"), "{md}");
    }

    #[test]
    fn budgeted_workload_rows_carry_their_budget_and_swap_counters() {
        let distinct = BTreeMap::from([("seq".to_owned(), 12)]);
        let rows = workload_rows(BUDGETED, Some(Budget::Percent(50)), 64, &distinct);
        assert_eq!(rows.len(), 2);
        let row = &rows[1];
        assert_eq!((row.budget, row.budget_pages, row.distinct), (Some(Budget::Percent(50)), 6, 12));
        assert_eq!((row.major, row.swap_outs, row.swap_ins, row.evicted, row.swap_io_cycles), (23, 15, 23, 17, 750));
        assert_eq!((row.run_major(), row.trace_major), (23, 0), "a workload's major faults are its process's");
        let mut all = workload_rows(SERIAL, None, 64, &distinct);
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
        let serial = "bench-tsc-hz 1000000000\n\
            [ 1.0] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=pae pid=3 faults_demand=10 ahead_commits=4 hits=4 peak_committed=12 layout_commits=0\n\
            [ 1.1] cpu0 INFO  process::lifecycle: memstat name=wl-sort policy=pae pid=4 faults_demand=20 ahead_commits=0 hits=0 peak_committed=30 layout_commits=0\n\
            [ 1.2] cpu0 INFO  process::lifecycle: memstat name=wl-seq policy=pae pid=5 faults_demand=2 ahead_commits=12 hits=12 peak_committed=12 layout_commits=9\n\
            [ 1.3] cpu0 INFO  process::lifecycle: memstat name=wl-sort policy=pae pid=6 faults_demand=25 ahead_commits=1 hits=0 peak_committed=31 layout_commits=1\n";
        let pairs = layout_pairs(workload_rows(serial, None, 64, &BTreeMap::new())).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!((pairs[0].first.faults, pairs[0].second.faults, pairs[0].second.layout_commits), (10, 2, 9));
        assert_eq!((pairs[1].first.name.as_str(), pairs[1].first.faults, pairs[1].second.faults), ("sort", 20, 25));
        let (csv, md) = layout_report(&pairs);
        assert_eq!(csv.lines().nth(1), Some("seq,workload,,10,2,9,4,12,4,12,12,12"), "{csv}");
        assert!(md.contains("| seq | workload | 10 | 2 | 9 | 4 | 12 | 12 | 12 |"), "{md}");
        assert!(md.contains("workloads: 30 demand faults on run 1, 27 on run 2 (90.0 %); run 2 faulted less on 1 of 2; peak pages 42 → 43."), "{md}");
        let once = workload_rows(&serial.lines().take(3).collect::<Vec<_>>().join("\n"), None, 64, &BTreeMap::new());
        assert!(layout_pairs(once).is_err(), "a program that ran once is an error");
        let demand = workload_rows(SERIAL, None, 64, &BTreeMap::new());
        assert!(layout_pairs(demand).is_err(), "runs under another policy are an error");
    }

    #[test]
    fn plots_are_svg_with_a_bar_per_policy() {
        let rows = workload_rows(SERIAL, None, 64, &BTreeMap::new());
        let svg = plot(&rows, "faults", |row| row.faults).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("leap") && svg.contains("demand"), "{svg}");
        assert_eq!(svg, plot(&rows, "faults", |row| row.faults).unwrap(), "the same rows draw the same file");
    }

    #[test]
    fn trace_rows_pair_each_replay_with_its_process() {
        let serial = "replay replay/a.vrpl policy=leap accesses=9 faults=3 ahead=4 hits=3 waste=1 budget=8 own=20 major=5 trace_major=4 swap_outs=6 swap_ins=5 evicted=7 cycles=70 fault_cycles=7 swap_io_cycles=5 pae_steps=0 pae_cycles=0 pae_model_cycles=0\n\
            [ 2.0] cpu0 INFO  process::lifecycle: memstat name=replay policy=leap pid=5 peak_committed=7 footprint=9 run_cycles=700 fault_cycles=70\n\
            [ 2.1] cpu0 INFO  process::lifecycle: memstat name=replay policy=demand pid=1 run_cycles=99\n";
        let rows = trace_rows(serial, "a", Some(Budget::Percent(50)), 16).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].faults, rows[0].ahead, rows[0].waste, rows[0].run_cycles, rows[0].peak), (3, 4, 1, 70, 7));
        assert_eq!((rows[0].budget, rows[0].budget_pages, rows[0].distinct), (Some(Budget::Percent(50)), 8, 16));
        assert_eq!((rows[0].major, rows[0].trace_major, rows[0].swap_outs, rows[0].swap_ins, rows[0].evicted), (5, 4, 6, 5, 7));
        assert_eq!((rows[0].fault_cycles, rows[0].swap_io_cycles, rows[0].run_major()), (7, 5, 4), "the replay's, not the process's");
        assert!(trace_rows("replay replay/a.vrpl policy=leap faults=x\n", "a", None, 1).is_err());
        assert!(trace_rows("replay replay/a.vrpl policy=leap accesses=9 faults=3 ahead=4 hits=3 waste=1\n", "a", None, 1).is_err(), "no budget");
    }

    /// A trace row under `budget` percent under `policy`.
    fn traced(name: &str, budget: u64, policy: &str, major: u64, simulated: u64, belady: u64) -> Row {
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
        assert!(csv.lines().next().unwrap().ends_with(",budget,budget_pages,distinct_pages,major_faults,trace_major_faults,swap_outs,swap_ins,bytes_written,bytes_read,evictions,swap_io_instructions,sim_faults,sim_major_faults,belady_major_faults,model,pae_steps,pae_instructions,pae_model_instructions"));
        assert!(csv.lines().nth(4).unwrap().ends_with(",50%,5,10,25,23,24,23,98304,94208,0,,10,22,10,,,,"), "{csv}");
        // leap: (23/20 + 10/10) / 2; Belady: (10/20 + 4/10) / 2.
        assert!(md.contains("| leap | – | 1.075 (2) |"), "{md}");
        assert!(md.contains("| Belady (simulator) | – | 0.450 (2) |"), "{md}");
        assert!(md.contains("| leap | 0.000 | 1.650 |"), "per distinct page: {md}");
        assert!(md.contains("| a | trace | 50% | leap | 23 | 20 | 1.150 |"), "flagged: {md}");
        assert!(md.contains("| 50% | the others | 4 | 4 | 0 | 3 | +1 (+4.5%, a/leap) | 63 | 71 | 62 |"), "{md}");
        assert!(!md.contains("*workloads"), "no workload section without workloads: {md}");
        assert_eq!(csv.lines().count(), 7);
        let (csv, _) = report(&workload_rows(SERIAL, None, 64, &BTreeMap::new()), 1_000_000_000);
        assert!(csv.lines().nth(1).unwrap().ends_with(",2000,100,,,,,,,,,,,,,,,,,,"), "workloads without a budget leave the pressure columns empty: {csv}");
    }

    #[test]
    fn flags_and_agreement_compare_like_with_like() {
        let mut rows = pressured();
        assert_eq!(flags(&rows).len(), 1);
        rows[1].trace_major = 1;
        let flagged = flags(&rows);
        assert_eq!((flagged[0].budget, flagged[0].demand_major), (Budget::Percent(100), 0), "any major fault over none is flagged");
        let agreement = agreement(&rows);
        assert_eq!(agreement.iter().map(|a| a.budget).collect::<Vec<_>>(), vec![Budget::Percent(100), Budget::Percent(50)]);
        assert_eq!((agreement[0].rows, agreement[0].major_equal), (2, 1));
        assert_eq!(agreement[1].major_worst, Some((1, "a/leap".to_owned(), 22)));
        assert!(pressure_report(&workload_rows(SERIAL, None, 64, &BTreeMap::new())).is_empty());
    }

    #[test]
    fn the_calmest_rows_are_workloads_without_a_budget_and_traces_under_their_largest() {
        let mut rows = pressured();
        rows.extend(workload_rows(SERIAL, None, 64, &BTreeMap::new()));
        rows.extend(workload_rows(BUDGETED, Some(Budget::Percent(50)), 64, &BTreeMap::new()));
        let calm = unpressured(&rows);
        let picked: Vec<(&str, Option<Budget>)> = calm.iter().map(|row| (row.name.as_str(), row.budget)).collect();
        let (full, half) = (Some(Budget::Percent(100)), Some(Budget::Percent(50)));
        assert_eq!(picked, vec![("a", full), ("a", full), ("b", half), ("b", half), ("seq", None), ("seq", None)]);
        // Budgets in pages are placed by the share of the distinct pages they give.
        rows.iter_mut().filter(|row| row.budget == half).for_each(|row| row.budget = Some(Budget::Pages(5)));
        assert_eq!(budget_axis(&rows, "trace", Budget::Pages(5)), Some(50.0));
    }

    #[test]
    fn the_budget_chart_has_a_line_per_policy_and_beladys() {
        let svg = plot_budgets(&pressured()).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("leap") && svg.contains("Belady") && svg.contains("traces"), "{svg}");
        assert_eq!(svg, plot_budgets(&pressured()).unwrap());
    }

    /// The traces `a` and `b` under pressure and not, a trace `seq` under
    /// 100 % whose leap committed ahead, and the workload `seq` without a
    /// budget.
    fn covered() -> Vec<Row> {
        let mut rows = pressured();
        let mut seq = [traced("seq", 100, "demand", 0, 0, 0), traced("seq", 100, "leap", 0, 0, 0)];
        (seq[1].faults, seq[1].ahead, seq[1].hits) = (4, 8, 6);
        rows.extend(seq);
        rows.extend(workload_rows(SERIAL, None, 64, &BTreeMap::new()));
        rows
    }

    #[test]
    fn the_coverage_chart_has_a_panel_per_run_and_a_marker_per_policy_but_demand() {
        use plotters::prelude::{Color, Palette, Palette99};
        let rows = covered();
        let svg = plot_coverage_accuracy(&rows).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        let at = |text: &str| svg.find(&format!("\n{text}\n")).unwrap_or_else(|| panic!("no `{text}` in {svg}"));
        // Traces first, each kind in the order of the rows; the kind where a trace and a workload share a name.
        assert!(at("a") < at("b") && at("b") < at("seq (trace)") && at("seq (trace)") < at("seq (workload)"), "{svg}");
        at("leap");
        assert!(!svg.contains("demand"), "demand is the baseline, left out: {svg}");
        assert!(svg.contains("hollow: nothing committed ahead"), "a's and b's leap committed nothing ahead: {svg}");
        let fill = |index: usize| {
            let (red, green, blue) = Palette99::pick(index).rgb();
            format!("fill=\"#{red:02X}{green:02X}{blue:02X}\"")
        };
        assert!(svg.contains(&fill(1)) && !svg.contains(&fill(0)), "leap keeps its colour after demand: {svg}");
        assert_eq!(svg, plot_coverage_accuracy(&rows).unwrap(), "the same rows draw the same file");
    }

    #[test]
    fn the_coverage_chart_takes_budgeted_runs_only_and_no_runs() {
        let svg = plot_coverage_accuracy(&pressured()).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("\na\n") && svg.contains("\nb\n"), "traces under their largest budget: {svg}");
        let workloads = workload_rows(BUDGETED, Some(Budget::Percent(50)), 64, &BTreeMap::new());
        let svg = plot_coverage_accuracy(&workloads).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("\nseq\n") && svg.contains("leap"), "{svg}");
        let svg = plot_coverage_accuracy(&[]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("no runs"), "{svg}");
    }
}
