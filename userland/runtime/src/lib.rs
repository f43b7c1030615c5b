//! The user-space runtime every program links: the `_start` entry point,
//! safe system-call wrappers, a heap over a heap partition, `println!`, a
//! panic handler that exits with code 101, and the `tests!` harness.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod harness;
pub mod ipc;
pub mod print;
pub mod share;
pub mod sys;
pub mod workload;

#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod start;

pub use harness::{decode_test_exit_code, test_exit_code, TestCase, TestFailure, TestResult, TEST_EXIT_MAGIC};
#[doc(hidden)]
pub use alloc::format;

/// The program's arguments, argv[0] (the program's ramdisk path) first.
///
/// An iterator over the arguments as text; an argument that is not UTF-8
/// reads as "". [`Args::get`] and [`Args::program_name`] index the whole
/// argv, however far the iterator has advanced.
#[derive(Clone, Debug)]
pub struct Args {
    arguments: &'static [abi::Arg],
    front: usize,
    back: usize,
}

impl Args {
    /// Wraps the array the kernel placed on the stack. A null or unaligned
    /// array reads as no arguments.
    ///
    /// # Safety
    /// If `arguments` is non-null and aligned, it must point to `count` valid
    /// `abi::Arg` entries, each naming `len` readable bytes at `ptr`, all of
    /// which stay mapped and unchanged for the life of the program.
    pub unsafe fn from_raw(arguments: *const abi::Arg, count: usize) -> Args {
        if arguments.is_null() || !arguments.is_aligned() || count == 0 {
            return Args::empty();
        }
        // SAFETY: non-null and aligned (checked above); the caller guarantees
        // `count` valid entries that live as long as the program.
        let arguments = unsafe { core::slice::from_raw_parts(arguments, count) };
        Args { arguments, front: 0, back: count }
    }

    /// No arguments at all.
    pub const fn empty() -> Args {
        Args { arguments: &[], front: 0, back: 0 }
    }

    /// Argument `index` of argv (0 is the program path), whatever the
    /// iterator has consumed; non-UTF-8 text reads as "".
    pub fn get(&self, index: usize) -> Option<&'static str> {
        self.arguments.get(index).map(argument_text)
    }

    /// The program's name: argv[0] without its directory.
    pub fn program_name(&self) -> &'static str {
        let path = self.get(0).unwrap_or("");
        path.rsplit('/').next().unwrap_or(path)
    }
}

/// The text of one argument ("" if it is not UTF-8).
fn argument_text(argument: &abi::Arg) -> &'static str {
    let Ok(length) = usize::try_from(argument.len) else { return "" };
    if length == 0 || argument.ptr == 0 {
        return "";
    }
    // SAFETY: `Args::from_raw`'s contract: every entry names `len` readable
    // bytes at `ptr` (the kernel put them on our stack) that stay mapped and
    // are never written again.
    let bytes = unsafe { core::slice::from_raw_parts(argument.ptr as *const u8, length) };
    core::str::from_utf8(bytes).unwrap_or("")
}

impl Iterator for Args {
    type Item = &'static str;

    fn next(&mut self) -> Option<&'static str> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        self.get(self.front - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = self.back - self.front;
        (remaining, Some(remaining))
    }
}

impl DoubleEndedIterator for Args {
    fn next_back(&mut self) -> Option<&'static str> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        self.get(self.back)
    }
}

impl ExactSizeIterator for Args {}

impl core::iter::FusedIterator for Args {}

/// Declares the program's `main(args: Args) -> i32`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "Rust" fn __runtime_main(args: $crate::Args) -> i32 {
            $main(args)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaked_args(texts: &[&'static [u8]]) -> Args {
        let arguments: Vec<abi::Arg> =
            texts.iter().map(|text| abi::Arg { ptr: text.as_ptr() as u64, len: text.len() as u64 }).collect();
        let arguments: &'static [abi::Arg] = Vec::leak(arguments);
        // SAFETY: the array and the texts it names are leaked or static, so
        // they stay valid and unchanged for the rest of the test process.
        unsafe { Args::from_raw(arguments.as_ptr(), arguments.len()) }
    }

    #[test]
    fn arguments_iterate_in_order_and_index_from_argv_zero() {
        let mut args = leaked_args(&[b"bin/hello", b"from", b"init"]);
        assert_eq!(args.program_name(), "hello");
        assert_eq!(args.len(), 3);
        assert_eq!(args.next(), Some("bin/hello"));
        assert_eq!(args.get(0), Some("bin/hello"));
        assert_eq!(args.get(2), Some("init"));
        assert_eq!(args.get(3), None);
        assert_eq!(args.next_back(), Some("init"));
        assert_eq!(args.len(), 1);
        assert_eq!(args.collect::<Vec<_>>(), ["from"]);
    }

    #[test]
    fn bad_text_and_missing_arrays_read_as_empty() {
        let args = leaked_args(&[b"hello", b"\xff\xfe", b""]);
        assert_eq!(args.program_name(), "hello");
        assert_eq!(args.collect::<Vec<_>>(), ["hello", "", ""]);
        // SAFETY: a null array is documented to read as no arguments.
        let none = unsafe { Args::from_raw(core::ptr::null(), 5) };
        assert_eq!(none.len(), 0);
        assert_eq!(none.program_name(), "");
    }
}
