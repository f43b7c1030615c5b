//! What the model sees and what it predicts.
//!
//! **Steps.** The model reads one step per memory event of a process: a
//! page fault (or, for a replayed trace, the first touch of a page, which
//! is what faults under demand paging), or a page the accessed-bit sampler
//! saw in use. A step is described by [`Event`]: its partition, the page,
//! the access, the partition's kind, where it came from.
//!
//! **Inputs.** [`Encoder`] turns each event into [`FEATURES`] values, all 0
//! or 1, exactly [`ACTIVE`] of them 1 (one per group):
//! - the *delta*: the page minus the previous page of the same partition
//!   the model saw, in [`DELTA_BUCKETS`] buckets (first event of a
//!   partition; +1..+8 and −1..−8 exactly; then powers of two up to ±1024
//!   and beyond; 0);
//! - the access: read, write, execute;
//! - the partition kind: unknown, code, data, heap, stack, buffer, shared,
//!   program-defined;
//! - the source: fault or accessed-bit sample.
//!
//! Deltas are taken per partition, so interleaved streams (three matrices
//! of a product) each keep their own pattern, and nothing absolute about
//! an address reaches the model: what it learns carries over to programs
//! it never saw.
//!
//! **Outputs.** [`CLASSES`] probabilities, one per page offset in
//! [`DELTAS`] (−16..−1 and +1..+32 pages from the event's page, in its
//! partition): the chance that page is touched within the next [`WINDOW`]
//! events of that partition. The commit engine commits each page whose
//! probability crosses its threshold ([`decisions`]) — the output maps
//! directly to "commit these pages with probability p". [`targets`]
//! builds the training labels from a recorded sequence.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// How a page was touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    /// Data read.
    Read,
    /// Data write.
    Write,
    /// Instruction fetch.
    Execute,
}

/// Where an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A page fault (or a first touch in a replayed trace).
    Fault,
    /// The accessed-bit sampler saw the page in use.
    Accessed,
}

/// One memory event of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The partition (any id unique within the process).
    pub partition: u64,
    /// The page (virtual page number).
    pub page: u64,
    /// How it was touched.
    pub access: AccessKind,
    /// The partition's kind, as `abi::PartitionKind::code` (0: unknown).
    pub kind: u64,
    /// Where the event came from.
    pub source: Source,
}

/// Buckets of the delta group.
pub const DELTA_BUCKETS: usize = 34;
/// Features of the access group.
const ACCESS_FEATURES: usize = 3;
/// Features of the partition-kind group.
const KIND_FEATURES: usize = 8;
/// Features of the source group.
const SOURCE_FEATURES: usize = 2;
/// Inputs per step.
pub const FEATURES: usize = DELTA_BUCKETS + ACCESS_FEATURES + KIND_FEATURES + SOURCE_FEATURES;
/// Inputs that are 1 in every step (one per group).
pub const ACTIVE: usize = 4;

/// Page offsets the model predicts, in output order.
pub const DELTAS: [i64; CLASSES] = {
    let mut deltas = [0; CLASSES];
    let mut index = 0;
    while index < 16 {
        deltas[index] = -16 + index as i64;
        index += 1;
    }
    while index < CLASSES {
        deltas[index] = index as i64 - 15;
        index += 1;
    }
    deltas
};
/// Outputs per step.
pub const CLASSES: usize = 48;
/// Events of a partition within which a predicted page counts as touched.
pub const WINDOW: usize = 16;

/// The delta bucket of `delta` (`None`: the partition's first event).
pub fn delta_bucket(delta: Option<i64>) -> usize {
    let Some(delta) = delta else { return 0 };
    let magnitude = delta.unsigned_abs();
    let positive = delta > 0;
    match magnitude {
        0 => 33,
        1..=8 => if positive { magnitude as usize } else { 8 + magnitude as usize },
        _ => {
            // (8, 16] → 0, (16, 32] → 1, ..., (512, 1024] → 6, beyond → 7.
            let octave = (64 - (magnitude - 1).leading_zeros() as usize).saturating_sub(4).min(7);
            if positive { 17 + octave } else { 25 + octave }
        }
    }
}

fn kind_slot(kind: u64) -> usize {
    match kind {
        1..=6 => kind as usize,
        0 => 0,
        _ => 7,
    }
}

/// Turns a process's events into model inputs, remembering the last page
/// of each partition (at most [`Encoder::PARTITIONS`]; the least recently
/// seen is forgotten first, so memory stays bounded).
#[derive(Clone, Debug, Default)]
pub struct Encoder {
    /// Partition → (last page, when it was last seen).
    last: BTreeMap<u64, (u64, u64)>,
    /// Events encoded.
    clock: u64,
}

