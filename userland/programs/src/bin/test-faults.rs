//! A fault in a process kills only that process, reported with the right
//! kind: null dereference, write to code, execute from data, stack
//! overflow, kernel and non-canonical addresses.

#![no_std]
#![no_main]

use abi::{ExitReason, FaultKind};
use runtime::{check, check_eq, sys};

/// Runs `path` with `args` and checks that it was killed by an `expected` fault.
fn expect_fault(path: &str, args: &[&str], expected: FaultKind) -> runtime::TestResult {
    let reason = sys::run(path, args);
    check!(
        matches!(reason, Ok(ExitReason::Faulted { kind, .. }) if kind == expected),
        "{path} {args:?}: expected {expected}, got {reason:?}"
    );
    Ok(())
}

runtime::tests! {
    fn null_dereference_kills_the_reader() {
        expect_fault("bin/fault-null", &[], FaultKind::NullDereference)?;
        expect_fault("bin/read-address", &["ff8"], FaultKind::NullDereference)?;
    }

    fn writing_to_code_kills_the_writer() {
        expect_fault("bin/fault-write-code", &[], FaultKind::WriteToReadOnly)?;
    }

    fn executing_data_kills_the_caller() {
        expect_fault("bin/fault-exec-data", &[], FaultKind::ExecuteNonExecutable)?;
    }

    fn stack_overflow_hits_the_guard() {
        expect_fault("bin/fault-stack-overflow", &[], FaultKind::StackOverflow)?;
    }

    fn kernel_addresses_are_out_of_reach() {
        expect_fault("bin/fault-kernel-read", &[], FaultKind::UnmappedAccess)?;
        expect_fault("bin/read-address", &["ffff800000000000"], FaultKind::UnmappedAccess)?;
    }

    fn non_canonical_addresses_are_protection_faults() {
        expect_fault("bin/read-address", &["8000000000000000"], FaultKind::GeneralProtection)?;
    }

    fn the_fault_address_is_reported() {
        let reason = sys::run("bin/fault-kernel-read", &[]);
        check_eq!(reason, Ok(ExitReason::Faulted { kind: FaultKind::UnmappedAccess, address: 0xffff_ffff_8000_0000 }));
    }

    fn the_parent_survives_every_fault() {
        check!(sys::getpid() > 0);
        check_eq!(sys::run("bin/exit-code", &["7"]), Ok(ExitReason::Exited(7)));
    }
}
