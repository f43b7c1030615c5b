//! The hardware as the engine sees it: the page tables of every address
//! space ([`PageTable`]) and where frames and swap slots come from
//! ([`FrameSource`]). Frames cross these traits as held values and
//! unmappings as flush tokens (see [`super::frames`]). The kernel puts its
//! real page tables and the buddy allocator behind them
//! (`vass::hardware`); the host tests and the simulator a simulated MMU
//! (`vass::sim`).
//!
//! Page tables are reached a range at a time: [`PageTable::walk`] and
//! [`PageTable::cursor`] find one space's tables once and give a place in
//! a range of its pages ([`Walk`] reads entries, [`Cursor`] changes them),
//! so an operation over a partition does not look the space up per page,
//! and a page outside the range it was opened for is refused rather than
//! changed. [`map_counted`], [`map_huge_counted`] and [`unmap_flushed`]
//! pair each change with the frame metadata's mapping counts.

#![forbid(unsafe_code)]

use super::frames::{Flush, Flushed, FrameUse, HugeRun, UserFrame};
use super::partition::*;
use super::swap::{Slot, SwapError};
use super::{Access, VassError};
use abi::Rights;

/// What the entry mapping a page says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The frame the page maps to (inside a 2 MiB page: the frame at its
    /// offset).
    pub frame: Frame,
    /// The rights the entry grants.
    pub rights: Rights,
    /// The processor set the accessed bit (for a page inside a 2 MiB page,
    /// the bit of the whole 2 MiB page).
    pub accessed: bool,
    /// The processor set the dirty bit: the page was written since it was
    /// mapped (inside a 2 MiB page, the bit of the whole 2 MiB page).
    pub dirty: bool,
    /// The entry is a 2 MiB entry.
    pub huge: bool,
}

/// The hardware page tables of every address space, as the engine sees
/// them: one space's pages are reached through a [`Walk`] (read) or a
/// [`Cursor`] (change) over a range of them, which finds the space's tables
/// once and checks every page against its range.
pub trait PageTable {
    /// A read-only walk over a range of one space's pages.
    type Walk<'a>: Walk
    where
        Self: 'a;
    /// A cursor that changes a range of one space's pages.
    type Cursor<'a>: Cursor
    where
        Self: 'a;
    /// A walk over `pages` of `space`, at their first page; `None` when
    /// these tables do not reach `space`.
    fn walk(&self, space: SpaceId, pages: PageRange) -> Option<Self::Walk<'_>>;
    /// A cursor over `pages` of `space`, at their first page; `None` when
    /// these tables do not reach `space`.
    fn cursor(&mut self, space: SpaceId, pages: PageRange) -> Option<Self::Cursor<'_>>;
    /// Whether these tables include `space`'s: the engine evicts pages of
    /// other spaces than the one it works for (under the global budget, or
    /// when frames run out) only through tables that reach them.
    fn reaches(&self, space: SpaceId) -> bool;
}

/// Where a walk or a cursor is: the space, the range of its pages it was
/// opened for, and the page it is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    space: SpaceId,
    range: PageRange,
    page: Page,
}

impl Place {
    /// At the first page of `range` of `space`.
    pub const fn new(space: SpaceId, range: PageRange) -> Place {
        Place { space, range, page: range.start }
    }

    /// The space.
    pub const fn space(&self) -> SpaceId {
        self.space
    }

    /// The pages it may visit.
    pub const fn range(&self) -> PageRange {
        self.range
    }

    /// Moves to `page`; `false` when `page` is outside the range (then
    /// nothing is read or changed until it moves back inside).
    pub fn jump(&mut self, page: Page) -> bool {
        self.page = page;
        self.range.contains(page)
    }

    /// The page it is at, if that is inside the range.
    pub const fn here(&self) -> Option<Page> {
        if self.range.contains(self.page) { Some(self.page) } else { None }
    }
}

