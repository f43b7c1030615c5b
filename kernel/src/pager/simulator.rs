//! The host simulator: one process's page accesses replayed through the
//! kernel's own VASS engine (over the simulated MMU) under a policy, with
//! the same counters the kernel keeps.
//!
//! A [`Simulation`] is one process's space over `vass::sim`, each access
//! served by `serve_fault` as the kernel serves it; [`replay`] replays a
//! trace's pages (its regions placed as the kernel's `bin/replay` places
//! them), [`replay_under`] the same under a memory budget and an eviction
//! policy (any `vass::Eviction`: Belady's from the trace's own future; exact
//! LRU and ARC told every access, which only a simulation can do);
//! [`policy_for`] makes the
//! policy a `CommitPolicy` names.

use super::{FaultRequest, serve_fault};
use crate::policy::{self, CommitPolicy, Plan, Policy};
use crate::vass::sim::{SimulatedFrames, SimulatedMmu};
use crate::vass::{
    Access, Eviction, FaultOutcome, NextUse, Page, PageRange, PartitionId, PartitionKind, SpaceCounters, SpaceId, Vass,
    VassError, Window,
};
use abi::Rights;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use pae_model::integer::IntegerModel;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The address space the simulation uses.
const SPACE: SpaceId = SpaceId(1);

/// A process under simulation, under a policy of type `P` (any policy by
/// default).
pub struct Simulation<P: Policy + ?Sized = dyn Policy> {
    vass: Vass,
    mmu: SimulatedMmu,
    frames: SimulatedFrames,
    policy: Box<P>,
    window: Window,
    accesses: u64,
    /// Whether the replacement policy hears of every access (the engine's
    /// `wants_every_access`, kept here off the per-access path).
    every_access: bool,
}

impl<P: Policy + ?Sized> Simulation<P> {
    /// A process with `frames` free frames (no 2 MiB pages: the simulation
    /// counts 4 KiB commitment) under `policy`.
    pub fn new(policy: Box<P>, frames: u64) -> Simulation<P> {
        let mut vass = Vass::new();
        vass.set_huge_pages(false);
        Simulation {
            vass,
            mmu: SimulatedMmu::default(),
            frames: SimulatedFrames::with_huge(frames, 0),
            policy,
            window: Window { start: 0x10, end: 1 << 36 },
            accesses: 0,
            every_access: false,
        }
    }

    /// Creates a partition of `pages` pages at page `at` (or wherever it
    /// fits) and lets the policy react.
    /// Code partitions may also be executed (a trace region that fetched
    /// instructions may also have been written: the simulation does not
    /// enforce W^X).
    pub fn create(&mut self, pages: u64, kind: PartitionKind, at: Option<Page>) -> Result<(PartitionId, PageRange), VassError> {
        let rights = if kind == PartitionKind::Code { Rights::READ | Rights::WRITE | Rights::EXECUTE } else { Rights::READ | Rights::WRITE };
        let (id, range) = self.vass.create(SPACE, pages, kind, rights, at, self.window)?;
        let plan = self.policy.on_create(id, &[range]);
        self.apply(&plan);
        Ok((id, range))
    }

    /// Tells the engine the time.
    pub fn set_time(&mut self, now: u64) {
        self.vass.set_time(now);
    }

    /// Limits the process to `pages` committed pages (`None`: no limit),
    /// with a swap device large enough for `slots` pages.
    pub fn set_budget(&mut self, pages: Option<u64>, slots: u64) -> Result<(), VassError> {
        self.frames.swap_slots = slots;
        self.vass.set_swap_slots(slots)?;
        self.vass.set_budget(SPACE, pages);
        Ok(())
    }

    /// How the engine picks the pages to evict (`vass::Eviction::policy`
    /// makes the named ones).
    pub fn set_replacement(&mut self, policy: Box<dyn crate::vass::Replacement>) {
        self.vass.set_replacement(policy);
        self.every_access = self.vass.wants_every_access();
    }

    /// The program touches `page` (a read, a write or an instruction
    /// fetch): a fault if it is not committed, served as the kernel serves
    /// one ([`super::serve_fault`]), else the accessed bit (and for a write
    /// the dirty bit) is set. Returns the fault's outcome, if there was one.
    pub fn access(&mut self, page: Page, access: Access) -> Option<FaultOutcome> {
        self.accesses += 1;
        if self.mmu.translate(SPACE, page).is_some() {
            self.mmu.access(SPACE, page, access);
            if self.every_access {
                self.vass.touched(SPACE, page);
            }
            return None;
        }
        let request = FaultRequest { space: SPACE, page, access, protection: false };
        Some(serve_fault(&mut self.vass, request, self.policy.as_mut(), &mut self.mmu, &mut self.frames, &mut ()).outcome())
    }

    fn apply(&mut self, plan: &Plan) -> u64 {
        policy::apply(&mut self.vass, SPACE, plan, &mut self.mmu, &mut self.frames, |_, _, _| {})
    }

