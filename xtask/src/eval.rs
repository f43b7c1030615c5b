//! `cargo xtask eval`: leave-programs-out evaluation of the learned policy.
//!
//! The traces are dealt into folds by name. For each fold a model is
//! trained (`pae_train::pipeline`, the same pipeline as `cargo xtask
//! train`) on every *other* program's fault stream, then each program of
//! the fold is replayed in the host simulator (`kernel::pager::simulator`, the
//! kernel's own engine and policies) under `demand`, `readahead`, `leap`,
//! the model (`pae`, the integer path the kernel runs) and `oracle`. So the
//! model is always judged on programs it never saw.
//!
//! Per trace and policy: faults, pages committed ahead, hits, coverage
//! (faults avoided relative to demand paging), accuracy (hits / committed
//! ahead) and F1 (their harmonic mean); a Markdown table with a summary of
//! means per policy is printed and written to `target/eval/results.md`.
//!
//! `--save-models DIR` keeps each fold's model with `folds.txt` (the traces
//! each never saw), as in `pae-model/models/folds/`, which the bench and
//! `cargo xtask sim` replay each trace under.

use anyhow::{Context, Result, bail};
use clap::Args;
use kernel::policy::Policy;
use kernel::vass::SpaceCounters;
use pae_model::integer::IntegerModel;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// The policies compared, the model's among them.
const POLICIES: [&str; 5] = ["demand", "readahead", "leap", "pae", "oracle"];

#[derive(Args)]
pub struct EvalArgs {
    /// Lackey traces (`.lackey` / `.lackey.gz`), dealt into folds by name.
    #[arg(long, default_value = "../shared/traces")]
    traces: PathBuf,
    /// Folds: each trains on the programs of every other fold.
    #[arg(long, default_value_t = 4)]
    folds: usize,
    /// Training epochs per fold (fewer than the default model's, to keep
    /// the whole evaluation short).
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// Hidden size.
    #[arg(long)]
    hidden: Option<usize>,
    /// Seed of the weights and shuffles.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Closed-loop rounds per fold (see `cargo xtask train --rounds`).
    #[arg(long, default_value_t = pae_train::pipeline::DEFAULT_ROUNDS)]
    rounds: usize,
    /// Where to write the table.
    #[arg(long, default_value = "target/eval/results.md")]
    out: PathBuf,
    /// Also write each fold's model to DIR (`fold-N.onnx`) with
    /// `folds.txt`, which lists the traces each one was not trained on:
    /// `cargo xtask bench` replays every listed trace under the model that
    /// never saw it (the repository's `pae-model/models/folds`).
    #[arg(long, value_name = "DIR")]
    save_models: Option<PathBuf>,
}

use ::bench::FOLDS_MANIFEST;

/// One trace under one policy.
struct Row {
    trace: String,
    fold: usize,
    policy: &'static str,
    counters: SpaceCounters,
    demand_faults: u64,
}

impl Row {
    fn coverage(&self) -> f64 {
        if self.demand_faults == 0 { 0.0 } else { 1.0 - self.counters.faults_demand as f64 / self.demand_faults as f64 }
    }

    fn accuracy(&self) -> f64 {
        if self.counters.ahead_commits == 0 { 1.0 } else { self.counters.hits as f64 / self.counters.ahead_commits as f64 }
    }

    /// Harmonic mean of coverage and accuracy (0 when nothing was covered).
    fn f1(&self) -> f64 {
        let (coverage, accuracy) = (self.coverage(), self.accuracy());
        if coverage + accuracy <= 0.0 { 0.0 } else { 2.0 * coverage * accuracy / (coverage + accuracy) }
    }
}

/// A trace, read once: its fault stream for training and its replay for
/// the simulator.
struct Program {
    name: String,
    stream: pae_train::data::Stream,
    replay: trace::Replay,
}

fn policy(name: &str, replay: &trace::Replay, model: &Arc<IntegerModel>) -> Result<Box<dyn Policy>> {
    abi::CommitPolicy::from_name(name)
        .and_then(|identity| kernel::pager::simulator::policy_for(identity, replay, Some(model)))
        .with_context(|| format!("no policy {name}"))
}

