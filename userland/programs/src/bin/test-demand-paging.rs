//! Memory is committed on first touch: reserving costs no frames, each
//! touched page costs exactly one, and destroying the partition gives them
//! all back.

#![no_std]
#![no_main]

use runtime::{check, check_eq, sys};

fn user_frames() -> u64 {
    sys::system_info().user_frames
}

/// A heap partition of `size` bytes: (id, address).
fn reserve(size: u64) -> (u64, u64) {
    let partition = sys::partition_create(size, abi::PartitionKind::Heap, abi::Rights::READ | abi::Rights::WRITE);
    partition.map_or((0, 0), |p| (p.id, p.base))
}

fn touch(address: u64) {
    // SAFETY: `address` lies in a partition this program just created.
    unsafe { core::ptr::write_volatile(address as *mut u8, 1) };
}

runtime::tests! {
    fn reserving_memory_commits_nothing() {
        // What demand paging commits, whatever policy the boot chose (eager
        // commits every partition whole at creation).
        let _ = sys::policy_set(abi::CommitPolicy::Demand);
        let before = user_frames();
        let (id, address) = reserve(16 << 20);
        check!(address != 0);
        check_eq!(user_frames(), before);
        check_eq!(sys::partition_destroy(id), Ok(()));
    }

    fn each_touched_page_commits_one_frame() {
        // What demand paging commits, whatever policy the boot chose.
        let _ = sys::policy_set(abi::CommitPolicy::Demand);
        let (id, address) = reserve(16 << 20);
        check!(address != 0);
        let before = user_frames();
        for page in 0..10u64 {
            touch(address + page * 256 * 4096);
        }
        check_eq!(user_frames(), before + 10);
        touch(address + 5);
        check_eq!(user_frames(), before + 10, "a second touch of a page is free");
        check_eq!(sys::partition_destroy(id), Ok(()));
        check_eq!(user_frames(), before, "destroying the partition returned the touched frames");
    }

    fn the_kernel_commits_pages_it_writes_for_the_process() {
        let (id, address) = reserve(4096);
        let before = user_frames();
        // Let the kernel write straight into an untouched partition page.
        // SAFETY: the kernel writes 32 bytes into the mapping made above.
        let raw = unsafe { sys::syscall6(abi::Syscall::Clock as u64, address, 0, 0, 0, 0, 0) };
        check_eq!(abi::decode(raw), Ok(0));
        check_eq!(user_frames(), before + 1);
        // SAFETY: the kernel just wrote a Clock there.
        let ticks = unsafe { core::ptr::read_volatile(address as *const u64) };
        check!(ticks > 0, "the kernel's write is visible");
        check_eq!(sys::partition_destroy(id), Ok(()));
    }

    fn the_stack_grows_on_demand() {
        fn deep(depth: u32) -> u64 {
            let frame = core::hint::black_box([u64::from(depth); 256]);
            if depth == 0 { frame[0] } else { deep(depth - 1) + frame[255] }
        }
        let before = user_frames();
        check_eq!(deep(200), 200 * 201 / 2);
        check!(user_frames() > before + 40, "400 KiB of stack committed only {} frames", user_frames() - before);
    }
}
