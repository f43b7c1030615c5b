//! Training data: fault streams from lackey traces (and kernel histories,
//! [`crate::history`]), encoded with `pae_model::features`, split into a
//! training head and a held-out tail, and cut into windows for truncated
//! back-propagation through time.
//!
//! A lackey trace is replayed as the kernel's `replay` program does it:
//! its pages are clustered into regions ([`trace::Replay`]), each region is
//! a partition (kind code if instructions were fetched from it, data
//! otherwise, as `replay` creates them), and the demand-fault stream is the
//! first touch of each page ([`features::first_touches`]).

use crate::{Error, Result};
use pae_model::features::{self, ACTIVE, AccessKind, CLASSES, Encoder, Event, FEATURES, Source};
use std::path::{Path, PathBuf};
use trace::{Access, Kind, REPLAY_BASE_PAGE, Replay};

/// `abi::PartitionKind::Code`.
const CODE_KIND: u64 = 1;
/// `abi::PartitionKind::Data`.
const DATA_KIND: u64 = 2;

/// One process's memory events, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    /// Where it came from (trace name, or `history/pidN`).
    pub name: String,
    /// The events.
    pub events: Vec<Event>,
}

/// The demand-fault stream of a trace's accesses: regions become
/// partitions (ids from 1, placed as `Replay::layout` places them), and
/// only each page's first touch remains.
pub fn fault_stream(name: &str, accesses: &[Access]) -> Result<Stream> {
    let replay = Replay::from_accesses(accesses).map_err(|error| Error::Trace(format!("{name}: {error}")))?;
    let starts = replay.layout(REPLAY_BASE_PAGE);
    let events: Vec<Event> = replay
        .accesses
        .iter()
        .map(|&(region, offset, kind)| {
            let region = usize::from(region);
            Event {
                partition: region as u64 + 1,
                page: starts[region] + u64::from(offset),
                access: match kind {
                    Kind::Fetch => AccessKind::Execute,
                    Kind::Load => AccessKind::Read,
                    Kind::Store => AccessKind::Write,
                },
                kind: if replay.regions[region].code { CODE_KIND } else { DATA_KIND },
                source: Source::Fault,
            }
        })
        .collect();
    Ok(Stream { name: name.to_owned(), events: features::first_touches(&events) })
}

/// Reads a lackey trace file into its demand-fault stream.
pub fn read_trace(path: &Path) -> Result<Stream> {
    let accesses = trace::file::read_lackey(path).map_err(Error::Trace)?;
    fault_stream(&trace::file::trace_name(path), &accesses)
}

/// Reads the trace files in parallel (`trace::file::for_each_file`); the
/// streams come back in the order of `paths`.
pub fn read_traces(paths: &[PathBuf]) -> Result<Vec<Stream>> {
    trace::file::for_each_file(paths, read_trace).into_iter().collect()
}

/// A stream encoded for the model, split into a training head and a
/// held-out tail.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// The stream's name.
    pub name: String,
    /// The active inputs of every step (`Encoder::active`), head and tail.
    pub active: Vec<[u8; ACTIVE]>,
    /// Steps `..cut` are for training, `cut..` held out.
    pub cut: usize,
    /// Labels of the head, from the head's events only (nothing of the
    /// tail leaks into training).
    pub train_labels: Vec<[bool; CLASSES]>,
    /// Labels of the tail.
    pub test_labels: Vec<[bool; CLASSES]>,
}

impl Prepared {
    /// Encodes `stream`, holding out its last `held_out_percent` percent.
    pub fn new(stream: &Stream, held_out_percent: usize) -> Prepared {
        let mut encoder = Encoder::new();
        let active = stream
            .events
            .iter()
            .map(|event| encoder.active(event).map(|index| u8::try_from(index).unwrap_or(u8::MAX)))
            .collect();
        let steps = stream.events.len();
        let cut = steps - steps * held_out_percent.min(100) / 100;
        let train_labels = features::targets(&stream.events[..cut]);
        let test_labels = features::targets(&stream.events).split_off(cut);
        Prepared { name: stream.name.clone(), active, cut, train_labels, test_labels }
    }

    /// The events of `stream` at `kept` (increasing indices, e.g. the
    /// faults a policy leaves: [`crate::closed_loop`]) as a stream of their
    /// own: inputs encoded over the kept events alone, labels those of the
    /// whole stream at each kept event, held out by position in the whole
    /// stream (as [`Prepared::new`] holds it out), so nothing of the tail
    /// leaks into the head's labels.
    pub fn thinned(stream: &Stream, kept: &[usize], held_out_percent: usize, name: &str) -> Prepared {
        let mut encoder = Encoder::new();
        let active = kept
            .iter()
            .map(|&index| encoder.active(&stream.events[index]).map(|input| u8::try_from(input).unwrap_or(u8::MAX)))
            .collect();
        let steps = stream.events.len();
        let whole_cut = steps - steps * held_out_percent.min(100) / 100;
        let head = features::targets(&stream.events[..whole_cut]);
        let all = features::targets(&stream.events);
        let cut = kept.partition_point(|&index| index < whole_cut);
        let train_labels = kept[..cut].iter().map(|&index| head[index]).collect();
        let test_labels = kept[cut..].iter().map(|&index| all[index]).collect();
        Prepared { name: name.to_owned(), active, cut, train_labels, test_labels }
    }

    /// Steps in all.
    pub fn steps(&self) -> usize {
        self.active.len()
    }