/// A place in a range of one address space's pages, to read their entries.
pub trait Walk {
    /// Where it is.
    fn place(&self) -> &Place;
    /// Where it is, to move.
    fn place_mut(&mut self) -> &mut Place;
    /// The entry mapping the page it is at.
    fn entry(&self) -> Option<Entry>;
    /// The page it is at.
    fn page(&self) -> Page {
        self.place().page
    }
    /// Moves to `page`; `false` when `page` is outside the range (then
    /// nothing is read or changed until it moves back inside).
    fn jump(&mut self, page: Page) -> bool {
        self.place_mut().jump(page)
    }
    /// Moves to `page` and reads its entry (`None` outside the range).
    fn entry_at(&mut self, page: Page) -> Option<Entry> {
        if self.jump(page) { self.entry() } else { None }
    }
    /// Moves to `page` and reads whether the processor set its accessed
    /// bit (`false` unmapped or outside the range).
    fn accessed_at(&mut self, page: Page) -> bool {
        self.entry_at(page).is_some_and(|entry| entry.accessed)
    }
}

/// A place in a range of one address space's pages, to change their
/// entries. Every change is made at the page the cursor is at
/// ([`Walk::jump`] moves it) and fails, changing nothing, when that page
/// is outside the range.
pub trait Cursor: Walk {
    /// Maps the page to the held `frame` with `rights`; the page must be
    /// unmapped.
    fn map(&mut self, frame: &UserFrame, rights: Rights) -> Result<(), VassError>;
    /// Unmaps the page's 4 KiB entry; the token names the frame it mapped
    /// and must be [`flush`](Cursor::flush)ed before that frame is reused.
    fn unmap(&mut self) -> Option<Flush>;
    /// Changes the rights of the mapped page and flushes its TLB entry.
    fn protect(&mut self, rights: Rights) -> Result<(), VassError>;
    /// Clears the accessed bit of the mapped page (for a page inside a 2 MiB
    /// page, of the whole 2 MiB page) and flushes the TLB entry, to sample
    /// again; returns whether it was set.
    fn clear_accessed(&mut self) -> bool;
    /// Maps the 2 MiB page starting at the page (aligned) to the held 2 MiB
    /// `run` with `rights`; none of its pages may be mapped.
    fn map_huge(&mut self, run: &HugeRun, rights: Rights) -> Result<(), VassError>;
    /// Unmaps the 2 MiB page starting at the page; the token covers its 512
    /// frames.
    fn unmap_huge(&mut self) -> Option<Flush>;
    /// Changes the rights of the 2 MiB page starting at the page and
    /// flushes it.
    fn protect_huge(&mut self, rights: Rights) -> Result<(), VassError>;
    /// The access that faulted on the page, just committed, counts as made
    /// before the policy plans: its accessed bit is set (a commit ahead
    /// under a budget evicts only pages whose bit is clear, and must not
    /// evict the page the fault was served for). The kernel's tables set
    /// the accessed bit alone (the retried access sets the dirty bit); the
    /// simulator, which retries nothing, sets both for a write.
    fn mark_faulted(&mut self, access: Access);
    /// Drops the TLB entries an unmapping of this space left (on every
    /// processor that may hold them); the proof lets the frame source
    /// lower the frames' mapping counts.
    fn flush(&mut self, flush: Flush) -> Flushed;
}

/// The one page `page`, as a range for a walk or a cursor.
pub const fn single(page: Page) -> PageRange {
    PageRange::new(page, page + 1)
}

/// The 2 MiB page starting at `start`, as a range.
pub const fn block(start: Page) -> PageRange {
    PageRange::new(start, start + HUGE_PAGES)
}

