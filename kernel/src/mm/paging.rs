//! Page tables: the kernel address space and the operations on it.
//!
//! Every operation that can leave a stale translation in the TLB returns a
//! [`RangeFlush`] that must be consumed. [`Mapping`] owns both its frames
//! and its virtual range and unmaps (with the flush) when dropped, so a
//! mapping cannot be forgotten and a frame is never freed while mapped.
//! Device memory is mapped uncached into windows of the MMIO region.

use super::buddy::FrameState;
use super::frame::{self, OwnedFrames, PageTableFrames};
use super::layout;
use crate::sync::{IrqMutex, IrqMutexGuard};
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::tlb;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::mapper::{MapToError, TranslateResult, UnmapError};
use x86_64::structures::paging::page::PageRange;
use x86_64::structures::paging::{
    Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame, Size4KiB, Translate,
};
use x86_64::{PhysAddr, VirtAddr};

/// Flushing more pages than this one by one costs more than a full flush.
const FLUSH_ALL_THRESHOLD: u64 = 32;

/// The kernel's address space.
pub struct AddressSpace {
    mapper: OffsetPageTable<'static>,
}

static KERNEL_SPACE: IrqMutex<Option<AddressSpace>> = IrqMutex::new(None);
static KERNEL_LEVEL4: AtomicU64 = AtomicU64::new(0);
static MMIO_NEXT: AtomicU64 = AtomicU64::new(layout::MMIO.start);

/// Why a mapping operation failed. Nothing was changed when it is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// A page in the range is already mapped.
    AlreadyMapped(VirtAddr),
    /// A page in the range is not mapped.
    NotMapped(VirtAddr),
    /// No frame was left for an intermediate page table.
    OutOfFrames,
    /// The range is empty, misaligned, or overflows.
    BadRange,
    /// The range is covered by a huge page, which these operations do not split.
    HugePage(VirtAddr),
}

/// A pending TLB flush for a range of pages.
#[must_use = "the TLB may still hold the old translations: call `flush()`"]
#[derive(Debug)]
pub struct RangeFlush {
    pages: PageRange<Size4KiB>,
}

impl RangeFlush {
    /// Invalidates the range's TLB entries on this CPU.
    pub fn flush(self) {
        let count = self.pages.count() as u64;
        if count > FLUSH_ALL_THRESHOLD {
            tlb::flush_all();
        } else {
            for page in self.pages {
                tlb::flush(page.start_address());
            }
        }
    }

    /// The pages this flush covers.
    pub fn pages(&self) -> PageRange<Size4KiB> {
        self.pages
    }
}

/// Sets up the kernel address space over the page tables the bootloader
/// left in CR3, and fills the level-4 entries of every kernel-owned region
/// so that later kernel mappings are visible in every process. Call once,
/// after the frame allocator.
pub fn init() -> Result<(), MapError> {
    let (level_4_frame, _) = Cr3::read();
    KERNEL_LEVEL4.store(level_4_frame.start_address().as_u64(), Ordering::Relaxed);
    let table = frame::phys_to_virt(level_4_frame.start_address()).as_mut_ptr::<PageTable>();
    // SAFETY: CR3's level-4 table is visible here via the full physical-memory
    // mapping at the offset given; created once, so the only `&mut` to it.
    let mut mapper = unsafe { OffsetPageTable::new(&mut *table, frame::phys_to_virt(PhysAddr::zero())) };
    for region in layout::KERNEL_OWNED_REGIONS {
        let entry = &mut mapper.level_4_table_mut()[layout::l4_index(region.start)];
        if entry.is_unused() {
            let frames = OwnedFrames::alloc_zeroed(0, FrameState::Kernel).ok_or(MapError::OutOfFrames)?;
            entry.set_frame(frames.leak(), PageTableFlags::PRESENT | PageTableFlags::WRITABLE);
        }
    }
    *KERNEL_SPACE.lock() = Some(AddressSpace { mapper });
    Ok(())
}

/// The kernel's level-4 table (the upper half every process shares).
pub fn kernel_level4() -> PhysFrame {
    PhysFrame::containing_address(PhysAddr::new(KERNEL_LEVEL4.load(Ordering::Relaxed)))
}

/// Makes the kernel's own page tables active (used before tearing down the
/// address space of a process that is exiting).
pub fn activate_kernel_tables() {
    let (current, flags) = Cr3::read();
    if current != kernel_level4() {
        // SAFETY: the kernel tables map everything the kernel uses; the lower
        // half they map is never used after boot.
        unsafe { Cr3::write(kernel_level4(), flags) };
    }
}

