//! The page-fault entry: a fault of the running process, served by the
//! pager (`pager::serve_fault`) with its history and timing, the PAE
//! woken, the layout proposal applied; and the report that kills a process
//! for a fault it cannot resume from.
//!
//! A kill is logged as `pid=<p> name=<n> fault=<kind> addr=<a> rip=<r>
//! (<exception or system call>)`, plus `swap slot <s> lost: <why>; slot
//! quarantined` when the page's copy in swap is lost; the parent's `wait`
//! reports the `FaultKind`.

use crate::arch::cpu::{self};
use crate::arch::idt;
use crate::history::{Cause, Event};
use crate::memory::Space;
use crate::mm::layout;
use crate::policy::{self, Plan};
use crate::vass::hardware::{self, LostCopy, SystemTables};
use crate::vass::swap::Slot;
use crate::vass::PartitionId;
use crate::pager::{self, FaultObserver, FaultRequest};
use crate::vass::{PageRange, PartitionKind, Resolution, Scope, Vass};
use abi::ExitReason;
use alloc::vec::Vec;
use super::memory::{self, Access, PAGE_SIZE};
use super::recorder::History;
use x86_64::structures::idt::PageFaultErrorCode;
use super::table::*;
use crate::vass::SpaceId;
/// The kernel's page-fault handler ([`idt::Handlers::page_fault`]): a
/// fault of the running process is served by the pager
/// ([`handle_page_fault`]); when a fault taken in ring 3 was resolved, the
/// PAE task may read it before the access is retried. Returns whether the
/// access can be retried.
pub fn page_fault(address: u64, rip: u64, error: PageFaultErrorCode) -> bool {
    let retry = handle_page_fault(address, rip, error);
    if retry && error.contains(PageFaultErrorCode::USER_MODE) {
        crate::pae::after_user_fault();
    }
    retry
}

/// Resolves a page fault of the running process through the commit
/// engine (`rip` is the faulting instruction, for the history). Returns
/// whether the faulting access can be retried.
pub(super) fn handle_page_fault(address: u64, rip: u64, error: PageFaultErrorCode) -> bool {
    let started = cpu::rdtsc();
    if !layout::USER.contains(address) {
        return false;
    }
    let access = access_of(error);
    let Some(pid) = current_pid() else { return false };
    let Some(mut table) = TABLE.try_lock() else { return false };
    let Some(Process { policy, history, shaping, .. }) = table.processes.get_mut(&pid) else { return false };
    let Some(mut memory) = crate::memory::try_lock() else { return false };
    let Some(mut space) = memory.space(SpaceId(pid)) else { return false };
    let page = address / PAGE_SIZE;
    let request = FaultRequest { space: SpaceId(pid), page, access, protection: error.contains(PageFaultErrorCode::PROTECTION_VIOLATION) };
    let under_pae = policy.is_pae();
    let mut recorder = FaultRecorder { history: &mut *history, address, rip, under_pae };
    let report = pager::serve_fault(space.vass, request, policy.as_policy(), &mut space.tables, &mut space.frames, &mut recorder);
    if request.protection {
        // Mapped, but not for this access: counted and recorded, and
        // retried only if a write invalidated a page's replicas (checked
        // over every space: the replicas were other processes').
        space.check_over(report.retry().then_some(Scope::Full));
        return report.retry();
    }
    let mut checked = report.span(page);
    if under_pae && let Some(placement) = report.placement().filter(|_| report.resolution.served()) {
        let proposed = apply_proposal(&mut space, placement.partition, shaping, history);
        checked = proposed.iter().fold(checked, |all, piece| PageRange::new(all.start.min(piece.start), all.end.max(piece.end)));
    }
    space.vass.add_fault_cycles(SpaceId(pid), cpu::rdtsc().wrapping_sub(started));
    space.check_over(Some(Scope::Pages { space: SpaceId(pid), range: checked }));
    report.retry()
}

/// What the kernel keeps of a fault as the pager serves it: the fault and
/// each commit its plan makes go to the process's history; a fault of a
/// process under `pae` wakes the PAE task.
pub(super) struct FaultRecorder<'a> {
    pub(super) history: &'a mut History,
    pub(super) address: u64,
    pub(super) rip: u64,
    pub(super) under_pae: bool,
}

impl FaultObserver for FaultRecorder<'_> {
    fn resolved(&mut self, request: &FaultRequest, resolution: &Resolution) {
        let partition = resolution.placement.map_or(PartitionId(0), |placement| placement.partition);
        let event = Event::Fault { address: self.address, rip: self.rip, partition, access: request.access, outcome: resolution.outcome };
        self.history.record(event);
        if self.under_pae && !request.protection {
            crate::pae::note_work();
        }
    }

    fn committed(&mut self, partition: PartitionId, range: PageRange, committed: u64) {
        self.history.record(Event::Commit { partition, range, committed, cause: Cause::Policy });
    }
}

