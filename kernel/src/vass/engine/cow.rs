//! Copy-on-write views: a private snapshot of a shared partition, which
//! its process may write (as `fork` gives a child, or `MAP_PRIVATE` a
//! file). It is built from the replicas' machinery: write protection of
//! the source's writers, and copies into the view's own frames.
//!
//! - **The snapshot** is the source's contents when the view is made
//!   ([`Vass::make_copy_on_write`]). A page the view has no copy of is
//!   read from the source, mapped read-only; while any copy-on-write view
//!   still reads a page from the source, every writer maps it read-only
//!   ([`Vass::write_rights`]), and the first write (its protection fault)
//!   first gives each such view a private copy of the page as it was:
//!   copy-before-write (a write that cannot, memory being exhausted, fails
//!   as out of memory rather than reach a snapshot). A decommit of the
//!   source does the same before the contents go (out of memory, that
//!   snapshot reads the zero page after).
//! - **Its writes** are private: a write fault in the view copies the page
//!   into a frame of the view's own (charged to it, written to swap and
//!   read back as its own), mapped writable; the source never sees it.
//! - A decommit in the view drops its copies (the next touch reads the
//!   source again, as `MADV_DONTNEED` on a private mapping does); revoking
//!   the view drops them too.

use super::*;

impl Vass {
    /// Makes the fresh view `id` of `space` (nothing mapped yet) a private
    /// snapshot of its source from now on.
    pub fn make_copy_on_write(&mut self, space: SpaceId, id: PartitionId, table: &mut impl PageTable) -> Result<(), VassError> {
        let partition = self.owned(space, id)?;
        let of = partition.view.filter(|of| !of.revoked).ok_or(VassError::Shared)?;
        let record = self.partitions.get(&of.source).and_then(|source| source.views.get(&id)).ok_or(VassError::Shared)?;
        if !record.mapped.is_empty() || !record.huge.is_empty() || record.replicate || !record.private.is_empty() {
            return Err(VassError::Shared);
        }
        let offsets = record.offsets;
        if let Some(record) = self.partitions.get_mut(&of.source).and_then(|source| source.views.get_mut(&id)) {
            record.cow = true;
        }
        // Every page it may read from the source is preserved from now on.
        let Some(source) = self.partitions.get(&of.source) else { return Ok(()) };
        let pages: Vec<Page> = source.pages_at(offsets.start, offsets.end).iter().flat_map(|range| source.committed.range(range.start..range.end).map(|(&page, _)| page)).collect();
        for page in pages {
            self.protect_writers(of.source, page, table);
        }
        Ok(())
    }

    /// Whether page `page` of partition `id` must keep its contents for a
    /// copy-on-write view that reads it from the source still.
    pub(super) fn snapshotted(&self, id: PartitionId, page: Page) -> bool {
        let Some(partition) = self.partitions.get(&id) else { return false };
        if !partition.views.values().any(|view| view.cow) {
            return false;
        }
        let Some(offset) = partition.offset_of(page) else { return false };
        partition.views.values().any(|view| view.cow && view.page_of(offset).is_some_and(|mapped| !view.private.contains(&mapped)))
    }

    /// Gives every copy-on-write view that still reads page `page` of
    /// partition `id` from the source a private copy of it as it is now
    /// (before a write or a decommit changes it). Returns whether every
    /// one got its copy (not when memory ran out).
    pub(super) fn copy_before_write(&mut self, id: PartitionId, page: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        let Some(partition) = self.partitions.get(&id) else { return true };
        let Some(offset) = partition.offset_of(page) else { return true };
        let readers: Vec<(PartitionId, SpaceId, Page)> = partition
            .views
            .iter()
            .filter(|(_, view)| view.cow)
            .filter_map(|(&view, record)| record.page_of(offset).filter(|mapped| !record.private.contains(mapped)).map(|mapped| (view, record.space, mapped)))
            .collect();
        let mut all = true;
        for (view, space, mapped) in readers {
            all &= self.make_private(space, view, mapped, table, frames).is_ok();
        }
        all
    }

