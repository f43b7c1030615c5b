//! The kernel's physical frame allocator: the buddy allocator of
//! [`super::buddy`] over a per-frame metadata array carved out of the boot
//! memory map, plus owned frame handles that free themselves.
//!
//! The array (16 bytes per frame: state, order, reference count, free-list
//! links or owner) covers every frame up to the top of usable memory and
//! is carved from the first usable region large enough for it. Memory below
//! 1 MiB stays reserved.

use super::buddy::{BuddyAllocator, FrameCounts, FrameMeta, FrameState, FreeError, MAX_ORDER, RefError};
use crate::sync::IrqMutex;
use alloc::string::String;
use bootloader_api::info::{MemoryRegion, MemoryRegionKind};
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::structures::paging::{FrameAllocator, FrameDeallocator, PhysFrame, Size4KiB};
use x86_64::{PhysAddr, VirtAddr};

/// Bytes per frame.
pub const FRAME_SIZE: u64 = abi::PAGE_SIZE;

/// Memory below 1 MiB stays reserved: frame 0 must never look like a valid
/// frame, and real-mode code (AP start-up) will need low memory.
const LOW_MEMORY_END: u64 = 1 << 20;

static ALLOCATOR: IrqMutex<Option<BuddyAllocator<'static>>> = IrqMutex::new(None);
static PHYSICAL_MEMORY_OFFSET: AtomicU64 = AtomicU64::new(0);

/// Totals of the boot memory map, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryMapSummary {
    /// Memory the kernel may use.
    pub usable: u64,
    /// Memory holding the kernel, its page tables, boot stack, boot info and ramdisk.
    pub bootloader: u64,
    /// Memory the firmware keeps (ACPI, reserved, ...).
    pub firmware: u64,
    /// Number of regions in the map.
    pub regions: usize,
    /// Highest usable or bootloader-used physical address.
    pub top: u64,
    /// Bytes taken by the frame metadata array.
    pub metadata: u64,
}

/// Why the frame allocator could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameInitError {
    /// No usable region is large enough for the metadata array.
    NoRoomForMetadata {
        /// Bytes needed.
        needed: u64,
    },
    /// The memory map describes more frames than the allocator can index.
    TooMuchMemory,
}

/// Sums up the memory map.
pub fn summarize(regions: &[MemoryRegion]) -> MemoryMapSummary {
    let mut summary = MemoryMapSummary { regions: regions.len(), ..Default::default() };
    for region in regions {
        let size = region.end - region.start;
        match region.kind {
            MemoryRegionKind::Usable => summary.usable += size,
            MemoryRegionKind::Bootloader => summary.bootloader += size,
            _ => summary.firmware += size,
        }
        if matches!(region.kind, MemoryRegionKind::Usable | MemoryRegionKind::Bootloader) {
            summary.top = summary.top.max(region.end);
        }
    }
    summary
}

