//! The kernel heap: `linked_list_allocator` over a virtual range that grows
//! by mapping more frames when an allocation does not fit.
//!
//! Growth happens inside `alloc` with the heap locked; the frame allocator
//! and the page tables never allocate from the heap, so the lock order
//! heap → page tables → frames cannot deadlock. When the heap cannot grow
//! (no frames, or `HEAP_MAX_SIZE` reached) the failure is logged and `alloc`
//! returns null: fallible callers (`try_reserve`) get an error, infallible
//! ones end in the allocation-error panic, which names the size.

use super::buddy::FrameState;
use super::frame::{self, FRAME_SIZE};
use super::layout::{HEAP, HEAP_INITIAL_SIZE, HEAP_MAX_SIZE};
use super::paging::{self, MapError};
use crate::sync::IrqMutex;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU64, Ordering};
use linked_list_allocator::Heap;
use x86_64::structures::paging::PageTableFlags;
use x86_64::VirtAddr;

/// Smallest growth step.
const MIN_GROWTH: u64 = 256 * 1024;
/// Largest growth step (bigger requests grow by exactly what they need).
const MAX_GROWTH_STEP: u64 = 16 << 20;

struct KernelHeap {
    heap: IrqMutex<Heap>,
}

#[global_allocator]
static ALLOCATOR: KernelHeap = KernelHeap { heap: IrqMutex::new(Heap::empty()) };

static GROWTHS: AtomicU64 = AtomicU64::new(0);
static FAILED_GROWTHS: AtomicU64 = AtomicU64::new(0);

/// Heap statistics.
#[derive(Clone, Copy, Debug)]
pub struct HeapStats {
    /// Bytes mapped for the heap.
    pub size: u64,
    /// Bytes in use by allocations.
    pub used: u64,
    /// Times the heap grew.
    pub growths: u64,
    /// Times growing was needed but impossible.
    pub failed_growths: u64,
}

/// Current heap statistics.
pub fn stats() -> HeapStats {
    let heap = ALLOCATOR.heap.lock();
    HeapStats {
        size: heap.size() as u64,
        used: heap.used() as u64,
        growths: GROWTHS.load(Ordering::Relaxed),
        failed_growths: FAILED_GROWTHS.load(Ordering::Relaxed),
    }
}

/// Why the heap could not grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrowError {
    /// `HEAP_MAX_SIZE` would be exceeded.
    LimitReached,
    /// The frame allocator has no free frame.
    OutOfFrames,
    /// The page tables refused the mapping.
    Map(MapError),
}

/// Maps `bytes` (page multiple) of fresh frames at `at`, one frame at a time
/// so that growth works even when physical memory is fragmented.
fn map_heap_pages(at: u64, bytes: u64) -> Result<(), GrowError> {
    let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
    let mut space = paging::kernel_space();
    let space = space.as_mut().ok_or(GrowError::Map(MapError::BadRange))?;
    let mut mapped = 0;
    while mapped < bytes {
        let result = frame::alloc(0, FrameState::Kernel).ok_or(GrowError::OutOfFrames).and_then(|frame| {
            // SAFETY: the frame was just allocated and becomes heap memory
            // for good (the heap never shrinks), so it stays valid while mapped.
            unsafe { space.map_range(VirtAddr::new(at + mapped), frame, 1, flags) }.map_err(|error| {
                let _ = frame::free(frame, 0);
                GrowError::Map(error)
            })
        });
        match result {
            Ok(flush) => flush.flush(),
            Err(error) => {
                // Give back what this attempt mapped, so a failure changes nothing.
                if mapped > 0 {
                    let released = space.unmap_range(VirtAddr::new(at), mapped / FRAME_SIZE, |frame| {
                        let _ = frame::free(frame, 0);
                    });
                    if let Ok(flush) = released {
                        flush.flush();
                    }
                }
                return Err(error);
            }
        }
        mapped += FRAME_SIZE;
    }
    Ok(())
}

