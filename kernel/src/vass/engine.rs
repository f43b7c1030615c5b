//! The partition table, the VASM and the commit engine.

#![forbid(unsafe_code)]

use abi::Rights;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

/// Bytes per page.
pub const PAGE_SIZE: u64 = 4096;
/// Pages per 2 MiB page.
pub const HUGE_PAGES: u64 = 512;

/// Identifies an address space (one per process).
pub type SpaceId = u64;
/// Identifies a partition, unique for the kernel's life.
pub type PartitionId = u64;
/// A virtual page number (address / 4096).
pub type Page = u64;
/// A physical frame number.
pub type Frame = u64;

/// What a partition holds (the ABI's kinds, shared with user programs).
pub use abi::PartitionKind;

/// A half-open range of virtual pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageRange {
    /// First page.
    pub start: Page,
    /// One past the last page.
    pub end: Page,
}

impl PageRange {
    /// `[start, end)`.
    pub const fn new(start: Page, end: Page) -> PageRange {
        PageRange { start, end }
    }

    /// Number of pages.
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the range holds no page.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Whether `page` is inside.
    pub const fn contains(&self, page: Page) -> bool {
        self.start <= page && page < self.end
    }

    /// Whether `other` lies entirely inside.
    pub const fn covers(&self, other: &PageRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether the two ranges share a page.
    pub const fn overlaps(&self, other: &PageRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// How a page was touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Data read.
    Read,
    /// Data write.
    Write,
    /// Instruction fetch.
    Execute,
}

impl Access {
    /// The right the access needs.
    pub fn right(self) -> Rights {
        match self {
            Access::Read => Rights::READ,
            Access::Write => Rights::WRITE,
            Access::Execute => Rights::EXECUTE,
        }
    }
}

/// Why a VASS operation was refused. Nothing changed when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VassError {
    /// No such partition.
    UnknownPartition,
    /// The partition belongs to another address space.
    NotOwner,
    /// Zero size, or a range that is empty or leaves the allowed window.
    BadRange,
    /// The range overlaps another partition.
    Overlap,
    /// The range is not inside the partition.
    OutsideGrant,
    /// The request asks for rights the partition was not created with.
    RightsEscalation,
    /// No free virtual range of that size.
    NoVirtualSpace,
    /// No physical frame left.
    OutOfFrames,
    /// The page tables refused the change.
    PageTable,
    /// The partition was laid out by the loader (program image or stack):
    /// it cannot be destroyed, resized or extended by the program.
    Sealed,
}

/// Statistics of one partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartitionCounters {
    /// Pages committed with contents when the program was loaded.
    pub loaded: u64,
    /// Faults resolved by committing a page.
    pub demand_commits: u64,
    /// Pages committed on request (a policy or the program) before use.
    pub ahead_commits: u64,
    /// Pages committed ahead that were later touched.
    pub hits: u64,
    /// Pages decommitted.
    pub decommits: u64,
    /// Most pages committed at once.
    pub peak_committed: u64,
}

/// One partition: its entry in the partition table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Identity.
    pub id: PartitionId,
    /// The owning address space.
    pub space: SpaceId,
    /// What it holds.
    pub kind: PartitionKind,
    /// The rights its pages are mapped with now.
    pub rights: Rights,
    /// The most rights it may ever have (set at creation; `protect` cannot exceed it).
    pub max_rights: Rights,
    /// Its virtual ranges, in the order they were added (may be several).
    pub ranges: Vec<PageRange>,
    /// Committed pages and their frames.
    pub committed: BTreeMap<Page, Frame>,
    /// Pages committed ahead of use and not touched yet.
    pub untouched: BTreeSet<Page>,
    /// Counters.
    pub counters: PartitionCounters,
    /// Laid out by the loader: see [`VassError::Sealed`].
    pub sealed: bool,
}

impl Partition {
    /// Total size in pages.
    pub fn pages(&self) -> u64 {
        self.ranges.iter().map(PageRange::len).sum()
    }

    /// Whether `page` belongs to the partition.
    pub fn contains(&self, page: Page) -> bool {
        self.ranges.iter().any(|range| range.contains(page))
    }

    /// Whether every page of `range` belongs to the partition.
    pub fn covers(&self, range: &PageRange) -> bool {
        let mut page = range.start;
        while page < range.end {
            match self.ranges.iter().find(|r| r.contains(page)) {
                Some(r) => page = r.end,
                None => return false,
            }
        }
        true
    }

    /// Physically contiguous extents of the committed frames, in page order.
    pub fn extents(&self) -> u64 {
        let mut extents = 0;
        let mut previous: Option<(Page, Frame)> = None;
        for (&page, &frame) in &self.committed {
            if previous.is_none_or(|(p, f)| p + 1 != page || f + 1 != frame) {
                extents += 1;
            }
            previous = Some((page, frame));
        }
        extents
    }
}

