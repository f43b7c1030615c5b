//! The whole of `cargo xtask train`: read the data, train, quantize,
//! choose the threshold, export, validate, and describe the result.

use crate::closed_loop::{self, PolicyScores};
use crate::data::{Prepared, Stream};
use crate::export::{self, Metadata};
use crate::network::{self, Config, EpochReport, FloatModel};
use crate::quantize::{self, CalibrationReport, QuantizedModel};
use crate::rng::Rng;
use crate::validate::{self, Comparison, Difference, EngineModel, Scores, Sequence, TractModel};
use crate::{Error, Result};
use pae_model::features::{CLASSES, FEATURES};
use pae_model::integer::IntegerModel;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// What to train on and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Lackey trace files (`.lackey[.gz]`).
    pub traces: Vec<PathBuf>,
    /// History CSV files (`cargo xtask trace`).
    pub histories: Vec<PathBuf>,
    /// Training settings.
    pub config: Config,
    /// Percent of each stream's end held out for evaluation.
    pub held_out_percent: usize,
    /// Sequences tract and the engine are compared on.
    pub comparison_sequences: usize,
    /// Steps per compared sequence.
    pub comparison_steps: usize,
    /// Closed-loop rounds after the first training (`closed_loop`): 0
    /// trains on the first-touch streams only.
    pub rounds: usize,
}

impl Options {
    /// Defaults for `config` and the given data.
    pub fn new(traces: Vec<PathBuf>, histories: Vec<PathBuf>, config: Config) -> Options {
        Options { traces, histories, config, held_out_percent: 20, comparison_sequences: 1000, comparison_steps: 64, rounds: DEFAULT_ROUNDS }
    }
}

/// Closed-loop rounds by default.
pub const DEFAULT_ROUNDS: usize = 1;

/// One closed-loop round's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundReport {
    /// The round (from 1).
    pub round: usize,
    /// Faults the previous round's model left, over every stream.
    pub faults: usize,
    /// First touches over every stream.
    pub first_touches: usize,
}

/// The shipped model as the commit policy (`closed_loop::replay`).
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyReport {
    /// Its threshold (`pae.threshold`), in thousandths.
    pub threshold: u32,
    /// Mean policy F1 over the training heads at that threshold.
    pub train_mean_f1: f64,
    /// Each stream's held-out tail.
    pub held_out: Vec<PolicyScores>,
    /// Means over streams of the tails' coverage, accuracy, F1.
    pub held_out_mean_coverage: f64,
    /// See `held_out_mean_coverage`.
    pub held_out_mean_accuracy: f64,
    /// See `held_out_mean_coverage`.
    pub held_out_mean_f1: f64,
}

impl PolicyReport {
    fn new(threshold: u32, train_mean_f1: f64, held_out: Vec<PolicyScores>) -> PolicyReport {
        let tails: Vec<&PolicyScores> = held_out.iter().filter(|scores| scores.first_touches > 0).collect();
        let mean = |score: &dyn Fn(&PolicyScores) -> f64| tails.iter().map(|scores| score(scores)).sum::<f64>() / tails.len().max(1) as f64;
        let (held_out_mean_coverage, held_out_mean_accuracy, held_out_mean_f1) =
            (mean(&PolicyScores::coverage), mean(&PolicyScores::accuracy), mean(&PolicyScores::f1));
        PolicyReport { threshold, train_mean_f1, held_out, held_out_mean_coverage, held_out_mean_accuracy, held_out_mean_f1 }
    }
}

/// Largest engine-versus-tract difference accepted.
pub const TOLERANCE: f64 = 1e-4;

/// One stream's size.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSize {
    /// Its name.
    pub name: String,
    /// Steps in all.
    pub steps: usize,
    /// Steps trained on (the head).
    pub train_steps: usize,
    /// The shipped model's decisions on its held-out tail.
    pub held_out: Scores,
}

/// Decision quality on the training heads and the held-out tails.
#[derive(Clone, Debug, PartialEq)]
pub struct Quality {
    /// Threshold chosen on the heads, in thousandths.
    pub threshold: u32,
    /// Scores on the heads at that threshold.
    pub train: Scores,
    /// Scores on the tails at that threshold.
    pub held_out: Scores,
    /// Scores on each stream's tail at that threshold.
    pub held_out_by_stream: Vec<Scores>,
    /// The mean over streams (with a tail holding a positive) of their
    /// tails' F1: every program counts the same, whatever its length.
    pub held_out_mean_f1: f64,
}

