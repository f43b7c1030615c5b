//! The partition table's rows and the small structures they are made of:
//! the identifiers (`SpaceId`, `PartitionId`: newtypes, so one cannot be
//! passed for the other; pages and frames stay numbers), each partition's
//! residency (the frames it holds, kept consistent by `hold` and `take`),
//! page ranges, range maps (rights overrides, access hints, cold and locked
//! ranges), sliding-window access frequencies (four windows of 64 ticks),
//! the per-partition and per-space counters (a space's footprint is the
//! integral of its committed pages over ticks), resource declarations, and
//! each space's state (budget, CLOCK hand, prefetch depth, rooms).

#![forbid(unsafe_code)]

use abi::Rights;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use super::frames::UserFrame;

pub use abi::PAGE_SIZE;
/// Pages per 2 MiB page.
pub const HUGE_PAGES: u64 = 512;

/// Identifies an address space (one per process: its pid's number).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpaceId(pub u64);

impl core::fmt::Display for SpaceId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// Identifies a partition, unique for the kernel's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionId(pub u64);

impl PartitionId {
    /// The id given after this one.
    pub const fn next(self) -> PartitionId {
        PartitionId(self.0 + 1)
    }
}

impl core::fmt::Display for PartitionId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}
/// A virtual page number (address / 4096).
pub type Page = u64;
/// A physical frame number.
pub type Frame = u64;
/// A time in timer ticks.
pub type Tick = u64;

/// The first page of the 2 MiB-aligned block holding `page`.
pub const fn block_of(page: Page) -> Page {
    page - page % HUGE_PAGES
}

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

    /// The pages both ranges hold (empty if they share none).
    pub fn intersection(&self, other: &PageRange) -> PageRange {
        let start = self.start.max(other.start);
        PageRange::new(start, self.end.min(other.end).max(start))
    }
}

/// Disjoint page ranges, each with a value; pages not in a range have none.
/// Adjacent ranges with equal values are merged, so the map stays as small
/// as the distinct runs it describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeMap<V> {
    entries: BTreeMap<Page, (Page, V)>,
}

impl<V> Default for RangeMap<V> {
    fn default() -> RangeMap<V> {
        RangeMap { entries: BTreeMap::new() }
    }
}

impl<V: Copy + Eq> RangeMap<V> {
    /// The value at `page`.
    pub fn get(&self, page: Page) -> Option<V> {
        let (_, &(end, value)) = self.entries.range(..=page).next_back()?;
        (page < end).then_some(value)
    }

    /// Removes every value inside `range`, splitting ranges that cross its ends.
    pub fn clear(&mut self, range: PageRange) {
        if range.is_empty() {
            return;
        }
        let first = self.entries.range(..range.start).next_back().map_or(range.start, |(&start, _)| start);
        let crossing: Vec<(Page, Page, V)> =
            self.entries.range(first..range.end).map(|(&start, &(end, value))| (start, end, value)).collect();
        for (start, end, value) in crossing {
            if end <= range.start {
                continue;
            }
            self.entries.remove(&start);
            if start < range.start {
                self.entries.insert(start, (range.start, value));
            }
            if end > range.end {
                self.entries.insert(range.end, (end, value));
            }
        }
    }

    /// Gives every page of `range` the value `value`.
    pub fn set(&mut self, range: PageRange, value: V) {
        if range.is_empty() {
            return;
        }
        self.clear(range);
        let mut start = range.start;
        let mut end = range.end;
        if let Some((&before, &(before_end, before_value))) = self.entries.range(..start).next_back()
            && before_end == start
            && before_value == value
        {
            self.entries.remove(&before);
            start = before;
        }
        if let Some(&(after_end, after_value)) = self.entries.get(&end)
            && after_value == value
        {
            self.entries.remove(&end);
            end = after_end;
        }
        self.entries.insert(start, (end, value));
    }

    /// The ranges and their values, in page order.
    pub fn iter(&self) -> impl Iterator<Item = (PageRange, V)> + '_ {
        self.entries.iter().map(|(&start, &(end, value))| (PageRange::new(start, end), value))
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Pages that have a value.
    pub fn pages(&self) -> u64 {
        self.iter().map(|(range, _)| range.len()).sum()
    }

