//! The heap: `linked_list_allocator` over one heap partition.
//!
//! The partition is created on the first allocation and grows by at least
//! 1 MiB at a time by adding a range, asked for right after the top of the
//! last arena; a range that lands there extends that arena, one placed
//! elsewhere (the address was taken) becomes a new arena, which makes the
//! partition non-contiguous. Allocation tries the arenas in order. Ranges
//! are never removed, so a block's arena stays valid for the life of the
//! program. Pages are committed by the kernel on first touch.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use linked_list_allocator::Heap;

/// Smallest growth step, so small allocations do not each cost a system call.
const MIN_GROWTH: u64 = 1 << 20;
use abi::PAGE_SIZE;
/// Most separate (non-contiguous) arenas.
const MAX_ARENAS: usize = 64;

/// The arenas in use: `heaps[..count]`.
struct Arenas {
    heaps: [Heap; MAX_ARENAS],
    count: usize,
    /// The heap partition, once created.
    partition: Option<u64>,
}

/// The global allocator: the arenas behind a spin lock (a process has one thread).
struct UserHeap(spin::Mutex<Arenas>);

#[global_allocator]
static HEAP: UserHeap = UserHeap(spin::Mutex::new(Arenas { heaps: [const { Heap::empty() }; MAX_ARENAS], count: 0, partition: None }));

impl Arenas {
    /// First fit over the arenas in order.
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.heaps[..self.count].iter_mut().find_map(|heap| heap.allocate_first_fit(layout).ok())
    }

    /// Adds `size` bytes to the heap partition (creating it the first
    /// time), right after the last arena if that address is free.
    fn add_range(&mut self, size: u64) -> Option<u64> {
        use abi::{PartitionKind, Rights};
        let Some(id) = self.partition else {
            let partition = crate::sys::partition_create(size, PartitionKind::Heap, Rights::READ | Rights::WRITE).ok()?;
            self.partition = Some(partition.id);
            return Some(partition.base);
        };
        let top = self.heaps[..self.count].last().map_or(0, |heap| heap.top() as u64);
        crate::sys::partition_add_range(id, size, top).or_else(|_| crate::sys::partition_add_range(id, size, 0)).ok()
    }

    /// Maps a chunk big enough for `layout` (with room for alignment and the
    /// allocator's bookkeeping) and adds it to the heap. Returns whether it did.
    fn grow(&mut self, layout: Layout) -> bool {
        let Some(needed) = (layout.size() as u64).checked_add(layout.align() as u64 + PAGE_SIZE) else {
            return false;
        };
        let Some(size) = needed.max(MIN_GROWTH).checked_next_multiple_of(PAGE_SIZE) else { return false };
        let Ok(length) = usize::try_from(size) else { return false };
        let count = self.count;
        let Some(address) = self.add_range(size) else { return false };
        if let Some(heap) = self.heaps[..count].iter_mut().find(|heap| heap.top() as u64 == address) {
            // SAFETY: [top, top + length) is the range just added to this
            // process's heap partition: writable, unused, and never removed.
            unsafe { heap.extend(length) };
            return true;
        }
        if count == MAX_ARENAS {
            // The range stays in the partition unused; the heap is full.
            return false;
        }
        // SAFETY: the range was just added to the heap partition, is writable
        // and unused, and is never removed; the arena at `count` is still empty.
        unsafe { self.heaps[count].init(address as *mut u8, length) };
        self.count += 1;
        true
    }
}

// SAFETY: all access goes through the mutex; every block comes from a
// range of the heap partition that is never removed, and is returned to
// the arena whose range contains it.
unsafe impl GlobalAlloc for UserHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut arenas = self.0.lock();
        if let Some(block) = arenas.allocate(layout) {
            return block.as_ptr();
        }
        if arenas.grow(layout) {
            return arenas.allocate(layout).map_or(ptr::null_mut(), NonNull::as_ptr);
        }
        ptr::null_mut()
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(block) = NonNull::new(block) else { return };
        let mut arenas = self.0.lock();
        let count = arenas.count;
        let address = block.as_ptr() as usize;
        if let Some(heap) =
            arenas.heaps[..count].iter_mut().find(|heap| (heap.bottom() as usize..heap.top() as usize).contains(&address))
        {
            // SAFETY: the block was allocated from this arena (the only one
            // whose range contains it) with this layout, per `dealloc`'s contract.
            unsafe { heap.deallocate(block, layout) };
        }
    }
}
