//! Reading files from the ramdisk: sizes, whole and partial reads, offsets.

#![no_std]
#![no_main]

extern crate alloc;

use abi::Error;
use alloc::vec;
use alloc::vec::Vec;
use runtime::{check, check_eq, sys};

/// A small text file every boot has.
const CMDLINE: &str = "boot/cmdline";

runtime::tests! {
    fn the_command_line_is_readable_whole() {
        let size = sys::file_size(CMDLINE);
        check!(matches!(size, Ok(size) if size > 0), "{size:?}");
        let size = size.unwrap_or(0);
        let mut data = vec![0u8; size as usize];
        check_eq!(sys::read_file(CMDLINE, &mut data, 0), Ok(size));
        let text = core::str::from_utf8(&data);
        check!(text.is_ok_and(|text| text.contains('=')), "not `key=value` text: {data:?}");
        check_eq!(sys::read_whole_file(CMDLINE), Ok(data));
    }

    fn the_command_line_reads_the_same_in_pieces() {
        let whole = sys::read_whole_file(CMDLINE).unwrap_or_default();
        check!(!whole.is_empty());
        let mut pieces = Vec::new();
        let mut piece = [0u8; 3];
        let mut offset = 0u64;
        loop {
            let read = sys::read_file(CMDLINE, &mut piece, offset);
            check!(matches!(read, Ok(count) if count <= 3), "at {offset}: {read:?}");
            let count = read.unwrap_or(0);
            if count == 0 {
                break;
            }
            pieces.extend_from_slice(&piece[..count as usize]);
            offset += count;
        }
        check_eq!(pieces, whole);
    }

    fn a_buffer_larger_than_the_file_gets_the_file() {
        let size = sys::file_size(CMDLINE).unwrap_or(0);
        let mut buffer = vec![0xaau8; size as usize + 100];
        check_eq!(sys::read_file(CMDLINE, &mut buffer, 0), Ok(size));
        check!(buffer[size as usize..].iter().all(|&byte| byte == 0xaa), "bytes past the end were written");
    }

    fn partial_reads_follow_the_offset() {
        let whole = sys::read_whole_file("bin/hello").unwrap_or_default();
        check!(whole.len() > 4096, "bin/hello is {} bytes", whole.len());
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

    fn missing_files_are_not_found() {
        check_eq!(sys::file_size("boot/no-such-file"), Err(Error::NotFound));
        let mut buffer = [0u8; 8];
        check_eq!(sys::read_file("boot/no-such-file", &mut buffer, 0), Err(Error::NotFound));
    }

    fn the_test_list_names_this_program() {
        let list = sys::read_whole_file("boot/tests").unwrap_or_default();
        let list = core::str::from_utf8(&list).unwrap_or("");
        check!(list.lines().any(|line| line.trim() == "bin/test-ramdisk"), "{list}");
    }
}
