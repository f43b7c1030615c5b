//! Layout proposals pre-size partitions: a program that grew a partition
//! past a neighbour on its first run under `pae` (the growth had to go to a
//! second virtual range) finds room kept after it on its second run (the
//! partition grows in place, one range).

#![no_std]
#![no_main]

use abi::{CommitPolicy, ExitReason};
use runtime::{check_eq, sys};

runtime::tests! {
    fn the_second_run_grows_in_place_where_the_first_split() {
        let previous = sys::policy_set(CommitPolicy::Pae);
        let first = sys::run("bin/layout-probe", &[]);
        let second = sys::run("bin/layout-probe", &[]);
        let _ = sys::policy_set(previous.unwrap_or(CommitPolicy::Demand));
        check_eq!(first, Ok(ExitReason::Exited(2)), "the first run grows past its neighbour into a second range");
        check_eq!(second, Ok(ExitReason::Exited(1)), "the second run grows in place");
    }

    fn without_pae_nothing_is_proposed() {
        let previous = sys::policy_set(CommitPolicy::Demand);
        let run = sys::run("bin/layout-probe", &[]);
        let _ = sys::policy_set(previous.unwrap_or(CommitPolicy::Demand));
        check_eq!(run, Ok(ExitReason::Exited(2)), "demand paging follows no proposal");
    }
}
