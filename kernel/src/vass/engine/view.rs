//! Views: the pages of one partition mapped into another space (or into
//! its own space again), the mechanism under sharing (`crate::share`
//! decides who may make one, with which rights).
//!
//! A view is a partition of kind shared in the mapping space, one range
//! long, with no frames of its own: its page `at + k` maps offset
//! `offset + k` of its *source* ([`ViewOf`]). The source holds every
//! frame, swap slot and counter of those pages, so a shared page has one
//! frame and, swapped out, one slot. **It is charged to the owner**: the
//! source's space counts it committed, its budget bounds it and its
//! eviction decides when it goes; a mapper's budget never counts it (a
//! mapper that could evict the owner's pages could push them out from
//! under everyone). The source records each of its views
//! ([`Partition::views`], with the pages each one maps now): the reverse
//! map from a source page to every other entry that maps its frame.
//!
//! - **Fault.** A fault in a view checks the view's rights, then maps the
//!   source's frame there. If the source has not committed the page, it
//!   is committed first in the source (a fresh page, or one read back
//!   from swap), as the owner's fault would, and counted in the source's
//!   ledger: a fault by any mapper brings a page back for all, and the
//!   others then take a minor fault ([`FaultOutcome::Mapped`]). A commit
//!   a mapper asks for through its view does the same page by page.
//! - **Unmapping.** Before a source page's frame goes (evicted,
//!   decommitted, released with its partition) every view's entry for it
//!   is unmapped and flushed, through the same page tables (they must
//!   reach the views' spaces; eviction refuses a page a view outside them
//!   maps). Eviction first reads the views' dirty bits: a page written
//!   through a view is written to swap like one its owner wrote; their
//!   accessed bits count as the owner's for replacement.
//! - **Revoke.** A revoked view stays in its space, mapping nothing: a
//!   fault there is [`FaultOutcome::Revoked`] and an operation on it
//!   [`VassError::Revoked`] until its process destroys it. Destroying a
//!   source revokes its views first; destroying a view lets go of its
//!   source.
//! - **Within a view** a decommit unmaps the view's entries and frees
//!   nothing (the contents are the source's), a protect re-protects the
//!   entries it has, within the rights it was made with; it cannot be
//!   resized or extended, and its source cannot shrink under it.
//! - **2 MiB pages.** A view of 2 MiB or more is placed where its pages
//!   line up with its source's 2 MiB blocks; a source block stays (or
//!   becomes) a 2 MiB page while every view that maps any of it maps all
//!   of it lined up and none replicates (`Partition::huge_eligible`), and
//!   those views map it as one 2 MiB page too. A view that does not line
//!   up, or starts replicating, splits the blocks it covers; splitting or
//!   promoting a source block first unmaps the views' entries for it
//!   (they map again on their next touch). A view holds no 2 MiB page of
//!   its own.

use super::*;

/// What [`Vass::fill_view`] did for a page of a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Filled {
    /// The view already mapped it.
    Already,
    /// The source had it committed: now the view maps it too.
    Mapped,
    /// The source committed a fresh page for it.
    Committed,
    /// The source read it back from swap.
    SwappedIn,
    /// The view (replicating) got its own copy of the page.
    Replicated,
}

