//! A simulated MMU and frame pool behind the engine's traits: the host
//! tests, the policy tests and the host simulator (`cargo xtask sim`) run
//! the very engine the kernel runs, against these.
//!
//! The MMU has 4 KiB and 2 MiB entries with accessed and dirty bits; the
//! pool keeps a word of contents per frame and a swap store with fault
//! injection (chosen slots' next read or write fails), so tests check
//! that data survives eviction and swap-in.

#![forbid(unsafe_code)]

use super::swap::{Slot, SwapError, checksum};
use super::*;
use abi::Rights;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// Page tables as maps (4 KiB entries and 2 MiB entries), with accessed
/// bits the test sets by "touching".
#[derive(Default)]
pub struct SimulatedMmu {
    /// 4 KiB entries: (space, page) → (frame, rights).
    pub entries: BTreeMap<(SpaceId, Page), (Frame, Rights)>,
    /// 2 MiB entries, by first page.
    pub huge: BTreeMap<(SpaceId, Page), (Frame, Rights)>,
    /// Entries whose accessed bit is set (2 MiB pages by first page).
    pub accessed: BTreeSet<(SpaceId, Page)>,
    /// Entries whose dirty bit is set (2 MiB pages by first page).
    pub dirty: BTreeSet<(SpaceId, Page)>,
    /// Unmappings whose flush token was not handed back yet.
    pub pending_flushes: u64,
    /// Flushes carried out.
    pub flushes: u64,
}

impl SimulatedMmu {
    /// The program touches a mapped page: the processor sets the accessed
    /// bit of its entry (for a 2 MiB page, the one entry of the block).
    pub fn touch(&mut self, space: SpaceId, page: Page) {
        if self.entries.contains_key(&(space, page)) {
            self.accessed.insert((space, page));
        } else if self.huge.contains_key(&(space, block_of(page))) {
            self.accessed.insert((space, block_of(page)));
        }
    }

    /// The program writes a mapped page: the processor sets the accessed
    /// and dirty bits of its entry.
    pub fn write(&mut self, space: SpaceId, page: Page) {
        self.touch(space, page);
        if self.entries.contains_key(&(space, page)) {
            self.dirty.insert((space, page));
        } else if self.huge.contains_key(&(space, block_of(page))) {
            self.dirty.insert((space, block_of(page)));
        }
    }

    /// The program makes `access` to a mapped page: [`touch`](Self::touch)
    /// for a read or fetch, [`write`](Self::write) for a write.
    pub fn access(&mut self, space: SpaceId, page: Page, access: Access) {
        if access == Access::Write {
            self.write(space, page);
        } else {
            self.touch(space, page);
        }
    }

    /// The key of the entry holding `page`'s accessed and dirty bits (a
    /// 2 MiB page's first page).
    fn entry_key(&self, space: SpaceId, page: Page) -> (SpaceId, Page) {
        if self.huge.contains_key(&(space, block_of(page))) { (space, block_of(page)) } else { (space, page) }
    }

    /// Pages mapped, counting 512 per 2 MiB page.
    pub fn mapped_pages(&self) -> usize {
        self.entries.len() + self.huge.len() * HUGE_PAGES as usize
    }
}

impl SimulatedMmu {
    /// What maps `page` of `space` now (what the tests inspect).
    pub fn entry(&self, space: SpaceId, page: Page) -> Option<Entry> {
        let key = self.entry_key(space, page);
        let (frame, rights, huge) = match self.entries.get(&(space, page)) {
            Some(&(frame, rights)) => (frame, rights, false),
            None => self.huge.get(&key).map(|&(frame, rights)| (frame + page - key.1, rights, true))?,
        };
        Some(Entry { frame, rights, accessed: self.accessed.contains(&key), dirty: self.dirty.contains(&key), huge })
    }

    /// The frame and rights `page` of `space` maps to.
    pub fn translate(&self, space: SpaceId, page: Page) -> Option<(Frame, Rights)> {
        self.entry(space, page).map(|entry| (entry.frame, entry.rights))
    }

    /// Whether the accessed bit of the entry mapping `page` is set.
    pub fn accessed(&self, space: SpaceId, page: Page) -> bool {
        self.accessed.contains(&self.entry_key(space, page))
    }

