//! Partitions: creation (anywhere or at an address), deferred commitment,
//! commit/decommit on request, resize and added ranges, sub-range
//! protection, advice, resource requests, the partition table and the
//! memory counters, the sealed partitions of the program image, and every
//! bad input with its specific error.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{Advice, Dependency, Error, ExitReason, PartitionInfo, PartitionKind, Rights};
use alloc::vec::Vec;
use runtime::{check, check_eq, println, sys};

const RW: Rights = Rights::READ.union(Rights::WRITE);
const GIB: u64 = 1 << 30;
use abi::PAGE_SIZE as PAGE;

fn touch(address: u64) {
    // SAFETY: `address` lies in a read-write partition this program created.
    unsafe { core::ptr::write_volatile(address as *mut u8, 1) };
}

fn read(address: u64) -> u8 {
    // SAFETY: `address` lies in a readable partition this program created.
    unsafe { core::ptr::read_volatile(address as *const u8) }
}

fn create(size: u64, kind: PartitionKind) -> sys::Partition {
    sys::partition_create(size, kind, RW).unwrap_or(sys::Partition { id: 0, base: 0 })
}

fn query(id: u64) -> PartitionInfo {
    sys::partition_query(id).unwrap_or_default()
}

/// The rows of all of this process's partitions.
fn table() -> Vec<PartitionInfo> {
    let mut ids = [0u64; 128];
    let count = sys::partition_list(&mut ids).unwrap_or(0).min(ids.len());
    ids[..count].iter().map(|&id| query(id)).collect()
}

/// Whether the kernel may write a 32-byte structure at `address` for us.
fn kernel_can_write(address: u64) -> bool {
    // SAFETY: the kernel checks the destination; a refused write changes nothing.
    let raw = unsafe { sys::syscall6(abi::Syscall::Clock as u64, address, 0, 0, 0, 0, 0) };
    abi::decode(raw).is_ok()
}

fn probe(operation: &str, id: u64) -> Result<ExitReason, Error> {
    let argument = alloc::format!("{id}");
    sys::run("bin/partition-probe", &[operation, &argument])
}

