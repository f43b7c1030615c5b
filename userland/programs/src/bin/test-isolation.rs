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
        let address = sys::map_anonymous(4096).map_err(|e| runtime::TestFailure::new(format!("{e}"), file!(), line!()))?;
        let secret = 0x5ec2_e7ba_d0d0_cafe_u64;
        // SAFETY: freshly mapped, writable anonymous memory of this process.
        unsafe { core::ptr::write_volatile(address as *mut u64, secret) };
        let argument = format!("{address:x}");
        let reason = sys::run("bin/read-address", &[&argument]);
        check!(matches!(reason, Ok(ExitReason::Faulted { kind: FaultKind::UnmappedAccess, .. })), "{reason:?}");
        // SAFETY: as above.
        check_eq!(unsafe { core::ptr::read_volatile(address as *const u64) }, secret);
        check_eq!(sys::unmap_anonymous(address, 4096), Ok(()));
    }

    fn the_reader_dies_alone() {
        let reason = sys::run("bin/read-address", &["400000"]);
        // The child's own code page is readable: same address, its own image.
        check!(matches!(reason, Ok(ExitReason::Exited(0))), "{reason:?}");
        check!(sys::getpid() > 0);
    }
}
