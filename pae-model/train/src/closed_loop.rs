//! Training on the stream the policy will see. Deployed, the model does not
//! read every first touch: it reads the *faults*, and the pages it
//! committed ahead no longer fault, so its own successes thin its input
//! (a sequential scan it predicts 32 pages ahead reaches it as +33 jumps,
//! never as +1 steps). A model trained only on whole first-touch streams
//! meets inputs there that it never saw.
//!
//! So training goes in rounds (after DAgger, Ross et al., AISTATS 2011):
//! each round's model, quantized and run by the integer path exactly as
//! the kernel runs it, replays every stream as the commit policy does;
//! the faults it leaves become extra training streams (inputs encoded over
//! the faults alone, so their deltas are the ones the policy meets, each
//! labelled with what the *whole* stream touches next), and the next
//! round trains on the original streams and every round's thinned ones.

use crate::data::{Prepared, Stream};
use crate::{Error, Result};
use pae_model::features::{self, Encoder, Event};
use pae_model::integer::IntegerModel;
use std::collections::HashMap;

/// How a policy did over part of a first-touch stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyScores {
    /// Pages touched (each once).
    pub first_touches: u64,
    /// Touches that faulted (not committed ahead).
    pub faults: u64,
    /// Pages committed ahead.
    pub ahead: u64,
    /// Touches of pages committed ahead.
    pub hits: u64,
    /// Pages committed ahead that were touched (later, here or after).
    pub used: u64,
}

impl PolicyScores {
    /// Faults avoided, relative to demand paging.
    pub fn coverage(&self) -> f64 {
        if self.first_touches == 0 { 0.0 } else { self.hits as f64 / self.first_touches as f64 }
    }

    /// Of the pages committed ahead, the fraction touched (1 if none).
    pub fn accuracy(&self) -> f64 {
        if self.ahead == 0 { 1.0 } else { self.used as f64 / self.ahead as f64 }
    }

    /// Harmonic mean of coverage and accuracy, as `cargo xtask eval` scores.
    pub fn f1(&self) -> f64 {
        let (coverage, accuracy) = (self.coverage(), self.accuracy());
        if coverage + accuracy == 0.0 { 0.0 } else { 2.0 * coverage * accuracy / (coverage + accuracy) }
    }
}

/// `events` (a first-touch stream: each page once) replayed with `model`
/// as the commit policy at `threshold` (× 65536): at each fault the pages
/// `features::decisions` names are committed ahead, within the partition's
/// extent (the lowest to the highest page the stream touches in it, where
/// the kernel would have the partition's bounds). Returns the indices of
/// the events that fault, and the scores of `events[..split]` and
/// `events[split..]` (a touch counts where it happens; a page committed
/// ahead, and whether it was used, where it was committed).
pub fn replay(model: &IntegerModel, threshold: u16, events: &[Event], split: usize) -> Result<(Vec<usize>, [PolicyScores; 2])> {
    let mut extents: HashMap<u64, (u64, u64)> = HashMap::new();
    for event in events {
        let extent = extents.entry(event.partition).or_insert((event.page, event.page));
        *extent = (extent.0.min(event.page), extent.1.max(event.page));
    }
    // Each committed page, with the part whose fault committed it ahead
    // (`None` for a page that faulted).
    let mut committed: HashMap<(u64, u64), Option<usize>> = HashMap::new();
    let mut encoder = Encoder::new();
    let mut state = model.new_state();
    let mut faults = Vec::new();
    let mut scores = [PolicyScores::default(); 2];
    for (index, event) in events.iter().enumerate() {
        let here = usize::from(index >= split);
        scores[here].first_touches += 1;
        if let Some(&ahead) = committed.get(&(event.partition, event.page)) {
            // Committed ahead: a hit, which the policy never hears of.
            scores[here].hits += 1;
            if let Some(by) = ahead {
                scores[by].used += 1;
            }
            continue;
        }
        committed.insert((event.partition, event.page), None);
        scores[here].faults += 1;
        faults.push(index);
        let step = model
            .step(&mut state, &encoder.active(event))
            .map_err(|error| Error::Training(format!("the integer path cannot run the model: {error}")))?;
        let (low, high) = extents[&event.partition];
        for page in features::decisions(event, &step, threshold) {
            if (low..=high).contains(&page) && !committed.contains_key(&(event.partition, page)) {
                committed.insert((event.partition, page), Some(here));
                scores[here].ahead += 1;
            }
        }
    }
    Ok((faults, scores))
}

/// The indices of `events` (a first-touch stream) that fault when `model`
/// is the commit policy at its own threshold (see [`replay`]).
pub fn policy_faults(model: &IntegerModel, events: &[Event]) -> Result<Vec<usize>> {
    let threshold = model.threshold().ok_or_else(|| Error::Training("the model names no threshold".into()))?;
    Ok(replay(model, threshold, events, events.len())?.0)
}

/// Thresholds tried by [`policy_threshold`], in thousandths.
pub const POLICY_THRESHOLDS: std::ops::RangeInclusive<u32> = 5..=95;

/// `k` thousandths on the integer path's scale (`round(p × 65536)`), as
/// it reads the decimal `0.kkk`.
pub fn fixed_threshold(thousandths: u32) -> u16 {
    ((u64::from(thousandths) * 65536 + 500) / 1000).min(u64::from(u16::MAX)) as u16
}