    /// Gives page `page` of copy-on-write view `id` (in `space`) a private
    /// copy of its source's page, mapped with the view's rights.
    pub(super) fn make_private(&mut self, space: SpaceId, id: PartitionId, page: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<(), VassError> {
        let (source, target) = self.view_target(id, page).ok_or(VassError::Revoked)?;
        let rights = self.partitions.get(&id).ok_or(VassError::UnknownPartition)?.rights_at(page);
        // A page the source swapped out is read back first; one it never
        // committed is a zero page.
        if self.partitions.get(&source).is_some_and(|partition| partition.swapped.contains_key(&target)) {
            self.commit_page(source, target, Need::Now, table, frames)?;
        }
        self.make_room(space, Need::Now, table, frames)?;
        let frame = self.allocate_frame(space, id, Need::Now, table, frames)?;
        if let Some(original) = self.partitions.get(&source).and_then(|partition| partition.committed.get(&target)) {
            frames.copy_frame(original, &frame);
        }
        // Its read-only entry for the source's page goes first.
        if let Some(record) = self.partitions.get_mut(&source).and_then(|partition| partition.views.get_mut(&id))
            && record.mapped.remove(&page)
            && let Some(mut cursor) = table.cursor(space, single(page))
        {
            unmap_flushed(&mut cursor, frames, false);
        }
        let frame = map_fresh(table, frames, space, page, frame, rights)?;
        let view = self.partitions.get_mut(&id).ok_or(VassError::UnknownPartition)?;
        if let Some(replaced) = view.hold(page, frame) {
            frames.free(replaced);
        }
        // Its contents exist nowhere else.
        view.backing.insert(page, Backing::Unique);
        if let Some(record) = self.partitions.get_mut(&source).and_then(|partition| partition.views.get_mut(&id)) {
            record.private.insert(page);
        }
        if let Some(mut ledger) = self.ledger(id) {
            ledger.committed(1);
            ledger.demand_commit();
        }
        if !self.snapshotted(source, target) && self.replicas_of(source, target) == 0 {
            self.restore_writers(source, target, table);
        }
        Ok(())
    }

    /// Drops the private copies copy-on-write view `id` holds inside
    /// `range` (committed or swapped out): the next touch reads the source
    /// again, whose writers are write-protected for it again.
    pub(super) fn drop_private(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) {
        let Some(of) = self.partitions.get(&id).and_then(|partition| partition.view) else { return };
        let Some(record) = self.partitions.get_mut(&of.source).and_then(|source| source.views.get_mut(&id)) else { return };
        let pages: Vec<Page> = record.private.range(range.start..range.end).copied().collect();
        if pages.is_empty() {
            return;
        }
        for page in &pages {
            record.private.remove(page);
        }
        // Its own pages go as any partition's do.
        self.release_own(id, range, table, frames);
        let targets: Vec<(PartitionId, Page)> = pages.iter().filter_map(|&page| self.view_target(id, page)).collect();
        for (source, target) in targets {
            if self.partitions.get(&source).is_some_and(|partition| partition.committed.contains_key(&target)) {
                self.protect_writers(source, target, table);
            }
        }
    }
}

impl Vass {
    /// Whether page `page` of partition `id` is a page of a copy-on-write
    /// view that reads it from the source still.
    pub(super) fn is_copy_on_write(&self, id: PartitionId, page: Page) -> bool {
        let Some(of) = self.partitions.get(&id).and_then(|partition| partition.view) else { return false };
        self.partitions.get(&of.source).and_then(|source| source.views.get(&id)).is_some_and(|view| view.cow && !view.private.contains(&page))
    }

    /// Before the source's pages of `range` go, every copy-on-write view
    /// that reads one of them from the source gets its copy.
    pub(super) fn preserve_snapshots(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) {
        let Some(partition) = self.partitions.get(&id) else { return };
        if !partition.views.values().any(|view| view.cow) {
            return;
        }
        let pages: Vec<Page> = partition
            .committed
            .range(range.start..range.end)
            .map(|(&page, _)| page)
            .chain(partition.swapped.range(range.start..range.end).map(|(&page, _)| page))
            .collect();
        for page in pages {
            // Out of frames, a snapshot loses the page: it reads the
            // source's (zero) from then on.
            if self.snapshotted(id, page) {
                self.copy_before_write(id, page, table, frames);
            }
        }
    }
}

impl Vass {
    /// A fault in copy-on-write view `id` that its own pages answer: one it
    /// has a copy of (read back from swap if it went there), or a write,
    /// which makes its copy. `None`: a read from the source.
    pub(super) fn resolve_private(&mut self, space: SpaceId, id: PartitionId, page: Page, access: Access, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Option<FaultOutcome> {
        let of = self.partitions.get(&id)?.view?;
        let record = self.partitions.get(&of.source)?.views.get(&id)?;
        if !record.cow {
            return None;
        }
        if record.private.contains(&page) {
            if self.partitions.get(&id).is_some_and(|partition| partition.committed.contains_key(&page)) {
                return Some(FaultOutcome::AlreadyCommitted);
            }
            return Some(match self.commit_page(id, page, Need::Now, table, frames) {
                Ok(true) => {
                    if let Some(mut ledger) = self.ledger(id) {
                        ledger.major_fault();
                    }
                    FaultOutcome::SwappedIn
                }
                Ok(false) => FaultOutcome::Committed,
                Err(VassError::SwapFailed) => FaultOutcome::SwapFailed,
                Err(_) => FaultOutcome::OutOfFrames,
            });
        }
        if access != Access::Write {
            return None;
        }
        Some(match self.make_private(space, id, page, table, frames) {
            Ok(()) => FaultOutcome::Committed,
            Err(VassError::SwapFailed) => FaultOutcome::SwapFailed,
            Err(_) => FaultOutcome::OutOfFrames,
        })
    }
}
