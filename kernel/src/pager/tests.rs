//! The fault path on the simulated MMU: what each step of [`serve_fault`]
//! does, and what the caller hears of it.

use super::*;
use crate::policy::{Readahead, View};
use crate::vass::sim::{SimulatedFrames, SimulatedMmu};
use crate::vass::{PartitionKind, Window};
use abi::Rights;
use alloc::vec::Vec;

const SPACE: SpaceId = SpaceId(1);
const WINDOW: Window = Window { start: 0x100, end: 0x10_0000 };

/// Everything the observer heard, in order.
#[derive(Default)]
struct Heard {
    resolved: Vec<(FaultRequest, Resolution)>,
    committed: Vec<(PartitionId, PageRange, u64)>,
}

impl FaultObserver for Heard {
    fn resolved(&mut self, request: &FaultRequest, resolution: &Resolution) {
        assert!(self.committed.is_empty(), "the fault is heard of before any commit of its plan");
        self.resolved.push((*request, *resolution));
    }

    fn committed(&mut self, partition: PartitionId, range: PageRange, pages: u64) {
        self.committed.push((partition, range, pages));
    }
}

/// Asks for the next `ahead` pages after every fault, and remembers what
/// it was told and whether the faulting page already counted as used.
struct Ahead {
    ahead: u64,
    faults: Vec<policy::Fault>,
    used_when_planned: Vec<bool>,
}

impl Policy for Ahead {
    fn identity(&self) -> policy::CommitPolicy {
        policy::CommitPolicy::Readahead
    }

    fn on_fault(&mut self, fault: &policy::Fault, view: &dyn View) -> Plan {
        self.faults.push(*fault);
        self.used_when_planned.push(view.was_used(fault.page));
        let mut plan = Plan::none();
        plan.add(PageRange::new(fault.page + 1, fault.page + 1 + self.ahead));
        plan
    }
}

fn space(rights: Rights) -> (Vass, SimulatedMmu, SimulatedFrames, PartitionId, PageRange) {
    let mut vass = Vass::new();
    vass.set_huge_pages(false);
    let (id, range) = vass.create(SPACE, 64, PartitionKind::Heap, rights, None, WINDOW).unwrap();
    (vass, SimulatedMmu::default(), SimulatedFrames::new(256), id, range)
}

fn request(page: Page, access: Access) -> FaultRequest {
    FaultRequest { space: SPACE, page, access, protection: false }
}