impl Encoder {
    /// Most partitions remembered.
    pub const PARTITIONS: usize = 64;

    /// A fresh encoder (every partition unseen).
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// The indices of the inputs that are 1 for `event`, one per group, in
    /// increasing order; updates what the encoder remembers.
    pub fn active(&mut self, event: &Event) -> [usize; ACTIVE] {
        let previous = self.last.get(&event.partition).map(|&(page, _)| page);
        let delta = previous.map(|page| event.page.wrapping_sub(page) as i64);
        if !self.last.contains_key(&event.partition)
            && self.last.len() >= Self::PARTITIONS
            && let Some(oldest) = self.last.iter().min_by_key(|(_, (_, seen))| *seen).map(|(&id, _)| id)
        {
            self.last.remove(&oldest);
        }
        self.clock += 1;
        self.last.insert(event.partition, (event.page, self.clock));
        let access = match event.access {
            AccessKind::Read => 0,
            AccessKind::Write => 1,
            AccessKind::Execute => 2,
        };
        let source = match event.source {
            Source::Fault => 0,
            Source::Accessed => 1,
        };
        [
            delta_bucket(delta),
            DELTA_BUCKETS + access,
            DELTA_BUCKETS + ACCESS_FEATURES + kind_slot(event.kind),
            DELTA_BUCKETS + ACCESS_FEATURES + KIND_FEATURES + source,
        ]
    }

    /// The inputs for `event` as a dense vector of 0.0 and 1.0.
    pub fn dense(&mut self, event: &Event) -> [f32; FEATURES] {
        let mut inputs = [0.0; FEATURES];
        for index in self.active(event) {
            inputs[index] = 1.0;
        }
        inputs
    }
}

/// The first touch of each page, in order: what faults under demand paging
/// when nothing is ever evicted.
pub fn first_touches(events: &[Event]) -> Vec<Event> {
    let mut seen = alloc::collections::BTreeSet::new();
    events.iter().copied().filter(|event| seen.insert((event.partition, event.page))).collect()
}

/// Training labels for `events`: for each one, which of the pages at
/// [`DELTAS`] from it (same partition) occur among the next [`WINDOW`]
/// events of that partition.
pub fn targets(events: &[Event]) -> Vec<[bool; CLASSES]> {
    // Each partition's events in order, as indices into `events`.
    let mut streams: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (index, event) in events.iter().enumerate() {
        streams.entry(event.partition).or_default().push(index);
    }
    let mut labels = alloc::vec![[false; CLASSES]; events.len()];
    for stream in streams.values() {
        for (position, &index) in stream.iter().enumerate() {
            let page = events[index].page as i64;
            for &later in stream.iter().skip(position + 1).take(WINDOW) {
                let delta = events[later].page as i64 - page;
                if let Some(class) = class_of(delta) {
                    labels[index][class] = true;
                }
            }
        }
    }
    labels
}

/// The output index predicting the page `delta` pages away, if any.
pub fn class_of(delta: i64) -> Option<usize> {
    match delta {
        -16..=-1 => Some((delta + 16) as usize),
        1..=32 => Some((delta + 15) as usize),
        _ => None,
    }
}

/// The pages to commit after `event` given the model's `scores` (one per
/// class, any monotone scale) and the lowest score to act on.
pub fn decisions<T: PartialOrd + Copy>(event: &Event, scores: &[T; CLASSES], threshold: T) -> Vec<u64> {
    scored_decisions(event, scores, threshold).map(|(_, page)| page).collect()
}

