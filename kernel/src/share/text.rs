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
//! one only maps it, and when the last instance ends [`TextStore::release_unused`]
//! destroys it (so an instance's exit never takes text from under another,
//! and no frame stays behind when no instance is left). Nothing is cached
//! past the last instance: a program started again loads its text again.
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

/// The pieces of program text the kernel holds (see the module
/// documentation).
#[derive(Debug, Default)]
pub struct TextStore {
    pieces: BTreeMap<TextKey, PartitionId>,
}

/// Where the store places its pieces: anywhere in its own space's lower
/// half above the first 2 MiB.
const STORE_WINDOW: Window = Window { start: 0x200, end: 1 << 35 };

impl TextStore {
    /// The store's address space (no process has pid 0).
    pub const SPACE: SpaceId = SpaceId(0);

    /// An empty store.
    pub const fn new() -> TextStore {
        TextStore { pieces: BTreeMap::new() }
    }

    /// The piece `key`, made (created and committed in the store, not yet
    /// written) if the store does not hold it.
    pub fn hold(&mut self, vass: &mut Vass, key: TextKey, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Result<Held, VassError> {
        if let Some(&partition) = self.pieces.get(&key)
            && let Some(held) = vass.partition(partition)
            && let Some(&range) = held.ranges.first()
        {
            return Ok(Held { partition, range, fresh: false });
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
        self.pieces.insert(key, partition);
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
        let &partition = self.pieces.get(&key).ok_or(VassError::UnknownPartition)?;
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

    /// Destroys every piece no view maps any more (its last instance
    /// ended, or the load that made it failed). Returns the partitions
    /// that went.
    pub fn release_unused(&mut self, vass: &mut Vass, table: &mut impl PageTable, frames: &mut impl FrameSource) -> Vec<PartitionId> {
        let unused: Vec<TextKey> = self
            .pieces
            .iter()
            .filter(|&(_, &partition)| vass.partition(partition).is_none_or(|held| held.views.is_empty()))
            .map(|(&key, _)| key)
            .collect();
        let mut released = Vec::with_capacity(unused.len());
        for key in &unused {
            if let Some(partition) = self.pieces.remove(key) {
                let _ = vass.destroy(Self::SPACE, partition, table, frames);
                released.push(partition);
            }
        }
        released
    }

    /// How many pieces the store holds.
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
