//! Helper: reads kernel memory (0xffff_ffff_8000_0000), which must kill it
//! (unmapped for user code). Exits 0 if it survives, so a missing fault
//! shows up as a failed check.

#![no_std]
#![no_main]

/// The start of the kernel's higher-half image.
const KERNEL_ADDRESS: u64 = 0xffff_ffff_8000_0000;

runtime::entry!(main);

fn main(_args: runtime::Args) -> i32 {
    let address = core::hint::black_box(KERNEL_ADDRESS) as *const u8;
    // SAFETY: not safe on purpose: kernel pages are not user-accessible, so
    // the read must fault before producing a value.
    let value = unsafe { core::ptr::read_volatile(address) };
    runtime::println!("fault-kernel-read: read {value:#x} at {KERNEL_ADDRESS:#x}");
    0
}