/// Builds the allocator from the boot memory map. `physical_memory_offset` is
/// where the bootloader mapped all of physical memory.
pub fn init(regions: &[MemoryRegion], physical_memory_offset: VirtAddr) -> Result<MemoryMapSummary, FrameInitError> {
    PHYSICAL_MEMORY_OFFSET.store(physical_memory_offset.as_u64(), Ordering::Relaxed);
    let mut summary = summarize(regions);
    let frame_count = summary.top.div_ceil(FRAME_SIZE);
    if frame_count >= u64::from(u32::MAX) {
        return Err(FrameInitError::TooMuchMemory);
    }
    let metadata_bytes = (frame_count * size_of::<FrameMeta>() as u64).next_multiple_of(FRAME_SIZE);
    let metadata_start = regions
        .iter()
        .filter(|region| region.kind == MemoryRegionKind::Usable)
        .map(|region| region.start.max(LOW_MEMORY_END).next_multiple_of(FRAME_SIZE)..region.end)
        .find(|range| range.end.saturating_sub(range.start) >= metadata_bytes)
        .map(|range| range.start)
        .ok_or(FrameInitError::NoRoomForMetadata { needed: metadata_bytes })?;
    summary.metadata = metadata_bytes;

    let metadata = phys_to_virt(PhysAddr::new(metadata_start)).as_mut_ptr::<FrameMeta>();
    for index in 0..frame_count as usize {
        // SAFETY: the metadata range lies in a usable region that nothing else
        // uses yet, is mapped writable by the bootloader's physical-memory
        // mapping, and is page aligned (so aligned for FrameMeta).
        unsafe { metadata.add(index).write(FrameMeta::RESERVED) };
    }
    // SAFETY: all `frame_count` entries were initialised above; the range is
    // never handed out as free frames (it is skipped below), so this is the
    // only reference to it for the rest of the kernel's life.
    let metadata = unsafe { core::slice::from_raw_parts_mut(metadata, frame_count as usize) };
    let mut allocator = BuddyAllocator::new(metadata);
    let metadata_range = metadata_start..metadata_start + metadata_bytes;
    for region in regions.iter().filter(|region| region.kind == MemoryRegionKind::Usable) {
        let start = region.start.max(LOW_MEMORY_END).next_multiple_of(FRAME_SIZE);
        let end = region.end / FRAME_SIZE * FRAME_SIZE;
        // The metadata range sits at the start of one region: split around it.
        for (from, to) in [(start, end.min(metadata_range.start)), (start.max(metadata_range.end), end)] {
            if from < to {
                allocator
                    .add_free_range(from / FRAME_SIZE, to / FRAME_SIZE)
                    .expect("usable memory regions of the boot memory map overlap");
            }
        }
    }
    *ALLOCATOR.lock() = Some(allocator);
    Ok(summary)
}

/// Where physical address `address` is visible in the kernel's physical-memory mapping.
pub fn phys_to_virt(address: PhysAddr) -> VirtAddr {
    VirtAddr::new(PHYSICAL_MEMORY_OFFSET.load(Ordering::Relaxed) + address.as_u64())
}

