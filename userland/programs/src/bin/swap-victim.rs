//! Helper for the swap tests: `swap-victim corrupt|fail|syscall` writes a
//! pattern over 64 pages under a 16-page budget (so the first ones go to
//! swap), then has the kernel damage its first page's copy on the swap
//! device (`swap_debug`: a flipped bit, or a failing read), checks every
//! other page, and touches the first: the kernel must kill it
//! (`swap-lost`). With `syscall` the first touch is the kernel's, reading
//! a ramdisk file into that page for `read_file`: the kernel must kill it
//! when the call returns. Exits 2 on a refused setup, 3 if a page differs,
//! 4 if it survives.

#![no_std]
#![no_main]

use abi::{PartitionKind, Rights};
use runtime::{println, sys};

runtime::entry!(main);

use abi::PAGE_SIZE as PAGE;
const PAGES: u64 = 64;

fn value(page: u64) -> u64 {
    0x5a5a_0000_0000_0000 | page
}

fn main(args: runtime::Args) -> i32 {
    let op = match args.get(1) {
        Some("corrupt") => abi::SWAP_DEBUG_CORRUPT,
        Some("fail" | "syscall") => abi::SWAP_DEBUG_FAIL_READ,
        _ => {
            println!("usage: swap-victim corrupt|fail|syscall");
            return 2;
        }
    };
    if sys::memory_budget(16).is_err() {
        return 2;
    }
    let Ok(partition) = sys::partition_create(PAGES * PAGE, PartitionKind::Heap, Rights::READ | Rights::WRITE) else {
        return 2;
    };
    let word = |page: u64| (partition.base + page * PAGE + 64) as *mut u64;
    for page in 0..PAGES {
        // SAFETY: inside the read-write partition just created, aligned.
        unsafe { core::ptr::write_volatile(word(page), value(page)) };
    }
    // SAFETY: no pointer is passed; the kernel checks the address.
    let raw = unsafe { sys::syscall6(abi::Syscall::SwapDebug as u64, op, partition.base, 0, 0, 0, 0) };
    if let Err(error) = abi::decode(raw) {
        println!("swap-victim: swap_debug refused: {error:?}");
        return 2;
    }
    for page in 1..PAGES {
        // SAFETY: as above.
        if unsafe { core::ptr::read_volatile(word(page)) } != value(page) {
            println!("swap-victim: page {page} differs");
            return 3;
        }
    }
    if args.get(1) == Some("syscall") {
        // SAFETY: as above: eight bytes of the first page, which the kernel
        // will find it cannot bring back when it copies into them.
        let buffer = unsafe { core::slice::from_raw_parts_mut(word(0).cast::<u8>(), 8) };
        let result = sys::read_file("boot/cmdline", buffer, 0);
        println!("swap-victim: survived the system call: {result:?}");
        return 4;
    }
    // SAFETY: as above; the kernel cannot bring this page back.
    let first = unsafe { core::ptr::read_volatile(word(0)) };
    println!("swap-victim: survived reading {first:#x}");
    4
}
