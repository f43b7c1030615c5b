//! Helper: reads address 0, which must kill it (null dereference). Exits 0
//! if it survives, so a missing fault shows up as a failed check.

#![no_std]
#![no_main]

runtime::entry!(main);

fn main(_args: runtime::Args) -> i32 {
    let null = core::hint::black_box(core::ptr::null::<u8>());
    // SAFETY: not safe on purpose: the first page is never mapped, so the
    // read must fault before producing a value.
    let value = unsafe { core::ptr::read_volatile(null) };
    runtime::println!("fault-null: read {value:#x} at address 0");
    0
}