    /// Pages of `range` that have a value.
    pub fn pages_in(&self, range: PageRange) -> u64 {
        self.iter().map(|(piece, _)| piece.intersection(&range).len()).sum()
    }

    /// Whether no page has a value.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Ticks per window of a [`Recent`] count.
pub const WINDOW_TICKS: Tick = 64;
/// Windows a [`Recent`] count keeps.
pub const WINDOWS: usize = 4;

/// Events counted over the last [`WINDOWS`] windows of [`WINDOW_TICKS`]
/// ticks each: an access frequency that forgets the past.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recent {
    /// The window `now` falls in, as `now / WINDOW_TICKS`.
    window: u64,
    /// Counts per window; index `window % WINDOWS` is the current one.
    counts: [u64; WINDOWS],
}

impl Recent {
    fn advance(&mut self, now: Tick) {
        let window = now / WINDOW_TICKS;
        if window <= self.window {
            return;
        }
        let passed = (window - self.window).min(WINDOWS as u64);
        for step in 1..=passed {
            self.counts[((self.window + step) % WINDOWS as u64) as usize] = 0;
        }
        self.window = window;
    }

    /// Counts `events` at time `now`.
    pub fn record(&mut self, now: Tick, events: u64) {
        self.advance(now);
        let current = (self.window % WINDOWS as u64) as usize;
        self.counts[current] += events;
    }

    /// Events in the current window and the [`WINDOWS`]` - 1` before it.
    pub fn total(&self, now: Tick) -> u64 {
        let mut copy = *self;
        copy.advance(now);
        copy.counts.iter().sum()
    }
}

/// How a program expects to use a range (`partition_advise`), kept for
/// the commit policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Touched in address order.
    Sequential,
    /// Touched in no predictable order.
    Random,
}

/// Why a range of a partition is held cold: its pages are the first to be
/// evicted (see [`super::Eviction::ColdFirst`]), their contents kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cold {
    /// The program said so (`partition_advise(cold)`).
    Advised,
    /// A commit policy predicted it (a [`crate::policy::Plan`]'s `cold`).
    Predicted,
}

/// Accessed-bit scans in a row that must find a partition unused (no page
/// accessed, no fault) before it counts as observed cold.
pub const COLD_SCANS: u64 = 4;

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
    /// Pages committed ahead that were released without being touched.
    pub waste: u64,
    /// Pages decommitted.
    pub decommits: u64,
    /// Most pages committed at once.
    pub peak_committed: u64,
    /// Page faults taken in the partition (of any outcome).
    pub faults: u64,
    /// 2 MiB blocks turned into 2 MiB pages.
    pub promotions: u64,
    /// 2 MiB pages split back into 4 KiB pages.
    pub demotions: u64,
    /// Pages evicted to make room (written to swap or dropped clean).
    pub evictions: u64,
    /// Faults that read a swapped-out page back.
    pub major_faults: u64,
}

