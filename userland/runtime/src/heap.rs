//! The heap: `linked_list_allocator` over memory from `map_anonymous`.
//!
//! The heap grows by at least 1 MiB at a time. The kernel hands out
//! anonymous memory first-fit, so successive chunks are usually contiguous
//! and simply extend the heap; a chunk that is not becomes an extra arena.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use linked_list_allocator::Heap;

const MIN_GROWTH: u64 = 1 << 20;
const MAX_ARENAS: usize = 16;

struct Arenas {
    heaps: [Heap; MAX_ARENAS],
    count: usize,
}

struct UserHeap(spin::Mutex<Arenas>);

#[global_allocator]
static HEAP: UserHeap = UserHeap(spin::Mutex::new(Arenas { heaps: [const { Heap::empty() }; MAX_ARENAS], count: 0 }));

impl Arenas {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.heaps[..self.count].iter_mut().find_map(|heap| heap.allocate_first_fit(layout).ok())
    }

    fn grow(&mut self, layout: Layout) -> bool {
        let size = ((layout.size() + layout.align()) as u64 + 4096).max(MIN_GROWTH).next_multiple_of(4096);
        let Ok(address) = crate::sys::map_anonymous(size) else { return false };
        if let Some(last) = self.heaps[..self.count].last_mut()
            && last.top() as u64 == address
        {
            // SAFETY: the new chunk starts exactly at the heap's top and is ours.
            unsafe { last.extend(size as usize) };
            return true;
        }
        if self.count == MAX_ARENAS {
            let _ = crate::sys::unmap_anonymous(address, size);
            return false;
        }
        // SAFETY: the chunk was just mapped for this process and is unused.
        unsafe { self.heaps[self.count].init(address as *mut u8, size as usize) };
        self.count += 1;
        true
    }
}

// SAFETY: all access goes through the mutex; memory comes from mappings
// owned by this process that are never unmapped while the heap lives.
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
        for heap in &mut arenas.heaps[..count] {
            if (heap.bottom() as usize..heap.top() as usize).contains(&(block.as_ptr() as usize)) {
                // SAFETY: the block came from this arena with this layout.
                unsafe { heap.deallocate(block, layout) };
                return;
            }
        }
    }
}
