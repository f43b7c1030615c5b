//! The VASS: partition table, VASM and commit engine.

#![forbid(unsafe_code)]

use super::partition::*;
use super::swap::{Backing, Slot, SlotAllocator, SwapEntry, SwapError};
use abi::Rights;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

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

/// Why a VASS operation was refused. Nothing changed when one is returned,
/// except that `commit` keeps the pages it committed before running out.
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
    /// A swapped-out page could not be read back (device error or a
    /// checksum mismatch): its contents are lost.
    SwapFailed,
    /// Locking the range would take the space past
    /// [`abi::MAX_LOCKED_PAGES`] pages of locked ranges.
    TooManyLocked,
}

/// The hardware page tables of every address space, as the engine sees them.
pub trait PageTable {
    /// Maps `page` of `space` to `frame` with `rights`; the page must be unmapped.
    fn map(&mut self, space: SpaceId, page: Page, frame: Frame, rights: Rights) -> Result<(), VassError>;
    /// Unmaps `page` and flushes its TLB entry; returns the frame it mapped.
    fn unmap(&mut self, space: SpaceId, page: Page) -> Option<Frame>;
    /// Changes the rights of a mapped page and flushes its TLB entry.
    fn protect(&mut self, space: SpaceId, page: Page, rights: Rights) -> Result<(), VassError>;
    /// What `page` maps to now (inside a 2 MiB page: the frame at its offset).
    fn translate(&self, space: SpaceId, page: Page) -> Option<(Frame, Rights)>;
    /// Whether the processor set the accessed bit of mapped `page` (for a
    /// page inside a 2 MiB page, the bit of the whole 2 MiB page); with
    /// `clear`, also clears it (and flushes the TLB entry) to sample again.
    fn accessed(&mut self, space: SpaceId, page: Page, clear: bool) -> bool;
    /// Maps the 2 MiB page at `page` (aligned) to the 512 frames from
    /// `frame` (aligned) with `rights`; none of its pages may be mapped.
    fn map_huge(&mut self, space: SpaceId, page: Page, frame: Frame, rights: Rights) -> Result<(), VassError>;
    /// Unmaps the 2 MiB page at `page` and flushes it; returns its first frame.
    fn unmap_huge(&mut self, space: SpaceId, page: Page) -> Option<Frame>;
    /// Changes the rights of the 2 MiB page at `page` and flushes it.
    fn protect_huge(&mut self, space: SpaceId, page: Page, rights: Rights) -> Result<(), VassError>;
    /// Whether the processor set the dirty bit of mapped `page` (for a page
    /// inside a 2 MiB page, the bit of the whole 2 MiB page): it was written
    /// since it was mapped.
    fn dirty(&self, space: SpaceId, page: Page) -> bool;
    /// Whether the processor set the accessed bit of mapped `page`, read
    /// without clearing it (what a policy's view of the space sees).
    fn accessed_now(&self, space: SpaceId, page: Page) -> bool;
    /// The access that faulted on `page`, just committed, counts as made
    /// before the policy plans: its accessed bit is set (a commit ahead
    /// under a budget evicts only pages whose bit is clear, and must not
    /// evict the page the fault was served for). The kernel's tables set
    /// the accessed bit alone (the retried access sets the dirty bit); the
    /// simulator, which retries nothing, sets both for a write.
    fn mark_faulted(&mut self, space: SpaceId, page: Page, access: Access);
    /// Whether these tables include `space`'s: the engine evicts pages of
    /// other spaces than the one it works for (under the global budget, or
    /// when frames run out) only through tables that reach them.
    fn reaches(&self, _space: SpaceId) -> bool {
        true
    }
}

/// Where committed frames come from (zero-filled) and go back to.
pub trait FrameSource {
    /// A zero-filled frame, or `None` when memory is exhausted.
    fn allocate(&mut self) -> Option<Frame>;
    /// Returns a frame.
    fn free(&mut self, frame: Frame);
    /// Whether `frame` is allocated from this source, once (its metadata
    /// says a user frame with one reference).
    fn holds(&self, frame: Frame) -> bool;
    /// 512 contiguous zero-filled frames aligned to 2 MiB (the first), or
    /// `None` when no such run is free.
    fn allocate_huge(&mut self) -> Option<Frame>;
    /// Turns the 2 MiB allocation at `frame` into 512 frames freed one by one.
    fn split_huge(&mut self, frame: Frame);
    /// Whether the 2 MiB allocation at `frame` is held once.
    fn holds_huge(&self, frame: Frame) -> bool;
    /// Copies the contents of frame `from` into frame `to`.
    fn copy(&mut self, from: Frame, to: Frame);
    /// Slots on the swap device (0: there is none).
    fn swap_slots(&self) -> u64;
    /// Writes the contents of `frame` to swap slot `slot`; returns their
    /// checksum ([`super::swap::checksum`]).
    fn swap_out(&mut self, frame: Frame, slot: Slot) -> Result<u32, SwapError>;
    /// Reads swap slot `slot` into `frame`, checking it against `checksum`
    /// ([`SwapError::Corrupt`] if it differs).
    fn swap_in(&mut self, slot: Slot, frame: Frame, checksum: u32) -> Result<(), SwapError>;
}

/// How much [`Vass::check`] examines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every space, and every page of every partition range up to 4096
    /// pages checked unmapped unless committed.
    Full,
    /// The structures and counters of all spaces, but committed pages,
    /// frames and page tables only of one space (cheap enough after every
    /// system call in a debug kernel; frames shared across spaces are
    /// caught by `Full` checks).
    Space(SpaceId),
    /// As `Space`, but only the pages of `range` (and the 2 MiB pages it
    /// touches): after every page fault in a debug kernel.
    Pages {
        /// The space.
        space: SpaceId,
        /// The pages.
        range: PageRange,
    },
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
    /// The page was already committed (committed ahead, or by a racing
    /// commit): retry.
    AlreadyCommitted,
    /// No partition covers the address: a real fault.
    NotInPartition,
    /// The partition does not allow this access: a real fault.
    RightsViolation,
    /// Memory is exhausted.
    OutOfFrames,
    /// The page was swapped out and has been read back: retry (a major
    /// fault).
    SwappedIn,
    /// The page was swapped out and could not be read back (device error
    /// or checksum mismatch): its contents are lost; the slot is
    /// quarantined.
    SwapFailed,
}

impl FaultOutcome {
    /// Every outcome, in code order (the history's record codes).
    pub const ALL: [FaultOutcome; 7] = [
        FaultOutcome::Committed,
        FaultOutcome::AlreadyCommitted,
        FaultOutcome::NotInPartition,
        FaultOutcome::RightsViolation,
        FaultOutcome::OutOfFrames,
        FaultOutcome::SwappedIn,
        FaultOutcome::SwapFailed,
    ];
}

/// Where a faulting page lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The partition holding it.
    pub partition: PartitionId,
    /// The partition's range holding it.
    pub range: PageRange,
    /// The partition's kind.
    pub kind: PartitionKind,
}

/// What [`Vass::resolve_fault`] (or [`Vass::refuse`]) did with a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// What became of it.
    pub outcome: FaultOutcome,
    /// Where the page lies (`None`: in no partition).
    pub placement: Option<Placement>,
}

impl Resolution {
    /// Whether the engine gave the page a frame (fresh or read back from
    /// swap): the faulting access is retried and the policy plans.
    pub fn served(&self) -> bool {
        matches!(self.outcome, FaultOutcome::Committed | FaultOutcome::SwappedIn)
    }

    /// Whether the faulting access can be retried.
    pub fn retry(&self) -> bool {
        self.served() || self.outcome == FaultOutcome::AlreadyCommitted
    }
}

/// Where a page of a partition is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residence {
    /// Never committed, or dropped since: it reads as zeros.
    Uncommitted,
    /// Committed to `frame` (inside a 2 MiB page if `huge`); `copy` is the
    /// slot still holding a clean copy of it, if any.
    Committed {
        /// The frame.
        frame: Frame,
        /// Whether a 2 MiB page maps it.
        huge: bool,
        /// A slot with a clean copy.
        copy: Option<Slot>,
    },
    /// Swapped out to `slot`; `lost` if the slot failed or is corrupt (the
    /// contents are gone).
    Swapped {
        /// The slot.
        slot: Slot,
        /// Whether it can no longer be read back.
        lost: bool,
    },
}

