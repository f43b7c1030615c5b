//! Layout proposals: what the PAE learned about a program's address space,
//! kept for its next launch.
//!
//! When a process the PAE served (policy `pae`) ends, its partitions (and
//! those it destroyed while under `pae`) are summed up as a [`ProgramLayout`] keyed by the program's identity (a hash
//! of its ELF file, [`identity`]): per partition, in the order the process
//! created them, its kind, size, how many of its pages were touched, how
//! many faults it took, and its hot ranges (the touched pages, as ranges of
//! page offsets into the partition). At the next launch of the same file
//! under `pae`, the first fault in each partition commits that partition's
//! hot ranges at once (within the prefetch allowance), and partitions that
//! had none stay uncommitted: the program starts from where its last run
//! ended up instead of faulting its way there again. A partition that grew
//! beyond the size it is created with is pre-sized: it is placed with the
//! pages it will grow into held free after it (`Vass::create_with_room`).
//!
//! A partition is matched by its creation ordinal and kind: a program that
//! lays out its memory the same way each run (the loader always does) gets
//! its own pages back; a mismatch (another kind at that ordinal) proposes
//! nothing. Hot ranges beyond the partition's present size are dropped.
//!
//! Hot ranges are at most [`MAX_HOT_RANGES`] per partition, the smallest
//! gaps between touched pages closed first ([`hot_ranges`]); [`Layouts`]
//! keeps [`MAX_PROGRAMS`] programs, forgetting the oldest first; the
//! identity is the FNV-1a hash of the ELF file. Pages committed from a
//! proposal are counted as `layout_commits` (`Cause::Layout` in the
//! history).

#![forbid(unsafe_code)]

use crate::vass::PartitionUse;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Most programs remembered; the least recently recorded goes first.
pub const MAX_PROGRAMS: usize = 32;
/// Most partitions remembered per program (in creation order).
pub const MAX_PARTITIONS: usize = 64;
/// Most hot ranges per partition: closer ones are merged beyond it.
pub const MAX_HOT_RANGES: usize = 128;
/// Longest program name kept (bytes).
pub const MAX_NAME: usize = abi::layout::NAME_BYTES;

/// One partition of a recorded layout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionLayout {
    /// The partition's place among those the process created (0: first).
    pub ordinal: u32,
    /// Its kind (`abi::PartitionKind` code).
    pub kind: u64,
    /// Its size in pages when the process ended.
    pub pages: u64,
    /// Pages seen touched.
    pub touched: u64,
    /// Page faults taken in it over the run (its access frequency as the
    /// fault path saw it).
    pub faults: u64,
    /// Touched pages as `[start, end)` page offsets into the partition,
    /// ascending and disjoint (gaps merged when there were more than
    /// [`MAX_HOT_RANGES`]).
    pub hot: Vec<(u64, u64)>,
}

impl From<PartitionUse> for PartitionLayout {
    /// The layout of a partition that touched `used.touched`: its touched
    /// pages as at most [`MAX_HOT_RANGES`] hot ranges.
    fn from(used: PartitionUse) -> PartitionLayout {
        PartitionLayout {
            ordinal: used.ordinal,
            kind: used.kind.code(),
            pages: used.pages,
            touched: used.touched.len() as u64,
            faults: used.faults,
            hot: hot_ranges(used.touched, MAX_HOT_RANGES),
        }
    }
}

impl PartitionLayout {
    /// Pages in its hot ranges.
    pub fn hot_pages(&self) -> u64 {
        self.hot.iter().map(|&(start, end)| end - start).sum()
    }
}

/// What one run of a program left: its partitions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgramLayout {
    /// The program's identity ([`identity`] of its ELF file).
    pub identity: u64,
    /// Its name (the file name, at most [`MAX_NAME`] bytes).
    pub name: String,
    /// Runs recorded for this identity (this one included).
    pub runs: u64,
    /// Its partitions, by ordinal.
    pub partitions: Vec<PartitionLayout>,
}

impl ProgramLayout {
    /// The recorded partition with `ordinal`, if it was of `kind`.
    pub fn partition(&self, ordinal: u32, kind: u64) -> Option<&PartitionLayout> {
        self.partitions.iter().find(|partition| partition.ordinal == ordinal && partition.kind == kind)
    }

    /// Pages in all hot ranges.
    pub fn hot_pages(&self) -> u64 {
        self.partitions.iter().map(PartitionLayout::hot_pages).sum()
    }

