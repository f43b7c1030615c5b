//! The VASS: partition table, VASM and commit engine. [`Vass`] holds the
//! state; each concern that changes it is a module of its own, and this
//! one keeps the state's accessors and the operations that join them:
//!
//! - `placement`: where partitions go, and their creation and reshaping;
//! - `commit`: committing pages (on demand, ahead, for the loader, from
//!   swap) and releasing them;
//! - `huge`: 2 MiB pages, made and split;
//! - `eviction`: budgets and the page a space gives up;
//! - `advice`: a program's hints for a range;
//! - `fault`: resolving a page fault;
//! - `sampling`: what the accessed bits say;
//! - `view`: one partition's pages mapped into another space (sharing);
//! - `replica`: a view's own copies of its source's pages, kept coherent
//!   by write-invalidate;
//! - `cow`: copy-on-write views, private snapshots of their source;
//! - `check`: the invariant checker.
//!
//! The VASM is, per address space, a B-tree from each range's first page to
//! its end and partition: a sparse 47-bit space costs per range, not per
//! page, and a fault's lookup is one search in it.

#![forbid(unsafe_code)]

mod advice;
mod check;
mod commit;
mod cow;
mod eviction;
mod fault;
mod huge;
mod placement;
mod replica;
mod sampling;
mod view;

pub use eviction::COLD_CLUSTER;
pub use check::Violation;
pub use sampling::PartitionUse;
pub use replica::{REPLICATE_AFTER_SHARED_FAULTS, REPLICATE_BELOW_INVALIDATIONS, STOP_AT_INVALIDATIONS};
use eviction::Need;

use super::frames::*;
use super::ledger::Ledger;
use super::mmu::*;
use super::replacement::{Eviction, Replacement};
use alloc::boxed::Box;
use super::partition::*;
use super::swap::{Backing, Slot, SlotAllocator, SwapEntry};
use super::vocabulary::*;
use abi::Rights;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use alloc::vec;

/// The kernel-wide VASS state: partition table plus VASM plus per-space
/// counters.
#[derive(Debug)]
pub struct Vass {
    partitions: BTreeMap<PartitionId, Partition>,
    /// The VASM: per address space, range start → (range end, partition).
    vasm: BTreeMap<SpaceId, BTreeMap<Page, (Page, PartitionId)>>,
    spaces: BTreeMap<SpaceId, SpaceState>,
    next_id: PartitionId,
    now: Tick,
    huge_pages: bool,
    /// The swap device's slots.
    slots: SlotAllocator,
    /// Most pages all spaces together may have committed (`None`: no limit).
    global_budget: Option<u64>,
    /// How eviction picks its warm victims (`None`: the default,
    /// [`ColdFirst`](crate::vass::replacement::ColdFirst)).
    replacement: Option<Box<dyn Replacement>>,
}

impl Default for Vass {
    fn default() -> Vass {
        Vass::new()
    }
}

impl Vass {
    /// An empty VASS.
    pub const fn new() -> Vass {
        Vass {
            partitions: BTreeMap::new(),
            vasm: BTreeMap::new(),
            spaces: BTreeMap::new(),
            next_id: PartitionId(1),
            now: 0,
            huge_pages: true,
            slots: SlotAllocator::empty(),
            global_budget: None,
            replacement: None,
        }
    }

    /// Whether fully committed 2 MiB-aligned blocks become 2 MiB pages (on
    /// by default). Turning it off leaves existing 2 MiB pages alone.
    pub fn set_huge_pages(&mut self, enabled: bool) {
        self.huge_pages = enabled;
    }

    /// Sizes the swap device (slots of one page). Slots in use stay valid;
    /// a device smaller than what is in use is refused.
    pub fn set_swap_slots(&mut self, slots: u64) -> Result<(), VassError> {
        self.slots.resize(slots).map_err(|_| VassError::BadRange)
    }

    /// The swap device's slots: (in use, total, quarantined).
    pub fn swap_usage(&self) -> (u64, u64, u64) {
        (self.slots.used(), self.slots.total(), self.slots.quarantined())
    }

