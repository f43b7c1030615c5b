//! Replicas: a view that reads a shared partition can read its own copies
//! of the source's pages, for speed (its reads touch nothing of the
//! primary; on a machine with several memory nodes the copy can sit on the
//! reader's) and for availability (a clean replica restores a primary
//! whose swap copy was lost).
//!
//! - **Making one.** A read fault in a replicating view (one that maps
//!   without `WRITE`; [`Vass::set_replicate`]) copies the source's page
//!   (committed or read back first, as for any view fault) into a frame
//!   of the view's own, charged to the reader: the view's committed page,
//!   mapped read-only, evicted under the reader's budget (a clean drop:
//!   it is copied again on the next read). The replica records the
//!   source page's version ([`Partition::versions`]).
//! - **Coherence is write-invalidate.** While a page has replicas every
//!   entry that could write the primary (the owner's, and those of views
//!   with `WRITE`) maps it read-only ([`Vass::write_rights`]), so the
//!   first write faults: [`Vass::protection_fault`] then unmaps and frees
//!   every replica of the page (each flushed), raises its version and
//!   gives the writers their rights back ([`FaultOutcome::Invalidated`]);
//!   the next read in a replicating view copies the new contents. A live
//!   replica always holds the page's current version, which the checker
//!   and the tests verify. Dropping a page of the source (decommit,
//!   release) drops its replicas; evicting it keeps them (they are clean
//!   copies of what was swapped out).
//! - **Availability.** When the primary's page cannot be read back from
//!   swap (a device error or a checksum mismatch), a replica of it
//!   restores it: a fresh frame for the source, the replica's contents,
//!   and the page is resident again; nobody dies
//!   (`SpaceCounters::replica_restores` counts it for the owner).
//! - **When to replicate** ([`Vass::review_replication`], run at each
//!   view fault): a read-only view that keeps faulting on a page its
//!   source already holds (minor faults of sharing) while that source is
//!   rarely written turns replication on; a source whose replicas are
//!   invalidated often turns it off for its views (dropping their
//!   replicas), with hysteresis between the two thresholds so it does not
//!   flap. A program can also ask for it (`Advice::Replicate`) or refuse
//!   it (`Advice::Unreplicate`).

use super::view::Filled;
use super::*;

/// Minor faults of a read-only view over the recent windows
/// ([`Recent`]) after which it replicates, if its source is rarely
/// written.
pub const REPLICATE_AFTER_SHARED_FAULTS: u64 = 16;
/// Invalidations of a source's replicas over the recent windows at or
/// below which a view may start replicating.
pub const REPLICATE_BELOW_INVALIDATIONS: u64 = 2;
/// Invalidations over the recent windows at which the source's views stop
/// replicating (above [`REPLICATE_BELOW_INVALIDATIONS`]: hysteresis).
pub const STOP_AT_INVALIDATIONS: u64 = 8;

