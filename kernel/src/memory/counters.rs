//! The memory counters' copy: a space's counters as the ABI's
//! `MemoryCounters` (the `memory_counters` system call and the `memstat`
//! line a process leaves when it ends).

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
        pid,
        partitions,
        age_ticks: age,
        run_cycles: 0,
        faults: counters.faults(),
        faults_demand: counters.faults_demand,
        faults_spurious: counters.faults_spurious,
        faults_unmapped: counters.faults_unmapped,
        faults_violation: counters.faults_violation,
        faults_oom: counters.faults_oom,
        fault_reads: counters.fault_reads,
        fault_writes: counters.fault_writes,
        fault_executes: counters.fault_executes,
        loaded: counters.loaded,
        demand_commits: counters.demand_commits,
        ahead_commits: counters.ahead_commits,
        hits: counters.hits,
        waste: counters.waste,
        untouched,
        decommits: counters.decommits,
        committed: counters.committed,
        peak_committed: counters.peak_committed,
        footprint: counters.footprint,
        fault_cycles: counters.fault_cycles,
        sampled: counters.sampled,
        sample_scans: counters.sample_scans,
        sample_cycles: counters.sample_cycles,
        promotions: counters.promotions,
        demotions: counters.demotions,
        declared_working_set: declared.map_or(0, |d| d.working_set),
        declared_lifetime: declared.map_or(0, |d| d.lifetime),
        declared_dependencies: declared.map_or(0, |d| (d.programs.len() + d.partitions.len()) as u64),
        history_events: 0,
        history_lost: 0,
        budget: 0,
        faults_major: counters.faults_major,
        faults_swap_failed: counters.faults_swap_failed,
        evictions: counters.evictions,
        swap_outs: counters.swap_outs,
        swap_ins: counters.swap_ins,
        evicted_untouched: counters.evicted_untouched,
        swap_errors: counters.swap_errors,
        swapped: 0,
        swap_io_cycles: counters.swap_io_cycles,
        pae_steps: counters.pae_steps,
        pae_cycles: counters.pae_cycles,
        pae_model_cycles: counters.pae_model_cycles,
        pae_deferred: counters.pae_deferred,
        pae_lost: counters.pae_lost,
        pae_demotions: counters.pae_demotions,
        layout_commits: counters.layout_commits,
    }
}
