//! Where partitions go: free ranges of a space's VASM, rooms held for
//! partitions to grow into, and the partition lifecycle that changes the
//! VASM (create, add a range, resize).
//!
//! Placement is first fit. A room (`SpaceState::rooms`, held by
//! `Vass::create_with_room` for a partition a layout proposal says will
//! grow) is a preference, never a claim: later partitions go elsewhere
//! while there is space elsewhere, and a partition placed at an explicit
//! address, or in a window with no other space, takes the room back.

use super::*;

impl Vass {
    pub(super) fn is_free(&self, space: SpaceId, range: &PageRange) -> bool {
        let Some(map) = self.vasm.get(&space) else { return true };
        let before = map.range(..range.end).next_back();
        before.is_none_or(|(_, &(end, _))| end <= range.start)
    }

    pub(super) fn find_free(&self, space: SpaceId, pages: u64, window: Window) -> Option<PageRange> {
        let mut candidate = window.start;
        if let Some(map) = self.vasm.get(&space) {
            for (&start, &(end, _)) in map.range(..window.end) {
                if end <= candidate {
                    continue;
                }
                if start >= candidate.checked_add(pages)? {
                    break;
                }
                candidate = end;
            }
        }
        let end = candidate.checked_add(pages)?;
        (end <= window.end).then_some(PageRange::new(candidate, end))
    }

    /// As [`Vass::find_free`], keeping off the rooms held for partitions
    /// to grow into ([`Vass::create_with_room`]).
    pub(super) fn find_free_off_rooms(&self, space: SpaceId, pages: u64, window: Window) -> Option<PageRange> {
        let rooms = self.spaces.get(&space).map(|state| &state.rooms);
        let mut from = window.start;
        loop {
            let candidate = self.find_free(space, pages, Window { start: from, end: window.end })?;
            let blocking = rooms.and_then(|rooms| {
                rooms.values().filter(|room| room.start < candidate.end && candidate.start < room.end).map(|room| room.end).max()
            });
            match blocking {
                // Past the room; `from` only grows, so this ends.
                Some(end) => from = end,
                None => return Some(candidate),
            }
        }
    }

    /// `range` now belongs to partition `id`: the rooms it overlaps are
    /// given up (rooms are a preference, never a claim), except that `id`'s
    /// own room keeps what lies beyond `range`.
    pub(super) fn claim(&mut self, space: SpaceId, id: PartitionId, range: PageRange) {
        let Some(state) = self.spaces.get_mut(&space) else { return };
        state.rooms.retain(|&owner, room| {
            if room.end <= range.start || range.end <= room.start {
                return true;
            }
            if owner == id && range.end < room.end && range.start <= room.start {
                *room = PageRange::new(range.end, room.end);
                return true;
            }
            false
        });
    }

    pub(super) fn place(&mut self, space: SpaceId, pages: u64, at: Option<Page>, window: Window) -> Result<PageRange, VassError> {
        if pages == 0 || pages > window.end - window.start {
            return Err(VassError::BadRange);
        }
        match at {
            Some(start) => {
                let range = PageRange::new(start, start.checked_add(pages).ok_or(VassError::BadRange)?);
                if range.start < window.start || range.end > window.end {
                    return Err(VassError::BadRange);
                }
                if !self.is_free(space, &range) {
                    return Err(VassError::Overlap);
                }
                Ok(range)
            }
            // Off the rooms if there is space elsewhere, else anywhere.
            None => self.find_free_off_rooms(space, pages, window).or_else(|| self.find_free(space, pages, window)).ok_or(VassError::NoVirtualSpace),
        }
    }

    /// Creates a partition of `pages` pages in `space`, at page `at` or
    /// wherever it fits in `window`. Nothing is committed.
    pub fn create(
        &mut self,
        space: SpaceId,
        pages: u64,
        kind: PartitionKind,
        rights: Rights,
        at: Option<Page>,
        window: Window,
    ) -> Result<(PartitionId, PageRange), VassError> {
        let range = self.place(space, pages, at, window)?;
        let id = self.next_id;
        self.next_id = id.next();
        self.claim(space, id, range);
        let state = self.space_mut(space);
        let ordinal = state.created;
        state.created = state.created.saturating_add(1);
        state.partitions.insert(id);
        self.vasm.entry(space).or_default().insert(range.start, (range.end, id));
        self.partitions.insert(
            id,
            Partition {
                id,
                space,
                kind,
                rights,
                overrides: RangeMap::default(),
                max_rights: rights,
                ranges: vec![range],
                committed: BTreeMap::new(),
                huge: BTreeSet::new(),
                fill: BTreeMap::new(),
                untouched: BTreeSet::new(),
                swapped: BTreeMap::new(),
                backing: BTreeMap::new(),
                hints: RangeMap::default(),
                cold: RangeMap::default(),
                locked: RangeMap::default(),
                idle_scans: 0,
                counters: PartitionCounters::default(),
                recent_faults: Recent::default(),
                recent_accessed: Recent::default(),
                recent_shared_faults: Recent::default(),
                recent_invalidations: Recent::default(),
                sealed: false,
                ordinal,
                view: None,
                views: BTreeMap::new(),
                versions: BTreeMap::new(),
            },
        );
        Ok((id, range))
    }

