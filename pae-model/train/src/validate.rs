//! Checking an exported file: `tract-onnx` (the reference runtime) and the
//! engine's float path (`pae_model::Model`) load and run it, their outputs
//! are compared, and the thresholded predictions are scored.

use crate::{Error, Result};
use pae_model::features::{CLASSES, FEATURES};
use tract_onnx::prelude::{Framework, InferenceModelExt, IntoRunnable, Tensor as TractTensor, TypedRunnableModel, tvec};

/// What a run returns: `probabilities` ([steps × CLASSES]) and `Y_h` ([H]).
pub type Outputs = (Vec<f32>, Vec<f32>);

/// A runtime under comparison: inputs ([steps × FEATURES]) and `h0` ([H])
/// to its outputs.
pub type Runtime<'a> = &'a dyn Fn(&[f32], &[f32]) -> Result<Outputs>;

/// A file loaded and optimized by `tract-onnx`.
pub struct TractModel {
    plan: std::sync::Arc<TypedRunnableModel>,
    hidden: usize,
}

impl TractModel {
    /// Loads `bytes`; `hidden` is the state size.
    pub fn load(bytes: &[u8], hidden: usize) -> Result<TractModel> {
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .and_then(|model| model.into_optimized())
            .and_then(|model| model.into_runnable())
            .map_err(|error| Error::Export(format!("tract-onnx refuses the model: {error:?}")))?;
        Ok(TractModel { plan, hidden })
    }

    /// Runs `inputs` ([steps × FEATURES]) from state `h0` ([H]).
    pub fn run(&self, inputs: &[f32], h0: &[f32]) -> Result<Outputs> {
        let steps = inputs.len() / FEATURES;
        let fail = |error: tract_onnx::prelude::TractError| Error::Export(format!("tract-onnx cannot run the model: {error:?}"));
        let x = TractTensor::from_shape(&[steps, 1, FEATURES], inputs).map_err(fail)?;
        let h0 = TractTensor::from_shape(&[1, 1, self.hidden], h0).map_err(fail)?;
        let outputs = self.plan.run(tvec!(x.into(), h0.into())).map_err(fail)?;
        let values = |index: usize| -> Result<Vec<f32>> {
            Ok(outputs[index].to_plain_array_view::<f32>().map_err(fail)?.iter().copied().collect())
        };
        Ok((values(0)?, values(1)?))
    }
}

/// A file loaded by the engine (`pae_model::Model`, its float path).
pub struct EngineModel {
    model: pae_model::Model,
    hidden: usize,
}

impl EngineModel {
    /// Loads `bytes`; `hidden` is the state size.
    pub fn load(bytes: &[u8], hidden: usize) -> Result<EngineModel> {
        let model = pae_model::Model::load(bytes).map_err(|error| Error::Export(format!("the engine refuses the model: {error}")))?;
        Ok(EngineModel { model, hidden })
    }

    /// Runs `inputs` ([steps × FEATURES]) from state `h0` ([H]).
    pub fn run(&self, inputs: &[f32], h0: &[f32]) -> Result<Outputs> {
        let steps = inputs.len() / FEATURES;
        let fail = |error: pae_model::Error| Error::Export(format!("the engine cannot run the model: {error}"));
        let x = pae_model::Tensor::f32(&[steps, 1, FEATURES], inputs.to_vec()).map_err(fail)?;
        let h0 = pae_model::Tensor::f32(&[1, 1, self.hidden], h0.to_vec()).map_err(fail)?;
        let outputs = self.model.run(&[x, h0]).map_err(fail)?;
        let values = |index: usize| -> Result<Vec<f32>> {
            Ok(outputs.get(index).ok_or_else(|| Error::Export("the engine returned too few outputs".into()))?.as_f32("output").map_err(fail)?.to_vec())
        };
        Ok((values(0)?, values(1)?))
    }
}

/// Element-wise differences between two runtimes' outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Difference {
    /// Largest |a − b|.
    pub max: f64,
    /// Sum of |a − b|.
    pub total: f64,
    /// Values compared.
    pub count: usize,
    /// Sequences compared.
    pub sequences: usize,
}

