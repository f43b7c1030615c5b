//! Helper: exits with its first argument as the exit code (default 0).

#![no_std]
#![no_main]

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    args.get(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}