/// [`decisions`] with each page's score, in page order.
pub fn scored_decisions<'a, T: PartialOrd + Copy>(
    event: &'a Event,
    scores: &'a [T; CLASSES],
    threshold: T,
) -> impl Iterator<Item = (T, u64)> + 'a {
    DELTAS
        .iter()
        .zip(scores)
        .filter(move |&(_, &score)| score >= threshold)
        .filter_map(|(&delta, &score)| Some((score, event.page.checked_add_signed(delta)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(partition: u64, page: u64) -> Event {
        Event { partition, page, access: AccessKind::Write, kind: 3, source: Source::Fault }
    }

    #[test]
    fn deltas_fall_in_their_buckets() {
        assert_eq!(delta_bucket(None), 0);
        assert_eq!(delta_bucket(Some(1)), 1);
        assert_eq!(delta_bucket(Some(8)), 8);
        assert_eq!(delta_bucket(Some(-1)), 9);
        assert_eq!(delta_bucket(Some(-8)), 16);
        assert_eq!(delta_bucket(Some(9)), 17);
        assert_eq!(delta_bucket(Some(16)), 17);
        assert_eq!(delta_bucket(Some(17)), 18);
        assert_eq!(delta_bucket(Some(1024)), 23);
        assert_eq!(delta_bucket(Some(1025)), 24);
        assert_eq!(delta_bucket(Some(i64::MAX)), 24);
        assert_eq!(delta_bucket(Some(-9)), 25);
        assert_eq!(delta_bucket(Some(i64::MIN)), 32);
        assert_eq!(delta_bucket(Some(0)), 33);
        let buckets: alloc::collections::BTreeSet<usize> = (-3000..3000).map(|d| delta_bucket(Some(d))).collect();
        assert_eq!(buckets.len(), DELTA_BUCKETS - 1, "every bucket but `first` is reachable");
    }

    #[test]
    fn the_encoder_takes_deltas_per_partition() {
        let mut encoder = Encoder::new();
        assert_eq!(encoder.active(&fault(1, 100))[0], 0, "first of partition 1");
        assert_eq!(encoder.active(&fault(2, 500))[0], 0, "first of partition 2");
        assert_eq!(encoder.active(&fault(1, 101))[0], 1, "+1 in partition 1, whatever came between");
        assert_eq!(encoder.active(&fault(2, 498))[0], 10, "-2 in partition 2");
        let active = encoder.active(&Event { partition: 1, page: 101, access: AccessKind::Execute, kind: 1, source: Source::Accessed });
        assert_eq!(active, [33, DELTA_BUCKETS + 2, DELTA_BUCKETS + 3 + 1, DELTA_BUCKETS + 3 + 8 + 1]);
        let dense = encoder.dense(&fault(1, 90));
        assert_eq!(dense.iter().filter(|&&x| x == 1.0).count(), ACTIVE);
        assert_eq!(dense[25], 1.0, "-11 is in (8, 16] below");
    }

    #[test]
    fn the_encoder_forgets_the_least_recent_partition() {
        let mut encoder = Encoder::new();
        for partition in 0..Encoder::PARTITIONS as u64 {
            encoder.active(&fault(partition, 10));
        }
        encoder.active(&fault(0, 11));
        encoder.active(&fault(1000, 5));
        assert_eq!(encoder.last.len(), Encoder::PARTITIONS);
        assert_eq!(encoder.active(&fault(1, 11))[0], 0, "partition 1 was the least recent: forgotten");
        assert_eq!(encoder.active(&fault(0, 12))[0], 1, "partition 0 was refreshed: kept");
    }

    #[test]
    fn deltas_and_classes_agree() {
        for (class, &delta) in DELTAS.iter().enumerate() {
            assert_eq!(class_of(delta), Some(class));
        }
        assert_eq!(DELTAS[0], -16);
        assert_eq!(DELTAS[15], -1);
        assert_eq!(DELTAS[16], 1);
        assert_eq!(DELTAS[CLASSES - 1], 32);
        assert_eq!(class_of(0), None);
        assert_eq!(class_of(33), None);
        assert_eq!(class_of(-17), None);
    }

    #[test]
    fn targets_look_ahead_within_the_partition() {
        // Partition 1 goes 10, 11, 12, ...; partition 2 interleaves far away.
        let mut events = Vec::new();
        for step in 0..40 {
            events.push(fault(1, 10 + step));
            events.push(fault(2, 1000 - 3 * step));
        }
        let labels = targets(&events);
        let first = labels[0];
        let expected: Vec<usize> = (1..=16).map(|delta| class_of(delta).unwrap()).collect();
        let set: Vec<usize> = (0..CLASSES).filter(|&class| first[class]).collect();
        assert_eq!(set, expected, "the next 16 pages of partition 1");
        let second: Vec<i64> = (0..CLASSES).filter(|&class| labels[1][class]).map(|class| DELTAS[class]).collect();
        assert_eq!(second, [-15, -12, -9, -6, -3], "partition 2 strides -3: only those within -16");
        let last = labels[events.len() - 2];
        assert!(last.iter().all(|&label| !label), "nothing follows the last event");
    }

    #[test]
    fn first_touches_drop_repeats() {
        let events = [fault(1, 5), fault(1, 6), fault(1, 5), fault(2, 5), fault(1, 7)];
        assert_eq!(first_touches(&events), [fault(1, 5), fault(1, 6), fault(2, 5), fault(1, 7)]);
    }

    #[test]
    fn decisions_commit_the_pages_over_the_threshold() {
        let mut scores = [0u8; CLASSES];
        scores[class_of(1).unwrap()] = 200;
        scores[class_of(2).unwrap()] = 120;
        scores[class_of(-1).unwrap()] = 90;
        assert_eq!(decisions(&fault(1, 100), &scores, 100), [101, 102]);
        assert_eq!(decisions(&fault(1, 0), &scores, 50), [1, 2], "no page below 0");
    }
}
