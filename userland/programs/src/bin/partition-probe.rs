//! Helper: queries the partition whose id is its first argument and exits
//! with 0 on success or the error code (to show ids are per-process).

#![no_std]
#![no_main]

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let id = args.get(1).and_then(|id| id.parse().ok()).unwrap_or(0);
    match runtime::sys::partition_query(id) {
        Ok(_) => 0,
        Err(error) => error.code() as i32,
    }
}
