//! The commit path: committing pages ahead (for a plan, a program's
//! request or the loader) and on demand, reading swapped-out pages back;
//! releasing and decommitting them, counting hits and waste.
//!
//! A page committed ahead is *untouched* until a fault or an accessed-bit
//! sample shows it used (a *hit*); released or evicted untouched, it is
//! *waste*. Each space's `ahead = hits + waste + untouched` is an invariant
//! (the ledger keeps it, the checker proves it).

use super::*;

impl Vass {
    /// Commits every uncommitted page of `range` ahead of use. On running
    /// out of frames it stops and reports it; what was committed stays.
    pub fn commit(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        range: PageRange,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<u64, VassError> {
        self.commit_range(space, id, range, Some(Need::Ahead(range)), table, frames)
    }

    /// As [`Vass::commit`], for a commit policy's plan: a page never used
    /// before is committed only if an earlier guess, still untouched, can
    /// make room for it ([`Need::Guess`]); a swapped-out page may push out
    /// pages not in use, as for [`Vass::commit`].
    pub fn prefetch(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        range: PageRange,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<u64, VassError> {
        self.commit_range(space, id, range, Some(Need::Guess(range)), table, frames)
    }

    /// Commits every uncommitted page of `range` for the loader, which
    /// fills them with the program's contents: counted as loaded, not as
    /// committed ahead of use.
    pub fn populate(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        range: PageRange,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<u64, VassError> {
        self.commit_range(space, id, range, None, table, frames)
    }

    /// Commits `range` ahead of use, evicting for it what `need` allows, or
    /// for the loader (`None`).
    pub(super) fn commit_range(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        range: PageRange,
        need: Option<Need>,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<u64, VassError> {
        if self.granted(space, id, &range)?.view.is_some() {
            return self.commit_view_range(space, id, range, need.unwrap_or(Need::Now), table, frames);
        }
        let ahead = need.is_some();
        let mut committed = 0;
        let mut page = range.start;
        while page < range.end {
            let block = PageRange::new(page, page + HUGE_PAGES);
            if page.is_multiple_of(HUGE_PAGES) && range.covers(&block) && self.commit_huge(id, page, table, frames) {
                let partition = self.partitions.get_mut(&id).ok_or(VassError::UnknownPartition)?;
                if ahead {
                    partition.untouched.extend(page..page + HUGE_PAGES);
                } else {
                    partition.backing.extend((page..page + HUGE_PAGES).map(|page| (page, Backing::Unique)));
                }
                if let Some(mut ledger) = self.ledger(id) {
                    ledger.filled(HUGE_PAGES, ahead);
                }
                committed += HUGE_PAGES;
                page += HUGE_PAGES;
                continue;
            }
            let current = page;
            page += 1;
            let result = if self.partitions.get(&id).is_some_and(|p| p.committed.contains_key(&current)) {
                Ok(false)
            } else {
                self.commit_page(id, current, need.unwrap_or(Need::Now), table, frames).map(|_| true)
            };
            // A block may be full once its last page in the range is in.
            if page.is_multiple_of(HUGE_PAGES) || page == range.end {
                self.promote(id, block_of(current), table, frames);
            }
            if !result? {
                continue;
            }
            let page = current;
            if let Some(partition) = self.partitions.get_mut(&id) {
                if ahead {
                    partition.untouched.insert(page);
                } else {
                    // The loader fills it through the kernel's mapping: the
                    // page table's dirty bit will not say so.
                    partition.backing.insert(page, Backing::Unique);
                }
            }
            if let Some(mut ledger) = self.ledger(id) {
                ledger.filled(1, ahead);
            }
            committed += 1;
        }
        Ok(committed)
    }

    /// Commits `page` of partition `id`: a zero-filled frame, or the page's
    /// contents read back from swap. Returns whether it was read back.
    pub(super) fn commit_page(
        &mut self,
        id: PartitionId,
        page: Page,
        need: Need,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<bool, VassError> {
        let space = self.partitions.get(&id).ok_or(VassError::UnknownPartition)?.space;
        let swapped = self.partitions.get(&id).and_then(|partition| partition.swapped.get(&page).copied());
        if let Some(entry) = swapped
            && self.slots.is_quarantined(entry.slot)
        {
            // Read back once already and failed: the contents are gone,
            // unless a replica holds them.
            return if self.restore_from_replica(id, page, table, frames) { Ok(true) } else { Err(VassError::SwapFailed) };
        }
        let need = match need {
            Need::Guess(range) if swapped.is_some() => Need::Ahead(range),
            need => need,
        };
        self.make_room(space, need, table, frames)?;
        let frame = self.allocate_frame(space, id, need, table, frames)?;
        if let Some(entry) = swapped
            && frames.swap_in(entry.slot, &frame, entry.checksum).is_err()
        {
            // The entry stays, pointing at a quarantined slot, so every
            // later touch of the page fails the same way.
            frames.free(frame);
            self.slots.quarantine(entry.slot);
            self.space_mut(space).counters.swap_errors += 1;
            return if self.restore_from_replica(id, page, table, frames) { Ok(true) } else { Err(VassError::SwapFailed) };
        }
        let rights = self.write_rights(id, page, self.partitions.get(&id).ok_or(VassError::UnknownPartition)?.rights_at(page));
        let frame = map_fresh(table, frames, space, page, frame, rights)?;
        let partition = self.partitions.get_mut(&id).ok_or(VassError::UnknownPartition)?;
        if let Some(entry) = swapped {
            partition.swapped.remove(&page);
            // The slot keeps a copy until the page is written.
            partition.backing.insert(page, Backing::Copy(entry));
        }
        if let Some(replaced) = partition.hold(page, frame) {
            // Unreachable: the page was not committed (checked above).
            frames.free(replaced);
        }
        if let Some(mut ledger) = self.ledger(id) {
            ledger.committed(1);
            if swapped.is_some() {
                ledger.swapped_in();
            }
        }
        if let Some(policy) = self.replacement.as_mut() {
            policy.admitted(space, (id, page), need == Need::Now);
        }
        Ok(swapped.is_some())
    }

    /// Unmaps and frees every committed page of `id` inside `range`; pages
    /// committed ahead are counted as hits if the processor marked them
    /// accessed, else as waste.
    /// In a view it only unmaps the view's entries (the frames are its
    /// source's); in a source, the views' entries for `range` go first.
    pub(super) fn release(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) {
        if self.partitions.get(&id).is_some_and(|partition| partition.view.is_some()) {
            self.drop_view_replicas(id, range, table, frames);
            self.drop_private(id, range, table, frames);
            self.unmap_view_pages(id, range, table, frames);
            return;
        }
        // Copy-on-write views keep their snapshot of what goes.
        self.preserve_snapshots(id, range, table, frames);
        self.drop_replicas_of(id, range, table, frames);
        self.unmap_views(id, range, table, frames);
        self.release_own(id, range, table, frames);
    }

    /// Unmaps and frees the committed pages of `id` inside `range` (its own
    /// frames), and its swapped-out pages and swap copies there.
    pub(super) fn release_own(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) {
        // 2 MiB pages first: those wholly inside are unmapped at once (their
        // frames become 4 KiB frames for the loop below); the others are
        // split so part of them can go.
        let blocks = self.huge_blocks_in(id, range);
        for start in blocks {
            if range.covers(&PageRange::new(start, start + HUGE_PAGES)) {
                self.unmap_huge_block(id, start, table, frames);
            } else if self.demote(id, start, table, frames).is_err() {
                // No frame for a page table: drop the whole 2 MiB page instead
                // (the caller has said the contents of `range` may go; the
                // rest of the block is zero-filled again on the next touch).
                self.unmap_huge_block(id, start, table, frames);
            }
        }
        let Some(partition) = self.partitions.get_mut(&id) else { return };
        let space = partition.space;
        // Swapped-out pages and swap copies of the range are dropped too.
        let swapped: Vec<Page> = partition.swapped.range(range.start..range.end).map(|(&page, _)| page).collect();
        let copies: Vec<Page> = partition.backing.range(range.start..range.end).map(|(&page, _)| page).collect();
        for page in swapped {
            if let Some(entry) = partition.swapped.remove(&page)
                && !self.slots.is_quarantined(entry.slot)
            {
                self.slots.free(entry.slot);
            }
        }
        for page in copies {
            if let Some(Backing::Copy(entry)) = partition.backing.remove(&page)
                && !self.slots.is_quarantined(entry.slot)
            {
                self.slots.free(entry.slot);
            }
        }
        let pages: Vec<Page> = partition.committed.range(range.start..range.end).map(|(&page, _)| page).collect();
        let (mut hits, mut waste, mut released) = (0, 0, 0);
        let mut cursor = table.cursor(space, range);
        for page in pages {
            if let Some(frame) = partition.take(page) {
                if let Some(cursor) = cursor.as_mut() {
                    cursor.jump(page);
                }
                if partition.untouched.remove(&page) {
                    if cursor.as_ref().and_then(|cursor| cursor.entry()).is_some_and(|entry| entry.accessed) {
                        hits += 1;
                    } else {
                        waste += 1;
                    }
                }
                if let Some(mapped) = cursor.as_mut().and_then(|cursor| unmap_flushed(cursor, frames, false)) {
                    debug_assert_eq!(mapped, frame.number());
                }
                frames.free(frame);
                released += 1;
            }
        }
        if let Some(mut ledger) = self.ledger(id) {
            ledger.released(released, hits, waste);
        }
    }

    /// Decommits the committed pages of `range` (the caller guarantees
    /// their contents are not needed: never written, or declared
    /// don't-need). Returns how many were dropped.
    pub fn decommit(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        range: PageRange,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<u64, VassError> {
        let before = self.granted(space, id, &range)?.committed.len() as u64;
        self.release(id, range, table, frames);
        Ok(before - self.partitions.get(&id).map_or(0, |p| p.committed.len() as u64))
    }
}