fn with_allocator<R>(f: impl FnOnce(&mut BuddyAllocator<'static>) -> R) -> Option<R> {
    ALLOCATOR.lock().as_mut().map(f)
}

/// Allocates `2^order` contiguous, naturally aligned frames (not zeroed).
/// Returns the first frame. The caller owns them and must [`free`] them.
pub fn alloc(order: usize, state: FrameState) -> Option<PhysFrame> {
    if order > MAX_ORDER {
        return None;
    }
    let first = with_allocator(|allocator| allocator.alloc(order, state))??;
    Some(PhysFrame::containing_address(PhysAddr::new(first * FRAME_SIZE)))
}

/// Returns a block obtained from [`alloc`] with the same order.
pub fn free(frame: PhysFrame, order: usize) -> Result<(), FreeError> {
    let number = frame.start_address().as_u64() / FRAME_SIZE;
    with_allocator(|allocator| allocator.free(number, order)).unwrap_or(Err(FreeError::OutOfRange))
}

/// Frame counts by state.
pub fn counts() -> FrameCounts {
    with_allocator(|allocator| allocator.counts()).unwrap_or_default()
}

/// The state of one frame, if the allocator covers it.
pub fn state(frame: PhysFrame) -> Option<FrameState> {
    with_allocator(|allocator| allocator.state(frame.start_address().as_u64() / FRAME_SIZE)).flatten()
}

/// Splits the allocated block of `order` at `frame` into single frames
/// that are freed one by one (see `BuddyAllocator::split`).
pub fn split(frame: PhysFrame, order: usize) -> Result<(), FreeError> {
    with_allocator(|allocator| allocator.split(frame.start_address().as_u64() / FRAME_SIZE, order))
        .unwrap_or(Err(FreeError::NotAllocated))
}

/// The reference count of `frame` if it heads an allocated block.
pub fn refcount(frame: PhysFrame) -> Option<u32> {
    with_allocator(|allocator| allocator.refcount(frame.start_address().as_u64() / FRAME_SIZE)).flatten()
}

/// The owner recorded for allocated `frame` and the page-table entries
/// that map it (see `BuddyAllocator::frame_use`).
pub fn frame_use(frame: PhysFrame) -> Option<(Option<u32>, u32)> {
    with_allocator(|allocator| allocator.frame_use(frame.start_address().as_u64() / FRAME_SIZE)).flatten()
}

/// Records `owner` for allocated `frame`.
pub fn set_owner(frame: PhysFrame, owner: u32) -> Result<(), RefError> {
    with_allocator(|allocator| allocator.set_owner(frame.start_address().as_u64() / FRAME_SIZE, owner)).unwrap_or(Err(RefError::OutOfRange))
}

/// Counts one more (`add`) or one fewer page-table entry mapping allocated
/// `frame`; returns the new count.
pub fn count_mapping(frame: PhysFrame, add: bool) -> Result<u32, RefError> {
    with_allocator(|allocator| allocator.count_mapping(frame.start_address().as_u64() / FRAME_SIZE, add))
        .unwrap_or(Err(RefError::OutOfRange))
}

/// Free blocks of exactly `order`.
pub fn free_blocks(order: usize) -> u64 {
    with_allocator(|allocator| allocator.free_blocks(order)).unwrap_or(0)
}

/// Checks every invariant of the allocator (slow: walks all metadata).
pub fn check_invariants() -> Result<(), String> {
    with_allocator(|allocator| allocator.check_invariants()).unwrap_or(Err(String::from("not initialised")))
}

/// A block of frames with one owner; freed when dropped.
#[derive(Debug)]
pub struct OwnedFrames {
    first: PhysFrame,
    order: usize,
}

impl OwnedFrames {
    /// Allocates `2^order` frames in state `state`, zero-filled.
    pub fn alloc_zeroed(order: usize, state: FrameState) -> Option<OwnedFrames> {
        let first = alloc(order, state)?;
        let frames = OwnedFrames { first, order };
        let bytes = frames.len_bytes() as usize;
        // SAFETY: the block was just allocated, so nothing else refers to it,
        // and it is mapped writable through the physical-memory mapping.
        unsafe { core::ptr::write_bytes(phys_to_virt(first.start_address()).as_mut_ptr::<u8>(), 0, bytes) };
        Some(frames)
    }

    /// The first frame.
    pub fn first(&self) -> PhysFrame {
        self.first
    }

    /// The block's order.
    pub fn order(&self) -> usize {
        self.order
    }

    /// Number of frames.
    pub fn count(&self) -> u64 {
        1 << self.order
    }

    /// Size in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.count() * FRAME_SIZE
    }

    /// Gives up ownership without freeing: the frames stay allocated forever.
    pub fn leak(self) -> PhysFrame {
        let first = self.first;
        core::mem::forget(self);
        first
    }
}

impl Drop for OwnedFrames {
    fn drop(&mut self) {
        if let Err(error) = free(self.first, self.order) {
            log::error!("freeing {:?} (order {}) failed: {error:?}", self.first, self.order);
        }
    }
}

/// Hands single zeroed-on-use frames to the `x86_64` page-table code, which
/// zeroes new tables itself. Page-table frames are owned by the tables.
pub struct PageTableFrames;

// SAFETY: `alloc` returns frames that are allocated exactly once and not in use.
unsafe impl FrameAllocator<Size4KiB> for PageTableFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        alloc(0, FrameState::Kernel)
    }
}

impl FrameDeallocator<Size4KiB> for PageTableFrames {
    /// Frees a page-table frame the page-table code no longer uses.
    unsafe fn deallocate_frame(&mut self, frame: PhysFrame<Size4KiB>) {
        if let Err(error) = free(frame, 0) {
            log::error!("freeing page-table frame {frame:?} failed: {error:?}");
        }
    }
}

