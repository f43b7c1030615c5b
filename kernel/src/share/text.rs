//! The text store: the read-only pieces of program images (code, and the
//! headers and constants beside it) held once by the kernel and mapped
//! into every instance of the program, so two instances of a program share
//! its text (one frame per page, and one swap slot when it is out).
//!
//! The store is an address space of the kernel's own ([`TextStore::SPACE`],
//! never a process's: pids start at 1), with page tables like any other, so
//! the VASS keeps its pages like a process's: they are its partitions,
//! charged to it (a process's budget never counts its program's text, as a
//! mapper's budget never counts a view), evictable under the global budget,
//! brought back by a fault of any instance. Each piece is one partition of
//! the store, keyed by a [`TextKey`]: the program's identity (the hash of
//! its ELF file, `pae::proposal::identity`) and where the piece lies in the
//! image. Instances map it as a sealed view (`vass::engine::view`) at the
//! address the image names, with the piece's rights, populated at once (the
//! loader would have committed the pages anyway: a program starts with
//! every text page mapped, as before).
//!
//! **Lifetime.** A piece lives while a view maps it: the first instance's
//! load fills it ([`TextStore::hold`] says it is fresh, and the loader
//! writes the file's bytes through the store's page tables), every later
//! one only maps it, and an instance's exit never takes text from under
//! another. When the last instance ends ([`TextStore::retire_unused`]) the
//! piece is *cached*: it stays, unmapped, so the program started again only
//! maps it (no frame allocated, zeroed or written: spawning a program
//! again costs its views, not its image). The cache is bounded: beyond a
//! number of pages of unused pieces ([`TextStore::set_cache_pages`];
//! `text-cache=PAGES` at boot, [`DEFAULT_CACHE_PAGES`] by default, 0: no
//! cache) the pieces unused longest are destroyed, and [`TextStore::drop_cache`] destroys
//! them all (so a test can see every frame come back). A cached piece's
//! pages are the store's like any other: under the global budget they are
//! evicted as any unused pages are (nothing touches them), so the cache
//! never holds memory a process needs.
//! A load that fails destroys the piece it was making
//! ([`TextStore::discard`]): a piece half written is never cached.
//!
//! Writable segments are not shared (each instance has its own copy, as
//! before); sharing them copy-on-write is a further step
//! (`vass::engine::cow` has the mechanism).
//!
//! Pure state over the VASS, tested on the host against the simulated MMU;
//! the memory service holds the store beside the engine and the loader
//! (`process::loader`) uses it.

#![forbid(unsafe_code)]

use crate::vass::{FrameSource, Page, PageRange, PageTable, PartitionId, PartitionKind, SpaceId, Vass, VassError, Window};
use abi::Rights;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Pages of unused pieces the store keeps by default (2 MiB: the text of
/// several programs).
pub const DEFAULT_CACHE_PAGES: u64 = 512;

/// Which piece of which program: what makes two loads the same text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextKey {
    /// The program's identity (the hash of its ELF file).
    pub program: u64,
    /// The piece's first page in the image.
    pub at: Page,
    /// Its size in pages.
    pub pages: u64,
    /// Its rights (read, with execute for code).
    pub rights: Rights,
}

impl TextKey {
    fn order(&self) -> (u64, Page, u64, u32) {
        (self.program, self.at, self.pages, self.rights.bits())
    }
}

impl PartialOrd for TextKey {
    fn partial_cmp(&self, other: &TextKey) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TextKey {
    fn cmp(&self, other: &TextKey) -> core::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

/// A piece held in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// The store's partition holding it.
    pub partition: PartitionId,
    /// Where it lies in the store's space.
    pub range: PageRange,
    /// Whether it was made by this call: its pages are committed (zeroed)
    /// and the caller writes the file's bytes into them.
    pub fresh: bool,
}

/// A piece the store holds.
#[derive(Clone, Copy, Debug)]
struct Piece {
    /// The store's partition holding it.
    partition: PartitionId,
    /// When it was last left unused (the store's retirement count), while
    /// no view maps it (`None`: in use).
    unused_since: Option<u64>,
}

/// The pieces of program text the kernel holds (see the module
/// documentation).
#[derive(Debug)]
pub struct TextStore {
    pieces: BTreeMap<TextKey, Piece>,
    /// Retirements so far (orders the cache, oldest first).
    retired: u64,
    /// Most pages of unused pieces kept.
    cache_pages: u64,
}

impl Default for TextStore {
    fn default() -> TextStore {
        TextStore::new()
    }
}

/// Where the store places its pieces: anywhere in its own space's lower
/// half above the first 2 MiB.
const STORE_WINDOW: Window = Window { start: 0x200, end: 1 << 35 };

impl TextStore {
    /// The store's address space (no process has pid 0).
    pub const SPACE: SpaceId = SpaceId(0);

    /// An empty store.
    pub const fn new() -> TextStore {
        TextStore { pieces: BTreeMap::new(), retired: 0, cache_pages: DEFAULT_CACHE_PAGES }
    }

    /// Keeps at most `pages` pages of unused pieces from the next
    /// retirement on ([`TextStore::retire_unused`]).
    pub fn set_cache_pages(&mut self, pages: u64) {
        self.cache_pages = pages;
    }

