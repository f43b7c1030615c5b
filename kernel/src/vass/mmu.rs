//! The hardware as the engine sees it: the page tables of every address
//! space ([`PageTable`]) and where frames and swap slots come from
//! ([`FrameSource`]). The kernel puts its real page tables and the buddy
//! allocator behind them (`vass::hardware`); the host tests and the
//! simulator a simulated MMU (`vass::sim`).

#![forbid(unsafe_code)]

use super::partition::*;
use super::swap::{Slot, SwapError};
use super::{Access, VassError};
use abi::Rights;

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