/// Locks the kernel address space. Holding the guard is holding the lock on
/// every kernel mapping (interrupts stay off meanwhile: keep it short).
pub fn kernel_space() -> IrqMutexGuard<'static, Option<AddressSpace>> {
    KERNEL_SPACE.lock()
}

fn page_range(start: VirtAddr, pages: u64) -> Result<PageRange<Size4KiB>, MapError> {
    if pages == 0 || !start.is_aligned(Page::<Size4KiB>::SIZE) {
        return Err(MapError::BadRange);
    }
    let end = start
        .as_u64()
        .checked_add(pages * Page::<Size4KiB>::SIZE)
        .and_then(|end| VirtAddr::try_new(end).ok())
        .ok_or(MapError::BadRange)?;
    Ok(Page::range(Page::containing_address(start), Page::containing_address(end)))
}

impl AddressSpace {
    /// The frame and flags `address` translates to, if mapped with 4 KiB pages or larger.
    pub fn translate(&self, address: VirtAddr) -> Option<(PhysAddr, PageTableFlags)> {
        match self.mapper.translate(address) {
            TranslateResult::Mapped { frame, offset, flags } => Some((frame.start_address() + offset, flags)),
            _ => None,
        }
    }

    /// Maps `pages` pages from `start` to consecutive frames from `first_frame`.
    /// On failure every page mapped so far is unmapped again.
    ///
    /// # Safety
    /// The frames must stay valid for as long as they are mapped and must not
    /// be memory the kernel accesses through another type in a way this new
    /// alias could break (e.g. frames owned by someone else).
    pub unsafe fn map_range(
        &mut self,
        start: VirtAddr,
        first_frame: PhysFrame,
        pages: u64,
        flags: PageTableFlags,
    ) -> Result<RangeFlush, MapError> {
        let range = page_range(start, pages)?;
        for (index, page) in range.enumerate() {
            let frame = first_frame + index as u64;
            // SAFETY: the caller vouches for the frames; intermediate tables
            // come fresh from the frame allocator.
            let result = unsafe { self.mapper.map_to(page, frame, flags, &mut PageTableFrames) };
            match result {
                // New translations cannot be cached stale: one flush at the end covers all.
                Ok(flush) => flush.ignore(),
                Err(error) => {
                    let mapped = Page::range(range.start, page);
                    if !mapped.is_empty() {
                        self.unmap_pages(mapped, |_| {}).map(RangeFlush::flush).ok();
                    }
                    return Err(match error {
                        MapToError::FrameAllocationFailed => MapError::OutOfFrames,
                        MapToError::PageAlreadyMapped(_) => MapError::AlreadyMapped(page.start_address()),
                        MapToError::ParentEntryHugePage => MapError::HugePage(page.start_address()),
                    });
                }
            }
        }
        Ok(RangeFlush { pages: range })
    }

    /// Unmaps `pages` pages from `start`, calling `released` with each frame
    /// (the caller decides whether to free it). Fails without changing
    /// anything if any page is not mapped.
    pub fn unmap_range(
        &mut self,
        start: VirtAddr,
        pages: u64,
        released: impl FnMut(PhysFrame),
    ) -> Result<RangeFlush, MapError> {
        let range = page_range(start, pages)?;
        self.unmap_pages(range, released)
    }

    fn unmap_pages(
        &mut self,
        range: PageRange<Size4KiB>,
        mut released: impl FnMut(PhysFrame),
    ) -> Result<RangeFlush, MapError> {
        self.check_all_mapped(range)?;
        for page in range {
            match self.mapper.unmap(page) {
                Ok((frame, flush)) => {
                    flush.ignore(); // flushed together by the returned RangeFlush
                    released(frame);
                }
                Err(UnmapError::ParentEntryHugePage) => return Err(MapError::HugePage(page.start_address())),
                Err(_) => return Err(MapError::NotMapped(page.start_address())),
            }
        }
        Ok(RangeFlush { pages: range })
    }

