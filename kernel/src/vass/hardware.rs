//! The VASS core on the real machine: the page tables of a process's
//! [`UserSpace`] and the kernel's frame allocator behind the engine's traits.
//!
//! - [`SpaceTables`]: one space's page tables; [`SystemTables`]: every
//!   process's, borrowed from the memory service's map of spaces and
//!   working for the running one, so a commit can evict another process's
//!   pages. Both open a [`SpaceWalk`] or a [`SpaceCursor`] over a range of
//!   one space's pages (the space is found once): entries with their
//!   accessed and dirty bits, map, unmap, protect, 2 MiB entries, TLB
//!   flushes.
//! - [`KernelFrames`]: zeroed user frames from the buddy allocator, the
//!   frame metadata's mapping counts and owners, and swap I/O through
//!   `dev::swap_disk()` (pages seen through the physical-memory map,
//!   CRC-32C checksummed, polled under the memory-service lock). One value
//!   serves one operation for one process and adds up the TSC cycles its
//!   swap reads and writes took, which the memory service charges to that
//!   process.
//! - [`lost_copy`] remembers why each quarantined slot's copy was lost
//!   (device error, checksum mismatch, injected by `swap_debug`) for the
//!   report that kills its process.

use super::swap::{self, Slot, SwapError};
use super::{Access, Cursor, Entry, Flush, Flushed, Frame, FrameSource, FrameUse, HugeRun, Page, PageRange, PageTable, PartitionId, Place, SpaceId, UserFrame, VassError, Walk, HUGE_PAGES};
use crate::arch::cpu;
use crate::mm::buddy::{FrameState, HUGE_2M_ORDER};
use crate::mm::frame::{self, OwnedFrames, FRAME_SIZE};
use crate::mm::user::{StaleEntry, UserSpace};
use abi::Rights;
use alloc::collections::BTreeMap;
use core::ops::Deref;
use x86_64::structures::paging::{Page as HardwarePage, PageTableFlags, PhysFrame, Size2MiB};

/// A 2 MiB virtual page.
type HugePage = HardwarePage<Size2MiB>;
use x86_64::{PhysAddr, VirtAddr};

/// Zero-filled user frames from the buddy allocator, and the swap disk.
///
/// One value serves one operation on behalf of one process: it adds up the
/// time-stamp-counter cycles its swap reads and writes took (guest
/// instructions under `-icount`), which the caller charges to that process
/// (`Vass::add_swap_io_cycles`). Evictions only ever take pages of the space
/// that needs room, so the process that waited for the I/O is the one whose
/// pages moved.
#[derive(Debug, Default)]
pub struct KernelFrames {
    swap_io_cycles: u64,
}

impl KernelFrames {
    /// Frames for one operation, no swap I/O counted yet.
    pub const fn new() -> KernelFrames {
        KernelFrames { swap_io_cycles: 0 }
    }

    /// Cycles spent in swap I/O through this value: the page's checksum,
    /// the request and polling the disk until it completes.
    pub fn swap_io_cycles(&self) -> u64 {
        self.swap_io_cycles
    }

    /// Runs `io` and adds the cycles it took.
    fn timed<R>(&mut self, io: impl FnOnce() -> R) -> R {
        let started = cpu::rdtsc();
        let result = io();
        self.swap_io_cycles += cpu::rdtsc().wrapping_sub(started);
        result
    }
}

/// The physical frame numbered `frame`.
fn physical(frame: Frame) -> PhysFrame {
    PhysFrame::containing_address(PhysAddr::new(frame * FRAME_SIZE))
}

/// Records `owner` as the owner of `frames` frames from `first` in the
/// frame metadata (the reverse map). Partition ids of `u32::MAX` and above
/// are not recorded: the metadata says "unknown" for them.
fn record_owner(first: PhysFrame, frames: u64, owner: PartitionId) {
    let Some(owner) = u32::try_from(owner.0).ok().filter(|&owner| owner != u32::MAX) else { return };
    for frame in 0..frames {
        let _ = frame::set_owner(first + frame, owner);
    }
}

/// Counts one more (`add`) or one fewer mapping of `frames` frames from `first`.
fn count_mappings(first: Frame, frames: u64, add: bool) {
    for frame in first..first + frames {
        if let Err(error) = frame::count_mapping(physical(frame), add) {
            log::error!("vass: mapping count of frame {frame:#x}: {error:?}");
        }
    }
}

impl FrameSource for KernelFrames {
    fn allocate(&mut self, owner: PartitionId) -> Option<UserFrame> {
        let frame = OwnedFrames::alloc_zeroed(0, FrameState::User)?.leak();
        record_owner(frame, 1, owner);
        Some(UserFrame::held(frame.start_address().as_u64() / FRAME_SIZE))
    }

    fn mapped(&mut self, frame: &UserFrame) {
        count_mappings(frame.number(), 1, true);
    }

    fn mapped_huge(&mut self, run: &HugeRun) {
        count_mappings(run.first(), HUGE_PAGES, true);
    }

    fn unmapped(&mut self, flushed: Flushed) {
        count_mappings(flushed.frame(), flushed.pages(), false);
    }

