//! The interrupt descriptor table: a handler for every CPU exception, the
//! local-APIC timer, and catch-alls for spurious and legacy interrupts.
//!
//! Every exception is reported with its vector, error code, RIP, the mode it
//! came from and, for page faults, CR2. Breakpoints, debug traps and NMIs are
//! logged and resumed; a page fault on a probe's access is redirected to the
//! probe's fixup; every other exception in kernel mode is fatal and ends the
//! run with a failure exit.
//!
//! Every handler clears RFLAGS.AC on entry, so SMAP stays armed whatever
//! ring 3 or an interrupted user-access window left in it. Page faults,
//! faults in ring 3 and timer ticks go to the [`Handlers`] the boot sequence
//! installs ([`install_handlers`]): `arch` imports nothing from `process`,
//! `sched` or `policy`.

use super::{apic, cpu, gdt, pic, probe, qemu};
use crate::logger;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Once;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};
use x86_64::PrivilegeLevel;

/// Vector of the local-APIC timer.
pub const TIMER_VECTOR: u8 = 0x30;
/// Vector of local-APIC spurious interrupts.
pub const SPURIOUS_VECTOR: u8 = 0xff;

static IDT: Once<InterruptDescriptorTable> = Once::new();
static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);
/// RFLAGS inside the last breakpoint handler (after its entry).
static BREAKPOINT_FLAGS: AtomicU64 = AtomicU64::new(0);
static SPURIOUS: AtomicU64 = AtomicU64::new(0);

/// Breakpoint exceptions handled so far.
pub fn breakpoint_count() -> u64 {
    BREAKPOINTS.load(Ordering::Relaxed)
}

/// Spurious or legacy-PIC interrupts ignored so far.
pub fn spurious_count() -> u64 {
    SPURIOUS.load(Ordering::Relaxed)
}

/// The privilege level an exception came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Ring 0.
    Kernel,
    /// Ring 3.
    User,
}

impl Mode {
    fn of(frame: &InterruptStackFrame) -> Mode {
        match frame.code_segment.rpl() {
            PrivilegeLevel::Ring0 => Mode::Kernel,
            _ => Mode::User,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Kernel => "kernel",
            Mode::User => "user",
        })
    }
}

/// A CPU exception as seen by its handler.
#[derive(Clone, Copy, Debug)]
pub struct ExceptionReport {
    /// Vector number (0-31).
    pub vector: u8,
    /// Mnemonic, e.g. `#PF`.
    pub mnemonic: &'static str,
    /// Human-readable name.
    pub name: &'static str,
    /// The error code, for exceptions that push one.
    pub error_code: Option<u64>,
    /// Faulting address, for page faults (and double faults, where it may explain the cause).
    pub cr2: Option<u64>,
    /// Mode the CPU was in.
    pub mode: Mode,
    /// Saved instruction pointer.
    pub rip: u64,
    /// Saved stack pointer.
    pub rsp: u64,
    /// Saved flags.
    pub rflags: u64,
}

impl ExceptionReport {
    fn new(vector: u8, frame: &InterruptStackFrame, error_code: Option<u64>) -> ExceptionReport {
        let (mnemonic, name) = EXCEPTION_NAMES[usize::from(vector)];
        ExceptionReport {
            vector,
            mnemonic,
            name,
            error_code,
            cr2: None,
            mode: Mode::of(frame),
            rip: frame.instruction_pointer.as_u64(),
            rsp: frame.stack_pointer.as_u64(),
            rflags: frame.cpu_flags.bits(),
        }
    }
}

impl fmt::Display for ExceptionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (vector {}) in {} mode:", self.mnemonic, self.name, self.vector, self.mode)?;
        if let Some(code) = self.error_code {
            write!(f, " error={code:#x}")?;
            if self.vector == 14 {
                write!(f, " [{:?}]", PageFaultErrorCode::from_bits_truncate(code))?;
            }
        }
        write!(f, " rip={:#x}", self.rip)?;
        if let Some(cr2) = self.cr2 {
            write!(f, " cr2={cr2:#x}")?;
        }
        write!(f, " rsp={:#x} rflags={:#x}", self.rsp, self.rflags)
    }
}