runtime::tests! {
    fn a_sparse_gigabyte_commits_exactly_the_touched_pages() {
        // What demand paging commits, whatever policy the boot chose.
        let _ = sys::policy_set(abi::CommitPolicy::Demand);
        let partition = sys::partition_create(GIB, PartitionKind::Buffer, RW);
        check!(partition.is_ok(), "{partition:?}");
        let partition = partition.unwrap_or(sys::Partition { id: 0, base: 0 });
        let info = query(partition.id);
        check_eq!((info.size, info.committed_pages, info.ranges, info.base), (GIB, 0, 1, partition.base));
        check_eq!(info.kind, PartitionKind::Buffer.code());
        let before = sys::system_info().user_frames;
        let faults_before = sys::memory_counters().faults_demand;
        for index in 0..100 {
            touch(partition.base + index * (GIB / 100));
        }
        check_eq!(sys::system_info().user_frames, before + 100);
        check_eq!(sys::memory_counters().faults_demand, faults_before + 100, "one demand fault per page");
        let info = query(partition.id);
        check_eq!((info.committed_pages, info.demand_commits, info.faults), (100, 100, 100));
        check!(info.recent_faults >= 100, "{info:?}");
        println!("test-partitions: {info:?}");
        check_eq!(sys::partition_destroy(partition.id), Ok(()));
        check_eq!(sys::system_info().user_frames, before);
    }

    fn the_image_and_stack_are_sealed_partitions() {
        // The first listing may create the heap partition (its vector is the
        // first allocation); the second sees it.
        let _ = table();
        let rows = table();
        let sealed: Vec<&PartitionInfo> = rows.iter().filter(|row| row.sealed == 1).collect();
        let kinds = |kind: PartitionKind| sealed.iter().filter(|row| row.kind == kind.code()).count();
        let rx = u64::from((Rights::READ | Rights::EXECUTE).bits());
        // Our code: our own partition (`text=private`) or our view of the
        // kernel's text store (`text=shared`, the default).
        let is_code = |row: &PartitionInfo| row.rights == rx && (row.kind == PartitionKind::Code.code() || row.kind == PartitionKind::Shared.code());
        check!(sealed.iter().any(|row| is_code(row)), "{rows:?}");
        check!(kinds(PartitionKind::Data) >= 1, "{rows:?}");
        check_eq!(kinds(PartitionKind::Stack), 1);
        let code = sealed.iter().find(|row| is_code(row)).copied().copied().unwrap_or_default();
        if code.kind == PartitionKind::Code.code() {
            check!(code.loaded > 0 && code.loaded == code.committed_pages, "code is loaded up front: {code:?}");
        } else {
            // Its pages are the store's (committed and counted there, as a
            // view's always are its source's): none is ours.
            check!(code.loaded == 0 && code.committed_pages == 0, "the store's text: {code:?}");
            check!(sys::page_query(code.base).is_ok_and(|page| page.state == abi::PAGE_COMMITTED && page.frame != 0), "and mapped up front");
        }
        let stack = sealed.iter().find(|row| row.kind == PartitionKind::Stack.code()).copied().copied().unwrap_or_default();
        check!(stack.demand_commits > 0, "the stack grows on demand: {stack:?}");
        check_eq!(sys::partition_destroy(code.id), Err(Error::PermissionDenied));
        check_eq!(sys::partition_resize(stack.id, 2 * stack.size), Err(Error::PermissionDenied));
        check_eq!(sys::partition_add_range(stack.id, PAGE, 0), Err(Error::PermissionDenied));
        check_eq!(sys::partition_protect(code.id, 0, PAGE, RW), Err(Error::PermissionDenied), "code never becomes writable");
        check_eq!(sys::partition_protect(code.id, 0, PAGE, RW | Rights::EXECUTE), Err(Error::InvalidArgument));
        let counters = sys::memory_counters();
        check_eq!(counters.partitions, rows.len() as u64);
        check!(counters.loaded >= code.loaded);
    }

    fn partitions_can_be_placed_at_an_address() {
        let first = create(4 * PAGE, PartitionKind::Data);
        let wanted = first.base + 64 * PAGE;
        let placed = sys::partition_create_at(2 * PAGE, PartitionKind::Buffer, RW, wanted);
        check_eq!(placed.map(|p| p.base), Ok(wanted));
        check_eq!(sys::partition_create_at(PAGE, PartitionKind::Buffer, RW, wanted + PAGE).map(|p| p.id), Err(Error::AddressInUse));
        check_eq!(sys::partition_create_at(PAGE, PartitionKind::Buffer, RW, wanted + 1).map(|p| p.id), Err(Error::InvalidArgument));
        check_eq!(sys::partition_create_at(PAGE, PartitionKind::Buffer, RW, 0x40_0000).map(|p| p.id), Err(Error::InvalidArgument), "outside the partition window");
        check_eq!(sys::partition_destroy(placed.map_or(0, |p| p.id)), Ok(()));
        check_eq!(sys::partition_destroy(first.id), Ok(()));
    }

    fn commits_ahead_become_hits_when_touched_and_waste_when_not() {
        let partition = create(64 * PAGE, PartitionKind::Heap);
        let before = sys::memory_counters();
        check_eq!(sys::partition_commit(partition.id, 0, 8 * PAGE), Ok(8));
        check_eq!(sys::partition_commit(partition.id, 0, 10 * PAGE), Ok(2), "only the two new pages");
        touch(partition.base);
        touch(partition.base + PAGE);
        let info = query(partition.id);
        check_eq!((info.ahead_commits, info.committed_pages), (10, 10));
        check_eq!((info.hits, info.untouched), (2, 8), "accessed bits show the two touched pages");
        check_eq!(sys::partition_decommit(partition.id, 0, 4 * PAGE), Ok(4));
        let info = query(partition.id);
        check_eq!((info.committed_pages, info.decommits, info.waste), (6, 4, 2));
        let after = sys::memory_counters();
        check_eq!(after.ahead_commits - before.ahead_commits, 10);
        check_eq!(after.hits - before.hits, 2);
        check_eq!(after.faults_demand, before.faults_demand, "no fault for pages committed ahead");
        check_eq!(sys::partition_destroy(partition.id), Ok(()));
        check_eq!(sys::memory_counters().waste - before.waste, 8, "the rest was never touched");
    }

    fn added_ranges_make_a_partition_non_contiguous() {
        // What demand paging commits, whatever policy the boot chose.
        let _ = sys::policy_set(abi::CommitPolicy::Demand);
        let partition = create(2 * PAGE, PartitionKind::Buffer);
        let blocker = create(PAGE, PartitionKind::Data);
        check_eq!(blocker.base, partition.base + 2 * PAGE);
        check_eq!(sys::partition_add_range(partition.id, PAGE, blocker.base), Err(Error::AddressInUse));
        let second = sys::partition_add_range(partition.id, 3 * PAGE, 0);
        check!(second.is_ok(), "{second:?}");
        let second = second.unwrap_or(0);
        let info = query(partition.id);
        check_eq!((info.ranges, info.size, info.base), (2, 5 * PAGE, partition.base));
        // Offsets continue through the second range: offset 2 pages is its first page.
        check_eq!(sys::partition_commit(partition.id, 2 * PAGE, PAGE), Ok(1));
        touch(second + 2 * PAGE);
        check_eq!(query(partition.id).committed_pages, 2);
        check_eq!(sys::partition_add_range(partition.id, 0, 0), Err(Error::InvalidArgument));
        check_eq!(sys::partition_add_range(partition.id, abi::limits::MAX_PARTITION + 1, 0), Err(Error::TooLarge));
        check_eq!(sys::partition_add_range(999_999, PAGE, 0), Err(Error::NotFound));
        check_eq!(sys::partition_destroy(blocker.id), Ok(()));
        check_eq!(sys::partition_destroy(partition.id), Ok(()));
    }

    fn bad_requests_get_specific_errors() {
        check_eq!(sys::partition_query(999_999), Err(Error::NotFound));
        check_eq!(sys::partition_destroy(999_999), Err(Error::NotFound));
        check_eq!(sys::partition_create(0, PartitionKind::Heap, RW).map(|p| p.id), Err(Error::InvalidArgument));
        check_eq!(sys::partition_create(abi::limits::MAX_PARTITION + 1, PartitionKind::Heap, RW).map(|p| p.id), Err(Error::TooLarge));
        check_eq!(sys::partition_create(4096, PartitionKind::Code, RW | Rights::EXECUTE).map(|p| p.id), Err(Error::InvalidArgument));
        check_eq!(sys::partition_create(4096, PartitionKind::Heap, Rights::empty()).map(|p| p.id), Err(Error::InvalidArgument));
        // SAFETY: no pointers are passed.
        let raw = unsafe { sys::syscall6(abi::Syscall::PartitionCreate as u64, 4096, 0, 3, 0, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::InvalidArgument), "kind 0 does not exist");
        let before = table().len();
        // SAFETY: the kernel must refuse to write the address into read-only code.
        let raw = unsafe { sys::syscall6(abi::Syscall::PartitionCreate as u64, 4096, 3, 3, 0, 0x40_0000, 0) };
        check_eq!(abi::decode(raw), Err(Error::BadAddress));
        check_eq!(table().len(), before, "a failed create leaves no partition behind");
        let id = create(4 * PAGE, PartitionKind::Data).id;
        check_eq!(sys::partition_commit(id, 0, 5 * PAGE), Err(Error::InvalidArgument), "past the end");
        check_eq!(sys::partition_commit(id, 100, PAGE), Err(Error::InvalidArgument), "unaligned offset");
        check_eq!(sys::partition_commit(id, 0, 0), Err(Error::InvalidArgument));
        check_eq!(sys::partition_commit(id, !0xfff, PAGE), Err(Error::InvalidArgument));
        check_eq!(sys::partition_decommit(id, 0, 5 * PAGE), Err(Error::InvalidArgument));
        // SAFETY: the kernel must refuse to write the row into read-only code.
        let raw = unsafe { sys::syscall6(abi::Syscall::PartitionQuery as u64, id, 0x40_0000, 0, 0, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::BadAddress));
        // SAFETY: as above, for the id list.
        let raw = unsafe { sys::syscall6(abi::Syscall::PartitionList as u64, 0x40_0000, 4, 0, 0, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::BadAddress));
        check!(sys::partition_list(&mut []).unwrap_or(0) >= 4, "a zero capacity still counts");
        for operation in ["query", "destroy", "commit", "decommit", "resize", "add-range", "protect", "advise", "declare"] {
            let code = Error::PermissionDenied.code() as i32;
            check_eq!(probe(operation, id), Ok(ExitReason::Exited(code)), "another process may not {operation} our partition");
        }
        check_eq!(sys::partition_destroy(id), Ok(()));
        check_eq!(sys::partition_destroy(id), Err(Error::NotFound));
    }

    fn five_hundred_create_destroy_cycles_leave_nothing_behind() {
        let before = sys::system_info().user_frames;
        for round in 0..500u64 {
            let partition = sys::partition_create(8 * PAGE, PartitionKind::User(7), RW);
            check!(partition.is_ok(), "round {round}: {partition:?}");
            let id = partition.map_or(0, |p| p.id);
            check_eq!(sys::partition_commit(id, 0, 2 * PAGE), Ok(2));
            check_eq!(sys::partition_destroy(id), Ok(()));
        }
        check_eq!(sys::system_info().user_frames, before);
    }

    fn resize_grows_and_shrinks_with_the_frames() {
        let id = create(4 * PAGE, PartitionKind::Heap).id;
        check_eq!(sys::partition_resize(id, 16 * PAGE), Ok(()));
        check_eq!(query(id).size, 16 * PAGE);
        // Offsets run through every range, even if growing added one.
        check_eq!(sys::partition_commit(id, 0, 16 * PAGE), Ok(16));
        let before = sys::system_info().user_frames;
        check_eq!(sys::partition_resize(id, 6 * PAGE), Ok(()));
        check_eq!(sys::system_info().user_frames, before - 10, "the cut-off pages were freed");
        check_eq!(sys::partition_query(id).map(|i| (i.size, i.committed_pages)), Ok((6 * PAGE, 6)));
        check_eq!(sys::partition_resize(id, 0), Err(Error::InvalidArgument));
        check_eq!(sys::partition_resize(id, abi::limits::MAX_PARTITION + 1), Err(Error::TooLarge));
        check_eq!(sys::partition_resize(999_999, PAGE), Err(Error::NotFound));
        check_eq!(sys::partition_destroy(id), Ok(()));
    }

    fn protect_restricts_ranges_and_never_escalates() {
        let partition = create(4 * PAGE, PartitionKind::Data);
        let (id, base) = (partition.id, partition.base);
        check_eq!(sys::partition_protect(id, PAGE, 2 * PAGE, Rights::READ), Ok(()));
        check_eq!(query(id).protected_ranges, 1);
        // The kernel honours the new rights too: it may not write there.
        check!(!kernel_can_write(base + PAGE), "the protected page");
        check!(!kernel_can_write(base + PAGE - 16), "a write that runs into it");
        check!(kernel_can_write(base), "the page before keeps its rights");
        check!(kernel_can_write(base + 3 * PAGE), "the page after keeps its rights");
        check_eq!(read(base + 2 * PAGE), 0, "protected pages stay readable");
        check_eq!(sys::partition_protect(id, 0, 4 * PAGE, RW), Ok(()), "back to what it was created with");
        check_eq!(query(id).protected_ranges, 0);
        check!(kernel_can_write(base + PAGE));
        check_eq!(sys::partition_protect(id, 0, PAGE, Rights::READ | Rights::EXECUTE), Err(Error::PermissionDenied));
        check_eq!(sys::partition_protect(id, 0, PAGE, RW | Rights::EXECUTE), Err(Error::InvalidArgument));
        check_eq!(sys::partition_protect(id, 0, PAGE, Rights::empty()), Err(Error::InvalidArgument));
        check_eq!(sys::partition_protect(id, 3 * PAGE, 2 * PAGE, Rights::READ), Err(Error::InvalidArgument), "past the end");
        check_eq!(query(id).protected_ranges, 0, "a refused protect changes nothing");
        check_eq!(sys::partition_destroy(id), Ok(()));
    }

    fn advice_commits_drops_and_records_patterns() {
        let partition = create(16 * PAGE, PartitionKind::Buffer);
        let id = partition.id;
        check_eq!(sys::partition_advise(id, 0, 4 * PAGE, Advice::WillNeed), Ok(4));
        touch(partition.base);
        check_eq!(query(id).committed_pages, 4);
        check_eq!(sys::partition_advise(id, 0, 2 * PAGE, Advice::DontNeed), Ok(2));
        check_eq!(read(partition.base), 0, "dropped contents read back as zeros");
        check_eq!(sys::partition_advise(id, 0, 12 * PAGE, Advice::Sequential), Ok(0));
        check_eq!(sys::partition_advise(id, 12 * PAGE, 4 * PAGE, Advice::Random), Ok(0));
        let info = query(id);
        check_eq!((info.sequential_pages, info.random_pages), (12, 4));
        check_eq!(sys::partition_advise(id, 0, 16 * PAGE, Advice::Normal), Ok(0));
        check_eq!(query(id).sequential_pages, 0);
        // SAFETY: no pointers are passed.
        let raw = unsafe { sys::syscall6(abi::Syscall::PartitionAdvise as u64, id, 0, PAGE, Advice::ALL.len() as u64, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::InvalidArgument), "no advice past the last");
        check_eq!(sys::partition_advise(id, 16 * PAGE, PAGE, Advice::WillNeed), Err(Error::InvalidArgument));
        check_eq!(sys::partition_advise(999_999, 0, PAGE, Advice::WillNeed), Err(Error::NotFound));
        check_eq!(sys::partition_destroy(id), Ok(()));
    }

    fn resource_requests_are_recorded_and_checked() {
        let partition = create(8 * PAGE, PartitionKind::Buffer);
        let path = "bin/hello";
        let dependencies = [
            Dependency { kind: Dependency::PROGRAM, value: path.as_ptr() as u64, length: path.len() as u64 },
            Dependency { kind: Dependency::PARTITION, value: partition.id, length: 0 },
        ];
        check_eq!(sys::resource_request(10 * PAGE + 1, 500, &dependencies), Ok(()));
        let counters = sys::memory_counters();
        check_eq!((counters.declared_working_set, counters.declared_lifetime, counters.declared_dependencies), (11, 500, 2));
        let missing = "bin/no-such-program";
        let bad_program = [Dependency { kind: Dependency::PROGRAM, value: missing.as_ptr() as u64, length: missing.len() as u64 }];
        check_eq!(sys::resource_request(PAGE, 1, &bad_program), Err(Error::NotFound));
        let bad_partition = [Dependency { kind: Dependency::PARTITION, value: 999_999, length: 0 }];
        check_eq!(sys::resource_request(PAGE, 1, &bad_partition), Err(Error::NotFound));
        let bad_kind = [Dependency { kind: 9, value: 0, length: 0 }];
        check_eq!(sys::resource_request(PAGE, 1, &bad_kind), Err(Error::InvalidArgument));
        let too_many = [Dependency::default(); abi::limits::MAX_DEPENDENCIES as usize + 1];
        check_eq!(sys::resource_request(PAGE, 1, &too_many), Err(Error::TooLarge));
        // SAFETY: the kernel must refuse to read the list from unmapped memory.
        let raw = unsafe { sys::syscall6(abi::Syscall::ResourceRequest as u64, PAGE, 1, 0x10, 1, 0, 0) };
        check_eq!(abi::decode(raw), Err(Error::BadAddress));
        check_eq!(sys::memory_counters().declared_working_set, 11, "refused requests change nothing");
        check_eq!(sys::partition_destroy(partition.id), Ok(()));
    }

    fn two_mib_pages_appear_in_the_partition_table() {
        // What demand paging commits, whatever policy the boot chose.
        let _ = sys::policy_set(abi::CommitPolicy::Demand);
        const MIB2: u64 = 2 << 20;
        // Place a 6 MiB partition at a 2 MiB boundary past everything else.
        let probe = create(PAGE, PartitionKind::Data);
        let aligned = (probe.base + 64 * MIB2).next_multiple_of(MIB2);
        check_eq!(sys::partition_destroy(probe.id), Ok(()));
        let partition = sys::partition_create_at(3 * MIB2, PartitionKind::Buffer, RW, aligned);
        check_eq!(partition.map(|p| p.base), Ok(aligned));
        let partition = partition.unwrap_or(sys::Partition { id: 0, base: 0 });
        let before = sys::system_info().user_frames;
        // A whole aligned block committed ahead becomes one 2 MiB page at once.
        check_eq!(sys::partition_commit(partition.id, 0, MIB2), Ok(512));
        let info = query(partition.id);
        check_eq!((info.huge_pages, info.promotions, info.extents), (1, 1, 1));
        // A block filled by faults is promoted when its last page is touched,
        // and what was written survives the copy.
        for offset in (0..MIB2).step_by(PAGE as usize) {
            let address = partition.base + MIB2 + offset;
            // SAFETY: inside the read-write partition created above.
            unsafe { core::ptr::write_volatile(address as *mut u64, address) };
        }
        let info = query(partition.id);
        check_eq!((info.huge_pages, info.promotions, info.committed_pages), (2, 2, 1024), "{info:?}");
        check_eq!(sys::system_info().user_frames, before + 1024, "the 4 KiB frames went back");
        let intact = (0..MIB2).step_by(PAGE as usize).all(|offset| {
            let address = partition.base + MIB2 + offset;
            // SAFETY: as above.
            unsafe { core::ptr::read_volatile(address as *const u64) == address }
        });
        check!(intact, "contents survive promotion");
        // Dropping one page splits its 2 MiB page; the rest stays.
        check_eq!(sys::partition_decommit(partition.id, MIB2 + 5 * PAGE, PAGE), Ok(1));
        let info = query(partition.id);
        check_eq!((info.huge_pages, info.demotions, info.committed_pages), (1, 1, 1023));
        // SAFETY: as above.
        check_eq!(unsafe { core::ptr::read_volatile((partition.base + MIB2 + 6 * PAGE) as *const u64) }, partition.base + MIB2 + 6 * PAGE);
        check_eq!(read(partition.base + MIB2 + 5 * PAGE), 0, "the dropped page reads zero");
        let counters = sys::memory_counters();
        check!(counters.promotions >= 3 && counters.demotions >= 1, "{counters:?}");
        check_eq!(sys::partition_destroy(partition.id), Ok(()));
        check_eq!(sys::system_info().user_frames, before);
    }

    fn periodic_samples_show_which_partition_is_hot() {
        let hot = create(16 * PAGE, PartitionKind::Buffer);
        let cold = create(16 * PAGE, PartitionKind::Buffer);
        for page in 0..16 {
            touch(hot.base + page * PAGE);
            touch(cold.base + page * PAGE);
        }
        let before = sys::memory_counters();
        let mut rounds = 0;
        // Keep the hot partition busy across three scans of the sampler.
        while sys::memory_counters().sample_scans < before.sample_scans + 3 && rounds < 400 {
            for page in 0..16 {
                touch(hot.base + page * PAGE);
            }
            sys::sleep(4);
            rounds += 1;
        }
        let after = sys::memory_counters();
        check!(after.sample_scans >= before.sample_scans + 3, "the sampler ran: {after:?}");
        check!(after.sample_cycles > before.sample_cycles && after.sampled > before.sampled);
        let (hot_info, cold_info) = (query(hot.id), query(cold.id));
        check!(hot_info.recent_accessed >= 2 * 16, "{hot_info:?}");
        check!(hot_info.recent_accessed > cold_info.recent_accessed, "hot {hot_info:?} cold {cold_info:?}");
        check_eq!((hot_info.uncommitted_pages, hot_info.committed_pages), (0, 16));
        check_eq!(sys::partition_destroy(hot.id), Ok(()));
        check_eq!(sys::partition_destroy(cold.id), Ok(()));
    }

    fn memory_counters_add_up() {
        let counters = sys::memory_counters();
        check_eq!(counters.pid, sys::getpid());
        check_eq!(counters.faults, counters.faults_demand + counters.faults_spurious + counters.faults_unmapped + counters.faults_violation + counters.faults_oom);
        check_eq!(counters.faults, counters.fault_reads + counters.fault_writes + counters.fault_executes);
        check_eq!(counters.ahead_commits, counters.hits + counters.waste + counters.untouched);
        check!(counters.peak_committed >= counters.committed);
        check!(counters.committed > 0 && counters.footprint > 0, "{counters:?}");
        check!(counters.fault_cycles > 0, "the fault path was timed");
        let rows = table();
        check_eq!(counters.committed, rows.iter().map(|row| row.committed_pages).sum::<u64>());
    }
}