pub fn run(args: &EvalArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let paths = trace::file::trace_files(&args.traces).map_err(anyhow::Error::msg)?;
    if paths.len() < 2 {
        bail!("{}: leave-programs-out needs at least two traces", args.traces.display());
    }
    let folds = args.folds.clamp(2, paths.len());
    eprintln!("eval: reading {} traces", paths.len());
    let mut programs = trace::file::for_each_file(&paths, |path| -> Result<Program> {
        let name = trace::file::trace_name(path);
        let accesses = trace::file::read_lackey(path).map_err(anyhow::Error::msg)?;
        let stream = pae_train::data::fault_stream(&name, &accesses).map_err(|error| anyhow::anyhow!("{error}"))?;
        let replay = trace::Replay::from_accesses(&accesses).map_err(|error| anyhow::anyhow!("{name}: {error}"))?;
        Ok(Program { name, stream, replay })
    })
    .into_iter()
    .collect::<Result<Vec<Program>>>()?;
    programs.sort_by(|a, b| a.name.cmp(&b.name));

    let mut config = pae_train::network::Config { epochs: args.epochs, seed: args.seed, ..pae_train::network::Config::default() };
    if let Some(hidden) = args.hidden {
        config.hidden = hidden;
    }
    let mut rows = Vec::new();
    let mut manifest = String::new();
    if let Some(directory) = &args.save_models {
        std::fs::create_dir_all(directory).with_context(|| format!("creating {}", directory.display()))?;
        let _ = writeln!(
            manifest,
            "# cargo xtask eval --folds {folds} --epochs {} --seed {} --rounds {}{}: each model was not trained on the traces after its name",
            args.epochs,
            args.seed,
            args.rounds,
            args.hidden.map(|hidden| format!(" --hidden {hidden}")).unwrap_or_default()
        );
    }
    for fold in 0..folds {
        let held_out: Vec<&Program> = programs.iter().enumerate().filter(|(index, _)| index % folds == fold).map(|(_, p)| p).collect();
        let training: Vec<pae_train::data::Stream> =
            programs.iter().enumerate().filter(|(index, _)| index % folds != fold).map(|(_, p)| p.stream.clone()).collect();
        let names: Vec<&str> = held_out.iter().map(|program| program.name.as_str()).collect();
        eprintln!("eval: fold {}/{folds}: training without {} ({:.0} s so far)", fold + 1, names.join(", "), started.elapsed().as_secs_f64());
        let options = pae_train::pipeline::Options { rounds: args.rounds, ..pae_train::pipeline::Options::new(Vec::new(), Vec::new(), config.clone()) };
        let mut log = |line: &str| eprintln!("  {line}");
        let outcome = pae_train::pipeline::run_streams(training, &options, Instant::now(), &mut log)
            .map_err(|error| anyhow::anyhow!("training fold {}: {error}", fold + 1))?;
        let model = Arc::new(IntegerModel::load(&outcome.bytes).map_err(|error| anyhow::anyhow!("the fold's model: {error}"))?);
        if let Some(directory) = &args.save_models {
            let file = format!("fold-{}.onnx", fold + 1);
            std::fs::write(directory.join(&file), &outcome.bytes).with_context(|| format!("writing {file}"))?;
            let _ = writeln!(manifest, "{file}: {}", names.join(" "));
        }
        for program in held_out {
            let mut demand_faults = 0;
            for name in POLICIES {
                let (_, counters) = kernel::pager::simulator::replay(&program.replay, policy(name, &program.replay, &model)?)
                    .map_err(|error| anyhow::anyhow!("{}: {error:?}", program.name))?;
                if name == "demand" {
                    demand_faults = counters.faults_demand;
                }
                rows.push(Row { trace: program.name.clone(), fold: fold + 1, policy: name, counters, demand_faults });
            }
        }
    }
    if let Some(directory) = &args.save_models {
        std::fs::write(directory.join(FOLDS_MANIFEST), &manifest).with_context(|| format!("writing {FOLDS_MANIFEST}"))?;
    }
    let table = report(&rows, folds, args);
    print!("{table}");
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&args.out, &table).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("eval: done in {:.0} s; table in {}", started.elapsed().as_secs_f64(), args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// The Markdown table: one row per trace and policy, then means per policy.
fn report(rows: &[Row], folds: usize, args: &EvalArgs) -> String {
    let mut md = format!(
        "# Leave-programs-out evaluation\n\n{folds} folds over `{}`, {} epochs and {} closed-loop round(s) per fold, seed {}: each trace is replayed under a model trained without it.\n\n",
        args.traces.display(),
        args.epochs,
        args.rounds,
        args.seed
    );
    md.push_str("| trace | fold | policy | faults | ahead | hits | coverage | accuracy | F1 |\n|---|---:|---|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
            row.trace,
            row.fold,
            row.policy,
            row.counters.faults_demand,
            row.counters.ahead_commits,
            row.counters.hits,
            row.coverage(),
            row.accuracy(),
            row.f1()
        );
    }
    md.push_str("\n**Means per policy**\n\n| policy | traces | coverage | accuracy | F1 |\n|---|---:|---:|---:|---:|\n");
    for name in POLICIES {
        let mine: Vec<&Row> = rows.iter().filter(|row| row.policy == name).collect();
        let n = mine.len().max(1) as f64;
        let mean = |value: fn(&Row) -> f64| mine.iter().map(|row| value(row)).sum::<f64>() / n;
        let _ = writeln!(md, "| {name} | {} | {:.3} | {:.3} | {:.3} |", mine.len(), mean(Row::coverage), mean(Row::accuracy), mean(Row::f1));
    }
    md
}
