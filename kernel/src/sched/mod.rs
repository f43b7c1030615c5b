//! Scheduling: preemptive round robin over kernel tasks and user processes.
//!
//! `policy` decides who runs next and builds on the host; `scheduler` and
//! `stack` are the bare-metal mechanism.

pub mod policy;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod scheduler;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod stack;

pub use policy::TaskId;
#[cfg(target_os = "none")]
pub use scheduler::*;