/// Where committed frames come from (zero-filled) and go back to, with
/// what is known of each: its owner and its mapping count.
pub trait FrameSource {
    /// A zero-filled frame for partition `owner`, or `None` when memory is
    /// exhausted.
    fn allocate(&mut self, owner: PartitionId) -> Option<UserFrame>;
    /// Returns a frame. One still mapped (its count not brought to zero by
    /// [`unmapped`](FrameSource::unmapped)) is refused and stays allocated:
    /// a stale translation may still reach it.
    fn free(&mut self, frame: UserFrame);
    /// Whether `frame` is allocated from this source, once (its metadata
    /// says a user frame with one reference).
    fn holds(&self, frame: Frame) -> bool;
    /// 512 contiguous zero-filled frames aligned to 2 MiB for partition
    /// `owner`, or `None` when no such run is free.
    fn allocate_huge(&mut self, owner: PartitionId) -> Option<HugeRun>;
    /// Turns the 2 MiB allocation starting at `first` into 512 frames held
    /// (and freed) one by one.
    fn split_huge(&mut self, first: &UserFrame);
    /// Whether the 2 MiB allocation at `frame` is held once.
    fn holds_huge(&self, frame: Frame) -> bool;
    /// Copies the contents of frame `from` into frame `offset` of `run`
    /// (promoting 512 pages to one 2 MiB page).
    fn copy_into_run(&mut self, from: &UserFrame, run: &HugeRun, offset: u64);
    /// Copies the contents of frame `from` into frame `to` (a replica, or
    /// a primary restored from one).
    fn copy_frame(&mut self, from: &UserFrame, to: &UserFrame);
    /// Counts a page-table entry that now maps `frame`.
    fn mapped(&mut self, frame: &UserFrame);
    /// Counts a 2 MiB entry that now maps `run` (each of its frames).
    fn mapped_huge(&mut self, run: &HugeRun);
    /// Counts the entries a flush took away.
    fn unmapped(&mut self, flushed: Flushed);
    /// The owner and mapping count of `frame`.
    fn usage(&self, frame: Frame) -> FrameUse;
    /// Slots on the swap device (0: there is none).
    fn swap_slots(&self) -> u64;
    /// Writes the contents of `frame` to swap slot `slot`; returns their
    /// checksum ([`super::swap::checksum`]).
    fn swap_out(&mut self, frame: &UserFrame, slot: Slot) -> Result<u32, SwapError>;
    /// Reads swap slot `slot` into `frame`, checking it against `checksum`
    /// ([`SwapError::Corrupt`] if it differs).
    fn swap_in(&mut self, slot: Slot, frame: &UserFrame, checksum: u32) -> Result<(), SwapError>;
}

/// What maps `page` of `space`, read through a walk of that one page.
pub fn entry_of(table: &impl PageTable, space: SpaceId, page: Page) -> Option<Entry> {
    table.walk(space, single(page))?.entry()
}

/// Whether the processor set the accessed bit of mapped `page` of `space`
/// (read, not cleared).
pub fn accessed(table: &impl PageTable, space: SpaceId, page: Page) -> bool {
    entry_of(table, space, page).is_some_and(|entry| entry.accessed)
}

/// Maps the page under `cursor` to held `frame` and counts the mapping:
/// the one way the engine maps a 4 KiB page.
pub(super) fn map_counted(cursor: &mut impl Cursor, frames: &mut impl FrameSource, frame: &UserFrame, rights: Rights) -> Result<(), VassError> {
    cursor.map(frame, rights)?;
    frames.mapped(frame);
    Ok(())
}

/// Maps `page` of `space` to the held, fresh `frame` with `rights` and
/// counts it; gives the frame back to commit, or frees it when the page
/// tables refuse (the one way the engine maps a page it just allocated).
pub(super) fn map_fresh(table: &mut impl PageTable, frames: &mut impl FrameSource, space: SpaceId, page: Page, frame: UserFrame, rights: Rights) -> Result<UserFrame, VassError> {
    let mapped = match table.cursor(space, single(page)) {
        Some(mut cursor) => map_counted(&mut cursor, frames, &frame, rights),
        None => Err(VassError::PageTable),
    };
    match mapped {
        Ok(()) => Ok(frame),
        Err(error) => {
            frames.free(frame);
            Err(error)
        }
    }
}

/// Maps the 2 MiB page starting under `cursor` to held `run` and counts it.
pub(super) fn map_huge_counted(cursor: &mut impl Cursor, frames: &mut impl FrameSource, run: &HugeRun, rights: Rights) -> Result<(), VassError> {
    cursor.map_huge(run, rights)?;
    frames.mapped_huge(run);
    Ok(())
}

/// Unmaps the page under `cursor` (4 KiB, or with `huge` the 2 MiB page
/// starting there), flushes what the TLB may hold and uncounts the mapping:
/// the one way the engine unmaps. Returns the first frame it mapped, if it
/// was mapped.
pub(super) fn unmap_flushed(cursor: &mut impl Cursor, frames: &mut impl FrameSource, huge: bool) -> Option<Frame> {
    let flush = if huge { cursor.unmap_huge()? } else { cursor.unmap()? };
    let flushed = cursor.flush(flush);
    let frame = flushed.frame();
    frames.unmapped(flushed);
    Some(frame)
}
