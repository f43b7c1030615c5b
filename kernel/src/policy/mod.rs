//! Commit policies: from the faults of one process (and what became of the
//! pages they committed before), decide which pages to commit ahead of use.
//!
//! Safe Rust with no hardware in sight: the kernel runs these against its
//! VASS, the host simulator (`pager::simulator`, `cargo xtask sim`) against
//! the same engine over a simulated MMU, both through one fault path
//! (`pager::serve_fault`), so both count the same.
//!
//! - [`Demand`]: commits nothing ahead (every first touch faults).
//! - [`Eager`]: commits every partition whole when it is created.
//! - [`Readahead`]: Linux's on-demand readahead, per partition: a fault
//!   right after the previous one starts a window (4 pages); a fault at the
//!   end of the window (the stream consumed it) doubles it up to a maximum
//!   (32); a fault anywhere else halves it, down to nothing.
//! - [`Leap`]: the majority-trend prefetcher of Leap (USENIX ATC 2020): the
//!   recent fault deltas of the process, a Boyer–Moore majority vote over
//!   growing windows of them, prefetch along the trend with a depth that
//!   follows how many of the last prefetched pages were used; no majority,
//!   no prefetch.
//! - [`Oracle`]: for replayed traces only; it knows the future access
//!   sequence and at each fault commits the next 32 pages whose first touch
//!   is still ahead: exactly the pages that will be touched next, the upper
//!   bound to compare against. Once pages fault again (under a budget), it
//!   brings in only pages touched within the next 256 accesses, evicted
//!   ones included.
//! - [`crate::pae::Pae`]: the Predictive Allocation Engine's predictor,
//!   which lives with the rest of the PAE (`crate::pae`): a quantized GRU
//!   (`pae_model::integer`, integer-only) reads each fault and gives, for
//!   48 pages around it, the probability they are touched soon; those over
//!   its threshold are committed.
//!
//! Each policy says which it is as an `abi::CommitPolicy`
//! ([`Policy::identity`]), never by name; [`plain`] makes the plain ones
//! (demand, eager, readahead, leap).

#![forbid(unsafe_code)]

mod leap;
mod readahead;

pub use leap::Leap;
pub use readahead::Readahead;
/// The PAE's predictor is a policy too; it lives with the rest of the PAE.
pub use crate::pae::Pae;

pub use abi::CommitPolicy;

use crate::vass::{Access, Cold, FrameSource, Page, PageRange, PageTable, PartitionId, PartitionKind, SpaceId, Tick, Vass};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// A fault the engine resolved by committing `page` on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The partition the page belongs to.
    pub partition: PartitionId,
    /// The faulting page.
    pub page: Page,
    /// The partition's range holding the page (policies stay inside it).
    pub range: PageRange,
    /// The access that faulted.
    pub access: Access,
    /// The partition's kind.
    pub kind: PartitionKind,
    /// When.
    pub time: Tick,
}

/// What a policy may ask about the process's pages.
pub trait View {
    /// Whether `page` is committed.
    fn is_committed(&self, page: Page) -> bool;
    /// Whether `page` is committed and has been used since (pages committed
    /// ahead count once the processor marked them accessed).
    fn was_used(&self, page: Page) -> bool;
    /// Whether a committed page of the process's partition `partition` has
    /// its accessed bit set (touched since the bit was last cleared, by the
    /// sampler or an eviction sweep).
    fn recently_used(&self, _partition: PartitionId) -> bool {
        false
    }
    /// The ranges of the process's partition `partition` (none if it is gone).
    fn ranges_of(&self, _partition: PartitionId) -> Vec<PageRange> {
        Vec::new()
    }
}

/// The VASS as a policy sees one address space, with the accessed bits
/// of its page tables (read, never cleared). The kernel and the simulator
/// both use it, with their own page tables.
pub struct EngineView<'a, T: PageTable> {
    /// The engine.
    pub vass: &'a Vass,
    /// The address space.
    pub space: SpaceId,
    /// Its page tables.
    pub table: &'a T,
}

