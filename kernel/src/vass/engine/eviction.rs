//! Budgets and eviction: when a space (or, under the global budget or when
//! frames run out, the system) gives up a page, the steps every policy
//! shares (cold pages first if the policy says so, then prefetched pages
//! nobody used), what a commit ahead may push out ([`Need`]), the warm
//! page the replacement policy picks (`vass::replacement`, through
//! [`SpaceResidents`]) and writing evicted pages to swap.
//!
//! **Which budget.** Over its own budget a space gives up one of its own
//! pages ([`Vass::evict_one`]); over the global budget, or when no frame is
//! free, the system does ([`Vass::evict_global`]): cold pages of any space
//! first, then the space with the most pages committed, among the spaces
//! the [`PageTable`] reaches. Pages inside 2 MiB pages and pages locked
//! with `Advice::Lock` are never evicted (locked pages still count toward
//! the budget).
//!
//! **What a commit may push out.** A fault or the loader may evict any page
//! (`Need::Now`); a commit ahead only pages not in use (untouched prefetched
//! pages and pages whose accessed bit is clear), never one of its own range
//! or of what the plan being applied committed before it
//! (`SpaceState::planned`); a policy's guess of a page never used before
//! (`Need::Guess`) only an earlier guess still untouched.
//!
//! **Prefetching backs off.** Each page committed ahead and evicted
//! untouched halves the space's prefetch depth (`SpaceState::prefetch_depth`,
//! which `policy::apply` obeys), down to none; each fault on a page a plan
//! asked for and the depth declined (`SpaceState::declined`), with nothing
//! evicted since, grows it by one again, so plans are still judged while
//! nothing is prefetched.
//!
//! **Writing to swap.** An evicted page is written only if its contents
//! exist nowhere else (`swap::Backing`: a clean zero page is dropped, a
//! clean page read back from swap still has its copy); a failed write
//! quarantines the slot and the page stays, so the eviction goes elsewhere.

use super::*;
use crate::vass::replacement::{ColdFirst, Resident, Residents};

/// Most cold pages one eviction swaps out together (as Linux's
/// `SWAP_CLUSTER_MAX`): a cold partition leaves in clusters, not a page per
/// fault, without one fault paying for all of a large partition's I/O.
pub const COLD_CLUSTER: u64 = 32;

/// Why a page is being committed, which decides what may be evicted for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Need {
    /// A fault or the loader: any page may go.
    Now,
    /// Ahead of use, as part of `range`: only pages not in use may go.
    Ahead(PageRange),
    /// A commit policy's guess, as part of `range`, of a page never used
    /// before: right, it saves a first-touch fault, never a major one, so
    /// only earlier guesses still untouched may go for it, never a page
    /// in use or used (a guess of a swapped-out page is [`Need::Ahead`]).
    Guess(PageRange),
}

impl Vass {
    /// Whether `space` (or the whole system) is under a budget: then no
    /// 2 MiB pages are made, so every page can be evicted on its own.
    pub(super) fn budgeted(&self, space: SpaceId) -> bool {
        self.global_budget.is_some() || self.budget(space).is_some()
    }

