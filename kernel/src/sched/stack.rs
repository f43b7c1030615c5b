//! Kernel stacks for tasks: 32 KiB each, in the kernel-stacks region, each
//! slot starting with an unmapped guard gap so an overflow faults.

use crate::mm::buddy::FrameState;
use crate::mm::frame::OwnedFrames;
use crate::mm::layout::KERNEL_STACKS;
use crate::mm::paging::{MapError, Mapping};
use crate::sync::IrqMutex;
use alloc::vec::Vec;
use x86_64::structures::paging::PageTableFlags;
use x86_64::VirtAddr;

/// Stack size: 2^3 frames.
const STACK_ORDER: usize = 3;
/// Address space per stack, including the guard gap below it.
const SLOT_SIZE: u64 = 64 * 1024;

struct Slots {
    next: u64,
    free: Vec<u64>,
}

static SLOTS: IrqMutex<Slots> = IrqMutex::new(Slots { next: 0, free: Vec::new() });

/// A mapped kernel stack; unmapped and freed on drop.
#[derive(Debug)]
pub struct KernelStack {
    mapping: Option<Mapping>,
    slot: u64,
}

impl KernelStack {
    /// Allocates and maps a stack.
    pub fn new() -> Result<KernelStack, MapError> {
        let slot = {
            let mut slots = SLOTS.lock();
            match slots.free.pop() {
                Some(slot) => slot,
                None => {
                    slots.next += 1;
                    slots.next - 1
                }
            }
        };
        if (slot + 1) * SLOT_SIZE > KERNEL_STACKS.size() {
            return Err(MapError::BadRange);
        }
        let frames = OwnedFrames::alloc_zeroed(STACK_ORDER, FrameState::Kernel).ok_or(MapError::OutOfFrames);
        let bottom = KERNEL_STACKS.start + (slot + 1) * SLOT_SIZE - frames.as_ref().map_or(0, |f| f.len_bytes());
        let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
        match frames.and_then(|frames| Mapping::new(frames, VirtAddr::new(bottom), flags)) {
            Ok(mapping) => Ok(KernelStack { mapping: Some(mapping), slot }),
            Err(error) => {
                SLOTS.lock().free.push(slot);
                Err(error)
            }
        }
    }

    /// The initial stack pointer (16-byte aligned top).
    pub fn top(&self) -> VirtAddr {
        VirtAddr::new(KERNEL_STACKS.start + (self.slot + 1) * SLOT_SIZE)
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        drop(self.mapping.take());
        SLOTS.lock().free.push(self.slot);
    }
}