impl<T: PageTable> EngineView<'_, T> {
    fn accessed(&self, page: Page) -> bool {
        crate::vass::accessed(self.table, self.space, page)
    }
}

impl<T: PageTable> View for EngineView<'_, T> {
    fn is_committed(&self, page: Page) -> bool {
        self.vass.lookup(self.space, page).is_some_and(|partition| partition.committed.contains_key(&page))
    }

    fn was_used(&self, page: Page) -> bool {
        let Some(partition) = self.vass.lookup(self.space, page) else { return false };
        partition.committed.contains_key(&page) && (!partition.untouched.contains(&page) || self.accessed(page))
    }

    fn recently_used(&self, partition: PartitionId) -> bool {
        self.vass
            .partition(partition)
            .filter(|entry| entry.space == self.space)
            .is_some_and(|entry| entry.committed.keys().any(|&page| self.accessed(page)))
    }

    fn ranges_of(&self, partition: PartitionId) -> Vec<PageRange> {
        self.vass.partition(partition).filter(|entry| entry.space == self.space).map(|entry| entry.ranges.clone()).unwrap_or_default()
    }
}

/// What a policy asks the engine to do: commit these pages, and hold
/// those cold (of any partition of the process; pages outside partitions,
/// or already committed for `commit`, are skipped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Pages to commit ahead of use.
    pub commit: Vec<PageRange>,
    /// Pages predicted not to be touched soon: under the default eviction
    /// ([`crate::vass::Eviction::ColdFirst`]) they are the first to be
    /// swapped out when memory is short ([`crate::vass::Cold::Predicted`];
    /// a fault on one of them clears its mark).
    pub cold: Vec<PageRange>,
}

impl Plan {
    /// Nothing to do.
    pub fn none() -> Plan {
        Plan::default()
    }

    /// Adds `range` (merging it into the previous range when adjacent).
    pub fn add(&mut self, range: PageRange) {
        if range.is_empty() {
            return;
        }
        match self.commit.last_mut() {
            Some(last) if last.end == range.start => last.end = range.end,
            _ => self.commit.push(range),
        }
    }

    /// Pages asked for.
    pub fn pages(&self) -> u64 {
        self.commit.iter().map(PageRange::len).sum()
    }

    /// Adds `range` to the pages predicted cold.
    pub fn hold_cold(&mut self, range: PageRange) {
        if !range.is_empty() {
            self.cold.push(range);
        }
    }
}

/// A commit policy for one process.
pub trait Policy: Send {
    /// Which policy it is (its name is `identity().name()`).
    fn identity(&self) -> CommitPolicy;

    /// A partition was created with these ranges.
    fn on_create(&mut self, _partition: PartitionId, _ranges: &[PageRange]) -> Plan {
        Plan::none()
    }

    /// A fault was resolved by committing `fault.page`.
    fn on_fault(&mut self, fault: &Fault, view: &dyn View) -> Plan;

    /// A partition is gone.
    fn on_destroy(&mut self, _partition: PartitionId) {}
}

/// Commits on demand only.
#[derive(Debug, Default)]
pub struct Demand;

impl Policy for Demand {
    fn identity(&self) -> CommitPolicy {
        CommitPolicy::Demand
    }

    fn on_fault(&mut self, _fault: &Fault, _view: &dyn View) -> Plan {
        Plan::none()
    }
}

/// Commits whole partitions at creation.
#[derive(Debug, Default)]
pub struct Eager;

impl Policy for Eager {
    fn identity(&self) -> CommitPolicy {
        CommitPolicy::Eager
    }

    fn on_create(&mut self, _partition: PartitionId, ranges: &[PageRange]) -> Plan {
        let mut plan = Plan::none();
        for &range in ranges {
            plan.add(range);
        }
        plan
    }

