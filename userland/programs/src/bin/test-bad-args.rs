//! Bad system-call arguments get the right error and harm nothing.

#![no_std]
#![no_main]

use abi::record::{TestStatus, MAX_TEXT};
use abi::{limits, Error, Syscall};
use runtime::{check, check_eq, sys};

fn raw(call: Syscall, args: [u64; 5]) -> Result<u64, Error> {
    // SAFETY: every pointer passed in these tests is either invalid (the
    // kernel must refuse it) or points into a live local buffer.
    abi::decode(unsafe { sys::syscall6(call as u64, args[0], args[1], args[2], args[3], args[4], 0) })
}

const KERNEL: u64 = 0xffff_8000_0000_0000;
const CODE: u64 = 0x40_0000;

runtime::tests! {
    fn write_rejects_bad_pointers_and_sizes() {
        check_eq!(raw(Syscall::Write, [0, 5, 0, 0, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::Write, [KERNEL, 8, 0, 0, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::Write, [u64::MAX - 4, 16, 0, 0, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::Write, [0x1000, 8, 0, 0, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::Write, [CODE, limits::MAX_WRITE + 1, 0, 0, 0]), Err(Error::TooLarge));
        check_eq!(raw(Syscall::Write, [CODE, u64::MAX, 0, 0, 0]), Err(Error::TooLarge));
    }

    fn outputs_need_writable_aligned_memory() {
        let mut buffer = [0u64; 8];
        let base = buffer.as_mut_ptr() as u64;
        check_eq!(raw(Syscall::Clock, [base + 1, 0, 0, 0, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::Clock, [0, 0, 0, 0, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::Clock, [CODE, 0, 0, 0, 0]), Err(Error::BadAddress), "code is read-only");
        check_eq!(raw(Syscall::Clock, [KERNEL, 0, 0, 0, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::Clock, [base, 0, 0, 0, 0]), Ok(0));
        check!(buffer[0] > 0, "the valid call wrote the clock");
    }

    fn read_file_rejects_bad_paths_and_buffers() {
        let path = "boot/cmdline";
        let (p, n) = (path.as_ptr() as u64, path.len() as u64);
        check_eq!(raw(Syscall::ReadFile, [p, limits::MAX_PATH + 1, 0, 0, 0]), Err(Error::TooLarge));
        check_eq!(raw(Syscall::ReadFile, [p, u64::MAX, 0, 0, 0]), Err(Error::TooLarge));
        check_eq!(raw(Syscall::ReadFile, [0, n, 0, 0, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::ReadFile, [p, 0, 0, 0, 0]), Err(Error::InvalidArgument));
        check_eq!(raw(Syscall::ReadFile, [p, n, CODE, 16, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::ReadFile, [p, n, KERNEL, 16, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::ReadFile, [p, n, 0, 16, 0]), Err(Error::BadAddress));
    }

    fn spawn_rejects_bad_argument_arrays() {
        let path = "bin/exit-code";
        let (p, n) = (path.as_ptr() as u64, path.len() as u64);
        let args = [abi::Arg::default(); 2];
        let a = args.as_ptr() as u64;
        check_eq!(raw(Syscall::Spawn, [p, n, a, limits::MAX_ARGS + 1, 0]), Err(Error::TooLarge));
        check_eq!(raw(Syscall::Spawn, [p, n, 0, 1, 0]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::Spawn, [p, n, a + 4, 1, 0]), Err(Error::BadAddress), "unaligned");
        check_eq!(raw(Syscall::Spawn, [p, n, KERNEL, 1, 0]), Err(Error::BadAddress));
        let bad = [abi::Arg { ptr: KERNEL, len: 4 }];
        check_eq!(raw(Syscall::Spawn, [p, n, bad.as_ptr() as u64, 1, 0]), Err(Error::BadAddress));
    }

    fn test_reports_reject_bad_statuses_texts_and_pointers() {
        // Every call here is refused, so none leaves a record.
        let name = "a-name";
        let (p, n) = (name.as_ptr() as u64, name.len() as u64);
        let (passed, failed) = (u64::from(TestStatus::Passed.code()), u64::from(TestStatus::Failed.code()));
        let long = MAX_TEXT as u64 + 1;
        for status in [0, 3, 0x102, u64::MAX] {
            check_eq!(raw(Syscall::TestReport, [status, p, n, 0, 0]), Err(Error::InvalidArgument), "status {status}");
        }
        check_eq!(raw(Syscall::TestReport, [passed, p, 0, 0, 0]), Err(Error::InvalidArgument), "no name");
        check_eq!(raw(Syscall::TestReport, [passed, p, n, p, n]), Err(Error::InvalidArgument), "a pass has no message");
        check_eq!(raw(Syscall::TestReport, [failed, 0, n, p, n]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::TestReport, [failed, KERNEL, n, p, n]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::TestReport, [failed, p, n, KERNEL, 8]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::TestReport, [failed, p, n, u64::MAX - 4, 16]), Err(Error::BadAddress));
        check_eq!(raw(Syscall::TestReport, [failed, p, long, p, n]), Err(Error::TooLarge));
        check_eq!(raw(Syscall::TestReport, [failed, p, n, p, u64::MAX]), Err(Error::TooLarge));
        let bad = [0xffu8, 0xfe];
        check_eq!(raw(Syscall::TestReport, [failed, bad.as_ptr() as u64, 2, 0, 0]), Err(Error::InvalidUtf8));
        check_eq!(raw(Syscall::TestReport, [failed, p, n, bad.as_ptr() as u64, 2]), Err(Error::InvalidUtf8));
    }

    fn unknown_calls_are_refused() {
        // SAFETY: no pointers.
        check_eq!(abi::decode(unsafe { sys::syscall6(u64::MAX, 1, 2, 3, 4, 5, 6) }), Err(Error::UnknownSyscall));
        // SAFETY: no pointers.
        check_eq!(abi::decode(unsafe { sys::syscall6(Syscall::ALL.len() as u64, 0, 0, 0, 0, 0, 0) }), Err(Error::UnknownSyscall));
    }

    fn the_process_is_intact_afterwards() {
        check!(sys::getpid() > 0);
        check_eq!(sys::run("bin/exit-code", &["3"]), Ok(abi::ExitReason::Exited(3)));
    }
}
