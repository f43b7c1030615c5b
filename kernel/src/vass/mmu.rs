//! The hardware as the engine sees it: the page tables of every address
//! space ([`PageTable`]) and where frames and swap slots come from
//! ([`FrameSource`]). Frames cross these traits as held values and
//! unmappings as flush tokens (see [`super::frames`]). The kernel puts its real page tables and the buddy
//! allocator behind them (`vass::hardware`); the host tests and the
//! simulator a simulated MMU (`vass::sim`).

#![forbid(unsafe_code)]

use super::frames::{Flush, Flushed, FrameUse, HugeRun, UserFrame};
use super::partition::*;
use super::swap::{Slot, SwapError};
use super::{Access, VassError};
use abi::Rights;

/// The hardware page tables of every address space, as the engine sees them.
pub trait PageTable {
    /// Maps `page` of `space` to the held `frame` with `rights`; the page
    /// must be unmapped.
    fn map(&mut self, space: SpaceId, page: Page, frame: &UserFrame, rights: Rights) -> Result<(), VassError>;
    /// Unmaps `page`; the token names the frame it mapped and must be
    /// [`flush`](PageTable::flush)ed before that frame is reused.
    fn unmap(&mut self, space: SpaceId, page: Page) -> Option<Flush>;
    /// Drops the TLB entries an unmapping may have left (on every
    /// processor that may hold them); the proof lets the frame source
    /// lower the frames' mapping counts.
    fn flush(&mut self, flush: Flush) -> Flushed;
    /// Changes the rights of a mapped page and flushes its TLB entry.
    fn protect(&mut self, space: SpaceId, page: Page, rights: Rights) -> Result<(), VassError>;
    /// What `page` maps to now (inside a 2 MiB page: the frame at its offset).
    fn translate(&self, space: SpaceId, page: Page) -> Option<(Frame, Rights)>;
    /// Whether the processor set the accessed bit of mapped `page` (for a
    /// page inside a 2 MiB page, the bit of the whole 2 MiB page); with
    /// `clear`, also clears it (and flushes the TLB entry) to sample again.
    fn accessed(&mut self, space: SpaceId, page: Page, clear: bool) -> bool;
    /// Maps the 2 MiB page at `page` (aligned) to the held 2 MiB `run`
    /// with `rights`; none of its pages may be mapped.
    fn map_huge(&mut self, space: SpaceId, page: Page, run: &HugeRun, rights: Rights) -> Result<(), VassError>;
    /// Unmaps the 2 MiB page at `page`; the token covers its 512 frames.
    fn unmap_huge(&mut self, space: SpaceId, page: Page) -> Option<Flush>;
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

/// Maps `page` of `space` to held `frame` and counts the mapping: the one
/// way the engine maps a 4 KiB page.
pub(super) fn map_counted(
    table: &mut impl PageTable,
    frames: &mut impl FrameSource,
    space: SpaceId,
    page: Page,
    frame: &UserFrame,
    rights: Rights,
) -> Result<(), VassError> {
    table.map(space, page, frame, rights)?;
    frames.mapped(frame);
    Ok(())
}

/// Maps the 2 MiB page at `page` of `space` to held `run` and counts it.
pub(super) fn map_huge_counted(
    table: &mut impl PageTable,
    frames: &mut impl FrameSource,
    space: SpaceId,
    page: Page,
    run: &HugeRun,
    rights: Rights,
) -> Result<(), VassError> {
    table.map_huge(space, page, run, rights)?;
    frames.mapped_huge(run);
    Ok(())
}

/// Unmaps `page` of `space` (4 KiB, or with `huge` the 2 MiB page there),
/// flushes what the TLB may hold and uncounts the mapping: the one way the
/// engine unmaps. Returns the first frame it mapped, if it was mapped.
pub(super) fn unmap_flushed(table: &mut impl PageTable, frames: &mut impl FrameSource, space: SpaceId, page: Page, huge: bool) -> Option<Frame> {
    let flush = if huge { table.unmap_huge(space, page)? } else { table.unmap(space, page)? };
    let flushed = table.flush(flush);
    let frame = flushed.frame();
    frames.unmapped(flushed);
    Some(frame)
}