/// One partition: its entry in the partition table.
#[derive(Debug, PartialEq, Eq)]
pub struct Partition {
    /// Identity.
    pub id: PartitionId,
    /// The owning address space.
    pub space: SpaceId,
    /// What it holds.
    pub kind: PartitionKind,
    /// The rights its pages are mapped with, except where `overrides` says otherwise.
    pub rights: Rights,
    /// Sub-ranges protected to other rights than `rights`.
    pub overrides: RangeMap<Rights>,
    /// The most rights it may ever have (set at creation; `protect` cannot exceed it).
    pub max_rights: Rights,
    /// Its virtual ranges, in the order they were added (may be several).
    pub ranges: Vec<PageRange>,
    /// Committed pages and the frames it holds for them (also for pages
    /// inside 2 MiB pages, whose frames are held as one run until split).
    pub committed: BTreeMap<Page, UserFrame>,
    /// First pages of the 2 MiB-aligned blocks mapped as 2 MiB pages.
    pub huge: BTreeSet<Page>,
    /// Committed pages per 2 MiB-aligned block (by first page).
    pub fill: BTreeMap<Page, u64>,
    /// Pages committed ahead of use and not seen touched yet.
    pub untouched: BTreeSet<Page>,
    /// Pages swapped out: where each one is (not committed meanwhile).
    pub swapped: BTreeMap<Page, super::swap::SwapEntry>,
    /// How committed pages are backed, where not [`super::swap::Backing::Zero`].
    pub backing: BTreeMap<Page, super::swap::Backing>,
    /// Access patterns the program declared.
    pub hints: RangeMap<Pattern>,
    /// Ranges held cold (evicted first); a fault on a page clears its mark.
    pub cold: RangeMap<Cold>,
    /// Locked ranges (`Advice::Lock`): their committed pages are never
    /// evicted.
    pub locked: RangeMap<()>,
    /// Accessed-bit scans in a row that found no page of it accessed and
    /// no fault in it since the scan before (see [`COLD_SCANS`]).
    pub idle_scans: u64,
    /// Counters.
    pub counters: PartitionCounters,
    /// Faults over the recent windows.
    pub recent_faults: Recent,
    /// Pages seen accessed by accessed-bit samples over the recent windows.
    pub recent_accessed: Recent,
    /// Of a view: faults that mapped a page its source held already (minor
    /// faults of sharing), over the recent windows.
    pub recent_shared_faults: Recent,
    /// Of a source: invalidations of its replicas over the recent windows.
    pub recent_invalidations: Recent,
    /// Laid out by the loader: see [`super::VassError::Sealed`].
    pub sealed: bool,
    /// Its place among the partitions its space created (0: the first),
    /// which matches it with a layout proposal (`pae::proposal`).
    pub ordinal: u32,
    /// A view: the pages of another partition it maps (see
    /// `vass::engine::view`); a view commits nothing of its own.
    pub view: Option<ViewOf>,
    /// The views of this partition in other spaces (or its own), by the
    /// view's id: the reverse map from its pages to every entry that maps
    /// them besides its own.
    pub views: BTreeMap<PartitionId, View>,
    /// Per page that has had replicas: how many times its replicas were
    /// invalidated by a write (absent: never), the version a replica
    /// records (see `vass::engine::replica`).
    pub versions: BTreeMap<Page, u64>,
}

/// What a view maps: a range of another partition's pages, by offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewOf {
    /// The partition whose pages it maps (its *source*).
    pub source: PartitionId,
    /// The source's page offset its first page maps.
    pub offset: u64,
    /// Revoked: the view reaches nothing any more; a fault in it, or a
    /// system call naming it, fails as revoked.
    pub revoked: bool,
}

/// One view of a partition, as the partition records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// The space the view is in.
    pub space: SpaceId,
    /// The source's page offsets it maps (`start..end`).
    pub offsets: PageRange,
    /// The view's page that maps the first of them.
    pub at: Page,
    /// The view's pages whose entries map a frame of the source now.
    pub mapped: BTreeSet<Page>,
    /// Whether the view reads through replicas (its own copies of the
    /// source's pages; see `vass::engine::replica`).
    pub replicate: bool,
    /// Its pages that hold a replica now (the frames are the view's
    /// committed pages), with the source page's version copied.
    pub replicas: BTreeMap<Page, u64>,
    /// First pages of its 2 MiB-aligned blocks mapped as one 2 MiB page of
    /// the source's (their pages are not in `mapped`).
    pub huge: BTreeSet<Page>,
    /// Whether the view is a private snapshot (copy-on-write; see
    /// `vass::engine::cow`).
    pub cow: bool,
    /// Of a copy-on-write view: its pages that hold a private copy (its own
    /// committed or swapped-out pages).
    pub private: BTreeSet<Page>,
}

impl View {
    /// Whether the view's page `page` maps a frame of the source now (a
    /// 4 KiB entry, or inside a 2 MiB one).
    pub fn maps(&self, page: Page) -> bool {
        self.mapped.contains(&page) || self.huge.contains(&block_of(page))
    }

    /// The view's page that maps source offset `offset`, if it maps it.
    pub fn page_of(&self, offset: u64) -> Option<Page> {
        self.offsets.contains(offset).then(|| self.at + (offset - self.offsets.start))
    }

    /// The source offset the view's page `page` maps, if it is the view's.
    pub fn offset_of(&self, page: Page) -> Option<u64> {
        let offset = self.offsets.start + page.checked_sub(self.at)?;
        self.offsets.contains(offset).then_some(offset)
    }