const EXCEPTION_NAMES: [(&str, &str); 32] = [
    ("#DE", "divide error"),
    ("#DB", "debug"),
    ("NMI", "non-maskable interrupt"),
    ("#BP", "breakpoint"),
    ("#OF", "overflow"),
    ("#BR", "bound range exceeded"),
    ("#UD", "invalid opcode"),
    ("#NM", "device not available"),
    ("#DF", "double fault"),
    ("#CSO", "coprocessor segment overrun"),
    ("#TS", "invalid TSS"),
    ("#NP", "segment not present"),
    ("#SS", "stack-segment fault"),
    ("#GP", "general protection fault"),
    ("#PF", "page fault"),
    ("#15", "reserved"),
    ("#MF", "x87 floating-point error"),
    ("#AC", "alignment check"),
    ("#MC", "machine check"),
    ("#XM", "SIMD floating-point exception"),
    ("#VE", "virtualization exception"),
    ("#CP", "control protection exception"),
    ("#22", "reserved"),
    ("#23", "reserved"),
    ("#24", "reserved"),
    ("#25", "reserved"),
    ("#26", "reserved"),
    ("#27", "reserved"),
    ("#HV", "hypervisor injection exception"),
    ("#VC", "VMM communication exception"),
    ("#SX", "security exception"),
    ("#31", "reserved"),
];

/// What the kernel above `arch` does with the events `arch` cannot handle
/// alone. `arch` knows nothing of processes or the scheduler: the boot
/// sequence installs these once ([`install_handlers`]), before the first
/// process runs.
#[derive(Clone, Copy)]
pub struct Handlers {
    /// A page fault at `address` by the instruction at `rip`: whether the
    /// handler resolved it, so the faulting access is retried.
    pub page_fault: fn(address: u64, rip: u64, error: PageFaultErrorCode) -> bool,
    /// A fault taken in ring 3 that the process cannot resume from: the
    /// handler ends that process (and never returns).
    pub user_fault: fn(&ExceptionReport) -> !,
    /// A timer tick, after the clock advanced and the interrupt was
    /// acknowledged (the handler may switch tasks).
    pub timer_tick: fn(),
}

static HANDLERS: Once<Handlers> = Once::new();

/// Installs the kernel's handlers (the first call wins). Until then a page
/// fault is never resolved, a fault in ring 3 is fatal and a timer tick
/// only advances the clock.
pub fn install_handlers(handlers: Handlers) {
    HANDLERS.call_once(|| handlers);
}

/// Handles an exception the kernel cannot resume from: a fault in ring 3
/// kills only that process; in ring 0 it is fatal.
fn unrecoverable(report: &ExceptionReport) -> ! {
    if report.mode == Mode::User
        && let Some(handlers) = HANDLERS.get()
    {
        (handlers.user_fault)(report);
    }
    fatal(report)
}

/// Reports an exception the kernel cannot recover from and ends the run.
fn fatal(report: &ExceptionReport) -> ! {
    logger::fatal(format_args!("\nFATAL EXCEPTION: {report}\n"));
    qemu::exit(qemu::ExitCode::Failure)
}

macro_rules! fatal_handler {
    ($name:ident, $vector:expr) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame) {
            cpu::close_user_access();
            unrecoverable(&ExceptionReport::new($vector, &frame, None));
        }
    };
    ($name:ident, $vector:expr, error_code) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame, error_code: u64) {
            cpu::close_user_access();
            unrecoverable(&ExceptionReport::new($vector, &frame, Some(error_code)));
        }
    };
}

