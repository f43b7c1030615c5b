//! The PAE task's pass over one process: its new history events become
//! model steps, and what each step predicts is committed (or held cold)
//! at once, within the task's budget. The process layer lends the pass
//! what it works on ([`super::Lent`]).
//!
//! Its cycles, steps, deferred steps, lost events and demotions are charged
//! to the process (the `pae_*` fields of its `memstat` line).

#![forbid(unsafe_code)]

use super::task::{Lent, Processes, Served};
use crate::arch::cpu;
use crate::history::{Cause, Event};
use crate::policy;
use crate::process::Pid;
use crate::vass::{PageRange, Scope};
use alloc::vec::Vec;

/// Feeds process `pid`'s new history events to its PAE, `batch` at a
/// time, until none is left or the TSC reaches `deadline`: each fault that
/// gave it a page is a model step, and what the step predicts is
/// committed (or held cold) at once. `deferred`: these events waited for
/// this tick. The work is charged to the process.
pub(super) fn serve(processes: &Processes, pid: Pid, deadline: u64, deferred: bool, batch: usize) -> Served {
    let mut served = Served::default();
    (processes.lend)(pid, &mut |lent| served = pass(lent, deadline, deferred, batch));
    served
}

/// The pass itself, over what the process layer lent.
fn pass(lent: Lent<'_>, deadline: u64, deferred: bool, batch: usize) -> Served {
    let Lent { since: started, history, pae, mut space } = lent;
    let mut served = Served::default();
    let pid = space.pid();
    let (vass, tables, frames) = (&mut *space.vass, &mut space.tables, &mut space.frames);
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
            let Some(step) = super::step_of(&entry.event, kind_of) else { continue };
            let Some(range) = vass.lookup(pid, step.page).and_then(|partition| partition.range_of(step.page)) else { continue };
            let now = vass.now();
            let view = policy::EngineView { vass: &*vass, space: pid, table: &*tables };
            // The inference alone is the model's cost; choosing pages and
            // committing them count toward the task's.
            let stepping = cpu::rdtsc();
            let scores = pae.infer(&step);
            model_cycles += cpu::rdtsc().wrapping_sub(stepping);
            let Some(scores) = scores else { continue };
            let plan = pae.plan_for(&step, &scores, range, now, &view);
            steps += 1;
            policy::apply(vass, pid, &plan, tables, frames, |partition, range, committed| {
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
    served.work = crate::vass::PaeWork {
        steps,
        cycles: cpu::rdtsc().wrapping_sub(started),
        model_cycles,
        deferred: if deferred { steps } else { 0 },
        lost: history.pae_lost(),
        demotions: pae.counters().demotions - demotions_before,
    };
    vass.add_pae_work(pid, served.work);
    // The session's end charges the swap I/O and checks what was committed.
    space.check_over(checked.map(|range| Scope::Pages { space: pid, range }));
    served
}