    fn on_fault(&mut self, _fault: &Fault, _view: &dyn View) -> Plan {
        Plan::none()
    }
}

/// Knows the future: the access sequence of a replayed trace.
///
/// Every page faults at most once when nothing is evicted, at its first
/// touch; so at each fault the oracle commits the next `budget` pages whose
/// first touch is still ahead (within `lookahead` accesses), exactly the
/// pages that will be touched next and nothing else. Under memory pressure
/// a page evicted earlier faults again: at such a re-fault the oracle also
/// brings back the evicted pages touched within the next
/// [`Oracle::REFAULT_WINDOW`] accesses, soonest first, within the same
/// `budget`.
#[derive(Debug)]
pub struct Oracle {
    future: Vec<Page>,
    /// Pages in order of first touch, with the index of that touch.
    firsts: Vec<(usize, Page)>,
    /// Index of each page's first touch.
    first_touch: BTreeMap<Page, usize>,
    /// Every page's touches, in order.
    uses: BTreeMap<Page, Vec<usize>>,
    /// Where the program is in `future`.
    cursor: usize,
    /// Whether a page has faulted twice (memory is under pressure): then
    /// only pages touched within the next `REFAULT_WINDOW` accesses are
    /// brought in, first touches included.
    pressure: bool,
    /// The next entry of `firsts` not yet passed.
    next_first: usize,
    lookahead: usize,
    budget: u64,
}

impl Oracle {
    /// Accesses it looks ahead by default: all of them.
    pub const LOOKAHEAD: usize = usize::MAX;
    /// Pages it commits per fault at most by default.
    pub const BUDGET: u64 = 32;
    /// Accesses it looks ahead for evicted pages at a re-fault.
    pub const REFAULT_WINDOW: usize = 256;

    /// An oracle over the whole access sequence `future` (pages in the
    /// order they will be touched) that looks `lookahead` accesses ahead
    /// and commits at most `budget` pages per fault.
    pub fn new(future: Vec<Page>, lookahead: usize, budget: u64) -> Oracle {
        let mut first_touch = BTreeMap::new();
        let mut firsts = Vec::new();
        let mut uses: BTreeMap<Page, Vec<usize>> = BTreeMap::new();
        for (index, &page) in future.iter().enumerate() {
            first_touch.entry(page).or_insert_with(|| {
                firsts.push((index, page));
                index
            });
            uses.entry(page).or_default().push(index);
        }
        Oracle { future, firsts, first_touch, uses, cursor: 0, pressure: false, next_first: 0, lookahead, budget }
    }
}

impl Policy for Oracle {
    fn identity(&self) -> CommitPolicy {
        CommitPolicy::Oracle
    }

    fn on_fault(&mut self, fault: &Fault, view: &dyn View) -> Plan {
        // Where in the sequence the program is: the page's first touch if
        // that is still ahead, else its next touch from here on.
        let cursor = self.cursor;
        let position = self.uses.get(&fault.page).and_then(|uses| uses.get(uses.partition_point(|&at| at < cursor))).copied();
        let Some(position) = position else { return Plan::none() };
        let refault = self.first_touch.get(&fault.page).is_some_and(|&first| first < position);
        self.pressure |= refault;
        self.cursor = position + 1;
        let lookahead = if self.pressure { self.lookahead.min(Self::REFAULT_WINDOW) } else { self.lookahead };
        while self.firsts.get(self.next_first).is_some_and(|&(index, _)| index < self.cursor) {
            self.next_first += 1;
        }
        // (index of the touch, page): first touches ahead, then at a
        // re-fault the evicted pages touched soon; the soonest `budget`.
        let mut candidates: Vec<(usize, Page)> = Vec::new();
        for &(index, page) in &self.firsts[self.next_first..] {
            if candidates.len() as u64 >= self.budget || index - self.cursor > lookahead {
                break;
            }
            if !view.is_committed(page) {
                candidates.push((index, page));
            }
        }
        if self.pressure {
            let end = self.future.len().min(self.cursor.saturating_add(lookahead));
            for (offset, &page) in self.future[self.cursor..end].iter().enumerate() {
                if page != fault.page && !view.is_committed(page) {
                    candidates.push((self.cursor + offset, page));
                }
            }
            candidates.sort_unstable();
        }
        let mut wanted = BTreeSet::new();
        for (_, page) in candidates {
            if wanted.len() as u64 >= self.budget {
                break;
            }
            wanted.insert(page);
        }
        let mut plan = Plan::none();
        for page in wanted {
            plan.add(PageRange::new(page, page + 1));
        }
        plan
    }
}

