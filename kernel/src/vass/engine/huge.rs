//! 2 MiB pages: a fully committed, aligned block of a partition becomes one
//! 2 MiB page when a 2 MiB run of frames is free (promotion copies it);
//! releasing or protecting part of one splits it back into 512 pages
//! (demotion keeps the frames and data).

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
        if untouched.is_empty() || !table.accessed(space, start, false) {
            return;
        }
        for page in &untouched {
            partition.untouched.remove(page);
        }
        let hits = untouched.len() as u64;
        partition.counters.hits += hits;
        let counters = &mut self.space_mut(space).counters;
        counters.hits += hits;
        counters.sampled += 1;
    }

    /// Unmaps the 2 MiB page at `start` and turns its frames into 4 KiB
    /// frames that are still committed (but mapped nowhere): only for
    /// blocks `release` frees next.
    pub(super) fn unmap_huge_block(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) {
        self.fold_huge_accessed(id, start, table);
        let Some(partition) = self.partitions.get_mut(&id) else { return };
        if let Some(base) = table.unmap_huge(partition.space, start) {
            frames.split_huge(base);
        }
        partition.huge.remove(&start);
        partition.counters.demotions += 1;
        let space = partition.space;
        self.space_mut(space).counters.demotions += 1;
    }

    /// Splits the 2 MiB page at `start` into 512 4 KiB pages of the same
    /// frames and rights. Fails (changing nothing) only when no frame is
    /// left for the new page table.
    pub(super) fn demote(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<(), VassError> {
        self.fold_huge_accessed(id, start, table);
        let partition = self.partitions.get_mut(&id).ok_or(VassError::UnknownPartition)?;
        let space = partition.space;
        let rights = partition.rights_at(start);
        // The 4 KiB entries start clean: if the 2 MiB page was written, which
        // of its pages were is unknown, so all of them count as written.
        let written = table.dirty(space, start);
        let base = table.unmap_huge(space, start).ok_or(VassError::PageTable)?;
        if let Err(error) = table.map(space, start, base, rights) {
            // The first 4 KiB mapping needs the new page table: nothing was
            // mapped, so the 2 MiB page goes back as it was.
            table.map_huge(space, start, base, rights)?;
            return Err(error);
        }
        for offset in 1..HUGE_PAGES {
            table.map(space, start + offset, base + offset, rights)?;
        }
        frames.split_huge(base);
        partition.huge.remove(&start);
        partition.counters.demotions += 1;
        if written {
            for page in start..start + HUGE_PAGES {
                if let Some(Backing::Copy(entry)) = partition.backing.insert(page, Backing::Unique)
                    && !self.slots.is_quarantined(entry.slot)
                {
                    self.slots.free(entry.slot);
                }
            }
        }
        self.space_mut(space).counters.demotions += 1;
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
        let old: Vec<(Page, Frame)> = partition.committed.range(start..start + HUGE_PAGES).map(|(&p, &f)| (p, f)).collect();
        let Some(base) = frames.allocate_huge() else { return false };
        // Accessed bits of untouched pages are folded in while each page
        // still has its own.
        let seen: Vec<Page> = partition.untouched.range(start..start + HUGE_PAGES).copied().filter(|&p| table.accessed(space, p, false)).collect();
        for (offset, &(_, frame)) in old.iter().enumerate() {
            frames.copy(frame, base + offset as u64);
        }
        for &(page, _) in &old {
            table.unmap(space, page);
        }
        if table.map_huge(space, start, base, rights).is_err() {
            for &(page, frame) in &old {
                let _ = table.map(space, page, frame, rights);
            }
            frames.split_huge(base);
            for offset in 0..HUGE_PAGES {
                frames.free(base + offset);
            }
            return false;
        }
        let Some(partition) = self.partitions.get_mut(&id) else { return false };
        for (offset, &(page, frame)) in old.iter().enumerate() {
            partition.committed.insert(page, base + offset as u64);
            frames.free(frame);
        }
        for page in &seen {
            partition.untouched.remove(page);
        }
        partition.counters.hits += seen.len() as u64;
        partition.huge.insert(start);
        partition.counters.promotions += 1;
        let counters = &mut self.space_mut(space).counters;
        counters.hits += seen.len() as u64;
        counters.sampled += HUGE_PAGES;
        counters.promotions += 1;
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
        let Some(base) = frames.allocate_huge() else { return false };
        if table.map_huge(space, start, base, rights).is_err() {
            frames.split_huge(base);
            for offset in 0..HUGE_PAGES {
                frames.free(base + offset);
            }
            return false;
        }
        let Some(partition) = self.partitions.get_mut(&id) else { return false };
        for offset in 0..HUGE_PAGES {
            partition.committed.insert(start + offset, base + offset);
        }
        partition.fill.insert(start, HUGE_PAGES);
        partition.huge.insert(start);
        let committed = partition.committed.len() as u64;
        partition.counters.peak_committed = partition.counters.peak_committed.max(committed);
        partition.counters.promotions += 1;
        let now = self.now;
        let state = self.space_mut(space);
        state.account(now);
        state.counters.committed += HUGE_PAGES;
        state.counters.peak_committed = state.counters.peak_committed.max(state.counters.committed);
        state.counters.promotions += 1;
        true
    }
}