    fn usage(&self, frame: Frame) -> FrameUse {
        frame::frame_use(physical(frame))
            .map_or(FrameUse::default(), |(owner, mappings)| FrameUse { owner: owner.map(|owner| PartitionId(u64::from(owner))), mappings })
    }

    fn holds(&self, frame: Frame) -> bool {
        let frame = PhysFrame::containing_address(PhysAddr::new(frame * FRAME_SIZE));
        frame::state(frame) == Some(FrameState::User) && frame::refcount(frame) == Some(1)
    }

    fn allocate_huge(&mut self, owner: PartitionId) -> Option<HugeRun> {
        let first = OwnedFrames::alloc_zeroed(HUGE_2M_ORDER, FrameState::User)?.leak();
        record_owner(first, HUGE_PAGES, owner);
        Some(HugeRun::held(first.start_address().as_u64() / FRAME_SIZE))
    }

    fn split_huge(&mut self, first: &UserFrame) {
        let frame = physical(first.number());
        if let Err(error) = frame::split(frame, HUGE_2M_ORDER) {
            log::error!("vass: splitting 2 MiB run {frame:?} failed: {error:?}");
        }
    }

    fn holds_huge(&self, frame: Frame) -> bool {
        let head = PhysFrame::containing_address(PhysAddr::new(frame * FRAME_SIZE));
        // One block: the head has the only reference; the frame after it
        // heads nothing (it would, had the run been split).
        frame::state(head) == Some(FrameState::User) && frame::refcount(head) == Some(1) && frame::refcount(head + 1).is_none()
    }

    fn copy_into_run(&mut self, from: &UserFrame, run: &HugeRun, offset: u64) {
        // SAFETY: one frame is committed, the other in a run just allocated
        // for a promotion and mapped nowhere yet: distinct, both held.
        unsafe { copy_contents(from.number(), run.first() + offset.min(HUGE_PAGES - 1)) };
    }

    fn copy_frame(&mut self, from: &UserFrame, to: &UserFrame) {
        // SAFETY: both are held; `to` was just allocated, mapped nowhere.
        unsafe { copy_contents(from.number(), to.number()) };
    }

    fn free(&mut self, frame: UserFrame) {
        let frame = physical(frame.number());
        if let Some((_, mappings)) = frame::frame_use(frame)
            && mappings > 0
        {
            // A translation to it may live on: never reuse it.
            log::error!("vass: frame {frame:?} freed while {mappings} entries map it: kept allocated");
            return;
        }
        if let Err(error) = frame::free(frame, 0) {
            log::error!("vass: freeing frame {frame:?} failed: {error:?}");
        }
    }

    // The swap device is the virtio disk `dev::swap_disk` found at boot
    // (none: zero slots, so only pages that are all zero can be evicted).
    // I/O is synchronous: the faulting process waits while the disk is
    // polled (see `dev::swap_disk` for the cost).
    fn swap_slots(&self) -> u64 {
        crate::dev::swap_disk().map_or(0, |disk| disk.lock().slots())
    }

    fn swap_out(&mut self, frame: &UserFrame, slot: Slot) -> Result<u32, SwapError> {
        let disk = crate::dev::swap_disk().ok_or(SwapError::Full)?;
        let page = frame_bytes(frame);
        let (checksum, written) = self.timed(|| (swap::checksum(page), disk.lock().write_page(slot.0, page)));
        written.map_err(|error| {
            log::warn!("swap: writing slot {slot}: {error} (the slot is quarantined)");
            SwapError::Io
        })?;
        Ok(checksum)
    }

    fn swap_in(&mut self, slot: Slot, frame: &UserFrame, checksum: u32) -> Result<(), SwapError> {
        let lost = if FAILING_READS.lock().remove(&slot) {
            LostCopy::Injected
        } else if let Some(disk) = crate::dev::swap_disk() {
            let page = frame_bytes_mut(frame);
            match self.timed(|| disk.lock().read_page(slot.0, page).map(|()| swap::checksum(page))) {
                Err(error) => LostCopy::Unreadable(error),
                Ok(found) if found == checksum => return Ok(()),
                Ok(found) => LostCopy::Corrupt { found, written: checksum },
            }
        } else {
            LostCopy::NoDisk
        };
        log::warn!("swap: reading slot {slot}: {lost}");
        // The engine quarantines the slot on any error, so each slot is
        // recorded at most once and the record stays true.
        LOST_COPIES.lock().insert(slot, lost);
        Err(match lost {
            LostCopy::Corrupt { .. } => SwapError::Corrupt,
            LostCopy::NoDisk | LostCopy::Injected | LostCopy::Unreadable(_) => SwapError::Io,
        })
    }
}

/// Why a page's copy in a swap slot could not be brought back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostCopy {
    /// There is no swap disk (any more).
    NoDisk,
    /// `swap_debug` made the read fail.
    Injected,
    /// The disk could not read the slot.
    Unreadable(crate::dev::DiskError),
    /// The slot read back with another checksum than its page was written with.
    Corrupt {
        /// CRC-32C of what was read.
        found: u32,
        /// CRC-32C of what was written.
        written: u32,
    },
}

impl core::fmt::Display for LostCopy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LostCopy::NoDisk => f.write_str("no swap disk"),
            LostCopy::Injected => f.write_str("injected read error (swap-debug)"),
            LostCopy::Unreadable(error) => write!(f, "read failed: {error}"),
            LostCopy::Corrupt { found, written } => {
                write!(f, "checksum mismatch: read back {found:#010x}, written with {written:#010x}")
            }
        }
    }
}

