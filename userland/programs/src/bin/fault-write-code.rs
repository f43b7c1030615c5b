//! Helper: writes to its own code, which must kill it.

#![no_std]
#![no_main]

runtime::entry!(main);

fn main(_args: runtime::Args) -> i32 {
    let code = main as *const () as *mut u8;
    // SAFETY: not safe on purpose: code pages are read-only and the write must fault.
    unsafe { core::ptr::write_volatile(code, 0xc3) };
    0
}