/// Everything a run found out.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The data.
    pub streams: Vec<StreamSize>,
    /// The training settings.
    pub config: Config,
    /// Percent held out.
    pub held_out_percent: usize,
    /// The closed-loop rounds.
    pub rounds: Vec<RoundReport>,
    /// The shipped model as the commit policy.
    pub policy: PolicyReport,
    /// Loss per epoch (of the last round).
    pub epochs: Vec<EpochReport>,
    /// Parameters of the model.
    pub parameters: usize,
    /// Inputs never 1 in the training data (their weights stay 0).
    pub unseen_inputs: Vec<usize>,
    /// What calibrating the quantization on the training data changed.
    pub calibration: CalibrationReport,
    /// The shipped (quantized) model, run by tract.
    pub quantized: Quality,
    /// The float model before quantization.
    pub float: Quality,
    /// Constant per-class frequencies, no model: the baseline.
    pub baseline: Quality,
    /// Candle's forward pass against the float graph in tract, on the
    /// trained weights (probabilities).
    pub candle_vs_tract: Difference,
    /// The engine's float path against tract on the shipped file.
    pub engine_vs_tract: Comparison,
    /// The engine's integer path against tract.
    pub integer_vs_tract: Difference,
    /// Size of the file in bytes.
    pub bytes: usize,
    /// Seconds reading data, training, and validating.
    pub seconds: [f64; 3],
}

/// The SHA-256 of `bytes`, in hexadecimal.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The file and its report.
pub struct Outcome {
    /// The ONNX file.
    pub bytes: Vec<u8>,
    /// What was found.
    pub report: Report,
}

/// What `pae.data` says: the sources, by name, and their size.
fn data_description(streams: &[Stream], options: &Options) -> String {
    let names: Vec<&str> = streams.iter().map(|stream| stream.name.as_str()).collect();
    let steps: usize = streams.iter().map(|stream| stream.events.len()).sum();
    format!(
        "demand-fault streams ({steps} steps; first {}% of each trained on): {}",
        100 - options.held_out_percent,
        names.join(" ")
    )
}

/// Probabilities of `model`'s float forward pass over every whole stream.
fn float_probabilities(model: &FloatModel, data: &[Prepared]) -> Vec<Vec<f32>> {
    data.iter()
        .map(|stream| {
            let (_, logits) = model.run(&stream.inputs(0..stream.steps()), &vec![0.0; model.hidden]);
            logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect()
        })
        .collect()
}

/// Chooses the threshold on the heads of `probabilities` (one [steps ×
/// CLASSES] vector per stream) and scores heads and tails with it.
pub fn quality(probabilities: &[Vec<f32>], data: &[Prepared]) -> Quality {
    let heads = probabilities.iter().zip(data).map(|(p, stream)| (&p[..stream.cut * CLASSES], &stream.train_labels[..]));
    let (threshold, train) = validate::best_threshold(heads);
    let cut = threshold as f32 / validate::THRESHOLD_STEPS as f32;
    let held_out_by_stream: Vec<Scores> = probabilities
        .iter()
        .zip(data)
        .map(|(p, stream)| {
            let mut scores = Scores::default();
            for (row, labels) in p[stream.cut * CLASSES..].as_chunks::<CLASSES>().0.iter().zip(&stream.test_labels) {
                scores.add(row, labels, cut);
            }
            scores
        })
        .collect();
    let mut held_out = Scores::default();
    for scores in &held_out_by_stream {
        held_out.true_positives += scores.true_positives;
        held_out.false_positives += scores.false_positives;
        held_out.false_negatives += scores.false_negatives;
    }
    let f1s: Vec<f64> =
        held_out_by_stream.iter().filter(|scores| scores.true_positives + scores.false_negatives > 0).map(Scores::f1).collect();
    let held_out_mean_f1 = f1s.iter().sum::<f64>() / f1s.len().max(1) as f64;
    Quality { threshold, train, held_out, held_out_by_stream, held_out_mean_f1 }
}

/// `count` sequences of `steps` steps spread evenly over the streams long
/// enough; every other one starts from a random state.
pub fn comparison_sequences(data: &[Prepared], count: usize, steps: usize, hidden: usize, seed: u64) -> Vec<Sequence> {
    let starts: Vec<(usize, usize)> = data
        .iter()
        .enumerate()
        .filter(|(_, stream)| stream.steps() >= steps)
        .flat_map(|(index, stream)| (0..=stream.steps() - steps).map(move |start| (index, start)))
        .collect();
    if starts.is_empty() {
        return Vec::new();
    }
    let mut rng = Rng::derived(seed, 3);
    (0..count)
        .map(|i| {
            let (stream, start) = starts[i * (starts.len() - 1) / count.saturating_sub(1).max(1)];
            let h0 = if i % 2 == 0 { vec![0.0; hidden] } else { (0..hidden).map(|_| rng.symmetric(1.0)).collect() };
            Sequence { inputs: data[stream].inputs(start..start + steps), h0 }
        })
        .collect()
}

