//! Helper: starts `bin/spin <ticks>` (first argument, default 5) and exits
//! at once without waiting, leaving an orphan for the kernel to clean up.

#![no_std]
#![no_main]

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let ticks = args.get(1).unwrap_or("5");
    match runtime::sys::spawn("bin/spin", &[ticks]) {
        Ok(_) => 0,
        Err(_) => 1,
    }
}
