//! Process address spaces: a private lower half over the shared kernel half.
//!
//! A `UserSpace` owns its level-4 table, every page table below it in the
//! lower half, and every frame mapped there. Dropping it frees all of them
//! (switching CR3 to the kernel's tables first if the space is active), so
//! a dead process leaves nothing behind.

use super::buddy::FrameState;
use super::frame::{self, FRAME_SIZE, OwnedFrames, PageTableFrames};
use super::layout;
use super::paging::{self, MapError};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::{CleanUp, MapToError, TranslateResult};
use x86_64::structures::paging::page_table::FrameError;
use x86_64::structures::paging::{
    Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame, Size2MiB, Size4KiB, Translate,
};
use alloc::vec::Vec;
use x86_64::instructions::tlb;
use x86_64::structures::paging::{FrameAllocator, FrameDeallocator};
use x86_64::{PhysAddr, VirtAddr};

/// A TLB entry an unmapping left: the processor may still translate
/// through it until [`UserSpace::flush`] takes it.
#[derive(Debug)]
#[must_use = "the TLB may still hold the old translation: hand it to UserSpace::flush"]
pub struct StaleEntry(VirtAddr);

impl StaleEntry {
    /// The entry for `address`, whose unmapping a caller's own token
    /// carried this far.
    pub fn at(address: VirtAddr) -> StaleEntry {
        StaleEntry(address)
    }

    /// The address whose translation may be stale; the obligation to flush
    /// it passes to the caller (who hands it back with [`StaleEntry::at`]).
    pub fn into_address(self) -> VirtAddr {
        self.0
    }
}

/// A process's address space.
pub struct UserSpace {
    level4: PhysFrame,
    mapper: OffsetPageTable<'static>,
    committed: u64,
    /// The page tables below the level-4 table, as the mapper allocated
    /// them (and minus those it freed): what a space with nothing mapped
    /// frees when it is dropped, without walking 512-entry tables.
    tables: Vec<PhysFrame>,
}

/// The frame allocator the mapper gets for one space's tables: page-table
/// frames from [`PageTableFrames`], each recorded in the space's list.
struct RecordedTables<'a>(&'a mut Vec<PhysFrame>);

// SAFETY: frames come from `PageTableFrames`, which hands out frames
// allocated exactly once and not in use; recording them changes nothing.
unsafe impl FrameAllocator<Size4KiB> for RecordedTables<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let frame = PageTableFrames.allocate_frame()?;
        self.0.push(frame);
        Some(frame)
    }
}

impl FrameDeallocator<Size4KiB> for RecordedTables<'_> {
    /// Frees a table the mapper no longer uses, and forgets it.
    unsafe fn deallocate_frame(&mut self, frame: PhysFrame<Size4KiB>) {
        if let Some(index) = self.0.iter().position(|&table| table == frame) {
            self.0.swap_remove(index);
        }
        // SAFETY: the mapper gives back a table of this space it no longer
        // references (the caller's contract).
        unsafe { PageTableFrames.deallocate_frame(frame) };
    }
}

fn table_at(frame: PhysFrame) -> *mut PageTable {
    frame::phys_to_virt(frame.start_address()).as_mut_ptr::<PageTable>()
}

impl UserSpace {
    /// A new address space with an empty lower half and the kernel's upper half.
    pub fn new() -> Result<UserSpace, MapError> {
        let level4 = OwnedFrames::alloc_zeroed(0, FrameState::Kernel).ok_or(MapError::OutOfFrames)?.leak();
        let table = table_at(level4);
        let kernel = table_at(paging::kernel_level4());
        for index in 256..512 {
            // SAFETY: both tables are valid level-4 tables seen through the
            // physical-memory mapping; the new one is not in use yet, and the
            // kernel's upper-half entries are only read here.
            unsafe { (&mut *table)[index] = (&*kernel)[index].clone() };
        }
        // SAFETY: the table was just created and is owned by this UserSpace
        // alone; the offset is the kernel's physical-memory mapping.
        let mapper = unsafe { OffsetPageTable::new(&mut *table, frame::phys_to_virt(PhysAddr::zero())) };
        Ok(UserSpace { level4, mapper, committed: 0, tables: Vec::new() })
    }

    /// The level-4 table (what CR3 holds while this space is active).
    pub fn level4_frame(&self) -> PhysFrame {
        self.level4
    }

    /// Pages of user memory currently mapped.
    pub fn committed_pages(&self) -> u64 {
        self.committed
    }

    /// Whether this space is the one in CR3.
    pub fn is_active(&self) -> bool {
        Cr3::read().0 == self.level4
    }

    /// Loads this space into CR3.
    pub fn activate(&self) {
        if !self.is_active() {
            // SAFETY: the space maps the shared kernel half, so the kernel
            // keeps running unchanged after the switch.
            unsafe { Cr3::write(self.level4, Cr3Flags::empty()) };
        }
    }