    /// Creates a partition of `pages` pages as [`Vass::create`] does
    /// (wherever it fits in `window`), placed where the `room` pages after it
    /// are free too, and holds those for it: partitions created later are
    /// placed elsewhere while there is space elsewhere, so it can grow in
    /// place (`resize`, or a range added at its end) to the size a layout
    /// proposal says it reached (`pae::proposal`). Without such a place,
    /// exactly as `create`.
    pub fn create_with_room(
        &mut self,
        space: SpaceId,
        pages: u64,
        room: u64,
        kind: PartitionKind,
        rights: Rights,
        window: Window,
    ) -> Result<(PartitionId, PageRange), VassError> {
        let spot = pages.checked_add(room).filter(|_| room > 0).and_then(|total| self.find_free_off_rooms(space, total, window));
        let Some(spot) = spot else { return self.create(space, pages, kind, rights, None, window) };
        let (id, range) = self.create(space, pages, kind, rights, Some(spot.start), window)?;
        self.space_mut(space).rooms.insert(id, PageRange::new(range.end, spot.end));
        Ok((id, range))
    }

    /// The room held for partition `id` of `space` to grow into, if any.
    pub fn room_of(&self, space: SpaceId, id: PartitionId) -> Option<PageRange> {
        self.spaces.get(&space)?.rooms.get(&id).copied()
    }

    /// The ordinal the next partition `space` creates gets.
    pub fn next_ordinal(&self, space: SpaceId) -> u32 {
        self.spaces.get(&space).map_or(0, |state| state.created)
    }

    /// Adds another virtual range of `pages` pages to a partition (making
    /// it non-contiguous, or extending it when placed right after it).
    pub fn add_range(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        pages: u64,
        at: Option<Page>,
        window: Window,
    ) -> Result<PageRange, VassError> {
        if self.reshapable(space, id)?.view.is_some() {
            return Err(VassError::Shared);
        }
        let range = self.place(space, pages, at, window)?;
        self.claim(space, id, range);
        self.vasm.entry(space).or_default().insert(range.start, (range.end, id));
        if let Some(partition) = self.partitions.get_mut(&id) {
            partition.ranges.push(range);
        }
        Ok(range)
    }

    /// Grows or shrinks a partition to `pages` pages: growth extends its
    /// last range in place when the pages after it are free, else adds a
    /// range; shrinking removes pages from the end of the last ranges and
    /// decommits them.
    pub fn resize(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        pages: u64,
        window: Window,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<(), VassError> {
        let partition = self.reshapable(space, id)?;
        let current = partition.pages();
        if pages == 0 {
            return Err(VassError::BadRange);
        }
        // A view keeps its size; a source keeps what its views map.
        if partition.view.is_some() || partition.views.values().any(|view| view.offsets.end > pages) {
            return Err(VassError::Shared);
        }
        if pages > current {
            let extra = pages - current;
            let last = *partition.ranges.last().ok_or(VassError::BadRange)?;
            let grown = PageRange::new(last.end, last.end.checked_add(extra).ok_or(VassError::BadRange)?);
            if grown.end <= window.end && self.is_free(space, &grown) {
                self.claim(space, id, grown);
                let map = self.vasm.entry(space).or_default();
                map.insert(last.start, (grown.end, id));
                if let Some(range) = self.partitions.get_mut(&id).and_then(|p| p.ranges.last_mut()) {
                    range.end = grown.end;
                }
                return Ok(());
            }
            return self.add_range(space, id, extra, None, window).map(|_| ());
        }
        let mut to_drop = current - pages;
        while to_drop > 0 {
            let partition = self.partitions.get_mut(&id).ok_or(VassError::UnknownPartition)?;
            let last = *partition.ranges.last().ok_or(VassError::BadRange)?;
            let cut = to_drop.min(last.len());
            let removed = PageRange::new(last.end - cut, last.end);
            self.release(id, removed, table, frames);
            let partition = self.partitions.get_mut(&id).ok_or(VassError::UnknownPartition)?;
            partition.overrides.clear(removed);
            partition.hints.clear(removed);
            partition.cold.clear(removed);
            partition.locked.clear(removed);
            let map = self.vasm.entry(space).or_default();
            if cut == last.len() {
                partition.ranges.pop();
                map.remove(&last.start);
            } else if let Some(range) = partition.ranges.last_mut() {
                range.end = removed.start;
                map.insert(last.start, (removed.start, id));
            }
            to_drop -= cut;
        }
        Ok(())
    }
}
