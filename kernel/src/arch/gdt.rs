//! The GDT and TSS, with separate interrupt stacks (IST) for the exceptions
//! that can arrive when the current stack is unusable: double fault (a kernel
//! stack overflow ends there), NMI and machine check. Once the kernel owns
//! its page tables, the lowest page of each IST stack is unmapped
//! ([`guard_ist_stacks`]), so an overflow faults instead of running into
//! the stack below it.

use core::cell::UnsafeCell;
use spin::Once;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot used by the double-fault handler.
pub const DOUBLE_FAULT_IST: u16 = 0;
/// IST slot used by the NMI handler.
pub const NMI_IST: u16 = 1;
/// IST slot used by the machine-check handler.
pub const MACHINE_CHECK_IST: u16 = 2;

/// Bytes per IST stack, its guard page included.
const IST_STACK_SIZE: usize = 20 * 1024;
const IST_COUNT: usize = 3;
const PAGE_SIZE: usize = abi::PAGE_SIZE as usize;

// Page aligned, so each stack's lowest page can be unmapped on its own.
#[repr(C, align(4096))]
struct IstStacks([[u8; IST_STACK_SIZE]; IST_COUNT]);

// Written only by the CPU when it switches to an IST stack; the kernel never
// reads or writes it, it only computes the top addresses.
static mut IST_STACKS: IstStacks = IstStacks([[0; IST_STACK_SIZE]; IST_COUNT]);

/// The selectors of the kernel's segments. The order of the descriptors is
/// fixed by `syscall`/`sysret`: kernel code, kernel data, then user data
/// and user code (see `arch::syscall`).
#[derive(Debug)]
pub struct Selectors {
    /// Kernel code (ring 0).
    pub kernel_code: SegmentSelector,
    /// Kernel data (ring 0).
    pub kernel_data: SegmentSelector,
    /// User data (ring 3).
    pub user_data: SegmentSelector,
    /// User code (ring 3).
    pub user_code: SegmentSelector,
    /// The task state segment.
    pub tss: SegmentSelector,
}

/// The TSS, written by the kernel (the ring-0 stack pointer changes on every
/// switch to a task) and read by the CPU on every entry from ring 3.
struct TssCell(UnsafeCell<TaskStateSegment>);

// SAFETY: the kernel runs on one CPU and only writes the TSS with interrupts
// disabled (`set_kernel_stack`), so no two accesses race.
unsafe impl Sync for TssCell {}

static TSS: Once<TssCell> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

fn ist_top(index: usize) -> VirtAddr {
    let base = (&raw const IST_STACKS).cast::<u8>();
    VirtAddr::from_ptr(base) + ((index + 1) * IST_STACK_SIZE) as u64
}

/// The lowest page of IST stack `index`: its guard, once unmapped.
fn ist_guard(index: usize) -> VirtAddr {
    ist_top(index) - IST_STACK_SIZE as u64
}

/// Unmaps the guard page of every IST stack (their frames belong to the
/// kernel image and stay allocated). Call after `paging::init`.
pub fn guard_ist_stacks() -> Result<(), crate::mm::paging::MapError> {
    let mut space = crate::mm::paging::kernel_space();
    let Some(space) = space.as_mut() else { return Err(crate::mm::paging::MapError::BadRange) };
    for index in 0..IST_COUNT {
        space.unmap_range(ist_guard(index), 1, |_| {})?.flush();
    }
    Ok(())
}

/// Loads the GDT and TSS and reloads every segment register.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        for (slot, index) in [(DOUBLE_FAULT_IST, 0), (NMI_IST, 1), (MACHINE_CHECK_IST, 2)] {
            tss.interrupt_stack_table[usize::from(slot)] = ist_top(index);
        }
        TssCell(UnsafeCell::new(tss))
    });
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        // SAFETY: the TSS lives in a static for the kernel's whole life.
        let tss = gdt.append(unsafe { Descriptor::tss_segment_unchecked(tss.0.get()) });
        (gdt, Selectors { kernel_code, kernel_data, user_data, user_code, tss })
    });
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which
    // lives in a `static` for the rest of the kernel's life, and the TSS
    // descriptor points at the static TSS with valid IST stacks.
    unsafe {
        CS::set_reg(selectors.kernel_code);
        SS::set_reg(selectors.kernel_data);
        DS::set_reg(selectors.kernel_data);
        ES::set_reg(selectors.kernel_data);
        load_tss(selectors.tss);
    }
}

/// The segment selectors (after `init`).
pub fn selectors() -> &'static Selectors {
    &GDT.get().expect("gdt::init has not run").1
}

/// Sets the stack the CPU switches to when an interrupt or exception
/// arrives in ring 3 (TSS.RSP0). Call with interrupts disabled.
pub fn set_kernel_stack(top: VirtAddr) {
    if let Some(tss) = TSS.get() {
        // SAFETY: single CPU, interrupts disabled by the caller (the scheduler),
        // so nothing else reads or writes the TSS during this store; the CPU
        // reads RSP0 only on the next ring-3 entry.
        unsafe { (*tss.0.get()).privilege_stack_table[0] = top };
    }
}

mod ktests {
    use super::*;
    use crate::ensure;
    use crate::ktest::ktest;

    #[ktest]
    fn ist_stacks_have_unmapped_guard_pages() {
        let space = crate::mm::paging::kernel_space();
        let space = space.as_ref().ok_or_else(|| crate::ktest::Failure::new("no kernel space".into(), file!(), line!()))?;
        for index in 0..IST_COUNT {
            ensure!(space.translate(ist_guard(index)).is_none(), "stack {index}: its lowest page is a guard");
            ensure!(space.translate(ist_guard(index) + PAGE_SIZE as u64).is_some(), "stack {index}: the page above is usable");
            ensure!(space.translate(ist_top(index) - 1u64).is_some(), "stack {index}: its top is mapped");
        }
    }
}