/// Maps the initial heap. Call after paging is up.
pub fn init() -> Result<(), GrowError> {
    map_heap_pages(HEAP.start, HEAP_INITIAL_SIZE)?;
    let mut heap = ALLOCATOR.heap.lock();
    // SAFETY: the range was just mapped writable, is used by nothing else,
    // and stays mapped for the rest of the kernel's life.
    unsafe { heap.init(HEAP.start as *mut u8, HEAP_INITIAL_SIZE as usize) };
    Ok(())
}

/// How much to grow for a request that did not fit.
fn growth_for(layout: &Layout, current: u64) -> u64 {
    let needed = (layout.size() + layout.align()) as u64;
    let step = (current / 2).clamp(MIN_GROWTH, MAX_GROWTH_STEP);
    needed.max(step).next_multiple_of(FRAME_SIZE)
}

fn grow(heap: &mut Heap, layout: &Layout) -> Result<(), GrowError> {
    let current = heap.size() as u64;
    let by = growth_for(layout, current);
    if current + by > HEAP_MAX_SIZE {
        return Err(GrowError::LimitReached);
    }
    map_heap_pages(heap.top() as u64, by)?;
    // SAFETY: the pages right after the heap's top were just mapped writable.
    unsafe { heap.extend(by as usize) };
    GROWTHS.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

// SAFETY: allocation is serialised by the IrqMutex; memory handed out comes
// from the linked-list heap, which only manages mapped, heap-owned pages.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.heap.lock();
        if let Ok(block) = heap.allocate_first_fit(layout) {
            return block.as_ptr();
        }
        match grow(&mut heap, &layout) {
            Ok(()) => heap.allocate_first_fit(layout).map_or(ptr::null_mut(), NonNull::as_ptr),
            Err(error) => {
                FAILED_GROWTHS.fetch_add(1, Ordering::Relaxed);
                let (size, used) = (heap.size(), heap.used());
                drop(heap);
                log::error!(
                    "kernel heap cannot satisfy {} bytes (align {}): {error:?}; heap {size} bytes, {used} used, {} free frames",
                    layout.size(),
                    layout.align(),
                    frame::counts().free
                );
                ptr::null_mut()
            }
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if let Some(block) = NonNull::new(block) {
            // SAFETY: GlobalAlloc's contract: `block` came from `alloc` with this layout.
            unsafe { self.heap.lock().deallocate(block, layout) };
        }
    }
}

#[cfg(target_os = "none")]
mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use crate::{ensure, ensure_eq};
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    #[ktest]
    fn heap_grows_beyond_the_initial_heap() {
        let before = stats();
        let bytes = 4 * HEAP_INITIAL_SIZE as usize;
        let mut block: Vec<u64> = Vec::with_capacity(bytes / 8);
        block.extend((0..bytes as u64 / 8).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        let after = stats();
        ensure!(after.size >= before.size.max(bytes as u64), "heap is {} bytes", after.size);
        ensure!(after.growths > before.growths || before.size >= bytes as u64);
        ensure!(block.iter().enumerate().all(|(i, &v)| v == (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    }

    #[ktest]
    fn an_impossible_allocation_fails_cleanly() {
        let mut vector: Vec<u8> = Vec::new();
        let before = stats();
        ensure!(vector.try_reserve_exact(HEAP_MAX_SIZE as usize + 1).is_err());
        ensure_eq!(stats().failed_growths, before.failed_growths + 1);
        ensure_eq!(stats().size, before.size);
        vector.push(1);
        ensure_eq!(vector[0], 1);
    }

    #[ktest]
    fn many_small_allocations_are_all_returned() {
        let before = stats().used;
        let boxes: Vec<Box<[u8; 48]>> = (0..10_000).map(|i| Box::new([i as u8; 48])).collect();
        ensure!(boxes.iter().enumerate().all(|(i, b)| b[47] == i as u8));
        drop(boxes);
        ensure_eq!(stats().used, before);
    }
}