impl Difference {
    /// Adds the differences of `a` and `b` (equal lengths).
    pub fn add(&mut self, a: &[f32], b: &[f32]) -> Result<()> {
        if a.len() != b.len() {
            return Err(Error::Validation(format!("outputs of {} and {} values", a.len(), b.len())));
        }
        for (&a, &b) in a.iter().zip(b) {
            let difference = (f64::from(a) - f64::from(b)).abs();
            if !difference.is_finite() {
                return Err(Error::Validation(format!("{a} against {b}")));
            }
            self.max = self.max.max(difference);
            self.total += difference;
        }
        self.count += a.len();
        Ok(())
    }

    /// Mean |a − b|.
    pub fn mean(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.total / self.count as f64 }
    }
}

/// One test sequence: inputs ([steps × FEATURES]) and a start state ([H]).
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    /// Inputs.
    pub inputs: Vec<f32>,
    /// Start state.
    pub h0: Vec<f32>,
}

/// Two runtimes compared on the same file.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Comparison {
    /// Probabilities, every step.
    pub probabilities: Difference,
    /// Final states `Y_h`.
    pub state: Difference,
}

/// Runs `sequences` through two runtimes of one graph and compares their
/// outputs.
pub fn compare(sequences: &[Sequence], a: Runtime, b: Runtime) -> Result<Comparison> {
    let mut comparison = Comparison::default();
    for sequence in sequences {
        let (pa, ha) = a(&sequence.inputs, &sequence.h0)?;
        let (pb, hb) = b(&sequence.inputs, &sequence.h0)?;
        if pa.len() != sequence.inputs.len() / FEATURES * CLASSES {
            return Err(Error::Validation(format!("{} probabilities for {} steps", pa.len(), sequence.inputs.len() / FEATURES)));
        }
        comparison.probabilities.add(&pa, &pb)?;
        comparison.state.add(&ha, &hb)?;
        comparison.probabilities.sequences += 1;
        comparison.state.sequences += 1;
    }
    Ok(comparison)
}

/// The engine's integer path (`pae_model::integer`) against `tract` on
/// `sequences`: probabilities (`round(p × 65536)` read back as p) and the
/// final state (Q0.15). An integer state starts at zero (it cannot be
/// set from floats), so every sequence runs from `h0` = 0 here.
pub fn integer_path_difference(bytes: &[u8], tract: &TractModel, sequences: &[Sequence]) -> Result<Difference> {
    let model = pae_model::integer::IntegerModel::load(bytes)
        .map_err(|error| Error::Export(format!("the integer path refuses the model: {error}")))?;
    let zero = vec![0.0; tract.hidden];
    let mut difference = Difference::default();
    for sequence in sequences {
        let (reference, state_reference) = tract.run(&sequence.inputs, &zero)?;
        let mut state = model.new_state();
        let mut probabilities = Vec::with_capacity(reference.len());
        for x in sequence.inputs.as_chunks::<FEATURES>().0 {
            let mut dense = [0u8; FEATURES];
            for (slot, &value) in dense.iter_mut().zip(x) {
                *slot = u8::from(value != 0.0);
            }
            let step = model
                .step_dense(&mut state, &dense)
                .map_err(|error| Error::Export(format!("the integer path cannot run the model: {error}")))?;
            probabilities.extend(step.iter().map(|&p| f32::from(p) / 65536.0));
        }
        let final_state: Vec<f32> = state.as_slice().iter().map(|&h| f32::from(h) / 32768.0).collect();
        difference.add(&probabilities, &reference)?;
        difference.add(&final_state, &state_reference)?;
        difference.sequences += 1;
    }
    Ok(difference)
}

/// The largest difference accepted between the integer path and tract: the
/// bound `pae_model::integer` documents and tests.
pub const INTEGER_TOLERANCE: f64 = pae_model::integer::MAX_PROBABILITY_ERROR;