/// Slots whose next read fails as a device error would (`swap_debug`).
static FAILING_READS: spin::Mutex<alloc::collections::BTreeSet<Slot>> = spin::Mutex::new(alloc::collections::BTreeSet::new());

/// Slots whose copy could not be brought back, and why (kept for the
/// report when the page's process is killed; at most one entry per
/// quarantined slot).
static LOST_COPIES: spin::Mutex<alloc::collections::BTreeMap<Slot, LostCopy>> = spin::Mutex::new(alloc::collections::BTreeMap::new());

/// Makes the next read of `slot` fail (fault injection for the tests).
pub fn fail_next_read(slot: Slot) {
    FAILING_READS.lock().insert(slot);
}

/// Why the copy in `slot` could not be read back, if a read of it failed.
pub fn lost_copy(slot: Slot) -> Option<LostCopy> {
    LOST_COPIES.lock().get(&slot).copied()
}

/// The contents of held user frame `frame`, through the physical-memory
/// map, for as long as the frame is borrowed.
fn frame_bytes(frame: &UserFrame) -> &[u8; FRAME_SIZE as usize] {
    let address = frame::phys_to_virt(PhysAddr::new(frame.number() * FRAME_SIZE)).as_ptr::<[u8; FRAME_SIZE as usize]>();
    // SAFETY: the engine holds the frame (committed to a page it is
    // evicting): FRAME_SIZE bytes of RAM mapped by the physical-memory map,
    // not freed while it is borrowed, which bounds the reference.
    unsafe { &*address }
}

/// Copies the contents of frame `from` into frame `to`.
///
/// # Safety
///
/// Both must be distinct user frames the engine holds (RAM of FRAME_SIZE
/// bytes each, seen through the physical-memory mapping), `to` read and
/// written by nothing else meanwhile, and `from` written by nothing (one
/// processor, the memory service's lock held, interrupts off).
unsafe fn copy_contents(from: Frame, to: Frame) {
    let source = frame::phys_to_virt(PhysAddr::new(from * FRAME_SIZE)).as_ptr::<u8>();
    let target = frame::phys_to_virt(PhysAddr::new(to * FRAME_SIZE)).as_mut_ptr::<u8>();
    // SAFETY: the caller's contract: two distinct frames of FRAME_SIZE bytes.
    unsafe { core::ptr::copy_nonoverlapping(source, target, FRAME_SIZE as usize) };
}

/// The contents of held user frame `frame`, writable.
#[allow(clippy::mut_from_ref)]
fn frame_bytes_mut(frame: &UserFrame) -> &mut [u8; FRAME_SIZE as usize] {
    let address = frame::phys_to_virt(PhysAddr::new(frame.number() * FRAME_SIZE)).as_mut_ptr::<[u8; FRAME_SIZE as usize]>();
    // SAFETY: the engine passes a frame it just allocated and has not mapped
    // anywhere yet: nothing else reads or writes it while it is filled, and
    // the reference lives no longer than the borrow of the held frame.
    unsafe { &mut *address }
}

/// The page tables of one address space.
pub struct SpaceTables<'a> {
    /// The space's id in the VASS.
    pub id: SpaceId,
    /// Its page tables.
    pub space: &'a mut UserSpace,
}

fn flags(rights: Rights) -> PageTableFlags {
    let mut flags = PageTableFlags::empty();
    flags.set(PageTableFlags::WRITABLE, rights.contains(Rights::WRITE));
    flags.set(PageTableFlags::NO_EXECUTE, !rights.contains(Rights::EXECUTE));
    flags
}

fn rights(flags: PageTableFlags) -> Rights {
    let mut rights = Rights::READ;
    rights.set(Rights::WRITE, flags.contains(PageTableFlags::WRITABLE));
    rights.set(Rights::EXECUTE, !flags.contains(PageTableFlags::NO_EXECUTE));
    rights
}

fn hardware_page(page: Page) -> Option<HardwarePage> {
    let address = VirtAddr::try_new(page.checked_mul(FRAME_SIZE)?).ok()?;
    Some(HardwarePage::containing_address(address))
}

/// What maps `page` in `space`, as the engine sees it.
fn entry_in(space: &UserSpace, page: Page) -> Option<Entry> {
    let (physical, page_flags) = space.translate(hardware_page(page)?.start_address())?;
    Some(Entry {
        frame: physical.as_u64() / FRAME_SIZE,
        rights: rights(page_flags),
        accessed: page_flags.contains(PageTableFlags::ACCESSED),
        dirty: page_flags.contains(PageTableFlags::DIRTY),
        huge: page_flags.contains(PageTableFlags::HUGE_PAGE),
    })
}

/// A place in a range of one space's pages, over its tables borrowed as
/// `S`: shared for a [`SpaceWalk`], exclusive for a [`SpaceCursor`], whose
/// changes go to the page tables (TLB entries are flushed when the space
/// is the one loaded; see [`UserSpace::flush`]).
pub struct SpacePlace<S> {
    space: S,
    place: Place,
}