/// Compares candle's forward pass on a batch of windows with the float
/// graph run by tract.
fn candle_against_tract(model: &FloatModel, data: &[Prepared], config: &Config) -> Result<Difference> {
    let chosen: Vec<_> = crate::data::windows(data, config.window, config.burn_in).into_iter().step_by(7).take(32).collect();
    let logits = network::candle_logits(model, data, &chosen)?;
    let tract = TractModel::load(&export::encode(&export::float_graph(model)), model.hidden)?;
    let mut difference = Difference::default();
    let size = chosen.len();
    for (column, window) in chosen.iter().enumerate() {
        let (probabilities, _) = tract.run(&data[window.stream].inputs(window.start..window.start + window.steps), &vec![0.0; model.hidden])?;
        let candle: Vec<f32> = (0..window.steps)
            .flat_map(|t| logits[(t * size + column) * CLASSES..(t * size + column + 1) * CLASSES].iter().map(|&x| 1.0 / (1.0 + (-x).exp())))
            .collect();
        difference.add(&candle, &probabilities)?;
        difference.sequences += 1;
    }
    Ok(difference)
}

/// Runs everything on the files `options` names; `log` hears progress lines.
pub fn run(options: &Options, log: &mut dyn FnMut(&str)) -> Result<Outcome> {
    let started = Instant::now();
    let mut streams = crate::data::read_traces(&options.traces)?;
    for path in &options.histories {
        streams.extend(crate::history::read_history(path)?);
    }
    run_streams(streams, options, started, log)
}

/// A round's model as the kernel would run it: calibrated, compiled for the
/// integer path, at the threshold it does best at as the commit policy on
/// the training heads.
fn round_model(float: &FloatModel, data: &[Prepared], streams: &[Stream], seed: u64) -> Result<IntegerModel> {
    let (quantized, _) = QuantizedModel::calibrated(float, data);
    let metadata = Metadata { threshold: validate::threshold_text(500), seed, data: String::new() };
    let mut model = IntegerModel::load(&export::encode(&export::qdq_graph(&quantized, &metadata)))
        .map_err(|error| Error::Export(format!("the integer path refuses a round's model: {error}")))?;
    let cuts: Vec<usize> = data.iter().map(|stream| stream.cut).collect();
    let (threshold, _) = closed_loop::policy_threshold(&model, streams, &cuts)?;
    model.set_threshold(Some(closed_loop::fixed_threshold(threshold)));
    Ok(model)
}

