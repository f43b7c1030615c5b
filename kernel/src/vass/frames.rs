//! Frames and TLB flushes across the VASS border, as values that cannot be
//! copied or forgotten.
//!
//! - A [`UserFrame`] is a user frame the engine holds: only a
//!   [`FrameSource`](super::FrameSource) makes one (`allocate`), it is not
//!   `Clone` or `Copy`, mapping it takes a borrow of it
//!   ([`PageTable::map`](super::PageTable::map)) and freeing it takes it by
//!   value, so safe engine code cannot map, copy or free a frame number it
//!   does not hold. A [`HugeRun`] is the same for 512 contiguous frames
//!   mapped as one 2 MiB page.
//! - Inside the engine a committed page's frame is recorded by number in
//!   its partition's residency (`Partition::committed`); the residency
//!   hands the owned value back when the page leaves
//!   (`Partition::take_frame`), and nothing else re-holds a number.
//! - Unmapping returns a [`Flush`] token (`#[must_use]`): the TLB may still
//!   hold the translation until [`PageTable::flush`](super::PageTable::flush)
//!   turns it into a [`Flushed`] proof. The frame source counts each frame's
//!   mappings (incremented when the engine maps it, decremented only by
//!   handing it a `Flushed`), and it frees only a frame whose count is
//!   zero: a frame is freed only after every unmapping of it was flushed.
//!   The count is what sharing builds on (a frame with several mappers);
//!   the frame's owner partition, recorded at allocation, is its reverse
//!   map (frame → partition → the spaces that map it).

#![forbid(unsafe_code)]

use super::partition::{Frame, Page, PartitionId, SpaceId};

/// A user frame held by the engine (see the module documentation).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a held frame must be committed or freed"]
pub struct UserFrame(Frame);

impl UserFrame {
    /// Holds frame `number`: for frame sources handing out a frame, and
    /// for the residency giving back a frame it recorded.
    pub(in crate::vass) fn held(number: Frame) -> UserFrame {
        UserFrame(number)
    }

    /// The frame's number.
    pub fn number(&self) -> Frame {
        self.0
    }
}

/// A 2 MiB run of 512 contiguous frames held as one (2 MiB aligned).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a held run must be committed, split or freed"]
pub struct HugeRun(Frame);

impl HugeRun {
    /// Holds the run starting at frame `first`: for frame sources, and for
    /// the residency giving back a 2 MiB page it recorded.
    pub(in crate::vass) fn held(first: Frame) -> HugeRun {
        HugeRun(first)
    }

    /// Its first frame.
    pub fn first(&self) -> Frame {
        self.0
    }

    /// Its 512 frames, each held alone from now on (recorded in the
    /// residency; the frame source still allocates them as one run until
    /// it is split).
    pub(in crate::vass) fn into_frames(self) -> impl Iterator<Item = UserFrame> {
        (self.0..self.0 + super::HUGE_PAGES).map(UserFrame)
    }
}

/// An unmapped translation the TLB may still hold: `pages` pages from
/// `page` of `space`, which mapped the frames from `frame`.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "the TLB may still hold the translation: hand the token to PageTable::flush"]
pub struct Flush {
    space: SpaceId,
    page: Page,
    frame: Frame,
    pages: u64,
}

impl Flush {
    /// The token for `pages` pages from `page` of `space` that mapped the
    /// frames from `frame` (for page-table implementations).
    pub(in crate::vass) fn new(space: SpaceId, page: Page, frame: Frame, pages: u64) -> Flush {
        Flush { space, page, frame, pages }
    }

    /// The space whose entries were removed.
    pub fn space(&self) -> SpaceId {
        self.space
    }

    /// The first page unmapped.
    pub fn page(&self) -> Page {
        self.page
    }

    /// The first frame those pages mapped.
    pub fn frame(&self) -> Frame {
        self.frame
    }

    /// Pages unmapped (512 for a 2 MiB page).
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The proof that the translation is gone from every TLB (for
    /// page-table implementations, once they flushed).
    pub(in crate::vass) fn done(self) -> Flushed {
        Flushed { frame: self.frame, pages: self.pages }
    }
}

/// Proof that the translations of `pages` frames from `frame` are gone
/// from every TLB: what lowers their mapping counts
/// ([`FrameSource::unmapped`](super::FrameSource::unmapped)).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "hand the proof to FrameSource::unmapped, or the frames can never be freed"]
pub struct Flushed {
    frame: Frame,
    pages: u64,
}

impl Flushed {
    /// The first frame.
    pub fn frame(&self) -> Frame {
        self.frame
    }

    /// Frames covered.
    pub fn pages(&self) -> u64 {
        self.pages
    }
}

/// What a frame source records of each frame it handed out: the partition
/// that owns it (the reverse map) and how many page-table entries map it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameUse {
    /// The owning partition, if it is known (see the frame source).
    pub owner: Option<PartitionId>,
    /// Page-table entries that map it (and were not flushed away yet).
    pub mappings: u32,
}