/// A place in a range of one space's pages, read-only.
pub type SpaceWalk<'a> = SpacePlace<&'a UserSpace>;
/// A place in a range of one space's pages, to change them.
pub type SpaceCursor<'a> = SpacePlace<&'a mut UserSpace>;

impl<S: Deref<Target = UserSpace>> Walk for SpacePlace<S> {
    fn place(&self) -> &Place {
        &self.place
    }

    fn place_mut(&mut self) -> &mut Place {
        &mut self.place
    }

    fn entry(&self) -> Option<Entry> {
        entry_in(&self.space, self.place.here()?)
    }
}

impl SpaceCursor<'_> {
    /// The 4 KiB page under the cursor (none if its range is empty).
    fn here(&self) -> Option<HardwarePage> {
        hardware_page(self.place.here()?)
    }

    /// The 2 MiB page starting under the cursor.
    fn here_huge(&self) -> Option<HugePage> {
        HugePage::from_start_address(self.here()?.start_address()).ok()
    }

    /// Replaces the flags of the entry mapping the page (the 2 MiB entry
    /// for a page inside a 2 MiB page), which flushes its TLB entry.
    fn set_flags(&mut self, page: HardwarePage, old: PageTableFlags, new: PageTableFlags) {
        let _ = if old.contains(PageTableFlags::HUGE_PAGE) {
            self.space.set_huge_flags(HugePage::containing_address(page.start_address()), new)
        } else {
            self.space.set_page_flags(page, new)
        };
    }

    /// The accessed and dirty bits of the entry mapping `page`, which a
    /// change of rights keeps (the processor's record of use is not ours
    /// to drop).
    fn status_bits(&self, page: HardwarePage) -> PageTableFlags {
        let status = PageTableFlags::ACCESSED | PageTableFlags::DIRTY;
        self.space.translate(page.start_address()).map_or(PageTableFlags::empty(), |(_, flags)| flags & status)
    }
}

impl Cursor for SpaceCursor<'_> {
    fn map(&mut self, frame: &UserFrame, rights: Rights) -> Result<(), VassError> {
        let page = self.here().ok_or(VassError::PageTable)?;
        // SAFETY: the engine holds the frame (from `KernelFrames`), commits
        // it to this page alone and frees it only after `unmap` and the
        // flush of the token it returns (its mapping count says so).
        unsafe { self.space.map_frame(page, physical(frame.number()), flags(rights)) }.map_err(|_| VassError::PageTable)
    }

    fn unmap(&mut self) -> Option<Flush> {
        let (frame, stale) = self.space.unmap_page(self.here()?)?;
        // The token carries the stale entry until `flush`.
        let _ = stale.into_address();
        Some(Flush::new(self.place.space(), self.place.here()?, frame.start_address().as_u64() / FRAME_SIZE, 1))
    }

    fn protect(&mut self, rights: Rights) -> Result<(), VassError> {
        let page = self.here().ok_or(VassError::PageTable)?;
        let status = self.status_bits(page);
        self.space.set_page_flags(page, flags(rights) | status).map_err(|_| VassError::PageTable)
    }

    fn clear_accessed(&mut self) -> bool {
        let Some(page) = self.here() else { return false };
        let Some((_, page_flags)) = self.space.translate(page.start_address()) else { return false };
        let accessed = page_flags.contains(PageTableFlags::ACCESSED);
        if accessed {
            // Dropping the bit (and the TLB entry, flushed by the update)
            // makes the processor set it again on the next access.
            self.set_flags(page, page_flags, page_flags - PageTableFlags::ACCESSED);
        }
        accessed
    }

    fn map_huge(&mut self, run: &HugeRun, rights: Rights) -> Result<(), VassError> {
        let page = self.here_huge().ok_or(VassError::PageTable)?;
        let frame = PhysFrame::from_start_address(PhysAddr::new(run.first() * FRAME_SIZE)).map_err(|_| VassError::PageTable)?;
        // SAFETY: the engine holds the run (from `KernelFrames::allocate_huge`)
        // for this 2 MiB page alone and frees its frames only after
        // `unmap_huge` and the flush of its token.
        unsafe { self.space.map_huge(page, frame, flags(rights)) }.map_err(|_| VassError::PageTable)
    }

    fn unmap_huge(&mut self) -> Option<Flush> {
        let (frame, stale) = self.space.unmap_huge(self.here_huge()?)?;
        // The token carries the stale entry until `flush`.
        let _ = stale.into_address();
        Some(Flush::new(self.place.space(), self.place.here()?, frame.start_address().as_u64() / FRAME_SIZE, HUGE_PAGES))
    }

    fn protect_huge(&mut self, rights: Rights) -> Result<(), VassError> {
        let page = self.here().ok_or(VassError::PageTable)?;
        let status = self.status_bits(page);
        let page = self.here_huge().ok_or(VassError::PageTable)?;
        self.space.set_huge_flags(page, flags(rights) | status).map_err(|_| VassError::PageTable)
    }

    /// Sets the accessed bit alone, as the processor will when the access
    /// that faulted is retried (which also sets the dirty bit of a write).
    fn mark_faulted(&mut self, _access: Access) {
        let Some(page) = self.here() else { return };
        let Some((_, page_flags)) = self.space.translate(page.start_address()) else { return };
        if !page_flags.contains(PageTableFlags::ACCESSED) {
            self.set_flags(page, page_flags, page_flags | PageTableFlags::ACCESSED);
        }
    }

    fn flush(&mut self, flush: Flush) -> Flushed {
        if flush.space() == self.place.space()
            && let Some(page) = hardware_page(flush.page())
        {
            self.space.flush(StaleEntry::at(page.start_address()));
        }
        flush.done()
    }
}