    /// Limits how many pages `space` may have committed at once (`None`:
    /// no limit). Going over evicts (see [`Eviction`]); 2 MiB pages are
    /// neither made nor kept under a budget.
    pub fn set_budget(&mut self, space: SpaceId, budget: Option<u64>) {
        self.space_mut(space).budget = budget;
    }

    /// The budget of `space`.
    pub fn budget(&self, space: SpaceId) -> Option<u64> {
        self.spaces.get(&space).and_then(|state| state.budget)
    }

    /// Limits how many pages all spaces together may have committed (`None`:
    /// no limit). Over it, a page of some space goes (see
    /// [`Vass::evict_global`]).
    pub fn set_global_budget(&mut self, budget: Option<u64>) {
        self.global_budget = budget;
    }

    /// How victims are chosen from now on: one of the named policies
    /// (Belady's needs its oracle: [`Vass::set_replacement`] with
    /// `replacement::Belady`). Returns whether it was set.
    pub fn set_eviction(&mut self, eviction: Eviction) -> bool {
        match eviction.policy(None) {
            Some(policy) => {
                self.set_replacement(policy);
                true
            }
            None => false,
        }
    }

    /// Whether the replacement policy must hear of every use of a page
    /// ([`Vass::touched`]): only a simulation can tell it.
    pub fn wants_every_access(&self) -> bool {
        self.replacement.as_ref().is_some_and(|policy| policy.every_access())
    }

    /// `page` of `space` was used (a simulation tells a policy that wants
    /// every use, see [`Vass::wants_every_access`]).
    pub fn touched(&mut self, space: SpaceId, page: Page) {
        let Some(id) = self.lookup(space, page).map(|partition| partition.id) else { return };
        if let Some(policy) = self.replacement.as_mut() {
            policy.touched(space, (id, page));
        }
    }

    /// How victims are chosen from now on: any policy.
    pub fn set_replacement(&mut self, policy: Box<dyn Replacement>) {
        self.replacement = Some(policy);
    }

    /// Tells the VASS the time, for footprints and access frequencies
    /// (never goes backwards).
    pub fn set_time(&mut self, now: Tick) {
        self.now = self.now.max(now);
    }

    /// The time the VASS was last told.
    pub fn now(&self) -> Tick {
        self.now
    }

