//! The predictor on synthetic access patterns, through the real engine
//! (the host simulator), and its demotions against a synthetic view.

use super::*;
use crate::pager::simulator::Simulation;
use crate::policy::View;
use crate::vass::{Access, Page, PageRange, PartitionId, PartitionKind};
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// Where the first test partition starts, and its size.
const BASE: Page = 0x1000;
const SIZE: u64 = 4096;

fn sequential() -> Vec<Page> {
    (BASE..BASE + 2048).collect()
}

/// Two sequential streams in two partitions, taking turns.
fn interleaved() -> Vec<Page> {
    (0..1024).flat_map(|i| [BASE + i, BASE + SIZE + i]).collect()
}

fn distinct(accesses: &[Page]) -> u64 {
    let mut pages = accesses.to_vec();
    pages.sort_unstable();
    pages.dedup();
    pages.len() as u64
}

/// The repository's default model, as the kernel's ramdisk carries it.
fn default_model() -> alloc::sync::Arc<pae_model::integer::IntegerModel> {
    let bytes = include_bytes!("../../../pae-model/models/default.onnx");
    alloc::sync::Arc::new(pae_model::integer::IntegerModel::load(bytes).expect("the default model loads"))
}

#[test]
fn pae_commits_ahead_of_streams_one_step_per_fault() {
    for pattern in [sequential(), interleaved()] {
        let mut simulation = Simulation::new(Box::new(Pae::new(default_model())), 3 * SIZE);
        simulation.create(SIZE, PartitionKind::Buffer, Some(BASE)).unwrap();
        simulation.create(SIZE, PartitionKind::Buffer, Some(BASE + SIZE)).unwrap();
        for &page in &pattern {
            simulation.access(page, Access::Read);
        }
        let steps = simulation.policy_mut().counters().steps;
        let counters = simulation.finish();
        // The default model leaves about one fault in 16 of a scan, one in 4
        // of two scans taking turns.
        assert!(counters.faults_demand * 3 < distinct(&pattern), "{counters:?}");
        assert!(counters.hits * 10 >= counters.ahead_commits * 9, "accurate: {counters:?}");
        assert_eq!(steps, counters.faults_demand, "the model steps once per fault, nothing else");
    }
}

/// A view of two partitions, 1 and 2, with nothing committed and partition
/// 2's pages recently used or not.
struct TwoPartitions {
    used: bool,
}

impl View for TwoPartitions {
    fn is_committed(&self, _page: Page) -> bool {
        false
    }

    fn was_used(&self, _page: Page) -> bool {
        false
    }

    fn recently_used(&self, partition: PartitionId) -> bool {
        partition == PartitionId(2) && self.used
    }

    fn ranges_of(&self, partition: PartitionId) -> Vec<PageRange> {
        vec![PageRange::new(partition.0 * 0x1000, partition.0 * 0x1000 + 64)]
    }
}

#[test]
fn pae_demotes_a_partition_it_stops_hearing_of_once_until_it_heats_up() {
    let settings = Settings { cold_ticks: 20, ..Settings::DEFAULT };
    let event = |partition: u64, page: u64| pae_model::features::Event {
        partition,
        page: partition * 0x1000 + page,
        access: pae_model::features::AccessKind::Read,
        kind: PartitionKind::Buffer.code(),
        source: pae_model::features::Source::Fault,
    };
    let range = |partition: u64| PageRange::new(partition * 0x1000, partition * 0x1000 + 0x1000);
    // Partition 2 is stepped once, then partition 1 streams for a while.
    let demotions = |used: bool| {
        let mut pae = Pae::deferred(default_model(), settings);
        let view = TwoPartitions { used };
        let mut cold = Vec::new();
        pae.observe(&event(2, 0), range(2), 0, &view);
        for time in 0..200 {
            let plan = pae.observe(&event(1, time), range(1), time, &view);
            cold.extend(plan.cold.iter().map(|piece| (time, *piece)));
        }
        (pae, cold)
    };
    let (mut pae, cold) = demotions(false);
    assert_eq!(cold.len(), 1, "demoted once: {cold:?}");
    let (at, piece) = cold[0];
    assert_eq!(piece, PageRange::new(0x2000, 0x2040), "partition 2's pages, not the streaming one's");
    assert!(at >= 20, "only after cold_ticks below the cold threshold: at {at}");
    assert_eq!(pae.counters().demotions, 1);
    // Stepped again, it heats up past the commit threshold: eligible again.
    let view = TwoPartitions { used: false };
    for page in 1..4 {
        pae.observe(&event(2, page), range(2), 300 + page, &view);
    }
    let again: usize = (400..600).map(|time| pae.observe(&event(1, time), range(1), time, &view).cold.len()).sum();
    assert_eq!(again, 1, "demoted once more after heating up");
    let (_, cold) = demotions(true);
    assert!(cold.is_empty(), "a partition whose pages are in use is not demoted: {cold:?}");
}
