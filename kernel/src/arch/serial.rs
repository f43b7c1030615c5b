//! The serial ports: COM1 carries the log, test results and panics as
//! text; COM2 carries records (`crate::record`) as raw bytes.

use core::fmt;
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550, Uart16550Tty};

/// I/O base of COM1.
pub const COM1: u16 = 0x3f8;
/// I/O base of COM2.
pub const COM2: u16 = 0x2f8;

/// The initialised COM1 port. Owned by the logger, which serialises access.
pub struct SerialPort(Uart16550Tty<PioBackend>);

impl SerialPort {
    /// Initialises COM1 (115200 8N1, FIFOs on) and checks it with a loopback test.
    /// Returns `None` if no working UART answers.
    pub fn com1() -> Option<SerialPort> {
        // SAFETY: COM1's eight I/O ports belong to the UART on every PC and
        // QEMU machine; the kernel creates this port once, before any other
        // user of COM1 (the emergency writer only writes the data register).
        unsafe { Uart16550Tty::new_port(COM1, Config::default()) }.ok().map(SerialPort)
    }
}

impl fmt::Write for SerialPort {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.write_str(text)
    }
}

/// A writer for fatal paths (panics, double faults) that must print even if
/// the logger's lock is held by the code that just crashed.
///
/// It only writes bytes to an already initialised COM1, so the worst outcome
/// of racing with the normal writer is interleaved characters.
pub struct EmergencyWriter(Uart16550<PioBackend>);

impl EmergencyWriter {
    /// A writer on COM1 that does not reinitialise the UART.
    pub fn new() -> Option<EmergencyWriter> {
        // SAFETY: as for `SerialPort::com1`; only the transmit path is used,
        // which cannot disturb the configuration the logger set up.
        unsafe { Uart16550::new_port(COM1) }.ok().map(EmergencyWriter)
    }
}

impl fmt::Write for EmergencyWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.0.send_bytes_exact(b"\r");
            }
            self.0.send_bytes_exact(&[byte]);
        }
        Ok(())
    }
}

/// The initialised COM2 port, a byte channel: bytes go out as they are
/// (no newline translation). Owned by `crate::record`, which serialises
/// access.
pub struct RecordPort(Uart16550<PioBackend>);

impl RecordPort {
    /// Initialises COM2 (115200 8N1, FIFOs on) and checks it with a
    /// loopback test. Returns `None` if no working UART answers (QEMU
    /// without a second `-serial`).
    pub fn com2() -> Option<RecordPort> {
        // COM2's eight I/O ports belong to the second UART on every PC and
        // QEMU machine; nothing else decodes them when it is absent (reads
        // return 0xff, which `init`'s presence check rejects).
        // SAFETY: those ports are the UART's, and the kernel creates this
        // port once, before any other user of COM2 (the emergency writer
        // only writes the data register).
        let mut uart = unsafe { Uart16550::new_port(COM2) }.ok()?;
        uart.init(Config::default()).ok()?;
        uart.test_loopback().ok()?;
        Some(RecordPort(uart))
    }

    /// A port on an already initialised COM2 that does not reinitialise
    /// it, for fatal paths that cannot wait for the owner's lock: at worst
    /// its bytes interleave with the owner's, which breaks that record's
    /// checksum (the host reports it) rather than anything else.
    pub fn emergency() -> Option<RecordPort> {
        // SAFETY: as for `com2`; only the transmit path is used, which
        // cannot disturb the configuration `com2` set up.
        unsafe { Uart16550::new_port(COM2) }.ok().map(RecordPort)
    }

    /// Sends `bytes`, waiting for room in the transmit FIFO.
    pub fn send(&mut self, bytes: &[u8]) {
        self.0.send_bytes_exact(bytes);
    }
}
