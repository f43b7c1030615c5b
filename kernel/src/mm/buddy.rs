//! Physical frame allocation with a binary buddy system.
//!
//! Why a buddy allocator: allocation and free are O(log n); every block of
//! `2^k` frames is naturally aligned to `2^k` frames, so 2 MiB-aligned runs
//! for huge pages are simply order-9 blocks; freeing coalesces a block with
//! its buddy, which keeps fragmentation in check. The free lists are
//! intrusive, threaded through the per-frame metadata array (like Linux's
//! `struct page`), so the allocator needs no heap: the kernel heap itself is
//! built on top of it.

#![forbid(unsafe_code)]

use alloc::format;
use alloc::string::String;
use alloc::vec;

/// Largest block order: blocks hold at most `2^MAX_ORDER` frames (4 MiB).
pub const MAX_ORDER: usize = 10;
/// The order of a 2 MiB block (one huge page).
pub const HUGE_2M_ORDER: usize = 9;

const NIL: u32 = u32::MAX;

/// What a physical frame is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameState {
    /// In the allocator's free lists.
    Free,
    /// Allocated to the kernel (page tables, heap, stacks, ...).
    Kernel,
    /// Allocated to a user process.
    User,
    /// Not managed: holes, firmware, MMIO, memory below 1 MiB, the metadata itself.
    Reserved,
}

/// Per-frame metadata, one entry per 4 KiB physical frame.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct FrameMeta {
    state: FrameState,
    /// Order of the block this frame heads (valid when `head` is set).
    order: u8,
    /// Whether this frame is the first frame of a free or allocated block.
    head: bool,
    _reserved: u8,
    /// References to an allocated block, kept on its head frame.
    refcount: u32,
    /// Free: the free-list links (frame numbers), `NIL` at the ends.
    /// Allocated: `next` is the owner a user of the frame recorded
    /// (`NIL`: none; the VASS records the partition, its reverse map) and
    /// `prev` the page-table entries that map the frame (see
    /// [`BuddyAllocator::frame_use`]). A frame is never in a free list and
    /// allocated at once, so the two uses never meet.
    next: u32,
    prev: u32,
}

const _: () = assert!(size_of::<FrameMeta>() == 16);

impl FrameMeta {
    /// A frame the allocator does not manage.
    pub const RESERVED: FrameMeta =
        FrameMeta { state: FrameState::Reserved, order: 0, head: false, _reserved: 0, refcount: 0, next: NIL, prev: NIL };

    /// The frame's state.
    pub fn state(&self) -> FrameState {
        self.state
    }

    /// Reference count (non-zero only on the head frame of an allocated block).
    pub fn refcount(&self) -> u32 {
        self.refcount
    }
}

/// Why `add_free_range` refused a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The range is empty or inverted.
    EmptyRange,
    /// The range lies beyond the metadata array.
    OutOfRange,
    /// This frame is already managed (free or allocated).
    AlreadyManaged(u64),
}

/// Why `free` refused a block. Nothing was changed when it is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The frame is beyond the metadata array.
    OutOfRange,
    /// The frame is free or reserved.
    NotAllocated,
    /// The frame is inside a block, not its first frame.
    NotBlockHead,
    /// The block was allocated with another order.
    OrderMismatch,
    /// Someone else still holds a reference.
    StillReferenced,
}

/// Why a reference-count change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefError {
    /// The frame is beyond the metadata array.
    OutOfRange,
    /// The frame is not the first frame of an allocated block.
    NotAllocated,
    /// The count would exceed `u32::MAX`.
    Overflow,
    /// The count is already zero.
    Underflow,
}

/// Frame counts by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameCounts {
    /// Frames in the free lists.
    pub free: u64,
    /// Frames allocated to the kernel.
    pub kernel: u64,
    /// Frames allocated to user processes.
    pub user: u64,
    /// Frames not managed.
    pub reserved: u64,
}

