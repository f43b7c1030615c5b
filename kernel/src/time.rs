//! Kernel time: the TSC (calibrated against the PIT at boot) for fine
//! timestamps, and the local-APIC timer tick for scheduling-grade time.

use crate::arch::{cpu, pit};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);
static TIMER_HZ: AtomicU32 = AtomicU32::new(0);

/// Length of one calibration window.
const CALIBRATION_MILLIS: u64 = 10;

/// Measures the TSC frequency and takes the current TSC as time zero.
///
/// Takes the smallest of three 10 ms measurements: the host can only make a
/// window look longer (by descheduling the VM), never shorter.
pub fn calibrate_tsc() {
    BOOT_TSC.store(cpu::rdtsc(), Ordering::Relaxed);
    let cycles = (0..3).map(|_| pit::measure_tsc_cycles(CALIBRATION_MILLIS)).min().unwrap_or(0);
    TSC_HZ.store(cycles * (1000 / CALIBRATION_MILLIS), Ordering::Relaxed);
}

/// TSC cycles per second, or 0 before calibration.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts a TSC cycle count to nanoseconds (0 before calibration).
pub fn cycles_to_nanos(cycles: u64) -> u64 {
    match tsc_hz() {
        0 => 0,
        hz => (u128::from(cycles) * 1_000_000_000 / u128::from(hz)) as u64,
    }
}

/// Nanoseconds since boot, from the TSC.
pub fn uptime_nanos() -> u64 {
    cycles_to_nanos(cpu::rdtsc().saturating_sub(BOOT_TSC.load(Ordering::Relaxed)))
}

/// Busy-waits for `nanos` nanoseconds of TSC time.
pub fn spin_for_nanos(nanos: u64) {
    let cycles = (u128::from(nanos) * u128::from(tsc_hz()) / 1_000_000_000) as u64;
    let start = cpu::rdtsc();
    while cpu::rdtsc().wrapping_sub(start) < cycles {
        core::hint::spin_loop();
    }
}

/// Timer interrupts since the timer started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// The timer frequency in Hz (0 before the timer starts).
pub fn timer_hz() -> u32 {
    TIMER_HZ.load(Ordering::Relaxed)
}

/// Records that the periodic timer now runs at `hz`.
pub fn timer_started(hz: u32) {
    TIMER_HZ.store(hz, Ordering::Relaxed);
}

/// Called by the timer interrupt handler.
pub fn tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use crate::{ensure, ensure_eq};

    #[ktest]
    fn tsc_is_calibrated_to_a_plausible_rate() {
        let hz = tsc_hz();
        ensure!((100_000_000..20_000_000_000).contains(&hz), "TSC at {hz} Hz");
    }

    #[ktest]
    fn timer_ticks_advance() {
        ensure!(cpu::interrupts_enabled(), "interrupts are off");
        let start = ticks();
        while ticks() < start + 3 {
            cpu::wait_for_interrupt();
        }
        ensure!(ticks() >= start + 3);
    }

    #[ktest]
    fn tick_rate_agrees_with_the_tsc() {
        let hz = u64::from(timer_hz());
        ensure!(hz > 0, "timer not started");
        // Align to a tick edge, then time ten ticks.
        let edge = ticks();
        while ticks() == edge {
            cpu::wait_for_interrupt();
        }
        let (start_ticks, start_nanos) = (ticks(), uptime_nanos());
        while ticks() < start_ticks + 10 {
            cpu::wait_for_interrupt();
        }
        let elapsed = uptime_nanos() - start_nanos;
        let expected = 10 * 1_000_000_000 / hz;
        // Generous bounds: the host may deschedule the VM at any time.
        ensure!(elapsed > expected / 2 && elapsed < expected * 4, "10 ticks took {elapsed} ns, expected {expected}");
    }

    #[ktest]
    fn cycle_conversion_is_exact_for_whole_seconds() {
        ensure_eq!(cycles_to_nanos(tsc_hz()), 1_000_000_000);
        ensure_eq!(cycles_to_nanos(0), 0);
    }
}