impl PageTable for SpaceTables<'_> {
    type Walk<'a> = SpaceWalk<'a> where Self: 'a;
    type Cursor<'a> = SpaceCursor<'a> where Self: 'a;

    fn walk(&self, space: SpaceId, pages: PageRange) -> Option<SpaceWalk<'_>> {
        (space == self.id).then(|| SpacePlace { space: &*self.space, place: Place::new(space, pages) })
    }

    fn cursor(&mut self, space: SpaceId, pages: PageRange) -> Option<SpaceCursor<'_>> {
        (space == self.id).then(|| SpacePlace { space: &mut *self.space, place: Place::new(space, pages) })
    }

    fn reaches(&self, space: SpaceId) -> bool {
        space == self.id
    }
}

/// The page tables of the running process and of the others: what the
/// engine works through for the running process when it may have to evict
/// another process's pages (the global budget, or no free frame). Borrows
/// the memory service's map of address spaces, so nothing is gathered per
/// operation. There is one processor, so another space is not loaded in
/// CR3 while its tables change; its TLB entries go when it is next
/// switched to.
pub struct SystemTables<'a> {
    spaces: &'a mut BTreeMap<SpaceId, UserSpace>,
    /// A space out of the map: one being built (the loader's, mapping
    /// shared text) or destroyed (its process ended; its partitions go
    /// through these tables, so views of them in other spaces are unmapped
    /// too).
    detached: Option<(SpaceId, &'a mut UserSpace)>,
}

impl<'a> SystemTables<'a> {
    /// The tables of every space in `spaces`, working for `current` (`None`
    /// if it has none).
    pub fn new(current: SpaceId, spaces: &'a mut BTreeMap<SpaceId, UserSpace>) -> Option<SystemTables<'a>> {
        spaces.contains_key(&current).then_some(SystemTables { spaces, detached: None })
    }

    /// The tables of `space` (of `pid`, out of the map) and of every space
    /// in `spaces`.
    pub fn with_detached(pid: SpaceId, space: &'a mut UserSpace, spaces: &'a mut BTreeMap<SpaceId, UserSpace>) -> SystemTables<'a> {
        SystemTables { spaces, detached: Some((pid, space)) }
    }
}

impl PageTable for SystemTables<'_> {
    type Walk<'a> = SpaceWalk<'a> where Self: 'a;
    type Cursor<'a> = SpaceCursor<'a> where Self: 'a;

    fn walk(&self, space: SpaceId, pages: PageRange) -> Option<SpaceWalk<'_>> {
        let tables = match &self.detached {
            Some((id, tables)) if *id == space => &**tables,
            _ => self.spaces.get(&space)?,
        };
        Some(SpacePlace { space: tables, place: Place::new(space, pages) })
    }

    fn cursor(&mut self, space: SpaceId, pages: PageRange) -> Option<SpaceCursor<'_>> {
        let tables = match &mut self.detached {
            Some((id, tables)) if *id == space => &mut **tables,
            _ => self.spaces.get_mut(&space)?,
        };
        Some(SpacePlace { space: tables, place: Place::new(space, pages) })
    }

    fn reaches(&self, space: SpaceId) -> bool {
        self.detached.as_ref().is_some_and(|(id, _)| *id == space) || self.spaces.contains_key(&space)
    }
}

mod ktests {
    use super::*;
    use crate::ktest::{ktest, Failure};
    use crate::mm::layout::USER_HEAP;
    use crate::vass::{entry_of, single, Access, FaultOutcome, PageRange, PartitionKind, Vass, Window, HUGE_PAGES};
    use crate::{ensure, ensure_eq};

    fn failure(why: impl core::fmt::Debug) -> Failure {
        Failure::new(alloc::format!("{why:?}"), file!(), line!())
    }

    #[ktest]
    fn the_engine_keeps_real_page_tables_and_frames_in_agreement() {
        let mut space = UserSpace::new().map_err(failure)?;
        let before = frame::counts();
        let mut vass = Vass::new();
        let window = Window { start: USER_HEAP.start / FRAME_SIZE, end: USER_HEAP.end / FRAME_SIZE };
        let rw = Rights::READ | Rights::WRITE;
        let (id, range) = vass.create(SpaceId(7), 1 << 18, PartitionKind::Buffer, rw, None, window).map_err(failure)?;
        let mut tables = SpaceTables { id: SpaceId(7), space: &mut space };
        let mut frames = KernelFrames::new();
        for index in 0..100 {
            let outcome = vass.fault(SpaceId(7), range.start + index * 2621, Access::Write, &mut tables, &mut frames).outcome;
            ensure_eq!(outcome, FaultOutcome::Committed);
        }
        let ahead = PageRange::new(range.start + 1, range.start + 9);
        ensure_eq!(vass.commit(SpaceId(7), id, ahead, &mut tables, &mut frames), Ok(8));
        vass.protect(SpaceId(7), id, Rights::READ, &mut tables).map_err(failure)?;
        vass.check_invariants(&tables, &frames).map_err(failure)?;
        // A sparse 1 GiB partition holds exactly the touched and committed pages.
        ensure_eq!(frame::counts().user, before.user + 108);
        ensure_eq!(vass.decommit(SpaceId(7), id, ahead, &mut tables, &mut frames), Ok(8));
        vass.check_invariants(&tables, &frames).map_err(failure)?;
        vass.destroy(SpaceId(7), id, &mut tables, &mut frames).map_err(failure)?;
        ensure_eq!(frame::counts().user, before.user);
        ensure!(tables.space.committed_pages() == 0, "pages left mapped");
    }

