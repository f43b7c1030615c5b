//! Scheduling: preemptive round robin over kernel tasks and user processes.
//!
//! `round_robin` decides who runs next and builds on the host; `scheduler` and
//! `stack` are the bare-metal mechanism.

pub mod round_robin;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod scheduler;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod stack;

pub use round_robin::TaskId;
#[cfg(target_os = "none")]
pub use scheduler::*;
