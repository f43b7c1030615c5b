//! Leap's majority-trend prefetcher (Maruf and Chowdhury, USENIX ATC 2020),
//! applied to commitment.

use super::{CommitPolicy, Fault, Plan, Policy, View};
use crate::vass::{Page, PageRange};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Fault deltas kept.
const HISTORY: usize = 32;
/// The windows of recent deltas the vote looks at, smallest first.
const WINDOWS: [usize; 4] = [4, 8, 16, 32];

/// The trend detector and its prefetch depth, for the whole process.
#[derive(Debug)]
pub struct Leap {
    deltas: VecDeque<i64>,
    last: Option<Page>,
    depth: u64,
    max_depth: u64,
    /// The pages committed by the last prefetch.
    prefetched: Vec<Page>,
    /// The trend of the last prefetch.
    last_trend: Option<i64>,
}

impl Default for Leap {
    /// Depth 4 at first, at most 32.
    fn default() -> Leap {
        Leap::new(4, 32)
    }
}

/// The Boyer–Moore majority of `values`, if one value fills more than half.
pub fn majority(values: impl Iterator<Item = i64> + Clone) -> Option<i64> {
    let mut candidate = 0;
    let mut count = 0usize;
    for value in values.clone() {
        if count == 0 {
            candidate = value;
            count = 1;
        } else if value == candidate {
            count += 1;
        } else {
            count -= 1;
        }
    }
    let (mut votes, mut total) = (0usize, 0usize);
    for value in values {
        total += 1;
        votes += usize::from(value == candidate);
    }
    (total > 0 && votes * 2 > total).then_some(candidate)
}

impl Leap {
    /// Prefetch depth starts at `depth` pages and never exceeds `max_depth`.
    pub fn new(depth: u64, max_depth: u64) -> Leap {
        Leap { deltas: VecDeque::with_capacity(HISTORY), last: None, depth: depth.max(1), max_depth: max_depth.max(1), prefetched: Vec::new(), last_trend: None }
    }

    /// The trend of the recent deltas: the majority of the smallest window
    /// (of the most recent deltas) that has one.
    pub fn trend(&self) -> Option<i64> {
        WINDOWS.iter().filter(|&&window| window <= self.deltas.len()).find_map(|&window| {
            majority(self.deltas.iter().rev().take(window).copied())
        })
    }

    /// The prefetch depth now.
    pub fn depth(&self) -> u64 {
        self.depth
    }
}

impl Policy for Leap {
    fn identity(&self) -> CommitPolicy {
        CommitPolicy::Leap
    }

    fn on_fault(&mut self, fault: &Fault, view: &dyn View) -> Plan {
        let page = fault.page;
        if let Some(last) = self.last {
            let mut delta = page.wrapping_sub(last) as i64;
            // Accesses to prefetched pages do not fault, but Leap's history
            // sees them: a fault just past the last prefetch along the
            // trend continues the trend, so it counts as one more step of it.
            if let (Some(trend), Some(&end)) = (self.last_trend, self.prefetched.last())
                && page == end.wrapping_add(trend as u64)
            {
                delta = trend;
            }
            if self.deltas.len() == HISTORY {
                self.deltas.pop_front();
            }
            self.deltas.push_back(delta);
        }
        self.last = Some(page);
        // The depth follows how many of the last prefetched pages were used.
        if !self.prefetched.is_empty() {
            let used = self.prefetched.iter().filter(|&&p| view.was_used(p)).count() as u64;
            let asked = self.prefetched.len() as u64;
            self.depth = if used == asked {
                (self.depth * 2).min(self.max_depth)
            } else if used == 0 {
                (self.depth / 2).max(1)
            } else {
                used.next_power_of_two().clamp(1, self.max_depth)
            };
            self.prefetched.clear();
        }
        self.last_trend = self.trend().filter(|&trend| trend != 0);
        let Some(trend) = self.last_trend else { return Plan::none() };
        let mut plan = Plan::none();
        let mut next = page;
        for _ in 0..self.depth {
            next = next.wrapping_add(trend as u64);
            if !fault.range.contains(next) {
                break;
            }
            if !view.is_committed(next) {
                plan.add(PageRange::new(next, next + 1));
                self.prefetched.push(next);
            }
        }
        plan
    }
}
