//! `cargo xtask train`: trains the Predictive Allocation Engine's GRU on
//! lackey traces (and kernel histories), quantizes it, exports the ONNX
//! file `pae-model` documents and checks it with tract-onnx and the engine
//! (`pae_train::pipeline`). `--check` retrains and fails unless the result
//! is byte-identical to the checked-in file.

use anyhow::{Context, Result, bail};
use clap::Args;
use pae_train::network::Config;
use pae_train::pipeline::{self, Options};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Largest model file the kernel's ramdisk budget allows.
const MAX_MODEL_BYTES: usize = 64 << 10;

#[derive(Args)]
pub struct TrainArgs {
    /// Directory of `.lackey` / `.lackey.gz` traces (default: `../shared/traces` beside the workspace).
    #[arg(long)]
    traces: Option<PathBuf>,
    /// Directory of history CSV files written by `cargo xtask trace` (each `.csv` in it).
    #[arg(long)]
    histories: Option<PathBuf>,
    /// The ONNX file to write (default: `pae-model/models/default.onnx`); its
    /// description goes next to it with the extension `.txt`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of the initial weights and the data order.
    #[arg(long, default_value_t = Config::default().seed)]
    seed: u64,
    /// Hidden size of the GRU.
    #[arg(long, default_value_t = Config::default().hidden)]
    hidden: usize,
    /// Passes over the training data.
    #[arg(long, default_value_t = Config::default().epochs)]
    epochs: usize,
    /// Closed-loop rounds: retrain on the faults each model leaves as the policy (0: first touches only).
    #[arg(long, default_value_t = pipeline::DEFAULT_ROUNDS)]
    rounds: usize,
    /// Retrain and compare with the existing file instead of writing it.
    #[arg(long)]
    check: bool,
}

impl TrainArgs {
    /// The command that makes this model, for its description.
    fn command(&self) -> String {
        let mut command = String::from("cargo xtask train");
        if let Some(traces) = &self.traces {
            command += &format!(" --traces {}", traces.display());
        }
        if let Some(histories) = &self.histories {
            command += &format!(" --histories {}", histories.display());
        }
        if let Some(out) = &self.out {
            command += &format!(" --out {}", out.display());
        }
        let defaults = Config::default();
        if self.seed != defaults.seed || self.hidden != defaults.hidden || self.epochs != defaults.epochs {
            command += &format!(" --seed {} --hidden {} --epochs {}", self.seed, self.hidden, self.epochs);
        }
        if self.rounds != pipeline::DEFAULT_ROUNDS {
            command += &format!(" --rounds {}", self.rounds);
        }
        command
    }
}

pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let root = boot::workspace_root();
    let trace_directory = args.traces.clone().unwrap_or_else(|| root.join("../shared/traces"));
    let traces = trace::file::trace_files(&trace_directory).map_err(anyhow::Error::msg)?;
    let histories = match &args.histories {
        Some(directory) => pae_train::history::history_files(directory)?,
        None => Vec::new(),
    };
    let out = args.out.clone().unwrap_or_else(|| root.join(boot::image::DEFAULT_MODEL));
    if args.hidden == 0 || args.epochs == 0 {
        bail!("--hidden and --epochs must be positive");
    }
    let config = Config { seed: args.seed, hidden: args.hidden, epochs: args.epochs, ..Config::default() };
    let options = Options { rounds: args.rounds, ..Options::new(traces, histories, config) };

    let started = Instant::now();
    let outcome = pipeline::run(&options, &mut |line| println!("train: {line}"))?;
    let hash = pipeline::sha256_hex(&outcome.bytes);
    let report = &outcome.report;
    print!("{}", report.metrics());
    print!("{}", report.validation());
    println!(
        "train: {} bytes, sha256 {hash}; {:.0} s (data {:.0} s, training {:.0} s, validation {:.0} s)",
        outcome.bytes.len(),
        started.elapsed().as_secs_f64(),
        report.seconds[0],
        report.seconds[1],
        report.seconds[2]
    );
    if outcome.bytes.len() > MAX_MODEL_BYTES {
        bail!("the model is {} bytes, over the {MAX_MODEL_BYTES}-byte budget", outcome.bytes.len());
    }

    if args.check {
        let existing = std::fs::read(&out).with_context(|| format!("reading {}", out.display()))?;
        let expected = pipeline::sha256_hex(&existing);
        if existing != outcome.bytes {
            eprintln!("train: {} has sha256 {expected}; retraining gave {hash}", out.display());
            bail!("the checked-in model is not reproduced by `{}`", args.command());
        }
        println!("train: check passed: {} is reproduced bit for bit (sha256 {hash})", out.display());
        return Ok(ExitCode::SUCCESS);
    }

    write(&out, &outcome.bytes)?;
    let description = out.with_extension("txt");
    write(&description, report.describe(&args.command(), &hash).as_bytes())?;
    println!("train: wrote {} and {}", out.display(), description.display());
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
