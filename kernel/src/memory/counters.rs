//! The memory counters a process is given: its space's counters (already
//! the ABI's `MemoryCounters`, see `vass::SpaceCounters`) with what only
//! the memory service knows filled in (the `memory_counters` system call
//! and the `memstat` line and record a process leaves when it ends).
//!
//! Where counters are seen: per partition (loaded, demand, ahead, hits,
//! waste, decommits, peak, faults, recent faults and accessed samples,
//! physical extents, swapped, evicted and cold pages, major faults, idle
//! scans) in `partition_query`; per page (frame or swap slot, lost, cold,
//! untouched, accessed, dirty) in `page_query`; per process (these) in
//! `memory_counters`, in the `memstat name=... key=value` log line, and in
//! the `Memstat` record (`abi::record`, `crate::record`) the host decodes.

#![forbid(unsafe_code)]

use crate::vass::{Declaration, SpaceCounters, SpaceId};

/// The memory counters of process `pid` as the ABI gives them, from its
/// space's `counters` and what else the engine knows of it (its
/// `partitions`, its `age` in ticks, its `untouched` pages, what it
/// `declared`); run cycles, history events, budget and swapped pages are
/// left at zero for the caller.
pub fn summary(
    pid: SpaceId,
    partitions: u64,
    age: u64,
    counters: &SpaceCounters,
    untouched: u64,
    declared: Option<&Declaration>,
) -> abi::MemoryCounters {
    abi::MemoryCounters {
        pid: pid.0,
        partitions,
        age_ticks: age,
        run_cycles: 0,
        untouched,
        declared_working_set: declared.map_or(0, |d| d.working_set),
        declared_lifetime: declared.map_or(0, |d| d.lifetime),
        declared_dependencies: declared.map_or(0, |d| (d.programs.len() + d.partitions.len()) as u64),
        history_events: 0,
        history_lost: 0,
        budget: 0,
        swapped: 0,
        ..*counters
    }
}