#[test]
fn a_served_fault_is_planned_for_and_its_plan_applied() {
    let (mut vass, mut mmu, mut frames, id, range) = space(Rights::READ | Rights::WRITE);
    let mut policy = Ahead { ahead: 4, faults: Vec::new(), used_when_planned: Vec::new() };
    let mut heard = Heard::default();
    let page = range.start + 10;
    let report = serve_fault(&mut vass, request(page, Access::Write), &mut policy, &mut mmu, &mut frames, &mut heard);

    assert_eq!(report.outcome(), FaultOutcome::Committed);
    assert_eq!(report.placement(), Some(Placement { partition: id, range, kind: PartitionKind::Heap }));
    assert!(report.retry());
    assert_eq!(report.committed, 4);
    assert_eq!(report.plan.commit, [PageRange::new(page + 1, page + 5)]);
    assert_eq!(report.span(page), PageRange::new(page, page + 5));
    assert_eq!(policy.faults.len(), 1);
    assert_eq!((policy.faults[0].partition, policy.faults[0].page, policy.faults[0].range), (id, page, range));
    assert_eq!(policy.used_when_planned, [true], "the faulting access counts as made before the plan");
    assert!(mmu.dirty(SPACE, page), "the simulator's write sets the dirty bit");
    assert_eq!(heard.resolved.len(), 1);
    assert_eq!(heard.committed, [(id, PageRange::new(page + 1, page + 5), 4)]);
    for ahead in page + 1..page + 5 {
        assert!(mmu.translate(SPACE, ahead).is_some(), "page {ahead:#x} committed ahead");
    }
    let counters = vass.space_counters(SPACE).unwrap();
    assert_eq!((counters.faults_demand, counters.demand_commits, counters.ahead_commits), (1, 1, 4));
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn faults_that_give_no_frame_are_never_planned_for() {
    let (mut vass, mut mmu, mut frames, id, range) = space(Rights::READ);
    let mut policy = Ahead { ahead: 4, faults: Vec::new(), used_when_planned: Vec::new() };
    let cases = [
        (request(range.end + 100, Access::Read), FaultOutcome::NotInPartition, None),
        (request(range.start, Access::Write), FaultOutcome::RightsViolation, Some(id)),
        (FaultRequest { protection: true, ..request(range.start + 1, Access::Write) }, FaultOutcome::RightsViolation, Some(id)),
    ];
    for (request, outcome, partition) in cases {
        let mut heard = Heard::default();
        let report = serve_fault(&mut vass, request, &mut policy, &mut mmu, &mut frames, &mut heard);
        assert_eq!(report.outcome(), outcome, "{request:?}");
        assert_eq!(report.placement().map(|placement| placement.partition), partition);
        assert!(!report.retry());
        assert_eq!((report.plan.pages(), report.committed), (0, 0));
        assert_eq!(heard.resolved, [(request, report.resolution)]);
        assert!(heard.committed.is_empty());
    }
    assert!(policy.faults.is_empty());
    let counters = vass.space_counters(SPACE).unwrap();
    assert_eq!((counters.faults_unmapped, counters.faults_violation, counters.committed), (1, 2, 0));
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn out_of_frames_is_an_outcome_not_a_failure() {
    let (mut vass, mut mmu, _, _, range) = space(Rights::READ | Rights::WRITE);
    let mut frames = SimulatedFrames::with_huge(1, 0);
    let mut policy = Ahead { ahead: 4, faults: Vec::new(), used_when_planned: Vec::new() };
    // Written, with no swap device: the one frame cannot be given up.
    let first = serve_fault(&mut vass, request(range.start, Access::Write), &mut policy, &mut mmu, &mut frames, &mut ());
    assert_eq!((first.outcome(), first.committed), (FaultOutcome::Committed, 0), "the plan found no frame");
    let second = serve_fault(&mut vass, request(range.start + 20, Access::Read), &mut policy, &mut mmu, &mut frames, &mut ());
    assert_eq!(second.outcome(), FaultOutcome::OutOfFrames);
    assert!(!second.retry());
    assert_eq!(policy.faults.len(), 1, "only the served fault was planned for");
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn the_simulator_serves_its_faults_through_the_same_path() {
    // The same accesses, once through the simulator and once by hand
    // through serve_fault: the same counters.
    let pages: Vec<Page> = (0..40).map(|i| 0x1000 + (i * 7) % 48).collect();
    let mut simulation = simulator::Simulation::new(alloc::boxed::Box::new(Readahead::default()), 256);
    simulation.create(48, PartitionKind::Data, Some(0x1000)).unwrap();
    let (mut vass, mut mmu, mut frames) = (Vass::new(), SimulatedMmu::default(), SimulatedFrames::with_huge(256, 0));
    vass.set_huge_pages(false);
    vass.create(SpaceId(1), 48, PartitionKind::Data, Rights::READ | Rights::WRITE, Some(0x1000), Window { start: 0x10, end: 1 << 36 }).unwrap();
    let mut policy = Readahead::default();
    for &page in &pages {
        let simulated = simulation.access(page, Access::Read);
        let by_hand = (mmu.translate(SpaceId(1), page).is_none())
            .then(|| serve_fault(&mut vass, request(page, Access::Read), &mut policy, &mut mmu, &mut frames, &mut ()).outcome());
        if by_hand.is_none() {
            mmu.access(SpaceId(1), page, Access::Read);
        }
        assert_eq!(simulated, by_hand, "page {page:#x}");
    }
    assert_eq!(simulation.finish(), vass.destroy_space(SpaceId(1), &mut mmu, &mut frames));
}
