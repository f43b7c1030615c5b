//! The user heap: collections, growth to 64 MiB, anonymous mappings.

#![no_std]
#![no_main]

extern crate alloc;

use abi::Error;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use runtime::{check, check_eq, sys};

runtime::tests! {
    fn collections_work() {
        let boxed = Box::new(41u64);
        let mut text = String::from("heap");
        text.push_str(" works");
        let numbers: Vec<u32> = (0..1000).collect();
        check_eq!(*boxed + 1, 42);
        check_eq!(text.as_str(), "heap works");
        check_eq!(numbers.iter().sum::<u32>(), 499_500);
    }

    fn the_heap_grows_to_64_mib() {
        const SIZE: usize = 64 << 20;
        let mut block: Vec<u8> = Vec::new();
        check!(block.try_reserve_exact(SIZE).is_ok(), "could not reserve 64 MiB");
        block.resize(SIZE, 0);
        for page in (0..SIZE).step_by(4096) {
            block[page] = (page >> 12) as u8;
            block[page + 4095] = !(page >> 12) as u8;
        }
        check!(
            (0..SIZE).step_by(4096).all(|page| block[page] == (page >> 12) as u8 && block[page + 4095] == !(page >> 12) as u8),
            "the pattern written to every page did not read back"
        );
    }

    fn the_heap_grows_around_foreign_mappings() {
        // Map a page of our own, then ask for more than the heap has free:
        // the new chunk lands after that page, so it cannot extend the
        // heap's last chunk and must become a separate arena. Only the pages
        // touched here are committed.
        const SIZE: usize = 128 << 20;
        let foreign = sys::map_anonymous(4096);
        check!(foreign.is_ok(), "{foreign:?}");
        let mut big: Vec<u8> = Vec::new();
        check!(big.try_reserve_exact(SIZE).is_ok(), "could not reserve 128 MiB");
        let start = big.as_mut_ptr();
        // SAFETY: both offsets are inside the `SIZE` bytes just reserved.
        unsafe {
            core::ptr::write_volatile(start, 0x5a);
            core::ptr::write_volatile(start.add(SIZE - 1), 0xa5);
        }
        let small: Vec<Box<u64>> = (0..1000u64).map(Box::new).collect();
        // SAFETY: as above.
        let ends = unsafe { (core::ptr::read_volatile(start), core::ptr::read_volatile(start.add(SIZE - 1))) };
        check_eq!(ends, (0x5a, 0xa5));
        check!(small.iter().enumerate().all(|(index, value)| **value == index as u64));
        drop(big);
        drop(small);
        let again: Vec<u64> = (0..1000u64).collect();
        check_eq!(again.iter().sum::<u64>(), 499_500);
        check_eq!(sys::unmap_anonymous(foreign.unwrap_or(0), 4096), Ok(()));
    }

    fn anonymous_memory_round_trips() {
        let address = sys::map_anonymous(3 * 4096);
        check!(address.is_ok(), "{address:?}");
        let address = address.unwrap_or(0);
        for page in 0..3u64 {
            let at = (address + page * 4096) as *mut u64;
            // SAFETY: inside the mapping just made.
            unsafe {
                check_eq!(core::ptr::read_volatile(at), 0, "fresh memory is zeroed");
                core::ptr::write_volatile(at, page + 1);
                check_eq!(core::ptr::read_volatile(at), page + 1);
            }
        }
        check_eq!(sys::unmap_anonymous(address, 3 * 4096), Ok(()));
        check_eq!(sys::unmap_anonymous(address, 3 * 4096), Err(Error::InvalidArgument));
    }

    fn bad_mappings_are_refused() {
        check_eq!(sys::map_anonymous(0), Err(Error::InvalidArgument));
        check_eq!(sys::map_anonymous(abi::limits::MAX_MAP + 1), Err(Error::TooLarge));
        check_eq!(sys::map_anonymous(u64::MAX), Err(Error::TooLarge));
        check_eq!(sys::unmap_anonymous(0x1234_5000, 4096), Err(Error::InvalidArgument));
    }
}