    /// The layout as the words `pae_layout` copies out (see `abi::layout`).
    pub fn to_words(&self) -> Vec<u64> {
        let mut words = Vec::new();
        words.push(self.identity);
        words.push(self.runs);
        words.push(self.partitions.len() as u64);
        let name = &self.name.as_bytes()[..self.name.len().min(MAX_NAME)];
        words.push(name.len() as u64);
        let mut padded = [0u8; MAX_NAME];
        padded[..name.len()].copy_from_slice(name);
        words.extend(padded.as_chunks::<8>().0.iter().map(|chunk| u64::from_le_bytes(*chunk)));
        for partition in &self.partitions {
            words.extend([
                u64::from(partition.ordinal),
                partition.kind,
                partition.pages,
                partition.touched,
                partition.faults,
                partition.hot.len() as u64,
            ]);
            for &(start, end) in &partition.hot {
                words.extend([start, end]);
            }
        }
        words
    }
}

/// The recorded layouts, most recently recorded last (shared with the
/// processes that run from them).
#[derive(Debug, Default)]
pub struct Layouts {
    programs: Vec<Arc<ProgramLayout>>,
}

impl Layouts {
    /// No layouts.
    pub const fn new() -> Layouts {
        Layouts { programs: Vec::new() }
    }

    /// Records `layout` (its partitions by ordinal, at most
    /// [`MAX_PARTITIONS`]; its name cut to [`MAX_NAME`] bytes at a
    /// character boundary), replacing the one of the same identity (its run
    /// count carries on) and forgetting the oldest beyond [`MAX_PROGRAMS`].
    pub fn record(&mut self, mut layout: ProgramLayout) {
        layout.runs = 1;
        if let Some(at) = self.programs.iter().position(|known| known.identity == layout.identity) {
            layout.runs = self.programs.remove(at).runs.saturating_add(1);
        }
        layout.partitions.sort_unstable_by_key(|partition| partition.ordinal);
        layout.partitions.truncate(MAX_PARTITIONS);
        let mut cut = layout.name.len().min(MAX_NAME);
        while !layout.name.is_char_boundary(cut) {
            cut -= 1;
        }
        layout.name.truncate(cut);
        self.programs.push(Arc::new(layout));
        if self.programs.len() > MAX_PROGRAMS {
            self.programs.remove(0);
        }
    }

    /// The layout recorded for `identity`.
    pub fn get(&self, identity: u64) -> Option<&Arc<ProgramLayout>> {
        self.programs.iter().find(|known| known.identity == identity)
    }

    /// The `index`th layout, oldest first.
    pub fn nth(&self, index: usize) -> Option<&Arc<ProgramLayout>> {
        self.programs.get(index)
    }

    /// How many are recorded.
    pub fn len(&self) -> usize {
        self.programs.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }
}

/// `offsets` (ascending page offsets, duplicates allowed) as `[start, end)`
/// ranges; beyond `max` ranges, the ranges separated by the smallest gaps
/// are merged until `max` remain (the gaps become part of the range).
pub fn hot_ranges(offsets: impl IntoIterator<Item = u64>, max: usize) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for offset in offsets {
        match ranges.last_mut() {
            Some((_, end)) if offset < *end => {}
            Some((_, end)) if offset == *end => *end += 1,
            _ => ranges.push((offset, offset + 1)),
        }
    }
    let max = max.max(1);
    if ranges.len() > max {
        // The gap sizes, smallest first (earliest first among equals): the
        // `len - max` smallest are closed.
        let mut gaps: Vec<(u64, usize)> = ranges.windows(2).enumerate().map(|(at, pair)| (pair[1].0 - pair[0].1, at)).collect();
        gaps.sort_unstable();
        let mut close = alloc::vec![false; ranges.len()];
        for &(_, at) in &gaps[..ranges.len() - max] {
            close[at] = true;
        }
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(max);
        let mut joining = false;
        for (at, &range) in ranges.iter().enumerate() {
            match merged.last_mut() {
                Some(last) if joining => last.1 = range.1,
                _ => merged.push(range),
            }
            joining = close[at];
        }
        ranges = merged;
    }
    ranges
}

