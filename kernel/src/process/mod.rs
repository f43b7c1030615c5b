//! Processes: isolated ring-3 programs with their own address spaces.
//!
//! `memory` (pointer checks, fault naming) and `commit` (a process's
//! commit policy) are policy and build on the host; the rest is the
//! bare-metal mechanism: the process `table`, the `loader`, the `fault`
//! entry, `user_copy`, the `partition_calls`, the way to a process's
//! `space` (the kernel-wide VASS), and the PAE task's `pae` and
//! `pae_work`.

pub mod commit;
pub mod memory;

#[cfg(target_os = "none")]
mod fault;
#[cfg(target_os = "none")]
mod loader;
#[cfg(target_os = "none")]
pub mod pae;
#[cfg(target_os = "none")]
mod pae_work;
#[cfg(target_os = "none")]
mod partition_calls;
#[cfg(target_os = "none")]
mod recorder;
#[cfg(target_os = "none")]
mod space;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod table;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod user_copy;

#[cfg(target_os = "none")]
pub use fault::{kill_for_fault, page_fault};
#[cfg(target_os = "none")]
pub use partition_calls::*;
#[cfg(target_os = "none")]
pub use recorder::configure as configure_history;
#[cfg(target_os = "none")]
pub use space::{
    allow_swap_debug, attach_swap, budget_from, configure, memory_budget, own_memory_counters, set_eviction, set_global_budget,
    start_sampler, swap_debug, swap_usage,
};
#[cfg(target_os = "none")]
pub use table::{
    current_pid, end_syscall, init, policy_set, ramdisk, resource_request, spawn, start_history_export, stats, wait_child,
    wait_from_kernel, exit_current, Pid, Stats, INIT_PID, MAX_PROCESSES,
};
#[cfg(target_os = "none")]
pub use user_copy::{copy_from_user, copy_to_user};