/// Holds `plan.cold` cold, then commits what `plan` asks for in `space`,
/// piece by piece within its partitions; pages outside partitions are skipped and a piece stops at
/// the first page no frame is left for. `on_commit` hears each piece (its
/// partition, its pages, how many were newly committed). Returns the pages
/// committed.
pub fn apply(
    vass: &mut Vass,
    space: SpaceId,
    plan: &Plan,
    table: &mut impl PageTable,
    frames: &mut impl FrameSource,
    mut on_commit: impl FnMut(PartitionId, PageRange, u64),
) -> u64 {
    for range in &plan.cold {
        let mut page = range.start;
        while page < range.end {
            match piece_at(vass, space, page, range.end) {
                Some((id, piece)) => {
                    vass.hold_cold(space, id, piece, Cold::Predicted, table);
                    page = piece.end;
                }
                None => page += 1,
            }
        }
    }
    let mut committed = 0;
    // Prefetching backs off while pages committed ahead are evicted unused.
    let mut allowance = vass.prefetch_depth(space).unwrap_or(u64::MAX);
    for range in &plan.commit {
        let mut page = range.start;
        while page < range.end && allowance > 0 {
            let Some((id, piece)) = piece_at(vass, space, page, range.end) else {
                page += 1;
                continue;
            };
            let piece = PageRange::new(piece.start, piece.end.min(piece.start.saturating_add(allowance)));
            allowance -= piece.len();
            let pages = vass.prefetch(space, id, piece, table, frames).unwrap_or(0);
            on_commit(id, piece, pages);
            committed += pages;
            vass.planned(space, Some(piece));
            page = piece.end;
        }
        if page < range.end {
            // What the depth declined is remembered: faults on it regrow the depth.
            vass.decline_prefetch(space, PageRange::new(page, range.end));
        }
    }
    vass.planned(space, None);
    committed
}

/// The partition of `space` holding `page` and its pages from `page` up to
/// `end` or the end of the partition's range, whichever comes first.
fn piece_at(vass: &Vass, space: SpaceId, page: Page, end: Page) -> Option<(PartitionId, PageRange)> {
    let partition = vass.lookup(space, page)?;
    let owned = partition.range_of(page)?;
    Some((partition.id, PageRange::new(page, owned.end.min(end))))
}

/// The policies that need nothing to be made ([`plain`]).
pub const PLAIN: [CommitPolicy; 4] = [CommitPolicy::Demand, CommitPolicy::Eager, CommitPolicy::Readahead, CommitPolicy::Leap];

/// A fresh policy `identity`, if it is one of [`PLAIN`] (the oracle needs
/// the future, `pae` a model).
pub fn plain(identity: CommitPolicy) -> Option<Box<dyn Policy>> {
    Some(match identity {
        CommitPolicy::Demand => Box::new(Demand),
        CommitPolicy::Eager => Box::new(Eager),
        CommitPolicy::Readahead => Box::new(Readahead::default()),
        CommitPolicy::Leap => Box::new(Leap::default()),
        CommitPolicy::Oracle | CommitPolicy::Pae => return None,
    })
}

#[cfg(test)]
mod tests;
