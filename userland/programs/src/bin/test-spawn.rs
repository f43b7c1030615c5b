//! Spawning, waiting and exit codes.

#![no_std]
#![no_main]

use abi::{Error, ExitReason};
use runtime::{check, check_eq, sys};

runtime::tests! {
    fn hello_runs_and_exits_cleanly() {
        check_eq!(sys::run("bin/hello", &["from", "test-spawn"]), Ok(ExitReason::Exited(0)));
    }

    fn exit_codes_propagate() {
        for code in ["0", "1", "42", "-7", "255"] {
            let expected: i32 = code.parse().unwrap_or(0);
            check_eq!(sys::run("bin/exit-code", &[code]), Ok(ExitReason::Exited(expected)));
        }
    }

    fn a_missing_program_is_not_found() {
        check_eq!(sys::spawn("bin/no-such-program", &[]), Err(Error::NotFound));
        check_eq!(sys::spawn("", &[]), Err(Error::InvalidArgument));
    }

    fn a_non_executable_file_is_refused() {
        check_eq!(sys::spawn("boot/cmdline", &[]), Err(Error::BadExecutable));
    }

    fn waiting_without_children_fails() {
        check_eq!(sys::wait(0), Err(Error::NoChild));
        check_eq!(sys::wait(1), Err(Error::NoChild), "init is not our child");
        check_eq!(sys::wait(9999), Err(Error::NoChild));
    }

    fn wait_for_any_child_collects_all() {
        let mut pids = [0u64; 3];
        for (index, pid) in pids.iter_mut().enumerate() {
            let code = ["1", "2", "3"][index];
            *pid = sys::spawn("bin/exit-code", &[code]).unwrap_or(0);
            check!(*pid > 0);
        }
        let mut codes = [0i32; 3];
        for slot in codes.iter_mut() {
            let status = sys::wait(0);
            check!(status.is_ok(), "{status:?}");
            let status = status.unwrap_or_default();
            check!(pids.contains(&status.pid));
            if let Some(ExitReason::Exited(code)) = status.reason() {
                *slot = code;
            }
        }
        codes.sort_unstable();
        check_eq!(codes, [1, 2, 3]);
        check_eq!(sys::wait(0), Err(Error::NoChild));
    }

    fn children_get_their_arguments() {
        check_eq!(sys::run("bin/exit-code", &["12", "ignored", "args"]), Ok(ExitReason::Exited(12)));
    }
}
