//! Helper: reads a u64 at the address given (hex) as the first argument;
//! exits 0 if that did not kill it.

#![no_std]
#![no_main]

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let text = args.get(1).unwrap_or("0").trim_start_matches("0x");
    let address = u64::from_str_radix(text, 16).unwrap_or(0);
    // SAFETY: not safe on purpose: the read is expected to fault.
    let value = unsafe { core::ptr::read_volatile(address as *const u64) };
    runtime::println!("read-address: read {value:#x} at {address:#x}");
    0
}
