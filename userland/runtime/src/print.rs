//! Console output: `print!`/`println!` format into a small buffer that is
//! written with one system call per line or per 512 bytes.

use core::fmt;

/// A buffered console writer; flushes when full and when dropped.
pub struct Writer {
    buffer: [u8; 512],
    used: usize,
}

impl Writer {
    /// An empty writer.
    pub const fn new() -> Writer {
        Writer { buffer: [0; 512], used: 0 }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        if self.used > 0 {
            let _ = crate::sys::write(&self.buffer[..self.used]);
            self.used = 0;
        }
    }
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

impl fmt::Write for Writer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.used == self.buffer.len() {
                self.flush();
            }
            self.buffer[self.used] = byte;
            self.used += 1;
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Prints formatted text (used by the macros).
pub fn print(args: fmt::Arguments<'_>) {
    let mut writer = Writer::new();
    let _ = fmt::Write::write_fmt(&mut writer, args);
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::print::print(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::print::print(format_args!("{}\n", format_args!($($arg)*))) };
}
