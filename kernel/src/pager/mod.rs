//! The pager: serves a page fault from start to end, resolve → plan →
//! apply, in one function ([`serve_fault`]) that the kernel's fault entry
//! and the host simulator ([`simulator`]) both call, over their own page
//! tables and frames.
//!
//! 1. **Resolve.** The engine looks the page up once in the VASM and, if a
//!    partition holds it with the rights the access needs, commits it: a
//!    zero-filled frame on first touch, or its contents read back from swap
//!    (a major fault), evicting under a budget ([`Vass::fault`]).
//!    A fault on a page mapped without the needed rights is only counted
//!    ([`Vass::refuse`]): the page tables already say no.
//! 2. **Mark.** A page the engine gave a frame counts as accessed before the
//!    policy plans ([`PageTable::mark_faulted`]): a commit ahead under a
//!    budget evicts only pages whose accessed bit is clear, and must not
//!    evict the page the retried access needs.
//! 3. **Plan.** The process's commit policy hears of the fault
//!    ([`Policy::on_fault`]) with a read-only view of its space.
//! 4. **Apply.** What the plan asks for is committed ahead, within the
//!    prefetch depth ([`policy::apply`]).
//!
//! The caller hears of each step through a [`FaultObserver`] (the kernel
//! records the fault and each commit in the process's history and wakes
//! the PAE task; the simulator listens to nothing) and gets a
//! [`FaultReport`] back.

#![forbid(unsafe_code)]

pub mod simulator;

use crate::policy::{self, EngineView, Fault, Plan, Policy};
use crate::vass::{Access, Cursor, FaultOutcome, FrameSource, Page, PageRange, PageTable, PartitionId, Placement, Resolution, SpaceId, Vass};

/// A page fault as the processor raised it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultRequest {
    /// The faulting address space.
    pub space: SpaceId,
    /// The faulting page.
    pub page: Page,
    /// The access that faulted.
    pub access: Access,
    /// The page was mapped, without the rights the access needs (a
    /// protection fault): nothing to resolve, unless it is a write to a
    /// page write-protected for its replicas (`Vass::protection_fault`).
    pub protection: bool,
}

/// What [`serve_fault`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultReport {
    /// What the engine did with the fault, and where the page lies.
    pub resolution: Resolution,
    /// What the policy planned (empty unless the engine served the page).
    pub plan: Plan,
    /// Pages the plan committed.
    pub committed: u64,
}

impl FaultReport {
    /// What became of the fault.
    pub fn outcome(&self) -> FaultOutcome {
        self.resolution.outcome
    }

    /// Where the page lies (`None`: in no partition).
    pub fn placement(&self) -> Option<Placement> {
        self.resolution.placement
    }

    /// Whether the faulting access can be retried.
    pub fn retry(&self) -> bool {
        self.resolution.retry()
    }

    /// The smallest range holding `page` and every page the plan asked to
    /// commit (what a debug check after the fault examines).
    pub fn span(&self, page: Page) -> PageRange {
        self.plan.commit.iter().fold(PageRange::new(page, page + 1), |all, piece| PageRange::new(all.start.min(piece.start), all.end.max(piece.end)))
    }
}

/// Hears what [`serve_fault`] does, as it does it.
pub trait FaultObserver {
    /// The engine resolved (or refused) the fault; the policy has not
    /// planned yet.
    fn resolved(&mut self, _request: &FaultRequest, _resolution: &Resolution) {}
    /// A piece of the plan was applied: `pages` of `range` in `partition`
    /// were newly committed.
    fn committed(&mut self, _partition: PartitionId, _range: PageRange, _pages: u64) {}
}

/// Listens to nothing.
impl FaultObserver for () {}

/// Serves `request`: resolves it in the engine, lets `policy` plan when the
/// engine gave the page a frame, and applies the plan (see the module
/// documentation). Never fails: what became of the fault is the report's
/// outcome.
pub fn serve_fault<P: Policy + ?Sized>(
    vass: &mut Vass,
    request: FaultRequest,
    policy: &mut P,
    table: &mut impl PageTable,
    frames: &mut impl FrameSource,
    observer: &mut impl FaultObserver,
) -> FaultReport {
    let FaultRequest { space, page, access, protection } = request;
    let resolution = if protection { vass.protection_fault(space, page, access, table, frames) } else { vass.fault(space, page, access, table, frames) };
    observer.resolved(&request, &resolution);
    let mut report = FaultReport { resolution, plan: Plan::none(), committed: 0 };
    let Some(placement) = resolution.placement.filter(|_| resolution.served()) else { return report };
    if let Some(mut cursor) = table.cursor(space, crate::vass::single(page)) {
        cursor.mark_faulted(access);
    }
    let fault = Fault { partition: placement.partition, page, range: placement.range, access, kind: placement.kind, time: vass.now() };
    report.plan = policy.on_fault(&fault, &EngineView { vass: &*vass, space, table: &*table });
    report.committed = policy::apply(vass, space, &report.plan, table, frames, |partition, range, pages| observer.committed(partition, range, pages));
    report
}

#[cfg(test)]
mod tests;