    /// Clears the accessed bit of the entry mapping `page`; returns whether
    /// it was set.
    pub fn clear_accessed(&mut self, space: SpaceId, page: Page) -> bool {
        let key = self.entry_key(space, page);
        self.accessed.remove(&key)
    }

    /// Whether the dirty bit of the entry mapping `page` is set.
    pub fn dirty(&self, space: SpaceId, page: Page) -> bool {
        self.dirty.contains(&self.entry_key(space, page))
    }
}

/// A place in a range of one simulated space's pages, over the MMU
/// borrowed as `M`: shared for a walk, exclusive for a cursor.
pub struct SimulatedPlace<M> {
    mmu: M,
    place: Place,
}

/// A place in a range of one simulated space's pages, read-only.
pub type SimulatedWalk<'a> = SimulatedPlace<&'a SimulatedMmu>;
/// A place in a range of one simulated space's pages, to change them.
pub type SimulatedCursor<'a> = SimulatedPlace<&'a mut SimulatedMmu>;

impl PageTable for SimulatedMmu {
    type Walk<'a> = SimulatedWalk<'a>;
    type Cursor<'a> = SimulatedCursor<'a>;

    fn walk(&self, space: SpaceId, pages: PageRange) -> Option<SimulatedWalk<'_>> {
        Some(SimulatedPlace { mmu: self, place: Place::new(space, pages) })
    }

    fn cursor(&mut self, space: SpaceId, pages: PageRange) -> Option<SimulatedCursor<'_>> {
        Some(SimulatedPlace { mmu: self, place: Place::new(space, pages) })
    }

    fn reaches(&self, _space: SpaceId) -> bool {
        true
    }
}

impl<M: core::ops::Deref<Target = SimulatedMmu>> Walk for SimulatedPlace<M> {
    fn place(&self) -> &Place {
        &self.place
    }

    fn place_mut(&mut self) -> &mut Place {
        &mut self.place
    }

    fn entry(&self) -> Option<Entry> {
        self.mmu.entry(self.place.space(), self.place.here()?)
    }
}

impl SimulatedCursor<'_> {
    /// The space and the page under the cursor (none if its range is empty).
    fn here(&self) -> Result<(SpaceId, Page), VassError> {
        self.place.here().map(|page| (self.place.space(), page)).ok_or(VassError::PageTable)
    }

    /// Sets the rights of the 4 KiB entry of the page (or with `huge` of
    /// the 2 MiB entry starting there).
    fn set_rights(&mut self, huge: bool, rights: Rights) -> Result<(), VassError> {
        let key = self.here()?;
        let entries = if huge { &mut self.mmu.huge } else { &mut self.mmu.entries };
        entries.get_mut(&key).ok_or(VassError::PageTable)?.1 = rights;
        Ok(())
    }

    /// Removes the 4 KiB entry of the page (or with `huge` the 2 MiB entry
    /// starting there) with its accessed and dirty bits; the token waits
    /// for its flush.
    fn remove(&mut self, huge: bool) -> Option<Flush> {
        let (space, page) = self.here().ok()?;
        let mmu = &mut *self.mmu;
        mmu.accessed.remove(&(space, page));
        mmu.dirty.remove(&(space, page));
        let entries = if huge { &mut mmu.huge } else { &mut mmu.entries };
        let (frame, _) = entries.remove(&(space, page))?;
        mmu.pending_flushes += 1;
        Some(Flush::new(space, page, frame, if huge { HUGE_PAGES } else { 1 }))
    }
}

