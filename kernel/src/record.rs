//! Records for the host: results as typed values (`abi::record`) on the
//! second serial port (COM2), beside the log lines people read on COM1.
//!
//! Where they are written, each where its log line is: a `memstat` when a
//! process ends (`process::table`, unless `memstat=off`); each kernel test's
//! outcome and the closing tally (`ktest`, the panic path included); a user
//! program's tests and tally through the `test_report` and `test_summary`
//! system calls (`syscall`), under the program's own name as the suite.
//!
//! The port is behind an [`IrqMutex`] (a leaf lock: nothing is taken while
//! it is held) and a record is encoded straight onto it, never buffered,
//! so fatal paths can write one ([`write_fatal`]). Without a second port
//! (QEMU run with one `-serial`) records are dropped after one warning at
//! boot; the log lines are all there is then.

use crate::arch::serial::RecordPort;
use crate::sync::IrqMutex;
use abi::record::Record;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

static PORT: IrqMutex<Option<RecordPort>> = IrqMutex::new(None);
static PRESENT: AtomicBool = AtomicBool::new(false);

/// Brings up COM2; warns once if there is none.
pub fn init() {
    let port = RecordPort::com2();
    PRESENT.store(port.is_some(), Ordering::Relaxed);
    if port.is_none() {
        log::warn!("records: no second serial port (COM2): results go to the log only");
    }
    *PORT.lock() = port;
}

/// Whether records go anywhere (a caller may skip building one if not).
pub fn enabled() -> bool {
    PRESENT.load(Ordering::Relaxed)
}

/// Writes `record` to COM2 (nothing without one).
pub fn write<S: AsRef<str>>(record: &Record<S>) {
    if let Some(port) = PORT.lock().as_mut() {
        record.encode(&mut |bytes: &[u8]| port.send(bytes));
    }
}

/// Writes `record` from a fatal path (a panic): through the port if it is
/// free, else straight to the UART rather than wait for a lock the
/// crashed code may hold.
pub fn write_fatal<S: AsRef<str>>(record: &Record<S>) {
    if !enabled() {
        return;
    }
    if let Some(mut guard) = PORT.try_lock()
        && let Some(port) = guard.as_mut()
    {
        record.encode(&mut |bytes: &[u8]| port.send(bytes));
        return;
    }
    if let Some(mut port) = RecordPort::emergency() {
        record.encode(&mut |bytes: &[u8]| port.send(bytes));
    }
}

/// Text formatted into a fixed buffer, for records built where the heap
/// may not be usable (a panic): what does not fit is cut at a character
/// boundary.
pub struct FixedText<const N: usize> {
    bytes: [u8; N],
    used: usize,
}

impl<const N: usize> FixedText<N> {
    /// Empty text.
    pub const fn new() -> FixedText<N> {
        FixedText { bytes: [0; N], used: 0 }
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        // Only whole characters are ever copied in (`write_str`).
        core::str::from_utf8(&self.bytes[..self.used]).unwrap_or("")
    }
}

impl<const N: usize> Default for FixedText<N> {
    fn default() -> Self {
        FixedText::new()
    }
}

impl<const N: usize> fmt::Write for FixedText<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut fits = text.len().min(N - self.used);
        while !text.is_char_boundary(fits) {
            fits -= 1;
        }
        self.bytes[self.used..self.used + fits].copy_from_slice(&text.as_bytes()[..fits]);
        self.used += fits;
        Ok(())
    }
}

#[cfg(target_os = "none")]
mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use core::fmt::Write as _;

    #[ktest]
    fn fixed_text_cuts_at_a_character_boundary() {
        let mut text = FixedText::<5>::new();
        let accent = 'é';
        let _ = write!(text, "ab{accent}{accent}");
        crate::ensure_eq!(text.as_str(), "abé");
        let _ = text.write_str("x");
        crate::ensure_eq!(text.as_str(), "abéx");
        let _ = text.write_str("yz");
        crate::ensure_eq!(text.as_str(), "abéx");
    }
}