    /// The ledger of partition `id` and its space (see `vass::ledger`).
    fn ledger(&mut self, id: PartitionId) -> Option<Ledger<'_>> {
        let partition = self.partitions.get_mut(&id)?;
        let space = state_of(&mut self.spaces, partition.space, self.now);
        Some(Ledger::new(partition, space, self.now))
    }

    fn space_mut(&mut self, space: SpaceId) -> &mut SpaceState {
        state_of(&mut self.spaces, space, self.now)
    }

    /// The counters of `space`, with the footprint up to now.
    pub fn space_counters(&self, space: SpaceId) -> Option<SpaceCounters> {
        let mut state = self.spaces.get(&space)?.clone();
        state.account(self.now);
        Some(state.counters)
    }

    /// When `space` was first seen.
    pub fn space_born(&self, space: SpaceId) -> Option<Tick> {
        self.spaces.get(&space).map(|state| state.born)
    }

    /// Adds `cycles` spent resolving a fault of `space` to its counters.
    pub fn add_fault_cycles(&mut self, space: SpaceId, cycles: u64) {
        self.space_mut(space).counters.fault_cycles += cycles;
    }

    /// Whether every byte of `[address, address + length)` lies in
    /// partitions of `space` whose pages grant `needed` (an empty range
    /// always does).
    pub fn grants(&self, space: SpaceId, address: u64, length: u64, needed: Rights) -> bool {
        if length == 0 {
            return true;
        }
        let Some(end) = address.checked_add(length) else { return false };
        let last = (end - 1) / PAGE_SIZE;
        let mut page = address / PAGE_SIZE;
        while page <= last {
            let Some(partition) = self.lookup(space, page).filter(|partition| !partition.revoked()) else { return false };
            let Some(range) = partition.range_of(page) else { return false };
            let stop = range.end.min(last + 1);
            if partition.overrides.is_empty() {
                if !partition.rights.contains(needed) {
                    return false;
                }
            } else if !(page..stop).all(|p| partition.rights_at(p).contains(needed)) {
                return false;
            }
            page = stop;
        }
        true
    }

    /// Whether `[address, address + length)` of `space` reaches into a
    /// view whose grant was revoked (what a system call refused for it
    /// says: `Revoked`, not a bad address).
    pub fn revoked_in(&self, space: SpaceId, address: u64, length: u64) -> bool {
        let Some(end) = address.checked_add(length.max(1)) else { return false };
        let (first, last) = (address / PAGE_SIZE, (end - 1) / PAGE_SIZE);
        let Some(map) = self.vasm.get(&space) else { return false };
        map.range(..=last).rev().take_while(|(_, (range_end, _))| *range_end > first).any(|(_, (_, id))| self.partitions.get(id).is_some_and(Partition::revoked))
    }

    /// The partition table entry of `id`.
    pub fn partition(&self, id: PartitionId) -> Option<&Partition> {
        self.partitions.get(&id)
    }

    /// Every partition of `space`, by id (through the space's own index:
    /// the cost is the space's partitions, not the kernel's).
    pub fn partitions_of(&self, space: SpaceId) -> impl Iterator<Item = &Partition> {
        self.ids_of(space).iter().filter_map(|id| self.partitions.get(id))
    }

    /// The ids of `space`'s partitions (its index; empty for a space never seen).
    fn ids_of(&self, space: SpaceId) -> &BTreeSet<PartitionId> {
        static NONE: BTreeSet<PartitionId> = BTreeSet::new();
        self.spaces.get(&space).map_or(&NONE, |state| &state.partitions)
    }

    /// The partition (and its entry) that `page` of `space` belongs to: the VASM lookup.
    pub fn lookup(&self, space: SpaceId, page: Page) -> Option<&Partition> {
        let map = self.vasm.get(&space)?;
        let (_, &(end, id)) = map.range(..=page).next_back()?;
        (page < end).then(|| self.partitions.get(&id)).flatten()
    }

    /// What the VASM holds for `page` of `space` (`None` outside its
    /// partitions).
    /// For a page of a view, where its source's page is.
    pub fn page_state(&self, space: SpaceId, page: Page) -> Option<PageState> {
        let found = self.lookup(space, page)?;
        let rights = found.rights_at(page);
        // A view's page is where its source's is.
        let (partition, page) = match self.view_target(found.id, page) {
            Some((source, target)) => (self.partitions.get(&source)?, target),
            None => (found, page),
        };
        let residence = match (partition.committed.get(&page), partition.swapped.get(&page)) {
            (Some(frame), _) => Residence::Committed {
                frame: frame.number(),
                huge: partition.huge.contains(&block_of(page)),
                copy: match partition.backing.get(&page) {
                    Some(Backing::Copy(entry)) => Some(entry.slot),
                    _ => None,
                },
            },
            (None, Some(entry)) => Residence::Swapped { slot: entry.slot, lost: self.slots.is_quarantined(entry.slot) },
            (None, None) => Residence::Uncommitted,
        };
        Some(PageState {
            partition: found.id,
            rights,
            residence,
            untouched: partition.untouched.contains(&page),
            cold: partition.cold.get(page),
            locked: partition.is_locked(page),
        })
    }

    fn owned(&self, space: SpaceId, id: PartitionId) -> Result<&Partition, VassError> {
        let partition = self.partitions.get(&id).ok_or(VassError::UnknownPartition)?;
        if partition.space != space {
            return Err(VassError::NotOwner);
        }
        Ok(partition)
    }

    /// The partition `id` of `space`, which the program may reshape.
    fn reshapable(&self, space: SpaceId, id: PartitionId) -> Result<&Partition, VassError> {
        let partition = self.owned(space, id)?;
        if partition.sealed {
            return Err(VassError::Sealed);
        }
        Ok(partition)
    }

    /// Seals partition `id`: from now on it can be protected, committed
    /// and decommitted but not destroyed, resized or extended (only
    /// [`Vass::destroy_space`] removes it).
    pub fn seal(&mut self, id: PartitionId) {
        if let Some(partition) = self.partitions.get_mut(&id) {
            partition.sealed = true;
        }
    }

    /// The partition `id` of `space`, checked to cover the non-empty `range`.
    fn granted(&self, space: SpaceId, id: PartitionId, range: &PageRange) -> Result<&Partition, VassError> {
        let partition = self.owned(space, id)?;
        if partition.revoked() {
            return Err(VassError::Revoked);
        }
        if range.is_empty() {
            return Err(VassError::BadRange);
        }
        if !partition.covers(range) {
            return Err(VassError::OutsideGrant);
        }
        Ok(partition)
    }

    /// Destroys a partition: decommits everything and forgets its ranges.
    pub fn destroy(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<Partition, VassError> {
        self.remove(space, id, table, frames, false)
    }

    fn remove(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
        even_sealed: bool,
    ) -> Result<Partition, VassError> {
        let partition = if even_sealed { self.owned(space, id)? } else { self.reshapable(space, id)? };
        let ranges = partition.ranges.clone();
        // A view lets go of its source; a source revokes its views first.
        let views: Vec<PartitionId> = partition.views.keys().copied().collect();
        self.detach_view(id, table, frames);
        for view in views {
            let _ = self.revoke_view(view, table, frames);
        }
        if let Some(state) = self.spaces.get_mut(&space) {
            state.rooms.remove(&id);
            state.partitions.remove(&id);
        }
        for range in &ranges {
            self.release(id, *range, table, frames);
        }
        if let Some(map) = self.vasm.get_mut(&space) {
            for range in &ranges {
                map.remove(&range.start);
            }
        }
        self.partitions.remove(&id).ok_or(VassError::UnknownPartition)
    }

    /// Destroys every partition of `space` (the process is gone) and
    /// returns the space's final counters.
    pub fn destroy_space(
        &mut self,
        space: SpaceId,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> SpaceCounters {
        let ids: Vec<PartitionId> = self.partitions_of(space).map(|p| p.id).collect();
        for id in ids {
            let _ = self.remove(space, id, table, frames, true);
        }
        self.vasm.remove(&space);
        let counters = self.space_counters(space).unwrap_or_default();
        self.spaces.remove(&space);
        if let Some(policy) = self.replacement.as_mut() {
            policy.forget(space);
        }
        counters
    }

    /// Sets the rights of a whole partition (never beyond its creation
    /// rights), replacing any sub-range protections.
    /// In a view, the entries it has change with it.
    pub fn protect(&mut self, space: SpaceId, id: PartitionId, rights: Rights, table: &mut impl PageTable) -> Result<(), VassError> {
        let partition = self.owned(space, id)?;
        if partition.revoked() {
            return Err(VassError::Revoked);
        }
        if !partition.max_rights.contains(rights) {
            return Err(VassError::RightsEscalation);
        }
        for &range in &partition.ranges {
            let mut cursor = table.cursor(space, range).ok_or(VassError::PageTable)?;
            for &start in partition.huge.range(range.start..range.end) {
                cursor.jump(start);
                cursor.protect_huge(rights)?;
            }
            for &page in partition.committed.range(range.start..range.end).map(|(page, _)| page).filter(|page| !partition.huge.contains(&block_of(**page))) {
                cursor.jump(page);
                cursor.protect(self.write_rights(id, page, rights))?;
            }
        }
        let span = partition.span();
        if let Some(partition) = self.partitions.get_mut(&id) {
            partition.rights = rights;
            partition.overrides = RangeMap::default();
        }
        self.reprotect_view(id, span, table)
    }

    /// Sets the rights of the pages of `range` (never beyond the
    /// partition's creation rights); the rest keep theirs.
    pub fn protect_range(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        range: PageRange,
        rights: Rights,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<(), VassError> {
        let partition = self.granted(space, id, &range)?;
        if !partition.max_rights.contains(rights) {
            return Err(VassError::RightsEscalation);
        }
        // 2 MiB pages wholly inside change as one; the others are split.
        let blocks: Vec<Page> = partition.huge.iter().copied().filter(|&start| range.overlaps(&PageRange::new(start, start + HUGE_PAGES))).collect();
        let mut whole = BTreeSet::new();
        for start in blocks {
            if range.covers(&PageRange::new(start, start + HUGE_PAGES)) {
                whole.insert(start);
            } else {
                self.demote(id, start, table, frames)?;
            }
        }
        let partition = self.partitions.get(&id).ok_or(VassError::UnknownPartition)?;
        let mut cursor = table.cursor(space, range).ok_or(VassError::PageTable)?;
        for &start in &whole {
            cursor.jump(start);
            cursor.protect_huge(rights)?;
        }
        for &page in partition.committed.range(range.start..range.end).map(|(page, _)| page).filter(|page| !whole.contains(&block_of(**page))) {
            cursor.jump(page);
            cursor.protect(self.write_rights(id, page, rights))?;
        }
        drop(cursor);
        if let Some(partition) = self.partitions.get_mut(&id) {
            if rights == partition.rights {
                partition.overrides.clear(range);
            } else {
                partition.overrides.set(range, rights);
            }
        }
        self.reprotect_view(id, range, table)
    }

    /// Records what `space` declared about its future (replacing any
    /// earlier declaration). Named partitions must be its own.
    pub fn declare(&mut self, space: SpaceId, declaration: Declaration) -> Result<(), VassError> {
        for &id in &declaration.partitions {
            self.owned(space, id)?;
        }
        self.space_mut(space).declared = Some(declaration);
        Ok(())
    }

    /// What `space` declared last.
    pub fn declaration(&self, space: SpaceId) -> Option<&Declaration> {
        self.spaces.get(&space)?.declared.as_ref()
    }

    /// Remembers that a plan asked for the pages of `range` and the prefetch
    /// depth declined them (see [`SpaceState::declined`]); at most the
    /// first [`DECLINED_PREFETCHES`] of them.
    pub fn decline_prefetch(&mut self, space: SpaceId, range: PageRange) {
        let state = self.space_mut(space);
        for page in (range.start..range.end).take(DECLINED_PREFETCHES) {
            state.prefetch_declined(page);
        }
    }

    /// The plan being applied for `space` committed `range` ahead (`None`:
    /// the plan is done): until it is done, committing more of it evicts
    /// none of those pages.
    pub fn planned(&mut self, space: SpaceId, range: Option<PageRange>) {
        let state = self.space_mut(space);
        match range {
            Some(range) => state.planned.push(range),
            None => state.planned.clear(),
        }
    }

    /// Most pages a plan may commit ahead for `space` now (`None`: no
    /// limit); see [`SpaceState::prefetch_depth`].
    pub fn prefetch_depth(&self, space: SpaceId) -> Option<u64> {
        self.spaces.get(&space).and_then(|state| state.prefetch_depth)
    }

    /// Adds `cycles` spent sampling accessed bits of `space` to its counters.
    pub fn add_sample_cycles(&mut self, space: SpaceId, cycles: u64) {
        self.space_mut(space).counters.sample_cycles += cycles;
    }

    /// Counts `pages` committed for `space` from its layout proposal.
    pub fn add_layout_commits(&mut self, space: SpaceId, pages: u64) {
        self.space_mut(space).counters.layout_commits += pages;
    }

    /// Adds what the PAE task did for `space` to its counters.
    pub fn add_pae_work(&mut self, space: SpaceId, work: PaeWork) {
        let counters = &mut self.space_mut(space).counters;
        counters.pae_steps += work.steps;
        counters.pae_cycles += work.cycles;
        counters.pae_model_cycles += work.model_cycles;
        counters.pae_deferred += work.deferred;
        counters.pae_lost = counters.pae_lost.max(work.lost);
        counters.pae_demotions += work.demotions;
    }

    /// Adds `cycles` spent in swap I/O for `space` to its counters.
    pub fn add_swap_io_cycles(&mut self, space: SpaceId, cycles: u64) {
        self.space_mut(space).counters.swap_io_cycles += cycles;
    }
}

/// The state of `space` in `spaces`, made (born at `now`) on first use.
fn state_of(spaces: &mut BTreeMap<SpaceId, SpaceState>, space: SpaceId, now: Tick) -> &mut SpaceState {
    spaces.entry(space).or_insert_with(|| SpaceState { born: now, accounted_at: now, ..SpaceState::default() })
}
