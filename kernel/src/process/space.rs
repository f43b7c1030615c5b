//! The kernel-wide VASS and the way to a process's space: the VASS
//! lock, the running process's tables, policy and history borrowed together
//! (`with_own_process`), the swap I/O charged and the debug invariant check
//! after each operation; the boot settings, the accessed-bit sampler, swap
//! administration and budgets, and the memory counters.

use crate::arch::cpu::{self};
use crate::history::Event;
use crate::policy::{CommitPolicy, Policy};
use super::commit::ProcessPolicy;
use crate::sched::{self};
use crate::vass::hardware::{KernelFrames, SpaceTables, SystemTables};
use crate::vass::{Declaration, PageTable, Scope, SpaceCounters, Vass, VassError};
use crate::sync::{IrqMutex, IrqMutexGuard};
use crate::time;
use abi::Error;
use core::sync::atomic::{AtomicBool, Ordering};
use alloc::vec::Vec;
use super::memory::PAGE_SIZE;
use super::recorder::History;
use super::{table::*, partition_calls::*};
/// The kernel-wide VASS (partition table and VASM). Lock order: TABLE, then VASS.
pub(super) static VASS: IrqMutex<Vass> = IrqMutex::new(Vass::new());

/// The VASS, told the time (for footprints and access frequencies).
pub(super) fn vass() -> IrqMutexGuard<'static, Vass> {
    let mut vass = VASS.lock();
    vass.set_time(time::ticks());
    vass
}

/// Whether a `memstat` line is logged when a process ends.
pub(super) static MEMSTAT: AtomicBool = AtomicBool::new(true);

/// Whether `swap_debug` may inject swap faults (`swap-debug=on`).
pub(super) static SWAP_DEBUG: AtomicBool = AtomicBool::new(false);

/// Applies the boot configuration: 2 MiB pages on or off, `memstat` lines
/// on or off, and the commit policy every process starts with.
pub fn configure(huge_pages: bool, memstat: bool, default_policy: CommitPolicy) {
    VASS.lock().set_huge_pages(huge_pages);
    MEMSTAT.store(memstat, Ordering::Relaxed);
    DEFAULT_POLICY.store(default_policy as u64, Ordering::Relaxed);
    let switch = |on: bool| if on { "on" } else { "off" };
    log::info!(
        "vass: 2 MiB pages {}, memstat lines {}, commit policy {}",
        switch(huge_pages),
        switch(memstat),
        default_policy.name()
    );
}

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
    let mut vass = vass();
    let pids: Vec<Pid> = table.spaces.keys().copied().collect();
    for pid in pids {
        let Some(space) = table.spaces.get_mut(&pid) else { continue };
        let started = cpu::rdtsc();
        let mut tables = SpaceTables { id: pid, space };
        let mut runs = Vec::new();
        let entries = vass.sample_accessed(pid, &mut tables, |partition, range| runs.push((partition, range)));
        let cycles = cpu::rdtsc().wrapping_sub(started);
        vass.add_sample_cycles(pid, cycles);
        check_in_debug(&vass, &tables, Scope::Space(pid));
        let Some(process) = table.processes.get_mut(&pid) else { continue };
        let accessed = runs.iter().map(|(_, range)| range.len()).sum();
        process.history.record(Event::Sample { entries, accessed, cycles });
        for (partition, range) in runs {
            process.history.record(Event::Accessed { partition, range });
        }
    }
}