impl Cursor for SimulatedCursor<'_> {
    fn map(&mut self, frame: &UserFrame, rights: Rights) -> Result<(), VassError> {
        let (space, page) = self.here()?;
        let mmu = &mut *self.mmu;
        if mmu.huge.contains_key(&(space, block_of(page))) || mmu.entries.insert((space, page), (frame.number(), rights)).is_some() {
            return Err(VassError::PageTable);
        }
        mmu.dirty.remove(&(space, page));
        Ok(())
    }

    fn unmap(&mut self) -> Option<Flush> {
        self.remove(false)
    }

    fn protect(&mut self, rights: Rights) -> Result<(), VassError> {
        self.set_rights(false, rights)
    }

    fn clear_accessed(&mut self) -> bool {
        let Ok((space, page)) = self.here() else { return false };
        self.mmu.clear_accessed(space, page)
    }

    fn map_huge(&mut self, run: &HugeRun, rights: Rights) -> Result<(), VassError> {
        let (space, page) = self.here()?;
        let frame = run.first();
        assert!(page.is_multiple_of(HUGE_PAGES) && frame.is_multiple_of(HUGE_PAGES), "misaligned 2 MiB mapping");
        let mmu = &mut *self.mmu;
        if mmu.entries.range((space, page)..(space, page + HUGE_PAGES)).next().is_some() || mmu.huge.contains_key(&(space, page)) {
            return Err(VassError::PageTable);
        }
        mmu.accessed.remove(&(space, page));
        mmu.huge.insert((space, page), (frame, rights));
        Ok(())
    }

    fn unmap_huge(&mut self) -> Option<Flush> {
        self.remove(true)
    }

    fn protect_huge(&mut self, rights: Rights) -> Result<(), VassError> {
        self.set_rights(true, rights)
    }

    fn mark_faulted(&mut self, access: Access) {
        if let Ok((space, page)) = self.here() {
            self.mmu.access(space, page, access);
        }
    }

    fn flush(&mut self, flush: Flush) -> Flushed {
        self.mmu.pending_flushes -= 1;
        self.mmu.flushes += 1;
        flush.done()
    }
}

/// A pool of `limit` scattered 4 KiB frames and `huge_limit` 2 MiB runs,
/// with contents (one word per frame, absent = zero) to check that data
/// survives promotion and demotion.
pub struct SimulatedFrames {
    /// Free 4 KiB frames (the next one handed out is last).
    pub free: Vec<Frame>,
    /// Allocated 4 KiB frames.
    pub allocated: BTreeSet<Frame>,
    /// Free 2 MiB runs (first frames).
    pub huge_free: Vec<Frame>,
    /// Allocated 2 MiB runs (first frames).
    pub huge_allocated: BTreeSet<Frame>,
    /// One word of contents per frame (absent: zero).
    pub contents: BTreeMap<Frame, u64>,
    /// 4 KiB frames in use (a 2 MiB run counts 512).
    pub in_use: usize,
    /// Slots of the simulated swap device.
    pub swap_slots: u64,
    /// Its contents: one word per slot written.
    pub swap: BTreeMap<Slot, u64>,
    /// Slots whose next read or write fails with an I/O error (fault
    /// injection).
    pub failing: BTreeSet<Slot>,
    /// Slots reads or writes were asked of, in order (for tests).
    pub swap_log: Vec<(bool, Slot)>,
    /// Owner and mapping count of each allocated frame.
    pub usage: BTreeMap<Frame, FrameUse>,
}

impl SimulatedFrames {
    /// `limit` 4 KiB frames and four 2 MiB runs.
    pub fn new(limit: u64) -> SimulatedFrames {
        SimulatedFrames::with_huge(limit, 4)
    }

    /// `limit` 4 KiB frames and `huge_limit` 2 MiB runs.
    pub fn with_huge(limit: u64, huge_limit: u64) -> SimulatedFrames {
        // Interleave to make physical placement scattered, as on a real machine.
        let mut free: Vec<Frame> = (0..limit).map(|i| (i * 7919) % limit + 0x1000).collect();
        free.reverse();
        let huge_free = (0..huge_limit).map(|i| 0x100_0000 + i * HUGE_PAGES).rev().collect();
        SimulatedFrames {
            free,
            allocated: BTreeSet::new(),
            huge_free,
            huge_allocated: BTreeSet::new(),
            contents: BTreeMap::new(),
            in_use: 0,
            swap_slots: 0,
            swap: BTreeMap::new(),
            failing: BTreeSet::new(),
            swap_log: Vec::new(),
            usage: BTreeMap::new(),
        }
    }
}

impl FrameSource for SimulatedFrames {
    fn allocate(&mut self, owner: PartitionId) -> Option<UserFrame> {
        let frame = self.free.pop()?;
        self.allocated.insert(frame);
        self.contents.remove(&frame);
        self.usage.insert(frame, FrameUse { owner: Some(owner), mappings: 0 });
        self.in_use += 1;
        Some(UserFrame::held(frame))
    }