/// The threshold (in thousandths, a multiple of 10) at which `model` as the
/// commit policy does best over the training heads of `streams` (`cuts[i]`
/// events of stream `i`): the highest mean over streams of the policy's F1
/// (every program counts the same); ties go to the higher threshold.
/// Returns it with that mean.
pub fn policy_threshold(model: &IntegerModel, streams: &[Stream], cuts: &[usize]) -> Result<(u32, f64)> {
    let candidates: Vec<u32> = POLICY_THRESHOLDS.rev().map(|k| k * 10).collect();
    let score = |thousandths: u32| -> Result<f64> {
        let mut total = 0.0;
        let mut counted = 0usize;
        for (stream, &cut) in streams.iter().zip(cuts) {
            if cut == 0 {
                continue;
            }
            let (_, [head, _]) = replay(model, fixed_threshold(thousandths), &stream.events[..cut], cut)?;
            total += head.f1();
            counted += 1;
        }
        Ok(if counted == 0 { 0.0 } else { total / counted as f64 })
    };
    // Both cores: each takes every other candidate.
    let results: Vec<Result<(u32, f64)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|worker| {
                let candidates = &candidates;
                let score = &score;
                scope.spawn(move || {
                    candidates.iter().skip(worker).step_by(2).map(|&k| score(k).map(|f1| (k, f1))).collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().expect("a threshold worker panicked")).collect()
    });
    let mut best: Option<(u32, f64)> = None;
    for result in results {
        let (k, f1) = result?;
        let better = match best {
            None => true,
            Some((best_k, best_f1)) => f1 > best_f1 || (f1 == best_f1 && k > best_k),
        };
        if better {
            best = Some((k, f1));
        }
    }
    best.ok_or_else(|| Error::Training("no threshold candidates".into()))
}

/// The thinned stream `model` leaves of each of `streams`, prepared for
/// training (see [`Prepared::thinned`]); `round` names them.
pub fn thinned_streams(model: &IntegerModel, streams: &[Stream], held_out_percent: usize, round: usize) -> Result<Vec<Prepared>> {
    streams
        .iter()
        .map(|stream| {
            let faults = policy_faults(model, &stream.events)?;
            Ok(Prepared::thinned(stream, &faults, held_out_percent, &format!("{} (round {round} faults)", stream.name)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pae_model::features::{AccessKind, Source};

    fn scan(pages: u64) -> Vec<Event> {
        (0..pages).map(|page| Event { partition: 1, page: 1000 + page, access: AccessKind::Read, kind: 2, source: Source::Fault }).collect()
    }

    /// Any model to the contract (untrained weights).
    fn untrained() -> IntegerModel {
        use crate::export::{self, Metadata};
        use crate::network::FloatModel;
        use crate::quantize::QuantizedModel;
        let float = FloatModel::initial(8, &[0.2; features::CLASSES], &mut crate::rng::Rng::new(4));
        let metadata = Metadata { threshold: "0.500".into(), seed: 4, data: "test".into() };
        IntegerModel::load(&export::encode(&export::qdq_graph(&QuantizedModel::max_abs(&float), &metadata))).unwrap()
    }

    #[test]
    fn committing_everything_leaves_a_fault_every_33_pages() {
        let model = untrained();
        let events = scan(100);
        // Threshold 0: every offset -16..-1, +1..+32 is committed, within
        // the partition's extent (pages 1000..=1099).
        let (faults, [head, tail]) = replay(&model, 0, &events, 50).unwrap();
        assert_eq!(faults, [0, 33, 66, 99]);
        // Pages 50..=65, committed by the fault at 33, are hits of the tail
        // but used pages of the head.
        assert_eq!(head, PolicyScores { first_touches: 50, faults: 2, ahead: 64, hits: 48, used: 64 });
        assert_eq!(tail, PolicyScores { first_touches: 50, faults: 2, ahead: 32, hits: 48, used: 32 });
        let all = PolicyScores { first_touches: 100, faults: 4, ahead: 96, hits: 96, used: 96 };
        assert_eq!((all.coverage(), all.accuracy()), (0.96, 1.0));
        // Nothing committed: every touch faults; accuracy counts as 1.
        let (faults, [head, _]) = replay(&model, u16::MAX, &events, 100).unwrap();
        assert_eq!(faults.len(), 100);
        assert_eq!((head.coverage(), head.accuracy(), head.f1()), (0.0, 1.0, 0.0));
        assert_eq!(fixed_threshold(526), 34472, "0.526 as the integer path reads it");
        assert_eq!(crate::validate::threshold_text(526).parse::<f32>().map(|p| (p * 65536.0).round() as u16), Ok(34472));
    }

    #[test]
    fn a_thinned_stream_keeps_the_faults_and_the_whole_streams_labels() {
        let stream = Stream { name: "scan".into(), events: scan(100) };
        // As if the policy committed 9 pages ahead at each fault.
        let faults: Vec<usize> = (0..100).step_by(10).collect();
        let prepared = Prepared::thinned(&stream, &faults, 20, "scan (faults)");
        assert_eq!(prepared.steps(), 10);
        assert_eq!(prepared.cut, 8, "faults before the whole stream's cut (step 80) are the head");
        let whole = Prepared::new(&stream, 20);
        assert_eq!(prepared.train_labels[3], whole.train_labels[30], "labels from the whole stream");
        assert_eq!(prepared.test_labels[0], whole.test_labels[0]);
        assert_eq!(prepared.test_labels[1], whole.test_labels[10]);
        assert!(prepared.train_labels[7][features::class_of(1).unwrap()], "step 70's next page is touched");
        assert!(!prepared.train_labels[7][features::class_of(10).unwrap()], "the head's labels do not look into the tail");
        // Inputs are encoded over the faults: +10 jumps, not +1 steps.
        let mut encoder = Encoder::new();
        encoder.active(&stream.events[0]);
        assert_eq!(prepared.active[1].map(usize::from), encoder.active(&stream.events[10]));
    }
}