/// A program's identity: the 64-bit FNV-1a hash of its ELF file. Written
/// here (not a crate) because it is six lines, runs in `no_std` and must
/// give the same value on every boot, which the `core` hashers do not
/// promise.
pub fn identity(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn layout(identity: u64, name: &str) -> ProgramLayout {
        ProgramLayout {
            identity,
            name: name.into(),
            runs: 0,
            partitions: vec![PartitionLayout { ordinal: 0, kind: 1, pages: 8, touched: 3, faults: 2, hot: vec![(0, 2), (5, 6)] }],
        }
    }

    #[test]
    fn hot_ranges_coalesce_touched_pages() {
        assert_eq!(hot_ranges([0, 1, 2, 5, 6, 9], 8), [(0, 3), (5, 7), (9, 10)]);
        assert_eq!(hot_ranges([3, 3, 4], 8), [(3, 5)], "duplicates count once");
        assert_eq!(hot_ranges([], 8), []);
    }

    #[test]
    fn beyond_the_limit_the_smallest_gaps_are_closed_first() {
        // Gaps: 1 (between 0 and 2), 5 (3..8), 1 (9..10), 10 (11..21).
        let offsets = [0, 2, 8, 10, 21];
        assert_eq!(hot_ranges(offsets, 5).len(), 5);
        assert_eq!(hot_ranges(offsets, 3), [(0, 3), (8, 11), (21, 22)]);
        assert_eq!(hot_ranges(offsets, 2), [(0, 11), (21, 22)]);
        assert_eq!(hot_ranges(offsets, 1), [(0, 22)]);
        assert_eq!(hot_ranges(offsets, 0), [(0, 22)], "at least one range");
    }

    #[test]
    fn hot_ranges_stay_within_their_limit_and_cover_every_offset() {
        let offsets: Vec<u64> = (0..1000u64).map(|i| i * i % 997).collect::<alloc::collections::BTreeSet<_>>().into_iter().collect();
        for max in [1, 7, 128, 2000] {
            let ranges = hot_ranges(offsets.iter().copied(), max);
            assert!(ranges.len() <= max);
            assert!(ranges.windows(2).all(|pair| pair[0].1 < pair[1].0), "disjoint, ascending, not touching");
            assert!(offsets.iter().all(|&offset| ranges.iter().any(|&(start, end)| (start..end).contains(&offset))));
        }
    }

    #[test]
    fn recording_again_replaces_and_counts_runs_and_the_oldest_goes() {
        let mut layouts = Layouts::new();
        layouts.record(layout(1, "a"));
        layouts.record(layout(2, "b"));
        layouts.record(layout(1, "a"));
        assert_eq!(layouts.len(), 2);
        assert_eq!(layouts.get(1).map(|known| known.runs), Some(2));
        assert_eq!(layouts.nth(1).map(|known| known.identity), Some(1), "most recent last");
        for identity in 10..10 + MAX_PROGRAMS as u64 {
            layouts.record(layout(identity, "x"));
        }
        assert_eq!(layouts.len(), MAX_PROGRAMS);
        assert!(layouts.get(1).is_none() && layouts.get(2).is_none(), "the oldest were forgotten");
    }

    #[test]
    fn a_recorded_layout_is_by_ordinal_and_its_name_cut_at_a_character() {
        let mut layouts = Layouts::new();
        let mut known = layout(1, &"é".repeat(MAX_NAME));
        known.partitions.insert(0, PartitionLayout { ordinal: 3, ..PartitionLayout::default() });
        layouts.record(known);
        let recorded = layouts.get(1).unwrap();
        assert_eq!(recorded.partitions.iter().map(|partition| partition.ordinal).collect::<Vec<_>>(), [0, 3]);
        assert_eq!(recorded.name, "é".repeat(MAX_NAME / 2), "two-byte characters, none split");
    }

    #[test]
    fn partitions_match_by_ordinal_and_kind() {
        let known = layout(1, "a");
        assert_eq!(known.partition(0, 1).map(PartitionLayout::hot_pages), Some(3));
        assert!(known.partition(0, 2).is_none(), "another kind at that ordinal proposes nothing");
        assert!(known.partition(1, 1).is_none());
    }

    #[test]
    fn the_words_decode_with_the_abi_view() {
        let mut known = layout(0xfeed, "a-rather-long-program-name-over-32-bytes");
        known.runs = 3;
        known.partitions.push(PartitionLayout { ordinal: 4, kind: 2, pages: 100, touched: 0, faults: 0, hot: vec![] });
        let words = known.to_words();
        let view = abi::layout::LayoutView::new(&words).expect("well formed");
        assert_eq!((view.identity(), view.runs(), view.partition_count()), (0xfeed, 3, 2));
        assert_eq!(view.name(), &known.name.as_bytes()[..MAX_NAME]);
        let partitions: Vec<_> = view.partitions().collect();
        assert_eq!(partitions.len(), 2);
        assert_eq!((partitions[0].ordinal, partitions[0].kind, partitions[0].pages, partitions[0].touched, partitions[0].faults), (0, 1, 8, 3, 2));
        assert_eq!(partitions[0].hot().collect::<Vec<_>>(), [(0, 2), (5, 6)]);
        assert_eq!((partitions[1].ordinal, partitions[1].pages, partitions[1].hot().count()), (4, 100, 0));
        assert!(abi::layout::LayoutView::new(&words[..words.len() - 1]).is_none(), "truncated");
        assert!(abi::layout::LayoutView::new(&words[..3]).is_none());
    }

    #[test]
    fn identity_is_fnv1a() {
        assert_eq!(identity(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(identity(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(identity(b"ab"), identity(b"ba"));
    }
}