/// Runs `operation` on the VASS with the running process's page tables.
pub(super) fn with_own_tables<R>(operation: impl FnOnce(&mut Vass, u64, &mut SystemTables<'_>) -> Result<R, VassError>) -> Result<R, Error> {
    with_own_policy(|vass, pid, tables, _, _, _| operation(vass, pid, tables))
}

/// Runs `operation` on the VASS with the running process's page tables,
/// commit policy, history and frames (the time they spend in swap I/O is
/// charged to the process).
pub(super) fn with_own_policy<R>(
    operation: impl FnOnce(&mut Vass, u64, &mut SystemTables<'_>, &mut dyn Policy, &mut History, &mut KernelFrames) -> Result<R, VassError>,
) -> Result<R, Error> {
    with_own_process(|vass, pid, tables, policy, history, _, frames| operation(vass, pid, tables, policy.as_policy(), history, frames))
}

/// As [`with_own_policy`], with the process's layout proposal state too.
pub(super) fn with_own_process<R>(
    operation: impl FnOnce(&mut Vass, u64, &mut SystemTables<'_>, &mut ProcessPolicy, &mut History, &mut Shaping, &mut KernelFrames) -> Result<R, VassError>,
) -> Result<R, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let mut table = TABLE.lock();
    let (mut tables, policy, history, shaping) = system_tables(&mut table, pid).ok_or(Error::InvalidArgument)?;
    let mut vass = vass();
    let mut frames = KernelFrames::new();
    let result = operation(&mut vass, pid, &mut tables, policy, history, shaping, &mut frames);
    charge_swap_io(&mut vass, pid, &frames);
    check_in_debug(&vass, &tables, Scope::Space(pid));
    result.map_err(vass_error)
}

/// In debug kernels, proves after every VASS operation on behalf of a
/// process that the VASM, the partition table, the frame metadata and that
/// process's page tables agree (over `scope`); a disagreement is a kernel
/// bug.
pub(super) fn check_in_debug(vass: &Vass, tables: &impl PageTable, scope: Scope) {
    if cfg!(debug_assertions)
        && let Err(error) = vass.check(tables, &KernelFrames::new(), scope)
    {
        panic!("VASS invariant broken ({scope:?}): {error}");
    }
}

/// Charges the time `frames` spent in swap I/O to process `pid`.
pub(super) fn charge_swap_io(vass: &mut Vass, pid: Pid, frames: &KernelFrames) {
    if frames.swap_io_cycles() > 0 {
        vass.add_swap_io_cycles(pid, frames.swap_io_cycles());
    }
}

/// The memory counters of process `pid`.
pub(super) fn memory_counters(
    pid: Pid,
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
        faults: counters.faults,
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

/// Gives the commit engine a swap device of `slots` pages (at boot, once
/// the disk is found).
pub fn attach_swap(slots: u64) {
    if VASS.lock().set_swap_slots(slots).is_err() {
        log::error!("swap: a device of {slots} pages is smaller than what is in use");
    }
}

/// Allows the `swap_debug` system call (for the swap tests).
pub fn allow_swap_debug(on: bool) {
    SWAP_DEBUG.store(on, Ordering::Relaxed);
    if on {
        log::warn!("swap-debug on: processes may corrupt their own swapped pages");
    }
}

/// `swap_debug(op, address)`: see `abi::Syscall::SwapDebug`.
pub fn swap_debug(op: u64, address: u64) -> Result<u64, Error> {
    if !SWAP_DEBUG.load(Ordering::Relaxed) {
        return Err(Error::PermissionDenied);
    }
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let page = address / PAGE_SIZE;
    let slot = {
        let vass = VASS.lock();
        let partition = vass.lookup(pid, page).ok_or(Error::InvalidArgument)?;
        partition.swapped.get(&page).ok_or(Error::InvalidArgument)?.slot
    };
    match op {
        abi::SWAP_DEBUG_CORRUPT => {
            let disk = crate::dev::swap_disk().ok_or(Error::NotFound)?;
            let mut disk = disk.lock();
            let mut bytes = [0u8; crate::dev::SWAP_PAGE_SIZE];
            disk.read_page(slot, &mut bytes).map_err(|_| Error::OutOfMemory)?;
            bytes[17] ^= 0x10;
            disk.write_page(slot, &bytes).map_err(|_| Error::OutOfMemory)?;
        }
        abi::SWAP_DEBUG_FAIL_READ => crate::vass::hardware::fail_next_read(slot),
        _ => return Err(Error::InvalidArgument),
    }
    log::warn!("swap-debug: pid {pid} page {address:#x} (slot {slot}): operation {op}");
    Ok(0)
}

/// How victims are chosen when a budget or memory runs out.
pub fn set_eviction(eviction: crate::vass::Eviction) {
    VASS.lock().set_eviction(eviction);
}

/// Limits the pages all processes together may have committed.
pub fn set_global_budget(pages: u64) {
    VASS.lock().set_global_budget(Some(pages));
}

/// The swap device's slots: (in use, total, quarantined).
pub fn swap_usage() -> (u64, u64, u64) {
    VASS.lock().swap_usage()
}

/// A memory budget as the system calls give it: `pages` (0: none), from
/// [`abi::MIN_MEMORY_BUDGET`] to [`abi::MAX_MEMORY_BUDGET`].
pub fn budget_from(pages: u64) -> Result<Option<u64>, Error> {
    match pages {
        0 => Ok(None),
        abi::MIN_MEMORY_BUDGET..=abi::MAX_MEMORY_BUDGET => Ok(Some(pages)),
        _ => Err(Error::InvalidArgument),
    }
}

/// Sets the running process's memory budget (`pages`, 0: none); returns the
/// previous one (0: none).
pub fn memory_budget(pages: u64) -> Result<u64, Error> {
    let budget = budget_from(pages)?;
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let mut vass = VASS.lock();
    let previous = vass.budget(pid).unwrap_or(0);
    vass.set_budget(pid, budget);
    Ok(previous)
}

/// The running process's memory counters (after sampling accessed bits).
pub fn own_memory_counters() -> Result<abi::MemoryCounters, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let (started, history_events, history_lost) = TABLE
        .lock()
        .processes
        .get(&pid)
        .map_or((0, 0, 0), |process| (process.started_tsc, process.history.written(), process.history.lost()));
    let mut counters = with_own_tables(|vass, pid, tables| {
        vass.sample_untouched(pid, tables);
        let counters = vass.space_counters(pid).unwrap_or_default();
        let partitions = vass.partitions_of(pid).count() as u64;
        let untouched = vass.partitions_of(pid).map(|p| p.untouched.len() as u64).sum();
        let age = vass.now().saturating_sub(vass.space_born(pid).unwrap_or(0));
        let mut summary = memory_counters(pid, partitions, age, &counters, untouched, vass.declaration(pid));
        summary.budget = vass.budget(pid).unwrap_or(0);
        summary.swapped = vass.partitions_of(pid).map(|p| p.swapped.len() as u64).sum();
        Ok(summary)
    })?;
    counters.run_cycles = cpu::rdtsc().wrapping_sub(started);
    counters.history_events = history_events;
    counters.history_lost = history_lost;
    Ok(counters)
}
