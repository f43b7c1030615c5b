//! The benchmark's runs: the QEMU boots (workloads without and under each
//! budget, each trace under each budget, every program twice under `pae`
//! for layout proposals), the host simulator's thread beside them, and the
//! models each run uses.

use crate::Options;
use crate::rows::{LayoutRuns, Row, Simulated, Simulations, attach, layout_pairs, trace_rows, tsc_hz, workload_distinct, workload_rows};
use anyhow::{Context, Result, bail};
use boot::image::RamdiskContents;
use boot::qemu::{self, Memstat, RunConfig, Verdict};
use boot::{Firmware, Profile};
use pae_model::integer::IntegerModel;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use trace::Budget;

/// Policies the workloads run under (the oracle needs a trace's future).
const WORKLOAD_POLICIES: [&str; 5] = ["demand", "eager", "readahead", "leap", "pae"];
/// Policies `bin/replay all` runs every trace under, in its order.
const TRACE_POLICIES: [&str; 6] = ["demand", "eager", "readahead", "leap", "oracle", "pae"];

/// Swap-disk pages beyond the most pages a boot's runs can have on swap at
/// once (a trace's region pages; a workload's distinct pages, as a process
/// gives its slots back when it ends): room for the pages of the programs
/// themselves, which may be evicted too.
const SWAP_MARGIN_PAGES: u64 = 2048;

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
        let default = ("default.onnx".to_owned(), read(&boot::workspace_root().join(boot::image::DEFAULT_MODEL))?);
        let mut by_trace = BTreeMap::new();
        if let Some(directory) = folds {
            let manifest = directory.join(crate::FOLDS_MANIFEST);
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

/// Replays `replay` in the host simulator under every trace policy and
/// Belady's eviction (demand paging) under every budget in `budgets`.
fn simulate(name: &str, replay: &trace::Replay, budgets: &[Budget], model: &Arc<IntegerModel>) -> Result<Simulations> {
    use kernel::pager::simulator::{Pressure, policy_for, replay_under};
    use kernel::vass::Eviction;
    let distinct = replay.distinct_pages();
    let mut simulations = Simulations::new();
    for &budget in budgets {
        let pages = Some(budget.pages(distinct, abi::MIN_MEMORY_BUDGET));
        let runs = TRACE_POLICIES
            .iter()
            .map(|&policy| (policy, policy, Eviction::ColdFirst))
            .chain([("belady", "demand", Eviction::Belady), ("oracle-belady", "oracle", Eviction::Belady)]);
        for (label, policy, eviction) in runs {
            let policy = abi::CommitPolicy::from_name(policy)
                .and_then(|identity| policy_for(identity, replay, Some(model)))
                .with_context(|| format!("no policy {policy}"))?;
            let (_, counters) = replay_under(replay, policy, Pressure { budget: pages, eviction })
                .map_err(|error| anyhow::anyhow!("simulating {name} under {label} at {budget}: {error:?}"))?;
            simulations
                .insert((budget.to_string(), label.to_owned()), Simulated { faults: counters.faults_demand, major: counters.faults_major });
        }
    }
    Ok(simulations)
}

/// `budget` as part of a file name (`50pct`, `4096p`).
fn file_label(budget: Budget) -> String {
    match budget {
        Budget::Percent(percent) => format!("{percent}pct"),
        Budget::Pages(pages) => format!("{pages}p"),
    }
}

/// What a boot left: its serial log and the memstats of its records.
struct Boot {
    serial: String,
    memstats: Vec<Memstat>,
}

/// Boots `cmdline` with `extra` files in the ramdisk under `-icount shift=0`,
/// with a fresh swap disk of `swap_pages` pages if asked for; every record
/// must be readable.
fn boot(
    name: &str,
    kernel: &Path,
    programs: &[boot::build::UserProgram],
    cmdline: &str,
    extra: Vec<(String, Vec<u8>)>,
    swap_pages: Option<u64>,
) -> Result<Boot> {
    let mut ramdisk = RamdiskContents::standard(cmdline, programs)?;
    for (path, data) in extra {
        ramdisk.add(&path, data);
    }
    let out_dir = boot::target_dir().join("images").join("bench-memory").join(name);
    let image = boot::image::create(kernel, &ramdisk, Firmware::Bios, &out_dir)?;
    let mut config = RunConfig::new(&image.path, Firmware::Bios);
    config.icount = true;
    config.timeout = Duration::from_secs(900);
    if let Some(pages) = swap_pages {
        let swap = out_dir.join("swap.img");
        boot::image::create_swap_image(&swap, pages)?;
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
    let memstats = outcome.records.complete_memstats().with_context(|| format!("{name}:\n{}", outcome.serial))?;
    Ok(Boot { serial: outcome.serial, memstats })
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
    programs: &[boot::build::UserProgram],
    settings: &str,
    elapsed: &dyn Fn() -> f64,
) -> Result<(Vec<Row>, u64)> {
    let policies = WORKLOAD_POLICIES.join(",");
    eprintln!("bench: workloads ({} KiB) under {}", options.kib, WORKLOAD_POLICIES.join(", "));
    let cmdline = format!("{settings} sample=64 init=bin/bench-memory init-args={},{policies}", options.kib);
    let model_file = || vec![(kernel::pae::MODEL_PATH.to_owned(), model.1.clone())];
    let run = boot("workloads", kernel, programs, &cmdline, model_file(), None)?;
    let hz = tsc_hz(&run.serial)?;
    let mut rows = workload_rows(&run.memstats, None, options.kib, &BTreeMap::new());
    let mut distinct = workload_distinct(&rows);
    if distinct.is_empty() || rows.len() != distinct.len() * WORKLOAD_POLICIES.len() {
        bail!("{} workload rows, {} under demand paging:\n{}", rows.len(), distinct.len(), run.serial);
    }
    for row in &mut rows {
        row.distinct = distinct.get(&row.name).copied().unwrap_or(0);
    }
    if options.budget_kib != options.kib {
        eprintln!("bench: workloads ({} KiB) under demand paging, for their distinct pages ({:.0} s so far)", options.budget_kib, elapsed());
        let cmdline = format!("{settings} sample=64 init=bin/bench-memory init-args={},demand", options.budget_kib);
        let run = boot("workloads-distinct", kernel, programs, &cmdline, Vec::new(), None)?;
        distinct = workload_distinct(&workload_rows(&run.memstats, None, options.budget_kib, &BTreeMap::new()));
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
        let run = boot(&format!("workloads-{}", file_label(budget)), kernel, programs, &cmdline, model_file(), Some(swap_pages))?;
        let found = workload_rows(&run.memstats, Some(budget), options.budget_kib, &distinct);
        if found.len() != runs {
            bail!("{} workload rows under {budget}, not {runs}:\n{}", found.len(), run.serial);
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
    let kernel = boot::build::kernel(Profile::Release)?;
    let programs = match &options.programs {
        Some(dir) => boot::build::user_programs_in(dir)?,
        None => boot::build::user_programs(Profile::Release)?,
    };
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
    let model_file = vec![(kernel::pae::MODEL_PATH.to_owned(), models.for_workloads().1.clone())];
    let run = boot("workloads-layout", &kernel, &programs, &cmdline, model_file, None)?;
    let mut layouts = layout_pairs(workload_rows(&run.memstats, None, options.kib, &workload_distinct(&rows)))?;
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
            let extra = vec![(file.clone(), encoded.clone()), (kernel::pae::MODEL_PATH.to_owned(), model.1.clone())];
            let run = boot(&format!("{name}-{}", file_label(budget)), &kernel, &programs, &cmdline, extra, Some(swap_pages))?;
            let found = trace_rows(&run.serial, &run.memstats, &name, Some(budget), distinct)?;
            if found.len() != TRACE_POLICIES.len() {
                bail!("{name} under {budget}: {} replay lines, not {}:\n{}", found.len(), TRACE_POLICIES.len(), run.serial);
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
        let extra = vec![(file.clone(), encoded.clone()), (kernel::pae::MODEL_PATH.to_owned(), model.1.clone())];
        let run = boot(&format!("{name}-layout"), &kernel, &programs, &cmdline, extra, Some(swap_pages))?;
        let mut pairs = layout_pairs(trace_rows(&run.serial, &run.memstats, &name, Some(largest), distinct)?)?;
        if pairs.len() != 1 {
            bail!("{name}: {} pairs of runs under pae, not one:\n{}", pairs.len(), run.serial);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_name_their_files_and_the_largest_is_pages_then_the_highest_share() {
        assert_eq!((file_label(Budget::Percent(50)), file_label(Budget::Pages(4096))), ("50pct".to_owned(), "4096p".to_owned()));
        let largest = |budgets: &[Budget]| budgets.iter().copied().max_by_key(|budget| budget_order(*budget));
        assert_eq!(largest(&[Budget::Percent(50), Budget::Percent(100), Budget::Percent(25)]), Some(Budget::Percent(100)));
        assert_eq!(largest(&[Budget::Pages(16), Budget::Percent(100), Budget::Pages(4096)]), Some(Budget::Pages(4096)));
    }

    #[test]
    fn fold_models_serve_the_traces_their_manifest_lists_and_the_default_the_rest() {
        let directory = std::env::temp_dir().join(format!("bench-folds-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(directory.join("fold-1.onnx"), b"one").unwrap();
        std::fs::write(directory.join("fold-2.onnx"), b"two").unwrap();
        std::fs::write(directory.join(crate::FOLDS_MANIFEST), "# model: traces it never saw\nfold-1.onnx: a b\n\n  fold-2.onnx :c\n").unwrap();
        let models = Models::from_paths(None, Some(&directory)).unwrap();
        let default = std::fs::read(boot::workspace_root().join(boot::image::DEFAULT_MODEL)).unwrap();
        let for_trace = |name: &str| models.for_trace(name).clone();
        assert_eq!(for_trace("b"), ("fold-1.onnx".to_owned(), b"one".to_vec()));
        assert_eq!(for_trace("c"), ("fold-2.onnx".to_owned(), b"two".to_vec()));
        assert_eq!(for_trace("d"), ("default.onnx".to_owned(), default.clone()), "a trace no fold left out");
        assert_eq!(models.for_workloads(), &("default.onnx".to_owned(), default));
        let chosen = Models::from_paths(Some(&directory.join("fold-2.onnx")), Some(&directory)).unwrap();
        assert_eq!((chosen.for_trace("a"), chosen.for_workloads()), (&("fold-2.onnx".to_owned(), b"two".to_vec()), &("fold-2.onnx".to_owned(), b"two".to_vec())), "one model for every run");
        std::fs::write(directory.join(crate::FOLDS_MANIFEST), "fold-1.onnx a b\n").unwrap();
        let error = Models::from_paths(None, Some(&directory)).unwrap_err().to_string();
        assert!(error.ends_with("`fold-1.onnx a b` is not `FILE: TRACE...`"), "{error}");
        std::fs::write(directory.join(crate::FOLDS_MANIFEST), "fold-3.onnx: a\n").unwrap();
        assert!(Models::from_paths(None, Some(&directory)).is_err(), "a missing model file");
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