    /// The view's pages that map the source's offsets `offsets`.
    pub fn pages_of(&self, offsets: PageRange) -> PageRange {
        let both = self.offsets.intersection(&offsets);
        PageRange::new(self.at + (both.start - self.offsets.start), self.at + (both.end - self.offsets.start))
    }
}

impl Partition {
    /// Total size in pages.
    pub fn pages(&self) -> u64 {
        self.ranges.iter().map(PageRange::len).sum()
    }

    /// The offset of `page` into the partition in pages (its ranges one
    /// after the other, in the order they were added).
    pub fn offset_of(&self, page: Page) -> Option<u64> {
        let mut before = 0;
        for range in &self.ranges {
            if range.contains(page) {
                return Some(before + (page - range.start));
            }
            before += range.len();
        }
        None
    }

    /// The pages at offsets `[start, end)` into the partition, as ranges
    /// (offsets past its size are left out).
    pub fn pages_at(&self, start: u64, end: u64) -> Vec<PageRange> {
        let mut pieces = Vec::new();
        let mut before = 0;
        for range in &self.ranges {
            let (first, last) = (start.max(before), end.min(before + range.len()));
            if first < last {
                pieces.push(PageRange::new(range.start + (first - before), range.start + (last - before)));
            }
            before += range.len();
        }
        pieces
    }

    /// The smallest range holding all its ranges (what a page-table walk
    /// over all its pages is opened for).
    pub fn span(&self) -> PageRange {
        let start = self.ranges.iter().map(|range| range.start).min().unwrap_or(0);
        PageRange::new(start, self.ranges.iter().map(|range| range.end).max().unwrap_or(start))
    }

    /// Whether it is a view that was revoked.
    pub fn revoked(&self) -> bool {
        self.view.is_some_and(|view| view.revoked)
    }

    /// Whether `page` belongs to the partition.
    pub fn contains(&self, page: Page) -> bool {
        self.ranges.iter().any(|range| range.contains(page))
    }

    /// The range of the partition that holds `page`.
    pub fn range_of(&self, page: Page) -> Option<PageRange> {
        self.ranges.iter().copied().find(|range| range.contains(page))
    }

    /// Whether every page of `range` belongs to the partition.
    pub fn covers(&self, range: &PageRange) -> bool {
        let mut page = range.start;
        while page < range.end {
            match self.range_of(page) {
                Some(r) => page = r.end,
                None => return false,
            }
        }
        true
    }

    /// The rights of `page`.
    pub fn rights_at(&self, page: Page) -> Rights {
        self.overrides.get(page).unwrap_or(self.rights)
    }

    /// Whether the 2 MiB-aligned block starting at `start` lies in one of
    /// its ranges with the same rights on every page, and every view of the
    /// partition that maps any of it maps all of it at a 2 MiB-aligned
    /// place and does not replicate: it may be a 2 MiB page (which its
    /// views map as one too). A view keeps 4 KiB pages of its own.
    pub fn huge_eligible(&self, start: Page) -> bool {
        let block = PageRange::new(start, start + HUGE_PAGES);
        if self.view.is_some() || !start.is_multiple_of(HUGE_PAGES) || !self.range_of(start).is_some_and(|range| range.covers(&block)) {
            return false;
        }
        if !self.views.is_empty() {
            let Some(offset) = self.offset_of(start) else { return false };
            let offsets = PageRange::new(offset, offset + HUGE_PAGES);
            let aligned = |view: &View| {
                !view.offsets.overlaps(&offsets)
                    || (!view.replicate && !view.cow && view.offsets.covers(&offsets) && view.page_of(offset).is_some_and(|page| page.is_multiple_of(HUGE_PAGES)))
            };
            if !self.views.values().all(aligned) {
                return false;
            }
        }
        let rights = self.rights_at(start);
        self.overrides.iter().filter(|(range, _)| range.overlaps(&block)).all(|(range, value)| range.covers(&block) && value == rights)
    }

    /// Whether the accessed-bit scans saw it unused [`COLD_SCANS`] times in
    /// a row: then it is evicted whole before warmer pages. Without scans
    /// (sampling off) no partition is ever observed cold.
    pub fn observed_cold(&self) -> bool {
        self.idle_scans >= COLD_SCANS
    }