    /// What `address` translates to.
    pub fn translate(&self, address: VirtAddr) -> Option<(PhysAddr, PageTableFlags)> {
        match self.mapper.translate(address) {
            TranslateResult::Mapped { frame, offset, flags } => Some((frame.start_address() + offset, flags)),
            _ => None,
        }
    }

    /// Maps `frame` at `page` with `flags` (plus PRESENT and USER_ACCESSIBLE).
    /// The space frees the frame if it is still mapped when the space is
    /// dropped; `unmap_page` hands it back instead.
    ///
    /// # Safety
    /// `frame` must be a user frame the caller owns and gives to this space;
    /// nothing else may use or free it while it is mapped.
    pub unsafe fn map_frame(&mut self, page: Page<Size4KiB>, frame: PhysFrame, flags: PageTableFlags) -> Result<(), MapError> {
        if !layout::USER.contains(page.start_address().as_u64()) {
            return Err(MapError::BadRange);
        }
        let flags = flags | PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
        // SAFETY: the caller gives us the frame; intermediate tables come
        // fresh from the frame allocator.
        let result = unsafe { self.mapper.map_to(page, frame, flags, &mut RecordedTables(&mut self.tables)) };
        match result {
            Ok(flush) => {
                // A not-present entry is never cached, so no flush is needed.
                flush.ignore();
                self.committed += 1;
                Ok(())
            }
            Err(MapToError::FrameAllocationFailed) => Err(MapError::OutOfFrames),
            Err(MapToError::PageAlreadyMapped(_)) => Err(MapError::AlreadyMapped(page.start_address())),
            Err(MapToError::ParentEntryHugePage) => Err(MapError::HugePage(page.start_address())),
        }
    }

    /// Unmaps one page and hands its frame back to the caller (not freed),
    /// with the TLB entry that may still hold it: the frame may be reused
    /// only once [`UserSpace::flush`] took the entry.
    pub fn unmap_page(&mut self, page: Page<Size4KiB>) -> Option<(PhysFrame, StaleEntry)> {
        let (frame, flush) = self.mapper.unmap(page).ok()?;
        // Carried by the returned entry instead.
        flush.ignore();
        self.committed -= 1;
        Some((frame, StaleEntry(page.start_address())))
    }

    /// Flushes a TLB entry this space's unmapping left, if this space is
    /// active (the entries of a space that is not loaded went with the
    /// switch away from it; one processor).
    pub fn flush(&self, stale: StaleEntry) {
        if self.is_active() {
            tlb::flush(stale.0);
        }
    }

    /// Changes the flags of one mapped page (PRESENT and USER_ACCESSIBLE are
    /// kept), flushing the TLB entry if this space is active.
    pub fn set_page_flags(&mut self, page: Page<Size4KiB>, flags: PageTableFlags) -> Result<(), MapError> {
        let flags = flags | PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
        // SAFETY: only the permissions of a user page change; the flush
        // below makes the change visible.
        let flush = unsafe { self.mapper.update_flags(page, flags) }.map_err(|_| MapError::NotMapped(page.start_address()))?;
        if self.is_active() {
            flush.flush();
        } else {
            flush.ignore();
        }
        Ok(())
    }

    /// Maps the 2 MiB page `page` to the 2 MiB run at `frame` with `flags`
    /// (plus PRESENT and USER_ACCESSIBLE). Empty page tables left in its
    /// range by earlier 4 KiB mappings are freed first; any 4 KiB page
    /// still mapped there makes it fail.
    ///
    /// # Safety
    /// The run must be user frames the caller owns and gives to this
    /// space; nothing else may use or free them while they are mapped.
    pub unsafe fn map_huge(&mut self, page: Page<Size2MiB>, frame: PhysFrame<Size2MiB>, flags: PageTableFlags) -> Result<(), MapError> {
        let start = page.start_address();
        if !layout::USER.contains(start.as_u64()) {
            return Err(MapError::BadRange);
        }
        let first = Page::<Size4KiB>::containing_address(start);
        // SAFETY: only page tables without a mapping in this 2 MiB range are
        // freed, through the allocator they came from.
        unsafe { self.mapper.clean_up_addr_range(Page::range_inclusive(first, first + 511), &mut RecordedTables(&mut self.tables)) };
        let flags = flags | PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
        // SAFETY: the caller gives us the run; intermediate tables come fresh
        // from the frame allocator.
        match unsafe { self.mapper.map_to(page, frame, flags, &mut RecordedTables(&mut self.tables)) } {
            Ok(flush) => {
                // A not-present entry is never cached, so no flush is needed.
                flush.ignore();
                self.committed += 512;
                Ok(())
            }
            Err(MapToError::FrameAllocationFailed) => Err(MapError::OutOfFrames),
            Err(_) => Err(MapError::AlreadyMapped(start)),
        }
    }