/// Runs everything on `streams` (timed from `started`).
pub fn run_streams(mut streams: Vec<Stream>, options: &Options, started: Instant, log: &mut dyn FnMut(&str)) -> Result<Outcome> {
    streams.retain(|stream| !stream.events.is_empty());
    if streams.is_empty() {
        return Err(Error::Data("no events in any trace or history".into()));
    }
    let data: Vec<Prepared> = streams.iter().map(|stream| Prepared::new(stream, options.held_out_percent)).collect();
    for stream in &data {
        log(&format!("data: {:<24} {:>6} steps ({} trained on)", stream.name, stream.steps(), stream.cut));
    }
    let reading = started.elapsed().as_secs_f64();

    let config = &options.config;
    log(&format!(
        "training: H={} window={} burn-in={} batch={} epochs={} lr={} weight-decay={} positive-weight={} seed={}",
        config.hidden, config.window, config.burn_in, config.batch, config.epochs, config.learning_rate, config.weight_decay,
        config.positive_weight, config.seed
    ));
    // Round 0 trains on the whole first-touch streams; each later round
    // adds the faults the previous round's model leaves as its policy
    // (`closed_loop`).
    let mut training_data = data.clone();
    let mut rounds = Vec::new();
    let mut epochs = Vec::new();
    let mut float = None;
    for round in 0..=options.rounds {
        if let Some(previous) = &float {
            let model = round_model(previous, &data, &streams, config.seed)?;
            let thinned = closed_loop::thinned_streams(&model, &streams, options.held_out_percent, round)?;
            let faults: usize = thinned.iter().map(Prepared::steps).sum();
            let first_touches: usize = data.iter().map(Prepared::steps).sum();
            log(&format!(
                "round {round}: the round {} model as the policy leaves {faults} of {first_touches} first touches as faults; training on those too",
                round - 1
            ));
            rounds.push(RoundReport { round, faults, first_touches });
            training_data.extend(thinned);
        }
        epochs.clear();
        float = Some(network::train(&training_data, config, &mut |report| {
            log(&format!(
                "round {round} epoch {:>3}/{}: train loss {:.5}, held-out loss {:.5} ({:.1} s)",
                report.epoch, config.epochs, report.train_loss, report.held_out_loss, report.seconds
            ));
            epochs.push(report.clone());
        })?);
    }
    let float = float.expect("round 0 always trains");
    let training = started.elapsed().as_secs_f64() - reading;

    let (quantized, calibration) = QuantizedModel::calibrated(&float, &data);
    for (name, matrix) in [("W", calibration.w), ("R", calibration.r), ("D", calibration.d)] {
        log(&format!(
            "quantized {name}: expected squared output error {:.3e} with max-abs scales, {:.3e} calibrated ({} channels clipped)",
            matrix.max_abs, matrix.chosen, matrix.clipped
        ));
    }

    // The graph's outputs do not depend on its metadata: run it once with a
    // provisional threshold, choose the threshold on the training heads.
    let provisional = Metadata { threshold: validate::threshold_text(500), seed: config.seed, data: data_description(&streams, options) };
    let provisional_bytes = export::encode(&export::qdq_graph(&quantized, &provisional));
    let tract = TractModel::load(&provisional_bytes, config.hidden)?;
    let mut shipped = Vec::with_capacity(data.len());
    for stream in &data {
        shipped.push(tract.run(&stream.inputs(0..stream.steps()), &vec![0.0; config.hidden])?.0);
    }
    let quantized_quality = quality(&shipped, &data);
    let float_quality = quality(&float_probabilities(&float, &data), &data);
    let priors = network::class_priors(&data);
    let constant: Vec<Vec<f32>> = data.iter().map(|stream| priors.repeat(stream.steps())).collect();
    let baseline = quality(&constant, &data);

    let sizes: Vec<StreamSize> = data
        .iter()
        .zip(&quantized_quality.held_out_by_stream)
        .map(|(stream, &held_out)| StreamSize { name: stream.name.clone(), steps: stream.steps(), train_steps: stream.cut, held_out })
        .collect();

    // The shipped threshold is the one the model does best at as the
    // commit policy (closed loop, integer path) on the training heads.
    let cuts: Vec<usize> = data.iter().map(|stream| stream.cut).collect();
    let provisional_model = IntegerModel::load(&provisional_bytes)
        .map_err(|error| Error::Export(format!("the integer path refuses the model: {error}")))?;
    let (policy_threshold, train_policy_f1) = closed_loop::policy_threshold(&provisional_model, &streams, &cuts)?;
    let mut held_out_policy = Vec::with_capacity(streams.len());
    for (stream, &cut) in streams.iter().zip(&cuts) {
        let (_, [_, tail]) =
            closed_loop::replay(&provisional_model, closed_loop::fixed_threshold(policy_threshold), &stream.events, cut)?;
        held_out_policy.push(tail);
    }
    let policy = PolicyReport::new(policy_threshold, train_policy_f1, held_out_policy);
    log(&format!(
        "policy threshold {}: mean policy F1 {:.4} on the training heads, {:.4} on the held-out tails (coverage {:.4}, accuracy {:.4})",
        validate::threshold_text(policy_threshold),
        train_policy_f1,
        policy.held_out_mean_f1,
        policy.held_out_mean_coverage,
        policy.held_out_mean_accuracy
    ));
    let metadata = Metadata { threshold: validate::threshold_text(policy_threshold), ..provisional };
    let bytes = export::encode(&export::qdq_graph(&quantized, &metadata));
    let tract = TractModel::load(&bytes, config.hidden)?;
    let engine = EngineModel::load(&bytes, config.hidden)?;
    let sequences = comparison_sequences(&data, options.comparison_sequences, options.comparison_steps, config.hidden, config.seed);
    let engine_vs_tract = validate::compare(&sequences, &|x, h| engine.run(x, h), &|x, h| tract.run(x, h))?;
    log(&format!(
        "engine float path vs tract: probabilities max {:.3e}, mean {:.3e}; Y_h max {:.3e}",
        engine_vs_tract.probabilities.max,
        engine_vs_tract.probabilities.mean(),
        engine_vs_tract.state.max
    ));
    let integer_vs_tract = validate::integer_path_difference(&bytes, &tract, &sequences)?;
    log(&format!(
        "engine integer path vs tract: max {:.3e}, mean {:.3e} over {} sequences (from zero state)",
        integer_vs_tract.max,
        integer_vs_tract.mean(),
        integer_vs_tract.sequences
    ));
    let candle_vs_tract = candle_against_tract(&float, &data, config)?;
    let validating = started.elapsed().as_secs_f64() - reading - training;

    let report = Report {
        streams: sizes,
        config: config.clone(),
        held_out_percent: options.held_out_percent,
        rounds,
        policy,
        epochs,
        parameters: float.parameters(),
        unseen_inputs: network::seen_inputs(&data).iter().enumerate().filter(|&(_, &seen)| !seen).map(|(index, _)| index).collect(),
        calibration,
        quantized: quantized_quality,
        float: float_quality,
        baseline,
        candle_vs_tract,
        engine_vs_tract,
        integer_vs_tract,
        bytes: bytes.len(),
        seconds: [reading, training, validating],
    };
    if engine_vs_tract.probabilities.max > TOLERANCE || engine_vs_tract.state.max > TOLERANCE {
        return Err(Error::Validation(format!(
            "the engine's float path differs from tract by up to {:.3e} in probabilities and {:.3e} in Y_h (tolerance {TOLERANCE:e})",
            engine_vs_tract.probabilities.max, engine_vs_tract.state.max
        )));
    }
    if integer_vs_tract.max > validate::INTEGER_TOLERANCE {
        return Err(Error::Validation(format!(
            "the engine's integer path differs from tract by up to {:.3e} (tolerance {})",
            integer_vs_tract.max,
            validate::INTEGER_TOLERANCE
        )));
    }
    Ok(Outcome { bytes, report })
}

