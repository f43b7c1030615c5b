//! Reading files from the ramdisk.

#![no_std]
#![no_main]

extern crate alloc;

use abi::Error;
use alloc::vec;
use runtime::{check, check_eq, sys};

runtime::tests! {
    fn the_command_line_is_readable() {
        let size = sys::file_size("boot/cmdline");
        check!(matches!(size, Ok(s) if s > 0), "{size:?}");
        let data = sys::read_whole_file("boot/cmdline");
        check!(data.as_ref().is_ok_and(|d| d.starts_with(b"mode=")), "{data:?}");
    }

    fn partial_reads_follow_the_offset() {
        let whole = sys::read_whole_file("bin/hello").unwrap_or_default();
        check!(whole.len() > 4096);
        check_eq!(&whole[..4], b"\x7fELF");
        let mut part = vec![0u8; 100];
        check_eq!(sys::read_file("bin/hello", &mut part, 1000), Ok(100));
        check_eq!(&part[..], &whole[1000..1100]);
        let size = whole.len() as u64;
        check_eq!(sys::read_file("bin/hello", &mut part, size - 10), Ok(10));
        check_eq!(&part[..10], &whole[whole.len() - 10..]);
        check_eq!(sys::read_file("bin/hello", &mut part, size), Ok(0));
        check_eq!(sys::read_file("bin/hello", &mut part, size + 1), Err(Error::InvalidArgument));
    }

    fn the_test_list_names_this_program() {
        let list = sys::read_whole_file("boot/tests").unwrap_or_default();
        let list = core::str::from_utf8(&list).unwrap_or("");
        check!(list.lines().any(|line| line == "bin/test-ramdisk"), "{list}");
    }
}
