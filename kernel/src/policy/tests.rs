//! Each policy on synthetic access patterns, through the real engine.

use super::leap::majority;
use crate::pager::simulator::Simulation;
use super::*;
use crate::vass::{Access, Eviction, PartitionKind, SpaceCounters};
use alloc::vec;
use alloc::vec::Vec;

/// Where the first test partition starts, and its size.
const BASE: Page = 0x1000;
const SIZE: u64 = 4096;

/// Runs `accesses` (reads) under `policy` with partitions at `BASE` and,
/// for two-stream patterns, at `BASE + SIZE`.
fn run(policy: Box<dyn Policy>, accesses: &[Page]) -> SpaceCounters {
    let mut simulation = Simulation::new(policy, 3 * SIZE);
    simulation.create(SIZE, PartitionKind::Buffer, Some(BASE)).unwrap();
    simulation.create(SIZE, PartitionKind::Buffer, Some(BASE + SIZE)).unwrap();
    for &page in accesses {
        simulation.access(page, Access::Read);
    }
    simulation.finish()
}

fn sequential() -> Vec<Page> {
    (BASE..BASE + 2048).collect()
}

fn reverse() -> Vec<Page> {
    (BASE..BASE + 2048).rev().collect()
}

fn strided() -> Vec<Page> {
    (0..700).map(|i| BASE + 3 * i).collect()
}

/// Two sequential streams in two partitions, taking turns.
fn interleaved() -> Vec<Page> {
    (0..1024).flat_map(|i| [BASE + i, BASE + SIZE + i]).collect()
}

fn random() -> Vec<Page> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..2048)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            BASE + state % 2048
        })
        .collect()
}

fn distinct(accesses: &[Page]) -> u64 {
    let mut pages = accesses.to_vec();
    pages.sort_unstable();
    pages.dedup();
    pages.len() as u64
}

fn oracle(accesses: &[Page]) -> Box<dyn Policy> {
    Box::new(Oracle::new(accesses.to_vec(), Oracle::LOOKAHEAD, Oracle::BUDGET))
}

/// Every page committed ahead is exactly one of hit or waste at the end.
fn balanced(counters: &SpaceCounters) -> bool {
    counters.ahead_commits == counters.hits + counters.waste
}

#[test]
fn demand_faults_once_per_distinct_page_and_commits_nothing_ahead() {
    for pattern in [sequential(), reverse(), strided(), interleaved(), random()] {
        let counters = run(Box::new(Demand), &pattern);
        assert_eq!(counters.faults_demand, distinct(&pattern));
        assert_eq!(counters.ahead_commits, 0);
    }
}

#[test]
fn eager_commits_whole_partitions_and_never_faults() {
    let pattern = strided();
    let counters = run(Box::new(Eager), &pattern);
    assert_eq!(counters.faults_demand, 0);
    assert_eq!(counters.ahead_commits, 2 * SIZE);
    assert_eq!(counters.hits, distinct(&pattern));
    assert_eq!(counters.waste, 2 * SIZE - distinct(&pattern));
}

#[test]
fn readahead_windows_grow_on_streams_and_shrink_on_misses() {
    let mut readahead = Readahead::new(4, 32);
    let view = NothingCommitted;
    let range = PageRange::new(0, 1000);
    let fault = |page| Fault { partition: PartitionId(1), page, range, access: Access::Read, kind: PartitionKind::Heap, time: 0 };
    assert_eq!(readahead.on_fault(&fault(10), &view), Plan::none(), "one fault is no stream");
    assert_eq!(readahead.on_fault(&fault(11), &view).commit, [PageRange::new(12, 16)], "two in a row start one");
    assert_eq!(readahead.on_fault(&fault(16), &view).commit, [PageRange::new(17, 25)], "the window was used up: doubled");
    readahead.on_fault(&fault(25), &view);
    readahead.on_fault(&fault(42), &view);
    assert_eq!(readahead.window(PartitionId(1)), 32, "capped at the maximum");
    assert_eq!(readahead.on_fault(&fault(500), &view).commit, [PageRange::new(501, 517)], "a miss halves it");
    readahead.on_fault(&fault(700), &view);
    readahead.on_fault(&fault(800), &view);
    assert_eq!(readahead.on_fault(&fault(900), &view), Plan::none(), "misses shrink it to nothing");
    assert_eq!(readahead.on_fault(&fault(998), &view), Plan::none());
    assert_eq!(readahead.on_fault(&fault(999), &view), Plan::none(), "windows stop at the partition's end");
}

