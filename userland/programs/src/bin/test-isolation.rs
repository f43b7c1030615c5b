//! Processes cannot see each other's memory: the same address in another
//! process is its own (here: unmapped), and reading it kills only the reader.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{ExitReason, FaultKind};
use alloc::format;
use runtime::{check, check_eq, sys};

runtime::tests! {
    fn a_secret_in_this_process_is_invisible_to_a_child() {
        let rw = abi::Rights::READ | abi::Rights::WRITE;
        let partition = sys::partition_create(4096, abi::PartitionKind::Data, rw)
            .map_err(|e| runtime::TestFailure::new(format!("{e}"), file!(), line!()))?;
        let address = partition.base;
        let secret = 0x5ec2_e7ba_d0d0_cafe_u64;
        // SAFETY: a fresh writable partition of this process.
        unsafe { core::ptr::write_volatile(address as *mut u64, secret) };
        let argument = format!("{address:x}");
        let reason = sys::run("bin/read-address", &[&argument]);
        check!(matches!(reason, Ok(ExitReason::Faulted { kind: FaultKind::UnmappedAccess, .. })), "{reason:?}");
        // SAFETY: as above.
        check_eq!(unsafe { core::ptr::read_volatile(address as *const u64) }, secret);
        check_eq!(sys::partition_destroy(partition.id), Ok(()));
    }

    fn the_reader_dies_alone() {
        let reason = sys::run("bin/read-address", &["400000"]);
        // The child's own code page is readable: same address, its own image.
        check!(matches!(reason, Ok(ExitReason::Exited(0))), "{reason:?}");
        check!(sys::getpid() > 0);
    }
}
