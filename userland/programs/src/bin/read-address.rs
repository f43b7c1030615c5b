//! Helper: reads the byte at the address given (hex, `0x` optional) as the
//! first argument; exits 0 if that did not kill it.

#![no_std]
#![no_main]

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let text = args.get(1).unwrap_or("0").trim_start_matches("0x");
    let Ok(address) = u64::from_str_radix(text, 16) else {
        runtime::println!("read-address: `{text}` is not a hexadecimal address");
        return 2;
    };
    // A byte read needs no alignment, so any address reaches the MMU.
    let pointer = core::hint::black_box(address) as *const u8;
    // SAFETY: not safe on purpose: the read is expected to fault.
    let value = unsafe { core::ptr::read_volatile(pointer) };
    runtime::println!("read-address: read {value:#x} at {address:#x}");
    0
}
