//! Console output: `print!`/`println!` format into a 512-byte buffer on the
//! stack that is written with one system call when full and at the end.

use core::fmt;

/// Bytes buffered before a `write` system call.
const BUFFER_SIZE: usize = 512;

/// A buffered console writer; flushes when full and when dropped.
pub struct Writer {
    buffer: [u8; BUFFER_SIZE],
    used: usize,
}

impl Writer {
    /// An empty writer.
    pub const fn new() -> Writer {
        Writer { buffer: [0; BUFFER_SIZE], used: 0 }
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
        let mut rest = text.as_bytes();
        while !rest.is_empty() {
            if self.used == self.buffer.len() {
                self.flush();
            }
            let count = rest.len().min(self.buffer.len() - self.used);
            self.buffer[self.used..self.used + count].copy_from_slice(&rest[..count]);
            self.used += count;
            rest = &rest[count..];
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
    ($($arg:tt)*) => { $crate::print::print(::core::format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print::print(::core::format_args!("\n")) };
    ($($arg:tt)*) => { $crate::print::print(::core::format_args!("{}\n", ::core::format_args!($($arg)*))) };
}

/// Prints to the console (there is one output stream: the same as `print!`).
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::print!($($arg)*) };
}

/// Prints a line to the console (the same as `println!`).
#[macro_export]
macro_rules! eprintln {
    ($($arg:tt)*) => { $crate::println!($($arg)*) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn long_text_is_flushed_in_buffer_sized_pieces() {
        let mut writer = Writer::new();
        let text = "x".repeat(2 * BUFFER_SIZE + 276);
        assert!(writer.write_str(&text).is_ok());
        assert_eq!(writer.used, 276);
        assert!(write!(writer, "{}", 12345).is_ok());
        assert_eq!(writer.used, 281);
        writer.flush();
        assert_eq!(writer.used, 0);
    }
}