/// The hardware page tables of every address space, as the engine sees them.
pub trait PageTable {
    /// Maps `page` of `space` to `frame` with `rights`; the page must be unmapped.
    fn map(&mut self, space: SpaceId, page: Page, frame: Frame, rights: Rights) -> Result<(), VassError>;
    /// Unmaps `page` and flushes its TLB entry; returns the frame it mapped.
    fn unmap(&mut self, space: SpaceId, page: Page) -> Option<Frame>;
    /// Changes the rights of a mapped page and flushes its TLB entry.
    fn protect(&mut self, space: SpaceId, page: Page, rights: Rights) -> Result<(), VassError>;
    /// What `page` maps to now.
    fn translate(&self, space: SpaceId, page: Page) -> Option<(Frame, Rights)>;
}

/// Where committed frames come from (zero-filled) and go back to.
pub trait FrameSource {
    /// A zero-filled frame, or `None` when memory is exhausted.
    fn allocate(&mut self) -> Option<Frame>;
    /// Returns a frame.
    fn free(&mut self, frame: Frame);
}

/// The kernel-wide VASS state: partition table plus VASM.
#[derive(Debug)]
pub struct Vass {
    partitions: BTreeMap<PartitionId, Partition>,
    /// The VASM: per address space, range start → (range end, partition).
    vasm: BTreeMap<SpaceId, BTreeMap<Page, (Page, PartitionId)>>,
    next_id: PartitionId,
}

impl Default for Vass {
    fn default() -> Vass {
        Vass::new()
    }
}

/// Where `create` may place a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Lowest page a partition may use.
    pub start: Page,
    /// One past the highest.
    pub end: Page,
}

/// What [`Vass::fault`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOutcome {
    /// A fresh page was committed: retry the access.
    Committed,
    /// The page was committed ahead and is now touched (a hit): retry.
    AlreadyCommitted,
    /// No partition covers the address: a real fault.
    NotInPartition,
    /// The partition does not allow this access: a real fault.
    RightsViolation,
    /// Memory is exhausted.
    OutOfFrames,
}

impl Vass {
    /// An empty VASS.
    pub const fn new() -> Vass {
        Vass { partitions: BTreeMap::new(), vasm: BTreeMap::new(), next_id: 1 }
    }

    /// Whether every byte of `[address, address + length)` lies in
    /// partitions of `space` that grant `needed` (an empty range always does).
    pub fn grants(&self, space: SpaceId, address: u64, length: u64, needed: Rights) -> bool {
        if length == 0 {
            return true;
        }
        let Some(end) = address.checked_add(length) else { return false };
        let mut page = address / PAGE_SIZE;
        let last = (end - 1) / PAGE_SIZE;
        while page <= last {
            let Some(partition) = self.lookup(space, page) else { return false };
            if !partition.rights.contains(needed) {
                return false;
            }
            match partition.ranges.iter().find(|range| range.contains(page)) {
                Some(range) => page = range.end,
                None => return false,
            }
        }
        true
    }

    /// The partition table entry of `id`.
    pub fn partition(&self, id: PartitionId) -> Option<&Partition> {
        self.partitions.get(&id)
    }

    /// Every partition of `space`, by id.
    pub fn partitions_of(&self, space: SpaceId) -> impl Iterator<Item = &Partition> {
        self.partitions.values().filter(move |p| p.space == space)
    }

    /// The partition (and its entry) that `page` of `space` belongs to: the VASM lookup.
    pub fn lookup(&self, space: SpaceId, page: Page) -> Option<&Partition> {
        let map = self.vasm.get(&space)?;
        let (_, &(end, id)) = map.range(..=page).next_back()?;
        (page < end).then(|| self.partitions.get(&id)).flatten()
    }

    fn owned(&self, space: SpaceId, id: PartitionId) -> Result<&Partition, VassError> {
        let partition = self.partitions.get(&id).ok_or(VassError::UnknownPartition)?;
        if partition.space != space {
            return Err(VassError::NotOwner);
        }
        Ok(partition)
    }

    /// The partition `id` of `space`, which the program may reshape.
    fn reshapable(&self, space: SpaceId, id: PartitionId) -> Result<&Partition, VassError> {
        let partition = self.owned(space, id)?;
        if partition.sealed {
            return Err(VassError::Sealed);
        }
        Ok(partition)
    }

    /// Seals partition `id`: from now on it can be protected, committed
    /// and decommitted but not destroyed, resized or extended (only
    /// [`Vass::destroy_space`] removes it).
    pub fn seal(&mut self, id: PartitionId) {
        if let Some(partition) = self.partitions.get_mut(&id) {
            partition.sealed = true;
        }
    }

