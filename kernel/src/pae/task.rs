//! The PAE kernel task. The model does not run in the fault path. A fault
//! of a process under `pae` is recorded in its history ring, as every fault
//! is, and noted as work for the task ([`note_work`]); when the faulting
//! access is retried the process hands the processor to the `pae` task
//! ([`after_user_fault`]), which reads the new events of every process
//! under `pae` (its own cursor in each ring), runs one model step per fault
//! that gave the process a page ([`super::step_of`]), and commits what the
//! model predicts ([`super::Pae::observe`], `policy::apply`): the pass over
//! one process (`pass`). It works within a budget of guest instructions
//! per timer tick (`pae-budget=`, counted with the TSC, which under
//! `-icount shift=0` advances one cycle per instruction-nanosecond); what
//! is left when the budget is spent waits for the next tick and the
//! processes run on meanwhile: the PAE never holds a process back for more
//! than its budget. Events overwritten in a ring before the task read them
//! are counted as lost.
//!
//! The task reaches processes only through [`Processes`], which the
//! process layer provides and the boot sequence hands to [`start`].

#![forbid(unsafe_code)]

use super::pass;
use super::predictor::Pae;
use crate::arch::cpu;
use crate::memory::Space;
use crate::process::{History, Pid};
use crate::sched::{self, TaskId};
use crate::sync::IrqMutex;
use crate::time;
use crate::vass::hardware::SystemTables;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The task, once started (0: none).
static TASK: AtomicU64 = AtomicU64::new(0);
/// A process under `pae` recorded a fault since the task last looked.
static WORK: AtomicBool = AtomicBool::new(false);
/// TSC cycles the task may spend per tick.
static BUDGET_CYCLES: AtomicU64 = AtomicU64::new(u64::MAX);
/// The tick `SPENT` counts for, and the cycles spent in it.
static SPENT: IrqMutex<(u64, u64)> = IrqMutex::new((0, 0));
/// Totals over the run: model steps and TSC cycles of the task.
static TOTAL_STEPS: AtomicU64 = AtomicU64::new(0);
static TOTAL_CYCLES: AtomicU64 = AtomicU64::new(0);

/// Events taken from one ring at a time.
const BATCH: usize = 32;

/// What the task needs of the processes it serves, given by the process
/// layer (the wing never names the process table).
#[derive(Clone, Copy)]
pub struct Processes {
    /// The first process after `after` (by pid) under `pae`, with an
    /// address space and history events its PAE has not read.
    pub next_with_work: fn(after: Pid) -> Option<Pid>,
    /// Runs `pass` on a loan of what a pass over process `pid` needs
    /// ([`Lent`]), with the process table and the memory service locked
    /// (interrupts off); nothing if `pid` is gone, has no space or is no
    /// longer under `pae`.
    pub lend: fn(pid: Pid, pass: &mut Pass<'_>),
}

/// A pass over one process, run on what the process layer lends it.
pub type Pass<'a> = dyn FnMut(Lent<'_>) + 'a;

/// What the process layer lends the task for a pass over one process.
pub struct Lent<'a> {
    /// The TSC when interrupts went off for the loan: the pass's cycles
    /// count from here.
    pub since: u64,
    /// The process's history (the PAE reads it through its own cursor).
    pub history: &'a mut History,
    /// The process's predictor.
    pub pae: &'a mut Pae,
    /// A session on the process's space.
    pub space: Space<'a, SystemTables<'a>>,
}

/// What one serving pass did for one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Served {
    /// Its work, as charged to the process (cycles counted with
    /// interrupts off).
    pub work: crate::vass::PaeWork,
    /// Events still waiting in its ring (the deadline came first).
    pub more: bool,
}

/// Sets the per-tick budget (guest instructions; 0: none, the task does
/// everything at once).
pub(super) fn set_budget(budget_instructions: u64) {
    let cycles = if budget_instructions == 0 {
        u64::MAX
    } else {
        // instructions × TSC Hz / 1e9: one instruction per nanosecond.
        u64::try_from(u128::from(budget_instructions) * u128::from(time::tsc_hz()) / 1_000_000_000).unwrap_or(u64::MAX).max(1)
    };
    BUDGET_CYCLES.store(cycles, Ordering::Relaxed);
}

/// Starts the task over `processes`.
pub fn start(processes: Processes) {
    match sched::spawn_kernel("pae", move || run(processes)) {
        Ok(task) => TASK.store(task, Ordering::Relaxed),
        Err(error) => log::warn!("pae: no task: {error:?}; pae policies commit nothing ahead"),
    }
}

/// A process under `pae` recorded a fault (called with the process table held).
pub fn note_work() {
    WORK.store(true, Ordering::Relaxed);
}

/// Called when a fault of the running process from ring 3 was resolved:
/// if the PAE has work and budget left this tick, it runs now, before the
/// access is retried.
pub fn after_user_fault() {
    let task: TaskId = TASK.load(Ordering::Relaxed);
    if task != 0 && WORK.load(Ordering::Relaxed) && budget_left() > 0 {
        sched::hand_off(task);
    }
}

/// Cycles left in this tick's budget.
fn budget_left() -> u64 {
    let budget = BUDGET_CYCLES.load(Ordering::Relaxed);
    let (tick, spent) = *SPENT.lock();
    if tick != time::ticks() { budget } else { budget.saturating_sub(spent) }
}

/// Charges `cycles` to this tick's budget.
fn spend(cycles: u64) {
    let now = time::ticks();
    let mut spent = SPENT.lock();
    if spent.0 != now {
        *spent = (now, 0);
    }
    spent.1 = spent.1.saturating_add(cycles);
}

/// The task: serve every process with work, then wait for more (or for the
/// next tick, if the budget ran out first).
fn run(processes: Processes) {
    // The events served waited for a later tick.
    let mut deferred = false;
    loop {
        WORK.store(false, Ordering::Relaxed);
        let mut after: Pid = 0;
        while let Some(pid) = (processes.next_with_work)(after) {
            after = pid;
            let left = budget_left();
            if left == 0 {
                break;
            }
            let served = pass::serve(&processes, pid, cpu::rdtsc().saturating_add(left), deferred, BATCH);
            // Counted with interrupts off inside: time other tasks ran while
            // this one was preempted is not the PAE's.
            spend(served.work.cycles);
            TOTAL_STEPS.fetch_add(served.work.steps, Ordering::Relaxed);
            TOTAL_CYCLES.fetch_add(served.work.cycles, Ordering::Relaxed);
            if served.more {
                break;
            }
        }
        let pending = (processes.next_with_work)(0).is_some();
        if pending && budget_left() > 0 {
            continue;
        }
        if pending {
            // The budget ran out with work left: it waits for the next tick
            // (or, when the tick has come, the next fault hands over first).
            WORK.store(true, Ordering::Relaxed);
            deferred = true;
            sched::sleep(1);
        } else {
            deferred = false;
            x86_64::instructions::interrupts::without_interrupts(|| {
                if !WORK.load(Ordering::Relaxed) {
                    sched::block_current();
                }
            });
        }
    }
}

/// Steps and TSC cycles of the PAE task over the whole run.
pub fn totals() -> (u64, u64) {
    (TOTAL_STEPS.load(Ordering::Relaxed), TOTAL_CYCLES.load(Ordering::Relaxed))
}
