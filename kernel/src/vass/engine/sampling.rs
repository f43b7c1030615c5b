//! What the processor's accessed bits say: pages committed ahead that were
//! used (hits), partitions' recent-access frequencies, runs of pages in
//! use, and what a partition touched (for layout proposals).

use super::*;

/// What a partition held over its life, as the VASM and the accessed bits
/// tell it: the material of a layout proposal (`pae::proposal` makes one
/// of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionUse {
    /// The partition's place among those its space created (0: first).
    pub ordinal: u32,
    /// Its kind.
    pub kind: PartitionKind,
    /// Its size in pages.
    pub pages: u64,
    /// Page faults taken in it.
    pub faults: u64,
    /// The page offsets into it of the pages it touched, ascending.
    pub touched: Vec<u64>,
}

impl Vass {
    /// Records that a page committed ahead was used (a hit).
    pub fn touch(&mut self, id: PartitionId, page: Page) {
        if let Some(partition) = self.partitions.get_mut(&id)
            && partition.untouched.remove(&page)
        {
            let space = partition.space;
            if let Some(mut ledger) = self.ledger(id) {
                ledger.hits(1, 0);
            }
            self.space_mut(space).prefetch_used(1);
        }
    }

    /// Samples the accessed bits of `space`'s pages that were committed
    /// ahead and not seen touched yet: those the processor marked become
    /// hits. Returns how many entries were read.
    pub fn sample_untouched(&mut self, space: SpaceId, table: &mut impl PageTable) -> u64 {
        let now = self.now;
        let mut sampled = 0;
        let mut hits = 0;
        for id in self.ids_of(space).iter().copied().collect::<Vec<_>>() {
            let Some(partition) = self.partitions.get_mut(&id) else { continue };
            let mut walk = table.walk(space, partition.span());
            let seen: Vec<Page> = partition.untouched.iter().copied().filter(|&page| walk.as_mut().is_some_and(|walk| walk.accessed_at(page))).collect();
            let read = partition.untouched.len() as u64;
            for page in &seen {
                partition.untouched.remove(page);
            }
            partition.recent_accessed.record(now, seen.len() as u64);
            if let Some(mut ledger) = self.ledger(id) {
                ledger.hits(seen.len() as u64, read);
            }
            sampled += read;
            hits += seen.len() as u64;
        }
        self.space_mut(space).prefetch_used(hits);
        sampled
    }

    /// Reads and clears the accessed bit of every committed page of `space`
    /// (one bit per 2 MiB page): pages seen accessed count toward their
    /// partition's recent-access frequency, and pages committed ahead among
    /// them become hits. Each run of pages seen accessed in a row is passed
    /// to `on_run`. Returns how many entries were read (the cost).
    pub fn sample_accessed(&mut self, space: SpaceId, table: &mut impl PageTable, mut on_run: impl FnMut(PartitionId, PageRange)) -> u64 {
        let now = self.now;
        let mut read = 0;
        for id in self.ids_of(space).iter().copied().collect::<Vec<_>>() {
            let Some(partition) = self.partitions.get_mut(&id) else { continue };
            let read_before = read;
            let mut accessed = 0;
            let mut seen = Vec::new();
            let mut run: Option<PageRange> = None;
            let mut cursor = table.cursor(space, partition.span());
            let mut page = partition.committed.keys().next().copied();
            while let Some(current) = page {
                let block = block_of(current);
                let (first, end) = if partition.huge.contains(&block) { (block, block + HUGE_PAGES) } else { (current, current + 1) };
                read += 1;
                if cursor.as_mut().is_some_and(|cursor| cursor.jump(first) && cursor.clear_accessed()) {
                    accessed += end - first;
                    seen.extend(partition.untouched.range(first..end).copied());
                    run = match run {
                        Some(open) if open.end == first => Some(PageRange::new(open.start, end)),
                        Some(open) => {
                            on_run(partition.id, open);
                            Some(PageRange::new(first, end))
                        }
                        None => Some(PageRange::new(first, end)),
                    };
                }
                page = partition.committed.range(end..).next().map(|(&next, _)| next);
            }
            if let Some(open) = run {
                on_run(partition.id, open);
            }
            for page in &seen {
                partition.untouched.remove(page);
            }
            partition.recent_accessed.record(now, accessed);
            partition.idle_scans = if accessed > 0 { 0 } else { partition.idle_scans.saturating_add(1) };
            if let Some(mut ledger) = self.ledger(id) {
                ledger.hits(seen.len() as u64, read - read_before);
            }
        }
        self.space_mut(space).counters.sample_scans += 1;
        read
    }

    /// What each of `space`'s partitions held, by ordinal: see
    /// [`Vass::partition_use`].
    pub fn uses_of(&self, space: SpaceId, table: &impl PageTable) -> Vec<PartitionUse> {
        let mut uses: Vec<PartitionUse> = self.ids_of(space).iter().filter_map(|&id| self.partition_use(id, table)).collect();
        uses.sort_unstable_by_key(|used| used.ordinal);
        uses
    }

    /// What partition `id` held: its touched pages are those committed and
    /// used (not committed ahead and still unseen, unless the processor
    /// marked them accessed since; the bits are read, not cleared) and
    /// those swapped out; for a view, also those it maps from its source
    /// (so a layout proposal records what a process used of a shared
    /// partition).
    pub fn partition_use(&self, id: PartitionId, table: &impl PageTable) -> Option<PartitionUse> {
        let partition = self.partitions.get(&id)?;
        let mut walk = table.walk(partition.space, partition.span());
        let mut touched: Vec<u64> = Vec::new();
        for &page in partition.committed.keys() {
            if !partition.untouched.contains(&page) || walk.as_mut().is_some_and(|walk| walk.accessed_at(page)) {
                touched.extend(partition.offset_of(page));
            }
        }
        touched.extend(partition.swapped.keys().filter_map(|&page| partition.offset_of(page)));
        if let Some(view) = partition.view.and_then(|of| self.partitions.get(&of.source)?.views.get(&id)) {
            touched.extend(view.mapped.iter().filter_map(|&page| partition.offset_of(page)));
            touched.extend(view.huge.iter().flat_map(|&start| start..start + HUGE_PAGES).filter_map(|page| partition.offset_of(page)));
        }
        touched.sort_unstable();
        touched.dedup();
        Some(PartitionUse { ordinal: partition.ordinal, kind: partition.kind, pages: partition.pages(), faults: partition.counters.faults, touched })
    }
}
