//! The accessed-bit sampler: a kernel task (`vass-sampler`, run mode only)
//! that scans every process's accessed bits each `sample=` timer ticks (64
//! by default; 0: no sampler), feeding the partitions' recent-access
//! frequencies, charging each scan's cycles to the process scanned and
//! recording what it saw in the process's history.
//!
//! A scan reads and clears the accessed bit of every committed page (one
//! entry per 2 MiB page) and turns touched pages committed ahead into hits.
//! It holds the process table and the memory service's lock (interrupts
//! off) for the whole scan.

use crate::arch::cpu;
use crate::history::Event;
use crate::memory;
use crate::sched;
use alloc::vec::Vec;
use super::table::TABLE;

/// Starts the kernel task that samples every process's accessed bits each
/// `ticks` timer ticks (0: never), feeding the partitions' recent-access
/// frequencies; each scan's cycles are charged to the process sampled.
pub fn start_sampler(ticks: u64) {
    if ticks == 0 {
        return;
    }
    let started = sched::spawn_kernel("vass-sampler", move || {
        loop {
            sched::sleep(ticks);
            sample_all();
        }
    });
    if let Err(error) = started {
        log::warn!("vass: no accessed-bit sampler: {error:?}");
    }
}

/// One accessed-bit scan of every live process.
pub(super) fn sample_all() {
    let mut table = TABLE.lock();
    let mut memory = memory::lock();
    for pid in memory.pids() {
        let Some(mut space) = memory.space(pid) else { continue };
        let started = cpu::rdtsc();
        let mut runs = Vec::new();
        let entries = space.vass.sample_accessed(pid, &mut space.tables, |partition, range| runs.push((partition, range)));
        let cycles = cpu::rdtsc().wrapping_sub(started);
        space.vass.add_sample_cycles(pid, cycles);
        // The session's end checks the space.
        drop(space);
        let Some(process) = table.processes.get_mut(&pid.0) else { continue };
        let accessed = runs.iter().map(|(_, range)| range.len()).sum();
        process.history.record(Event::Sample { entries, accessed, cycles });
        for (partition, range) in runs {
            process.history.record(Event::Accessed { partition, range });
        }
    }
}