#[test]
fn readahead_follows_sequential_streams_per_partition_only() {
    for pattern in [sequential(), interleaved()] {
        let counters = run(Box::new(Readahead::default()), &pattern);
        assert!(counters.faults_demand * 10 < distinct(&pattern), "{counters:?}");
        assert!(counters.hits * 10 >= counters.ahead_commits * 9, "accurate: {counters:?}");
        assert!(balanced(&counters));
    }
    for pattern in [reverse(), strided()] {
        let counters = run(Box::new(Readahead::default()), &pattern);
        assert_eq!(counters.faults_demand, distinct(&pattern), "not sequential: {counters:?}");
        assert_eq!(counters.ahead_commits, 0);
    }
    let pattern = random();
    let counters = run(Box::new(Readahead::default()), &pattern);
    assert!(counters.ahead_commits * 20 < counters.faults_demand, "random access starts few streams: {counters:?}");
}

#[test]
fn the_majority_vote_needs_more_than_half() {
    assert_eq!(majority([1, 1, 2].into_iter()), Some(1));
    assert_eq!(majority([1, 2, 1, 2].into_iter()), None);
    assert_eq!(majority([-1, -1, -1, 5, 7].into_iter()), Some(-1));
    assert_eq!(majority(core::iter::empty()), None);
}

#[test]
fn leap_finds_the_trend_in_the_recent_deltas() {
    let mut leap = Leap::default();
    let range = PageRange::new(0, 10_000);
    let view = NothingCommitted;
    for (index, page) in [100u64, 103, 106, 109, 112].into_iter().enumerate() {
        let plan = leap.on_fault(&Fault { partition: PartitionId(1), page, range, access: Access::Read, kind: PartitionKind::Heap, time: 0 }, &view);
        if index < 4 {
            assert_eq!(plan, Plan::none(), "fewer than four deltas: no trend yet");
        } else {
            let pages: Vec<Page> = plan.commit.iter().map(|r| r.start).collect();
            assert_eq!(pages, [115, 118, 121, 124], "along the +3 trend, depth 4");
        }
    }
    assert_eq!(leap.trend(), Some(3));
    // Nothing of that prefetch was used: the depth halves.
    leap.on_fault(&Fault { partition: PartitionId(1), page: 115, range, access: Access::Read, kind: PartitionKind::Heap, time: 0 }, &view);
    assert_eq!(leap.depth(), 2);
}

#[test]
fn leap_prefetches_along_any_steady_trend_and_not_without_one() {
    for pattern in [sequential(), reverse(), strided()] {
        let counters = run(Box::new(Leap::default()), &pattern);
        assert!(counters.faults_demand * 10 < distinct(&pattern), "{counters:?}");
        assert!(counters.hits * 10 >= counters.ahead_commits * 9, "accurate: {counters:?}");
        assert!(balanced(&counters));
    }
    // Two interleaved streams alternate their deltas: no majority, no prefetch.
    let counters = run(Box::new(Leap::default()), &interleaved());
    assert_eq!(counters.ahead_commits, 0, "{counters:?}");
    let pattern = random();
    let counters = run(Box::new(Leap::default()), &pattern);
    assert!(counters.ahead_commits * 50 < counters.faults_demand, "random deltas have no majority: {counters:?}");
}

#[test]
fn the_oracle_commits_exactly_the_future_and_bounds_the_others() {
    for pattern in [sequential(), reverse(), strided(), interleaved(), random()] {
        let oracle = run(oracle(&pattern), &pattern);
        assert_eq!(oracle.waste, 0, "everything it commits is used: {oracle:?}");
        assert_eq!(oracle.hits + oracle.faults_demand, distinct(&pattern));
        for other in [run(Box::new(Readahead::default()), &pattern), run(Box::new(Leap::default()), &pattern)] {
            assert!(oracle.faults_demand <= other.faults_demand, "oracle {oracle:?} other {other:?}");
        }
        assert!(oracle.faults_demand * 10 < distinct(&pattern), "{oracle:?}");
    }
}

