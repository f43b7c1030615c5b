//! The boot sequence: from the bootloader's hand-over to run or test mode,
//! plus the panic handler and the fault injector used by integration tests.
//!
//! [`start`]: serial, logger and the record port → TSC calibration (PIT) → ramdisk and
//! command line → GDT/TSS, IDT and the fault handlers → CPU features and
//! protections → frame allocator → page tables (and the IST guard pages) →
//! heap → PIC masked, local-APIC timer calibrated against the TSC and
//! started → interrupts on → PCI discovery and the swap disk (`dev::init`)
//! → syscall MSRs → memory service, history, swap, budgets and PAE
//! settings → the PAE's model and the ramdisk handed to `process` →
//! scheduler (the boot context becomes task 0, plus an idle task) →
//! optional fault injection → test mode (`ktest::run`) or run mode (the
//! sampler, the PAE task and the history exporter; spawn `init`, wait for
//! it, exit with its verdict).

use crate::arch::{apic, cpu, gdt, idt, pic, qemu};
use crate::config::{BootConfig, Inject, Mode, CMDLINE_PATH};
use crate::mm::{frame, heap, layout, paging};
use crate::ramdisk::Ramdisk;
use crate::arch::syscall;
use crate::{dev, ktest, logger, memory, pae, process, record, sched, time};
use bootloader_api::config::{BootloaderConfig, Mapping};
use bootloader_api::BootInfo;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::VirtAddr;

/// How the bootloader must set up the machine for this kernel.
pub const BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.mappings.kernel_base = Mapping::FixedAddress(layout::KERNEL_IMAGE_BASE);
    config.mappings.dynamic_range_start = Some(layout::BOOTLOADER.start);
    config.mappings.dynamic_range_end = Some(layout::BOOTLOADER.end);
    config.kernel_stack_size = 256 * 1024;
    config
};

/// How long run mode shows the timer before shutting down, in ticks.
const RUN_MODE_TICKS: u64 = 10;

/// Brings the kernel up and enters the mode the command line asks for.
pub fn start(boot_info: &'static mut BootInfo) -> ! {
    cpu::init_cpu_id();
    logger::init();
    record::init();
    time::calibrate_tsc();

    let ramdisk = ramdisk(boot_info);
    let cmdline = ramdisk
        .as_ref()
        .and_then(|ramdisk| ramdisk.file(CMDLINE_PATH))
        .and_then(|bytes| core::str::from_utf8(bytes).ok())
        .unwrap_or("");
    let config = BootConfig::parse(cmdline);
    logger::set_level(config.log_level);
    log::info!("kernel {} booting, TSC {} MHz", env!("CARGO_PKG_VERSION"), time::tsc_hz() / 1_000_000);
    log::info!("command line: `{}`", cmdline.trim());
    for warning in config.warnings() {
        log::warn!("command line: {warning}");
    }
    match &ramdisk {
        Some(ramdisk) => log::info!("ramdisk: {} bytes, {} files", ramdisk.len(), ramdisk.file_count()),
        None => log::warn!("no usable ramdisk: running with the default configuration"),
    }

    gdt::init();
    idt::init();
    idt::install_handlers(idt::Handlers {
        page_fault: process::page_fault,
        user_fault: process::kill_for_fault,
        timer_tick: sched::on_timer_tick,
    });
    let features = cpu::Features::detect();
    cpu::enable_protections(&features);
    log::info!("cpu: {features}");

    let Some(offset) = boot_info.physical_memory_offset.into_option() else {
        panic!("the bootloader did not map physical memory");
    };
    let summary = match frame::init(&boot_info.memory_regions, VirtAddr::new(offset)) {
        Ok(summary) => summary,
        Err(error) => panic!("cannot set up the frame allocator: {error:?}"),
    };
    let counts = frame::counts();
    log::info!(
        "memory map: {} regions, {} KiB usable, {} KiB bootloader, {} KiB firmware, top {:#x}",
        summary.regions,
        summary.usable / 1024,
        summary.bootloader / 1024,
        summary.firmware / 1024,
        summary.top
    );
    log::info!(
        "frames: {} free, {} kernel, {} reserved ({} KiB metadata)",
        counts.free,
        counts.kernel,
        counts.reserved,
        summary.metadata / 1024
    );

    if let Err(error) = paging::init() {
        panic!("cannot set up the kernel page tables: {error:?}");
    }
    if let Err(error) = gdt::guard_ist_stacks() {
        log::warn!("IST stacks stay without guard pages: {error:?}");
    }
    if let Err(error) = heap::init() {
        panic!("cannot map the initial kernel heap: {error:?}");
    }

    pic::remap_and_mask();
    start_timer(&features, config.timer_hz);
    cpu::enable_interrupts();
    log::info!("interrupts on: APIC id {} version {:#x}", apic::id(), apic::version());
    dev::init();

    syscall::init();
    memory::configure(config.huge_pages, config.memstat, config.policy, config.shared_text, config.text_cache);
    process::configure_history(config.history, config.history_export);
    if let Some(disk) = dev::swap_disk() {
        memory::attach_swap(disk.lock().slots());
    }
    memory::allow_swap_debug(config.swap_debug);
    memory::set_eviction(config.eviction);
    if let Some(budget) = config.mem_budget {
        let pages = budget.pages(crate::mm::frame::counts().free);
        memory::set_global_budget(pages);
        log::info!("memory budget: {pages} pages for all processes");
    }
    pae::configure(config.pae_budget, pae::Settings { cold_ticks: config.pae_cold_ticks, ..Default::default() });
    if let Some(ramdisk) = ramdisk {
        pae::load_from_ramdisk(&ramdisk);
        process::init(ramdisk);
    }
    if let Err(error) = sched::init() {
        panic!("cannot start the scheduler: {error:?}");
    }

    if let Some(inject) = config.inject {
        inject_fault(inject);
    }
    match config.mode {
        Mode::Test => ktest::run(config.test_filter),
        Mode::Run => {
            process::start_sampler(config.sample_ticks);
            pae::start(process::pae_processes());
            process::start_history_export();
            run(config.init_path, config.init_arguments)
        }
    }
}

