//! Process entry: `_start`, and the panic handler.
//!
//! The kernel enters `_start` with `rdi = argc` and `rsi = argv`, an array
//! of `abi::Arg` on the stack (the loader puts it there).

use crate::{print, sys, Args};
use core::fmt::Write;

unsafe extern "Rust" {
    /// Defined by `runtime::entry!` (or `runtime::tests!`) in the program.
    fn __runtime_main(args: Args) -> i32;
}

/// The kernel enters here with `rdi = argc`, `rsi = argv` (an array of
/// `abi::Arg`) and a 16-byte aligned stack. Clears the frame pointer (the
/// end of backtraces), realigns the stack, and calls [`start_rust`], which
/// never returns.
///
/// # Safety
/// Only the kernel may enter here, once, as the process's first instruction,
/// with `rsi` pointing to `rdi` valid `abi::Arg` entries whose text stays
/// mapped for the life of the process.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!("xor ebp, ebp", "and rsp, -16", "call {start}", "ud2", start = sym start_rust)
}

/// Wraps the arguments, runs the program's `main` and exits with its result.
extern "C" fn start_rust(argc: u64, argv: *const abi::Arg) -> ! {
    let count = usize::try_from(argc).unwrap_or(0);
    // SAFETY: `_start`'s contract: the kernel placed `argc` valid entries at
    // `argv` on the stack, with their text, and never changes them.
    let args = unsafe { Args::from_raw(argv, count) };
    // SAFETY: `__runtime_main` comes only from `entry!` (which `tests!`
    // uses), which defines it with exactly this signature; a program without
    // it fails to link.
    let code = unsafe { __runtime_main(args) };
    sys::exit(code)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut out = print::Writer::new();
    let _ = match info.location() {
        Some(location) => writeln!(out, "panicked at {location}: {}", info.message()),
        None => writeln!(out, "panicked: {}", info.message()),
    };
    drop(out);
    sys::exit(101)
}