impl Vass {
    /// Maps the pages at offsets `offsets` of partition `source` (of
    /// `source_space`) into `space` as a new view with `rights` (at most
    /// the source's creation rights), at page `at` or wherever it fits in
    /// `window`. Nothing is committed or mapped until it is touched.
    /// Returns the view's id and range.
    #[allow(clippy::too_many_arguments)]
    pub fn map_view(
        &mut self,
        source_space: SpaceId,
        source: PartitionId,
        offsets: PageRange,
        space: SpaceId,
        rights: Rights,
        at: Option<Page>,
        window: Window,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<(PartitionId, PageRange), VassError> {
        self.map_view_as(source_space, source, offsets, space, rights, at, window, false, table, frames)
    }

    /// As [`Vass::map_view`], a private snapshot of the source's pages
    /// (`vass::engine::cow`): `rights` may add `WRITE` to what the source
    /// may ever have (the writes are the view's own), never `WRITE` with
    /// `EXECUTE`.
    #[allow(clippy::too_many_arguments)]
    pub fn map_copy_on_write(
        &mut self,
        source_space: SpaceId,
        source: PartitionId,
        offsets: PageRange,
        space: SpaceId,
        rights: Rights,
        at: Option<Page>,
        window: Window,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<(PartitionId, PageRange), VassError> {
        if rights.contains(Rights::WRITE | Rights::EXECUTE) {
            return Err(VassError::RightsEscalation);
        }
        self.map_view_as(source_space, source, offsets, space, rights, at, window, true, table, frames)
    }

    #[allow(clippy::too_many_arguments)]
    fn map_view_as(
        &mut self,
        source_space: SpaceId,
        source: PartitionId,
        offsets: PageRange,
        space: SpaceId,
        rights: Rights,
        at: Option<Page>,
        window: Window,
        cow: bool,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<(PartitionId, PageRange), VassError> {
        let partition = self.owned(source_space, source)?;
        if partition.view.is_some() {
            // A view of a view maps the first one's source instead.
            return Err(VassError::Shared);
        }
        if offsets.is_empty() || offsets.end > partition.pages() {
            return Err(VassError::BadRange);
        }
        let allowed = if cow { partition.max_rights | Rights::WRITE } else { partition.max_rights };
        if !allowed.contains(rights) {
            return Err(VassError::RightsEscalation);
        }
        if let Some(at) = at
            && !self.is_free(space, &PageRange::new(at, at.saturating_add(offsets.len())))
        {
            return Err(VassError::Overlap);
        }
        // A view of 2 MiB or more goes where its pages line up with the
        // source's 2 MiB blocks, so it can map them as 2 MiB pages.
        let first = partition.pages_at(offsets.start, offsets.start + 1).first().map_or(0, |range| range.start);
        let at = match at {
            None if offsets.len() >= HUGE_PAGES => offsets.len().checked_add(HUGE_PAGES).and_then(|room| self.find_free(space, room, window)).map(|free| {
                let shift = (first % HUGE_PAGES + HUGE_PAGES - free.start % HUGE_PAGES) % HUGE_PAGES;
                free.start + shift
            }),
            at => at,
        };
        let (id, range) = self.create(space, offsets.len(), PartitionKind::Shared, rights, at, window)?;
        if let Some(view) = self.partitions.get_mut(&id) {
            view.view = Some(ViewOf { source, offset: offsets.start, revoked: false });
        }
        if let Some(partition) = self.partitions.get_mut(&source) {
            partition.views.insert(id, View { space, offsets, at: range.start, mapped: BTreeSet::new(), replicate: false, replicas: BTreeMap::new(), huge: BTreeSet::new(), cow: false, private: BTreeSet::new() });
        }
        if cow && let Some(record) = self.partitions.get_mut(&source).and_then(|partition| partition.views.get_mut(&id)) {
            record.cow = true;
        }
        // The source's 2 MiB pages this view does not line up with are
        // split (it maps 4 KiB entries of them); then a snapshot's pages
        // are write-protected.
        let made = self.split_unaligned(source, table, frames).and_then(|()| if cow { self.make_copy_on_write(space, id, table) } else { Ok(()) });
        if let Err(error) = made {
            let _ = self.remove(space, id, table, frames, true);
            return Err(error);
        }
        Ok((id, range))
    }

    /// Splits every 2 MiB page of partition `id` that is no longer
    /// eligible (a view does not line up with it, or replicates).
    pub(super) fn split_unaligned(&mut self, id: PartitionId, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<(), VassError> {
        let Some(partition) = self.partitions.get(&id) else { return Ok(()) };
        let blocks: Vec<Page> = partition.huge.iter().copied().filter(|&start| !partition.huge_eligible(start)).collect();
        for start in blocks {
            self.demote(id, start, table, frames)?;
        }
        Ok(())
    }

    /// The source partition and page that page `page` of view `id` maps
    /// (`None`: not a live view, or not its page).
    pub fn view_target(&self, id: PartitionId, page: Page) -> Option<(PartitionId, Page)> {
        let partition = self.partitions.get(&id)?;
        let of = partition.view.filter(|of| !of.revoked)?;
        let range = partition.ranges.first().filter(|range| range.contains(page))?;
        let offset = of.offset + (page - range.start);
        let source = self.partitions.get(&of.source)?;
        Some((of.source, source.pages_at(offset, offset + 1).first()?.start))
    }

    /// Maps page `page` of view `id` (in `space`) to its source's frame,
    /// committing the page in the source first (for `need`) if it is not.
    pub(super) fn fill_view(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        page: Page,
        need: Need,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<Filled, VassError> {
        let partition = self.partitions.get(&id).ok_or(VassError::UnknownPartition)?;
        if partition.revoked() {
            return Err(VassError::Revoked);
        }
        if partition.committed.contains_key(&page) {
            // Its replica.
            return Ok(Filled::Already);
        }
        let rights = partition.rights_at(page);
        let (source, target) = self.view_target(id, page).ok_or(VassError::BadRange)?;
        let held = self.partitions.get(&source).ok_or(VassError::UnknownPartition)?;
        let Some(record) = held.views.get(&id) else { return Err(VassError::Revoked) };
        if record.maps(page) {
            return Ok(Filled::Already);
        }
        if record.replicate {
            return self.make_replica(space, id, page, table, frames);
        }
        // A snapshot reads the source's page read-only until it writes.
        let rights = if record.cow { rights - Rights::WRITE } else { rights };
        let filled = if held.committed.contains_key(&target) {
            Filled::Mapped
        } else if self.commit_page(source, target, need, table, frames)? {
            Filled::SwappedIn
        } else {
            Filled::Committed
        };
        let rights = self.write_rights(source, target, rights);
        let huge = self.huge_view_block(id, page, source, target);
        let held = self.partitions.get_mut(&source).ok_or(VassError::UnknownPartition)?;
        match huge {
            Some(start) => {
                // The source's 2 MiB page, mapped as one here too.
                let first = held.committed.get(&block_of(target)).ok_or(VassError::PageTable)?.number();
                let mut cursor = table.cursor(space, block(start)).ok_or(VassError::PageTable)?;
                map_huge_counted(&mut cursor, frames, &HugeRun::held(first), rights)?;
                if let Some(view) = held.views.get_mut(&id) {
                    view.huge.insert(start);
                }
            }
            None => {
                let frame = held.committed.get(&target).ok_or(VassError::PageTable)?;
                let mut cursor = table.cursor(space, single(page)).ok_or(VassError::PageTable)?;
                map_counted(&mut cursor, frames, frame, rights)?;
                if let Some(view) = held.views.get_mut(&id) {
                    view.mapped.insert(page);
                }
            }
        }
        if matches!(filled, Filled::Committed | Filled::SwappedIn)
            && let Some(mut ledger) = self.ledger(source)
        {
            // A page committed at a mapper's request counts as the owner's
            // own fault would.
            ledger.demand_commit();
            if filled == Filled::SwappedIn {
                ledger.major_fault();
            }
        }
        Ok(filled)
    }

    /// The view block to map as one 2 MiB page for page `page` of view `id`
    /// (mapping `target` of `source`): when the source holds `target` in a
    /// 2 MiB page, the view's block lines up with it, lies in the view with
    /// one set of rights, and none of its pages is mapped on its own.
    fn huge_view_block(&self, id: PartitionId, page: Page, source: PartitionId, target: Page) -> Option<Page> {
        let held = self.partitions.get(&source)?;
        let view = self.partitions.get(&id)?;
        let start = block_of(page);
        let range = block(start);
        let lined_up = page - start == target - block_of(target);
        let record = held.views.get(&id)?;
        let uniform = view.overrides.iter().filter(|(piece, _)| piece.overlaps(&range)).all(|(piece, rights)| piece.covers(&range) && rights == view.rights_at(start));
        (held.huge.contains(&block_of(target))
            && lined_up
            && view.range_of(start).is_some_and(|own| own.covers(&range))
            && uniform
            && record.mapped.range(start..start + HUGE_PAGES).next().is_none())
        .then_some(start)
    }

    /// Resolves a fault at `page` of view `id` of `space`.
    pub(super) fn resolve_in_view(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        page: Page,
        access: Access,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> FaultOutcome {
        let Some(partition) = self.partitions.get(&id) else { return FaultOutcome::NotInPartition };
        if partition.revoked() {
            return FaultOutcome::Revoked;
        }
        if !partition.rights_at(page).contains(access.right()) {
            return FaultOutcome::RightsViolation;
        }
        if let Some(outcome) = self.resolve_private(space, id, page, access, table, frames) {
            return outcome;
        }
        let outcome = match self.fill_view(space, id, page, Need::Now, table, frames) {
            Ok(Filled::Already) => FaultOutcome::AlreadyCommitted,
            Ok(Filled::Mapped) => FaultOutcome::Mapped,
            Ok(Filled::Committed) => FaultOutcome::Committed,
            Ok(Filled::SwappedIn) => FaultOutcome::SwappedIn,
            Ok(Filled::Replicated) => FaultOutcome::Replicated,
            Err(VassError::SwapFailed) => FaultOutcome::SwapFailed,
            Err(VassError::Revoked) => FaultOutcome::Revoked,
            Err(_) => FaultOutcome::OutOfFrames,
        };
        if outcome == FaultOutcome::Mapped {
            let now = self.now;
            if let Some(partition) = self.partitions.get_mut(&id) {
                partition.recent_shared_faults.record(now, 1);
            }
            self.review_replication(space, id, table, frames);
        }
        outcome
    }

    /// Maps every page of `range` of view `id` (a mapper's commit through
    /// its view). Returns how many pages the source committed for it.
    pub(super) fn commit_view_range(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        range: PageRange,
        need: Need,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<u64, VassError> {
        let mut committed = 0;
        for page in range.start..range.end {
            let need = match need {
                Need::Now => Need::Now,
                // The source's own pages are what a commit ahead must not
                // push out: its range there is the one the view maps.
                Need::Ahead(_) | Need::Guess(_) => match self.view_target(id, page) {
                    Some((_, target)) => Need::Ahead(single(target)),
                    None => return Err(VassError::Revoked),
                },
            };
            if matches!(self.fill_view(space, id, page, need, table, frames)?, Filled::Committed | Filled::SwappedIn | Filled::Replicated) {
                committed += 1;
            }
        }
        Ok(committed)
    }

    /// The pieces of source offsets that `range` of partition `id` covers.
    pub(super) fn offsets_in(partition: &Partition, range: PageRange) -> Vec<PageRange> {
        let mut pieces = Vec::new();
        let mut before = 0;
        for own in &partition.ranges {
            let piece = own.intersection(&range);
            if !piece.is_empty() {
                let start = before + (piece.start - own.start);
                pieces.push(PageRange::new(start, start + piece.len()));
            }
            before += own.len();
        }
        pieces
    }

    /// Unmaps the pages `range` of partition `id` from every view that
    /// maps them, flushing each entry: before their frames go. Returns
    /// whether any of those entries was dirty. A view whose space the
    /// tables do not reach keeps its entries (and so the frames, which the
    /// frame source frees only unmapped); callers that free check
    /// [`Vass::views_reachable`] first.
    pub(super) fn unmap_views(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        let Some(partition) = self.partitions.get_mut(&id) else { return false };
        if partition.views.is_empty() {
            return false;
        }
        let offsets = Self::offsets_in(partition, range);
        let mut dirty = false;
        for view in partition.views.values_mut() {
            for piece in &offsets {
                let pages = view.pages_of(*piece);
                if pages.is_empty() {
                    continue;
                }
                // 2 MiB entries go whole.
                let blocks: Vec<Page> = view.huge.range(block_of(pages.start)..pages.end).copied().collect();
                for start in blocks {
                    if let Some(mut cursor) = table.cursor(view.space, block(start)) {
                        dirty |= cursor.entry().is_some_and(|entry| entry.dirty);
                        unmap_flushed(&mut cursor, frames, true);
                        view.huge.remove(&start);
                    }
                }
                let gone: Vec<Page> = view.mapped.range(pages.start..pages.end).copied().collect();
                if gone.is_empty() {
                    continue;
                }
                let Some(mut cursor) = table.cursor(view.space, pages) else { continue };
                for page in gone {
                    cursor.jump(page);
                    dirty |= cursor.entry().is_some_and(|entry| entry.dirty);
                    unmap_flushed(&mut cursor, frames, false);
                    view.mapped.remove(&page);
                }
            }
        }
        dirty
    }

    /// Whether the tables reach every space that maps a page of partition
    /// `id` through a view.
    pub(super) fn views_reachable(&self, id: PartitionId, table: &impl PageTable) -> bool {
        self.partitions.get(&id).is_none_or(|partition| partition.views.values().all(|view| (view.mapped.is_empty() && view.huge.is_empty()) || table.reaches(view.space)))
    }

    /// Whether a view's entry for page `page` of partition `id` has its
    /// dirty bit set (read, not cleared).
    pub(super) fn views_dirty(&self, id: PartitionId, page: Page, table: &impl PageTable) -> bool {
        self.view_entries(id, page, table).any(|entry| entry.dirty)
    }

    /// Whether a view's entry for page `page` of partition `id` has its
    /// accessed bit set; with `clear`, the bits are cleared.
    pub(super) fn views_accessed(&self, id: PartitionId, page: Page, table: &mut impl PageTable, clear: bool) -> bool {
        let Some(partition) = self.partitions.get(&id) else { return false };
        if partition.views.is_empty() {
            return false;
        }
        let Some(offset) = partition.offset_of(page) else { return false };
        let mut accessed = false;
        for view in partition.views.values() {
            let Some(mapped) = view.page_of(offset).filter(|&mapped| view.maps(mapped)) else { continue };
            if let Some(mut cursor) = table.cursor(view.space, single(mapped)) {
                accessed |= if clear { cursor.clear_accessed() } else { cursor.entry().is_some_and(|entry| entry.accessed) };
            }
        }
        accessed
    }

    /// The entries views have for page `page` of partition `id`.
    fn view_entries<'a>(&'a self, id: PartitionId, page: Page, table: &'a impl PageTable) -> impl Iterator<Item = Entry> + 'a {
        let partition = self.partitions.get(&id);
        let offset = partition.and_then(|partition| partition.offset_of(page));
        partition.into_iter().flat_map(|partition| partition.views.values()).filter_map(move |view| {
            let mapped = view.page_of(offset?).filter(|&mapped| view.maps(mapped))?;
            entry_of(table, view.space, mapped)
        })
    }

    /// Unmaps the entries of view `id` inside `range` (a decommit in a
    /// view: the contents stay with the source). Returns how many it had.
    /// What the view wrote stays written: the source's pages it dirtied
    /// count as written (their contents exist nowhere else).
    pub(super) fn unmap_view_pages(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) -> u64 {
        let Some(of) = self.partitions.get(&id).and_then(|partition| partition.view) else { return 0 };
        let Some(view) = self.partitions.get_mut(&of.source).and_then(|source| source.views.get_mut(&id)) else { return 0 };
        let blocks: Vec<Page> = view.huge.range(block_of(range.start)..range.end).copied().collect();
        let mut written = Vec::new();
        for start in blocks {
            if let Some(mut cursor) = table.cursor(view.space, block(start)) {
                if cursor.entry().is_some_and(|entry| entry.dirty) {
                    // Which of its pages were written is unknown: all were.
                    written.extend(start..start + HUGE_PAGES);
                }
                unmap_flushed(&mut cursor, frames, true);
                view.huge.remove(&start);
            }
        }
        let gone: Vec<Page> = view.mapped.range(range.start..range.end).copied().collect();
        let Some(mut cursor) = table.cursor(view.space, range) else { return 0 };
        for &page in &gone {
            cursor.jump(page);
            if cursor.entry().is_some_and(|entry| entry.dirty) {
                written.push(page);
            }
            unmap_flushed(&mut cursor, frames, false);
            view.mapped.remove(&page);
        }
        let targets: Vec<Page> = written.iter().filter_map(|&page| self.view_target(id, page)).map(|(_, target)| target).collect();
        self.mark_written(of.source, &targets);
        gone.len() as u64
    }

    /// Committed `pages` of partition `id` were written where its own
    /// entries do not show it (through a view whose entry is gone): a
    /// clean copy in swap is stale and goes, and eviction writes them.
    pub(super) fn mark_written(&mut self, id: PartitionId, pages: &[Page]) {
        let Some(partition) = self.partitions.get_mut(&id) else { return };
        for &page in pages.iter().filter(|page| partition.committed.contains_key(page)) {
            if let Some(Backing::Copy(entry)) = partition.backing.insert(page, Backing::Unique)
                && !self.slots.is_quarantined(entry.slot)
            {
                self.slots.free(entry.slot);
            }
        }
    }

    /// Changes the rights of the entries view `id` has inside `range` to
    /// the view's rights there (after a protect of the view).
    pub(super) fn reprotect_view(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable) -> Result<(), VassError> {
        let Some(partition) = self.partitions.get(&id) else { return Ok(()) };
        let Some(of) = partition.view else { return Ok(()) };
        let Some(view) = self.partitions.get(&of.source).and_then(|source| source.views.get(&id)) else { return Ok(()) };
        let pages: Vec<(Page, Rights)> = view
            .mapped
            .range(range.start..range.end)
            .map(|&page| {
                let rights = partition.rights_at(page);
                (page, self.view_target(id, page).map_or(rights, |(source, target)| self.write_rights(source, target, rights)))
            })
            .collect();
        let blocks: Vec<(Page, Rights)> = view.huge.range(block_of(range.start)..range.end).map(|&start| (start, partition.rights_at(start))).collect();
        let mut cursor = table.cursor(view.space, PageRange::new(block_of(range.start), range.end)).ok_or(VassError::PageTable)?;
        for (page, rights) in pages {
            cursor.jump(page);
            cursor.protect(rights)?;
        }
        for (start, rights) in blocks {
            cursor.jump(start);
            cursor.protect_huge(rights)?;
        }
        Ok(())
    }

    /// Lets view `id` go of its source: every entry it has is unmapped and
    /// the source forgets it (its pages are not the view's to free).
    pub(super) fn detach_view(&mut self, id: PartitionId, table: &mut impl PageTable, frames: &mut impl FrameSource) {
        let Some(partition) = self.partitions.get(&id) else { return };
        let Some(of) = partition.view.filter(|of| !of.revoked) else { return };
        let range = partition.span();
        self.drop_view_replicas(id, range, table, frames);
        // A snapshot's own copies go, and so does what it kept preserved.
        self.release_own(id, range, table, frames);
        self.unmap_view_pages(id, range, table, frames);
        let Some(source) = self.partitions.get_mut(&of.source) else { return };
        let Some(record) = source.views.remove(&id) else { return };
        if record.cow {
            let pages: Vec<Page> = source
                .pages_at(record.offsets.start, record.offsets.end)
                .iter()
                .flat_map(|piece| source.committed.range(piece.start..piece.end).map(|(&page, _)| page))
                .collect();
            for page in pages {
                if self.replicas_of(of.source, page) == 0 {
                    self.restore_writers(of.source, page, table);
                }
            }
        }
    }

    /// Revokes view `id`: it maps nothing from now on (every entry is
    /// unmapped and flushed) and its source forgets it; it stays in its
    /// space until destroyed, every fault there failing as revoked.
    pub fn revoke_view(&mut self, id: PartitionId, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<(), VassError> {
        let partition = self.partitions.get(&id).ok_or(VassError::UnknownPartition)?;
        if partition.view.is_none() {
            return Err(VassError::Shared);
        }
        self.detach_view(id, table, frames);
        if let Some(view) = self.partitions.get_mut(&id).and_then(|partition| partition.view.as_mut()) {
            view.revoked = true;
        }
        Ok(())
    }

    /// The views of partition `id`, by id.
    pub fn views_of(&self, id: PartitionId) -> impl Iterator<Item = (PartitionId, &View)> {
        self.partitions.get(&id).into_iter().flat_map(|partition| partition.views.iter().map(|(&id, view)| (id, view)))
    }
}