fn scores_line(name: &str, quality: &Quality) -> String {
    let line = |scores: &Scores| format!("F1 {:.4}  precision {:.4}  recall {:.4}", scores.f1(), scores.precision(), scores.recall());
    format!(
        "{name:<22} threshold {}  held out: {}, mean F1 per stream {:.4}   (training heads: {})",
        validate::threshold_text(quality.threshold),
        line(&quality.held_out),
        quality.held_out_mean_f1,
        line(&quality.train)
    )
}

impl Report {
    /// The metrics, one per line.
    pub fn metrics(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "{}", scores_line("shipped (int8, tract)", &self.quantized));
        let _ = writeln!(text, "{}", scores_line("float (before int8)", &self.float));
        let _ = writeln!(text, "{}", scores_line("baseline (no model)", &self.baseline));
        let policy = &self.policy;
        let _ = writeln!(
            text,
            "as the commit policy (integer path, closed loop) at threshold {}: held out: coverage {:.4}  accuracy {:.4}  F1 {:.4} \
             (means per stream; training heads: F1 {:.4})",
            validate::threshold_text(policy.threshold),
            policy.held_out_mean_coverage,
            policy.held_out_mean_accuracy,
            policy.held_out_mean_f1,
            policy.train_mean_f1
        );
        text
    }

    /// The validation numbers, one per line.
    pub fn validation(&self) -> String {
        let mut text = String::new();
        let line = |difference: &Difference| {
            format!(
                "max {:.3e}, mean {:.3e} ({} sequences, {} values)",
                difference.max,
                difference.mean(),
                difference.sequences,
                difference.count
            )
        };
        let engine = &self.engine_vs_tract;
        let _ = writeln!(text, "engine float path vs tract-onnx, probabilities: {}", line(&engine.probabilities));
        let _ = writeln!(text, "engine float path vs tract-onnx, Y_h: {}", line(&engine.state));
        let _ = writeln!(text, "engine integer path vs tract-onnx: {}", line(&self.integer_vs_tract));
        let _ = writeln!(text, "candle forward vs float graph in tract-onnx: {}", line(&self.candle_vs_tract));
        text
    }

    /// The description written next to the model (`default.txt`): how to
    /// make it again and what it is. `command` is the command line, `hash`
    /// the file's SHA-256.
    pub fn describe(&self, command: &str, hash: &str) -> String {
        let config = &self.config;
        let mut text = String::new();
        let _ = writeln!(text, "# The Predictive Allocation Engine's default model\n");
        let _ = writeln!(text, "Made by (bit for bit; `cargo xtask train --check` verifies it):\n\n    {command}\n");
        let _ = writeln!(text, "sha256: {hash}");
        let _ = writeln!(text, "size:   {} bytes ({} parameters; int8 weights, float biases)\n", self.bytes, self.parameters);
        let total: usize = self.streams.iter().map(|stream| stream.steps).sum();
        let trained: usize = self.streams.iter().map(|stream| stream.train_steps).sum();
        let _ = writeln!(
            text,
            "## Data\n\nDemand-fault streams (the first touch of each page; trace regions as partitions),\n{total} steps in all; the first {}% of each stream trained on ({trained} steps), the rest held out.\n",
            100 - self.held_out_percent
        );
        for (stream, policy) in self.streams.iter().zip(&self.policy.held_out) {
            let _ = writeln!(
                text,
                "    {:<24} {:>6} steps  ({:>5} trained on)  held out: F1 {:.4}, as the policy coverage {:.4} accuracy {:.4}",
                stream.name,
                stream.steps,
                stream.train_steps,
                stream.held_out.f1(),
                policy.coverage(),
                policy.accuracy()
            );
        }
        let _ = writeln!(
            text,
            "\n## Model and training\n\nGRU (hidden {}, ONNX gate order z r h, linear_before_reset 1) over {FEATURES} inputs, dense to {CLASSES} logits.\n\
             Seed {}; windows of {} steps ({} steps of burn-in after a stream's first), batches of {}, {} epochs;\n\
             AdamW (lr {} decaying along a half cosine to a tenth, weight decay {}); binary cross-entropy with logits,\n\
             positive weight {}. Final train loss {:.5}, held-out loss {:.5} (float model).\n",
            config.hidden,
            config.seed,
            config.window,
            config.burn_in,
            config.batch,
            config.epochs,
            config.learning_rate,
            config.weight_decay,
            config.positive_weight,
            self.epochs.last().map_or(0.0, |e| e.train_loss),
            self.epochs.last().map_or(0.0, |e| e.held_out_loss),
        );
        if self.rounds.is_empty() {
            let _ = writeln!(text, "Trained on the first-touch streams only (no closed-loop rounds).\n");
        } else {
            let _ = writeln!(
                text,
                "Closed loop ({} round(s)): each round's model, run by the integer path as the commit policy over\n\
                 every stream, leaves some first touches faulting; those fault streams (inputs over the faults,\n\
                 labels from the whole stream) join the training data and the next model trains from scratch.\n",
                self.rounds.len()
            );
            for round in &self.rounds {
                let _ = writeln!(
                    text,
                    "    round {}: the round {} model leaves {} of {} first touches as faults",
                    round.round,
                    round.round - 1,
                    round.faults,
                    round.first_touches
                );
            }
            let _ = writeln!(text);
        }
        let unseen: Vec<String> = self.unseen_inputs.iter().map(|&index| crate::data::input_name(index)).collect();
        let _ = writeln!(text, "Inputs the data never shows (their weights are 0, so they add nothing): {}.\n", unseen.join(", "));
        let _ = writeln!(
            text,
            "Quantization: int8 symmetric per output channel (W, R per row; D per column), zero points 0,\n\
             calibrated on the training heads: per channel the clipping level (of {}) with the least expected\n\
             squared output error, then the mean error folded into the bias. Expected squared output error,\n\
             summed over channels, max-abs scales -> calibrated (channels clipped):\n",
            quantize::CANDIDATES / 2 + 1
        );
        for (name, matrix) in [("W", self.calibration.w), ("R", self.calibration.r), ("D", self.calibration.d)] {
            let _ = writeln!(text, "    {name}  {:.4e} -> {:.4e}  ({} clipped)", matrix.max_abs, matrix.chosen, matrix.clipped);
        }
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "## Metrics\n\nPer step: decisions p >= threshold per (step, page offset) against the labels, at the threshold that\n\
             maximises that F1 on the training heads. As the policy: the first-touch stream replayed with the model\n\
             committing ahead at each fault (pae-train's closed_loop::replay), coverage = faults avoided, accuracy =\n\
             pages committed ahead that were touched; the shipped threshold (pae.threshold) maximises the mean policy\n\
             F1 over the training heads.\n"
        );
        for line in self.metrics().lines() {
            let _ = writeln!(text, "    {line}");
        }
        let _ = writeln!(text, "\n## Validation\n");
        for line in self.validation().lines() {
            let _ = writeln!(text, "    {line}");
        }
        text
    }
}