    fn free(&mut self, frame: UserFrame) {
        let frame = frame.number();
        let mappings = self.usage.get(&frame).map_or(0, |usage| usage.mappings);
        assert_eq!(mappings, 0, "frame {frame:#x} freed while {mappings} page-table entries map it");
        assert!(self.allocated.remove(&frame), "frame {frame:#x} freed twice or never allocated");
        self.usage.remove(&frame);
        self.in_use -= 1;
        self.free.push(frame);
    }

    fn mapped(&mut self, frame: &UserFrame) {
        self.usage.entry(frame.number()).or_default().mappings += 1;
    }

    fn mapped_huge(&mut self, run: &HugeRun) {
        for frame in run.first()..run.first() + HUGE_PAGES {
            self.usage.entry(frame).or_default().mappings += 1;
        }
    }

    fn unmapped(&mut self, flushed: Flushed) {
        for frame in flushed.frame()..flushed.frame() + flushed.pages() {
            let usage = self.usage.entry(frame).or_default();
            assert!(usage.mappings > 0, "frame {frame:#x} unmapped more often than mapped");
            usage.mappings -= 1;
        }
    }

    fn usage(&self, frame: Frame) -> FrameUse {
        self.usage.get(&frame).copied().unwrap_or_default()
    }

    fn holds(&self, frame: Frame) -> bool {
        self.allocated.contains(&frame)
    }

    fn allocate_huge(&mut self, owner: PartitionId) -> Option<HugeRun> {
        let base = self.huge_free.pop()?;
        self.huge_allocated.insert(base);
        for frame in base..base + HUGE_PAGES {
            self.contents.remove(&frame);
            self.usage.insert(frame, FrameUse { owner: Some(owner), mappings: 0 });
        }
        self.in_use += HUGE_PAGES as usize;
        Some(HugeRun::held(base))
    }

    fn split_huge(&mut self, first: &UserFrame) {
        let frame = first.number();
        assert!(self.huge_allocated.remove(&frame), "splitting {frame:#x}, which is not a 2 MiB allocation");
        self.allocated.extend(frame..frame + HUGE_PAGES);
    }

    fn holds_huge(&self, frame: Frame) -> bool {
        self.huge_allocated.contains(&frame)
    }

    fn copy_into_run(&mut self, from: &UserFrame, run: &HugeRun, offset: u64) {
        let (from, to) = (from.number(), run.first() + offset);
        match self.contents.get(&from).copied() {
            Some(value) => self.contents.insert(to, value),
            None => self.contents.remove(&to),
        };
    }

    fn copy_frame(&mut self, from: &UserFrame, to: &UserFrame) {
        match self.contents.get(&from.number()).copied() {
            Some(value) => self.contents.insert(to.number(), value),
            None => self.contents.remove(&to.number()),
        };
    }

    fn swap_slots(&self) -> u64 {
        self.swap_slots
    }

    fn swap_out(&mut self, frame: &UserFrame, slot: Slot) -> Result<u32, SwapError> {
        let frame = frame.number();
        self.swap_log.push((true, slot));
        if slot >= Slot(self.swap_slots) || self.failing.remove(&slot) {
            return Err(SwapError::Io);
        }
        let value = self.contents.get(&frame).copied().unwrap_or(0);
        self.swap.insert(slot, value);
        Ok(checksum(&value.to_le_bytes()))
    }

    fn swap_in(&mut self, slot: Slot, frame: &UserFrame, expected: u32) -> Result<(), SwapError> {
        let frame = frame.number();
        self.swap_log.push((false, slot));
        if slot >= Slot(self.swap_slots) || self.failing.remove(&slot) {
            return Err(SwapError::Io);
        }
        let value = self.swap.get(&slot).copied().unwrap_or(0);
        if checksum(&value.to_le_bytes()) != expected {
            return Err(SwapError::Corrupt);
        }
        if value == 0 {
            self.contents.remove(&frame);
        } else {
            self.contents.insert(frame, value);
        }
        Ok(())
    }
}

