//! The Predictive Allocation Engine (PAE): a small recurrent model that
//! predicts which pages a process touches next, so they are committed
//! before the touch, and which partitions went cold, so they go to swap
//! first.
//!
//! - `predictor` (host-tested): [`Pae`], one process's predictor, a commit
//!   policy over the shared integer model; [`step_of`], the rule that makes
//!   a history event a model step.
//! - [`proposal`] (host-tested): layout proposals, what the PAE learned of
//!   a program's address space for its next launch.
//! - Bare metal: `model`, the model slot (loaded at boot, replaced at run
//!   time, refused with the problem named); `task`, the kernel task that
//!   steps every process's predictor off the fault path within a budget
//!   per tick; `pass`, the task's pass over one process; `store`, the
//!   layout proposals recorded so far.
//!
//! **Where it meets processes.** The wing never names the process table.
//! The process layer gives the task what it needs through [`Processes`]
//! (the next process with work, and for one pid a loan of its history
//! ring, its predictor and a memory-service session: [`Lent`]), installed
//! by the boot sequence with [`start`], as `arch::idt::install_handlers`
//! installs the fault handlers; it calls [`note_work`] and
//! [`after_user_fault`] from its fault entry, [`policy`] when a process
//! chooses `pae`, and [`layout_for`] / [`record_layout`] at spawn and exit.
//!
//! No part of the wing uses `unsafe`; every module but `model` forbids it
//! (`model`'s in-kernel tests are registered by `#[ktest]`, whose
//! registration allows it, so `model` stays under the crate's `deny`).

mod predictor;
pub mod proposal;

#[cfg(target_os = "none")]
mod model;
#[cfg(target_os = "none")]
mod pass;
#[cfg(target_os = "none")]
mod store;
#[cfg(target_os = "none")]
mod task;
#[cfg(test)]
mod tests;

pub use predictor::{step_of, Pae, PaeCounters, Settings, MODEL_PATH, PAE_BUDGET};

#[cfg(target_os = "none")]
pub use model::{install, load_from_ramdisk, policy};
#[cfg(target_os = "none")]
pub use store::{layout_for, layout_words, record_layout};
#[cfg(target_os = "none")]
pub use task::{after_user_fault, note_work, start, totals, Lent, Pass, Processes, Served};

/// Sets the task's per-tick budget (guest instructions; 0: none, the task
/// does everything at once) and the settings of policies made from now on.
#[cfg(target_os = "none")]
pub fn configure(budget_instructions: u64, settings: Settings) {
    task::set_budget(budget_instructions);
    model::set_settings(settings);
}
