//! VASS, the address-space sculptor: partitions, the VASM and the commit
//! engine, as safe code over two small traits ([`PageTable`],
//! [`FrameSource`]) so the whole core runs on the host against a simulated
//! MMU and is model-checked there.
//!
//! - [`Vass`] owns the *partition table* (every partition: owner, kind,
//!   rights, virtual ranges, which pages are committed to which frames, and
//!   counters) and the *VASM* (per address space, which virtual ranges
//!   belong to which partition), and keeps both in step with the page
//!   tables and the frame allocator.
//! - The *commit engine* is the set of `Vass` operations that change what
//!   is committed: [`Vass::fault`] (commit on demand), [`Vass::commit`] and
//!   [`Vass::decommit`] (on request from a policy or a system call).
//! - [`Vass::check_invariants`] proves that all of them agree.
//! - `hardware` (bare metal only) puts a process's page tables and the
//!   buddy allocator behind the traits; everything else forbids `unsafe`.

mod engine;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod hardware;
#[cfg(test)]
mod swap_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod view_tests;

mod frames;
mod ledger;
mod mmu;
mod partition;
pub mod replacement;
pub mod sim;
pub mod swap;
mod vocabulary;

pub use engine::*;
pub use frames::*;
pub use mmu::*;
pub use partition::*;
pub use replacement::{Eviction, NextUse, Replacement};
pub use vocabulary::*;