fn ramdisk(boot_info: &BootInfo) -> Option<Ramdisk<'static>> {
    let address = boot_info.ramdisk_addr.into_option()?;
    // SAFETY: the bootloader mapped the ramdisk at `address` for
    // `ramdisk_len` bytes, read-only for the kernel's whole life, and marked
    // its frames as used so the frame allocator never hands them out.
    let bytes = unsafe { core::slice::from_raw_parts(address as *const u8, boot_info.ramdisk_len as usize) };
    match Ramdisk::new(bytes) {
        Ok(ramdisk) => Some(ramdisk),
        Err(error) => {
            log::error!("ignoring the ramdisk: {error}");
            None
        }
    }
}

fn start_timer(features: &cpu::Features, hz: u32) {
    let access = if features.x2apic {
        apic::Access::X2Apic
    } else {
        // SAFETY: IA32_APIC_BASE names the local APIC's register page.
        match unsafe { paging::map_mmio(apic::physical_base(), 4096) } {
            Ok(base) => apic::Access::XApic(base),
            Err(error) => panic!("cannot map the local APIC: {error:?}"),
        }
    };
    apic::init(access);
    let window_nanos = 10_000_000;
    let counts = apic::measure_timer_counts(window_nanos);
    let counts_per_second = u64::from(counts) * (1_000_000_000 / window_nanos);
    let per_tick = (counts_per_second / u64::from(hz)).clamp(1, u64::from(u32::MAX)) as u32;
    apic::start_periodic_timer(per_tick);
    time::timer_started(hz);
    log::info!(
        "timer: local APIC ({}) at {} kHz, {hz} Hz tick",
        if features.x2apic { "x2APIC" } else { "xAPIC" },
        counts_per_second / 1000
    );
}

