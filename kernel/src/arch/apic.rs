//! The local APIC: its periodic timer drives the kernel tick.
//!
//! Uses x2APIC mode (registers as MSRs) when the CPU has it, and xAPIC mode
//! (registers in an uncached MMIO page the kernel maps) otherwise.

use super::idt::{SPURIOUS_VECTOR, TIMER_VECTOR};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use x86_64::registers::model_specific::Msr;
use x86_64::{PhysAddr, VirtAddr};

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const APIC_BASE_ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Register offsets in the xAPIC page (x2APIC MSR = 0x800 + offset / 16).
mod reg {
    pub const ID: u32 = 0x20;
    pub const VERSION: u32 = 0x30;
    pub const TASK_PRIORITY: u32 = 0x80;
    pub const END_OF_INTERRUPT: u32 = 0xb0;
    pub const SPURIOUS: u32 = 0xf0;
    pub const ERROR_STATUS: u32 = 0x280;
    pub const LVT_TIMER: u32 = 0x320;
    pub const LVT_LINT0: u32 = 0x350;
    pub const LVT_ERROR: u32 = 0x370;
    pub const TIMER_INITIAL: u32 = 0x380;
    pub const TIMER_CURRENT: u32 = 0x390;
    pub const TIMER_DIVIDE: u32 = 0x3e0;
}

const LVT_MASKED: u32 = 1 << 16;
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
const SPURIOUS_APIC_ENABLE: u32 = 1 << 8;
const TIMER_DIVIDE_BY_16: u32 = 0b0011;

const MODE_NONE: u8 = 0;
const MODE_XAPIC: u8 = 1;
const MODE_X2APIC: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(MODE_NONE);
static XAPIC_BASE: AtomicU64 = AtomicU64::new(0);

/// Where the APIC registers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// MSR access; needs the CPU's x2APIC feature.
    X2Apic,
    /// MMIO access through the given (uncached) mapping of the APIC page.
    XApic(VirtAddr),
}

/// The physical address of the xAPIC register page, from IA32_APIC_BASE.
pub fn physical_base() -> PhysAddr {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has no side effects.
    let base = unsafe { Msr::new(IA32_APIC_BASE).read() };
    PhysAddr::new(base & APIC_BASE_ADDRESS_MASK)
}

fn read(offset: u32) -> u32 {
    match MODE.load(Ordering::Relaxed) {
        // SAFETY: x2APIC mode is enabled, so the MSR range 0x800.. maps the
        // APIC registers and `offset` names one of them.
        MODE_X2APIC => unsafe { Msr::new(0x800 + (offset >> 4)).read() as u32 },
        MODE_XAPIC => {
            let address = XAPIC_BASE.load(Ordering::Relaxed) + u64::from(offset);
            // SAFETY: XAPIC_BASE is an uncached kernel mapping of the APIC
            // page (installed by `init`) and `offset` is an aligned register.
            unsafe { core::ptr::read_volatile(address as *const u32) }
        }
        _ => 0,
    }
}

fn write(offset: u32, value: u32) {
    match MODE.load(Ordering::Relaxed) {
        // SAFETY: as in `read`; writes to these registers only affect the APIC.
        MODE_X2APIC => unsafe { Msr::new(0x800 + (offset >> 4)).write(u64::from(value)) },
        MODE_XAPIC => {
            let address = XAPIC_BASE.load(Ordering::Relaxed) + u64::from(offset);
            // SAFETY: as in `read`.
            unsafe { core::ptr::write_volatile(address as *mut u32, value) }
        }
        _ => {}
    }
}

/// Enables the local APIC with everything masked but spurious interrupts.
pub fn init(access: Access) {
    // SAFETY: setting the global-enable (and x2APIC) bits of IA32_APIC_BASE
    // keeps the base address; x2APIC is only requested when CPUID has it.
    unsafe {
        let mut msr = Msr::new(IA32_APIC_BASE);
        let mut base = msr.read() | APIC_BASE_ENABLE;
        if access == Access::X2Apic {
            base |= APIC_BASE_X2APIC;
        }
        msr.write(base);
    }
    match access {
        Access::X2Apic => MODE.store(MODE_X2APIC, Ordering::Relaxed),
        Access::XApic(base) => {
            XAPIC_BASE.store(base.as_u64(), Ordering::Relaxed);
            MODE.store(MODE_XAPIC, Ordering::Relaxed);
        }
    }
    write(reg::TASK_PRIORITY, 0);
    write(reg::LVT_TIMER, LVT_MASKED);
    write(reg::LVT_LINT0, LVT_MASKED);
    write(reg::LVT_ERROR, LVT_MASKED);
    write(reg::ERROR_STATUS, 0);
    write(reg::SPURIOUS, SPURIOUS_APIC_ENABLE | u32::from(SPURIOUS_VECTOR));
}

/// This CPU's APIC ID.
pub fn id() -> u32 {
    match MODE.load(Ordering::Relaxed) {
        MODE_X2APIC => read(reg::ID),
        _ => read(reg::ID) >> 24,
    }
}

/// The APIC version register.
pub fn version() -> u32 {
    read(reg::VERSION)
}

/// Measures how many timer counts (at divide-by-16) pass in `nanos` of TSC time.
pub fn measure_timer_counts(nanos: u64) -> u32 {
    write(reg::TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
    write(reg::LVT_TIMER, LVT_MASKED);
    write(reg::TIMER_INITIAL, u32::MAX);
    crate::time::spin_for_nanos(nanos);
    let remaining = read(reg::TIMER_CURRENT);
    write(reg::TIMER_INITIAL, 0);
    u32::MAX - remaining
}

/// Starts the periodic timer with `counts` timer counts per interrupt.
pub fn start_periodic_timer(counts: u32) {
    write(reg::TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
    write(reg::LVT_TIMER, u32::from(TIMER_VECTOR) | LVT_TIMER_PERIODIC);
    write(reg::TIMER_INITIAL, counts.max(1));
}

/// Signals the end of the current interrupt.
pub fn end_of_interrupt() {
    write(reg::END_OF_INTERRUPT, 0);
}
