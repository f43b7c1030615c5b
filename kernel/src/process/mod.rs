//! Processes: isolated ring-3 programs with their own address spaces.
//!
//! `memory` (pointer checks, fault naming) is policy and builds on
//! the host; `lifecycle` is the bare-metal mechanism.

pub mod commit;
pub mod memory;

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod lifecycle;
#[cfg(target_os = "none")]
pub mod pae;
#[cfg(target_os = "none")]
mod recorder;
#[cfg(target_os = "none")]
pub use recorder::configure as configure_history;
#[cfg(target_os = "none")]
pub use lifecycle::*;
