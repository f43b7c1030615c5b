//! The VASS core on the real machine: the page tables of a process's
//! [`UserSpace`] and the kernel's frame allocator behind the engine's traits.

use super::{Frame, FrameSource, Page, PageTable, SpaceId, VassError};
use crate::mm::buddy::FrameState;
use crate::mm::frame::{self, OwnedFrames, FRAME_SIZE};
use crate::mm::user::UserSpace;
use abi::Rights;
use x86_64::structures::paging::{Page as HardwarePage, PageTableFlags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

/// Zero-filled user frames from the buddy allocator.
pub struct KernelFrames;

impl FrameSource for KernelFrames {
    fn allocate(&mut self) -> Option<Frame> {
        let frames = OwnedFrames::alloc_zeroed(0, FrameState::User)?;
        Some(frames.leak().start_address().as_u64() / FRAME_SIZE)
    }

    fn free(&mut self, frame: Frame) {
        let frame = PhysFrame::containing_address(PhysAddr::new(frame * FRAME_SIZE));
        if let Err(error) = frame::free(frame, 0) {
            log::error!("vass: freeing frame {frame:?} failed: {error:?}");
        }
    }
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

impl PageTable for SpaceTables<'_> {
    fn map(&mut self, space: SpaceId, page: Page, frame: Frame, rights: Rights) -> Result<(), VassError> {
        let page = hardware_page(page).filter(|_| space == self.id).ok_or(VassError::PageTable)?;
        let frame = PhysFrame::containing_address(PhysAddr::new(frame * FRAME_SIZE));
        // SAFETY: the engine got the frame from `KernelFrames` for this page
        // alone and takes it back with `unmap` before freeing it.
        unsafe { self.space.map_frame(page, frame, flags(rights)) }.map_err(|_| VassError::PageTable)
    }

    fn unmap(&mut self, space: SpaceId, page: Page) -> Option<Frame> {
        let page = hardware_page(page).filter(|_| space == self.id)?;
        self.space.unmap_page(page).map(|frame| frame.start_address().as_u64() / FRAME_SIZE)
    }

    fn protect(&mut self, space: SpaceId, page: Page, rights: Rights) -> Result<(), VassError> {
        let page = hardware_page(page).filter(|_| space == self.id).ok_or(VassError::PageTable)?;
        self.space.set_page_flags(page, flags(rights)).map_err(|_| VassError::PageTable)
    }

    fn translate(&self, space: SpaceId, page: Page) -> Option<(Frame, Rights)> {
        let page = hardware_page(page).filter(|_| space == self.id)?;
        let (physical, page_flags) = self.space.translate(page.start_address())?;
        Some((physical.as_u64() / FRAME_SIZE, rights(page_flags)))
    }
}

mod ktests {
    use super::*;
    use crate::ktest::{ktest, Failure};
    use crate::mm::layout::USER_HEAP;
    use crate::vass::{Access, FaultOutcome, PageRange, PartitionKind, Vass, Window};
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
        let (id, range) = vass.create(7, 1 << 18, PartitionKind::Buffer, rw, None, window).map_err(failure)?;
        let mut tables = SpaceTables { id: 7, space: &mut space };
        let mut frames = KernelFrames;
        for index in 0..100 {
            let outcome = vass.fault(7, range.start + index * 2621, Access::Write, &mut tables, &mut frames);
            ensure_eq!(outcome, FaultOutcome::Committed);
        }
        let ahead = PageRange::new(range.start + 1, range.start + 9);
        ensure_eq!(vass.commit(7, id, ahead, &mut tables, &mut frames), Ok(8));
        vass.protect(7, id, Rights::READ, &mut tables).map_err(failure)?;
        vass.check_invariants(&tables).map_err(failure)?;
        // A sparse 1 GiB partition holds exactly the touched and committed pages.
        ensure_eq!(frame::counts().user, before.user + 108);
        ensure_eq!(vass.decommit(7, id, ahead, &mut tables, &mut frames), Ok(8));
        vass.check_invariants(&tables).map_err(failure)?;
        vass.destroy(7, id, &mut tables, &mut frames).map_err(failure)?;
        ensure_eq!(frame::counts().user, before.user);
        ensure!(tables.space.committed_pages() == 0, "pages left mapped");
    }
}
