//! The Predictive Allocation Engine's kernel task and its model.
//!
//! **The model.** One model serves every process under the `pae` policy:
//! the boot ramdisk's [`MODEL_PATH`] (the repository's default model, or
//! `cargo xtask run --model FILE`), loaded and checked at boot
//! ([`load_from_ramdisk`]), or a file `init` hands over at run time with
//! `pae_model_set` (`abi::Syscall::PaeModelSet`); [`install`] checks either
//! and puts it in service. A file that is missing,
//! malformed or not the model the engine runs (wrong input width, an
//! unsupported operator, over the size limit, ...) is refused with a log
//! line naming the problem; the running model, if any, stays, and without
//! one `policy=pae` gives `readahead`.
//!
//! **The task.** The model does not run in the fault path. A fault of a
//! process under `pae` is recorded in its history ring, as every fault is;
//! when the faulting access is retried the process hands the processor to
//! the `pae` task ([`after_user_fault`]), which reads the new events of
//! every process under `pae` (its own cursor in each ring), runs one model
//! step per fault that gave the process a page
//! ([`crate::policy::step_of`]), and commits what the model predicts
//! ([`crate::policy::Pae::observe`], `policy::apply`). It works within a
//! budget of guest instructions per timer tick (`pae-budget=`, counted with
//! the TSC, which under `-icount shift=0` advances one cycle per
//! instruction-nanosecond); what is left when the budget is spent waits for
//! the next tick and the processes run on meanwhile: the PAE never holds a
//! process back for more than its budget. Events overwritten in a ring
//! before the task read them are counted as lost.

use super::pae_work;
use super::table::Pid;
use crate::policy::layout::{Layouts, ProgramLayout};
use crate::policy::{Pae, PaeSettings};
use crate::ramdisk::Ramdisk;
use crate::sched::{self, TaskId};
use crate::sync::IrqMutex;
use crate::time;
use crate::arch::cpu;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::format;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use pae_model::integer::IntegerModel;

pub use crate::policy::MODEL_PATH;

/// The model in service.
static MODEL: IrqMutex<Option<Arc<IntegerModel>>> = IrqMutex::new(None);
/// Settings new `pae` policies get.
static SETTINGS: IrqMutex<PaeSettings> = IrqMutex::new(PaeSettings::DEFAULT);
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

/// The layout proposals recorded when processes under `pae` ended.
static LAYOUTS: IrqMutex<Layouts> = IrqMutex::new(Layouts::new());

/// Events taken from one ring at a time.
const BATCH: usize = 32;

/// Sets the per-tick budget (guest instructions; 0: none, the task does
/// everything at once) and the settings of policies made from now on.
pub fn configure(budget_instructions: u64, settings: PaeSettings) {
    let cycles = if budget_instructions == 0 {
        u64::MAX
    } else {
        // instructions × TSC Hz / 1e9: one instruction per nanosecond.
        u64::try_from(u128::from(budget_instructions) * u128::from(time::tsc_hz()) / 1_000_000_000).unwrap_or(u64::MAX).max(1)
    };
    BUDGET_CYCLES.store(cycles, Ordering::Relaxed);
    *SETTINGS.lock() = settings;
}

/// Loads the ramdisk's model at boot (logging what happened).
pub fn load_from_ramdisk(ramdisk: &Ramdisk<'_>) {
    match ramdisk.file(MODEL_PATH) {
        None => log::warn!("pae: no model at {MODEL_PATH} in the ramdisk; the pae policy falls back to readahead"),
        Some(bytes) => {
            if let Err(problem) = install(bytes, MODEL_PATH) {
                log::warn!("pae: {problem}; the pae policy falls back to readahead");
            }
        }
    }
}

/// Checks the model file `bytes` (from `source`) and, if the engine can run
/// it, puts it in service for processes that choose `pae` from now on
/// (running ones keep theirs). A refused file changes nothing; the error
/// names the problem.
pub fn install(bytes: &[u8], source: &str) -> Result<(), String> {
    let model = IntegerModel::load(bytes).map_err(|error| format!("model {source} refused: {error}"))?;
    let threshold = model.threshold().unwrap_or(Pae::DEFAULT_THRESHOLD);
    log::info!(
        "pae: model {source} in service: {} bytes, hidden {}, threshold {}/65536, self-check {:#018x}",
        bytes.len(),
        model.hidden_size(),
        threshold,
        model.self_check()
    );
    *MODEL.lock() = Some(Arc::new(model));
    Ok(())
}

/// Records the layout a process under `pae` left when it ended, for the
/// next launch of its program.
pub(super) fn record_layout(layout: ProgramLayout) {
    log::debug!(
        "pae: layout of {} ({:#018x}) recorded: {} partitions, {} hot pages",
        layout.name,
        layout.identity,
        layout.partitions.len(),
        layout.hot_pages()
    );
    LAYOUTS.lock().record(layout);
}

/// The layout proposal recorded for the program with `identity`, if any.
pub(super) fn layout_for(identity: u64) -> Option<Arc<ProgramLayout>> {
    LAYOUTS.lock().get(identity).cloned()
}

/// The `index`th recorded layout (oldest first) as `abi::layout` words.
pub fn layout_words(index: u64) -> Option<alloc::vec::Vec<u64>> {
    let layouts = LAYOUTS.lock();
    layouts.nth(usize::try_from(index).ok()?).map(|layout| layout.to_words())
}

