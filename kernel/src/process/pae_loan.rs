//! What the process layer gives the PAE wing (`crate::pae`), which never
//! names the process table: the next process with work for it, and for
//! one pid a loan of its history ring, its predictor and a session on its
//! space, with the table and the memory service locked in that order.

use crate::arch::cpu;
use crate::memory;
use crate::pae::{Lent, Pass, Processes};
use super::table::{Pid, Process, TABLE};
use crate::vass::SpaceId;

/// The process layer's side of the PAE task, for `pae::start`.
pub fn pae_processes() -> Processes {
    Processes { next_with_work: next_pae_process, lend: lend_to_pae }
}

/// The first process after `after` (by pid) with an address space, under
/// the `pae` policy, with history events its PAE has not read.
fn next_pae_process(after: Pid) -> Option<Pid> {
    let table = TABLE.lock();
    let memory = memory::lock_untimed();
    table
        .processes
        .range(after + 1..)
        .find(|&(&pid, process)| memory.has_space(SpaceId(pid)) && process.history.pae_pending() && process.policy.is_pae())
        .map(|(&pid, _)| pid)
}

/// Runs `pass` on process `pid`'s history, predictor and space (nothing if
/// it is gone, has no space or is not under `pae`).
fn lend_to_pae(pid: Pid, pass: &mut Pass<'_>) {
    let mut table = TABLE.lock();
    // Interrupts are off from here on: the cycles counted are the PAE's.
    let since = cpu::rdtsc();
    let Some(Process { policy, history, .. }) = table.processes.get_mut(&pid) else { return };
    let Some(pae) = policy.pae() else { return };
    let mut memory = memory::lock();
    let Some(space) = memory.space(SpaceId(pid)) else { return };
    pass(Lent { since, history, pae, space });
}