#[test]
fn plain_policies_are_made_from_their_identity() {
    for identity in PLAIN {
        assert_eq!(plain(identity).map(|policy| policy.identity()), Some(identity));
        assert_eq!(CommitPolicy::from_name(identity.name()), Some(identity));
    }
    assert!(plain(CommitPolicy::Oracle).is_none(), "the oracle needs the future");
    assert!(plain(CommitPolicy::Pae).is_none(), "pae needs a model");
    assert_eq!(CommitPolicy::from_name("psychic"), None);
    let mut plan = Plan::none();
    plan.add(PageRange::new(1, 3));
    plan.add(PageRange::new(3, 5));
    plan.add(PageRange::new(9, 9));
    assert_eq!(plan.pages(), 4);
    assert_eq!(plan.commit, vec![PageRange::new(1, 5)], "adjacent ranges merge, empty ones vanish");
}

/// A view in which no page is committed or used.
struct NothingCommitted;

impl View for NothingCommitted {
    fn is_committed(&self, _page: Page) -> bool {
        false
    }

    fn was_used(&self, _page: Page) -> bool {
        false
    }
}



/// A program looping `rounds` times over `pages` data pages, as a trace.
fn looping(pages: u64, rounds: u64) -> trace::Replay {
    let accesses: Vec<trace::Access> = (0..rounds)
        .flat_map(|_| (0..pages).map(|page| trace::Access { page: 0x5_0000 + page, kind: trace::Kind::Load }))
        .collect();
    trace::Replay::from_accesses(&accesses).unwrap()
}

#[test]
fn under_a_budget_pages_go_to_swap_and_come_back_by_major_faults() {
    use crate::pager::simulator::{Pressure, replay_under};
    let replay = looping(64, 4);
    let demand = |pressure| replay_under(&replay, plain(CommitPolicy::Demand).unwrap(), pressure).unwrap().1;
    let free = demand(Pressure::default());
    assert_eq!((free.faults_demand, free.faults_major, free.evictions), (64, 0, 0));
    let pressed = |eviction| Pressure { budget: Some(32), eviction };
    let clock = demand(pressed(Eviction::ColdFirst));
    assert_eq!(clock.faults_demand, 64, "first touches");
    assert_eq!(clock.faults_major, 3 * 64, "a loop larger than memory defeats CLOCK: every later touch misses");
    assert_eq!(clock.swap_ins, clock.faults_major);
    assert!(clock.peak_committed <= 32);
    let belady = demand(pressed(Eviction::Belady));
    assert_eq!(belady.faults_demand, 64);
    // The optimum for a loop of n pages in k frames: n − k misses a round.
    assert_eq!(belady.faults_major, 3 * (64 - 32), "Belady keeps half the loop resident");
    // Each page is written to swap once: it is never written again.
    assert!(belady.swap_outs <= 64 && clock.swap_outs <= 64, "{} {}", belady.swap_outs, clock.swap_outs);
    // Through the engine's hooks: exact LRU is as blind as CLOCK here.
    assert_eq!(demand(pressed(Eviction::Lru)).faults_major, 3 * 64);
    // A loop within twice memory (48 pages in 32): CLOCK-Pro's ghosts see
    // its reuse distance and keep part of it, never beating Belady; ARC's
    // ghosts of pages seen once fit only beside them (no gain on a loop).
    let replay = looping(48, 6);
    let loop_of = |eviction| replay_under(&replay, plain(CommitPolicy::Demand).unwrap(), pressed(eviction)).unwrap().1;
    let (clock, belady) = (loop_of(Eviction::Clock), loop_of(Eviction::Belady));
    assert_eq!(clock.faults_major, 5 * 48);
    for eviction in [Eviction::ClockPro, Eviction::Arc] {
        let counters = loop_of(eviction);
        assert_eq!(counters.faults_demand, 48, "{eviction}");
        assert!(counters.faults_major >= belady.faults_major, "{eviction}");
        assert!(counters.peak_committed <= 32, "{eviction}");
        if eviction == Eviction::ClockPro {
            assert!(counters.faults_major < clock.faults_major * 3 / 4, "{eviction}: {} major faults", counters.faults_major);
        }
    }
}