#[cfg(target_os = "none")]
mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use crate::{ensure, ensure_eq};

    #[ktest]
    fn alloc_and_free_restore_the_free_count() {
        let before = counts();
        let frame = alloc(0, FrameState::Kernel);
        ensure!(frame.is_some(), "no frame available");
        ensure_eq!(counts().free, before.free - 1);
        ensure_eq!(counts().kernel, before.kernel + 1);
        ensure_eq!(free(frame.unwrap(), 0), Ok(()));
        ensure_eq!(counts(), before);
    }

    #[ktest]
    fn blocks_are_naturally_aligned_at_every_order() {
        for order in 0..=MAX_ORDER {
            let Some(frame) = alloc(order, FrameState::Kernel) else {
                // Large orders may be unavailable on small machines; 2 MiB must not be.
                ensure!(order > super::super::buddy::HUGE_2M_ORDER, "no block of order {order}");
                continue;
            };
            let alignment = FRAME_SIZE << order;
            ensure!(frame.start_address().is_aligned(alignment), "order {order} block at {frame:?}");
            ensure_eq!(free(frame, order), Ok(()));
        }
    }

    #[ktest]
    fn two_mib_runs_are_2mib_aligned_and_contiguous() {
        let frames = OwnedFrames::alloc_zeroed(super::super::buddy::HUGE_2M_ORDER, FrameState::User);
        ensure!(frames.is_some(), "no 2 MiB run available");
        let frames = frames.unwrap();
        ensure!(frames.first().start_address().is_aligned(2u64 << 20));
        ensure_eq!(frames.len_bytes(), 2 << 20);
        let last = frames.first() + (frames.count() - 1);
        ensure_eq!(state(last), Some(FrameState::User));
    }

    #[ktest]
    fn owned_frames_are_zeroed_and_freed_on_drop() {
        let before = counts();
        {
            let frames = OwnedFrames::alloc_zeroed(2, FrameState::Kernel).unwrap();
            let bytes = phys_to_virt(frames.first().start_address()).as_ptr::<u64>();
            for index in 0..(frames.len_bytes() / 8) as usize {
                // SAFETY: the frames are owned here and mapped through the physical-memory window.
                ensure_eq!(unsafe { bytes.add(index).read() }, 0);
            }
            ensure_eq!(counts().free, before.free - 4);
        }
        ensure_eq!(counts(), before);
    }

    #[ktest]
    fn metadata_tracks_frame_state() {
        let frame = alloc(0, FrameState::User).unwrap();
        ensure_eq!(state(frame), Some(FrameState::User));
        free(frame, 0).unwrap();
        ensure_eq!(state(frame), Some(FrameState::Free));
        ensure_eq!(state(PhysFrame::containing_address(PhysAddr::new(0))), Some(FrameState::Reserved));
    }

    #[ktest]
    fn double_free_is_rejected_without_damage() {
        let frame = alloc(0, FrameState::Kernel).unwrap();
        free(frame, 0).unwrap();
        let before = counts();
        ensure!(free(frame, 0).is_err(), "a double free was accepted");
        ensure_eq!(counts(), before);
        check_invariants().map_err(|why| crate::ktest::Failure::new(why, file!(), line!()))?;
    }

    #[ktest]
    fn allocator_invariants_hold_after_boot_and_churn() {
        let mut held = alloc::vec::Vec::new();
        for round in 0..64 {
            if let Some(frame) = alloc(round % 4, FrameState::Kernel) {
                held.push((frame, round % 4));
            }
        }
        for (frame, order) in held.into_iter().rev() {
            free(frame, order).unwrap();
        }
        check_invariants().map_err(|why| crate::ktest::Failure::new(why, file!(), line!()))?;
    }
}
