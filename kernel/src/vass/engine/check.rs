//! The invariant checker: the partition table, the VASM, the per-space
//! counters, the frame metadata, the swap slots and the page tables agree.
//!
//! Host tests run it after every step (`Scope::Full`). Debug kernels run it
//! at the end of every memory-service session: over the process's space
//! (`Scope::Space`, after a partition system call) or the pages a fault
//! touched (`Scope::Pages`: the faulting page and what the plan and a
//! layout proposal committed), and panic on a disagreement. A kernel test
//! runs it after each step of a random workload on the real page tables.

use super::*;
use core::fmt;

/// A disagreement [`Vass::check`] found: a kernel bug, never a process's
/// doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A VASM range of `space` is empty or overlaps the one before it.
    VasmRange { space: SpaceId, range: PageRange },
    /// The VASM names a partition the table does not hold.
    VasmUnknownPartition { partition: PartitionId },
    /// A VASM range is not one of its partition's ranges (or another space's).
    VasmMismatch { partition: PartitionId, range: PageRange },
    /// The VASM registers another number of ranges than the partitions hold.
    VasmCount { registered: usize, ranges: usize },
    /// A swapped-out page is also committed, or outside its partition.
    SwappedPage { partition: PartitionId, page: Page },
    /// A slot is held by two pages, or by one without being allocated.
    SlotHeldTwice { partition: PartitionId, page: Page, slot: Slot },
    /// A swap copy is recorded for a page that is not committed.
    BackingUncommitted { partition: PartitionId, page: Page },
    /// A resident page's swap copy shares its slot, or the slot is free.
    CopyShared { partition: PartitionId, page: Page, slot: Slot },
    /// A committed page lies outside its partition's ranges.
    CommittedOutside { partition: PartitionId, page: Page },
    /// A frame backs two pages.
    FrameShared { frame: Frame },
    /// A committed frame is not allocated (once) from the frame source.
    FrameNotAllocated { partition: PartitionId, page: Page, frame: Frame },
    /// A committed frame's metadata names another owner (its reverse map
    /// is wrong).
    FrameOwner { partition: PartitionId, page: Page, frame: Frame, owner: PartitionId },
    /// A committed frame's metadata counts other mappings than the one
    /// entry that maps it.
    FrameMappings { partition: PartitionId, page: Page, frame: Frame, mappings: u32 },
    /// The page tables map a committed page elsewhere, or with other rights.
    Mapping { partition: PartitionId, page: Page, expected: (Frame, Rights), actual: Option<(Frame, Rights)> },
    /// A 2 MiB page is not 512 aligned, contiguous committed frames.
    HugePage { partition: PartitionId, start: Page },
    /// A 2 MiB page's frames are not allocated as one run.
    HugeFrames { partition: PartitionId, start: Page, base: Frame },
    /// The per-block commit counts disagree with the committed pages.
    BlockFill { partition: PartitionId },
    /// A page committed ahead and untouched is not committed.
    UntouchedUncommitted { partition: PartitionId },
    /// A sub-range protection lies outside the partition, exceeds its
    /// maximum rights or repeats its rights.
    Protection { partition: PartitionId, range: PageRange, rights: Rights },
    /// A hint, cold mark or locked range lies outside the partition.
    MarkOutside { partition: PartitionId, mark: &'static str },
    /// The partition's rights exceed those it was created with.
    RightsBeyondMaximum { partition: PartitionId },
    /// An uncommitted page of a partition is mapped.
    UncommittedMapped { partition: PartitionId, page: Page },
    /// A space counts other committed pages than its partitions hold.
    CommittedCount { space: SpaceId, counted: u64, held: u64 },
    /// A space's peak is below its committed count.
    Peak { space: SpaceId },
    /// Pages committed ahead are not exactly hits, waste and untouched.
    AheadBalance { space: SpaceId, ahead: u64, hits: u64, waste: u64, untouched: u64 },
    /// A space has partitions but no state.
    NoSpaceState { space: SpaceId },
    /// A space's index of its partitions lacks one of them, or names one
    /// that is not the space's.
    SpaceIndex { space: SpaceId, partition: PartitionId },
    /// The slot allocator counts other slots in use than pages hold.
    SlotCount { used: u64, held: u64 },
    /// A view holds frames, swap slots or backing of its own.
    ViewHolds { view: PartitionId },
    /// A live view's source does not record it as it is (space, place,
    /// size), or a revoked one's still does, or a source records a view
    /// that is not one of its.
    ViewSource { view: PartitionId },
    /// A view's page is mapped other than to its source's committed frame
    /// with the view's rights (or recorded mapped and not, or the reverse).
    ViewMapping { view: PartitionId, page: Page },
    /// A replica holds another version than its source page's, is also
    /// mapped to the source, or belongs to a view that does not replicate.
    StaleReplica { view: PartitionId, page: Page },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Violation::VasmRange { space, range } => write!(f, "space {space}: VASM range {:#x}..{:#x} empty or overlapping", range.start, range.end),
            Violation::VasmUnknownPartition { partition } => write!(f, "VASM names unknown partition {partition}"),
            Violation::VasmMismatch { partition, range } => write!(f, "VASM range {:#x}..{:#x} does not match partition {partition}", range.start, range.end),
            Violation::VasmCount { registered, ranges } => write!(f, "{registered} VASM ranges for {ranges} partition ranges"),
            Violation::SwappedPage { partition, page } => write!(f, "partition {partition}: swapped page {page:#x} is committed or outside the partition"),
            Violation::SlotHeldTwice { partition, page, slot } => write!(f, "partition {partition}: page {page:#x} holds slot {slot} twice or unallocated"),
            Violation::BackingUncommitted { partition, page } => write!(f, "partition {partition}: backing recorded for uncommitted page {page:#x}"),
            Violation::CopyShared { partition, page, slot } => write!(f, "partition {partition}: page {page:#x}'s copy in slot {slot} is shared or unallocated"),
            Violation::CommittedOutside { partition, page } => write!(f, "partition {partition}: committed page {page:#x} outside its ranges"),
            Violation::FrameShared { frame } => write!(f, "frame {frame:#x} backs two pages"),
            Violation::FrameNotAllocated { partition, page, frame } => write!(f, "partition {partition}: frame {frame:#x} of page {page:#x} is not allocated to it"),
            Violation::FrameOwner { partition, page, frame, owner } => {
                write!(f, "partition {partition}: frame {frame:#x} of page {page:#x} is recorded as partition {owner}'s")
            }
            Violation::FrameMappings { partition, page, frame, mappings } => {
                write!(f, "partition {partition}: frame {frame:#x} of page {page:#x} counts {mappings} mappings, not 1")
            }
            Violation::Mapping { partition, page, expected, actual } => write!(f, "partition {partition}: page {page:#x} should map {expected:?}, page table has {actual:?}"),
            Violation::HugePage { partition, start } => write!(f, "partition {partition}: 2 MiB page {start:#x} is not 512 aligned contiguous committed frames"),
            Violation::HugeFrames { partition, start, base } => write!(f, "partition {partition}: 2 MiB page {start:#x} frames {base:#x} are not allocated as one"),
            Violation::BlockFill { partition } => write!(f, "partition {partition}: per-block commit counts are wrong"),
            Violation::UntouchedUncommitted { partition } => write!(f, "partition {partition}: untouched page not committed"),
            Violation::Protection { partition, range, rights } => write!(f, "partition {partition}: bad protection {range:?} {rights:?}"),
            Violation::MarkOutside { partition, mark } => write!(f, "partition {partition}: {mark} lies outside the partition"),
            Violation::RightsBeyondMaximum { partition } => write!(f, "partition {partition}: rights beyond its maximum"),
            Violation::UncommittedMapped { partition, page } => write!(f, "partition {partition}: uncommitted page {page:#x} is mapped"),
            Violation::CommittedCount { space, counted, held } => write!(f, "space {space}: counts {counted} committed pages, partitions hold {held}"),
            Violation::Peak { space } => write!(f, "space {space}: peak below the committed count"),
            Violation::AheadBalance { space, ahead, hits, waste, untouched } => {
                write!(f, "space {space}: {ahead} pages committed ahead but {hits} hits + {waste} waste + {untouched} untouched")
            }
            Violation::NoSpaceState { space } => write!(f, "space {space} has partitions but no state"),
            Violation::SpaceIndex { space, partition } => write!(f, "space {space}: its index and partition {partition} disagree"),
            Violation::SlotCount { used, held } => write!(f, "{used} swap slots in use, pages hold {held}"),
            Violation::ViewHolds { view } => write!(f, "view {view} holds pages of its own"),
            Violation::ViewSource { view } => write!(f, "view {view} and its source disagree"),
            Violation::ViewMapping { view, page } => write!(f, "view {view}: page {page:#x} does not map its source's frame with the view's rights"),
            Violation::StaleReplica { view, page } => write!(f, "view {view}: the replica of page {page:#x} is stale, doubly mapped or unwanted"),
        }
    }
}

