//! Helper: jumps into a data buffer holding `ret`, which must kill it (NX).

#![no_std]
#![no_main]

static mut RETURN_INSTRUCTION: [u8; 16] = [0xc3; 16];

runtime::entry!(main);

fn main(_args: runtime::Args) -> i32 {
    let data = (&raw mut RETURN_INSTRUCTION).cast::<u8>();
    // SAFETY: not safe on purpose: the buffer is in a non-executable page,
    // so the call must fault before running anything.
    let function: extern "C" fn() = unsafe { core::mem::transmute(core::hint::black_box(data)) };
    function();
    0
}