    /// Marks mapped `page` written (its contents exist nowhere else).
    pub fn mark_written(&mut self, page: Page) {
        if self.mmu.translate(SPACE, page).is_some() {
            self.mmu.write(SPACE, page);
        }
    }

    /// Accesses so far.
    pub fn accesses(&self) -> u64 {
        self.accesses
    }

    /// The policy (to read what it counted).
    pub fn policy_mut(&mut self) -> &mut P {
        self.policy.as_mut()
    }

    /// Ends the process: everything is released (untouched pages committed
    /// ahead become waste) and the final counters are returned.
    pub fn finish(mut self) -> SpaceCounters {
        self.vass.destroy_space(SPACE, &mut self.mmu, &mut self.frames)
    }
}

/// Policy `identity` for replaying `replay`: the plain ones, the oracle fed
/// with the replay's own future, or `pae` over `model` (none without one).
pub fn policy_for(identity: CommitPolicy, replay: &trace::Replay, model: Option<&Arc<IntegerModel>>) -> Option<Box<dyn Policy>> {
    match identity {
        CommitPolicy::Oracle => Some(Box::new(policy::Oracle::new(
            replay.placed_pages(trace::REPLAY_BASE_PAGE),
            policy::Oracle::LOOKAHEAD,
            policy::Oracle::BUDGET,
        ))),
        CommitPolicy::Pae => Some(Box::new(policy::Pae::new(Arc::clone(model?)))),
        other => policy::plain(other),
    }
}

/// Replays `replay` under `policy` with its regions placed as the in-kernel
/// `replay` program places them (`trace::Replay::layout` from
/// `trace::REPLAY_BASE_PAGE`); returns the accesses made and the final
/// counters (time advances one tick per 1024 accesses, for the footprint).
pub fn replay(replay: &trace::Replay, policy: Box<dyn Policy>) -> Result<(u64, SpaceCounters), VassError> {
    replay_under(replay, policy, Pressure::default())
}

/// Memory pressure for a replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Most pages the process may have committed (`None`: no limit).
    pub budget: Option<u64>,
    /// How pages are evicted over it ([`Eviction::Belady`] from the
    /// replay's own future).
    pub eviction: Eviction,
}

/// Belady's oracle over a replay: when each page is next touched, from
/// where the replay is.
struct Future {
    /// Each page's access indices, in order.
    uses: BTreeMap<Page, Vec<usize>>,
    /// The index of the access being made.
    now: Arc<AtomicUsize>,
}

impl NextUse for Future {
    fn next_use(&self, _space: SpaceId, page: Page) -> u64 {
        let now = self.now.load(Ordering::Relaxed);
        self.uses.get(&page).and_then(|uses| uses.get(uses.partition_point(|&at| at <= now))).map_or(u64::MAX, |&at| at as u64)
    }
}

/// As [`replay`], under `pressure`. A page touched by the trace held data
/// in the traced program, so each is marked written at its first touch:
/// evicted, it goes to swap and comes back by a major fault (an unwritten
/// page would be dropped and refilled with zeros, which the traced
/// program's pages were not). The swap device holds every distinct page.
pub fn replay_under(replay: &trace::Replay, policy: Box<dyn Policy>, pressure: Pressure) -> Result<(u64, SpaceCounters), VassError> {
    let pages: u64 = replay.regions.iter().map(|region| region.pages).sum();
    let mut simulation = Simulation::new(policy, pages + 1024);
    let placed = replay.placed_pages(trace::REPLAY_BASE_PAGE);
    let now = Arc::new(AtomicUsize::new(0));
    if pressure.budget.is_some() {
        simulation.set_budget(pressure.budget, pages)?;
        let future = (pressure.eviction == Eviction::Belady).then(|| {
            let mut uses: BTreeMap<Page, Vec<usize>> = BTreeMap::new();
            for (index, &page) in placed.iter().enumerate() {
                uses.entry(page).or_default().push(index);
            }
            Box::new(Future { uses, now: now.clone() }) as Box<dyn NextUse>
        });
        simulation.set_replacement(pressure.eviction.policy(future).ok_or(VassError::BadRange)?);
    }
    for (region, start) in replay.regions.iter().zip(replay.layout(trace::REPLAY_BASE_PAGE)) {
        let kind = if region.code { PartitionKind::Code } else { PartitionKind::Data };
        simulation.create(region.pages, kind, Some(start))?;
    }
    let mut seen = alloc::collections::BTreeSet::new();
    for (index, (&page, &(_, _, kind))) in placed.iter().zip(&replay.accesses).enumerate() {
        now.store(index, Ordering::Relaxed);
        simulation.set_time(index as u64 / 1024);
        let access = match kind {
            trace::Kind::Fetch => Access::Execute,
            trace::Kind::Load => Access::Read,
            trace::Kind::Store => Access::Write,
        };
        simulation.access(page, access);
        if seen.insert(page) {
            simulation.mark_written(page);
        }
    }
    let accesses = simulation.accesses();
    Ok((accesses, simulation.finish()))
}