impl Vass {
    /// Makes view `id` of `space` read through replicas (or stop: its
    /// replicas are dropped). Only a view without `WRITE` replicates.
    pub fn set_replicate(&mut self, space: SpaceId, id: PartitionId, on: bool, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<(), VassError> {
        let partition = self.owned(space, id)?;
        let of = partition.view.ok_or(VassError::Shared)?;
        if of.revoked {
            return Err(VassError::Revoked);
        }
        if on && partition.max_rights.contains(Rights::WRITE) {
            return Err(VassError::Shared);
        }
        if !on {
            let span = partition.span();
            self.drop_view_replicas(id, span, table, frames);
        }
        if let Some(view) = self.partitions.get_mut(&of.source).and_then(|source| source.views.get_mut(&id)) {
            view.replicate = on;
        }
        // A replicating view maps 4 KiB copies: the source's 2 MiB pages it
        // covers are split.
        if on {
            self.split_unaligned(of.source, table, frames)?;
        }
        Ok(())
    }

    /// How many views hold a replica of page `page` of partition `id`.
    pub fn replicas_of(&self, id: PartitionId, page: Page) -> usize {
        let Some(partition) = self.partitions.get(&id) else { return 0 };
        if partition.views.is_empty() {
            return 0;
        }
        let Some(offset) = partition.offset_of(page) else { return 0 };
        partition.views.values().filter(|view| view.page_of(offset).is_some_and(|mapped| view.replicas.contains_key(&mapped))).count()
    }

    /// The rights an entry for page `page` of partition `id` has when its
    /// partition (or view) gives `rights`: without `WRITE` while the page
    /// has replicas (or a copy-on-write view reads it from the source
    /// still), so the first write faults and invalidates them. A partition
    /// without views (every commit's case) costs one lookup.
    pub fn write_rights(&self, id: PartitionId, page: Page, rights: Rights) -> Rights {
        if !rights.contains(Rights::WRITE) || self.partitions.get(&id).is_none_or(|partition| partition.views.is_empty()) {
            return rights;
        }
        if self.replicas_of(id, page) > 0 || self.snapshotted(id, page) { rights - Rights::WRITE } else { rights }
    }

    /// Makes a replica of the source's page for page `page` of view `id`
    /// (in `space`), committing or reading back the source's page first.
    pub(super) fn make_replica(&mut self, space: SpaceId, id: PartitionId, page: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<Filled, VassError> {
        let (source, target) = self.view_target(id, page).ok_or(VassError::Revoked)?;
        let rights = self.partitions.get(&id).ok_or(VassError::UnknownPartition)?.rights_at(page);
        if !self.partitions.get(&source).is_some_and(|partition| partition.committed.contains_key(&target)) {
            self.commit_page(source, target, Need::Now, table, frames)?;
        }
        let first = self.replicas_of(source, target) == 0;
        // The reader pays for its copy.
        self.make_room(space, Need::Now, table, frames)?;
        let frame = self.allocate_frame(space, id, Need::Now, table, frames)?;
        let held = self.partitions.get(&source).and_then(|partition| partition.committed.get(&target));
        let Some(original) = held else {
            frames.free(frame);
            return Err(VassError::PageTable);
        };
        frames.copy_frame(original, &frame);
        let frame = map_fresh(table, frames, space, page, frame, rights - Rights::WRITE)?;
        let version = self.partitions.get(&source).and_then(|partition| partition.versions.get(&target)).copied().unwrap_or(0);
        if let Some(replaced) = self.partitions.get_mut(&id).and_then(|view| view.hold(page, frame)) {
            frames.free(replaced);
        }
        if let Some(view) = self.partitions.get_mut(&source).and_then(|partition| partition.views.get_mut(&id)) {
            view.replicas.insert(page, version);
        }
        if let Some(mut ledger) = self.ledger(id) {
            ledger.committed(1);
        }
        if first {
            self.protect_writers(source, target, table);
        }
        Ok(Filled::Replicated)
    }

    /// Maps page `page` of partition `id` (committed) read-only in its
    /// owner and in every view with `WRITE` that maps it: its first replica
    /// was made.
    pub(super) fn protect_writers(&mut self, id: PartitionId, page: Page, table: &mut impl PageTable) {
        let Some(partition) = self.partitions.get(&id) else { return };
        if partition.committed.contains_key(&page)
            && let Some(mut cursor) = table.cursor(partition.space, single(page))
        {
            let _ = cursor.protect(partition.rights_at(page) - Rights::WRITE);
        }
        let Some(offset) = partition.offset_of(page) else { return };
        for (&view_id, view) in &partition.views {
            let Some(mapped) = view.page_of(offset).filter(|mapped| view.mapped.contains(mapped)) else { continue };
            let rights = self.partitions.get(&view_id).map_or(Rights::READ, |entry| entry.rights_at(mapped));
            if rights.contains(Rights::WRITE)
                && let Some(mut cursor) = table.cursor(view.space, single(mapped))
            {
                let _ = cursor.protect(rights - Rights::WRITE);
            }
        }
    }

    /// Invalidates every replica of page `page` of partition `id` (a write
    /// is coming): each is unmapped, flushed and freed, the page's version
    /// rises and its writers get `WRITE` back.
    /// Returns false, invalidating nothing, when a copy-on-write view could
    /// not get its copy of the page (memory is exhausted).
    pub(super) fn invalidate(&mut self, id: PartitionId, page: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        // Snapshots keep the page as it was.
        if !self.copy_before_write(id, page, table, frames) {
            return false;
        }
        let Some(partition) = self.partitions.get(&id) else { return true };
        let Some(offset) = partition.offset_of(page) else { return true };
        let holders: Vec<(PartitionId, Page)> = partition
            .views
            .iter()
            .filter_map(|(&view, record)| record.page_of(offset).filter(|mapped| record.replicas.contains_key(mapped)).map(|mapped| (view, mapped)))
            .collect();
        for (view, mapped) in holders {
            self.drop_replicas_in(view, single(mapped), table, frames, false);
        }
        let now = self.now;
        let Some(partition) = self.partitions.get_mut(&id) else { return true };
        *partition.versions.entry(page).or_default() += 1;
        partition.recent_invalidations.record(now, 1);
        self.restore_writers(id, page, table);
        true
    }

    /// Gives the entries that may write page `page` of partition `id`
    /// their rights back (it has no replica left).
    pub(super) fn restore_writers(&mut self, id: PartitionId, page: Page, table: &mut impl PageTable) {
        if self.snapshotted(id, page) {
            return;
        }
        let Some(partition) = self.partitions.get(&id) else { return };
        let Some(offset) = partition.offset_of(page) else { return };
        let rights = partition.rights_at(page);
        if partition.committed.contains_key(&page)
            && let Some(mut cursor) = table.cursor(partition.space, single(page))
        {
            let _ = cursor.protect(rights);
        }
        let writers: Vec<(SpaceId, Page, PartitionId)> = partition
            .views
            .iter()
            .filter_map(|(&view, record)| record.page_of(offset).filter(|mapped| record.mapped.contains(mapped)).map(|mapped| (record.space, mapped, view)))
            .collect();
        for (space, mapped, view) in writers {
            let rights = self.partitions.get(&view).map_or(Rights::READ, |entry| entry.rights_at(mapped));
            if let Some(mut cursor) = table.cursor(space, single(mapped)) {
                let _ = cursor.protect(rights);
            }
        }
    }

    /// Frees the replicas view `id` holds inside `range`: each unmapped,
    /// flushed and freed. Returns how many.
    pub(super) fn drop_view_replicas(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) -> u64 {
        self.drop_replicas_in(id, range, table, frames, true)
    }

    /// As [`Vass::drop_view_replicas`]; `restore`: give the source pages
    /// left without a replica their writers back (an invalidation, which
    /// drops them all, does that once at the end).
    fn drop_replicas_in(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource, restore: bool) -> u64 {
        let Some(partition) = self.partitions.get_mut(&id) else { return 0 };
        let Some(of) = partition.view else { return 0 };
        let pages: Vec<Page> = partition.committed.range(range.start..range.end).map(|(&page, _)| page).collect();
        if pages.is_empty() {
            return 0;
        }
        let space = partition.space;
        let mut cursor = table.cursor(space, range);
        for &page in &pages {
            if let Some(cursor) = cursor.as_mut() {
                cursor.jump(page);
                unmap_flushed(cursor, frames, false);
            }
            if let Some(frame) = partition.take(page) {
                frames.free(frame);
            }
        }
        if let Some(view) = self.partitions.get_mut(&of.source).and_then(|source| source.views.get_mut(&id)) {
            for page in &pages {
                view.replicas.remove(page);
            }
        }
        drop(cursor);
        if let Some(mut ledger) = self.ledger(id) {
            ledger.released(pages.len() as u64, 0, 0);
        }
        if restore {
            self.replicas_gone(id, &pages, table);
        }
        pages.len() as u64
    }

    /// View `id`'s replicas of `pages` went: the source pages left with no
    /// replica are writable again for their writers.
    pub(super) fn replicas_gone(&mut self, id: PartitionId, pages: &[Page], table: &mut impl PageTable) {
        let targets: Vec<(PartitionId, Page)> = pages.iter().filter_map(|&page| self.view_target(id, page)).collect();
        for (source, target) in targets {
            if self.replicas_of(source, target) == 0 {
                self.restore_writers(source, target, table);
            }
        }
    }

    /// Drops the replicas of the source pages `range` of partition `id`
    /// (their contents are going).
    pub(super) fn drop_replicas_of(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) {
        let Some(partition) = self.partitions.get(&id) else { return };
        if partition.views.values().all(|view| view.replicas.is_empty()) {
            return;
        }
        let offsets = Self::offsets_in(partition, range);
        let holders: Vec<(PartitionId, PageRange)> = partition
            .views
            .iter()
            .flat_map(|(&view, record)| offsets.iter().map(move |piece| (view, record.pages_of(*piece))))
            .filter(|(_, pages)| !pages.is_empty())
            .collect();
        for (view, pages) in holders {
            self.drop_view_replicas(view, pages, table, frames);
        }
    }

    /// A replica of page `page` of partition `id` holding its current
    /// version, if a view has one: (view, the view's page).
    fn clean_replica(&self, id: PartitionId, page: Page) -> Option<(PartitionId, Page)> {
        let partition = self.partitions.get(&id)?;
        let offset = partition.offset_of(page)?;
        let version = partition.versions.get(&page).copied().unwrap_or(0);
        partition.views.iter().find_map(|(&view, record)| {
            let mapped = record.page_of(offset)?;
            (record.replicas.get(&mapped) == Some(&version)).then_some((view, mapped))
        })
    }

    /// Page `page` of partition `id` could not be read back from swap: a
    /// clean replica restores it (a fresh frame with its contents, mapped
    /// for the owner). Returns whether one did.
    pub(super) fn restore_from_replica(&mut self, id: PartitionId, page: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        let Some((view, mapped)) = self.clean_replica(id, page) else { return false };
        let Some(space) = self.partitions.get(&id).map(|partition| partition.space) else { return false };
        if self.make_room(space, Need::Now, table, frames).is_err() {
            return false;
        }
        let Ok(frame) = self.allocate_frame(space, id, Need::Now, table, frames) else { return false };
        // The replica may have gone while room was made.
        let Some(replica) = self.partitions.get(&view).and_then(|entry| entry.committed.get(&mapped)) else {
            frames.free(frame);
            return false;
        };
        frames.copy_frame(replica, &frame);
        let rights = self.write_rights(id, page, self.partitions.get(&id).map_or(Rights::READ, |partition| partition.rights_at(page)));
        let Ok(frame) = map_fresh(table, frames, space, page, frame, rights) else { return false };
        let Some(partition) = self.partitions.get_mut(&id) else { return false };
        // The quarantined slot stays quarantined; the page lives in memory.
        partition.swapped.remove(&page);
        partition.backing.insert(page, Backing::Unique);
        if let Some(replaced) = partition.hold(page, frame) {
            frames.free(replaced);
        }
        if let Some(mut ledger) = self.ledger(id) {
            ledger.committed(1);
        }
        self.space_mut(space).counters.replica_restores += 1;
        true
    }

    /// A protection fault at `page` of `space` (mapped without the rights
    /// `access` needs): a write to a page write-protected for its replicas
    /// invalidates them ([`FaultOutcome::Invalidated`]: retry); anything
    /// else is a rights violation, as [`Vass::refuse`] says.
    pub fn protection_fault(&mut self, space: SpaceId, page: Page, access: Access, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Resolution {
        let placement = self.placement(space, page);
        let target = placement.and_then(|placement| {
            let partition = self.partitions.get(&placement.partition)?;
            if partition.revoked() || !partition.rights_at(page).contains(access.right()) || access != Access::Write {
                return None;
            }
            match partition.view {
                Some(_) => self.view_target(partition.id, page),
                None => partition.committed.contains_key(&page).then_some((partition.id, page)),
            }
        });
        let (Some(placement), Some((source, target))) = (placement, target) else { return self.refuse(space, page, access) };
        let id = placement.partition;
        let done = if self.is_copy_on_write(id, page) {
            // A write in a snapshot: its own copy.
            self.make_private(space, id, page, table, frames).is_ok()
        } else {
            self.invalidate(source, target, table, frames)
        };
        let outcome = if done { FaultOutcome::Invalidated } else { FaultOutcome::OutOfFrames };
        self.count_fault(space, Some(id), access, outcome);
        if done {
            self.review_replication(space, id, table, frames);
        }
        Resolution { outcome, placement: Some(placement) }
    }

    /// The replication policy, after a fault in partition `id` of `space`
    /// (see the module documentation): a read-only view that keeps taking
    /// minor faults while its source is rarely written starts replicating;
    /// a source invalidated often stops its views replicating.
    pub(super) fn review_replication(&mut self, space: SpaceId, id: PartitionId, table: &mut impl PageTable, frames: &mut impl FrameSource) {
        let now = self.now;
        let Some(partition) = self.partitions.get(&id) else { return };
        let source = match partition.view {
            Some(of) if !of.revoked => of.source,
            Some(_) => return,
            None => id,
        };
        let Some(source_entry) = self.partitions.get(&source) else { return };
        if source_entry.views.is_empty() {
            return;
        }
        let invalidations = source_entry.recent_invalidations.total(now);
        if invalidations >= STOP_AT_INVALIDATIONS {
            let replicating: Vec<(SpaceId, PartitionId)> =
                source_entry.views.iter().filter(|(_, view)| view.replicate).map(|(&view, record)| (record.space, view)).collect();
            for (view_space, view) in replicating {
                let _ = self.set_replicate(view_space, view, false, table, frames);
            }
            return;
        }
        let candidate = partition.view.is_some()
            && !partition.max_rights.contains(Rights::WRITE)
            && partition.recent_shared_faults.total(now) >= REPLICATE_AFTER_SHARED_FAULTS
            && invalidations <= REPLICATE_BELOW_INVALIDATIONS
            && source_entry.views.get(&id).is_some_and(|view| !view.replicate);
        if candidate {
            let _ = self.set_replicate(space, id, true, table, frames);
        }
    }
}
