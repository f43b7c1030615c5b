//! Linux's on-demand readahead, applied to commitment, one stream per
//! partition.

use super::{CommitPolicy, Fault, Plan, Policy, View};
use crate::vass::{Page, PageRange, PartitionId};
use alloc::collections::BTreeMap;

/// One partition's stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Stream {
    /// The previous fault.
    last: Page,
    /// One past the last page of the window committed ahead.
    window_end: Page,
    /// The window size in pages (0: no stream).
    window: u64,
}

/// Sequential detection with a window that grows on hits and shrinks on
/// misses, per partition.
#[derive(Debug)]
pub struct Readahead {
    streams: BTreeMap<PartitionId, Stream>,
    initial: u64,
    max: u64,
}

impl Default for Readahead {
    /// Windows of 4 pages growing to 32 (Linux's 128 KiB default).
    fn default() -> Readahead {
        Readahead::new(4, 32)
    }
}

impl Readahead {
    /// Windows start at `initial` pages and grow to `max`.
    pub fn new(initial: u64, max: u64) -> Readahead {
        Readahead { streams: BTreeMap::new(), initial: initial.max(1), max: max.max(initial.max(1)) }
    }

    /// The window of the stream of `partition` now (for tests and reports).
    pub fn window(&self, partition: PartitionId) -> u64 {
        self.streams.get(&partition).map_or(0, |stream| stream.window)
    }
}

impl Policy for Readahead {
    fn identity(&self) -> CommitPolicy {
        CommitPolicy::Readahead
    }

    fn on_fault(&mut self, fault: &Fault, _view: &dyn View) -> Plan {
        let page = fault.page;
        let stream = self.streams.entry(fault.partition).or_default();
        let known = stream.window_end != 0 || stream.last != 0;
        stream.window = if known && stream.window > 0 && page == stream.window_end {
            // The stream ran through the whole window: every page was a hit.
            (stream.window * 2).min(self.max)
        } else if known && page == stream.last + 1 {
            // Two faults in a row: a new sequential stream.
            self.initial
        } else {
            // A miss: the window shrinks, and goes once below the start size.
            let half = stream.window / 2;
            if half < self.initial { 0 } else { half }
        };
        stream.last = page;
        if stream.window == 0 {
            stream.window_end = 0;
            return Plan::none();
        }
        let end = page.saturating_add(1 + stream.window).min(fault.range.end);
        stream.window_end = end;
        let mut plan = Plan::none();
        plan.add(PageRange::new(page + 1, end));
        plan
    }

    fn on_destroy(&mut self, partition: PartitionId) {
        self.streams.remove(&partition);
    }
}