    /// The partition `id` of `space`, checked to cover the non-empty `range`.
    fn granted(&self, space: SpaceId, id: PartitionId, range: &PageRange) -> Result<&Partition, VassError> {
        let partition = self.owned(space, id)?;
        if range.is_empty() {
            return Err(VassError::BadRange);
        }
        if !partition.covers(range) {
            return Err(VassError::OutsideGrant);
        }
        Ok(partition)
    }

    fn is_free(&self, space: SpaceId, range: &PageRange) -> bool {
        let Some(map) = self.vasm.get(&space) else { return true };
        let before = map.range(..range.end).next_back();
        before.is_none_or(|(_, &(end, _))| end <= range.start)
    }

    fn find_free(&self, space: SpaceId, pages: u64, window: Window) -> Option<PageRange> {
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

    fn place(&mut self, space: SpaceId, pages: u64, at: Option<Page>, window: Window) -> Result<PageRange, VassError> {
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
            None => self.find_free(space, pages, window).ok_or(VassError::NoVirtualSpace),
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
        self.next_id += 1;
        self.vasm.entry(space).or_default().insert(range.start, (range.end, id));
        self.partitions.insert(
            id,
            Partition {
                id,
                space,
                kind,
                rights,
                max_rights: rights,
                ranges: vec![range],
                committed: BTreeMap::new(),
                untouched: BTreeSet::new(),
                counters: PartitionCounters::default(),
                sealed: false,
            },
        );
        Ok((id, range))
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
        self.reshapable(space, id)?;
        let range = self.place(space, pages, at, window)?;
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
        if pages > current {
            let extra = pages - current;
            let last = *partition.ranges.last().ok_or(VassError::BadRange)?;
            let grown = PageRange::new(last.end, last.end.checked_add(extra).ok_or(VassError::BadRange)?);
            if grown.end <= window.end && self.is_free(space, &grown) {
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

    /// Unmaps and frees every committed page of `id` inside `range`.
    fn release(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) {
        let Some(partition) = self.partitions.get_mut(&id) else { return };
        let pages: Vec<Page> = partition.committed.range(range.start..range.end).map(|(&page, _)| page).collect();
        for page in pages {
            if let Some(frame) = partition.committed.remove(&page) {
                if let Some(mapped) = table.unmap(partition.space, page) {
                    debug_assert_eq!(mapped, frame);
                }
                frames.free(frame);
                partition.untouched.remove(&page);
                partition.counters.decommits += 1;
            }
        }
    }

    /// Destroys a partition: decommits everything and forgets its ranges.
    pub fn destroy(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<Partition, VassError> {
        self.remove(space, id, table, frames, false)
    }

    fn remove(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
        even_sealed: bool,
    ) -> Result<Partition, VassError> {
        let partition = if even_sealed { self.owned(space, id)? } else { self.reshapable(space, id)? };
        let ranges = partition.ranges.clone();
        for range in &ranges {
            self.release(id, *range, table, frames);
        }
        if let Some(map) = self.vasm.get_mut(&space) {
            for range in &ranges {
                map.remove(&range.start);
            }
        }
        self.partitions.remove(&id).ok_or(VassError::UnknownPartition)
    }

    /// The partition of `space` that is exactly `[start, start + pages)`
    /// (one range), if any: what a whole-mapping unmap names.
    pub fn exact(&self, space: SpaceId, start: Page, pages: u64) -> Option<PartitionId> {
        let partition = self.lookup(space, start)?;
        (partition.ranges.len() == 1 && partition.ranges[0] == PageRange::new(start, start.checked_add(pages)?))
            .then_some(partition.id)
    }

    /// Destroys every partition of `space` (the process is gone).
    pub fn destroy_space(&mut self, space: SpaceId, table: &mut impl PageTable, frames: &mut impl FrameSource) {
        let ids: Vec<PartitionId> = self.partitions_of(space).map(|p| p.id).collect();
        for id in ids {
            let _ = self.remove(space, id, table, frames, true);
        }
        self.vasm.remove(&space);
    }

    /// Sets the rights of a whole partition (never beyond its creation rights).
    pub fn protect(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        rights: Rights,
        table: &mut impl PageTable,
    ) -> Result<(), VassError> {
        let partition = self.owned(space, id)?;
        if !partition.max_rights.contains(rights) {
            return Err(VassError::RightsEscalation);
        }
        let pages: Vec<Page> = partition.committed.keys().copied().collect();
        for page in pages {
            table.protect(space, page, rights)?;
        }
        if let Some(partition) = self.partitions.get_mut(&id) {
            partition.rights = rights;
        }
        Ok(())
    }

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
        self.commit_range(space, id, range, true, table, frames)
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
        self.commit_range(space, id, range, false, table, frames)
    }

    fn commit_range(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        range: PageRange,
        ahead: bool,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<u64, VassError> {
        self.granted(space, id, &range)?;
        let mut committed = 0;
        for page in range.start..range.end {
            if self.partitions.get(&id).is_some_and(|p| p.committed.contains_key(&page)) {
                continue;
            }
            self.commit_page(id, page, table, frames)?;
            if let Some(partition) = self.partitions.get_mut(&id) {
                if ahead {
                    partition.untouched.insert(page);
                    partition.counters.ahead_commits += 1;
                } else {
                    partition.counters.loaded += 1;
                }
            }
            committed += 1;
        }
        Ok(committed)
    }

    fn commit_page(
        &mut self,
        id: PartitionId,
        page: Page,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<(), VassError> {
        let partition = self.partitions.get_mut(&id).ok_or(VassError::UnknownPartition)?;
        let frame = frames.allocate().ok_or(VassError::OutOfFrames)?;
        if let Err(error) = table.map(partition.space, page, frame, partition.rights) {
            frames.free(frame);
            return Err(error);
        }
        partition.committed.insert(page, frame);
        let committed = partition.committed.len() as u64;
        partition.counters.peak_committed = partition.counters.peak_committed.max(committed);
        Ok(())
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

    /// Handles a page fault at `page` of `space`: commits it if a
    /// partition covers it and allows `access`.
    pub fn fault(
        &mut self,
        space: SpaceId,
        page: Page,
        access: Access,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> FaultOutcome {
        let Some(partition) = self.lookup(space, page) else { return FaultOutcome::NotInPartition };
        if !partition.rights.contains(access.right()) {
            return FaultOutcome::RightsViolation;
        }
        let id = partition.id;
        if partition.committed.contains_key(&page) {
            self.touch(id, page);
            return FaultOutcome::AlreadyCommitted;
        }
        match self.commit_page(id, page, table, frames) {
            Ok(()) => {
                if let Some(partition) = self.partitions.get_mut(&id) {
                    partition.counters.demand_commits += 1;
                }
                FaultOutcome::Committed
            }
            Err(_) => FaultOutcome::OutOfFrames,
        }
    }

    /// Records that a page committed ahead was used (a hit).
    pub fn touch(&mut self, id: PartitionId, page: Page) {
        if let Some(partition) = self.partitions.get_mut(&id)
            && partition.untouched.remove(&page)
        {
            partition.counters.hits += 1;
        }
    }

    /// Checks that the partition table, the VASM and the page tables agree:
    /// ranges are disjoint and registered, committed pages lie in their
    /// partitions and are mapped to exactly their frames with the
    /// partition's rights, no frame backs two pages, and uncommitted pages
    /// of partitions are unmapped.
    pub fn check_invariants(&self, table: &impl PageTable) -> Result<(), String> {
        let mut frames_seen = BTreeSet::new();
        let mut registered = 0usize;
        for (space, map) in &self.vasm {
            let mut previous_end = 0;
            for (&start, &(end, id)) in map {
                if start >= end || start < previous_end {
                    return Err(format!("space {space}: VASM range {start:#x}..{end:#x} empty or overlapping"));
                }
                previous_end = end;
                let partition = self.partitions.get(&id).ok_or(format!("VASM names unknown partition {id}"))?;
                if partition.space != *space || !partition.ranges.contains(&PageRange::new(start, end)) {
                    return Err(format!("VASM range {start:#x}..{end:#x} does not match partition {id}"));
                }
                registered += 1;
            }
        }
        let total_ranges: usize = self.partitions.values().map(|p| p.ranges.len()).sum();
        if registered != total_ranges {
            return Err(format!("{registered} VASM ranges for {total_ranges} partition ranges"));
        }
        for partition in self.partitions.values() {
            for (&page, &frame) in &partition.committed {
                if !partition.contains(page) {
                    return Err(format!("partition {}: committed page {page:#x} outside its ranges", partition.id));
                }
                if !frames_seen.insert(frame) {
                    return Err(format!("frame {frame:#x} backs two pages"));
                }
                if table.translate(partition.space, page) != Some((frame, partition.rights)) {
                    return Err(format!(
                        "partition {}: page {page:#x} should map frame {frame:#x} with {:?}, page table has {:?}",
                        partition.id,
                        partition.rights,
                        table.translate(partition.space, page)
                    ));
                }
            }
            if !partition.untouched.iter().all(|page| partition.committed.contains_key(page)) {
                return Err(format!("partition {}: untouched page not committed", partition.id));
            }
            for range in &partition.ranges {
                if range.len() <= 4096 {
                    for page in range.start..range.end {
                        if !partition.committed.contains_key(&page) && table.translate(partition.space, page).is_some() {
                            return Err(format!("partition {}: uncommitted page {page:#x} is mapped", partition.id));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