    /// Pages of it held cold ([`Partition::cold`]).
    pub fn cold_pages(&self) -> u64 {
        self.cold.pages()
    }

    /// Pages of its locked ranges ([`Partition::locked`]).
    pub fn locked_pages(&self) -> u64 {
        self.locked.pages()
    }

    /// Whether `page` lies in a locked range: never evicted while committed.
    pub fn is_locked(&self, page: Page) -> bool {
        !self.locked.is_empty() && self.locked.get(page).is_some()
    }

    /// Holds `frame` for `page`, committed from now on, counted in its
    /// 2 MiB block's fill; gives back the frame the page held before, if
    /// it was committed already (a promotion replaces every frame of a
    /// block; the fill stays).
    #[must_use = "a replaced frame must be freed"]
    pub fn hold(&mut self, page: Page, frame: UserFrame) -> Option<UserFrame> {
        let replaced = self.committed.insert(page, frame);
        if replaced.is_none() {
            *self.fill.entry(block_of(page)).or_default() += 1;
        }
        replaced
    }

    /// Gives back the frame committed to `page`, which is committed no
    /// more (its block's fill drops with it).
    #[must_use = "a frame taken back must be freed"]
    pub fn take(&mut self, page: Page) -> Option<UserFrame> {
        let frame = self.committed.remove(&page)?;
        let block = block_of(page);
        if let Some(fill) = self.fill.get_mut(&block) {
            *fill -= 1;
            if *fill == 0 {
                self.fill.remove(&block);
            }
        }
        Some(frame)
    }

    /// The frame committed to `page`, by number.
    pub fn frame_of(&self, page: Page) -> Option<Frame> {
        self.committed.get(&page).map(UserFrame::number)
    }

    /// Physically contiguous extents of the committed frames, in page order.
    pub fn extents(&self) -> u64 {
        let mut extents = 0;
        let mut previous: Option<(Page, Frame)> = None;
        for (&page, frame) in &self.committed {
            let frame = frame.number();
            if previous.is_none_or(|(p, f)| p + 1 != page || f + 1 != frame) {
                extents += 1;
            }
            previous = Some((page, frame));
        }
        extents
    }
}

/// What a process declared with `resource_request`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declaration {
    /// Expected working set, in pages.
    pub working_set: u64,
    /// Expected lifetime, in ticks (0: unknown).
    pub lifetime: Tick,
    /// Programs it will start.
    pub programs: Vec<alloc::string::String>,
    /// Partitions of its own it will use.
    pub partitions: Vec<PartitionId>,
}

/// The counters of one address space (one process), kept after its
/// partitions are gone: the ABI's [`abi::MemoryCounters`], declared once
/// (`abi::words!`) for the engine, the `memory_counters` system call, the
/// `memstat` line and record (`abi::record`). The engine keeps the fields it
/// counts; the memory service fills in what only it knows (pid,
/// partitions, age, run time, untouched pages, declarations, history,
/// budget, pages on swap) when it reports them.
pub type SpaceCounters = abi::MemoryCounters;

/// Pages remembered per space as recently evicted.
pub const RECENT_EVICTIONS: usize = 8;

/// Pages remembered per space that a plan asked for and the prefetch depth
/// declined ([`SpaceState::declined`]).
pub const DECLINED_PREFETCHES: usize = 32;

/// Major faults in a row, each on one of the space's last
/// [`RECENT_EVICTIONS`] evicted pages, after which a fault with the swap
/// device full fails as out of memory: the pages the process needs at once
/// do not fit its budget beside the pages no slot is left for, so every
/// fault evicts the next page it needs and it would fault forever.
pub const THRASH_LIMIT: u64 = 256;

