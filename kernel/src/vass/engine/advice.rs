//! A program's advice for a range of a partition (`partition_advise`):
//! access patterns, will-need, don't-need, cold, page-out, lock.

use super::*;

impl Vass {
    /// Applies a program's hint to `range` of a partition (`Cold` also
    /// clears the range's accessed bits). Returns the pages committed
    /// (will-need) or dropped (don't-need), else 0.
    pub fn advise(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        range: PageRange,
        advice: Advice,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<u64, VassError> {
        self.granted(space, id, &range)?;
        let pattern = match advice {
            Advice::WillNeed => {
                if let Some(partition) = self.partitions.get_mut(&id) {
                    partition.cold.clear(range);
                }
                return self.commit(space, id, range, table, frames);
            }
            Advice::DontNeed => return self.decommit(space, id, range, table, frames),
            Advice::Cold => {
                self.hold_cold(space, id, range, Cold::Advised, table);
                return Ok(0);
            }
            Advice::PageOut => return Ok(self.page_out(space, id, range, table, frames)),
            Advice::Lock => {
                let locked: u64 = self.partitions_of(space).map(Partition::locked_pages).sum();
                let Some(partition) = self.partitions.get_mut(&id) else { return Err(VassError::UnknownPartition) };
                let adding = range.len() - partition.locked.pages_in(range);
                if locked + adding > abi::MAX_LOCKED_PAGES {
                    return Err(VassError::TooManyLocked);
                }
                partition.locked.set(range, ());
                return Ok(0);
            }
            Advice::Unlock => {
                if let Some(partition) = self.partitions.get_mut(&id) {
                    partition.locked.clear(range);
                }
                return Ok(0);
            }
            Advice::Replicate | Advice::Unreplicate => {
                self.set_replicate(space, id, advice == Advice::Replicate, table, frames)?;
                return Ok(0);
            }
            Advice::Normal => None,
            Advice::Sequential => Some(Pattern::Sequential),
            Advice::Random => Some(Pattern::Random),
        };
        if let Some(partition) = self.partitions.get_mut(&id) {
            match pattern {
                Some(pattern) => partition.hints.set(range, pattern),
                None => {
                    partition.hints.clear(range);
                    partition.cold.clear(range);
                }
            }
        }
        Ok(0)
    }

    /// Holds `range` of partition `id` (of `space`; pages outside the
    /// partition are ignored) cold for `why`: under
    /// [`Eviction::ColdFirst`] its pages are the first to go. Their
    /// accessed bits are cleared, so only a later touch spares them.
    pub fn hold_cold(&mut self, space: SpaceId, id: PartitionId, range: PageRange, why: Cold, table: &mut impl PageTable) {
        let Some(partition) = self.partitions.get_mut(&id).filter(|p| p.space == space) else { return };
        let pieces: Vec<PageRange> = partition
            .ranges
            .iter()
            .filter(|owned| owned.overlaps(&range))
            .map(|owned| owned.intersection(&range))
            .collect();
        let mut resident: Vec<Page> = Vec::new();
        for piece in pieces {
            partition.cold.set(piece, why);
            resident.extend(partition.committed.range(piece.start..piece.end).map(|(&page, _)| page));
        }
        let Some(mut cursor) = table.cursor(space, range) else { return };
        for page in resident {
            // A page committed ahead and used since is a hit before its
            // bit goes.
            if cursor.jump(page) && cursor.clear_accessed() {
                self.touch(id, page);
            }
        }
    }

    /// Swaps out every committed page of `range` of partition `id` now
    /// (2 MiB pages are split first). Pages that cannot go (the device is
    /// full or fails, or no frame for splitting) stay. Returns how many went.
    pub(super) fn page_out(&mut self, space: SpaceId, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) -> u64 {
        let blocks = self.huge_blocks_in(id, range);
        for start in blocks {
            let _ = self.demote(id, start, table, frames);
        }
        let pages: Vec<Page> = match self.partitions.get(&id) {
            Some(partition) => partition.committed.range(range.start..range.end).map(|(&page, _)| page).collect(),
            None => return 0,
        };
        pages.into_iter().filter(|&page| self.evict_page(space, id, page, table, frames)).count() as u64
    }
}