    /// The model input of step `step`, dense.
    pub fn dense(&self, step: usize) -> [f32; FEATURES] {
        dense(&self.active[step])
    }

    /// Dense inputs of steps `range`, flattened ([steps × FEATURES]).
    pub fn inputs(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        range.flat_map(|step| self.dense(step)).collect()
    }
}

/// A readable name for input `index` (as `features::Encoder` lays them
/// out), for reports.
pub fn input_name(index: usize) -> String {
    const OCTAVES: [&str; 8] = ["(8,16]", "(16,32]", "(32,64]", "(64,128]", "(128,256]", "(256,512]", "(512,1024]", ">1024"];
    const KINDS: [&str; 8] = ["unknown", "code", "data", "heap", "stack", "buffer", "shared", "program-defined"];
    match index {
        0 => "delta first".into(),
        1..=8 => format!("delta +{index}"),
        9..=16 => format!("delta -{}", index - 8),
        17..=24 => format!("delta +{}", OCTAVES[index - 17]),
        25..=32 => format!("delta -{}", OCTAVES[index - 25]),
        33 => "delta 0".into(),
        34..=36 => format!("access {}", ["read", "write", "execute"][index - 34]),
        37..=44 => format!("kind {}", KINDS[index - 37]),
        45 => "source fault".into(),
        46 => "source accessed".into(),
        _ => format!("input {index}"),
    }
}

/// The dense input vector with ones at `active`.
pub fn dense(active: &[u8; ACTIVE]) -> [f32; FEATURES] {
    let mut inputs = [0.0; FEATURES];
    for &index in active {
        inputs[usize::from(index)] = 1.0;
    }
    inputs
}

/// A slice of one stream's training head that is one sequence of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Index of the stream.
    pub stream: usize,
    /// First step.
    pub start: usize,
    /// Steps (at most the window length).
    pub steps: usize,
    /// Steps before this one only warm the state up: the loss counts
    /// steps `scored_from..steps` (each step is scored in exactly one window).
    pub scored_from: usize,
}

/// Cuts every training head into windows of `length` steps; each window
/// after a head's first starts `burn_in` steps before the previous one
/// ends, so its state is warm when its scored steps begin.
pub fn windows(prepared: &[Prepared], length: usize, burn_in: usize) -> Vec<Window> {
    let stride = length.saturating_sub(burn_in).max(1);
    let mut windows = Vec::new();
    for (stream, data) in prepared.iter().enumerate() {
        let mut start = 0;
        while start < data.cut {
            let steps = length.min(data.cut - start);
            let scored_from = if start == 0 { 0 } else { burn_in.min(steps) };
            if scored_from < steps {
                windows.push(Window { stream, start, steps, scored_from });
            }
            if start + steps >= data.cut {
                break;
            }
            start += stride;
        }
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(page: u64, kind: Kind) -> Access {
        Access { page, kind }
    }

    #[test]
    fn a_trace_becomes_a_first_touch_stream_over_regions() {
        let accesses = [
            access(0x400, Kind::Fetch),
            access(0x9000, Kind::Load),
            access(0x9001, Kind::Store),
            access(0x400, Kind::Fetch),
            access(0x9000, Kind::Store),
            access(0x401, Kind::Fetch),
        ];
        let stream = fault_stream("t", &accesses).unwrap();
        let seen: Vec<(u64, AccessKind, u64)> = stream.events.iter().map(|e| (e.partition, e.access, e.kind)).collect();
        assert_eq!(
            seen,
            [(1, AccessKind::Execute, 1), (2, AccessKind::Read, 2), (2, AccessKind::Write, 2), (1, AccessKind::Execute, 1)]
        );
        assert_eq!(stream.events[2].page - stream.events[1].page, 1, "offsets kept within a region");
    }

    #[test]
    fn inputs_have_names_by_the_encoder_layout() {
        let mut encoder = features::Encoder::new();
        let event = |page| Event { partition: 1, page, access: AccessKind::Write, kind: 4, source: Source::Accessed };
        encoder.active(&event(100));
        let active = encoder.active(&event(40));
        let names: Vec<String> = active.iter().map(|&index| input_name(index)).collect();
        assert_eq!(names, ["delta -(32,64]", "access write", "kind stack", "source accessed"]);
        assert_eq!(input_name(33), "delta 0");
        assert_eq!(input_name(24), "delta +>1024");
    }

    #[test]
    fn heads_and_tails_and_windows_cover_every_step_once() {
        let events: Vec<Event> = (0..250)
            .map(|step| Event { partition: 1, page: step, access: AccessKind::Read, kind: 2, source: Source::Fault })
            .collect();
        let prepared = Prepared::new(&Stream { name: "s".into(), events }, 20);
        assert_eq!(prepared.cut, 200);
        assert_eq!(prepared.train_labels.len(), 200);
        assert_eq!(prepared.test_labels.len(), 50);
        assert!(prepared.train_labels[199].iter().all(|&label| !label), "the head's labels do not look into the tail");
        assert!(prepared.test_labels[0][features::class_of(1).unwrap()]);
        let windows = windows(&[prepared], 64, 16);
        let mut scored = vec![0; 200];
        for window in &windows {
            assert!(window.steps <= 64);
            for count in &mut scored[window.start + window.scored_from..window.start + window.steps] {
                *count += 1;
            }
        }
        assert!(scored.iter().all(|&count| count == 1), "{scored:?}");
    }
}
