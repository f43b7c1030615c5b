//! Arguments reach the program; argv[0] is its path.

#![no_std]
#![no_main]

use abi::{Arg, Error};
use runtime::{check, check_eq, sys};

runtime::tests! {
    fn argv_zero_is_the_program_path() {
        check_eq!(sys::run("bin/exit-code", &[]), Ok(abi::ExitReason::Exited(0)));
        check_eq!(sys::run("bin/hello", &["a", "b c", ""]), Ok(abi::ExitReason::Exited(0)));
    }

    fn many_arguments_are_passed() {
        let args = ["33"; 64];
        check_eq!(sys::run("bin/exit-code", &args), Ok(abi::ExitReason::Exited(33)));
    }

    fn too_many_or_too_long_arguments_are_refused() {
        let args = ["x"; 65];
        check_eq!(sys::spawn("bin/exit-code", &args), Err(Error::TooLarge));
        let long = [b'a'; 5000];
        let long = core::str::from_utf8(&long).unwrap_or("");
        check_eq!(sys::spawn("bin/exit-code", &[long]), Err(Error::TooLarge));
    }

    fn invalid_utf8_arguments_are_refused() {
        let bytes = [0xffu8, 0xfe];
        let arg = [Arg { ptr: bytes.as_ptr() as u64, len: 2 }];
        let path = "bin/exit-code";
        // SAFETY: the kernel only reads the buffers passed here.
        let raw = unsafe {
            sys::syscall6(abi::Syscall::Spawn as u64, path.as_ptr() as u64, path.len() as u64, arg.as_ptr() as u64, 1, 0, 0)
        };
        check_eq!(abi::decode(raw), Err(Error::InvalidUtf8));
        check!(sys::getpid() > 0);
    }
}
