//! Partitions: creation, deferred commitment, commit/decommit on request,
//! the partition table, and every bad input.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{Error, ExitReason, PartitionKind, Rights};
use runtime::{check, check_eq, println, sys};

const RW: Rights = Rights::READ.union(Rights::WRITE);
const GIB: u64 = 1 << 30;

fn touch(address: u64) {
    // SAFETY: `address` lies in a read-write partition this program created.
    unsafe { core::ptr::write_volatile(address as *mut u8, 1) };
}

runtime::tests! {
    fn a_sparse_gigabyte_commits_exactly_the_touched_pages() {
        let id = sys::partition_create(GIB, PartitionKind::Buffer, RW);
        check!(id.is_ok(), "{id:?}");
        let id = id.unwrap_or(0);
        let info = sys::partition_query(id).unwrap_or_default();
        check_eq!((info.size, info.committed_pages, info.ranges), (GIB, 0, 1));
        check_eq!(info.kind, PartitionKind::Buffer.code());
        let before = sys::system_info().user_frames;
        for index in 0..100 {
            touch(info.base + index * (GIB / 100));
        }
        check_eq!(sys::system_info().user_frames, before + 100);
        let info = sys::partition_query(id).unwrap_or_default();
        check_eq!((info.committed_pages, info.demand_commits), (100, 100));
        println!("test-partitions: {info:?}");
        check_eq!(sys::partition_destroy(id), Ok(()));
        check_eq!(sys::system_info().user_frames, before);
    }

    fn commits_ahead_are_counted_as_hits_or_untouched() {
        let id = sys::partition_create(64 * 4096, PartitionKind::Heap, RW).unwrap_or(0);
        check_eq!(sys::partition_commit(id, 0, 8 * 4096), Ok(8));
        check_eq!(sys::partition_commit(id, 0, 10 * 4096), Ok(2), "only the two new pages");
        let base = sys::partition_query(id).unwrap_or_default().base;
        touch(base);
        touch(base + 4096);
        let info = sys::partition_query(id).unwrap_or_default();
        check_eq!((info.ahead_commits, info.committed_pages), (10, 10));
        check_eq!(sys::partition_decommit(id, 0, 4 * 4096), Ok(4));
        let info = sys::partition_query(id).unwrap_or_default();
        check_eq!((info.committed_pages, info.decommits), (6, 4));
        check_eq!(sys::partition_destroy(id), Ok(()));
    }

    fn bad_requests_get_specific_errors() {
        check_eq!(sys::partition_query(999_999), Err(Error::NotFound));
        check_eq!(sys::partition_destroy(999_999), Err(Error::NotFound));
        check_eq!(sys::partition_create(0, PartitionKind::Heap, RW), Err(Error::InvalidArgument));
        check_eq!(sys::partition_create(abi::limits::MAX_MAP + 1, PartitionKind::Heap, RW), Err(Error::TooLarge));
        check_eq!(sys::partition_create(4096, PartitionKind::Code, RW | Rights::EXECUTE), Err(Error::InvalidArgument));
        check_eq!(sys::partition_create(4096, PartitionKind::Heap, Rights::empty()), Err(Error::InvalidArgument));
        // SAFETY: no pointers are passed.
        let raw = unsafe { sys::syscall6(abi::Syscall::PartitionCreate as u64, 4096, 0, 3, 0, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::InvalidArgument), "kind 0 does not exist");
        let id = sys::partition_create(4 * 4096, PartitionKind::Data, RW).unwrap_or(0);
        check_eq!(sys::partition_commit(id, 0, 5 * 4096), Err(Error::InvalidArgument), "past the end");
        check_eq!(sys::partition_commit(id, 100, 4096), Err(Error::InvalidArgument), "unaligned offset");
        check_eq!(sys::partition_commit(id, 0, 0), Err(Error::InvalidArgument));
        check_eq!(sys::partition_commit(id, !0xfff, 4096), Err(Error::InvalidArgument));
        // SAFETY: the kernel must refuse to write the row into read-only code.
        let raw = unsafe { sys::syscall6(abi::Syscall::PartitionQuery as u64, id, 0x40_0000, 0, 0, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::BadAddress));
        let argument = alloc::format!("{id}");
        check_eq!(sys::run("bin/partition-probe", &[&argument]), Ok(ExitReason::Exited(Error::PermissionDenied.code() as i32)));
        check_eq!(sys::partition_destroy(id), Ok(()));
        check_eq!(sys::partition_destroy(id), Err(Error::NotFound));
    }

    fn five_hundred_create_destroy_cycles_leave_nothing_behind() {
        let before = sys::system_info().user_frames;
        for round in 0..500u64 {
            let id = sys::partition_create(8 * 4096, PartitionKind::User(7), RW);
            check!(id.is_ok(), "round {round}: {id:?}");
            let id = id.unwrap_or(0);
            check_eq!(sys::partition_commit(id, 0, 2 * 4096), Ok(2));
            check_eq!(sys::partition_destroy(id), Ok(()));
        }
        check_eq!(sys::system_info().user_frames, before);
    }

    fn resize_grows_and_shrinks_with_the_frames() {
        let id = sys::partition_create(4 * 4096, PartitionKind::Heap, RW).unwrap_or(0);
        check_eq!(sys::partition_resize(id, 16 * 4096), Ok(()));
        let info = sys::partition_query(id).unwrap_or_default();
        check_eq!(info.size, 16 * 4096);
        // Offsets run through every range, even if growing added one.
        check_eq!(sys::partition_commit(id, 0, 16 * 4096), Ok(16));
        let before = sys::system_info().user_frames;
        check_eq!(sys::partition_resize(id, 6 * 4096), Ok(()));
        check_eq!(sys::system_info().user_frames, before - 10, "the cut-off pages were freed");
        check_eq!(sys::partition_query(id).map(|i| (i.size, i.committed_pages)), Ok((6 * 4096, 6)));
        check_eq!(sys::partition_resize(id, 0), Err(Error::InvalidArgument));
        check_eq!(sys::partition_resize(id, abi::limits::MAX_MAP + 1), Err(Error::TooLarge));
        check_eq!(sys::partition_resize(999_999, 4096), Err(Error::NotFound));
        check_eq!(sys::partition_destroy(id), Ok(()));
    }

    fn protect_restricts_and_never_escalates() {
        let id = sys::partition_create(2 * 4096, PartitionKind::Data, RW).unwrap_or(0);
        let base = sys::partition_query(id).unwrap_or_default().base;
        check_eq!(sys::partition_protect(id, Rights::READ), Ok(()));
        // The kernel honours the new rights too: it may not write the row there.
        // SAFETY: the kernel must refuse to write into the read-only partition.
        let raw = unsafe { sys::syscall6(abi::Syscall::PartitionQuery as u64, id, base, 0, 0, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::BadAddress));
        check_eq!(sys::partition_protect(id, RW), Ok(()), "back to what it was created with");
        check_eq!(sys::partition_protect(id, Rights::READ | Rights::EXECUTE), Err(Error::PermissionDenied));
        check_eq!(sys::partition_protect(id, RW | Rights::EXECUTE), Err(Error::InvalidArgument));
        check_eq!(sys::partition_protect(id, Rights::empty()), Err(Error::InvalidArgument));
        // SAFETY: the partition is read-write again and the row fits in it.
        let raw = unsafe { sys::syscall6(abi::Syscall::PartitionQuery as u64, id, base, 0, 0, 0, 0) };
        check_eq!(abi::decode(raw), Ok(0));
        check_eq!(sys::partition_destroy(id), Ok(()));
    }
}