    /// The piece `key`, made (created and committed in the store, not yet
    /// written) if the store does not hold it.
    pub fn hold(&mut self, vass: &mut Vass, key: TextKey, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<Held, VassError> {
        if let Some(piece) = self.pieces.get_mut(&key)
            && let Some(held) = vass.partition(piece.partition)
            && let Some(&range) = held.ranges.first()
        {
            // In use again, if it was cached.
            piece.unused_since = None;
            return Ok(Held { partition: piece.partition, range, fresh: false });
        }
        if key.rights.contains(Rights::WRITE) || !key.rights.contains(Rights::READ) {
            // Only what no instance can change is the same in all of them.
            return Err(VassError::RightsEscalation);
        }
        let kind = if key.rights.contains(Rights::EXECUTE) { PartitionKind::Code } else { PartitionKind::Data };
        let (partition, range) = vass.create(Self::SPACE, key.pages, kind, key.rights, None, STORE_WINDOW)?;
        if let Err(error) = vass.populate(Self::SPACE, partition, range, table, frames) {
            let _ = vass.destroy(Self::SPACE, partition, table, frames);
            return Err(error);
        }
        self.pieces.insert(key, Piece { partition, unused_since: None });
        Ok(Held { partition, range, fresh: true })
    }

    /// Maps the held piece `key` into `space` at page `at` (inside
    /// `window`) as a sealed view with the piece's rights, every page
    /// mapped now. Returns the view's id and range.
    pub fn map(
        &self,
        vass: &mut Vass,
        key: TextKey,
        space: SpaceId,
        window: Window,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
    ) -> Result<(PartitionId, PageRange), VassError> {
        let partition = self.pieces.get(&key).ok_or(VassError::UnknownPartition)?.partition;
        let offsets = PageRange::new(0, key.pages);
        let (view, range) = vass.map_view(Self::SPACE, partition, offsets, space, key.rights, Some(key.at), window, table, frames)?;
        // Every page mapped now (the store holds them all: nothing is
        // committed, nothing counted as the instance's own), then sealed.
        if let Err(error) = vass.populate(space, view, range, table, frames) {
            let _ = vass.destroy(space, view, table, frames);
            return Err(error);
        }
        vass.seal(view);
        Ok((view, range))
    }

    /// Caches every piece no view maps any more (its last instance ended),
    /// then destroys the pieces unused longest beyond the cache's bound.
    /// Returns the pieces that left use, cached or destroyed: every grant
    /// of them ends (`share::registry`'s `text_released`), so nothing made
    /// while a program ran outlives its last instance; a revived piece is
    /// granted afresh.
    pub fn retire_unused(&mut self, vass: &mut Vass, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Vec<PartitionId> {
        let mut retired = Vec::new();
        for piece in self.pieces.values_mut() {
            let unused = vass.partition(piece.partition).is_none_or(|held| held.views.is_empty());
            if !unused {
                piece.unused_since = None;
            } else if piece.unused_since.is_none() {
                piece.unused_since = Some(self.retired);
                self.retired += 1;
                retired.push(piece.partition);
            }
        }
        for destroyed in self.trim(vass, table, frames) {
            if !retired.contains(&destroyed) {
                retired.push(destroyed);
            }
        }
        retired
    }

    /// Destroys the piece `key` if no view maps it (a load that made or
    /// revived it failed: a piece maybe half written is not kept). Returns
    /// the partition if it went.
    pub fn discard(&mut self, key: TextKey, vass: &mut Vass, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Option<PartitionId> {
        let piece = self.pieces.get(&key)?;
        if vass.partition(piece.partition).is_some_and(|held| !held.views.is_empty()) {
            return None;
        }
        let piece = self.pieces.remove(&key)?;
        let _ = vass.destroy(Self::SPACE, piece.partition, table, frames);
        Some(piece.partition)
    }

    /// Destroys every cached (unused) piece. Returns the partitions that
    /// went.
    pub fn drop_cache(&mut self, vass: &mut Vass, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Vec<PartitionId> {
        let bound = core::mem::replace(&mut self.cache_pages, 0);
        let released = self.trim(vass, table, frames);
        self.cache_pages = bound;
        released
    }

    /// Pages of cached (unused) pieces, and how many of them are resident.
    pub fn cached(&self, vass: &Vass) -> (u64, u64) {
        self.pieces
            .values()
            .filter(|piece| piece.unused_since.is_some())
            .filter_map(|piece| vass.partition(piece.partition))
            .fold((0, 0), |(pages, resident), held| (pages + held.pages(), resident + held.committed.len() as u64))
    }

    /// Destroys cached pieces, unused longest first, until their pages fit
    /// the cache's bound.
    fn trim(&mut self, vass: &mut Vass, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Vec<PartitionId> {
        let mut released = Vec::new();
        let mut cached: Vec<(u64, TextKey, u64)> = self
            .pieces
            .iter()
            .filter_map(|(&key, piece)| piece.unused_since.map(|since| (since, key, vass.partition(piece.partition).map_or(0, |held| held.pages()))))
            .collect();
        let mut pages: u64 = cached.iter().map(|&(_, _, pages)| pages).sum();
        cached.sort_by_key(|&(since, _, _)| since);
        for (_, key, size) in cached {
            if pages <= self.cache_pages {
                break;
            }
            if let Some(piece) = self.pieces.remove(&key) {
                let _ = vass.destroy(Self::SPACE, piece.partition, table, frames);
                released.push(piece.partition);
            }
            pages -= size;
        }
        released
    }

    /// How many pieces the store holds (in use or cached).
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }
}

#[cfg(test)]
mod tests;