    /// Evicts pages until one more page of `space` fits its budget (its
    /// own pages go) and the global budget (see [`Vass::evict_global`]).
    /// Fails with `OutOfFrames` when nothing can go.
    pub(super) fn make_room(&mut self, space: SpaceId, need: Need, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<(), VassError> {
        loop {
            let committed = self.spaces.get(&space).map_or(0, |state| state.counters.committed);
            let total: u64 = self.spaces.values().map(|state| state.counters.committed).sum();
            let evicted = if self.budget(space).is_some_and(|budget| committed >= budget) {
                self.evict_one(space, need, table, frames)
            } else if self.global_budget.is_some_and(|budget| total >= budget) {
                self.evict_global(space, need, table, frames)
            } else {
                return Ok(());
            };
            if !evicted {
                return Err(VassError::OutOfFrames);
            }
        }
    }

    /// A frame for `space`: when memory is exhausted, a page is given up
    /// (see [`Vass::evict_global`]) and the allocation is tried again.
    pub(super) fn allocate_frame(
        &mut self,
        space: SpaceId,
        owner: PartitionId,
        need: Need,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<UserFrame, VassError> {
        loop {
            if let Some(frame) = frames.allocate(owner) {
                return Ok(frame);
            }
            if !self.evict_global(space, need, table, frames) {
                return Err(VassError::OutOfFrames);
            }
        }
    }

    /// Gives up one page anywhere, for `space`, when the system as a whole
    /// is short (the global budget, or no free frame): under
    /// [`Eviction::ColdFirst`] cold pages of any space first (a cluster,
    /// see [`Vass::evict_cold`]); then the space with the most pages
    /// committed gives one (the largest consumer pays; `space`
    /// itself first among equals), else the next largest, among the spaces
    /// `table` reaches. Another space's pages go as for a commit ahead
    /// when `space` commits ahead (only pages not in use), else as for a
    /// fault. Returns whether a page went.
    pub(super) fn evict_global(&mut self, space: SpaceId, need: Need, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        let mut victims: Vec<(u64, bool, SpaceId)> = self
            .spaces
            .iter()
            .filter(|&(&id, state)| state.counters.committed > 0 && table.reaches(id))
            .map(|(&id, state)| (state.counters.committed, id == space, id))
            .collect();
        victims.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let need_of = |own: bool| match need {
            Need::Ahead(_) if !own => Need::Ahead(PageRange::new(0, 0)),
            Need::Guess(_) if !own => Need::Guess(PageRange::new(0, 0)),
            need => need,
        };
        // Cold pages anywhere go before any space's warm pages.
        (self.replacement_is_cold_first()
            && victims.iter().any(|&(_, own, victim)| self.evict_cold(victim, need_of(own), table, frames)))
            || victims.into_iter().any(|(_, own, victim)| self.evict_warm(victim, need_of(own), table, frames))
    }

    /// The first committed 4 KiB page of `space` after `after` in (partition,
    /// page) order, wrapping around once; pages inside 2 MiB pages and
    /// locked pages are skipped (they are not evicted).
    pub(super) fn next_resident(&self, space: SpaceId, after: Option<(PartitionId, Page)>) -> Option<(PartitionId, Page)> {
        use core::ops::Bound::{Excluded, Unbounded};
        let first = |partition: &Partition, from: core::ops::Bound<Page>| {
            partition
                .committed
                .range((from, Unbounded))
                .map(|(&page, _)| page)
                .find(|&page| !partition.huge.contains(&block_of(page)) && !partition.is_locked(page))
        };
        let (start_id, start_page) = after.unwrap_or((PartitionId(0), 0));
        // The rest of the partition the hand is in, then later partitions,
        // then from the beginning.
        if let Some(partition) = self.partitions.get(&start_id).filter(|partition| partition.space == space)
            && let Some(page) = first(partition, Excluded(start_page))
        {
            return Some((start_id, page));
        }
        let ids = self.ids_of(space);
        let later = ids.range((Excluded(start_id), Unbounded));
        let earlier = ids.range(..=start_id);
        later
            .chain(earlier)
            .filter_map(|id| self.partitions.get(id))
            .find_map(|partition| first(partition, Unbounded).map(|page| (partition.id, page)))
    }

    /// Gives up one committed page of `space` (see [`Eviction`]). Returns
    /// whether one went. For a page committed ahead ([`Need::Ahead`]) only
    /// pages not in use go: prefetched pages not touched yet and pages
    /// whose accessed bit is clear, never one of the range being committed,
    /// and no accessed bit is cleared; for a guess ([`Need::Guess`]) only
    /// prefetched pages not touched yet.
    pub(super) fn evict_one(&mut self, space: SpaceId, need: Need, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        (self.replacement_is_cold_first() && self.evict_cold(space, need, table, frames)) || self.evict_warm(space, need, table, frames)
    }

    /// What an eviction from `space` for `need` leaves alone: for a commit
    /// ahead, the range being committed and what the plan being applied
    /// has committed ahead before it ([`SpaceState::planned`]), so a plan
    /// never pushes out its own pages.
    pub(super) fn spared(&self, space: SpaceId, need: Need) -> impl Fn(Page) -> bool + use<> {
        let planned = match need {
            Need::Ahead(_) | Need::Guess(_) => self.spaces.get(&space).map(|state| state.planned.clone()).unwrap_or_default(),
            Need::Now => Vec::new(),
        };
        move |page| match need {
            Need::Ahead(range) | Need::Guess(range) => range.contains(page) || planned.iter().any(|planned| planned.contains(page)),
            Need::Now => false,
        }
    }

    /// [`Vass::evict_one`] after the cold steps: untouched prefetched
    /// pages, then CLOCK (or Belady's choice).
    pub(super) fn evict_warm(&mut self, space: SpaceId, need: Need, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        let spared = self.spared(space, need);
        // Pages committed ahead that were never touched go first. Each
        // look starts after the previous candidate, so a page that cannot
        // go (or was touched) is looked at once.
        let mut after: Option<(PartitionId, Page)> = None;
        loop {
            let next = self.ids_of(space).range(after.map_or(PartitionId(0), |(id, _)| id)..).filter_map(|id| self.partitions.get(id)).find_map(
                |partition| {
                    let from = match after {
                        Some((id, page)) if id == partition.id => core::ops::Bound::Excluded(page),
                        _ => core::ops::Bound::Unbounded,
                    };
                    partition
                        .untouched
                        .range((from, core::ops::Bound::Unbounded))
                        .find(|&&page| !partition.huge.contains(&block_of(page)) && !partition.is_locked(page) && !spared(page))
                        .map(|&page| (partition.id, page))
                },
            );
            let Some((id, page)) = next else { break };
            after = Some((id, page));
            if accessed(table, space, page) {
                // Touched since: no longer a prefetch nobody used.
                self.touch(id, page);
                continue;
            }
            if self.evict_page(space, id, page, table, frames) {
                return true;
            }
        }
        if let Need::Guess(_) = need {
            // Only an earlier guess may make room for a guess.
            return false;
        }
        let resident = self.spaces.get(&space).map_or(0, |state| state.counters.committed);
        if let Need::Ahead(_) = need {
            // One look at each page, from the hand, clearing nothing.
            let mut position = self.spaces.get(&space).and_then(|state| state.hand);
            for _ in 0..resident {
                let Some((id, page)) = self.next_resident(space, position) else { return false };
                position = Some((id, page));
                if !spared(page) && !accessed(table, space, page) && self.evict_page(space, id, page, table, frames) {
                    return true;
                }
            }
            return false;
        }
        // The policy's choice among the warm pages. It is taken out of the
        // engine while it works on the engine's pages.
        let mut policy = self.replacement.take().unwrap_or_else(|| Box::new(ColdFirst));
        let evicted = policy.evict_warm(&mut SpaceResidents { vass: self, space, table, frames });
        self.replacement = Some(policy);
        evicted
    }

    /// Whether the replacement policy sends cold pages first.
    fn replacement_is_cold_first(&self) -> bool {
        self.replacement.as_ref().is_none_or(|policy| policy.cold_first())
    }

    /// The cold steps ([`crate::vass::Replacement::cold_first`]): evicts up to [`COLD_CLUSTER`]
    /// resident pages of `space` held cold, or else of its coldest
    /// partition observed cold, whose accessed bits are clear (never
    /// clearing one, never one of a range being committed ahead). Returns
    /// whether any went.
    pub(super) fn evict_cold(&mut self, space: SpaceId, need: Need, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        if let Need::Guess(_) = need {
            // Cold pages were used: not for a guess.
            return false;
        }
        let spared = self.spared(space, need);
        // Held cold first, in partition and page order; then partitions
        // observed cold, the longest idle first. Candidates are gathered
        // lazily: the walk stops after a cluster's worth of pages that may
        // go (in use since the last scan, or being committed: skipped).
        let mut idle: Vec<&Partition> = self.partitions_of(space).filter(|p| p.observed_cold()).collect();
        idle.sort_by(|a, b| b.idle_scans.cmp(&a.idle_scans).then(a.id.cmp(&b.id)));
        let held = self.partitions_of(space).flat_map(|partition| partition.cold.iter().map(move |(range, _)| (partition, range)));
        let observed = idle.into_iter().flat_map(|partition| partition.ranges.iter().map(move |&range| (partition, range)));
        let candidates: Vec<(PartitionId, Page)> = held
            .chain(observed)
            .flat_map(|(partition, range)| {
                partition
                    .committed
                    .range(range.start..range.end)
                    .map(|(&page, _)| page)
                    .filter(|&page| !partition.huge.contains(&block_of(page)) && !partition.is_locked(page))
                    .map(move |page| (partition.id, page))
            })
            .filter(|&(_, page)| !spared(page) && !accessed(table, space, page))
            .take(COLD_CLUSTER as usize)
            .collect();
        let mut evicted = false;
        for (id, page) in candidates {
            evicted |= self.evict_page(space, id, page, table, frames);
        }
        evicted
    }

    /// Evicts committed 4 KiB `page` of partition `id`: written to swap if
    /// its contents exist nowhere else, else just dropped (all zero, or
    /// still on the device). Returns false, changing nothing, if it must be
    /// written and the device is full or fails (the slot is quarantined).
    /// A page its views map is unmapped from them too (and counts as
    /// written if one of them wrote it); one a view out of the tables'
    /// reach maps is not evicted.
    pub(super) fn evict_page(&mut self, space: SpaceId, id: PartitionId, page: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        let Some(partition) = self.partitions.get(&id) else { return false };
        if !table.reaches(space) || !partition.committed.contains_key(&page) {
            return false;
        }
        if partition.huge.contains(&block_of(page)) || partition.is_locked(page) || !self.views_reachable(id, table) {
            return false;
        }
        let backing = partition.backing.get(&page).copied().unwrap_or(Backing::Zero);
        let dirty = entry_of(table, space, page).is_some_and(|entry| entry.dirty) || self.views_dirty(id, page, table);
        let entry = match (backing, dirty) {
            (Backing::Zero, false) => None,
            (Backing::Copy(entry), false) => Some(entry),
            (backing, _) => {
                if self.slots.total() < frames.swap_slots() {
                    // A device attached since: use all of it.
                    let _ = self.slots.resize(frames.swap_slots());
                }
                let slot = match backing {
                    Backing::Copy(entry) => entry.slot,
                    _ => match self.slots.allocate() {
                        Ok(slot) => slot,
                        Err(_) => return false,
                    },
                };
                let Some(frame) = self.partitions.get(&id).and_then(|partition| partition.committed.get(&page)) else { return false };
                match frames.swap_out(frame, slot) {
                    Ok(checksum) => {
                        self.space_mut(space).counters.swap_outs += 1;
                        Some(SwapEntry { slot, checksum })
                    }
                    Err(_) => {
                        self.slots.quarantine(slot);
                        self.space_mut(space).counters.swap_errors += 1;
                        if let Some(partition) = self.partitions.get_mut(&id) {
                            // A copy that was on the quarantined slot is gone.
                            partition.backing.insert(page, Backing::Unique);
                        }
                        return false;
                    }
                }
            }
        };
        self.unmap_views(id, single(page), table, frames);
        let Some(mut cursor) = table.cursor(space, single(page)) else { return false };
        let Some(partition) = self.partitions.get_mut(&id) else { return false };
        let mapped = unmap_flushed(&mut cursor, frames, false);
        if let Some(frame) = partition.take(page) {
            debug_assert!(mapped.is_none_or(|mapped| mapped == frame.number()));
            frames.free(frame);
        }
        partition.backing.remove(&page);
        if let Some(entry) = entry {
            partition.swapped.insert(page, entry);
        }
        let untouched = partition.untouched.remove(&page);
        let replica = partition.view;
        drop(cursor);
        if let Some(mut ledger) = self.ledger(id) {
            ledger.evicted(untouched);
        }
        // A view's committed page is a replica (a clean copy, dropped).
        if let Some(of) = replica {
            if let Some(view) = self.partitions.get_mut(&of.source).and_then(|source| source.views.get_mut(&id)) {
                view.replicas.remove(&page);
            }
            self.replicas_gone(id, &[page], table);
        }
        // A policy picking a victim is out of the engine and sees its own
        // evictions; this tells it of the shared steps'.
        if let Some(policy) = self.replacement.as_mut() {
            policy.evicted(space, (id, page));
        }
        let state = self.space_mut(space);
        state.recently_evicted[state.evicted_at % RECENT_EVICTIONS] = page;
        state.evicted_at = state.evicted_at.wrapping_add(1);
        if untouched {
            state.prefetch_wasted();
        }
        true
    }
}

/// One space's resident pages, as the replacement policy sees them: the
/// engine, its page tables and its frames, for one eviction.
struct SpaceResidents<'a, T: PageTable, F: FrameSource> {
    vass: &'a mut Vass,
    space: SpaceId,
    table: &'a mut T,
    frames: &'a mut F,
}

impl<T: PageTable, F: FrameSource> Residents for SpaceResidents<'_, T, F> {
    fn space(&self) -> SpaceId {
        self.space
    }