    #[ktest]
    fn a_commit_ahead_under_a_budget_spares_the_page_a_fault_just_served() {
        let mut space = UserSpace::new().map_err(failure)?;
        let before = frame::counts();
        let mut vass = Vass::new();
        let window = Window { start: USER_HEAP.start / FRAME_SIZE, end: USER_HEAP.end / FRAME_SIZE };
        let (id, range) = vass.create(SpaceId(11), 64, PartitionKind::Buffer, Rights::READ | Rights::WRITE, None, window).map_err(failure)?;
        vass.set_budget(SpaceId(11), Some(4));
        let mut tables = SpaceTables { id: SpaceId(11), space: &mut space };
        let mut frames = KernelFrames::new();
        // Four pages nobody touched since (accessed bits clear, contents all
        // zero: evicted, they are dropped), then a fault that evicts one.
        for index in 0..4 {
            ensure_eq!(vass.fault(SpaceId(11), range.start + index, Access::Read, &mut tables, &mut frames).outcome, FaultOutcome::Committed);
        }
        let served = range.start + 10;
        ensure_eq!(vass.fault(SpaceId(11), served, Access::Read, &mut tables, &mut frames).outcome, FaultOutcome::Committed);
        // What the page-fault path does before asking the policy: the page
        // counts as used, so the policy's commits ahead cannot push it out
        // (the retried access would fault again, and the policy plan again).
        tables.cursor(SpaceId(11), single(served)).ok_or_else(|| failure("no tables"))?.mark_faulted(Access::Read);
        ensure!(crate::vass::accessed(&tables, SpaceId(11), served), "the accessed bit is set");
        // Room for three pages ahead (the untouched pages go); the fourth
        // finds none, as the served page stays.
        let ahead = PageRange::new(range.start + 20, range.start + 24);
        ensure_eq!(vass.commit(SpaceId(11), id, ahead, &mut tables, &mut frames), Err(VassError::OutOfFrames));
        ensure!(entry_of(&tables, SpaceId(11), served).is_some(), "the page the fault served was evicted");
        ensure_eq!((range.start + 20..range.start + 24).filter(|&page| entry_of(&tables, SpaceId(11), page).is_some()).count(), 3);
        vass.check_invariants(&tables, &frames).map_err(failure)?;
        vass.destroy(SpaceId(11), id, &mut tables, &mut frames).map_err(failure)?;
        ensure_eq!(frame::counts().user, before.user);
    }

    #[ktest]
    fn under_the_global_budget_another_process_gives_up_a_page() {
        let mut spaces = BTreeMap::from([(SpaceId(21), UserSpace::new().map_err(failure)?), (SpaceId(22), UserSpace::new().map_err(failure)?)]);
        let before = frame::counts();
        let mut vass = Vass::new();
        let window = Window { start: USER_HEAP.start / FRAME_SIZE, end: USER_HEAP.end / FRAME_SIZE };
        let rw = Rights::READ | Rights::WRITE;
        let (small, small_range) = vass.create(SpaceId(21), 16, PartitionKind::Buffer, rw, None, window).map_err(failure)?;
        let (big, big_range) = vass.create(SpaceId(22), 16, PartitionKind::Buffer, rw, None, window).map_err(failure)?;
        vass.set_global_budget(Some(8));
        let mut frames = KernelFrames::new();
        {
            let mut tables = SystemTables::new(SpaceId(22), &mut spaces).ok_or(failure("no space 22"))?;
            for page in big_range.start..big_range.start + 8 {
                ensure_eq!(vass.fault(SpaceId(22), page, Access::Read, &mut tables, &mut frames).outcome, FaultOutcome::Committed);
            }
        }
        // Neither space is loaded in CR3: the other space's entries change
        // without a flush, as for a process that is not running.
        let mut tables = SystemTables::new(SpaceId(21), &mut spaces).ok_or(failure("no space 21"))?;
        ensure_eq!(vass.fault(SpaceId(21), small_range.start, Access::Write, &mut tables, &mut frames).outcome, FaultOutcome::Committed);
        let mapped = (big_range.start..big_range.start + 8).filter(|&page| entry_of(&tables, SpaceId(22), page).is_some()).count();
        // The larger process gave up one page.
        ensure_eq!(mapped, 7);
        ensure!(entry_of(&tables, SpaceId(21), small_range.start).is_some(), "the fault was served");
        // The budget holds in real frames.
        ensure_eq!(frame::counts().user, before.user + 8);
        vass.check_invariants(&tables, &frames).map_err(failure)?;
        vass.destroy(SpaceId(21), small, &mut tables, &mut frames).map_err(failure)?;
        vass.destroy(SpaceId(22), big, &mut tables, &mut frames).map_err(failure)?;
        ensure_eq!(frame::counts().user, before.user);
    }

