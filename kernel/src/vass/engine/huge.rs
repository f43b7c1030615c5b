//! 2 MiB pages: a fully committed, aligned block of a partition becomes one
//! 2 MiB page when a 2 MiB run of frames is free (promotion copies it);
//! releasing or protecting part of one splits it back into 512 pages
//! (demotion keeps the frames and data).
//!
//! A block may be one when it lies in one of its partition's ranges with
//! the same rights on every page (`Partition::huge_eligible`) and neither
//! its space nor the system is under a budget (every page must be
//! evictable alone). A commit of the whole empty block maps a fresh run at
//! once; a block filled by faults or smaller commits is copied into a run
//! (its accessed bits folded into hits first), remapped as one page, and
//! its old frames freed. A partial decommit, protect or shrink demotes: the
//! 2 MiB mapping is replaced by 512 mappings of the same frames and the
//! buddy block is split, so they are freed one by one. No free run, no
//! promotion; neither direction loses data.

use super::*;

impl Vass {
    /// The first pages of partition `id`'s 2 MiB pages that overlap `range`.
    pub(super) fn huge_blocks_in(&self, id: PartitionId, range: PageRange) -> Vec<Page> {
        self.partitions.get(&id).map_or_else(Vec::new, |partition| {
            partition.huge.iter().copied().filter(|&start| range.overlaps(&PageRange::new(start, start + HUGE_PAGES))).collect()
        })
    }

    /// Folds the accessed bit of the 2 MiB page at `start` into the hit
    /// counts of its untouched pages (one bit covers all 512).
    pub(super) fn fold_huge_accessed(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable) {
        let Some(partition) = self.partitions.get_mut(&id) else { return };
        let space = partition.space;
        let untouched: Vec<Page> = partition.untouched.range(start..start + HUGE_PAGES).copied().collect();
        if untouched.is_empty() || !accessed(table, space, start) {
            return;
        }
        for page in &untouched {
            partition.untouched.remove(page);
        }
        if let Some(mut ledger) = self.ledger(id) {
            ledger.hits(untouched.len() as u64, 1);
        }
    }

    /// Unmaps the 2 MiB page at `start` and turns its frames into 4 KiB
    /// frames that are still committed (but mapped nowhere): only for
    /// blocks `release` frees next.
    pub(super) fn unmap_huge_block(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) {
        self.fold_huge_accessed(id, start, table);
        let Some(partition) = self.partitions.get_mut(&id) else { return };
        if let Some(mut cursor) = table.cursor(partition.space, block(start))
            && unmap_flushed(&mut cursor, frames, true).is_some()
            && let Some(first) = partition.committed.get(&start)
        {
            frames.split_huge(first);
        }
        partition.huge.remove(&start);
        if let Some(mut ledger) = self.ledger(id) {
            ledger.demoted();
        }
    }