/// The first fault under `pae` in partition `id` of the session's space:
/// if the program's layout proposal has hot ranges for it (same ordinal,
/// same kind), they are committed now, within the prefetch allowance.
/// Returns what it asked to commit.
pub(super) fn apply_proposal(space: &mut Space<'_, SystemTables<'_>>, id: PartitionId, shaping: &mut Shaping, history: &mut History) -> Vec<PageRange> {
    let pid = space.pid();
    let vass = &mut *space.vass;
    let Some(proposal) = &shaping.proposal else { return Vec::new() };
    let Some(partition) = vass.partition(id) else { return Vec::new() };
    if !shaping.seen.insert(partition.ordinal) {
        return Vec::new();
    }
    let Some(proposed) = proposal.partition(partition.ordinal, partition.kind.code()) else { return Vec::new() };
    let commit: Vec<PageRange> = proposed.hot.iter().flat_map(|&(start, end)| partition.pages_at(start, end)).collect();
    let plan = Plan { commit: commit.clone(), cold: Vec::new() };
    let committed = policy::apply(vass, pid, &plan, &mut space.tables, &mut space.frames, |partition, range, committed| {
        history.record(Event::Commit { partition, range, committed, cause: Cause::Layout });
    });
    vass.add_layout_commits(pid, committed);
    commit
}

pub(super) fn access_of(error: PageFaultErrorCode) -> Access {
    if error.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
        Access::Execute
    } else if error.contains(PageFaultErrorCode::CAUSED_BY_WRITE) {
        Access::Write
    } else {
        Access::Read
    }
}

/// Kills the running process for a fault taken in ring 3 and reports it as
/// `pid=<p> name=<n> fault=<kind> addr=<a> rip=<r> (<exception>)`; a page
/// whose copy in swap could not be brought back adds the slot and why
/// (`swap slot <s> lost: <why>; slot quarantined`); an access to a view
/// whose grant was revoked is `fault=revoked`.
pub fn kill_for_fault(report: &idt::ExceptionReport) -> ! {
    let mut lost = None;
    let (pid, name, kind, address) = {
        let table = TABLE.lock();
        let pid = current_pid();
        let process = pid.and_then(|pid| table.processes.get(&pid));
        let (kind, address) = match (report.vector, report.cr2, pid) {
            (14, Some(cr2), Some(pid)) => {
                let error = PageFaultErrorCode::from_bits_truncate(report.error_code.unwrap_or(0));
                let present = error.contains(PageFaultErrorCode::PROTECTION_VIOLATION);
                let vass = crate::memory::lock_untimed();
                let granted = vass.lookup(SpaceId(pid), cr2 / PAGE_SIZE).map(|partition| partition.rights);
                let stack_bottom = vass
                    .partitions_of(SpaceId(pid))
                    .find(|partition| partition.kind == PartitionKind::Stack && partition.sealed)
                    .and_then(|partition| partition.ranges.first())
                    .map(|range| range.start * PAGE_SIZE);
                let page = cr2 / PAGE_SIZE;
                // A swapped-out page whose slot failed a read: the engine
                // refuses to commit it (a swapped-out page refused for
                // want of a frame is out of memory, classified below).
                lost = lost_copy_of(&vass, pid, page).filter(|_| !present);
                let revoked = vass.lookup(SpaceId(pid), page).is_some_and(|partition| partition.revoked());
                let kind = if lost.is_some() {
                    abi::FaultKind::SwapLost
                } else if revoked {
                    abi::FaultKind::Revoked
                } else {
                    memory::classify_page_fault(cr2, access_of(error), present, granted, stack_bottom)
                };
                (kind, cr2)
            }
            (vector, _, _) => (memory::classify_exception(vector), report.rip),
        };
        (pid.unwrap_or(0), process.map(|p| p.name.clone()).unwrap_or_default(), kind, address)
    };
    report_kill(pid, &name, kind, address, report.rip, report.name, lost);
    exit_current(ExitReason::Faulted { kind, address })
}

/// Logs why a process is killed: `pid=<p> name=<n> fault=<kind> addr=<a>
/// rip=<r> (<what>)`, where `what` names the exception or system call; a
/// page lost in swap adds its slot and why.
pub(super) fn report_kill(pid: Pid, name: &str, kind: abi::FaultKind, address: u64, rip: u64, what: &str, lost: Option<(Slot, LostCopy)>) {
    match lost {
        Some((slot, why)) => log::warn!(
            "pid={pid} name={name} fault={kind} addr={address:#x} rip={rip:#x} ({what}; swap slot {slot} lost: {why}; slot quarantined)"
        ),
        None => log::warn!("pid={pid} name={name} fault={kind} addr={address:#x} rip={rip:#x} ({what})"),
    }
}

/// The swap slot of `page` of `pid` and why its copy there is lost, if
/// the page is swapped out and a read of that slot failed (for a page of
/// a view: its source's page).
pub(super) fn lost_copy_of(vass: &Vass, pid: Pid, page: u64) -> Option<(Slot, LostCopy)> {
    let partition = vass.lookup(SpaceId(pid), page)?;
    let (partition, page) = match vass.view_target(partition.id, page) {
        Some((source, target)) => (vass.partition(source)?, target),
        None => (partition, page),
    };
    let slot = partition.swapped.get(&page)?.slot;
    Some((slot, hardware::lost_copy(slot)?))
}
