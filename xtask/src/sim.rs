//! `cargo xtask sim`: replays lackey traces through the kernel's own VASS
//! engine and commit policies on the host (`kernel::pager::simulator`), and
//! prints the counters the kernel would keep.
//!
//! Traces (`--trace FILE` or `--traces DIR`, `.lackey` or `.lackey.gz`) run
//! in parallel, and each line gives a trace and policy's faults, pages
//! committed ahead, hits, waste, coverage, accuracy and peak committed
//! pages; under `--mem-budget` (with `--eviction`, any `kernel::vass::Eviction`: the
//! kernel's policies, exact LRU and ARC, or Belady's optimum) also major
//! faults, evictions and swap-outs. `--accesses N` replays the first N
//! accesses of each trace, as the bench does.

use anyhow::{Context, Result, bail};
use clap::Args;
use kernel::vass::{Eviction, SpaceCounters};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use ::bench::Models;
use trace::{Access, Budget, Replay};

/// Every policy, the oracle last.
pub const POLICIES: [&str; 6] = ["demand", "eager", "readahead", "leap", "pae", "oracle"];

#[derive(Args)]
pub struct SimArgs {
    /// A lackey trace (`.lackey` or `.lackey.gz`); repeatable.
    #[arg(long)]
    trace: Vec<PathBuf>,
    /// Every `.lackey` / `.lackey.gz` file of a directory.
    #[arg(long)]
    traces: Option<PathBuf>,
    /// A policy (`demand`, `eager`, `readahead`, `leap`, `pae`, `oracle`) or `all`.
    #[arg(long, default_value = "all")]
    policy: String,
    /// Memory budget: PAGES, or PERCENT% of each trace's distinct pages;
    /// over it, pages are evicted to a (simulated) swap device.
    #[arg(long, value_parser = parse_budget)]
    mem_budget: Option<Budget>,
    /// How victims are chosen under a budget: `cold-first` (the kernel's
    /// default), `clock`, `clock-pro` (as the kernel runs them), `lru` and
    /// `arc` (exact, told every access), or `belady` (the optimum, knowing
    /// the future).
    #[arg(long, default_value = "cold-first", value_parser = parse_eviction)]
    eviction: Eviction,
    /// The model `pae` runs (default: each trace under the fold model of
    /// `--folds` that was not trained on it, else the default model).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Fold models and their manifest (`cargo xtask eval --save-models`).
    #[arg(long, value_name = "DIR", default_value = ::bench::DEFAULT_FOLDS)]
    folds: PathBuf,
    /// Replay only the first N accesses of each trace, as `cargo xtask
    /// bench memory --accesses N` does (0: all).
    #[arg(long, default_value_t = 0)]
    accesses: usize,
}

/// The policy `name` for trace `trace` (`pae` over its model from `models`).
fn policy_for(name: &str, trace: &str, replay: &Replay, models: &Models) -> Result<Box<dyn kernel::policy::Policy>> {
    let identity = abi::CommitPolicy::from_name(name).with_context(|| format!("unknown policy `{name}`"))?;
    let model = if identity == abi::CommitPolicy::Pae { Some(models.compile_for_trace(trace)?) } else { None };
    kernel::pager::simulator::policy_for(identity, replay, model.as_ref()).with_context(|| format!("no policy `{name}` for {trace}"))
}

/// Parses `PAGES` or `PERCENT%` (1..=100) of each trace's distinct pages.
/// An eviction policy by name (`kernel::vass::Eviction`).
pub fn parse_eviction(text: &str) -> Result<Eviction, String> {
    Eviction::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = Eviction::ALL.iter().map(|eviction| eviction.name()).collect();
        format!("unknown eviction `{text}` (one of {})", names.join(", "))
    })
}

pub fn parse_budget(text: &str) -> Result<Budget, String> {
    Budget::parse(text).ok_or_else(|| format!("`{text}` is not PAGES or PERCENT% (e.g. 4096 or 50%)"))
}

/// The counters of one trace under one policy.
pub struct Outcome {
    pub trace: String,
    pub policy: &'static str,
    pub accesses: u64,
    pub distinct: u64,
    pub counters: SpaceCounters,
}

impl Outcome {
    /// Faults avoided relative to demand paging (whose faults are the
    /// distinct pages), in 0..=1.
    pub fn coverage(&self) -> f64 {
        if self.distinct == 0 { 0.0 } else { 1.0 - self.counters.faults_demand as f64 / self.distinct as f64 }
    }

    /// Pages committed ahead that were used, in 0..=1 (1 when none were).
    pub fn accuracy(&self) -> f64 {
        if self.counters.ahead_commits == 0 { 1.0 } else { self.counters.hits as f64 / self.counters.ahead_commits as f64 }
    }
}