/// One page as the VASM holds it ([`Vass::page_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageState {
    /// The partition holding it.
    pub partition: PartitionId,
    /// Its rights.
    pub rights: Rights,
    /// Where it is.
    pub residence: Residence,
    /// Committed ahead of use and not seen touched yet.
    pub untouched: bool,
    /// Whether (and why) it is held cold.
    pub cold: Option<Cold>,
    /// Whether it lies in a locked range ([`Advice::Lock`]).
    pub locked: bool,
}

/// What the PAE task did for one address space in one pass
/// ([`Vass::add_pae_work`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaeWork {
    /// Model steps.
    pub steps: u64,
    /// TSC cycles.
    pub cycles: u64,
    /// Of those, TSC cycles in the model's steps.
    pub model_cycles: u64,
    /// Steps that waited for a later tick.
    pub deferred: u64,
    /// History events lost so far (a running total, not an increment).
    pub lost: u64,
    /// Partitions demoted.
    pub demotions: u64,
}

/// A program's hint for a range of a partition (`partition_advise`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// No particular pattern: forget earlier hints.
    Normal,
    /// Will be touched soon: commit it now.
    WillNeed,
    /// Not needed any more: drop it (contents are lost, reads see zeros).
    DontNeed,
    /// Will be touched in address order.
    Sequential,
    /// Will be touched in no predictable order.
    Random,
    /// Not needed soon, contents kept: the range's pages are the first to
    /// be swapped out when memory is short (their accessed bits are
    /// cleared; a page touched again loses the mark).
    Cold,
    /// Not needed soon: swap the range's pages out now (contents kept).
    PageOut,
    /// Keep the range's pages resident: once committed (now or later) they
    /// are never evicted or paged out; they still count toward budgets
    /// (at most [`abi::MAX_LOCKED_PAGES`] pages of ranges per space).
    Lock,
    /// Undo [`Advice::Lock`] over the range.
    Unlock,
}

/// The kernel-wide VASS state: partition table plus VASM plus per-space
/// counters.
#[derive(Debug)]
pub struct Vass {
    partitions: BTreeMap<PartitionId, Partition>,
    /// The VASM: per address space, range start → (range end, partition).
    vasm: BTreeMap<SpaceId, BTreeMap<Page, (Page, PartitionId)>>,
    spaces: BTreeMap<SpaceId, SpaceState>,
    next_id: PartitionId,
    now: Tick,
    huge_pages: bool,
    /// The swap device's slots.
    slots: SlotAllocator,
    /// Most pages all spaces together may have committed (`None`: no limit).
    global_budget: Option<u64>,
    /// How eviction picks its victims.
    eviction: Eviction,
}

/// Most cold pages one eviction swaps out together (as Linux's
/// `SWAP_CLUSTER_MAX`): a cold partition leaves in clusters, not a page per
/// fault, without one fault paying for all of a large partition's I/O.
pub const COLD_CLUSTER: u64 = 32;

/// Why a page is being committed, which decides what may be evicted for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// A fault or the loader: any page may go.
    Now,
    /// Ahead of use, as part of `range`: only pages not in use may go.
    Ahead(PageRange),
    /// A commit policy's guess, as part of `range`, of a page never used
    /// before: right, it saves a first-touch fault, never a major one, so
    /// only earlier guesses still untouched may go for it, never a page
    /// in use or used (a guess of a swapped-out page is [`Need::Ahead`]).
    Guess(PageRange),
}

/// Says when a page will next be used (Belady's optimal eviction needs
/// the future: only a simulation that replays a trace knows it).
pub trait NextUse: Send {
    /// When `page` of `space` is next touched (larger is later;
    /// `u64::MAX`: never).
    fn next_use(&self, space: SpaceId, page: Page) -> u64;
}

/// How the engine picks the page a space gives up when it must stay within
/// a budget.
pub enum Eviction {
    /// Pages committed ahead and not touched yet go first (they enter as
    /// the least recently used), then CLOCK over the accessed bits: a page
    /// the processor marked since the hand last passed gets a second
    /// chance (its bit is cleared), the first unmarked one goes.
    Clock,
    /// Partition-aware CLOCK (the default): before anything else, pages
    /// held cold ([`Cold`]: advised by the program or predicted by the
    /// commit policy), then partitions observed cold (unused for
    /// [`COLD_SCANS`] accessed-bit scans, coldest first) go whole, up to
    /// [`COLD_CLUSTER`] pages per eviction, skipping pages accessed since
    /// the last scan; then as [`Eviction::Clock`].
    ColdFirst,
    /// Belady's optimal: the page next used farthest in the future, as the
    /// oracle says (the host simulator's limit; the kernel never knows).
    Farthest(alloc::boxed::Box<dyn NextUse>),
}

impl core::fmt::Debug for Eviction {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Eviction::Clock => "Clock",
            Eviction::ColdFirst => "ColdFirst",
            Eviction::Farthest(_) => "Farthest",
        })
    }
}

impl Default for Vass {
    fn default() -> Vass {
        Vass::new()
    }
}

impl Vass {
    /// An empty VASS.
    pub const fn new() -> Vass {
        Vass {
            partitions: BTreeMap::new(),
            vasm: BTreeMap::new(),
            spaces: BTreeMap::new(),
            next_id: 1,
            now: 0,
            huge_pages: true,
            slots: SlotAllocator::empty(),
            global_budget: None,
            eviction: Eviction::ColdFirst,
        }
    }

    /// Whether fully committed 2 MiB-aligned blocks become 2 MiB pages (on
    /// by default). Turning it off leaves existing 2 MiB pages alone.
    pub fn set_huge_pages(&mut self, enabled: bool) {
        self.huge_pages = enabled;
    }

    /// Sizes the swap device (slots of one page). Slots in use stay valid;
    /// a device smaller than what is in use is refused.
    pub fn set_swap_slots(&mut self, slots: u64) -> Result<(), VassError> {
        self.slots.resize(slots).map_err(|_| VassError::BadRange)
    }

    /// The swap device's slots: (in use, total, quarantined).
    pub fn swap_usage(&self) -> (u64, u64, u64) {
        (self.slots.used(), self.slots.total(), self.slots.quarantined())
    }

    /// Limits how many pages `space` may have committed at once (`None`:
    /// no limit). Going over evicts (see [`Eviction`]); 2 MiB pages are
    /// neither made nor kept under a budget.
    pub fn set_budget(&mut self, space: SpaceId, budget: Option<u64>) {
        self.space_mut(space).budget = budget;
    }

    /// The budget of `space`.
    pub fn budget(&self, space: SpaceId) -> Option<u64> {
        self.spaces.get(&space).and_then(|state| state.budget)
    }

    /// Limits how many pages all spaces together may have committed (`None`:
    /// no limit). Over it, a page of some space goes (see
    /// [`Vass::evict_global`]).
    pub fn set_global_budget(&mut self, budget: Option<u64>) {
        self.global_budget = budget;
    }

    /// How victims are chosen from now on.
    pub fn set_eviction(&mut self, eviction: Eviction) {
        self.eviction = eviction;
    }

    /// Tells the VASS the time, for footprints and access frequencies
    /// (never goes backwards).
    pub fn set_time(&mut self, now: Tick) {
        self.now = self.now.max(now);
    }

    /// The time the VASS was last told.
    pub fn now(&self) -> Tick {
        self.now
    }

    fn space_mut(&mut self, space: SpaceId) -> &mut SpaceState {
        let now = self.now;
        self.spaces.entry(space).or_insert_with(|| SpaceState { born: now, accounted_at: now, ..SpaceState::default() })
    }

    /// The counters of `space`, with the footprint up to now.
    pub fn space_counters(&self, space: SpaceId) -> Option<SpaceCounters> {
        let mut state = self.spaces.get(&space)?.clone();
        state.account(self.now);
        Some(state.counters)
    }