impl FrameCounts {
    /// All frames covered.
    pub fn total(&self) -> u64 {
        self.free + self.kernel + self.user + self.reserved
    }

    fn of(&mut self, state: FrameState) -> &mut u64 {
        match state {
            FrameState::Free => &mut self.free,
            FrameState::Kernel => &mut self.kernel,
            FrameState::User => &mut self.user,
            FrameState::Reserved => &mut self.reserved,
        }
    }
}

/// A buddy allocator over frames `0..meta.len()`.
pub struct BuddyAllocator<'a> {
    meta: &'a mut [FrameMeta],
    free_heads: [u32; MAX_ORDER + 1],
    free_blocks: [u64; MAX_ORDER + 1],
    counts: FrameCounts,
}

impl<'a> BuddyAllocator<'a> {
    /// Takes a metadata array covering frames `0..meta.len()` (at most
    /// `u32::MAX - 1` frames: 16 TiB); every frame starts out reserved.
    pub fn new(meta: &'a mut [FrameMeta]) -> Self {
        assert!(meta.len() < NIL as usize, "metadata array too large for 32-bit frame links");
        meta.fill(FrameMeta::RESERVED);
        let reserved = meta.len() as u64;
        BuddyAllocator {
            meta,
            free_heads: [NIL; MAX_ORDER + 1],
            free_blocks: [0; MAX_ORDER + 1],
            counts: FrameCounts { reserved, ..FrameCounts::default() },
        }
    }

    /// Number of frames covered.
    pub fn frame_count(&self) -> u64 {
        self.meta.len() as u64
    }

    /// Hands the reserved frames `[start, end)` to the allocator. The range
    /// is cut into maximal aligned blocks, each merged with free buddies
    /// already present, so adjacent ranges added in any order give the same
    /// blocks. Returns the number of frames added.
    pub fn add_free_range(&mut self, start: u64, end: u64) -> Result<u64, AddError> {
        if start >= end {
            return Err(AddError::EmptyRange);
        }
        if end > self.frame_count() {
            return Err(AddError::OutOfRange);
        }
        if let Some(frame) = (start..end).find(|&frame| self.meta[frame as usize].state != FrameState::Reserved) {
            return Err(AddError::AlreadyManaged(frame));
        }
        let mut frame = start;
        while frame < end {
            let order = (0..=MAX_ORDER)
                .rev()
                .find(|&order| frame.is_multiple_of(1 << order) && frame + (1 << order) <= end)
                .unwrap_or(0);
            self.counts.reserved -= 1 << order;
            self.counts.free += 1 << order;
            self.release_block(frame, order);
            frame += 1 << order;
        }
        Ok(end - start)
    }

    /// Allocates a naturally aligned block of `2^order` frames in `state`
    /// (`Kernel` or `User`), with a reference count of 1 on its first frame.
    /// Returns the first frame number, or `None` if no block is large enough.
    pub fn alloc(&mut self, order: usize, state: FrameState) -> Option<u64> {
        if order > MAX_ORDER || matches!(state, FrameState::Free | FrameState::Reserved) {
            return None;
        }
        let mut current = (order..=MAX_ORDER).find(|&k| self.free_heads[k] != NIL)?;
        let block = u64::from(self.free_heads[current]);
        self.unlink(block, current);
        while current > order {
            current -= 1;
            let upper = block + (1 << current);
            self.set_head(upper, current);
            self.push(upper, current);
        }
        for frame in block..block + (1 << order) {
            let meta = &mut self.meta[frame as usize];
            meta.state = state;
            meta.head = false;
            // No owner and no mapping yet (the words were free-list links).
            meta.next = NIL;
            meta.prev = 0;
        }
        let head = &mut self.meta[block as usize];
        head.head = true;
        head.order = order as u8;
        head.refcount = 1;
        self.counts.free -= 1 << order;
        *self.counts.of(state) += 1 << order;
        Some(block)
    }

