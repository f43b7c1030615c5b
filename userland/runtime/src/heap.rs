//! The heap: `linked_list_allocator` over memory from `map_anonymous`.
//!
//! The heap grows by at least 1 MiB at a time. Nothing promises that
//! successive mappings are contiguous: a chunk that starts exactly at the top
//! of an arena extends it; any other chunk becomes a new arena. Allocation
//! tries the arenas in order. Chunks are never unmapped, so a block's arena
//! stays valid for the life of the program.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use linked_list_allocator::Heap;

/// Smallest growth step, so small allocations do not each cost a system call.
const MIN_GROWTH: u64 = 1 << 20;
/// Mapping granularity.
const PAGE_SIZE: u64 = 4096;
/// Most separate (non-contiguous) arenas.
const MAX_ARENAS: usize = 64;

/// The arenas in use: `heaps[..count]`.
struct Arenas {
    heaps: [Heap; MAX_ARENAS],
    count: usize,
}

/// The global allocator: the arenas behind a spin lock (a process has one thread).
struct UserHeap(spin::Mutex<Arenas>);

#[global_allocator]
static HEAP: UserHeap = UserHeap(spin::Mutex::new(Arenas { heaps: [const { Heap::empty() }; MAX_ARENAS], count: 0 }));

impl Arenas {
    /// First fit over the arenas in order.
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.heaps[..self.count].iter_mut().find_map(|heap| heap.allocate_first_fit(layout).ok())
    }

    /// Maps a chunk big enough for `layout` (with room for alignment and the
    /// allocator's bookkeeping) and adds it to the heap. Returns whether it did.
    fn grow(&mut self, layout: Layout) -> bool {
        let Some(needed) = (layout.size() as u64).checked_add(layout.align() as u64 + PAGE_SIZE) else {
            return false;
        };
        let Some(size) = needed.max(MIN_GROWTH).checked_next_multiple_of(PAGE_SIZE) else { return false };
        let Ok(address) = crate::sys::map_anonymous(size) else { return false };
        let Ok(length) = usize::try_from(size) else { return false };
        let count = self.count;
        if let Some(heap) = self.heaps[..count].iter_mut().find(|heap| heap.top() as u64 == address) {
            // SAFETY: [top, top + length) is the chunk just mapped for this
            // process: writable, unused, and never unmapped.
            unsafe { heap.extend(length) };
            return true;
        }
        if count == MAX_ARENAS {
            let _ = crate::sys::unmap_anonymous(address, size);
            return false;
        }
        // SAFETY: the chunk was just mapped for this process, is writable and
        // unused, and is never unmapped; the arena at `count` is still empty.
        unsafe { self.heaps[count].init(address as *mut u8, length) };
        self.count += 1;
        true
    }
}

// SAFETY: all access goes through the mutex; every block comes from a
// mapping owned by this process that is never unmapped, and is returned to
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