/// Reads a lackey trace (gzip or plain text) into its page accesses; a
/// malformed line is an error naming the file and line.
pub fn read_lackey(path: &Path) -> Result<Vec<Access>> {
    trace::file::read_lackey(path).map_err(anyhow::Error::msg)
}

/// The traces named on the command line, by name.
pub fn trace_files(files: &[PathBuf], directory: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut paths = files.to_vec();
    if let Some(directory) = directory {
        paths.extend(trace::file::trace_files(directory).map_err(anyhow::Error::msg)?);
    }
    if paths.is_empty() {
        bail!("name a trace with --trace FILE or a directory with --traces DIR");
    }
    Ok(paths)
}

/// Memory pressure for a simulation run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PressureSpec {
    /// The budget, if any.
    pub budget: Option<Budget>,
    /// How pages are evicted over the budget.
    pub eviction: Eviction,
    /// Only the first this many accesses of each trace (0: all).
    pub accesses: usize,
}

/// Replays `replay` under `policy_name` through the host simulator, with
/// regions placed as the in-kernel `replay` program places them, under
/// memory pressure `spec`.
pub fn simulate_under(name: &str, replay: &Replay, policy_name: &'static str, spec: PressureSpec, models: &Models) -> Result<Outcome> {
    let policy = policy_for(policy_name, name, replay, models)?;
    let distinct = replay.distinct_pages();
    let pressure = kernel::pager::simulator::Pressure { budget: spec.budget.map(|budget| budget.pages(distinct, abi::MIN_MEMORY_BUDGET)), eviction: spec.eviction };
    let (accesses, counters) = kernel::pager::simulator::replay_under(replay, policy, pressure)
        .map_err(|error| anyhow::anyhow!("{name}: cannot place a region: {error:?}"))?;
    Ok(Outcome { trace: name.to_owned(), policy: policy_name, accesses, distinct, counters })
}