    #[ktest]
    fn swap_reads_and_writes_are_timed() {
        let mut frames = KernelFrames::new();
        let slots = frames.swap_slots();
        ensure!(slots > 0, "no swap disk (`cargo xtask test` attaches one)");
        let frame = frames.allocate(PartitionId(0)).ok_or_else(|| failure("no frame"))?;
        let result = (|| {
            ensure_eq!(frames.swap_io_cycles(), 0);
            let checksum = frames.swap_out(&frame, Slot(slots - 1)).map_err(failure)?;
            let written = frames.swap_io_cycles();
            ensure!(written > 0, "a write took no cycles");
            frames.swap_in(Slot(slots - 1), &frame, checksum).map_err(failure)?;
            ensure!(frames.swap_io_cycles() > written, "a read took no cycles");
            Ok(())
        })();
        frames.free(frame);
        result?;
    }

    /// Reads the first word of `page` of `space` through the physical-memory mapping.
    fn peek(tables: &SpaceTables<'_>, page: Page) -> Option<u64> {
        let frame = entry_of(tables, tables.id, page)?.frame;
        let pointer = frame::phys_to_virt(PhysAddr::new(frame * FRAME_SIZE)).as_ptr::<u64>();
        // SAFETY: a mapped user frame of this test's space, read through the
        // physical-memory mapping.
        Some(unsafe { pointer.read_volatile() })
    }

    #[ktest]
    fn two_mib_pages_are_promoted_demoted_and_keep_their_data() {
        let mut space = UserSpace::new().map_err(failure)?;
        let before = frame::counts();
        let mut vass = Vass::new();
        let start = USER_HEAP.start / FRAME_SIZE;
        let window = Window { start, end: start + 4 * HUGE_PAGES };
        let rw = Rights::READ | Rights::WRITE;
        let (id, _) = vass.create(SpaceId(5), 2 * HUGE_PAGES, PartitionKind::Buffer, rw, Some(start), window).map_err(failure)?;
        let mut tables = SpaceTables { id: SpaceId(5), space: &mut space };
        let mut frames = KernelFrames::new();
        // Fill the first block by faults, writing each page's number into it.
        for page in start..start + HUGE_PAGES {
            ensure_eq!(vass.fault(SpaceId(5), page, Access::Write, &mut tables, &mut frames).outcome, FaultOutcome::Committed);
            let (frame, _) = entry_of(&tables, SpaceId(5), page).map(|entry| (entry.frame, entry.rights)).ok_or_else(|| failure("unmapped after a fault"))?;
            let pointer = frame::phys_to_virt(PhysAddr::new(frame * FRAME_SIZE)).as_mut_ptr::<u64>();
            // SAFETY: the frame was just committed to this page of the test's space.
            unsafe { pointer.write_volatile(page) };
        }
        ensure_eq!(vass.partition(id).map(|p| p.huge.len()), Some(1));
        let (_, flags) = tables.space.translate(VirtAddr::new(start * FRAME_SIZE)).ok_or_else(|| failure("unmapped"))?;
        ensure!(flags.contains(PageTableFlags::HUGE_PAGE), "a real 2 MiB mapping: {flags:?}");
        ensure!((start..start + HUGE_PAGES).all(|page| peek(&tables, page) == Some(page)), "data copied into the 2 MiB page");
        vass.check_invariants(&tables, &frames).map_err(failure)?;
        // The second block, committed whole, is mapped as one 2 MiB page at once.
        let second = PageRange::new(start + HUGE_PAGES, start + 2 * HUGE_PAGES);
        ensure_eq!(vass.commit(SpaceId(5), id, second, &mut tables, &mut frames), Ok(HUGE_PAGES));
        ensure_eq!(vass.partition(id).map(|p| p.huge.len()), Some(2));
        ensure_eq!(frame::counts().user, before.user + 2 * HUGE_PAGES);
        // Protecting part of the first splits it; the data stays.
        vass.protect_range(SpaceId(5), id, PageRange::new(start, start + 1), Rights::READ, &mut tables, &mut frames).map_err(failure)?;
        ensure_eq!(vass.partition(id).map(|p| p.huge.len()), Some(1));
        ensure!((start..start + HUGE_PAGES).all(|page| peek(&tables, page) == Some(page)), "data kept through the split");
        ensure_eq!(entry_of(&tables, SpaceId(5), start).map(|entry| entry.rights), Some(Rights::READ));
        ensure_eq!(entry_of(&tables, SpaceId(5), start + 1).map(|entry| entry.rights), Some(rw));
        vass.check_invariants(&tables, &frames).map_err(failure)?;
        // Decommitting part of the second splits it and frees only that part.
        ensure_eq!(vass.decommit(SpaceId(5), id, PageRange::new(second.start, second.start + 10), &mut tables, &mut frames), Ok(10));
        ensure_eq!(frame::counts().user, before.user + 2 * HUGE_PAGES - 10);
        vass.check_invariants(&tables, &frames).map_err(failure)?;
        let counters = vass.destroy_space(SpaceId(5), &mut tables, &mut frames);
        ensure_eq!((counters.promotions, counters.demotions), (2, 2));
        ensure_eq!(frame::counts().user, before.user);
        ensure!(tables.space.committed_pages() == 0, "pages left mapped");
    }