/// Run mode: starts the first program (`bin/init` unless the command line
/// names another) and shuts down with its verdict when it ends.
fn run(init_path: &str, init_arguments: Option<&str>) -> ! {
    if process::ramdisk().and_then(|ramdisk| ramdisk.file(init_path)).is_none() {
        log::warn!("no {init_path} in the ramdisk");
        show_timer_and_stop();
    }
    let arguments: alloc::vec::Vec<&str> =
        init_arguments.map(|text| text.split(',').filter(|a| !a.is_empty()).collect()).unwrap_or_default();
    let pid = match process::spawn(init_path, &arguments, None, None, &[]) {
        Ok(pid) => pid,
        Err(error) => {
            log::error!("cannot start {init_path}: {error}");
            qemu::exit(qemu::ExitCode::Failure);
        }
    };
    log::info!("started {init_path} (pid {pid}) with arguments {arguments:?}");
    let reason = process::wait_from_kernel(pid);
    let counts = frame::counts();
    let stats = sched::stats();
    log::info!(
        "init ended: {reason:?} at timer tick {} ({} Hz); {} processes spawned, {} context switches; frames: {} free, {} user",
        time::ticks(),
        time::timer_hz(),
        process::stats().spawned,
        stats.switches,
        counts.free,
        counts.user
    );
    let (steps, cycles) = pae::totals();
    if steps > 0 {
        log::info!("pae: {steps} model steps in {cycles} TSC cycles of the pae task");
    }
    match reason {
        Some(abi::ExitReason::Exited(0)) => qemu::exit(qemu::ExitCode::Success),
        _ => qemu::exit(qemu::ExitCode::Failure),
    }
}

/// Without an `init` program: shows the timer working and shuts down cleanly.
fn show_timer_and_stop() -> ! {
    let start_ticks = time::ticks();
    let start_nanos = time::uptime_nanos();
    while time::ticks() < start_ticks + RUN_MODE_TICKS {
        cpu::wait_for_interrupt();
    }
    let elapsed_ms = (time::uptime_nanos() - start_nanos) / 1_000_000;
    let heap = heap::stats();
    let counts = frame::counts();
    log::info!("timer ticks: {} in {elapsed_ms} ms (tick {})", RUN_MODE_TICKS, time::ticks());
    log::info!(
        "heap: {} KiB mapped, {} KiB used; frames: {} free, {} kernel",
        heap.size / 1024,
        heap.used / 1024,
        counts.free,
        counts.kernel
    );
    log::info!("nothing to run: shutting down");
    qemu::exit(qemu::ExitCode::Success)
}

/// Deliberately triggers `fault`, for tests that check fault reporting.
fn inject_fault(fault: Inject) {
    log::warn!("injecting fault: {fault:?}");
    match fault {
        Inject::PageFault => {
            let address = (layout::SCRATCH.end - 0x1000) as *const u64;
            // SAFETY: not safe at all, on purpose: the read must fault and the
            // page-fault handler must report it and end the run.
            let value = unsafe { core::ptr::read_volatile(address) };
            log::error!("read {value:#x} from an address that should be unmapped");
        }
        Inject::Panic => panic!("injected panic"),
        Inject::StackOverflow => {
            log::error!("recursion ended at depth {}", recurse(0));
        }
        Inject::InvalidOpcode => {
            // SAFETY: deliberately executes an undefined instruction.
            unsafe { core::arch::asm!("ud2") };
        }
        Inject::GeneralProtection => {
            // SAFETY: deliberately loads from a non-canonical address, which
            // raises #GP before any memory is touched.
            let value = unsafe { core::ptr::read_volatile(0x8000_0000_0000_0000u64 as *const u64) };
            log::error!("read {value:#x} from a non-canonical address");
        }
        Inject::HeapExhaustion => {
            let bytes = layout::HEAP_MAX_SIZE as usize + 1;
            let vector = alloc::vec![0u8; bytes];
            log::error!("allocated {} bytes beyond the heap limit", vector.len());
        }
        Inject::Hang => loop {
            cpu::wait_for_interrupt();
        },
    }
}

fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    if core::hint::black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1) + frame[63]
}

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    cpu::disable_interrupts();
    if PANICKING.swap(true, Ordering::SeqCst) {
        logger::fatal(format_args!("\nKERNEL PANIC while panicking: {}\n", info.message()));
        qemu::exit(qemu::ExitCode::Failure);
    }
    if !ktest::report_panic(info) {
        match info.location() {
            Some(location) => logger::fatal(format_args!("\nKERNEL PANIC at {location}: {}\n", info.message())),
            None => logger::fatal(format_args!("\nKERNEL PANIC: {}\n", info.message())),
        }
    }
    qemu::exit(qemu::ExitCode::Failure)
}
