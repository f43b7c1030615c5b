//! CPU identification, feature enabling (NX, SMEP, SMAP, UMIP, CR0.WP),
//! interrupts on/off, halting, the TSC.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use raw_cpuid::CpuId;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// The protection and interrupt-controller features the kernel cares about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// No-execute page protection (EFER.NXE).
    pub nx: bool,
    /// Supervisor-mode execution prevention.
    pub smep: bool,
    /// Supervisor-mode access prevention.
    pub smap: bool,
    /// User-mode instruction prevention (sgdt, sidt, ... fault in ring 3).
    pub umip: bool,
    /// The x2APIC (MSR-based local APIC).
    pub x2apic: bool,
    /// The processor brand or vendor string, for the boot log.
    pub vendor: [u8; 12],
}

impl Features {
    /// Reads the features with CPUID.
    pub fn detect() -> Features {
        let cpuid = CpuId::new();
        let extended = cpuid.get_extended_processor_and_feature_identifiers();
        let structured = cpuid.get_extended_feature_info();
        let basic = cpuid.get_feature_info();
        let mut vendor = [0u8; 12];
        if let Some(info) = cpuid.get_vendor_info() {
            let name = info.as_str().as_bytes();
            let len = name.len().min(vendor.len());
            vendor[..len].copy_from_slice(&name[..len]);
        }
        Features {
            nx: extended.as_ref().is_some_and(|e| e.has_execute_disable()),
            smep: structured.as_ref().is_some_and(|s| s.has_smep()),
            smap: structured.as_ref().is_some_and(|s| s.has_smap()),
            umip: structured.as_ref().is_some_and(|s| s.has_umip()),
            x2apic: basic.as_ref().is_some_and(|b| b.has_x2apic()),
            vendor,
        }
    }
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vendor = core::str::from_utf8(&self.vendor).unwrap_or("?");
        let flag = |present: bool| if present { '+' } else { '-' };
        write!(
            f,
            "{vendor} {}nx {}smep {}smap {}umip {}x2apic",
            flag(self.nx),
            flag(self.smep),
            flag(self.smap),
            flag(self.umip),
            flag(self.x2apic)
        )
    }
}

/// Turns on every protection the CPU has: NX, SMEP, SMAP, UMIP, and
/// CR0.WP (so the kernel cannot write through read-only mappings either).
///
/// SMAP is safe to enable now because the kernel never touches user pages;
/// user-copy routines will open explicit `stac`/`clac` windows.
pub fn enable_protections(features: &Features) {
    if features.nx {
        // SAFETY: setting NXE only makes the NO_EXECUTE page-table bit
        // meaningful; the bootloader already builds tables that use it.
        unsafe { Efer::update(|flags| flags.insert(EferFlags::NO_EXECUTE_ENABLE)) };
    }
    let mut cr4 = Cr4::read();
    cr4.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, features.smep);
    cr4.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, features.smap);
    cr4.set(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION, features.umip);
    // SAFETY: each bit is only set when CPUID reports the feature, and none of
    // them changes how the kernel's own (supervisor, non-user) mappings behave.
    unsafe { Cr4::write(cr4) };
    SMAP_ENABLED.store(features.smap, Ordering::Relaxed);
    // SAFETY: write protection only makes the kernel honour read-only
    // mappings it created itself; no kernel code writes through them.
    unsafe { Cr0::update(|flags| flags.insert(Cr0Flags::WRITE_PROTECT)) };
}

static BOOT_CPU_ID: AtomicU32 = AtomicU32::new(0);
static SMAP_ENABLED: AtomicBool = AtomicBool::new(false);

/// While alive, the kernel may touch user pages despite SMAP (`stac` ...
/// `clac`). Open one only around user-copy routines.
pub struct UserAccessWindow {
    opened: bool,
}

impl UserAccessWindow {
    /// Opens the window (a no-op without SMAP).
    pub fn open() -> UserAccessWindow {
        let opened = SMAP_ENABLED.load(Ordering::Relaxed);
        if opened {
            // SAFETY: stac only sets RFLAGS.AC; SMAP is enabled, so the
            // instruction exists. The window closes when this value drops.
            unsafe { core::arch::asm!("stac", options(nomem, nostack)) };
        }
        UserAccessWindow { opened }
    }
}

impl Drop for UserAccessWindow {
    fn drop(&mut self) {
        if self.opened {
            // SAFETY: clears RFLAGS.AC, re-arming SMAP.
            unsafe { core::arch::asm!("clac", options(nomem, nostack)) };
        }
    }
}

/// Closes any user-access window at an interrupt or exception entry: RFLAGS.AC
/// may have been set by ring 3 (where it only means alignment checking) or
/// by an open [`UserAccessWindow`]; either way the handler must run with
/// SMAP armed. `iretq` restores the interrupted RFLAGS, so an interrupted
/// window reopens on return. A no-op without SMAP.
pub fn close_user_access() {
    if SMAP_ENABLED.load(Ordering::Relaxed) {
        // SAFETY: clears RFLAGS.AC, re-arming SMAP; SMAP is enabled, so the
        // instruction exists.
        unsafe { core::arch::asm!("clac", options(nomem, nostack)) };
    }
}

/// Whether SMAP is enabled.
pub fn smap_enabled() -> bool {
    SMAP_ENABLED.load(Ordering::Relaxed)
}

/// Records the boot processor's initial APIC ID (CPUID leaf 1).
pub fn init_cpu_id() {
    let id = CpuId::new().get_feature_info().map_or(0, |info| info.initial_local_apic_id());
    BOOT_CPU_ID.store(u32::from(id), Ordering::Relaxed);
}

/// The ID of the CPU running this code. The kernel runs on the boot CPU only.
pub fn current_id() -> u32 {
    BOOT_CPU_ID.load(Ordering::Relaxed)
}

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects; CR4.TSD is clear, so it is allowed.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Whether maskable interrupts are enabled.
pub fn interrupts_enabled() -> bool {
    x86_64::instructions::interrupts::are_enabled()
}

/// Enables maskable interrupts.
pub fn enable_interrupts() {
    x86_64::instructions::interrupts::enable();
}

/// Disables maskable interrupts.
pub fn disable_interrupts() {
    x86_64::instructions::interrupts::disable();
}

/// Waits for the next interrupt with interrupts enabled.
pub fn wait_for_interrupt() {
    x86_64::instructions::interrupts::enable_and_hlt();
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        disable_interrupts();
        x86_64::instructions::hlt();
    }
}

mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use crate::{ensure, ensure_eq};

    #[ktest]
    fn protections_are_on_exactly_when_the_cpu_has_them() {
        let features = Features::detect();
        ensure_eq!(Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE), features.nx);
        let cr4 = Cr4::read();
        ensure_eq!(cr4.contains(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION), features.smep);
        ensure_eq!(cr4.contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION), features.smap);
        ensure_eq!(cr4.contains(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION), features.umip);
        ensure!(Cr0::read().contains(Cr0Flags::WRITE_PROTECT));
    }

    #[ktest]
    fn interrupts_are_enabled_after_boot() {
        ensure!(interrupts_enabled());
    }

    #[ktest]
    fn tsc_is_monotonic() {
        let first = rdtsc();
        let second = rdtsc();
        ensure!(second >= first, "{second} < {first}");
    }
}