fatal_handler!(divide_error, 0);
fatal_handler!(overflow, 4);
fatal_handler!(bound_range_exceeded, 5);
fatal_handler!(invalid_opcode, 6);
fatal_handler!(device_not_available, 7);
fatal_handler!(invalid_tss, 10, error_code);
fatal_handler!(segment_not_present, 11, error_code);
fatal_handler!(stack_segment_fault, 12, error_code);
fatal_handler!(general_protection_fault, 13, error_code);
fatal_handler!(x87_floating_point, 16);
fatal_handler!(alignment_check, 17, error_code);
fatal_handler!(simd_floating_point, 19);
fatal_handler!(virtualization, 20);
fatal_handler!(control_protection, 21, error_code);
fatal_handler!(hypervisor_injection, 28);
fatal_handler!(vmm_communication, 29, error_code);
fatal_handler!(security_exception, 30, error_code);

extern "x86-interrupt" fn debug(frame: InterruptStackFrame) {
    cpu::close_user_access();
    log::warn!("{}", ExceptionReport::new(1, &frame, None));
}

extern "x86-interrupt" fn non_maskable_interrupt(frame: InterruptStackFrame) {
    cpu::close_user_access();
    logger::fatal(format_args!("{}\n", ExceptionReport::new(2, &frame, None)));
}

extern "x86-interrupt" fn breakpoint(frame: InterruptStackFrame) {
    cpu::close_user_access();
    BREAKPOINT_FLAGS.store(x86_64::registers::rflags::read_raw(), Ordering::Relaxed);
    BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
    log::debug!("{}", ExceptionReport::new(3, &frame, None));
}

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, error_code: u64) -> ! {
    cpu::close_user_access();
    let mut report = ExceptionReport::new(8, &frame, Some(error_code));
    report.cr2 = Some(Cr2::read_raw());
    fatal(&report)
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    cpu::close_user_access();
    fatal(&ExceptionReport::new(18, &frame, None))
}

extern "x86-interrupt" fn page_fault(mut frame: InterruptStackFrame, error_code: PageFaultErrorCode) {
    cpu::close_user_access();
    let address = Cr2::read_raw();
    let rip = frame.instruction_pointer.as_u64();
    // A demand page of the running process (touched by it, or by the kernel
    // copying to or from it): commit and retry the access.
    if HANDLERS.get().is_some_and(|handlers| (handlers.page_fault)(address, rip, error_code)) {
        return;
    }
    if let Some(resume) = probe::fixup(rip, x86_64::VirtAddr::new_truncate(address), error_code.bits()) {
        // SAFETY: `resume` is the probe's landing pad, which runs on the same
        // stack with the same registers as the faulting access it replaces.
        unsafe {
            frame.as_mut().update(|saved| saved.instruction_pointer = x86_64::VirtAddr::new(resume));
        }
        return;
    }
    let mut report = ExceptionReport::new(14, &frame, Some(error_code.bits()));
    report.cr2 = Some(address);
    unrecoverable(&report)
}

extern "x86-interrupt" fn timer(_frame: InterruptStackFrame) {
    cpu::close_user_access();
    crate::time::tick();
    apic::end_of_interrupt();
    if let Some(handlers) = HANDLERS.get() {
        (handlers.timer_tick)();
    }
}

extern "x86-interrupt" fn spurious(_frame: InterruptStackFrame) {
    cpu::close_user_access();
    SPURIOUS.fetch_add(1, Ordering::Relaxed);
}

