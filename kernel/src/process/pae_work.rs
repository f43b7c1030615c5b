//! The PAE task's pass over one process: its new history events become
//! model steps, and what each step predicts is committed (or held cold)
//! at once, within the task's budget.

use crate::arch::cpu::{self};
use crate::history::{Cause, Event};
use crate::policy::{self};
use crate::vass::hardware::KernelFrames;
use crate::vass::{PageRange, Scope};
use alloc::vec::Vec;
use super::{table::*, space::*};
/// The first process after `after` (by pid) under the `pae` policy with
/// history events its PAE has not read.
pub(super) fn next_pae_process(after: Pid) -> Option<Pid> {
    let table = TABLE.lock();
    table
        .processes
        .range(after + 1..)
        .find(|(pid, process)| table.spaces.contains_key(pid) && process.history.pae_pending() && process.policy.is_pae())
        .map(|(&pid, _)| pid)
}

/// Feeds process `pid`'s new history events to its PAE, `batch` at a
/// time, until none is left or the TSC reaches `deadline`: each fault that
/// gave it a page is a model step, and what the step predicts is
/// committed (or held cold) at once. `deferred`: these events waited for
/// this tick. The work is charged to the process.
pub(super) fn pae_serve(pid: Pid, deadline: u64, deferred: bool, batch: usize) -> super::pae::Served {
    let mut served = super::pae::Served::default();
    let mut table = TABLE.lock();
    // Interrupts are off from here on: the cycles counted are the PAE's.
    let started = cpu::rdtsc();
    let Some((mut tables, policy, history, _)) = system_tables(&mut table, pid) else { return served };
    let Some(pae) = policy.pae() else { return served };
    let mut vass = vass();
    let mut frames = KernelFrames::new();
    let demotions_before = pae.counters().demotions;
    let mut entries = Vec::with_capacity(batch);
    let mut checked: Option<PageRange> = None;
    let (mut steps, mut model_cycles) = (0, 0);
    loop {
        entries.clear();
        history.take_for_pae(batch, &mut entries);
        for entry in &entries {
            if let Event::Accessed { partition, .. } = entry.event {
                pae.saw_accessed(partition);
                continue;
            }
            let kind_of = |id| vass.partition(id).filter(|partition| partition.space == pid).map(|partition| partition.kind);
            let Some(step) = policy::step_of(&entry.event, kind_of) else { continue };
            let Some(range) = vass.lookup(pid, step.page).and_then(|partition| partition.range_of(step.page)) else { continue };
            let now = vass.now();
            let view = policy::EngineView { vass: &vass, space: pid, table: &tables };
            // The inference alone is the model's cost; choosing pages and
            // committing them count toward the task's.
            let stepping = cpu::rdtsc();
            let scores = pae.infer(&step);
            model_cycles += cpu::rdtsc().wrapping_sub(stepping);
            let Some(scores) = scores else { continue };
            let plan = pae.plan_for(&step, &scores, range, now, &view);
            steps += 1;
            policy::apply(&mut vass, pid, &plan, &mut tables, &mut frames, |partition, range, committed| {
                history.record(Event::Commit { partition, range, committed, cause: Cause::Policy });
            });
            for piece in &plan.commit {
                checked = Some(checked.map_or(*piece, |all| PageRange::new(all.start.min(piece.start), all.end.max(piece.end))));
            }
        }
        if !history.pae_pending() {
            break;
        }
        if cpu::rdtsc() >= deadline {
            served.more = true;
            break;
        }
    }
    charge_swap_io(&mut vass, pid, &frames);
    served.work = crate::vass::PaeWork {
        steps,
        cycles: cpu::rdtsc().wrapping_sub(started),
        model_cycles,
        deferred: if deferred { steps } else { 0 },
        lost: history.pae_lost(),
        demotions: pae.counters().demotions - demotions_before,
    };
    vass.add_pae_work(pid, served.work);
    if let Some(range) = checked {
        check_in_debug(&vass, &tables, Scope::Pages { space: pid, range });
    }
    served
}