/// Per-space state: counters and what the process declared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpaceState {
    /// Counters.
    pub counters: SpaceCounters,
    /// When `counters.footprint` was last brought up to date.
    pub accounted_at: Tick,
    /// When the space was first seen.
    pub born: Tick,
    /// Partitions it has created (the next one's ordinal).
    pub created: u32,
    /// The latest resource request.
    pub declared: Option<Declaration>,
    /// Most pages the space may have committed at once (`None`: no limit).
    pub budget: Option<u64>,
    /// Where the eviction clock's hand stopped: the next page it looks at
    /// is the first committed page after this one.
    pub hand: Option<(PartitionId, Page)>,
    /// Most pages one plan may commit ahead (`None`: no limit). Halved each
    /// time a page committed ahead is evicted untouched (down to none),
    /// grown by one for each one used and for each declined one the
    /// process faults on: prefetching backs off when memory is too short
    /// to keep what it brings in, and comes back when the plans it
    /// declined turn out right.
    pub prefetch_depth: Option<u64>,
    /// The last pages plans asked for that the depth declined, each with
    /// the space's evictions then, most recent at `declined_at - 1` (a
    /// ring; page 0: an empty entry, never a user page). A fault on one
    /// before any eviction since counts as a prefetch that would have been
    /// used (committed, it would have been the first page to go at the
    /// next eviction, untouched): with the depth at zero, plans are still
    /// judged.
    pub declined: [(Page, u64); DECLINED_PREFETCHES],
    /// Where the next declined page goes in `declined`.
    pub declined_at: usize,
    /// What the plan being applied has committed ahead so far: a commit
    /// ahead evicts none of it (see `policy::apply`).
    pub planned: Vec<PageRange>,
    /// Room held after a partition's last range (see
    /// [`super::Vass::create_with_room`]): other partitions are placed
    /// elsewhere while there is space elsewhere, so it can grow in place.
    pub rooms: BTreeMap<PartitionId, PageRange>,
    /// The space's partitions, by id: what a pass over one space's
    /// partitions walks (eviction, sampling, queries), in the order a walk
    /// over the whole partition table filtered to the space would.
    pub partitions: BTreeSet<PartitionId>,
    /// The last pages evicted from the space, most recent at
    /// `evicted_at - 1` (a ring; page 0 is never a user page).
    pub recently_evicted: [Page; RECENT_EVICTIONS],
    /// Where the next eviction goes in `recently_evicted`.
    pub evicted_at: usize,
    /// Major faults in a row on pages among `recently_evicted`: the
    /// process keeps evicting what it is about to touch (see
    /// [`THRASH_LIMIT`]).
    pub refaults: u64,
}

impl SpaceState {
    /// The depth prefetching starts backing off from.
    pub const PREFETCH_DEPTH_START: u64 = 64;

    /// A page committed ahead was evicted before it was used: the depth
    /// halves, down to none (until a declined page is faulted on).
    pub fn prefetch_wasted(&mut self) {
        let depth = self.prefetch_depth.unwrap_or(Self::PREFETCH_DEPTH_START);
        self.prefetch_depth = Some(depth / 2);
    }

    /// `pages` committed ahead were used.
    pub fn prefetch_used(&mut self, pages: u64) {
        if let Some(depth) = self.prefetch_depth {
            let grown = depth.saturating_add(pages);
            self.prefetch_depth = (grown < Self::PREFETCH_DEPTH_START).then_some(grown);
        }
    }

    /// A plan asked for `page` and the depth declined it.
    pub fn prefetch_declined(&mut self, page: Page) {
        let evictions = self.counters.evictions;
        if let Some(entry) = self.declined.iter_mut().find(|entry| entry.0 == page) {
            entry.1 = evictions;
            return;
        }
        self.declined[self.declined_at % DECLINED_PREFETCHES] = (page, evictions);
        self.declined_at = self.declined_at.wrapping_add(1);
    }

    /// The process faulted on `page`: if a plan asked for it, the depth
    /// declined it and nothing was evicted since (a prefetched page would
    /// still be in), the plan was right, and the depth grows by one.
    pub fn fault_on_declined(&mut self, page: Page) {
        if page == 0 {
            return;
        }
        let evictions = self.counters.evictions;
        if let Some(entry) = self.declined.iter_mut().find(|entry| entry.0 == page) {
            let in_time = entry.1 == evictions;
            *entry = (0, 0);
            if in_time {
                self.prefetch_used(1);
            }
        }
    }