    /// When `space` was first seen.
    pub fn space_born(&self, space: SpaceId) -> Option<Tick> {
        self.spaces.get(&space).map(|state| state.born)
    }

    /// Adds `cycles` spent resolving a fault of `space` to its counters.
    pub fn add_fault_cycles(&mut self, space: SpaceId, cycles: u64) {
        self.space_mut(space).counters.fault_cycles += cycles;
    }

    /// Whether every byte of `[address, address + length)` lies in
    /// partitions of `space` whose pages grant `needed` (an empty range
    /// always does).
    pub fn grants(&self, space: SpaceId, address: u64, length: u64, needed: Rights) -> bool {
        if length == 0 {
            return true;
        }
        let Some(end) = address.checked_add(length) else { return false };
        let last = (end - 1) / PAGE_SIZE;
        let mut page = address / PAGE_SIZE;
        while page <= last {
            let Some(partition) = self.lookup(space, page) else { return false };
            let Some(range) = partition.range_of(page) else { return false };
            let stop = range.end.min(last + 1);
            if partition.overrides.is_empty() {
                if !partition.rights.contains(needed) {
                    return false;
                }
            } else if !(page..stop).all(|p| partition.rights_at(p).contains(needed)) {
                return false;
            }
            page = stop;
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

    /// What the VASM holds for `page` of `space` (`None` outside its
    /// partitions).
    pub fn page_state(&self, space: SpaceId, page: Page) -> Option<PageState> {
        let partition = self.lookup(space, page)?;
        let residence = match (partition.committed.get(&page), partition.swapped.get(&page)) {
            (Some(&frame), _) => Residence::Committed {
                frame,
                huge: partition.huge.contains(&block_of(page)),
                copy: match partition.backing.get(&page) {
                    Some(Backing::Copy(entry)) => Some(entry.slot),
                    _ => None,
                },
            },
            (None, Some(entry)) => Residence::Swapped { slot: entry.slot, lost: self.slots.is_quarantined(entry.slot) },
            (None, None) => Residence::Uncommitted,
        };
        Some(PageState {
            partition: partition.id,
            rights: partition.rights_at(page),
            residence,
            untouched: partition.untouched.contains(&page),
            cold: partition.cold.get(page),
            locked: partition.is_locked(page),
        })
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

    /// As [`Vass::find_free`], keeping off the rooms held for partitions
    /// to grow into ([`Vass::create_with_room`]).
    fn find_free_off_rooms(&self, space: SpaceId, pages: u64, window: Window) -> Option<PageRange> {
        let rooms = self.spaces.get(&space).map(|state| &state.rooms);
        let mut from = window.start;
        loop {
            let candidate = self.find_free(space, pages, Window { start: from, end: window.end })?;
            let blocking = rooms.and_then(|rooms| {
                rooms.values().filter(|room| room.start < candidate.end && candidate.start < room.end).map(|room| room.end).max()
            });
            match blocking {
                // Past the room; `from` only grows, so this ends.
                Some(end) => from = end,
                None => return Some(candidate),
            }
        }
    }

    /// `range` now belongs to partition `id`: the rooms it overlaps are
    /// given up (rooms are a preference, never a claim), except that `id`'s
    /// own room keeps what lies beyond `range`.
    fn claim(&mut self, space: SpaceId, id: PartitionId, range: PageRange) {
        let Some(state) = self.spaces.get_mut(&space) else { return };
        state.rooms.retain(|&owner, room| {
            if room.end <= range.start || range.end <= room.start {
                return true;
            }
            if owner == id && range.end < room.end && range.start <= room.start {
                *room = PageRange::new(range.end, room.end);
                return true;
            }
            false
        });
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
            // Off the rooms if there is space elsewhere, else anywhere.
            None => self.find_free_off_rooms(space, pages, window).or_else(|| self.find_free(space, pages, window)).ok_or(VassError::NoVirtualSpace),
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
        self.claim(space, id, range);
        let state = self.space_mut(space);
        let ordinal = state.created;
        state.created = state.created.saturating_add(1);
        self.vasm.entry(space).or_default().insert(range.start, (range.end, id));
        self.partitions.insert(
            id,
            Partition {
                id,
                space,
                kind,
                rights,
                overrides: RangeMap::default(),
                max_rights: rights,
                ranges: vec![range],
                committed: BTreeMap::new(),
                huge: BTreeSet::new(),
                fill: BTreeMap::new(),
                untouched: BTreeSet::new(),
                swapped: BTreeMap::new(),
                backing: BTreeMap::new(),
                hints: RangeMap::default(),
                cold: RangeMap::default(),
                locked: RangeMap::default(),
                idle_scans: 0,
                counters: PartitionCounters::default(),
                recent_faults: Recent::default(),
                recent_accessed: Recent::default(),
                sealed: false,
                ordinal,
            },
        );
        Ok((id, range))
    }

    /// Creates a partition of `pages` pages as [`Vass::create`] does
    /// (wherever it fits in `window`), placed where the `room` pages after it
    /// are free too, and holds those for it: partitions created later are
    /// placed elsewhere while there is space elsewhere, so it can grow in
    /// place (`resize`, or a range added at its end) to the size a layout
    /// proposal says it reached (`policy::layout`). Without such a place,
    /// exactly as `create`.
    pub fn create_with_room(
        &mut self,
        space: SpaceId,
        pages: u64,
        room: u64,
        kind: PartitionKind,
        rights: Rights,
        window: Window,
    ) -> Result<(PartitionId, PageRange), VassError> {
        let spot = pages.checked_add(room).filter(|_| room > 0).and_then(|total| self.find_free_off_rooms(space, total, window));
        let Some(spot) = spot else { return self.create(space, pages, kind, rights, None, window) };
        let (id, range) = self.create(space, pages, kind, rights, Some(spot.start), window)?;
        self.space_mut(space).rooms.insert(id, PageRange::new(range.end, spot.end));
        Ok((id, range))
    }

    /// The room held for partition `id` of `space` to grow into, if any.
    pub fn room_of(&self, space: SpaceId, id: PartitionId) -> Option<PageRange> {
        self.spaces.get(&space)?.rooms.get(&id).copied()
    }

    /// The ordinal the next partition `space` creates gets.
    pub fn next_ordinal(&self, space: SpaceId) -> u32 {
        self.spaces.get(&space).map_or(0, |state| state.created)
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
        self.claim(space, id, range);
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
                self.claim(space, id, grown);
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
            partition.overrides.clear(removed);
            partition.hints.clear(removed);
            partition.cold.clear(removed);
            partition.locked.clear(removed);
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

    /// Unmaps and frees every committed page of `id` inside `range`; pages
    /// committed ahead are counted as hits if the processor marked them
    /// accessed, else as waste.
    fn release(&mut self, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) {
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
        for page in pages {
            if let Some(frame) = partition.committed.remove(&page) {
                if partition.untouched.remove(&page) {
                    if table.accessed(space, page, false) {
                        hits += 1;
                    } else {
                        waste += 1;
                    }
                }
                if let Some(mapped) = table.unmap(space, page) {
                    debug_assert_eq!(mapped, frame);
                }
                frames.free(frame);
                released += 1;
                let block = block_of(page);
                if let Some(fill) = partition.fill.get_mut(&block) {
                    *fill -= 1;
                    if *fill == 0 {
                        partition.fill.remove(&block);
                    }
                }
            }
        }
        partition.counters.hits += hits;
        partition.counters.waste += waste;
        partition.counters.decommits += released;
        let now = self.now;
        let state = self.space_mut(space);
        state.account(now);
        state.counters.committed -= released;
        state.counters.decommits += released;
        state.counters.hits += hits;
        state.counters.waste += waste;
        state.counters.sampled += hits + waste;
    }

    /// The first pages of partition `id`'s 2 MiB pages that overlap `range`.
    fn huge_blocks_in(&self, id: PartitionId, range: PageRange) -> Vec<Page> {
        self.partitions.get(&id).map_or_else(Vec::new, |partition| {
            partition.huge.iter().copied().filter(|&start| range.overlaps(&PageRange::new(start, start + HUGE_PAGES))).collect()
        })
    }

    /// Folds the accessed bit of the 2 MiB page at `start` into the hit
    /// counts of its untouched pages (one bit covers all 512).
    fn fold_huge_accessed(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable) {
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
    fn unmap_huge_block(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) {
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
    fn demote(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<(), VassError> {
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
    fn promote(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
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
    fn commit_huge(&mut self, id: PartitionId, start: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
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
        if let Some(state) = self.spaces.get_mut(&space) {
            state.rooms.remove(&id);
        }
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

    /// Destroys every partition of `space` (the process is gone) and
    /// returns the space's final counters.
    pub fn destroy_space(
        &mut self,
        space: SpaceId,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> SpaceCounters {
        let ids: Vec<PartitionId> = self.partitions_of(space).map(|p| p.id).collect();
        for id in ids {
            let _ = self.remove(space, id, table, frames, true);
        }
        self.vasm.remove(&space);
        let counters = self.space_counters(space).unwrap_or_default();
        self.spaces.remove(&space);
        counters
    }

    /// Sets the rights of a whole partition (never beyond its creation
    /// rights), replacing any sub-range protections.
    pub fn protect(&mut self, space: SpaceId, id: PartitionId, rights: Rights, table: &mut impl PageTable) -> Result<(), VassError> {
        let partition = self.owned(space, id)?;
        if !partition.max_rights.contains(rights) {
            return Err(VassError::RightsEscalation);
        }
        let pages: Vec<Page> = partition.committed.keys().copied().filter(|&page| !partition.huge.contains(&block_of(page))).collect();
        for &start in &partition.huge {
            table.protect_huge(space, start, rights)?;
        }
        for page in pages {
            table.protect(space, page, rights)?;
        }
        if let Some(partition) = self.partitions.get_mut(&id) {
            partition.rights = rights;
            partition.overrides = RangeMap::default();
        }
        Ok(())
    }

    /// Sets the rights of the pages of `range` (never beyond the
    /// partition's creation rights); the rest keep theirs.
    pub fn protect_range(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        range: PageRange,
        rights: Rights,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<(), VassError> {
        let partition = self.granted(space, id, &range)?;
        if !partition.max_rights.contains(rights) {
            return Err(VassError::RightsEscalation);
        }
        // 2 MiB pages wholly inside change as one; the others are split.
        let blocks: Vec<Page> = partition.huge.iter().copied().filter(|&start| range.overlaps(&PageRange::new(start, start + HUGE_PAGES))).collect();
        let mut whole = BTreeSet::new();
        for start in blocks {
            if range.covers(&PageRange::new(start, start + HUGE_PAGES)) {
                whole.insert(start);
            } else {
                self.demote(id, start, table, frames)?;
            }
        }
        for &start in &whole {
            table.protect_huge(space, start, rights)?;
        }
        let partition = self.partitions.get(&id).ok_or(VassError::UnknownPartition)?;
        let pages: Vec<Page> = partition.committed.range(range.start..range.end).map(|(&page, _)| page).filter(|page| !whole.contains(&block_of(*page))).collect();
        for page in pages {
            table.protect(space, page, rights)?;
        }
        if let Some(partition) = self.partitions.get_mut(&id) {
            if rights == partition.rights {
                partition.overrides.clear(range);
            } else {
                partition.overrides.set(range, rights);
            }
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
    fn commit_range(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        range: PageRange,
        need: Option<Need>,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<u64, VassError> {
        self.granted(space, id, &range)?;
        let ahead = need.is_some();
        let mut committed = 0;
        let mut page = range.start;
        while page < range.end {
            let block = PageRange::new(page, page + HUGE_PAGES);
            if page.is_multiple_of(HUGE_PAGES) && range.covers(&block) && self.commit_huge(id, page, table, frames) {
                let partition = self.partitions.get_mut(&id).ok_or(VassError::UnknownPartition)?;
                if ahead {
                    partition.untouched.extend(page..page + HUGE_PAGES);
                    partition.counters.ahead_commits += HUGE_PAGES;
                } else {
                    partition.counters.loaded += HUGE_PAGES;
                    partition.backing.extend((page..page + HUGE_PAGES).map(|page| (page, Backing::Unique)));
                }
                let counters = &mut self.space_mut(space).counters;
                if ahead {
                    counters.ahead_commits += HUGE_PAGES;
                } else {
                    counters.loaded += HUGE_PAGES;
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
                    partition.counters.ahead_commits += 1;
                } else {
                    partition.counters.loaded += 1;
                    // The loader fills it through the kernel's mapping: the
                    // page table's dirty bit will not say so.
                    partition.backing.insert(page, Backing::Unique);
                }
            }
            let counters = &mut self.space_mut(space).counters;
            if ahead {
                counters.ahead_commits += 1;
            } else {
                counters.loaded += 1;
            }
            committed += 1;
        }
        Ok(committed)
    }

    /// Commits `page` of partition `id`: a zero-filled frame, or the page's
    /// contents read back from swap. Returns whether it was read back.
    fn commit_page(
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
            // Read back once already and failed: the contents are gone.
            return Err(VassError::SwapFailed);
        }
        let need = match need {
            Need::Guess(range) if swapped.is_some() => Need::Ahead(range),
            need => need,
        };
        self.make_room(space, need, table, frames)?;
        let frame = self.allocate_frame(space, need, table, frames)?;
        if let Some(entry) = swapped
            && frames.swap_in(entry.slot, frame, entry.checksum).is_err()
        {
            // The entry stays, pointing at a quarantined slot, so every
            // later touch of the page fails the same way.
            frames.free(frame);
            self.slots.quarantine(entry.slot);
            self.space_mut(space).counters.swap_errors += 1;
            return Err(VassError::SwapFailed);
        }
        let partition = self.partitions.get_mut(&id).ok_or(VassError::UnknownPartition)?;
        if let Err(error) = table.map(space, page, frame, partition.rights_at(page)) {
            frames.free(frame);
            return Err(error);
        }
        if let Some(entry) = swapped {
            partition.swapped.remove(&page);
            // The slot keeps a copy until the page is written.
            partition.backing.insert(page, Backing::Copy(entry));
        }
        partition.committed.insert(page, frame);
        *partition.fill.entry(block_of(page)).or_default() += 1;
        let committed = partition.committed.len() as u64;
        partition.counters.peak_committed = partition.counters.peak_committed.max(committed);
        let space = partition.space;
        let now = self.now;
        let state = self.space_mut(space);
        state.account(now);
        state.counters.committed += 1;
        state.counters.peak_committed = state.counters.peak_committed.max(state.counters.committed);
        if swapped.is_some() {
            state.counters.swap_ins += 1;
        }
        Ok(swapped.is_some())
    }

    /// Whether `space` (or the whole system) is under a budget: then no
    /// 2 MiB pages are made, so every page can be evicted on its own.
    fn budgeted(&self, space: SpaceId) -> bool {
        self.global_budget.is_some() || self.budget(space).is_some()
    }

    /// Evicts pages until one more page of `space` fits its budget (its
    /// own pages go) and the global budget (see [`Vass::evict_global`]).
    /// Fails with `OutOfFrames` when nothing can go.
    fn make_room(&mut self, space: SpaceId, need: Need, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<(), VassError> {
        loop {
            let committed = self.spaces.get(&space).map_or(0, |state| state.counters.committed);
            let total: u64 = self.spaces.values().map(|state| state.counters.committed).sum();
            let evicted = if self.budget(space).is_some_and(|budget| committed >= budget) {
                self.evict_one(space, need, table, frames)
            } else if self.global_budget.is_some_and(|budget| total >= budget) {
                self.evict_global(space, need, table, frames)
            } else {
                return Ok(());
            };
            if !evicted {
                return Err(VassError::OutOfFrames);
            }
        }
    }

    /// A frame for `space`: when memory is exhausted, a page is given up
    /// (see [`Vass::evict_global`]) and the allocation is tried again.
    fn allocate_frame(&mut self, space: SpaceId, need: Need, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<Frame, VassError> {
        loop {
            if let Some(frame) = frames.allocate() {
                return Ok(frame);
            }
            if !self.evict_global(space, need, table, frames) {
                return Err(VassError::OutOfFrames);
            }
        }
    }

    /// Gives up one page anywhere, for `space`, when the system as a whole
    /// is short (the global budget, or no free frame): under
    /// [`Eviction::ColdFirst`] cold pages of any space first (a cluster,
    /// see [`Vass::evict_cold`]); then the space with the most pages
    /// committed gives one (the largest consumer pays; `space`
    /// itself first among equals), else the next largest, among the spaces
    /// `table` reaches. Another space's pages go as for a commit ahead
    /// when `space` commits ahead (only pages not in use), else as for a
    /// fault. Returns whether a page went.
    fn evict_global(&mut self, space: SpaceId, need: Need, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        let mut victims: Vec<(u64, bool, SpaceId)> = self
            .spaces
            .iter()
            .filter(|&(&id, state)| state.counters.committed > 0 && table.reaches(id))
            .map(|(&id, state)| (state.counters.committed, id == space, id))
            .collect();
        victims.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let need_of = |own: bool| match need {
            Need::Ahead(_) if !own => Need::Ahead(PageRange::new(0, 0)),
            Need::Guess(_) if !own => Need::Guess(PageRange::new(0, 0)),
            need => need,
        };
        // Cold pages anywhere go before any space's warm pages.
        (matches!(self.eviction, Eviction::ColdFirst)
            && victims.iter().any(|&(_, own, victim)| self.evict_cold(victim, need_of(own), table, frames)))
            || victims.into_iter().any(|(_, own, victim)| self.evict_warm(victim, need_of(own), table, frames))
    }

    /// The first committed 4 KiB page of `space` after `after` in (partition,
    /// page) order, wrapping around once; pages inside 2 MiB pages and
    /// locked pages are skipped (they are not evicted).
    fn next_resident(&self, space: SpaceId, after: Option<(PartitionId, Page)>) -> Option<(PartitionId, Page)> {
        use core::ops::Bound::{Excluded, Unbounded};
        let first = |partition: &Partition, from: core::ops::Bound<Page>| {
            partition
                .committed
                .range((from, Unbounded))
                .map(|(&page, _)| page)
                .find(|&page| !partition.huge.contains(&block_of(page)) && !partition.is_locked(page))
        };
        let (start_id, start_page) = after.unwrap_or((0, 0));
        // The rest of the partition the hand is in, then later partitions,
        // then from the beginning.
        if let Some(partition) = self.partitions.get(&start_id).filter(|partition| partition.space == space)
            && let Some(page) = first(partition, Excluded(start_page))
        {
            return Some((start_id, page));
        }
        let later = self.partitions.range((Excluded(start_id), Unbounded)).map(|(_, partition)| partition);
        let earlier = self.partitions.range(..=start_id).map(|(_, partition)| partition);
        later
            .chain(earlier)
            .filter(|partition| partition.space == space)
            .find_map(|partition| first(partition, Unbounded).map(|page| (partition.id, page)))
    }

    /// Gives up one committed page of `space` (see [`Eviction`]). Returns
    /// whether one went. For a page committed ahead ([`Need::Ahead`]) only
    /// pages not in use go: prefetched pages not touched yet and pages
    /// whose accessed bit is clear, never one of the range being committed,
    /// and no accessed bit is cleared; for a guess ([`Need::Guess`]) only
    /// prefetched pages not touched yet.
    fn evict_one(&mut self, space: SpaceId, need: Need, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        (matches!(self.eviction, Eviction::ColdFirst) && self.evict_cold(space, need, table, frames))
            || self.evict_warm(space, need, table, frames)
    }

    /// What an eviction from `space` for `need` leaves alone: for a commit
    /// ahead, the range being committed and what the plan being applied
    /// has committed ahead before it ([`SpaceState::planned`]), so a plan
    /// never pushes out its own pages.
    fn spared(&self, space: SpaceId, need: Need) -> impl Fn(Page) -> bool + use<> {
        let planned = match need {
            Need::Ahead(_) | Need::Guess(_) => self.spaces.get(&space).map(|state| state.planned.clone()).unwrap_or_default(),
            Need::Now => Vec::new(),
        };
        move |page| match need {
            Need::Ahead(range) | Need::Guess(range) => range.contains(page) || planned.iter().any(|planned| planned.contains(page)),
            Need::Now => false,
        }
    }

    /// [`Vass::evict_one`] after the cold steps: untouched prefetched
    /// pages, then CLOCK (or Belady's choice).
    fn evict_warm(&mut self, space: SpaceId, need: Need, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        let spared = self.spared(space, need);
        // Pages committed ahead that were never touched go first. Each
        // look starts after the previous candidate, so a page that cannot
        // go (or was touched) is looked at once.
        let mut after: Option<(PartitionId, Page)> = None;
        loop {
            let next = self.partitions.range(after.map_or(0, |(id, _)| id)..).map(|(_, partition)| partition).filter(|p| p.space == space).find_map(
                |partition| {
                    let from = match after {
                        Some((id, page)) if id == partition.id => core::ops::Bound::Excluded(page),
                        _ => core::ops::Bound::Unbounded,
                    };
                    partition
                        .untouched
                        .range((from, core::ops::Bound::Unbounded))
                        .find(|&&page| !partition.huge.contains(&block_of(page)) && !partition.is_locked(page) && !spared(page))
                        .map(|&page| (partition.id, page))
                },
            );
            let Some((id, page)) = next else { break };
            after = Some((id, page));
            if table.accessed(space, page, false) {
                // Touched since: no longer a prefetch nobody used.
                self.touch(id, page);
                continue;
            }
            if self.evict_page(space, id, page, table, frames) {
                return true;
            }
        }
        if let Need::Guess(_) = need {
            // Only an earlier guess may make room for a guess.
            return false;
        }
        let resident = self.spaces.get(&space).map_or(0, |state| state.counters.committed);
        if let Need::Ahead(_) = need {
            // One look at each page, from the hand, clearing nothing.
            let mut position = self.spaces.get(&space).and_then(|state| state.hand);
            for _ in 0..resident {
                let Some((id, page)) = self.next_resident(space, position) else { return false };
                position = Some((id, page));
                if !spared(page) && !table.accessed(space, page, false) && self.evict_page(space, id, page, table, frames) {
                    return true;
                }
            }
            return false;
        }
        if let Eviction::Farthest(oracle) = &self.eviction {
            let mut candidates: Vec<(u64, PartitionId, Page)> = Vec::new();
            let mut position = None;
            while let Some((id, page)) = self.next_resident(space, position) {
                if candidates.first().is_some_and(|&(_, first_id, first_page)| (first_id, first_page) == (id, page)) {
                    break;
                }
                candidates.push((oracle.next_use(space, page), id, page));
                position = Some((id, page));
            }
            candidates.sort_by(|a, b| b.0.cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
            return candidates.into_iter().any(|(_, id, page)| self.evict_page(space, id, page, table, frames));
        }
        // CLOCK: at most two turns (the first may only clear bits).
        let mut position = self.spaces.get(&space).and_then(|state| state.hand);
        for _ in 0..2 * resident + 1 {
            let Some((id, page)) = self.next_resident(space, position) else { return false };
            position = Some((id, page));
            if table.accessed(space, page, true) {
                self.touch(id, page);
                continue;
            }
            if self.evict_page(space, id, page, table, frames) {
                self.space_mut(space).hand = position;
                return true;
            }
        }
        self.space_mut(space).hand = position;
        false
    }

    /// [`Eviction::ColdFirst`]'s first steps: evicts up to [`COLD_CLUSTER`]
    /// resident pages of `space` held cold, or else of its coldest
    /// partition observed cold, whose accessed bits are clear (never
    /// clearing one, never one of a range being committed ahead). Returns
    /// whether any went.
    fn evict_cold(&mut self, space: SpaceId, need: Need, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        if let Need::Guess(_) = need {
            // Cold pages were used: not for a guess.
            return false;
        }
        let spared = self.spared(space, need);
        // Held cold first, in partition and page order; then partitions
        // observed cold, the longest idle first. Candidates are gathered
        // lazily: the walk stops after a cluster's worth of pages that may
        // go (in use since the last scan, or being committed: skipped).
        let mut idle: Vec<&Partition> = self.partitions.values().filter(|p| p.space == space && p.observed_cold()).collect();
        idle.sort_by(|a, b| b.idle_scans.cmp(&a.idle_scans).then(a.id.cmp(&b.id)));
        let held = self.partitions.values().filter(|p| p.space == space).flat_map(|partition| partition.cold.iter().map(move |(range, _)| (partition, range)));
        let observed = idle.into_iter().flat_map(|partition| partition.ranges.iter().map(move |&range| (partition, range)));
        let candidates: Vec<(PartitionId, Page)> = held
            .chain(observed)
            .flat_map(|(partition, range)| {
                partition
                    .committed
                    .range(range.start..range.end)
                    .map(|(&page, _)| page)
                    .filter(|&page| !partition.huge.contains(&block_of(page)) && !partition.is_locked(page))
                    .map(move |page| (partition.id, page))
            })
            .filter(|&(_, page)| !spared(page) && !table.accessed(space, page, false))
            .take(COLD_CLUSTER as usize)
            .collect();
        let mut evicted = false;
        for (id, page) in candidates {
            evicted |= self.evict_page(space, id, page, table, frames);
        }
        evicted
    }

    /// Evicts committed 4 KiB `page` of partition `id`: written to swap if
    /// its contents exist nowhere else, else just dropped (all zero, or
    /// still on the device). Returns false, changing nothing, if it must be
    /// written and the device is full or fails (the slot is quarantined).
    fn evict_page(&mut self, space: SpaceId, id: PartitionId, page: Page, table: &mut impl PageTable, frames: &mut impl FrameSource) -> bool {
        if !table.reaches(space) {
            return false;
        }
        let Some(partition) = self.partitions.get(&id) else { return false };
        let Some(&frame) = partition.committed.get(&page) else { return false };
        if partition.huge.contains(&block_of(page)) || partition.is_locked(page) {
            return false;
        }
        let backing = partition.backing.get(&page).copied().unwrap_or(Backing::Zero);
        let dirty = table.dirty(space, page);
        let entry = match (backing, dirty) {
            (Backing::Zero, false) => None,
            (Backing::Copy(entry), false) => Some(entry),
            (backing, _) => {
                if self.slots.total() < frames.swap_slots() {
                    // A device attached since: use all of it.
                    let _ = self.slots.resize(frames.swap_slots());
                }
                let slot = match backing {
                    Backing::Copy(entry) => entry.slot,
                    _ => match self.slots.allocate() {
                        Ok(slot) => slot,
                        Err(_) => return false,
                    },
                };
                match frames.swap_out(frame, slot) {
                    Ok(checksum) => {
                        self.space_mut(space).counters.swap_outs += 1;
                        Some(SwapEntry { slot, checksum })
                    }
                    Err(_) => {
                        self.slots.quarantine(slot);
                        self.space_mut(space).counters.swap_errors += 1;
                        if let Some(partition) = self.partitions.get_mut(&id) {
                            // A copy that was on the quarantined slot is gone.
                            partition.backing.insert(page, Backing::Unique);
                        }
                        return false;
                    }
                }
            }
        };
        let Some(partition) = self.partitions.get_mut(&id) else { return false };
        if let Some(mapped) = table.unmap(space, page) {
            debug_assert_eq!(mapped, frame);
        }
        frames.free(frame);
        partition.committed.remove(&page);
        partition.backing.remove(&page);
        let block = block_of(page);
        if let Some(fill) = partition.fill.get_mut(&block) {
            *fill -= 1;
            if *fill == 0 {
                partition.fill.remove(&block);
            }
        }
        if let Some(entry) = entry {
            partition.swapped.insert(page, entry);
        }
        let untouched = partition.untouched.remove(&page);
        partition.counters.evictions += 1;
        if untouched {
            partition.counters.waste += 1;
        }
        let now = self.now;
        let state = self.space_mut(space);
        state.account(now);
        state.counters.committed -= 1;
        state.counters.evictions += 1;
        state.recently_evicted[state.evicted_at % RECENT_EVICTIONS] = page;
        state.evicted_at = state.evicted_at.wrapping_add(1);
        if untouched {
            state.counters.waste += 1;
            state.counters.evicted_untouched += 1;
            state.prefetch_wasted();
        }
        true
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

    /// Applies a program's hint to `range` of a partition. Returns the
    /// pages committed (will-need) or dropped (don't-need), else 0.
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
        for page in resident {
            // A page committed ahead and used since is a hit before its
            // bit goes.
            if table.accessed(space, page, true) {
                self.touch(id, page);
            }
        }
    }

    /// Swaps out every committed page of `range` of partition `id` now
    /// (2 MiB pages are split first). Pages that cannot go (the device is
    /// full or fails, or no frame for splitting) stay. Returns how many went.
    fn page_out(&mut self, space: SpaceId, id: PartitionId, range: PageRange, table: &mut impl PageTable, frames: &mut impl FrameSource) -> u64 {
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

    /// Records what `space` declared about its future (replacing any
    /// earlier declaration). Named partitions must be its own.
    pub fn declare(&mut self, space: SpaceId, declaration: Declaration) -> Result<(), VassError> {
        for &id in &declaration.partitions {
            self.owned(space, id)?;
        }
        self.space_mut(space).declared = Some(declaration);
        Ok(())
    }

    /// What `space` declared last.
    pub fn declaration(&self, space: SpaceId) -> Option<&Declaration> {
        self.spaces.get(&space)?.declared.as_ref()
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
        self.resolve_fault(space, page, access, table, frames).outcome
    }

    /// As [`Vass::fault`], also saying where the page lies (the one VASM
    /// lookup of the fault).
    pub fn resolve_fault(
        &mut self,
        space: SpaceId,
        page: Page,
        access: Access,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Resolution {
        let placement = self.placement(space, page);
        let outcome = match placement {
            Some(placement) => self.resolve(space, placement.partition, page, access, table, frames),
            None => FaultOutcome::NotInPartition,
        };
        self.count_fault(space, placement.map(|placement| placement.partition), access, outcome);
        Resolution { outcome, placement }
    }

    /// Counts a fault the processor raised on a page mapped without the
    /// rights the access needed (the page tables already say no, so the
    /// engine has nothing to resolve).
    pub fn refuse(&mut self, space: SpaceId, page: Page, access: Access) -> Resolution {
        let placement = self.placement(space, page);
        self.count_fault(space, placement.map(|placement| placement.partition), access, FaultOutcome::RightsViolation);
        Resolution { outcome: FaultOutcome::RightsViolation, placement }
    }

    /// Where `page` of `space` lies, if a partition holds it.
    fn placement(&self, space: SpaceId, page: Page) -> Option<Placement> {
        let partition = self.lookup(space, page)?;
        Some(Placement { partition: partition.id, range: partition.range_of(page)?, kind: partition.kind })
    }

    fn count_fault(&mut self, space: SpaceId, id: Option<PartitionId>, access: Access, outcome: FaultOutcome) {
        let now = self.now;
        if let Some(partition) = id.and_then(|id| self.partitions.get_mut(&id)) {
            partition.counters.faults += 1;
            partition.recent_faults.record(now, 1);
            partition.idle_scans = 0;
        }
        let counters = &mut self.space_mut(space).counters;
        match access {
            Access::Read => counters.fault_reads += 1,
            Access::Write => counters.fault_writes += 1,
            Access::Execute => counters.fault_executes += 1,
        }
        match outcome {
            FaultOutcome::Committed => counters.faults_demand += 1,
            FaultOutcome::AlreadyCommitted => counters.faults_spurious += 1,
            FaultOutcome::NotInPartition => counters.faults_unmapped += 1,
            FaultOutcome::RightsViolation => counters.faults_violation += 1,
            FaultOutcome::OutOfFrames => counters.faults_oom += 1,
            FaultOutcome::SwappedIn => counters.faults_major += 1,
            FaultOutcome::SwapFailed => counters.faults_swap_failed += 1,
        }
    }

    /// Counts a fault at `page` of partition `id` toward `space`'s
    /// refaults (a major fault on a page it evicted among its last
    /// [`RECENT_EVICTIONS`]) and says whether the space is thrashing
    /// without a way out: [`THRASH_LIMIT`] refaults in a row with no swap
    /// slot free (with one, a dirty page could go instead).
    fn thrashing(&mut self, space: SpaceId, id: PartitionId, page: Page) -> bool {
        let swapped = self.partitions.get(&id).is_some_and(|partition| partition.swapped.contains_key(&page));
        let full = self.slots.used() + self.slots.quarantined() >= self.slots.total();
        let state = self.space_mut(space);
        if swapped && state.recently_evicted.contains(&page) {
            state.refaults = state.refaults.saturating_add(1);
        } else {
            state.refaults = 0;
        }
        state.refaults > THRASH_LIMIT && full
    }

    /// Resolves a fault at `page` of partition `id` (which holds it).
    fn resolve(
        &mut self,
        space: SpaceId,
        id: PartitionId,
        page: Page,
        access: Access,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> FaultOutcome {
        let Some(partition) = self.partitions.get(&id) else { return FaultOutcome::NotInPartition };
        if !partition.rights_at(page).contains(access.right()) {
            return FaultOutcome::RightsViolation;
        }
        if partition.committed.contains_key(&page) {
            self.touch(id, page);
            return FaultOutcome::AlreadyCommitted;
        }
        if let Some(partition) = self.partitions.get_mut(&id) {
            // In use after all.
            partition.cold.clear(PageRange::new(page, page + 1));
        }
        if self.thrashing(space, id, page) {
            return FaultOutcome::OutOfFrames;
        }
        self.space_mut(space).fault_on_declined(page);
        match self.commit_page(id, page, Need::Now, table, frames) {
            Ok(false) => {
                if let Some(partition) = self.partitions.get_mut(&id) {
                    partition.counters.demand_commits += 1;
                }
                self.space_mut(space).counters.demand_commits += 1;
                self.promote(id, block_of(page), table, frames);
                FaultOutcome::Committed
            }
            Ok(true) => {
                if let Some(partition) = self.partitions.get_mut(&id) {
                    partition.counters.major_faults += 1;
                }
                self.promote(id, block_of(page), table, frames);
                FaultOutcome::SwappedIn
            }
            Err(VassError::SwapFailed) => FaultOutcome::SwapFailed,
            Err(_) => FaultOutcome::OutOfFrames,
        }
    }

    /// The layout of `space`'s partitions as a proposal for the program's
    /// next run (`policy::layout`), by ordinal: see [`Vass::partition_layout`].
    pub fn layout_of(&self, space: SpaceId, table: &mut impl PageTable) -> Vec<crate::policy::layout::PartitionLayout> {
        let ids: Vec<PartitionId> = self.partitions.values().filter(|partition| partition.space == space).map(|partition| partition.id).collect();
        let mut layouts: Vec<_> = ids.into_iter().filter_map(|id| self.partition_layout(id, table)).collect();
        layouts.sort_unstable_by_key(|layout| layout.ordinal);
        layouts
    }

    /// Partition `id` as part of a layout proposal: its touched pages are
    /// those committed and used (not committed ahead and still unseen, unless
    /// the processor marked them accessed since; the bits are read, not
    /// cleared) and those swapped out.
    pub fn partition_layout(&self, id: PartitionId, table: &mut impl PageTable) -> Option<crate::policy::layout::PartitionLayout> {
        use crate::policy::layout::{hot_ranges, PartitionLayout, MAX_HOT_RANGES};
        let partition = self.partitions.get(&id)?;
        let mut touched: Vec<u64> = Vec::new();
        for &page in partition.committed.keys() {
            if !partition.untouched.contains(&page) || table.accessed(partition.space, page, false) {
                touched.extend(partition.offset_of(page));
            }
        }
        touched.extend(partition.swapped.keys().filter_map(|&page| partition.offset_of(page)));
        touched.sort_unstable();
        Some(PartitionLayout {
            ordinal: partition.ordinal,
            kind: partition.kind.code(),
            pages: partition.pages(),
            touched: touched.len() as u64,
            faults: partition.counters.faults,
            hot: hot_ranges(touched, MAX_HOT_RANGES),
        })
    }

    /// Records that a page committed ahead was used (a hit).
    pub fn touch(&mut self, id: PartitionId, page: Page) {
        if let Some(partition) = self.partitions.get_mut(&id)
            && partition.untouched.remove(&page)
        {
            partition.counters.hits += 1;
            let space = partition.space;
            let state = self.space_mut(space);
            state.counters.hits += 1;
            state.prefetch_used(1);
        }
    }

    /// Samples the accessed bits of `space`'s pages that were committed
    /// ahead and not seen touched yet: those the processor marked become
    /// hits. Returns how many entries were read.
    pub fn sample_untouched(&mut self, space: SpaceId, table: &mut impl PageTable) -> u64 {
        let now = self.now;
        let mut sampled = 0;
        let mut hits = 0;
        for partition in self.partitions.values_mut().filter(|p| p.space == space) {
            let seen: Vec<Page> = partition.untouched.iter().copied().filter(|&page| table.accessed(space, page, false)).collect();
            sampled += partition.untouched.len() as u64;
            for page in &seen {
                partition.untouched.remove(page);
            }
            partition.counters.hits += seen.len() as u64;
            partition.recent_accessed.record(now, seen.len() as u64);
            hits += seen.len() as u64;
        }
        let state = self.space_mut(space);
        state.counters.hits += hits;
        state.counters.sampled += sampled;
        state.prefetch_used(hits);
        sampled
    }

    /// Remembers that a plan asked for the pages of `range` and the prefetch
    /// depth declined them (see [`SpaceState::declined`]); at most the
    /// first [`DECLINED_PREFETCHES`] of them.
    pub fn decline_prefetch(&mut self, space: SpaceId, range: PageRange) {
        let state = self.space_mut(space);
        for page in (range.start..range.end).take(DECLINED_PREFETCHES) {
            state.prefetch_declined(page);
        }
    }

    /// The plan being applied for `space` committed `range` ahead (`None`:
    /// the plan is done): until it is done, committing more of it evicts
    /// none of those pages.
    pub fn planned(&mut self, space: SpaceId, range: Option<PageRange>) {
        let state = self.space_mut(space);
        match range {
            Some(range) => state.planned.push(range),
            None => state.planned.clear(),
        }
    }

    /// Most pages a plan may commit ahead for `space` now (`None`: no
    /// limit); see [`SpaceState::prefetch_depth`].
    pub fn prefetch_depth(&self, space: SpaceId) -> Option<u64> {
        self.spaces.get(&space).and_then(|state| state.prefetch_depth)
    }

    /// Reads and clears the accessed bit of every committed page of `space`
    /// (one bit per 2 MiB page): pages seen accessed count toward their
    /// partition's recent-access frequency, and pages committed ahead among
    /// them become hits. Each run of pages seen accessed in a row is passed
    /// to `on_run`. Returns how many entries were read (the cost).
    pub fn sample_accessed(&mut self, space: SpaceId, table: &mut impl PageTable, mut on_run: impl FnMut(PartitionId, PageRange)) -> u64 {
        let now = self.now;
        let (mut read, mut hits) = (0, 0);
        for partition in self.partitions.values_mut().filter(|p| p.space == space) {
            let mut accessed = 0;
            let mut seen = Vec::new();
            let mut run: Option<PageRange> = None;
            let mut page = partition.committed.keys().next().copied();
            while let Some(current) = page {
                let block = block_of(current);
                let (first, end) = if partition.huge.contains(&block) { (block, block + HUGE_PAGES) } else { (current, current + 1) };
                read += 1;
                if table.accessed(space, first, true) {
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
            partition.counters.hits += seen.len() as u64;
            hits += seen.len() as u64;
            partition.recent_accessed.record(now, accessed);
            partition.idle_scans = if accessed > 0 { 0 } else { partition.idle_scans.saturating_add(1) };
        }
        let counters = &mut self.space_mut(space).counters;
        counters.hits += hits;
        counters.sampled += read;
        counters.sample_scans += 1;
        read
    }

    /// Adds `cycles` spent sampling accessed bits of `space` to its counters.
    pub fn add_sample_cycles(&mut self, space: SpaceId, cycles: u64) {
        self.space_mut(space).counters.sample_cycles += cycles;
    }

    /// Counts `pages` committed for `space` from its layout proposal.
    pub fn add_layout_commits(&mut self, space: SpaceId, pages: u64) {
        self.space_mut(space).counters.layout_commits += pages;
    }

    /// Adds what the PAE task did for `space` to its counters.
    pub fn add_pae_work(&mut self, space: SpaceId, work: PaeWork) {
        let counters = &mut self.space_mut(space).counters;
        counters.pae_steps += work.steps;
        counters.pae_cycles += work.cycles;
        counters.pae_model_cycles += work.model_cycles;
        counters.pae_deferred += work.deferred;
        counters.pae_lost = counters.pae_lost.max(work.lost);
        counters.pae_demotions += work.demotions;
    }

    /// Adds `cycles` spent in swap I/O for `space` to its counters.
    pub fn add_swap_io_cycles(&mut self, space: SpaceId, cycles: u64) {
        self.space_mut(space).counters.swap_io_cycles += cycles;
    }

    /// Checks that the partition table, the VASM, the per-space counters
    /// and the page tables agree: ranges are disjoint and registered,
    /// committed pages lie in their partitions and are mapped to exactly
    /// their frames with their rights, no frame backs two pages,
    /// uncommitted pages of partitions are unmapped, each space's committed
    /// count is the sum over its partitions, every page committed ahead is
    /// exactly one of hit, waste or still untouched, and every committed
    /// frame is allocated (the frame metadata agrees).
    pub fn check_invariants(&self, table: &impl PageTable, frames: &impl FrameSource) -> Result<(), String> {
        self.check(table, frames, Scope::Full)
    }

    /// [`Vass::check_invariants`] over `scope`.
    pub fn check(&self, table: &impl PageTable, frames: &impl FrameSource, scope: Scope) -> Result<(), String> {
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
        let mut committed_per_space: BTreeMap<SpaceId, u64> = BTreeMap::new();
        let mut untouched_per_space: BTreeMap<SpaceId, u64> = BTreeMap::new();
        // Every slot in use is held by exactly one swapped-out page or one
        // resident page's copy; quarantined slots only by lost pages.
        let mut slots_held: BTreeSet<Slot> = BTreeSet::new();
        for partition in self.partitions.values() {
            let id = partition.id;
            for (&page, entry) in &partition.swapped {
                if partition.committed.contains_key(&page) || !partition.contains(page) {
                    return Err(format!("partition {id}: swapped page {page:#x} is committed or outside the partition"));
                }
                if !slots_held.insert(entry.slot) || !(self.slots.is_used(entry.slot) || self.slots.is_quarantined(entry.slot)) {
                    return Err(format!("partition {id}: page {page:#x} holds slot {} twice or unallocated", entry.slot));
                }
            }
            for (&page, backing) in &partition.backing {
                if !partition.committed.contains_key(&page) {
                    return Err(format!("partition {id}: backing recorded for uncommitted page {page:#x}"));
                }
                if let Backing::Copy(entry) = backing
                    && (!slots_held.insert(entry.slot) || !self.slots.is_used(entry.slot))
                {
                    return Err(format!("partition {id}: page {page:#x}'s copy in slot {} is shared or unallocated", entry.slot));
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
            let Some(window) = window else { continue };
            for (&page, &frame) in partition.committed.range(window.start..window.end) {
                if !partition.contains(page) {
                    return Err(format!("partition {id}: committed page {page:#x} outside its ranges"));
                }
                if !frames_seen.insert(frame) {
                    return Err(format!("frame {frame:#x} backs two pages"));
                }
                let in_huge = partition.huge.contains(&block_of(page));
                if !in_huge && !frames.holds(frame) {
                    return Err(format!("partition {id}: frame {frame:#x} of page {page:#x} is not allocated to it"));
                }
                let expected = (frame, partition.rights_at(page));
                let actual = table.translate(partition.space, page);
                if actual != Some(expected) {
                    return Err(format!("partition {id}: page {page:#x} should map {expected:?}, page table has {actual:?}"));
                }
            }
            let blocks = PageRange::new(block_of(window.start), window.end);
            for &start in partition.huge.range(blocks.start..blocks.end) {
                let base = partition.committed.get(&start).copied().unwrap_or(u64::MAX);
                let contiguous = (0..HUGE_PAGES).all(|offset| partition.committed.get(&(start + offset)) == Some(&(base + offset)));
                if !contiguous || !base.is_multiple_of(HUGE_PAGES) || !partition.huge_eligible(start) {
                    return Err(format!("partition {id}: 2 MiB page {start:#x} is not 512 aligned contiguous committed frames"));
                }
                if !frames.holds_huge(base) {
                    return Err(format!("partition {id}: 2 MiB page {start:#x} frames {base:#x} are not allocated as one"));
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
                return Err(format!("partition {id}: per-block commit counts are wrong"));
            }
            if !partition.untouched.range(window.start..window.end).all(|page| partition.committed.contains_key(page)) {
                return Err(format!("partition {id}: untouched page not committed"));
            }
            for (range, rights) in partition.overrides.iter() {
                if !partition.covers(&range) || !partition.max_rights.contains(rights) || rights == partition.rights {
                    return Err(format!("partition {id}: bad protection {range:?} {rights:?}"));
                }
            }
            if !partition.hints.iter().all(|(range, _)| partition.covers(&range)) {
                return Err(format!("partition {id}: a hint lies outside the partition"));
            }
            if !partition.cold.iter().all(|(range, _)| partition.covers(&range)) {
                return Err(format!("partition {id}: a cold mark lies outside the partition"));
            }
            if !partition.locked.iter().all(|(range, _)| partition.covers(&range)) {
                return Err(format!("partition {id}: a locked range lies outside the partition"));
            }
            if !partition.max_rights.contains(partition.rights) {
                return Err(format!("partition {id}: rights beyond its maximum"));
            }
            for range in partition.ranges.iter().filter(|_| scope == Scope::Full) {
                if range.len() <= 4096 {
                    for page in range.start..range.end {
                        if !partition.committed.contains_key(&page) && table.translate(partition.space, page).is_some() {
                            return Err(format!("partition {id}: uncommitted page {page:#x} is mapped"));
                        }
                    }
                }
            }
        }
        for (space, state) in &self.spaces {
            let expected = committed_per_space.get(space).copied().unwrap_or(0);
            if state.counters.committed != expected {
                return Err(format!("space {space}: counts {} committed pages, partitions hold {expected}", state.counters.committed));
            }
            if state.counters.peak_committed < expected {
                return Err(format!("space {space}: peak below the committed count"));
            }
            let c = &state.counters;
            let untouched = untouched_per_space.get(space).copied().unwrap_or(0);
            if c.ahead_commits != c.hits + c.waste + untouched {
                return Err(format!(
                    "space {space}: {} pages committed ahead but {} hits + {} waste + {untouched} untouched",
                    c.ahead_commits, c.hits, c.waste
                ));
            }
        }
        if let Some(space) = committed_per_space.keys().find(|space| !self.spaces.contains_key(space)) {
            return Err(format!("space {space} has partitions but no state"));
        }
        let live = slots_held.iter().filter(|&&slot| !self.slots.is_quarantined(slot)).count() as u64;
        if live != self.slots.used() {
            return Err(format!("{} swap slots in use, pages hold {live}", self.slots.used()));
        }
        Ok(())
    }
}