    /// Changes the flags of `pages` mapped pages from `start`. Fails without
    /// changing anything if any page is not mapped.
    pub fn protect_range(&mut self, start: VirtAddr, pages: u64, flags: PageTableFlags) -> Result<RangeFlush, MapError> {
        let range = page_range(start, pages)?;
        self.check_all_mapped(range)?;
        for page in range {
            // SAFETY: changing the flags of a kernel page the caller names;
            // a more restrictive protection is the point of the call, and the
            // returned flush makes it take effect.
            let result = unsafe { self.mapper.update_flags(page, flags) };
            result.map_err(|_| MapError::NotMapped(page.start_address()))?.ignore();
        }
        Ok(RangeFlush { pages: range })
    }

    fn check_all_mapped(&self, range: PageRange<Size4KiB>) -> Result<(), MapError> {
        for page in range {
            match self.mapper.translate(page.start_address()) {
                TranslateResult::Mapped { frame, .. } if frame.size() == Page::<Size4KiB>::SIZE => {}
                TranslateResult::Mapped { .. } => return Err(MapError::HugePage(page.start_address())),
                _ => return Err(MapError::NotMapped(page.start_address())),
            }
        }
        Ok(())
    }
}

/// Frames mapped at a virtual range of the kernel address space, owned
/// together: dropping a `Mapping` unmaps it, flushes, then frees the frames.
#[derive(Debug)]
pub struct Mapping {
    start: VirtAddr,
    frames: Option<OwnedFrames>,
}

impl Mapping {
    /// Maps `frames` at `start` in the kernel address space.
    pub fn new(frames: OwnedFrames, start: VirtAddr, flags: PageTableFlags) -> Result<Mapping, MapError> {
        let mut space = kernel_space();
        let space = space.as_mut().ok_or(MapError::BadRange)?;
        // SAFETY: `frames` is owned by the new Mapping, which unmaps before
        // freeing them, so the frames stay valid while mapped.
        let flush = unsafe { space.map_range(start, frames.first(), frames.count(), flags)? };
        flush.flush();
        Ok(Mapping { start, frames: Some(frames) })
    }

    /// First mapped address.
    pub fn start(&self) -> VirtAddr {
        self.start
    }

    /// Mapped size in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.frames.as_ref().map_or(0, OwnedFrames::len_bytes)
    }

    /// The first backing frame.
    pub fn first_frame(&self) -> Option<PhysFrame> {
        self.frames.as_ref().map(OwnedFrames::first)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let Some(frames) = self.frames.take() else { return };
        let result = kernel_space()
            .as_mut()
            .map(|space| space.unmap_range(self.start, frames.count(), |_| {}));
        match result {
            Some(Ok(flush)) => {
                flush.flush();
                drop(frames);
            }
            other => {
                // Freeing frames that may still be mapped would be a
                // use-after-free: keep them allocated instead.
                log::error!("unmapping {:#x} failed ({other:?}); leaking its frames", self.start);
                frames.leak();
            }
        }
    }
}

/// Maps `size` bytes of device memory at `physical` (uncached, not
/// executable) into the MMIO window and returns the virtual address.
///
/// # Safety
/// `physical` must be device memory (or memory no one else uses) for which
/// uncached kernel access is appropriate.
pub unsafe fn map_mmio(physical: PhysAddr, size: u64) -> Result<VirtAddr, MapError> {
    let first_frame = PhysFrame::containing_address(physical);
    let offset = physical - first_frame.start_address();
    let pages = (offset + size).div_ceil(Page::<Size4KiB>::SIZE);
    let start = MMIO_NEXT.fetch_add(pages * Page::<Size4KiB>::SIZE, Ordering::Relaxed);
    if start + pages * Page::<Size4KiB>::SIZE > layout::MMIO.end {
        return Err(MapError::BadRange);
    }
    let flags = PageTableFlags::PRESENT
        | PageTableFlags::WRITABLE
        | PageTableFlags::NO_CACHE
        | PageTableFlags::WRITE_THROUGH
        | PageTableFlags::NO_EXECUTE;
    let mut space = kernel_space();
    let space = space.as_mut().ok_or(MapError::BadRange)?;
    // SAFETY: the caller vouches that this is device memory; the MMIO window
    // addresses are handed out once, so nothing else is mapped there.
    unsafe { space.map_range(VirtAddr::new(start), first_frame, pages, flags)? }.flush();
    Ok(VirtAddr::new(start) + offset)
}

mod ktests {
    use super::*;
    use crate::arch::probe;
    use crate::ktest::{Failure, ktest};
    use crate::mm::buddy::FrameState;
    use crate::{ensure, ensure_eq};
    use core::sync::atomic::AtomicU64;
    use x86_64::structures::idt::PageFaultErrorCode;

