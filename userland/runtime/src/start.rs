//! Process entry: `_start`, and the panic handler.

use crate::{print, sys, Args};
use core::fmt::Write;

unsafe extern "Rust" {
    /// Defined by `runtime::entry!` (or `runtime::tests!`) in the program.
    fn __runtime_main(args: Args) -> i32;
}

/// The kernel enters here with `rdi = argc`, `rsi = argv` (an array of
/// `abi::Arg`) and a 16-byte aligned stack.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!("xor ebp, ebp", "and rsp, -16", "call {start}", "ud2", start = sym start_rust)
}

extern "C" fn start_rust(argc: u64, argv: *const abi::Arg) -> ! {
    // SAFETY: the kernel's process contract: argv holds argc entries on the stack.
    let args = unsafe { Args::from_raw(argv, argc as usize) };
    // SAFETY: the program defines `__runtime_main` through `entry!`/`tests!`.
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