    /// Checks that `frame` heads an allocated block of `order` with at most
    /// one reference (what `free` and `split` need); returns its state.
    fn sole_owner_block(&self, frame: u64, order: usize) -> Result<FrameState, FreeError> {
        let meta = self.meta.get(frame as usize).ok_or(FreeError::OutOfRange)?;
        if matches!(meta.state, FrameState::Free | FrameState::Reserved) {
            return Err(FreeError::NotAllocated);
        }
        if !meta.head {
            return Err(FreeError::NotBlockHead);
        }
        if usize::from(meta.order) != order {
            return Err(FreeError::OrderMismatch);
        }
        if meta.refcount > 1 {
            return Err(FreeError::StillReferenced);
        }
        Ok(meta.state)
    }

    /// Frees a block obtained from `alloc` with the same `order`. Its
    /// reference count must be 1 (only the owner) or 0.
    pub fn free(&mut self, frame: u64, order: usize) -> Result<(), FreeError> {
        let state = self.sole_owner_block(frame, order)?;
        *self.counts.of(state) -= 1 << order;
        self.counts.free += 1 << order;
        self.release_block(frame, order);
        Ok(())
    }

    /// Splits the allocated block of `order` at `frame` into `2^order`
    /// allocated single frames in the same state, each with one reference,
    /// so they can be freed one by one (a 2 MiB page split into 4 KiB
    /// pages). Its reference count must be 1.
    pub fn split(&mut self, frame: u64, order: usize) -> Result<(), FreeError> {
        self.sole_owner_block(frame, order)?;
        for inner in &mut self.meta[frame as usize..(frame + (1 << order)) as usize] {
            inner.head = true;
            inner.order = 0;
            inner.refcount = 1;
        }
        Ok(())
    }

    /// The reference count of `frame`, if it heads an allocated block.
    pub fn refcount(&self, frame: u64) -> Option<u32> {
        let meta = self.meta.get(frame as usize)?;
        (meta.head && !matches!(meta.state, FrameState::Free | FrameState::Reserved)).then_some(meta.refcount)
    }

    /// Adds a reference to the block headed by `frame`; returns the new count.
    pub fn inc_ref(&mut self, frame: u64) -> Result<u32, RefError> {
        let meta = self.allocated_head(frame)?;
        meta.refcount = meta.refcount.checked_add(1).ok_or(RefError::Overflow)?;
        Ok(meta.refcount)
    }

    /// Drops a reference; returns the new count. Reaching zero does not free
    /// the block: the caller that saw zero frees it.
    pub fn dec_ref(&mut self, frame: u64) -> Result<u32, RefError> {
        let meta = self.allocated_head(frame)?;
        meta.refcount = meta.refcount.checked_sub(1).ok_or(RefError::Underflow)?;
        Ok(meta.refcount)
    }

    /// The owner recorded for allocated `frame` (`None`: none) and the
    /// page-table entries that map it; `None` if it is not allocated.
    pub fn frame_use(&self, frame: u64) -> Option<(Option<u32>, u32)> {
        let meta = self.meta.get(frame as usize)?;
        if matches!(meta.state, FrameState::Free | FrameState::Reserved) {
            return None;
        }
        Some(((meta.next != NIL).then_some(meta.next), meta.prev))
    }

    /// Records `owner` (below `u32::MAX`) for allocated `frame`.
    pub fn set_owner(&mut self, frame: u64, owner: u32) -> Result<(), RefError> {
        let meta = self.allocated_frame(frame)?;
        meta.next = owner;
        Ok(())
    }

    /// Counts one more page-table entry mapping allocated `frame` (with
    /// `add`) or one fewer; returns the new count.
    pub fn count_mapping(&mut self, frame: u64, add: bool) -> Result<u32, RefError> {
        let meta = self.allocated_frame(frame)?;
        meta.prev = if add { meta.prev.checked_add(1).ok_or(RefError::Overflow)? } else { meta.prev.checked_sub(1).ok_or(RefError::Underflow)? };
        Ok(meta.prev)
    }