    /// Splits the 2 MiB page at `start` into 512 4 KiB pages of the same
    /// frames and rights. Fails (changing nothing) only when no frame is
    /// left for the new page table.
    pub(super) fn demote(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<(), VassError> {
        // Views that map it as a 2 MiB page map 4 KiB pages of it again on
        // their next touch.
        self.unmap_views(id, block(start), table, frames);
        self.fold_huge_accessed(id, start, table);
        let partition = self.partitions.get_mut(&id).ok_or(VassError::UnknownPartition)?;
        let space = partition.space;
        let rights = partition.rights_at(start);
        // The 4 KiB entries start clean: if the 2 MiB page was written, which
        // of its pages were is unknown, so all of them count as written.
        let mut cursor = table.cursor(space, block(start)).ok_or(VassError::PageTable)?;
        let written = cursor.entry().is_some_and(|entry| entry.dirty);
        let base = unmap_flushed(&mut cursor, frames, true).ok_or(VassError::PageTable)?;
        let first = partition.committed.get(&start).ok_or(VassError::PageTable)?;
        if let Err(error) = map_counted(&mut cursor, frames, first, rights) {
            // The first 4 KiB mapping needs the new page table: nothing was
            // mapped, so the 2 MiB page goes back as it was (the same run,
            // which the residency still holds).
            map_huge_counted(&mut cursor, frames, &HugeRun::held(base), rights)?;
            return Err(error);
        }
        for offset in 1..HUGE_PAGES {
            let frame = partition.committed.get(&(start + offset)).ok_or(VassError::PageTable)?;
            cursor.jump(start + offset);
            map_counted(&mut cursor, frames, frame, rights)?;
        }
        if let Some(first) = partition.committed.get(&start) {
            frames.split_huge(first);
        }
        partition.huge.remove(&start);
        if written {
            for page in start..start + HUGE_PAGES {
                if let Some(Backing::Copy(entry)) = partition.backing.insert(page, Backing::Unique)
                    && !self.slots.is_quarantined(entry.slot)
                {
                    self.slots.free(entry.slot);
                }
            }
        }
        if let Some(mut ledger) = self.ledger(id) {
            ledger.demoted();
        }
        Ok(())
    }

    /// Turns the fully committed block at `start` into a 2 MiB page when it
    /// may be one and a 2 MiB run of frames is free: copies the 512 pages
    /// into the run, maps it, and frees the old frames. Returns whether it
    /// did.
    pub(super) fn promote(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        let Some(partition) = self.partitions.get(&id) else { return false };
        let space = partition.space;
        if !self.huge_pages
            || self.budgeted(space)
            || partition.huge.contains(&start)
            || partition.fill.get(&start) != Some(&HUGE_PAGES)
            || !partition.huge_eligible(start)
        {
            return false;
        }
        let rights = partition.rights_at(start);
        if !partition.views.is_empty() && !self.views_reachable(id, table) {
            return false;
        }
        let Some(run) = frames.allocate_huge(id) else { return false };
        // The views' 4 KiB entries map the frames about to be replaced (what
        // they wrote is copied with the rest, and counts as written).
        if self.unmap_views(id, block(start), table, frames) {
            let pages: Vec<Page> = (start..start + HUGE_PAGES).collect();
            self.mark_written(id, &pages);
        }
        let Some(partition) = self.partitions.get(&id) else {
            free_run(frames, run);
            return false;
        };
        // Accessed bits of untouched pages are folded in while each page
        // still has its own.
        let Some(mut cursor) = table.cursor(space, block(start)) else {
            free_run(frames, run);
            return false;
        };
        let seen: Vec<Page> = partition.untouched.range(start..start + HUGE_PAGES).copied().filter(|&page| cursor.accessed_at(page)).collect();
        for (offset, (_, frame)) in partition.committed.range(start..start + HUGE_PAGES).enumerate() {
            frames.copy_into_run(frame, &run, offset as u64);
        }
        for page in start..start + HUGE_PAGES {
            cursor.jump(page);
            unmap_flushed(&mut cursor, frames, false);
        }
        cursor.jump(start);
        if map_huge_counted(&mut cursor, frames, &run, rights).is_err() {
            for (&page, frame) in partition.committed.range(start..start + HUGE_PAGES) {
                cursor.jump(page);
                let _ = map_counted(&mut cursor, frames, frame, rights);
            }
            free_run(frames, run);
            return false;
        }
        let Some(partition) = self.partitions.get_mut(&id) else { return false };
        for (offset, frame) in run.into_frames().enumerate() {
            if let Some(old) = partition.hold(start + offset as u64, frame) {
                frames.free(old);
            }
        }
        for page in &seen {
            partition.untouched.remove(page);
        }
        partition.huge.insert(start);
        if let Some(mut ledger) = self.ledger(id) {
            ledger.hits(seen.len() as u64, HUGE_PAGES);
            ledger.promoted();
        }
        true
    }

    /// Commits the whole empty block at `start` as one fresh 2 MiB page.
    /// Returns whether it did.
    pub(super) fn commit_huge(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        let Some(partition) = self.partitions.get(&id) else { return false };
        if !self.huge_pages
            || self.budgeted(partition.space)
            || partition.fill.contains_key(&start)
            || partition.swapped.range(start..start + HUGE_PAGES).next().is_some()
            || !partition.huge_eligible(start)
        {
            return false;
        }
        let (space, rights) = (partition.space, partition.rights_at(start));
        let Some(run) = frames.allocate_huge(id) else { return false };
        let mapped = table.cursor(space, block(start)).map(|mut cursor| map_huge_counted(&mut cursor, frames, &run, rights));
        if !matches!(mapped, Some(Ok(()))) {
            free_run(frames, run);
            return false;
        }
        let Some(partition) = self.partitions.get_mut(&id) else { return false };
        for (offset, frame) in run.into_frames().enumerate() {
            if let Some(replaced) = partition.hold(start + offset as u64, frame) {
                // Unreachable: the block was empty (checked above).
                frames.free(replaced);
            }
        }
        partition.huge.insert(start);
        if let Some(mut ledger) = self.ledger(id) {
            ledger.committed(HUGE_PAGES);
            ledger.promoted();
        }
        true
    }
}

/// Gives back a 2 MiB run that was never mapped: split into 512 frames,
/// each freed.
fn free_run(frames: &mut impl FrameSource, run: HugeRun) {
    let held: Vec<UserFrame> = run.into_frames().collect();
    frames.split_huge(&held[0]);
    for frame in held {
        frames.free(frame);
    }
}