impl Vass {
    /// Checks that the partition table, the VASM, the per-space counters
    /// and the page tables agree: ranges are disjoint and registered,
    /// committed pages lie in their partitions and are mapped to exactly
    /// their frames with their rights, no frame backs two pages,
    /// uncommitted pages of partitions are unmapped, each space's committed
    /// count is the sum over its partitions, every page committed ahead is
    /// exactly one of hit, waste or still untouched, and every committed
    /// frame is allocated (the frame metadata agrees); views hold nothing,
    /// agree with their sources, and map exactly the pages recorded, each
    /// to its source's frame, which counts one mapping more per view.
    pub fn check_invariants(&self, table: &impl PageTable, frames: &impl FrameSource) -> Result<(), Violation> {
        self.check(table, frames, Scope::Full)
    }

    /// [`Vass::check_invariants`] over `scope`.
    pub fn check(&self, table: &impl PageTable, frames: &impl FrameSource, scope: Scope) -> Result<(), Violation> {
        let mut frames_seen = BTreeSet::new();
        let mut registered = 0usize;
        for (space, map) in &self.vasm {
            let mut previous_end = 0;
            for (&start, &(end, id)) in map {
                if start >= end || start < previous_end {
                    return Err(Violation::VasmRange { space: *space, range: PageRange::new(start, end) });
                }
                previous_end = end;
                let partition = self.partitions.get(&id).ok_or(Violation::VasmUnknownPartition { partition: id })?;
                if partition.space != *space || !partition.ranges.contains(&PageRange::new(start, end)) {
                    return Err(Violation::VasmMismatch { partition: id, range: PageRange::new(start, end) });
                }
                registered += 1;
            }
        }
        let total_ranges: usize = self.partitions.values().map(|p| p.ranges.len()).sum();
        if registered != total_ranges {
            return Err(Violation::VasmCount { registered, ranges: total_ranges });
        }
        let mut committed_per_space: BTreeMap<SpaceId, u64> = BTreeMap::new();
        let mut untouched_per_space: BTreeMap<SpaceId, u64> = BTreeMap::new();
        // Every slot in use is held by exactly one swapped-out page or one
        // resident page's copy; quarantined slots only by lost pages.
        let mut slots_held: BTreeSet<Slot> = BTreeSet::new();
        for partition in self.partitions.values() {
            let id = partition.id;
            if self.spaces.get(&partition.space).is_some_and(|state| !state.partitions.contains(&id)) {
                return Err(Violation::SpaceIndex { space: partition.space, partition: id });
            }
            for (&page, entry) in &partition.swapped {
                if partition.committed.contains_key(&page) || !partition.contains(page) {
                    return Err(Violation::SwappedPage { partition: id, page });
                }
                if !slots_held.insert(entry.slot) || !(self.slots.is_used(entry.slot) || self.slots.is_quarantined(entry.slot)) {
                    return Err(Violation::SlotHeldTwice { partition: id, page, slot: entry.slot });
                }
            }
            for (&page, backing) in &partition.backing {
                if !partition.committed.contains_key(&page) {
                    return Err(Violation::BackingUncommitted { partition: id, page });
                }
                if let Backing::Copy(entry) = backing
                    && (!slots_held.insert(entry.slot) || !self.slots.is_used(entry.slot))
                {
                    return Err(Violation::CopyShared { partition: id, page, slot: entry.slot });
                }
            }
            *committed_per_space.entry(partition.space).or_default() += partition.committed.len() as u64;
            *untouched_per_space.entry(partition.space).or_default() += partition.untouched.len() as u64;
            // The pages examined closely: all, all of one space, or one range.
            let window = match scope {
                Scope::Full => Some(PageRange::new(0, Page::MAX)),
                Scope::Space(space) => (partition.space == space).then_some(PageRange::new(0, Page::MAX)),
                Scope::Pages { space, range } => (partition.space == space).then_some(range),
            };
            for (&view, recorded) in &partition.views {
                let live = self.partitions.get(&view).is_some_and(|entry| {
                    entry.view.is_some_and(|of| of.source == id && !of.revoked)
                        && entry.space == recorded.space
                        && entry.ranges == [PageRange::new(recorded.at, recorded.at + recorded.offsets.len())]
                });
                if !live || recorded.offsets.end > partition.pages() {
                    return Err(Violation::ViewSource { view });
                }
            }
            let Some(window) = window else { continue };
            if let Some(of) = partition.view {
                self.check_view(partition, of, table, window)?;
            }
            for (&page, frame) in partition.committed.range(window.start..window.end) {
                let frame = frame.number();
                if !partition.contains(page) {
                    return Err(Violation::CommittedOutside { partition: id, page });
                }
                if !frames_seen.insert(frame) {
                    return Err(Violation::FrameShared { frame });
                }
                let in_huge = partition.huge.contains(&block_of(page));
                if !in_huge && !frames.holds(frame) {
                    return Err(Violation::FrameNotAllocated { partition: id, page, frame });
                }
                let usage = frames.usage(frame);
                if let Some(owner) = usage.owner.filter(|&owner| owner != id) {
                    return Err(Violation::FrameOwner { partition: id, page, frame, owner });
                }
                let viewers = match partition.views.is_empty() {
                    true => 0,
                    false => {
                        let offset = partition.offset_of(page);
                        partition.views.values().filter(|view| offset.and_then(|offset| view.page_of(offset)).is_some_and(|mapped| view.maps(mapped))).count()
                    }
                };
                if usage.mappings as usize != 1 + viewers {
                    return Err(Violation::FrameMappings { partition: id, page, frame, mappings: usage.mappings });
                }
                let expected = (frame, self.write_rights(id, page, partition.rights_at(page)));
                let actual = entry_of(table, partition.space, page).map(|entry| (entry.frame, entry.rights));
                if actual != Some(expected) {
                    return Err(Violation::Mapping { partition: id, page, expected, actual });
                }
            }
            let blocks = PageRange::new(block_of(window.start), window.end);
            for &start in partition.huge.range(blocks.start..blocks.end) {
                let base = partition.frame_of(start).unwrap_or(u64::MAX);
                let contiguous = (0..HUGE_PAGES).all(|offset| partition.frame_of(start + offset) == Some(base + offset));
                if !contiguous || !base.is_multiple_of(HUGE_PAGES) || !partition.huge_eligible(start) {
                    return Err(Violation::HugePage { partition: id, start });
                }
                if !frames.holds_huge(base) {
                    return Err(Violation::HugeFrames { partition: id, start, base });
                }
            }
            let mut fill: BTreeMap<Page, u64> = BTreeMap::new();
            let first_block = block_of(window.start);
            let last_block = window.end.saturating_add(HUGE_PAGES - 1);
            for &page in partition.committed.range(first_block..last_block).map(|(page, _)| page) {
                *fill.entry(block_of(page)).or_default() += 1;
            }
            let recorded: BTreeMap<Page, u64> = partition
                .fill
                .range(first_block..last_block)
                .filter(|&(&block, _)| block < window.end)
                .map(|(&block, &count)| (block, count))
                .collect();
            fill.retain(|&block, _| block < window.end);
            if fill != recorded {
                return Err(Violation::BlockFill { partition: id });
            }
            if !partition.untouched.range(window.start..window.end).all(|page| partition.committed.contains_key(page)) {
                return Err(Violation::UntouchedUncommitted { partition: id });
            }
            for (range, rights) in partition.overrides.iter() {
                if !partition.covers(&range) || !partition.max_rights.contains(rights) || rights == partition.rights {
                    return Err(Violation::Protection { partition: id, range, rights });
                }
            }
            if !partition.hints.iter().all(|(range, _)| partition.covers(&range)) {
                return Err(Violation::MarkOutside { partition: id, mark: "a hint" });
            }
            if !partition.cold.iter().all(|(range, _)| partition.covers(&range)) {
                return Err(Violation::MarkOutside { partition: id, mark: "a cold mark" });
            }
            if !partition.locked.iter().all(|(range, _)| partition.covers(&range)) {
                return Err(Violation::MarkOutside { partition: id, mark: "a locked range" });
            }
            if !partition.max_rights.contains(partition.rights) {
                return Err(Violation::RightsBeyondMaximum { partition: id });
            }
            for range in partition.ranges.iter().filter(|_| scope == Scope::Full) {
                if range.len() <= 4096
                    && let Some(mut walk) = table.walk(partition.space, *range)
                {
                    let viewed = partition.view.and_then(|of| self.partitions.get(&of.source)).and_then(|source| source.views.get(&id));
                    for page in range.start..range.end {
                        let held = partition.committed.contains_key(&page) || viewed.is_some_and(|view| view.maps(page));
                        if !held && walk.entry_at(page).is_some() {
                            return Err(Violation::UncommittedMapped { partition: id, page });
                        }
                    }
                }
            }
        }
        for (space, state) in &self.spaces {
            if let Some(&partition) = state.partitions.iter().find(|id| self.partitions.get(id).is_none_or(|entry| entry.space != *space)) {
                return Err(Violation::SpaceIndex { space: *space, partition });
            }
            let expected = committed_per_space.get(space).copied().unwrap_or(0);
            if state.counters.committed != expected {
                return Err(Violation::CommittedCount { space: *space, counted: state.counters.committed, held: expected });
            }
            if state.counters.peak_committed < expected {
                return Err(Violation::Peak { space: *space });
            }
            let c = &state.counters;
            let untouched = untouched_per_space.get(space).copied().unwrap_or(0);
            if c.ahead_commits != c.hits + c.waste + untouched {
                return Err(Violation::AheadBalance { space: *space, ahead: c.ahead_commits, hits: c.hits, waste: c.waste, untouched });
            }
        }
        if let Some(space) = committed_per_space.keys().find(|space| !self.spaces.contains_key(space)) {
            return Err(Violation::NoSpaceState { space: *space });
        }
        let live = slots_held.iter().filter(|&&slot| !self.slots.is_quarantined(slot)).count() as u64;
        if live != self.slots.used() {
            return Err(Violation::SlotCount { used: self.slots.used(), held: live });
        }
        Ok(())
    }
}

