//! The ledger: each event that changes a partition's counters changes its
//! space's in the same call, so the two cannot drift apart (the checker's
//! committed-count and ahead-balance invariants hold by construction), and
//! a space's footprint is brought up to date before its committed count
//! moves. The engine gets one with `Vass::ledger(partition)`.
//!
//! What only a space counts (fault outcomes, swap I/O, cycles) and what
//! only a partition counts (its faults, for its access frequency) is
//! bumped where it happens; everything counted on both sides goes through
//! here.

#![forbid(unsafe_code)]

use super::partition::{Partition, SpaceState, Tick};

/// One partition's counters and its space's, for one event.
pub struct Ledger<'a> {
    partition: &'a mut Partition,
    space: &'a mut SpaceState,
    now: Tick,
}

impl<'a> Ledger<'a> {
    /// The ledger of `partition` and its space `space` at time `now`.
    pub fn new(partition: &'a mut Partition, space: &'a mut SpaceState, now: Tick) -> Ledger<'a> {
        Ledger { partition, space, now }
    }

    /// `pages` more pages are committed (already in the partition's
    /// residency): the partition's and the space's peaks follow.
    pub fn committed(&mut self, pages: u64) {
        let held = self.partition.committed.len() as u64;
        self.partition.counters.peak_committed = self.partition.counters.peak_committed.max(held);
        self.space.account(self.now);
        let counters = &mut self.space.counters;
        counters.committed += pages;
        counters.peak_committed = counters.peak_committed.max(counters.committed);
    }

    /// `pages` committed pages are what they were committed for: ahead of
    /// use (`ahead`), or loaded with the program.
    pub fn filled(&mut self, pages: u64, ahead: bool) {
        if ahead {
            self.partition.counters.ahead_commits += pages;
            self.space.counters.ahead_commits += pages;
        } else {
            self.partition.counters.loaded += pages;
            self.space.counters.loaded += pages;
        }
    }

    /// A fault committed a fresh page.
    pub fn demand_commit(&mut self) {
        self.partition.counters.demand_commits += 1;
        self.space.counters.demand_commits += 1;
    }

    /// A page came back from swap.
    pub fn swapped_in(&mut self) {
        self.space.counters.swap_ins += 1;
    }

    /// A fault read a page back from swap: a major fault of the partition
    /// (its space counts major faults with the other fault outcomes).
    pub fn major_fault(&mut self) {
        self.partition.counters.major_faults += 1;
    }

    /// `hits` pages committed ahead were seen used, after `sampled`
    /// accessed bits were read.
    pub fn hits(&mut self, hits: u64, sampled: u64) {
        self.partition.counters.hits += hits;
        self.space.counters.hits += hits;
        self.space.counters.sampled += sampled;
    }

    /// `released` committed pages were decommitted, of which `hits` had
    /// been committed ahead and used and `waste` committed ahead and never
    /// used (each read one accessed bit).
    pub fn released(&mut self, released: u64, hits: u64, waste: u64) {
        let partition = &mut self.partition.counters;
        partition.hits += hits;
        partition.waste += waste;
        partition.decommits += released;
        self.space.account(self.now);
        let counters = &mut self.space.counters;
        counters.committed -= released;
        counters.decommits += released;
        counters.hits += hits;
        counters.waste += waste;
        counters.sampled += hits + waste;
    }

    /// A committed page was evicted; `untouched`: committed ahead and
    /// never used (waste).
    pub fn evicted(&mut self, untouched: bool) {
        let partition = &mut self.partition.counters;
        partition.evictions += 1;
        partition.waste += u64::from(untouched);
        self.space.account(self.now);
        let counters = &mut self.space.counters;
        counters.committed -= 1;
        counters.evictions += 1;
        if untouched {
            counters.waste += 1;
            counters.evicted_untouched += 1;
        }
    }

    /// A block became a 2 MiB page.
    pub fn promoted(&mut self) {
        self.partition.counters.promotions += 1;
        self.space.counters.promotions += 1;
    }

    /// A 2 MiB page was split back into 4 KiB pages (or unmapped whole).
    pub fn demoted(&mut self) {
        self.partition.counters.demotions += 1;
        self.space.counters.demotions += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vass::{PartitionId, PartitionKind, SpaceCounters, SpaceId};
    use abi::Rights;

    fn partition() -> Partition {
        Partition {
            id: PartitionId(1),
            space: SpaceId(1),
            kind: PartitionKind::Heap,
            rights: Rights::READ,
            overrides: Default::default(),
            max_rights: Rights::READ,
            ranges: alloc::vec::Vec::new(),
            committed: Default::default(),
            huge: Default::default(),
            fill: Default::default(),
            untouched: Default::default(),
            swapped: Default::default(),
            backing: Default::default(),
            hints: Default::default(),
            cold: Default::default(),
            locked: Default::default(),
            idle_scans: 0,
            counters: Default::default(),
            recent_faults: Default::default(),
            recent_accessed: Default::default(),
            recent_shared_faults: Default::default(),
            recent_invalidations: Default::default(),
            sealed: false,
            ordinal: 0,
            view: None,
            views: Default::default(),
            versions: Default::default(),
        }
    }

    #[test]
    fn both_sides_move_together_and_the_footprint_is_accounted_first() {
        let (mut partition, mut space) = (partition(), SpaceState::default());
        Ledger::new(&mut partition, &mut space, 0).committed(4);
        Ledger::new(&mut partition, &mut space, 0).filled(4, true);
        // Ten ticks with four pages, then one evicted untouched and two
        // released (one used, one not).
        Ledger::new(&mut partition, &mut space, 10).evicted(true);
        Ledger::new(&mut partition, &mut space, 10).released(2, 1, 1);
        let counters: SpaceCounters = space.counters;
        assert_eq!(counters.footprint, 40, "accounted before the count moved");
        assert_eq!((counters.committed, counters.peak_committed), (1, 4));
        assert_eq!((counters.ahead_commits, counters.hits, counters.waste, counters.evicted_untouched), (4, 1, 2, 1));
        let p = partition.counters;
        assert_eq!((p.ahead_commits, p.hits, p.waste, p.evictions, p.decommits), (4, 1, 2, 1, 2));
        Ledger::new(&mut partition, &mut space, 10).promoted();
        Ledger::new(&mut partition, &mut space, 10).demoted();
        assert_eq!((partition.counters.promotions, space.counters.promotions, space.counters.demotions), (1, 1, 1));
    }
}
