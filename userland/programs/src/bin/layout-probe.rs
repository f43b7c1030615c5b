//! Helper for `test-layout`: creates a 16-page buffer partition and a
//! 1-page one after it, then grows the first to 128 pages and writes to its
//! first pages. Exits with the number of virtual ranges the first ended up with:
//! 2 when the second partition sat right after it (the growth went
//! elsewhere), 1 when the VASS had kept room after it (a layout proposal
//! from an earlier run under `pae` said it grows).

#![no_std]
#![no_main]

use abi::{PartitionKind, Rights};
use runtime::{println, sys};

runtime::entry!(main);

use abi::PAGE_SIZE as PAGE;
const FIRST_PAGES: u64 = 16;
const GROWN_PAGES: u64 = 128;

fn main(_: runtime::Args) -> i32 {
    let rights = Rights::READ | Rights::WRITE;
    let (Ok(first), Ok(_second)) =
        (sys::partition_create(FIRST_PAGES * PAGE, PartitionKind::Buffer, rights), sys::partition_create(PAGE, PartitionKind::Buffer, rights))
    else {
        println!("layout-probe: cannot create the partitions");
        return -1;
    };
    if let Err(error) = sys::partition_resize(first.id, GROWN_PAGES * PAGE) {
        println!("layout-probe: cannot grow: {error}");
        return -1;
    }
    let Ok(info) = sys::partition_query(first.id) else { return -1 };
    for page in 0..FIRST_PAGES {
        // SAFETY: the partition's first range holds at least its first
        // `FIRST_PAGES` pages, read-write.
        unsafe { core::ptr::write_volatile((first.base + page * PAGE) as *mut u8, 1) };
    }
    println!("layout-probe: ranges={} size={} base={:#x}", info.ranges, info.size, info.base);
    info.ranges as i32
}
