//! The `log` facade over the serial port, plus raw console output.
//!
//! Each record becomes one line: uptime (TSC-based), CPU, level, module and
//! message. Output goes through an [`IrqMutex`], so logging from interrupt
//! handlers cannot deadlock with the code they interrupted; fatal paths use
//! [`fatal`], which never waits for that lock.

use crate::arch::{cpu, serial};
use crate::config::LogLevel;
use crate::sync::IrqMutex;
use crate::time;
use core::fmt::{self, Write};
use log::{LevelFilter, Log, Metadata, Record};

static CONSOLE: IrqMutex<Option<serial::SerialPort>> = IrqMutex::new(None);
static LOGGER: KernelLogger = KernelLogger;

struct KernelLogger;

/// Brings up COM1 and installs the logger at `Info` level.
pub fn init() {
    *CONSOLE.lock() = serial::SerialPort::com1();
    // Installation fails only if a logger is already set, which means init ran twice.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}

/// Changes the verbosity.
pub fn set_level(level: LogLevel) {
    log::set_max_level(match level {
        LogLevel::Error => LevelFilter::Error,
        LogLevel::Warn => LevelFilter::Warn,
        LogLevel::Info => LevelFilter::Info,
        LogLevel::Debug => LevelFilter::Debug,
        LogLevel::Trace => LevelFilter::Trace,
    });
}

impl Log for KernelLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let nanos = time::uptime_nanos();
        let target = record.target();
        let target = target.strip_prefix("kernel::").unwrap_or(target);
        let mut console = CONSOLE.lock();
        if let Some(port) = console.as_mut() {
            // A serial write cannot fail; there is nowhere to report it if it did.
            let _ = writeln!(
                port,
                "[{:>4}.{:06}] cpu{} {:<5} {}: {}",
                nanos / 1_000_000_000,
                nanos % 1_000_000_000 / 1000,
                cpu::current_id(),
                record.level(),
                target,
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Writes formatted text to the console without a prefix (test results).
pub fn print(args: fmt::Arguments<'_>) {
    if let Some(port) = CONSOLE.lock().as_mut() {
        let _ = port.write_fmt(args);
    }
}

/// Writes formatted text from a fatal path (panic, unexpected exception).
///
/// Uses the console if it is free; if the crashing code holds it, writes
/// straight to the UART instead of waiting for a lock that is never released.
pub fn fatal(args: fmt::Arguments<'_>) {
    if let Some(mut console) = CONSOLE.try_lock()
        && let Some(port) = console.as_mut()
    {
        let _ = port.write_fmt(args);
        return;
    }
    if let Some(mut writer) = serial::EmergencyWriter::new() {
        let _ = writer.write_fmt(args);
    }
}

/// Prints to the console, like `println!`, without a log prefix.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::logger::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
