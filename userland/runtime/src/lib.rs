//! The user-space runtime every program links: the `_start` entry point,
//! safe system-call wrappers, a heap over `map_anonymous`, `println!`, a
//! panic handler that exits with code 101, and the `tests!` harness.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod harness;
pub mod print;
pub mod sys;

#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod start;

pub use harness::{decode_test_exit_code, test_exit_code, TestFailure, TestResult, TEST_EXIT_MAGIC};
#[doc(hidden)]
pub use alloc::format;

/// The program's arguments (argv[0] is the program's ramdisk path).
#[derive(Clone, Copy)]
pub struct Args {
    arguments: &'static [abi::Arg],
}

impl Args {
    /// Wraps the array the kernel placed on the stack.
    ///
    /// # Safety
    /// `arguments` must point to `count` valid `abi::Arg` entries whose text
    /// stays mapped for the life of the program.
    pub unsafe fn from_raw(arguments: *const abi::Arg, count: usize) -> Args {
        if arguments.is_null() || count == 0 {
            return Args { arguments: &[] };
        }
        // SAFETY: guaranteed by the caller.
        Args { arguments: unsafe { core::slice::from_raw_parts(arguments, count) } }
    }

    /// Number of arguments, including the program path.
    pub fn len(&self) -> usize {
        self.arguments.len()
    }

    /// Whether there are no arguments at all.
    pub fn is_empty(&self) -> bool {
        self.arguments.is_empty()
    }

    /// Argument `index` (non-UTF-8 text becomes "").
    pub fn get(&self, index: usize) -> Option<&'static str> {
        let argument = self.arguments.get(index)?;
        if argument.len == 0 {
            return Some("");
        }
        // SAFETY: the kernel wrote `len` bytes of text at `ptr` on our stack,
        // which stays mapped and is never written again.
        let bytes = unsafe { core::slice::from_raw_parts(argument.ptr as *const u8, argument.len as usize) };
        Some(core::str::from_utf8(bytes).unwrap_or(""))
    }

    /// The program's name: argv[0] without its directory.
    pub fn program_name(&self) -> &'static str {
        let path = self.get(0).unwrap_or("");
        path.rsplit('/').next().unwrap_or(path)
    }

    /// Every argument, argv[0] first.
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        (0..self.len()).filter_map(|index| self.get(index))
    }
}

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
