//! The microkernel's library: everything but the entry point.
//!
//! Hardware-facing code (`arch`, the logger, page tables, the heap, the boot
//! sequence and the in-kernel tests) only exists when building for bare metal
//! (`target_os = "none"`). Policy and bookkeeping code (boot configuration,
//! the ramdisk reader, the buddy allocator, the virtual memory layout) is safe
//! `no_std` Rust that also builds on the host, where `cargo test` exercises it.

#![cfg_attr(not(test), no_std)]
#![cfg_attr(target_os = "none", feature(abi_x86_interrupt))]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod config;
pub mod dev;
pub mod exec;
pub mod history;
pub mod ipc;
pub mod share;
pub mod mm;
pub mod pae;
pub mod pager;
pub mod policy;
pub mod ramdisk;
pub mod vass;
pub mod verdict;

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod arch;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod boot;
#[cfg(target_os = "none")]
pub mod ktest;
#[cfg(target_os = "none")]
pub mod logger;
#[cfg(target_os = "none")]
pub mod memory;
pub mod process;
#[cfg(target_os = "none")]
pub mod record;
pub mod sched;
#[cfg(target_os = "none")]
pub mod syscall;
#[cfg(target_os = "none")]
pub mod sync;
#[cfg(target_os = "none")]
pub mod time;
