//! Basic system calls: identity, time, console, files, unknown numbers.

#![no_std]
#![no_main]

use abi::Error;
use runtime::{check, check_eq, sys};

runtime::tests! {
    fn getpid_is_positive_and_stable() {
        let pid = sys::getpid();
        check!(pid > 0);
        check_eq!(sys::getpid(), pid);
    }

    fn clock_advances_across_a_sleep() {
        let before = sys::clock();
        check!(before.tick_hz > 0 && before.tsc_hz > 0, "clock {before:?}");
        sys::sleep(2);
        let after = sys::clock();
        check!(after.ticks >= before.ticks + 2, "{} -> {}", before.ticks, after.ticks);
        check!(after.tsc > before.tsc);
    }

    fn yield_returns() {
        for _ in 0..10 {
            sys::yield_now();
        }
    }

    fn write_returns_the_length() {
        check_eq!(sys::write(b""), Ok(0));
        check_eq!(sys::write(b"test-syscalls writes this line\n"), Ok(31));
    }

    fn unknown_numbers_are_refused() {
        for number in [abi::Syscall::ALL.len() as u64, 1000, u64::MAX] {
            // SAFETY: no pointers are passed.
            let raw = unsafe { sys::syscall6(number, 0, 0, 0, 0, 0, 0) };
            check_eq!(abi::decode(raw), Err(Error::UnknownSyscall));
        }
    }

    fn missing_files_are_not_found() {
        check_eq!(sys::file_size("no/such/file"), Err(Error::NotFound));
        let mut buffer = [0u8; 4];
        check_eq!(sys::read_file("no/such/file", &mut buffer, 0), Err(Error::NotFound));
    }
}
