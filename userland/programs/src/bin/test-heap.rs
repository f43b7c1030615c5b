//! The user heap: collections, growth to 64 MiB, one heap partition that
//! grows by ranges, and plain data partitions.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{Error, PartitionKind, Rights};
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

    fn the_heap_grows_around_foreign_partitions() {
        // Create a partition of our own, then ask for more than the heap has
        // free: the heap partition cannot grow in place past it, so its new
        // range lands elsewhere and becomes a separate arena. Only the pages
        // touched here are committed.
        const SIZE: usize = 128 << 20;
        let foreign = sys::partition_create(4096, PartitionKind::Buffer, Rights::READ | Rights::WRITE);
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
        check_eq!(sys::partition_destroy(foreign.map_or(0, |p| p.id)), Ok(()));
    }

    fn the_heap_is_one_partition_of_several_ranges() {
        let mut ids = [0u64; 64];
        let count = sys::partition_list(&mut ids).unwrap_or(0);
        let heaps: Vec<abi::PartitionInfo> = ids[..count.min(64)]
            .iter()
            .filter_map(|&id| sys::partition_query(id).ok())
            .filter(|info| info.kind == PartitionKind::Heap.code())
            .collect();
        check_eq!(heaps.len(), 1, "one heap partition");
        check!(heaps[0].ranges >= 2, "grown around the foreign partition: {:?}", heaps[0]);
        check!(heaps[0].committed_pages < heaps[0].size / 4096, "committed on touch only");
        check_eq!(heaps[0].sealed, 0);
    }

    fn a_partition_reads_zero_and_keeps_what_is_written() {
        let partition = sys::partition_create(3 * 4096, PartitionKind::Data, Rights::READ | Rights::WRITE);
        check!(partition.is_ok(), "{partition:?}");
        let partition = partition.unwrap_or(sys::Partition { id: 0, base: 0 });
        for page in 0..3u64 {
            let at = (partition.base + page * 4096) as *mut u64;
            // SAFETY: inside the partition just created.
            unsafe {
                check_eq!(core::ptr::read_volatile(at), 0, "fresh memory is zeroed");
                core::ptr::write_volatile(at, page + 1);
                check_eq!(core::ptr::read_volatile(at), page + 1);
            }
        }
        check_eq!(sys::partition_destroy(partition.id), Ok(()));
        check_eq!(sys::partition_destroy(partition.id), Err(Error::NotFound));
    }

    fn bad_partitions_are_refused() {
        let rw = Rights::READ | Rights::WRITE;
        check_eq!(sys::partition_create(0, PartitionKind::Heap, rw), Err(Error::InvalidArgument));
        check_eq!(sys::partition_create(abi::limits::MAX_PARTITION + 1, PartitionKind::Heap, rw), Err(Error::TooLarge));
        check_eq!(sys::partition_create(u64::MAX, PartitionKind::Heap, rw), Err(Error::TooLarge));
        check_eq!(sys::partition_destroy(0x1234_5000), Err(Error::NotFound));
    }
}