/// Counts of thresholded decisions against labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scores {
    /// Predicted and touched.
    pub true_positives: u64,
    /// Predicted, not touched.
    pub false_positives: u64,
    /// Touched, not predicted.
    pub false_negatives: u64,
}

impl Scores {
    /// Adds one step's decisions (`probabilities ≥ threshold`) against `labels`.
    pub fn add(&mut self, probabilities: &[f32], labels: &[bool; CLASSES], threshold: f32) {
        for (&p, &label) in probabilities.iter().zip(labels) {
            match (p >= threshold, label) {
                (true, true) => self.true_positives += 1,
                (true, false) => self.false_positives += 1,
                (false, true) => self.false_negatives += 1,
                (false, false) => {}
            }
        }
    }

    /// Of the pages predicted, the fraction touched.
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }

    /// Of the pages touched, the fraction predicted.
    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.true_positives, 2 * self.true_positives + self.false_positives + self.false_negatives)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// Thresholds tried: k / 1000 for k in 1..1000 (as `f32`, exactly what
/// parsing the decimal `0.kkk` gives).
pub const THRESHOLD_STEPS: u32 = 1000;

/// The threshold (in thousandths) whose decisions have the best F1 over
/// `outputs` (pairs of [steps × CLASSES] probabilities and their labels),
/// with its scores; ties go to the higher threshold (fewer commits).
pub fn best_threshold<'a>(outputs: impl Iterator<Item = (&'a [f32], &'a [[bool; CLASSES]])>) -> (u32, Scores) {
    let thresholds: Vec<f32> = (1..THRESHOLD_STEPS).map(|k| k as f32 / THRESHOLD_STEPS as f32).collect();
    // For each bin, the positives and negatives whose probability passes
    // exactly the first `bin` thresholds.
    let mut positives = vec![0u64; thresholds.len() + 1];
    let mut negatives = vec![0u64; thresholds.len() + 1];
    for (probabilities, labels) in outputs {
        for (row, labels) in probabilities.as_chunks::<CLASSES>().0.iter().zip(labels) {
            for (&p, &label) in row.iter().zip(labels) {
                let bin = thresholds.partition_point(|&t| p >= t);
                if label { positives[bin] += 1 } else { negatives[bin] += 1 }
            }
        }
    }
    let all_positives: u64 = positives.iter().sum();
    let mut best = (THRESHOLD_STEPS / 2, Scores::default(), -1.0);
    // Decisions at threshold k (index k − 1) are the bins ≥ k.
    let (mut true_positives, mut false_positives) = (0u64, 0u64);
    for k in (1..THRESHOLD_STEPS).rev() {
        true_positives += positives[k as usize];
        false_positives += negatives[k as usize];
        let scores = Scores { true_positives, false_positives, false_negatives: all_positives - true_positives };
        if scores.f1() > best.2 {
            best = (k, scores, scores.f1());
        }
    }
    (best.0, best.1)
}

/// The decimal text of threshold `k` thousandths, as the metadata holds it.
pub fn threshold_text(k: u32) -> String {
    format!("0.{k:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_thresholds() {
        let mut labels = [false; CLASSES];
        labels[0] = true;
        labels[1] = true;
        let mut probabilities = [0.1f32; CLASSES];
        probabilities[0] = 0.9;
        probabilities[1] = 0.4;
        probabilities[2] = 0.6;
        let mut scores = Scores::default();
        scores.add(&probabilities, &labels, 0.5);
        assert_eq!(scores, Scores { true_positives: 1, false_positives: 1, false_negatives: 1 });
        assert_eq!(scores.f1(), 0.5);
        let (k, best) = best_threshold(std::iter::once((&probabilities[..], &[labels][..])));
        assert_eq!(k, 400, "0.4 keeps both positives and one false positive: F1 0.8");
        assert_eq!(best, Scores { true_positives: 2, false_positives: 1, false_negatives: 0 });
        assert_eq!(threshold_text(k), "0.400");
        assert_eq!(threshold_text(k).parse::<f32>().unwrap(), k as f32 / 1000.0);
    }
}