    /// The metadata of allocated `frame` (head of a block or not).
    fn allocated_frame(&mut self, frame: u64) -> Result<&mut FrameMeta, RefError> {
        let meta = self.meta.get_mut(frame as usize).ok_or(RefError::OutOfRange)?;
        if matches!(meta.state, FrameState::Free | FrameState::Reserved) {
            return Err(RefError::NotAllocated);
        }
        Ok(meta)
    }

    /// The state of `frame`, if covered.
    pub fn state(&self, frame: u64) -> Option<FrameState> {
        self.meta.get(frame as usize).map(|meta| meta.state)
    }

    /// Frame counts by state (kept up to date on every operation).
    pub fn counts(&self) -> FrameCounts {
        self.counts
    }

    /// Number of free blocks of exactly `order`.
    pub fn free_blocks(&self, order: usize) -> u64 {
        self.free_blocks.get(order).copied().unwrap_or(0)
    }

    /// The largest order with a free block.
    pub fn largest_free_order(&self) -> Option<usize> {
        (0..=MAX_ORDER).rev().find(|&order| self.free_heads[order] != NIL)
    }

    /// Checks every invariant: list links, block alignment and bounds, that
    /// free blocks cover exactly the free frames without overlap, that no
    /// two free buddies were left unmerged, and that the counts are right.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut covered = vec![false; self.meta.len()];
        let mut free_frames = 0;
        for order in 0..=MAX_ORDER {
            let mut previous = NIL;
            let mut cursor = self.free_heads[order];
            let mut blocks = 0;
            while cursor != NIL {
                let block = u64::from(cursor);
                let meta = self.meta.get(cursor as usize).ok_or(format!("order {order}: link {block} out of range"))?;
                if meta.prev != previous {
                    return Err(format!("order {order}: block {block} has prev {} not {previous}", meta.prev));
                }
                if meta.state != FrameState::Free || !meta.head || usize::from(meta.order) != order {
                    return Err(format!("order {order}: listed block {block} has metadata {meta:?}"));
                }
                let size = 1u64 << order;
                if block % size != 0 || block + size > self.frame_count() {
                    return Err(format!("order {order}: block {block} misaligned or out of bounds"));
                }
                for frame in block..block + size {
                    let inner = &self.meta[frame as usize];
                    if covered[frame as usize] {
                        return Err(format!("frame {frame} is in two free blocks"));
                    }
                    covered[frame as usize] = true;
                    if inner.state != FrameState::Free || (frame != block && inner.head) {
                        return Err(format!("frame {frame} inside free block {block} has metadata {inner:?}"));
                    }
                }
                if order < MAX_ORDER {
                    let buddy = block ^ size;
                    if self.is_free_head(buddy, order) {
                        return Err(format!("free buddies {block} and {buddy} of order {order} were not merged"));
                    }
                }
                blocks += 1;
                free_frames += size;
                previous = cursor;
                cursor = meta.next;
            }
            if blocks != self.free_blocks[order] {
                return Err(format!("order {order}: {blocks} blocks listed, {} counted", self.free_blocks[order]));
            }
        }
        let mut counts = FrameCounts::default();
        for (frame, meta) in self.meta.iter().enumerate() {
            *counts.of(meta.state) += 1;
            if meta.state == FrameState::Free && !covered[frame] {
                return Err(format!("free frame {frame} is in no free list"));
            }
        }
        if counts != self.counts || free_frames != counts.free {
            return Err(format!("counts {:?} but metadata says {counts:?} ({free_frames} free in lists)", self.counts));
        }
        Ok(())
    }

    fn allocated_head(&mut self, frame: u64) -> Result<&mut FrameMeta, RefError> {
        let meta = self.meta.get_mut(frame as usize).ok_or(RefError::OutOfRange)?;
        if !meta.head || matches!(meta.state, FrameState::Free | FrameState::Reserved) {
            return Err(RefError::NotAllocated);
        }
        Ok(meta)
    }

    fn is_free_head(&self, frame: u64, order: usize) -> bool {
        self.meta
            .get(frame as usize)
            .is_some_and(|meta| meta.state == FrameState::Free && meta.head && usize::from(meta.order) == order)
    }

    /// Marks `[frame, frame + 2^order)` free and inserts it, merging with
    /// free buddies as far as possible. Counts are the caller's business.
    fn release_block(&mut self, mut frame: u64, mut order: usize) {
        for inner in frame..frame + (1 << order) {
            let meta = &mut self.meta[inner as usize];
            meta.state = FrameState::Free;
            meta.head = false;
            meta.refcount = 0;
        }
        while order < MAX_ORDER {
            let buddy = frame ^ (1 << order);
            if !self.is_free_head(buddy, order) {
                break;
            }
            self.unlink(buddy, order);
            self.meta[buddy as usize].head = false;
            frame = frame.min(buddy);
            order += 1;
        }
        self.set_head(frame, order);
        self.push(frame, order);
    }

    fn set_head(&mut self, frame: u64, order: usize) {
        let meta = &mut self.meta[frame as usize];
        meta.state = FrameState::Free;
        meta.head = true;
        meta.order = order as u8;
        meta.refcount = 0;
    }

    fn push(&mut self, frame: u64, order: usize) {
        let old_head = self.free_heads[order];
        {
            let meta = &mut self.meta[frame as usize];
            meta.prev = NIL;
            meta.next = old_head;
        }
        if old_head != NIL {
            self.meta[old_head as usize].prev = frame as u32;
        }
        self.free_heads[order] = frame as u32;
        self.free_blocks[order] += 1;
    }

    fn unlink(&mut self, frame: u64, order: usize) {
        let FrameMeta { prev, next, .. } = self.meta[frame as usize];
        if prev == NIL {
            self.free_heads[order] = next;
        } else {
            self.meta[prev as usize].next = next;
        }
        if next != NIL {
            self.meta[next as usize].prev = prev;
        }
        let meta = &mut self.meta[frame as usize];
        meta.prev = NIL;
        meta.next = NIL;
        self.free_blocks[order] -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn metadata(frames: usize) -> Vec<FrameMeta> {
        vec![FrameMeta::RESERVED; frames]
    }

    fn structure(allocator: &BuddyAllocator<'_>) -> Vec<u64> {
        (0..=MAX_ORDER).map(|order| allocator.free_blocks(order)).collect()
    }

    #[test]
    fn a_split_block_is_freed_frame_by_frame_and_merges_back() {
        let mut meta = vec![FrameMeta::RESERVED; 2048];
        let mut buddy = BuddyAllocator::new(&mut meta);
        buddy.add_free_range(0, 2048).unwrap();
        let before = buddy.counts();
        let block = buddy.alloc(HUGE_2M_ORDER, FrameState::User).unwrap();
        assert_eq!(buddy.split(block + 1, HUGE_2M_ORDER), Err(FreeError::NotBlockHead));
        assert_eq!(buddy.split(block, 0), Err(FreeError::OrderMismatch));
        buddy.split(block, HUGE_2M_ORDER).unwrap();
        assert_eq!(buddy.refcount(block + 7), Some(1));
        assert_eq!(buddy.state(block + 511), Some(FrameState::User));
        assert_eq!(buddy.free(block, HUGE_2M_ORDER), Err(FreeError::OrderMismatch), "now single frames");
        buddy.check_invariants().unwrap();
        for frame in (block..block + 512).rev() {
            buddy.free(frame, 0).unwrap();
        }
        buddy.check_invariants().unwrap();
        assert_eq!(buddy.counts(), before);
        assert_eq!(buddy.split(block, 0), Err(FreeError::NotAllocated));
    }

    #[test]
    fn a_fresh_allocator_has_everything_reserved() {
        let mut meta = metadata(64);
        let allocator = BuddyAllocator::new(&mut meta);
        assert_eq!(allocator.counts(), FrameCounts { reserved: 64, ..Default::default() });
        assert_eq!(allocator.largest_free_order(), None);
        allocator.check_invariants().unwrap();
    }

    #[test]
    fn aligned_ranges_become_maximal_blocks() {
        let mut meta = metadata(4096);
        let mut allocator = BuddyAllocator::new(&mut meta);
        assert_eq!(allocator.add_free_range(0, 4096), Ok(4096));
        assert_eq!(allocator.free_blocks(MAX_ORDER), 4);
        assert_eq!(allocator.largest_free_order(), Some(MAX_ORDER));
        allocator.check_invariants().unwrap();
    }

    #[test]
    fn unaligned_ranges_with_holes_are_split_and_kept_apart() {
        let mut meta = metadata(1100);
        let mut allocator = BuddyAllocator::new(&mut meta);
        allocator.add_free_range(1, 300).unwrap();
        allocator.add_free_range(301, 1100).unwrap();
        allocator.check_invariants().unwrap();
        assert_eq!(allocator.counts().free, 1098);
        assert_eq!(allocator.state(0), Some(FrameState::Reserved));
        assert_eq!(allocator.state(300), Some(FrameState::Reserved));
        // Every allocation avoids the holes.
        while let Some(frame) = allocator.alloc(0, FrameState::Kernel) {
            assert!(frame != 0 && frame != 300);
        }
        assert_eq!(allocator.counts().kernel, 1098);
    }

    #[test]
    fn adjacent_ranges_in_any_order_give_the_same_blocks() {
        let mut first = metadata(2048);
        let mut second = metadata(2048);
        let mut a = BuddyAllocator::new(&mut first);
        let mut b = BuddyAllocator::new(&mut second);
        a.add_free_range(0, 700).unwrap();
        a.add_free_range(700, 2048).unwrap();
        b.add_free_range(1500, 2048).unwrap();
        b.add_free_range(0, 3).unwrap();
        b.add_free_range(3, 1500).unwrap();
        assert_eq!(structure(&a), structure(&b));
        assert_eq!(a.free_blocks(MAX_ORDER), 2);
    }

    #[test]
    fn allocated_frames_record_an_owner_and_count_mappings_and_free_lists_survive() {
        let mut meta = metadata(64);
        let mut allocator = BuddyAllocator::new(&mut meta);
        allocator.add_free_range(0, 64).unwrap();
        let block = allocator.alloc(2, FrameState::User).unwrap();
        // Fresh frames: no owner, no mapping (the words were list links).
        for frame in block..block + 4 {
            assert_eq!(allocator.frame_use(frame), Some((None, 0)));
        }
        allocator.set_owner(block + 1, 7).unwrap();
        assert_eq!(allocator.count_mapping(block + 1, true), Ok(1));
        assert_eq!(allocator.count_mapping(block + 1, true), Ok(2));
        assert_eq!(allocator.count_mapping(block + 1, false), Ok(1));
        assert_eq!(allocator.frame_use(block + 1), Some((Some(7), 1)));
        assert_eq!(allocator.count_mapping(block, false), Err(RefError::Underflow));
        allocator.check_invariants().unwrap();
        allocator.free(block, 2).unwrap();
        // Free frames have no use, and the links the words hold again are sound.
        assert_eq!(allocator.frame_use(block + 1), None);
        assert_eq!(allocator.set_owner(block, 1), Err(RefError::NotAllocated));
        allocator.check_invariants().unwrap();
        let again = allocator.alloc(2, FrameState::User).unwrap();
        assert_eq!(allocator.frame_use(again + 1), Some((None, 0)), "no owner or count carried over");
    }

    #[test]
    fn adding_a_managed_or_bad_range_is_refused() {
        let mut meta = metadata(16);
        let mut allocator = BuddyAllocator::new(&mut meta);
        allocator.add_free_range(0, 8).unwrap();
        assert_eq!(allocator.add_free_range(4, 12), Err(AddError::AlreadyManaged(4)));
        assert_eq!(allocator.add_free_range(8, 17), Err(AddError::OutOfRange));
        assert_eq!(allocator.add_free_range(9, 9), Err(AddError::EmptyRange));
        assert_eq!(allocator.counts().free, 8);
        allocator.check_invariants().unwrap();
    }

    #[test]
    fn every_order_round_trips_with_natural_alignment() {
        let mut meta = metadata(1 << (MAX_ORDER + 1));
        let mut allocator = BuddyAllocator::new(&mut meta);
        allocator.add_free_range(0, 1 << (MAX_ORDER + 1)).unwrap();
        let initial = structure(&allocator);
        for order in 0..=MAX_ORDER {
            let frame = allocator.alloc(order, FrameState::User).unwrap();
            assert_eq!(frame % (1 << order), 0, "order {order}");
            assert_eq!(allocator.counts().user, 1 << order);
            assert_eq!(allocator.refcount(frame), Some(1));
            allocator.check_invariants().unwrap();
            allocator.free(frame, order).unwrap();
            assert_eq!(structure(&allocator), initial);
        }
    }

    #[test]
    fn huge_page_blocks_exist_in_a_2mib_aligned_range() {
        let mut meta = metadata(2048);
        let mut allocator = BuddyAllocator::new(&mut meta);
        allocator.add_free_range(512, 1024).unwrap();
        let frame = allocator.alloc(HUGE_2M_ORDER, FrameState::User).unwrap();
        assert_eq!(frame, 512);
        assert_eq!(allocator.alloc(0, FrameState::User), None);
    }

    #[test]
    fn exhaustion_returns_none_and_recovers_after_free() {
        let mut meta = metadata(8);
        let mut allocator = BuddyAllocator::new(&mut meta);
        allocator.add_free_range(0, 8).unwrap();
        let frames: Vec<u64> = (0..8).map(|_| allocator.alloc(0, FrameState::Kernel).unwrap()).collect();
        assert_eq!(allocator.alloc(0, FrameState::Kernel), None);
        assert_eq!(allocator.alloc(MAX_ORDER + 1, FrameState::Kernel), None);
        allocator.free(frames[5], 0).unwrap();
        assert_eq!(allocator.alloc(0, FrameState::Kernel), Some(frames[5]));
    }

    #[test]
    fn free_and_alloc_refuse_bad_requests_without_damage() {
        let mut meta = metadata(32);
        let mut allocator = BuddyAllocator::new(&mut meta);
        allocator.add_free_range(0, 32).unwrap();
        assert_eq!(allocator.alloc(0, FrameState::Free), None);
        assert_eq!(allocator.alloc(0, FrameState::Reserved), None);
        let block = allocator.alloc(2, FrameState::Kernel).unwrap();
        let before = allocator.counts();
        assert_eq!(allocator.free(99, 0), Err(FreeError::OutOfRange));
        assert_eq!(allocator.free(block + 1, 0), Err(FreeError::NotBlockHead));
        assert_eq!(allocator.free(block, 1), Err(FreeError::OrderMismatch));
        assert_eq!(allocator.free(block + 8, 0), Err(FreeError::NotAllocated));
        allocator.inc_ref(block).unwrap();
        assert_eq!(allocator.free(block, 2), Err(FreeError::StillReferenced));
        assert_eq!(allocator.counts(), before);
        allocator.check_invariants().unwrap();
        assert_eq!(allocator.dec_ref(block), Ok(1));
        allocator.free(block, 2).unwrap();
        assert_eq!(allocator.free(block, 2), Err(FreeError::NotAllocated));
        allocator.check_invariants().unwrap();
    }

    #[test]
    fn reference_counts_are_checked() {
        let mut meta = metadata(4);
        let mut allocator = BuddyAllocator::new(&mut meta);
        allocator.add_free_range(0, 4).unwrap();
        let block = allocator.alloc(1, FrameState::User).unwrap();
        assert_eq!(allocator.inc_ref(block), Ok(2));
        assert_eq!(allocator.dec_ref(block), Ok(1));
        assert_eq!(allocator.dec_ref(block), Ok(0));
        assert_eq!(allocator.dec_ref(block), Err(RefError::Underflow));
        assert_eq!(allocator.inc_ref(block + 1), Err(RefError::NotAllocated));
        assert_eq!(allocator.inc_ref(9), Err(RefError::OutOfRange));
        assert_eq!(allocator.refcount(block + 2), None);
        // A block whose count dropped to zero may still be freed by its owner.
        allocator.free(block, 1).unwrap();
        allocator.check_invariants().unwrap();
    }

    #[derive(Clone, Debug)]
    enum Step {
        Alloc(usize, bool),
        Free(usize),
        Share(usize),
        Unshare(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..=4usize, any::<bool>()).prop_map(|(order, user)| Step::Alloc(order, user)),
            3 => any::<usize>().prop_map(Step::Free),
            1 => any::<usize>().prop_map(Step::Share),
            1 => any::<usize>().prop_map(Step::Unshare),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn random_operations_match_a_simple_model(
            holes in proptest::collection::vec(0..600u64, 0..6),
            steps in proptest::collection::vec(step(), 1..200),
        ) {
            let frames = 600u64;
            let mut meta = metadata(frames as usize);
            let mut allocator = BuddyAllocator::new(&mut meta);
            let mut holes = holes;
            holes.sort_unstable();
            holes.dedup();
            let mut start = 0;
            for &hole in holes.iter().chain([&frames]) {
                if start < hole {
                    allocator.add_free_range(start, hole).unwrap();
                }
                start = hole + 1;
            }
            allocator.check_invariants().unwrap();
            let initial = structure(&allocator);
            let initial_counts = allocator.counts();
            let mut used = vec![false; frames as usize];
            let mut live: Vec<(u64, usize, u32)> = Vec::new();
            for step in steps {
                match step {
                    Step::Alloc(order, user) => {
                        let state = if user { FrameState::User } else { FrameState::Kernel };
                        if let Some(frame) = allocator.alloc(order, state) {
                            prop_assert_eq!(frame % (1 << order), 0);
                            for inner in frame..frame + (1 << order) {
                                prop_assert!(!used[inner as usize], "frame {} handed out twice", inner);
                                prop_assert!(!holes.contains(&inner), "hole {} handed out", inner);
                                used[inner as usize] = true;
                            }
                            live.push((frame, order, 1));
                        }
                    }
                    Step::Free(pick) if !live.is_empty() => {
                        let (frame, order, refs) = live[pick % live.len()];
                        if refs > 1 {
                            prop_assert_eq!(allocator.free(frame, order), Err(FreeError::StillReferenced));
                        } else {
                            allocator.free(frame, order).unwrap();
                            for inner in frame..frame + (1 << order) {
                                used[inner as usize] = false;
                            }
                            live.swap_remove(pick % live.len());
                        }
                    }
                    Step::Share(pick) if !live.is_empty() => {
                        let index = pick % live.len();
                        live[index].2 = allocator.inc_ref(live[index].0).unwrap();
                    }
                    Step::Unshare(pick) if !live.is_empty() => {
                        let index = pick % live.len();
                        if live[index].2 > 1 {
                            live[index].2 = allocator.dec_ref(live[index].0).unwrap();
                        }
                    }
                    _ => {}
                }
                let in_use = used.iter().filter(|&&u| u).count() as u64;
                prop_assert_eq!(allocator.counts().free, initial_counts.free - in_use);
                prop_assert_eq!(allocator.counts().total(), frames);
            }
            allocator.check_invariants().unwrap();
            for (frame, order, refs) in live {
                for _ in 1..refs {
                    allocator.dec_ref(frame).unwrap();
                }
                allocator.free(frame, order).unwrap();
            }
            allocator.check_invariants().unwrap();
            prop_assert_eq!(structure(&allocator), initial);
            prop_assert_eq!(allocator.counts(), initial_counts);
        }
    }
}