#[test]
fn pages_a_plan_predicts_cold_are_evicted_first() {
    use crate::vass::sim::{SimulatedFrames, SimulatedMmu};
    use crate::vass::{Cold, FaultOutcome, Window};
    let window = Window { start: 0x100, end: 0x10_0000 };
    let rw = abi::Rights::READ | abi::Rights::WRITE;
    let mut vass = Vass::new();
    let (mut mmu, mut frames) = (SimulatedMmu::default(), SimulatedFrames::with_huge(256, 0));
    frames.swap_slots = 64;
    let (a, a_range) = vass.create(SpaceId(1), 8, PartitionKind::Heap, rw, Some(0x1000), window).unwrap();
    let (b, b_range) = vass.create(SpaceId(1), 8, PartitionKind::Heap, rw, Some(0x1010), window).unwrap();
    for page in (a_range.start..a_range.end).chain(b_range.start..b_range.start + 4) {
        assert_eq!(vass.fault(SpaceId(1), page, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
        mmu.write(SpaceId(1), page);
    }
    // The last two pages of `a`, a gap outside every partition, and the
    // first page of `b` are predicted cold.
    let mut plan = Plan::none();
    plan.hold_cold(PageRange::new(a_range.end - 2, b_range.start + 1));
    assert_eq!(apply(&mut vass, SpaceId(1), &plan, &mut mmu, &mut frames, |_, _, _| {}), 0);
    assert_eq!(vass.partition(a).unwrap().cold.iter().collect::<Vec<_>>(), [(PageRange::new(a_range.end - 2, a_range.end), Cold::Predicted)]);
    assert_eq!(vass.partition(b).unwrap().cold_pages(), 1);
    vass.check_invariants(&mmu, &frames).unwrap();
    // Memory gets short: the three cold pages go, nothing else.
    vass.set_budget(SpaceId(1), Some(12));
    assert_eq!(vass.fault(SpaceId(1), b_range.start + 4, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
    let swapped = |id| vass.partition(id).unwrap().swapped.keys().copied().collect::<Vec<_>>();
    assert_eq!(swapped(a), [a_range.end - 2, a_range.end - 1]);
    assert_eq!(swapped(b), [b_range.start]);
    // The prediction was wrong for one of them: touching it clears its mark.
    assert_eq!(vass.fault(SpaceId(1), b_range.start, Access::Read, &mut mmu, &mut frames).outcome, FaultOutcome::SwappedIn);
    assert_eq!(vass.partition(b).unwrap().cold_pages(), 0);
    vass.check_invariants(&mmu, &frames).unwrap();
}

/// A 256-page heap partition of space 1 under a budget of 8 pages, with a
/// swap device of 256 slots.
fn budgeted_partition() -> (Vass, crate::vass::sim::SimulatedMmu, crate::vass::sim::SimulatedFrames, PartitionId, PageRange) {
    use crate::vass::sim::{SimulatedFrames, SimulatedMmu};
    let window = crate::vass::Window { start: 0x100, end: 0x10_0000 };
    let rw = abi::Rights::READ | abi::Rights::WRITE;
    let mut vass = Vass::new();
    let (mmu, mut frames) = (SimulatedMmu::default(), SimulatedFrames::with_huge(512, 0));
    frames.swap_slots = 256;
    vass.set_swap_slots(256).unwrap();
    let (id, range) = vass.create(SpaceId(1), 256, PartitionKind::Heap, rw, Some(0x1000), window).unwrap();
    vass.set_budget(SpaceId(1), Some(8));
    (vass, mmu, frames, id, range)
}

/// Under a budget, prefetching backs off to nothing while what it brings
/// in is evicted unused, and comes back when the process faults on pages
/// a plan asked for and the depth declined.
#[test]
fn the_prefetch_depth_falls_to_nothing_and_declined_plans_that_come_true_regrow_it() {
    use crate::vass::FaultOutcome;
    let (mut vass, mut mmu, mut frames, id, range) = budgeted_partition();
    let plan_of = |pages: core::ops::Range<Page>| {
        let mut plan = Plan::none();
        plan.add(PageRange::new(pages.start, pages.end));
        plan
    };
    // Each fault's plan asks for two pages far ahead, never used: once
    // memory is full they are evicted untouched and the depth halves.
    let mut page = range.start;
    while vass.prefetch_depth(SpaceId(1)) != Some(0) {
        assert!(page < range.start + 64, "the depth fell");
        assert_eq!(vass.fault(SpaceId(1), page, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
        mmu.write(SpaceId(1), page);
        apply(&mut vass, SpaceId(1), &plan_of(page + 128..page + 130), &mut mmu, &mut frames, |_, _, _| {});
        page += 1;
    }
    assert_eq!(vass.prefetch_depth(SpaceId(1)), Some(0));
    // At depth zero a plan commits nothing; its pages are remembered.
    let ahead = vass.space_counters(SpaceId(1)).unwrap().ahead_commits;
    assert_eq!(vass.fault(SpaceId(1), page, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
    assert_eq!(apply(&mut vass, SpaceId(1), &plan_of(page + 1..page + 3), &mut mmu, &mut frames, |_, _, _| {}), 0);
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().ahead_commits, ahead);
    // The plan was right: faulting on its first page, before anything was
    // evicted, regrows the depth. Its second page comes after that fault's
    // eviction, which a prefetched page, untouched, would not have
    // survived: no credit.
    assert_eq!(vass.fault(SpaceId(1), page + 1, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
    assert_eq!(vass.prefetch_depth(SpaceId(1)), Some(1));
    assert_eq!(vass.fault(SpaceId(1), page + 2, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
    assert_eq!(vass.prefetch_depth(SpaceId(1)), Some(1));
    // A fault on a page no plan asked for changes nothing.
    assert_eq!(vass.fault(SpaceId(1), page + 20, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
    assert_eq!(vass.prefetch_depth(SpaceId(1)), Some(1));
    // And the next plan commits as deep as the depth allows: of pages that
    // went to swap, which may push out pages not in use (a guess of pages
    // never used may push out only earlier guesses, and none is left).
    for resident in range.start..range.end {
        mmu.clear_accessed(SpaceId(1), resident);
    }
    assert_eq!(apply(&mut vass, SpaceId(1), &plan_of(page + 30..page + 36), &mut mmu, &mut frames, |_, _, _| {}), 0);
    assert!(vass.partition(id).unwrap().swapped.contains_key(&range.start));
    assert_eq!(apply(&mut vass, SpaceId(1), &plan_of(range.start..range.start + 6), &mut mmu, &mut frames, |_, _, _| {}), 1);
    vass.check_invariants(&mmu, &frames).unwrap();
}

/// Under a full budget a plan of scattered swapped-out pages brings them
/// all back: each may push out pages not in use, never the plan's own
/// earlier pages (untouched prefetched pages are otherwise the first to
/// go). A plan of pages never used brings in none of them: a guess may
/// push out only an earlier guess, never a used page.
#[test]
fn a_plan_never_pushes_out_its_own_pages_nor_a_guess_a_used_one() {
    use crate::vass::FaultOutcome;
    let (mut vass, mut mmu, mut frames, id, range) = budgeted_partition();
    for page in range.start..range.start + 16 {
        assert_eq!(vass.fault(SpaceId(1), page, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
        mmu.write(SpaceId(1), page);
    }
    for page in range.start..range.start + 16 {
        // Not used since: any resident one may go for a commit ahead.
        mmu.clear_accessed(SpaceId(1), page);
    }
    let plan_of = |pages: &[Page]| {
        let mut plan = Plan::none();
        for &page in pages {
            plan.add(PageRange::new(page, page + 1));
        }
        plan
    };
    let fresh = [range.start + 40, range.start + 60];
    assert_eq!(apply(&mut vass, SpaceId(1), &plan_of(&fresh), &mut mmu, &mut frames, |_, _, _| {}), 0, "no used page goes for a guess");
    let swapped: Vec<Page> = vass.partition(id).unwrap().swapped.keys().copied().step_by(2).take(4).collect();
    assert_eq!(swapped.len(), 4);
    assert_eq!(apply(&mut vass, SpaceId(1), &plan_of(&swapped), &mut mmu, &mut frames, |_, _, _| {}), 4);
    let partition = vass.partition(id).unwrap();
    assert!(swapped.iter().all(|page| partition.untouched.contains(page)), "every page of the plan is in, untouched");
    assert_eq!(partition.committed.len(), 8, "within the budget");
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().evicted_untouched, 0);
    // An untouched guess makes room for another guess.
    assert_eq!(apply(&mut vass, SpaceId(1), &plan_of(&fresh[..1]), &mut mmu, &mut frames, |_, _, _| {}), 1);
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().evicted_untouched, 1);
    vass.check_invariants(&mmu, &frames).unwrap();
}