    const RW: PageTableFlags =
        PageTableFlags::PRESENT.union(PageTableFlags::WRITABLE).union(PageTableFlags::NO_EXECUTE);

    /// A fresh, never-used scratch address for each test (tests must not
    /// depend on earlier TLB state).
    fn scratch(pages: u64) -> VirtAddr {
        static NEXT: AtomicU64 = AtomicU64::new(layout::SCRATCH.start);
        VirtAddr::new(NEXT.fetch_add((pages + 1) * 4096, Ordering::Relaxed))
    }

    fn failure(why: impl core::fmt::Debug) -> Failure {
        Failure::new(alloc::format!("{why:?}"), file!(), line!())
    }

    #[ktest]
    fn mapped_frames_read_back_through_the_new_mapping() {
        let frames = OwnedFrames::alloc_zeroed(1, FrameState::Kernel).ok_or_else(|| failure("no frames"))?;
        let physical = frame::phys_to_virt(frames.first().start_address()).as_mut_ptr::<u64>();
        let at = scratch(2);
        let mapping = Mapping::new(frames, at, RW).map_err(failure)?;
        for page in 0..2u64 {
            let value = 0xfeed_0000 + page;
            // SAFETY: the mapping owns these frames; both addresses alias
            // them and nothing else uses them.
            unsafe { at.as_mut_ptr::<u64>().add(page as usize * 512).write_volatile(value) };
            // SAFETY: as above, read through the physical-memory window.
            let seen = unsafe { physical.add(page as usize * 512).read_volatile() };
            ensure_eq!(seen, value);
        }
        let translated = kernel_space().as_ref().and_then(|space| space.translate(at + 4096u64));
        ensure_eq!(translated.map(|(address, _)| address), mapping.first_frame().map(|f| f.start_address() + 4096u64));
    }

    #[ktest]
    fn dropping_a_mapping_unmaps_it_and_frees_its_frames() {
        let before = frame::counts();
        let at = scratch(1);
        let mapping = Mapping::new(OwnedFrames::alloc_zeroed(0, FrameState::Kernel).unwrap(), at, RW).map_err(failure)?;
        // SAFETY: mapped above; reading it loads the translation into the TLB.
        ensure_eq!(unsafe { probe::read_u64(at) }, Ok(0));
        drop(mapping);
        // SAFETY: the address is unmapped now: the probe must fault.
        let fault = unsafe { probe::read_u64(at) };
        ensure_eq!(fault.map_err(|f| f.address), Err(at));
        // The frame came back; intermediate tables may stay allocated.
        ensure_eq!(frame::counts().free + frame::counts().kernel, before.free + before.kernel);
        ensure!(frame::counts().free + 4 >= before.free);
    }

    #[ktest]
    fn page_fault_on_an_unmapped_address_is_caught_and_reported() {
        let at = scratch(1) + 0x18u64;
        // SAFETY: nothing is mapped in fresh scratch space; the read must fault.
        let result = unsafe { probe::read_u64(at) };
        let fault = match result {
            Ok(value) => return Err(failure(alloc::format!("read {value:#x} from unmapped memory"))),
            Err(fault) => fault,
        };
        ensure_eq!(fault.address, at);
        let code = PageFaultErrorCode::from_bits_truncate(fault.error_code);
        ensure!(!code.contains(PageFaultErrorCode::PROTECTION_VIOLATION), "{code:?}");
        ensure!(!code.contains(PageFaultErrorCode::CAUSED_BY_WRITE), "{code:?}");
    }

    #[ktest]
    fn read_only_protection_makes_writes_fault() {
        let at = scratch(1);
        let mapping = Mapping::new(OwnedFrames::alloc_zeroed(0, FrameState::Kernel).unwrap(), at, RW).map_err(failure)?;
        // SAFETY: writable mapping owned by this test.
        ensure_eq!(unsafe { probe::write_u64(at, 7) }, Ok(()));
        let read_only = PageTableFlags::PRESENT | PageTableFlags::NO_EXECUTE;
        kernel_space().as_mut().unwrap().protect_range(at, 1, read_only).map_err(failure)?.flush();
        // SAFETY: the write must fault (CR0.WP is set); the probe catches it.
        let fault = unsafe { probe::write_u64(at, 8) }.err().ok_or_else(|| failure("write succeeded"))?;
        let code = PageFaultErrorCode::from_bits_truncate(fault.error_code);
        ensure!(code.contains(PageFaultErrorCode::PROTECTION_VIOLATION | PageFaultErrorCode::CAUSED_BY_WRITE));
        // SAFETY: reads are still allowed.
        ensure_eq!(unsafe { probe::read_u64(at) }, Ok(7));
        kernel_space().as_mut().unwrap().protect_range(at, 1, RW).map_err(failure)?.flush();
        drop(mapping);
    }

