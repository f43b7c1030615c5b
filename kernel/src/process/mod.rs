//! Processes: isolated ring-3 programs with their own address spaces.
//!
//! `memory` (pointer checks, fault naming) and `commit` (a process's
//! commit policy) are policy and build on the host; the rest is the
//! bare-metal mechanism: the process `table`, the `loader`, the `fault`
//! entry, `user_copy`, the `partition_calls`, the accessed-bit `sampler`,
//! and what the PAE wing is lent (`pae_loan`). Address spaces and the VASS
//! are the memory service's (`crate::memory`), the PAE's task and model
//! the PAE wing's (`crate::pae`).

pub mod commit;
pub mod image;
pub mod memory;

#[cfg(target_os = "none")]
mod fault;
#[cfg(target_os = "none")]
mod loader;
#[cfg(target_os = "none")]
mod pae_loan;
#[cfg(target_os = "none")]
mod partition_calls;
#[cfg(target_os = "none")]
mod recorder;
#[cfg(target_os = "none")]
mod share_calls;
#[cfg(target_os = "none")]
mod sampler;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod table;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod user_copy;

#[cfg(target_os = "none")]
pub use fault::{kill_for_fault, page_fault};
#[cfg(target_os = "none")]
pub use pae_loan::pae_processes;
#[cfg(target_os = "none")]
pub use partition_calls::*;
#[cfg(target_os = "none")]
pub use recorder::{configure as configure_history, History};
#[cfg(target_os = "none")]
pub use share_calls::{acl_read, grant_create, grant_derive, grant_map, grant_revoke};
#[cfg(target_os = "none")]
pub use sampler::start_sampler;
#[cfg(target_os = "none")]
pub use table::{
    current_name, current_pid, end_syscall, init, policy_set, ramdisk, resource_request, spawn, start_history_export, stats, wait_child,
    wait_from_kernel, exit_current, Pid, Stats, INIT_PID, MAX_PROCESSES,
};
#[cfg(target_os = "none")]
pub use user_copy::{check_writable, copy_from_user, copy_from_user_into, copy_to_user};