    /// Unmaps the 2 MiB page `page` and hands its run back to the caller
    /// (not freed), with the TLB entry that may still hold it (see
    /// [`UserSpace::unmap_page`]).
    pub fn unmap_huge(&mut self, page: Page<Size2MiB>) -> Option<(PhysFrame<Size2MiB>, StaleEntry)> {
        let (frame, flush) = Mapper::<Size2MiB>::unmap(&mut self.mapper, page).ok()?;
        // Carried by the returned entry instead (one flush of any address
        // in a 2 MiB page drops its entry).
        flush.ignore();
        self.committed -= 512;
        Some((frame, StaleEntry(page.start_address())))
    }

    /// Changes the flags of the 2 MiB page `page` (PRESENT,
    /// USER_ACCESSIBLE and HUGE_PAGE are kept), flushing it if active.
    pub fn set_huge_flags(&mut self, page: Page<Size2MiB>, flags: PageTableFlags) -> Result<(), MapError> {
        let flags = flags | PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE | PageTableFlags::HUGE_PAGE;
        // SAFETY: only the permissions of a user page change; the flush
        // below makes the change visible.
        let flush = unsafe { Mapper::<Size2MiB>::update_flags(&mut self.mapper, page, flags) }
            .map_err(|_| MapError::NotMapped(page.start_address()))?;
        if self.is_active() {
            flush.flush();
        } else {
            flush.ignore();
        }
        Ok(())
    }

    /// Copies `data` into mapped memory at `address` through the kernel's
    /// physical-memory mapping (page permissions do not apply).
    pub fn write(&mut self, address: VirtAddr, data: &[u8]) -> Result<(), MapError> {
        let mut done = 0usize;
        while done < data.len() {
            let at = address + done as u64;
            let (physical, _) = self.translate(at).ok_or(MapError::NotMapped(at))?;
            let in_page = (FRAME_SIZE - at.as_u64() % FRAME_SIZE) as usize;
            let chunk = in_page.min(data.len() - done);
            let target = frame::phys_to_virt(physical).as_mut_ptr::<u8>();
            // SAFETY: `physical` is a frame this space owns (mapped above), seen
            // through the physical-memory mapping; `chunk` stays inside it.
            unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), target, chunk) };
            done += chunk;
        }
        Ok(())
    }
}

impl Drop for UserSpace {
    fn drop(&mut self) {
        if self.is_active() {
            paging::activate_kernel_tables();
        }
        if self.committed == 0 {
            // Nothing is mapped: the tables are all there is to free.
            for &table in &self.tables {
                let _ = frame::free(table, 0);
            }
        } else {
            // SAFETY: the space is not active, so no CPU walks these tables;
            // the lower half's tables and frames are owned by this space alone.
            unsafe { free_lower_half(self.level4) };
        }
        let _ = frame::free(self.level4, 0);
    }
}

/// Frees every frame and page table reachable from the lower half of `level4`.
///
/// # Safety
/// The tables must not be in use by any CPU and must be owned by the caller.
unsafe fn free_lower_half(level4: PhysFrame) {
    // SAFETY: the caller owns the tables (no CPU walks them), which are
    // valid page tables seen through the physical-memory mapping; the same
    // holds for the lower-level tables dereferenced below.
    let level4 = unsafe { &mut *table_at(level4) };
    for l4_entry in level4.iter_mut().take(256) {
        let Ok(l3_frame) = l4_entry.frame() else { continue };
        // SAFETY: see above.
        let level3 = unsafe { &mut *table_at(l3_frame) };
        for l3_entry in level3.iter_mut() {
            let Ok(l2_frame) = l3_entry.frame() else { continue };
            // SAFETY: see above.
            let level2 = unsafe { &mut *table_at(l2_frame) };
            for l2_entry in level2.iter_mut() {
                let l1_frame = match l2_entry.frame() {
                    Ok(frame) => frame,
                    Err(FrameError::HugeFrame) => {
                        // A 2 MiB page still mapped: its run was one order-9 block.
                        let _ = frame::free(PhysFrame::containing_address(l2_entry.addr()), 9);
                        l2_entry.set_unused();
                        continue;
                    }
                    Err(FrameError::FrameNotPresent) => continue,
                };
                // SAFETY: see above.
                let level1 = unsafe { &mut *table_at(l1_frame) };
                for l1_entry in level1.iter_mut() {
                    if let Ok(frame) = l1_entry.frame() {
                        let _ = frame::free(frame, 0);
                    }
                    l1_entry.set_unused();
                }
                let _ = frame::free(l1_frame, 0);
                l2_entry.set_unused();
            }
            let _ = frame::free(l2_frame, 0);
            l3_entry.set_unused();
        }
        let _ = frame::free(l3_frame, 0);
        l4_entry.set_unused();
    }
}