    /// A small xorshift generator: the workload is random but the same on
    /// every run.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound.max(1)
        }
    }

    #[ktest]
    fn a_random_workload_keeps_vasm_table_frames_and_page_tables_in_agreement() {
        let mut space = UserSpace::new().map_err(failure)?;
        let before = frame::counts();
        let mut vass = Vass::new();
        let window = Window { start: USER_HEAP.start / FRAME_SIZE, end: USER_HEAP.start / FRAME_SIZE + 2048 };
        let rw = Rights::READ | Rights::WRITE;
        let mut tables = SpaceTables { id: SpaceId(9), space: &mut space };
        let mut frames = KernelFrames::new();
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let mut ids: alloc::vec::Vec<PartitionId> = alloc::vec::Vec::new();
        for step in 0..600u64 {
            vass.set_time(step);
            let pick = |random: &mut Random, ids: &[PartitionId]| ids.get(random.below(ids.len() as u64) as usize).copied();
            let piece = |vass: &Vass, random: &mut Random, id: PartitionId| {
                let partition = vass.partition(id)?;
                let range = partition.ranges[random.below(partition.ranges.len() as u64) as usize];
                let start = range.start + random.below(range.len());
                Some(PageRange::new(start, (start + 1 + random.below(8)).min(range.end)))
            };
            match random.below(10) {
                0 | 1 => {
                    let pages = if random.below(4) == 0 { 520 + random.below(500) } else { 1 + random.below(64) };
                    if let Ok((id, _)) = vass.create(SpaceId(9), pages, PartitionKind::Heap, rw, None, window) {
                        ids.push(id);
                    }
                }
                2 => {
                    if let Some(id) = pick(&mut random, &ids) {
                        vass.destroy(SpaceId(9), id, &mut tables, &mut frames).map_err(failure)?;
                        ids.retain(|&other| other != id);
                    }
                }
                3 => {
                    if let Some(id) = pick(&mut random, &ids) {
                        let _ = vass.resize(SpaceId(9), id, 1 + random.below(96), window, &mut tables, &mut frames);
                    }
                }
                4 => {
                    if let Some(id) = pick(&mut random, &ids) {
                        let _ = vass.add_range(SpaceId(9), id, 1 + random.below(16), None, window);
                    }
                }
                5 => {
                    if let Some(id) = pick(&mut random, &ids)
                        && let Some(range) = piece(&vass, &mut random, id)
                    {
                        vass.commit(SpaceId(9), id, range, &mut tables, &mut frames).map_err(failure)?;
                    }
                }
                6 => {
                    if let Some(id) = pick(&mut random, &ids)
                        && let Some(range) = piece(&vass, &mut random, id)
                    {
                        vass.decommit(SpaceId(9), id, range, &mut tables, &mut frames).map_err(failure)?;
                    }
                }
                7 => {
                    if let Some(id) = pick(&mut random, &ids)
                        && let Some(range) = piece(&vass, &mut random, id)
                    {
                        let rights = if random.below(2) == 0 { Rights::READ } else { rw };
                        vass.protect_range(SpaceId(9), id, range, rights, &mut tables, &mut frames).map_err(failure)?;
                    }
                }
                8 => {
                    // Fill the first aligned block of the largest partition: a 2 MiB page.
                    let largest = ids.iter().copied().max_by_key(|&id| vass.partition(id).map_or(0, |p| p.ranges[0].len()));
                    if let Some(id) = largest
                        && let Some(range) = vass.partition(id).map(|p| p.ranges[0])
                    {
                        let start = range.start.next_multiple_of(HUGE_PAGES);
                        if start + HUGE_PAGES <= range.end {
                            let block = PageRange::new(start, start + HUGE_PAGES);
                            vass.commit(SpaceId(9), id, block, &mut tables, &mut frames).map_err(failure)?;
                        }
                    }
                }
                _ => {
                    let page = window.start + random.below(window.end - window.start);
                    let access = if random.below(2) == 0 { Access::Read } else { Access::Write };
                    vass.fault(SpaceId(9), page, access, &mut tables, &mut frames);
                }
            }
            if step % 25 == 0 {
                vass.sample_untouched(SpaceId(9), &mut tables);
            }
            vass.check_invariants(&tables, &frames).map_err(|error| failure(alloc::format!("step {step}: {error}")))?;
        }
        let counters = vass.space_counters(SpaceId(9)).unwrap_or_default();
        ensure!(counters.faults > 0 && counters.ahead_commits > 0, "{counters:?}");
        ensure!(counters.promotions > 0 && counters.demotions > 0, "2 MiB pages came and went: {counters:?}");
        let last = vass.destroy_space(SpaceId(9), &mut tables, &mut frames);
        ensure_eq!(last.committed, 0);
        ensure_eq!(last.ahead_commits, last.hits + last.waste);
        ensure_eq!(frame::counts().user, before.user);
        ensure!(tables.space.committed_pages() == 0, "pages left mapped");
    }
}