impl Vass {
    /// The checks of view `partition` (of `of`) over the pages of `window`.
    fn check_view(&self, partition: &Partition, of: ViewOf, table: &impl PageTable, window: PageRange) -> Result<(), Violation> {
        let id = partition.id;
        let recorded = self.partitions.get(&of.source).and_then(|source| source.views.get(&id));
        let private = |page: &Page| recorded.is_some_and(|view| view.private.contains(page));
        if !partition.swapped.keys().all(private) || !partition.backing.keys().all(private) || !partition.views.is_empty() {
            return Err(Violation::ViewHolds { view: id });
        }
        if of.revoked {
            return if recorded.is_some() || !partition.committed.is_empty() || !partition.swapped.is_empty() { Err(Violation::ViewSource { view: id }) } else { Ok(()) };
        }
        // Its committed pages are exactly its replicas (each of its source
        // page's current version) and its private copies, none also mapped
        // to the source; a private page is committed or swapped out.
        let replicas = recorded.map(|view| &view.replicas);
        let own: BTreeSet<Page> = replicas.into_iter().flat_map(|replicas| replicas.keys().copied()).chain(partition.committed.keys().copied().filter(private)).collect();
        if !partition.committed.keys().copied().eq(own.iter().copied())
            || recorded.is_some_and(|view| view.private.iter().any(|page| !partition.committed.contains_key(page) && !partition.swapped.contains_key(page)) || view.private.iter().any(|page| view.maps(*page) || view.replicas.contains_key(page)))
        {
            return Err(Violation::ViewHolds { view: id });
        }
        for (&page, &version) in replicas.into_iter().flatten() {
            let current = self.view_target(id, page).and_then(|(source, target)| Some(self.partitions.get(&source)?.versions.get(&target).copied().unwrap_or(0)));
            if current != Some(version) || recorded.is_some_and(|view| view.mapped.contains(&page) || !view.replicate) {
                return Err(Violation::StaleReplica { view: id, page });
            }
        }
        let (Some(source), Some(recorded)) = (self.partitions.get(&of.source), recorded) else {
            return Err(Violation::ViewSource { view: id });
        };
        if recorded.offsets.start != of.offset {
            return Err(Violation::ViewSource { view: id });
        }
        for &page in recorded.mapped.range(window.start..window.end) {
            let target = self.view_target(id, page);
            let frame = target.and_then(|(_, target)| source.frame_of(target));
            let rights = target.map_or(partition.rights_at(page), |(_, target)| self.write_rights(of.source, target, partition.rights_at(page)));
            let actual = entry_of(table, partition.space, page).map(|entry| (entry.frame, entry.rights));
            if frame.is_none() || actual != frame.map(|frame| (frame, rights)) || recorded.huge.contains(&block_of(page)) {
                return Err(Violation::ViewMapping { view: id, page });
            }
        }
        // A 2 MiB entry maps the source's 2 MiB page it lines up with.
        for &start in recorded.huge.range(block_of(window.start)..window.end) {
            let target = self.view_target(id, start);
            let lined_up = target.is_some_and(|(_, target)| target.is_multiple_of(HUGE_PAGES) && source.huge.contains(&target));
            let expected = target.and_then(|(_, target)| source.frame_of(target)).map(|frame| (frame, partition.rights_at(start), true));
            let actual = entry_of(table, partition.space, start).map(|entry| (entry.frame, entry.rights, entry.huge));
            if !lined_up || actual != expected || !start.is_multiple_of(HUGE_PAGES) {
                return Err(Violation::ViewMapping { view: id, page: start });
            }
        }
        Ok(())
    }
}