    fn committed(&self) -> u64 {
        self.vass.spaces.get(&self.space).map_or(0, |state| state.counters.committed)
    }

    fn next(&self, after: Option<Resident>) -> Option<Resident> {
        self.vass.next_resident(self.space, after)
    }

    fn hand(&self) -> Option<Resident> {
        self.vass.spaces.get(&self.space).and_then(|state| state.hand)
    }

    fn set_hand(&mut self, hand: Option<Resident>) {
        self.vass.space_mut(self.space).hand = hand;
    }

    fn accessed(&mut self, (id, page): Resident, clear: bool) -> bool {
        let own = match self.table.cursor(self.space, single(page)) {
            Some(mut cursor) if clear => cursor.clear_accessed(),
            Some(cursor) => cursor.entry().is_some_and(|entry| entry.accessed),
            None => false,
        };
        // A use through a view is a use.
        let accessed = self.vass.views_accessed(id, page, self.table, clear) | own;
        if accessed && clear {
            self.vass.touch(id, page);
        }
        accessed
    }

    fn evict(&mut self, (id, page): Resident) -> bool {
        self.vass.evict_page(self.space, id, page, self.table, self.frames)
    }

    fn is_resident(&self, (id, page): Resident) -> bool {
        self.vass.partitions.get(&id).is_some_and(|partition| {
            partition.space == self.space && partition.committed.contains_key(&page) && !partition.huge.contains(&block_of(page)) && !partition.is_locked(page)
        })
    }
}