    #[ktest]
    fn remapping_with_a_flush_shows_the_new_frame() {
        let first = OwnedFrames::alloc_zeroed(0, FrameState::Kernel).unwrap();
        let second = OwnedFrames::alloc_zeroed(0, FrameState::Kernel).unwrap();
        for (frames, value) in [(&first, 1u64), (&second, 2u64)] {
            // SAFETY: owned frames, written through the physical-memory window.
            unsafe { frame::phys_to_virt(frames.first().start_address()).as_mut_ptr::<u64>().write(value) };
        }
        let at = scratch(1);
        let mut space = kernel_space();
        let space = space.as_mut().unwrap();
        // SAFETY: the frames outlive the mapping (unmapped below before they drop).
        unsafe { space.map_range(at, first.first(), 1, RW) }.map_err(failure)?.flush();
        // SAFETY: mapped just above.
        ensure_eq!(unsafe { at.as_ptr::<u64>().read_volatile() }, 1);
        let mut released = None;
        let flush = space.unmap_range(at, 1, |frame| released = Some(frame)).map_err(failure)?;
        ensure_eq!(released, Some(first.first()));
        ensure_eq!(flush.pages().count(), 1);
        flush.flush();
        // SAFETY: as above, for the second frame.
        unsafe { space.map_range(at, second.first(), 1, RW) }.map_err(failure)?.flush();
        // SAFETY: mapped just above; the flush removed the old translation.
        let seen = unsafe { at.as_ptr::<u64>().read_volatile() };
        space.unmap_range(at, 1, |_| {}).map_err(failure)?.flush();
        ensure_eq!(seen, 2);
    }

    #[ktest]
    fn mapping_over_a_mapped_page_fails_and_changes_nothing() {
        let at = scratch(2);
        let mapping = Mapping::new(OwnedFrames::alloc_zeroed(0, FrameState::Kernel).unwrap(), at + 4096u64, RW)
            .map_err(failure)?;
        let frames = OwnedFrames::alloc_zeroed(1, FrameState::Kernel).unwrap();
        let result = Mapping::new(frames, at, RW);
        ensure_eq!(result.as_ref().err(), Some(&MapError::AlreadyMapped(at + 4096u64)));
        drop(result);
        // The first page of the failed attempt was rolled back.
        // SAFETY: probing an address that must be unmapped again.
        ensure!(unsafe { probe::read_u64(at) }.is_err(), "rollback left a page mapped");
        // SAFETY: still the original mapping.
        ensure_eq!(unsafe { probe::read_u64(at + 4096u64) }, Ok(0));
        drop(mapping);
    }

    #[ktest]
    fn bad_ranges_are_rejected() {
        let mut space = kernel_space();
        let space = space.as_mut().unwrap();
        ensure_eq!(space.unmap_range(scratch(1), 0, |_| {}).err(), Some(MapError::BadRange));
        ensure_eq!(space.unmap_range(scratch(1) + 8u64, 1, |_| {}).err(), Some(MapError::BadRange));
        let top = VirtAddr::new(0xffff_ffff_ffff_f000);
        ensure_eq!(space.protect_range(top, 2, RW).err(), Some(MapError::BadRange));
        let unmapped = scratch(1);
        ensure_eq!(space.unmap_range(unmapped, 1, |_| {}).err(), Some(MapError::NotMapped(unmapped)));
        ensure_eq!(space.protect_range(unmapped, 1, RW).err(), Some(MapError::NotMapped(unmapped)));
    }

    #[ktest]
    fn kernel_text_is_mapped_executable_and_read_only() {
        let text = VirtAddr::new(ktests_marker as *const () as u64);
        ensure!(text.as_u64() >= layout::KERNEL_IMAGE_BASE, "kernel code at {text:?}");
        let (_, flags) = kernel_space().as_ref().unwrap().translate(text).ok_or_else(|| failure("text unmapped"))?;
        ensure!(!flags.contains(PageTableFlags::NO_EXECUTE), "{flags:?}");
        ensure!(!flags.contains(PageTableFlags::WRITABLE), "{flags:?}");
    }

    fn ktests_marker() {}
}