    /// Adds the footprint up to `now`.
    pub fn account(&mut self, now: Tick) {
        let elapsed = now.saturating_sub(self.accounted_at);
        self.counters.footprint += self.counters.committed * elapsed;
        self.accounted_at = self.accounted_at.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declined_page_faulted_on_before_any_eviction_regrows_the_depth() {
        let mut state = SpaceState { prefetch_depth: Some(0), ..SpaceState::default() };
        state.prefetch_declined(10);
        state.counters.evictions += 1;
        state.prefetch_declined(11);
        state.fault_on_declined(10);
        assert_eq!(state.prefetch_depth, Some(0), "evicted since: a prefetch would not have lasted");
        state.fault_on_declined(11);
        assert_eq!(state.prefetch_depth, Some(1));
        state.fault_on_declined(11);
        state.fault_on_declined(12);
        assert_eq!(state.prefetch_depth, Some(1), "each declined page counts once; others not at all");
        for page in 100..100 + 2 * DECLINED_PREFETCHES as u64 {
            state.prefetch_declined(page);
        }
        state.fault_on_declined(100);
        assert_eq!(state.prefetch_depth, Some(1), "the oldest are forgotten");
        state.fault_on_declined(100 + 2 * DECLINED_PREFETCHES as u64 - 1);
        assert_eq!(state.prefetch_depth, Some(2));
    }

    #[test]
    fn intersections_of_page_ranges() {
        let range = PageRange::new(10, 20);
        assert_eq!(range.intersection(&PageRange::new(15, 30)), PageRange::new(15, 20));
        assert_eq!(range.intersection(&PageRange::new(12, 14)), PageRange::new(12, 14));
        assert!(range.intersection(&PageRange::new(20, 30)).is_empty());
        assert!(range.intersection(&PageRange::new(0, 5)).is_empty());
        let mut map = RangeMap::default();
        map.set(PageRange::new(10, 20), ());
        map.set(PageRange::new(30, 35), ());
        assert_eq!((map.pages(), map.pages_in(PageRange::new(15, 32)), map.pages_in(PageRange::new(0, 5))), (15, 7, 0));
    }

    #[test]
    fn range_maps_split_and_merge() {
        let mut map = RangeMap::default();
        map.set(PageRange::new(10, 20), 1);
        map.set(PageRange::new(12, 14), 2);
        assert_eq!(map.get(11), Some(1));
        assert_eq!(map.get(12), Some(2));
        assert_eq!(map.get(14), Some(1));
        assert_eq!(map.get(20), None);
        assert_eq!(map.len(), 3);
        map.set(PageRange::new(12, 14), 1);
        assert_eq!(map.len(), 1, "equal neighbours merge back");
        map.clear(PageRange::new(5, 11));
        map.clear(PageRange::new(19, 30));
        assert_eq!(map.iter().collect::<Vec<_>>(), [(PageRange::new(11, 19), 1)]);
        map.clear(PageRange::new(0, 100));
        assert!(map.is_empty());
        map.set(PageRange::new(3, 3), 7);
        assert!(map.is_empty(), "an empty range sets nothing");
    }

    #[test]
    fn recent_counts_forget_old_windows() {
        let mut recent = Recent::default();
        recent.record(0, 5);
        recent.record(WINDOW_TICKS, 1);
        assert_eq!(recent.total(WINDOW_TICKS), 6);
        assert_eq!(recent.total(WINDOW_TICKS * WINDOWS as u64 - 1), 6);
        assert_eq!(recent.total(WINDOW_TICKS * WINDOWS as u64), 1, "the first window has slid out");
        assert_eq!(recent.total(WINDOW_TICKS * 100), 0);
        recent.record(WINDOW_TICKS * 100, 2);
        assert_eq!(recent.total(WINDOW_TICKS * 100), 2);
        recent.record(3, 4);
        assert_eq!(recent.total(WINDOW_TICKS * 100), 6, "late events land in the current window");
    }

    #[test]
    fn footprint_integrates_committed_pages_over_time() {
        let mut state = SpaceState::default();
        state.account(10);
        state.counters.committed = 3;
        state.account(20);
        state.counters.committed = 1;
        state.account(25);
        assert_eq!(state.counters.footprint, 35);
        state.account(5);
        assert_eq!(state.counters.footprint, 35, "time never runs backwards");
    }
}