/// Builds and loads the IDT. Call after `gdt::init` (the IST slots must exist).
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        idt.divide_error.set_handler_fn(divide_error);
        idt.debug.set_handler_fn(debug);
        idt.breakpoint.set_handler_fn(breakpoint);
        idt.overflow.set_handler_fn(overflow);
        idt.bound_range_exceeded.set_handler_fn(bound_range_exceeded);
        idt.invalid_opcode.set_handler_fn(invalid_opcode);
        idt.device_not_available.set_handler_fn(device_not_available);
        idt.invalid_tss.set_handler_fn(invalid_tss);
        idt.segment_not_present.set_handler_fn(segment_not_present);
        idt.stack_segment_fault.set_handler_fn(stack_segment_fault);
        idt.general_protection_fault.set_handler_fn(general_protection_fault);
        idt.page_fault.set_handler_fn(page_fault);
        idt.x87_floating_point.set_handler_fn(x87_floating_point);
        idt.alignment_check.set_handler_fn(alignment_check);
        idt.simd_floating_point.set_handler_fn(simd_floating_point);
        idt.virtualization.set_handler_fn(virtualization);
        idt.cp_protection_exception.set_handler_fn(control_protection);
        idt.hv_injection_exception.set_handler_fn(hypervisor_injection);
        idt.vmm_communication_exception.set_handler_fn(vmm_communication);
        idt.security_exception.set_handler_fn(security_exception);
        // SAFETY: the IST indices name stacks that `gdt::init` installed in
        // the TSS; each is used by exactly one handler, so they never nest.
        unsafe {
            idt.double_fault.set_handler_fn(double_fault).set_stack_index(gdt::DOUBLE_FAULT_IST);
            idt.non_maskable_interrupt
                .set_handler_fn(non_maskable_interrupt)
                .set_stack_index(gdt::NMI_IST);
            idt.machine_check.set_handler_fn(machine_check).set_stack_index(gdt::MACHINE_CHECK_IST);
        }
        for vector in pic::PIC_VECTOR_BASE..pic::PIC_VECTOR_BASE + 16 {
            idt[vector].set_handler_fn(spurious);
        }
        idt[TIMER_VECTOR].set_handler_fn(timer);
        idt[SPURIOUS_VECTOR].set_handler_fn(spurious);
        idt
    });
    idt.load();
}

mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use crate::{ensure, ensure_eq};

    #[ktest]
    fn breakpoint_exception_returns() {
        let before = breakpoint_count();
        x86_64::instructions::interrupts::int3();
        x86_64::instructions::interrupts::int3();
        ensure_eq!(breakpoint_count(), before + 2);
    }

    #[ktest]
    fn handlers_run_with_smap_armed_and_an_open_window_survives_them() {
        const AC: u64 = 1 << 18;
        if !cpu::smap_enabled() {
            log::warn!("no SMAP on this processor: nothing to check");
            return Ok(());
        }
        let window = cpu::UserAccessWindow::open();
        ensure!(x86_64::registers::rflags::read_raw() & AC != 0, "the window sets AC");
        x86_64::instructions::interrupts::int3();
        let inside = BREAKPOINT_FLAGS.load(Ordering::Relaxed);
        let after = x86_64::registers::rflags::read_raw();
        drop(window);
        ensure!(inside & AC == 0, "the handler cleared AC");
        ensure!(after & AC != 0, "iretq restored the window");
        ensure_eq!(x86_64::registers::rflags::read_raw() & AC, 0);
    }

    #[ktest]
    fn exception_reports_name_vector_mode_and_cr2() {
        let report = ExceptionReport {
            vector: 14,
            mnemonic: "#PF",
            name: "page fault",
            error_code: Some(0x2),
            cr2: Some(0xdead_b000),
            mode: Mode::Kernel,
            rip: 0xffff_ffff_8000_1234,
            rsp: 0x1000,
            rflags: 0x46,
        };
        let text = alloc::format!("{report}");
        ensure!(text.starts_with("#PF page fault (vector 14) in kernel mode: error=0x2"), "{text}");
        ensure!(text.contains("rip=0xffffffff80001234 cr2=0xdeadb000"), "{text}");
        ensure!(text.contains("CAUSED_BY_WRITE"), "{text}");
    }

    #[ktest]
    fn every_exception_vector_has_a_name() {
        for (vector, (mnemonic, name)) in EXCEPTION_NAMES.iter().enumerate() {
            ensure!(mnemonic.starts_with('#') || *mnemonic == "NMI", "vector {vector}");
            ensure!(!name.is_empty(), "vector {vector}");
        }
    }
}