/// A fresh `pae` policy over the model in service (fed by the task), or
/// `None` without a model.
pub fn policy() -> Option<Pae> {
    let model = MODEL.lock().clone()?;
    let settings = *SETTINGS.lock();
    Some(Pae::deferred(model, settings))
}

/// Starts the task.
pub fn start() {
    match sched::spawn_kernel("pae", run) {
        Ok(task) => TASK.store(task, Ordering::Relaxed),
        Err(error) => log::warn!("pae: no task: {error:?}; pae policies commit nothing ahead"),
    }
}

/// A process under `pae` recorded a fault (called with the process table held).
pub(super) fn note_work() {
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
fn run() {
    // The events served waited for a later tick.
    let mut deferred = false;
    loop {
        WORK.store(false, Ordering::Relaxed);
        let mut after: Pid = 0;
        while let Some(pid) = pae_work::next_pae_process(after) {
            after = pid;
            let left = budget_left();
            if left == 0 {
                break;
            }
            let served = pae_work::pae_serve(pid, cpu::rdtsc().saturating_add(left), deferred, BATCH);
            // Counted with interrupts off inside: time other tasks ran while
            // this one was preempted is not the PAE's.
            spend(served.work.cycles);
            TOTAL_STEPS.fetch_add(served.work.steps, Ordering::Relaxed);
            TOTAL_CYCLES.fetch_add(served.work.cycles, Ordering::Relaxed);
            if served.more {
                break;
            }
        }
        let pending = pae_work::next_pae_process(0).is_some();
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

/// What one serving pass did for one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Served {
    /// Its work, as charged to the process (cycles counted with
    /// interrupts off).
    pub work: crate::vass::PaeWork,
    /// Events still waiting in its ring (the deadline came first).
    pub more: bool,
}

mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use crate::{ensure, ensure_eq};

    /// The PAE's model from the ramdisk runs on bare metal: its self-check
    /// hash (which the `pae` integration test compares with the host's)
    /// and the cost of a step (TSC cycles; instructions under `-icount`).
    #[ktest]
    fn the_default_model_runs_on_bare_metal() {
        use pae_model::features::{AccessKind, Encoder, Event, Source};
        let bytes = super::super::table::ramdisk().and_then(|ramdisk| ramdisk.file(MODEL_PATH));
        ensure!(bytes.is_some(), "no {} in the ramdisk", MODEL_PATH);
        let model = pae_model::integer::IntegerModel::load(bytes.unwrap_or_default());
        ensure!(model.is_ok(), "the model does not load: {:?}", model.err());
        let Ok(model) = model else { return Ok(()) };
        log::info!("pae-self-check {:#018x}", model.self_check());
        const STEPS: u64 = 1000;
        let (mut state, mut encoder) = (model.new_state(), Encoder::new());
        let events: alloc::vec::Vec<[usize; pae_model::features::ACTIVE]> = (0..STEPS)
            .map(|step| {
                let page = 0x1000 + step * 3 % 64 + step / 4;
                encoder.active(&Event { partition: 1 + step % 3, page, access: AccessKind::Write, kind: 3, source: Source::Fault })
            })
            .collect();
        let started = cpu::rdtsc();
        for active in &events {
            ensure!(model.step(&mut state, active).is_ok());
        }
        let cycles = cpu::rdtsc().wrapping_sub(started);
        log::info!("pae-step-cost steps={STEPS} cycles={cycles} tsc_hz={} hidden={}", time::tsc_hz(), model.hidden_size());
    }

    /// The boot model is in service; files that are not a model the engine
    /// runs are refused with the problem named, and the model in service
    /// stays; a good file replaces it.
    #[ktest]
    fn a_refused_model_leaves_the_one_in_service() {
        let before = MODEL.lock().clone();
        ensure!(before.is_some(), "no model in service after boot");
        let Some(before) = before else { return Ok(()) };
        let good = super::super::table::ramdisk().and_then(|ramdisk| ramdisk.file(MODEL_PATH)).unwrap_or_default();
        let truncated = &good[..good.len() / 2];
        let mut damaged = good.to_vec();
        // A byte in the middle of the graph (the weights' encoding survives
        // some flips, so the result is checked only for being no panic).
        let middle = damaged.len() / 3;
        damaged[middle] ^= 0xff;
        for (bytes, what) in [(&b""[..], "empty"), (&b"not an onnx file"[..], "text"), (truncated, "truncated")] {
            let refused = install(bytes, "test-model");
            ensure!(refused.is_err(), "{what}: accepted");
            let message = refused.err().unwrap_or_default();
            ensure!(message.starts_with("model test-model refused: "), "{what}: {message}");
            let now = MODEL.lock().clone();
            ensure!(now.is_some_and(|now| Arc::ptr_eq(&now, &before)), "{what}: the model in service changed");
        }
        let _ = install(&damaged, "damaged");
        ensure_eq!(install(good, "again"), Ok(()));
        let now = MODEL.lock().clone();
        ensure!(now.is_some_and(|now| !Arc::ptr_eq(&now, &before) && now.self_check() == before.self_check()));
        ensure!(policy().is_some(), "a model in service gives a pae policy");
    }
}