/// Simulates every trace under every policy, the traces in parallel
/// (`trace::file::for_each_file`); results come back in trace order.
pub fn simulate_all(paths: &[PathBuf], policies: &[&'static str], spec: PressureSpec, models: &Models) -> Vec<Result<Vec<Outcome>>> {
    trace::file::for_each_file(paths, |path| simulate_file(path, policies, spec, models))
}

/// One trace file under each policy.
fn simulate_file(path: &Path, policies: &[&'static str], spec: PressureSpec, models: &Models) -> Result<Vec<Outcome>> {
    let name = trace::file::trace_name(path);
    let mut replay = Replay::from_accesses(&read_lackey(path)?).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    if spec.accesses > 0 {
        replay = replay.truncated(spec.accesses);
    }
    policies.iter().map(|&policy| simulate_under(&name, &replay, policy, spec, models)).collect()
}

pub fn run(args: &SimArgs) -> Result<ExitCode> {
    let policies: Vec<&'static str> = if args.policy == "all" {
        POLICIES.to_vec()
    } else {
        vec![*POLICIES.iter().find(|&&name| name == args.policy).with_context(|| format!("unknown policy `{}`", args.policy))?]
    };
    let spec = PressureSpec { budget: args.mem_budget, eviction: args.eviction, accesses: args.accesses };
    if let Some(budget) = spec.budget {
        println!("budget {budget:?} per trace, {} eviction; major = faults that read swap back", args.eviction);
    }
    println!(
        "{:<14} {:<10} {:>9} {:>7} {:>7} {:>7} {:>8} {:>8} {:>7} {:>8} {:>8} {:>6} {:>7} {:>7}",
        "trace", "policy", "accesses", "pages", "faults", "major", "ahead", "hits", "waste", "coverage", "accuracy", "peak", "evicted",
        "swapout"
    );
    let started = Instant::now();
    let paths = trace_files(&args.trace, args.traces.as_deref())?;
    let models = Models::from_paths(args.model.as_deref(), Some(&boot::workspace_root().join(&args.folds)))?;
    for outcomes in simulate_all(&paths, &policies, spec, &models) {
        for outcome in outcomes? {
            let c = &outcome.counters;
            println!(
                "{:<14} {:<10} {:>9} {:>7} {:>7} {:>7} {:>8} {:>8} {:>7} {:>8.3} {:>8.3} {:>6} {:>7} {:>7}",
                outcome.trace,
                outcome.policy,
                outcome.accesses,
                outcome.distinct,
                c.faults_demand,
                c.faults_major,
                c.ahead_commits,
                c.hits,
                c.waste,
                outcome.coverage(),
                outcome.accuracy(),
                c.peak_committed,
                c.evictions,
                c.swap_outs
            );
        }
    }
    eprintln!("xtask: simulated in {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;

    /// The default model for every trace.
    fn models() -> Models {
        Models::from_paths(None, None).unwrap()
    }

    use flate2::write::GzEncoder;
    use std::fs::File;
    use std::io::Write;

    /// A sequential scan of 64 pages with code fetches in between.
    fn scan() -> String {
        (0..64u64).map(|page| format!("I  00401000,4\n L {:x},8\n", 0x1000_0000 + page * 4096)).collect()
    }

    fn scratch(name: &str) -> PathBuf {
        let directory = boot::target_dir().join("sim-tests");
        std::fs::create_dir_all(&directory).unwrap();
        directory.join(name)
    }

    #[test]
    fn plain_and_gzip_traces_read_the_same_and_simulate() {
        let plain = scratch("scan.lackey");
        std::fs::write(&plain, scan()).unwrap();
        let gz = scratch("scan.lackey.gz");
        let mut encoder = GzEncoder::new(File::create(&gz).unwrap(), Compression::default());
        encoder.write_all(scan().as_bytes()).unwrap();
        encoder.finish().unwrap();
        let accesses = read_lackey(&plain).unwrap();
        assert_eq!(read_lackey(&gz).unwrap(), accesses);
        assert_eq!(accesses.len(), 65, "one fetch (the code page never changes) and 64 loads");
        assert_eq!(trace::file::trace_name(&gz), "scan");
        let replay = Replay::from_accesses(&accesses).unwrap();
        let outcomes: Vec<Outcome> =
            POLICIES.iter().map(|&policy| simulate_under("scan", &replay, policy, PressureSpec::default(), &models()).unwrap()).collect();
        let faults: Vec<u64> = outcomes.iter().map(|outcome| outcome.counters.faults_demand).collect();
        assert_eq!(faults[0], 65, "demand: 64 data pages and the code page");
        assert_eq!(faults[1], 0, "eager");
        assert!(faults[2] < 20 && faults[3] < 20 && faults[4] < 20 && faults[5] <= 3, "{faults:?}");
        assert_eq!(outcomes[5].counters.waste, 0, "the oracle");
        assert!((outcomes[5].accuracy() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn budgets_parse_as_pages_or_percent() {
        assert_eq!(parse_budget("4096"), Ok(Budget::Pages(4096)));
        assert_eq!(parse_budget("50%"), Ok(Budget::Percent(50)));
        assert!(parse_budget("0").is_err() && parse_budget("0%").is_err() && parse_budget("101%").is_err());
        assert!(parse_budget("lots").is_err() && parse_budget("-3").is_err());
        assert_eq!(Budget::Percent(25).pages(10, 1), 3, "rounded up");
        assert_eq!(Budget::Percent(1).pages(0, 1), 1, "at least one page");
        let replay = Replay::from_accesses(&read_lackey(&{
            let plain = scratch("loop.lackey");
            let lines: String = (0..3).flat_map(|_| (0..32u64).map(|page| format!(" S {:x},8\n", 0x2000_0000 + page * 4096))).collect();
            std::fs::write(&plain, lines).unwrap();
            plain
        })
        .unwrap())
        .unwrap();
        let spec = PressureSpec { budget: Some(Budget::Percent(50)), eviction: Eviction::ColdFirst, accesses: 0 };
        let outcome = simulate_under("loop", &replay, "demand", spec, &models()).unwrap();
        assert_eq!(outcome.counters.faults_demand, 32);
        assert_eq!(outcome.counters.faults_major, 64, "two more rounds of a loop twice the budget miss every page");
        assert!(outcome.counters.peak_committed <= 16);
    }

    #[test]
    fn malformed_traces_are_refused_with_file_and_line() {
        let bad = scratch("bad.lackey");
        std::fs::write(&bad, "I  00401000,4\n L nothex,8\n").unwrap();
        let error = format!("{:#}", read_lackey(&bad).unwrap_err());
        assert!(error.contains("bad.lackey") && error.contains("line 2"), "{error}");
        let empty = scratch("empty.lackey");
        std::fs::write(&empty, "").unwrap();
        assert!(format!("{:#}", read_lackey(&empty).unwrap_err()).contains("no access"));
        let not_gzip = scratch("broken.lackey.gz");
        std::fs::write(&not_gzip, "not gzip at all").unwrap();
        assert!(read_lackey(&not_gzip).is_err());
        assert!(read_lackey(&scratch("missing.lackey")).is_err());
        assert!(trace_files(&[], None).is_err());
    }
}
