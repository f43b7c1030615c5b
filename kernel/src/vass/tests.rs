//! Host tests of the VASS core against a simulated MMU and frame pool,
//! including a model check of random operation sequences.

use super::sim::*;
use super::*;
use abi::Rights;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use proptest::prelude::*;

/// Writes `value` into the frame behind `page` (the program storing data).
fn store(mmu: &SimulatedMmu, frames: &mut SimulatedFrames, space: SpaceId, page: Page, value: u64) {
    let (frame, _) = mmu.translate(space, page).expect("storing into an unmapped page");
    frames.contents.insert(frame, value);
}

/// What the program reads at `page` (zero for a fresh page).
fn load(mmu: &SimulatedMmu, frames: &SimulatedFrames, space: SpaceId, page: Page) -> u64 {
    let (frame, _) = mmu.translate(space, page).expect("loading from an unmapped page");
    frames.contents.get(&frame).copied().unwrap_or(0)
}

const WINDOW: Window = Window { start: 0x100, end: 0x10_0000 };
const RW: Rights = Rights::READ.union(Rights::WRITE);

fn setup() -> (Vass, SimulatedMmu, SimulatedFrames) {
    (Vass::new(), SimulatedMmu::default(), SimulatedFrames::new(4096))
}

#[test]
fn partitions_are_placed_first_fit_and_never_overlap() {
    let (mut vass, mmu, frames) = setup();
    let (a, ra) = vass.create(SpaceId(1), 10, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    let (_, rb) = vass.create(SpaceId(1), 5, PartitionKind::Stack, RW, None, WINDOW).unwrap();
    assert_eq!(ra, PageRange::new(0x100, 0x10a));
    assert_eq!(rb, PageRange::new(0x10a, 0x10f));
    assert_eq!(vass.create(SpaceId(1), 4, PartitionKind::Data, RW, Some(0x108), WINDOW), Err(VassError::Overlap));
    assert_eq!(vass.create(SpaceId(1), 0, PartitionKind::Data, RW, None, WINDOW), Err(VassError::BadRange));
    assert_eq!(vass.create(SpaceId(1), u64::MAX, PartitionKind::Data, RW, None, WINDOW), Err(VassError::BadRange));
    assert_eq!(vass.create(SpaceId(1), 4, PartitionKind::Data, RW, Some(0x10), WINDOW), Err(VassError::BadRange));
    // Another address space has its own layout.
    assert_eq!(vass.create(SpaceId(2), 10, PartitionKind::Heap, RW, None, WINDOW).unwrap().1, ra);
    assert_eq!(vass.lookup(SpaceId(1), 0x105).map(|p| p.id), Some(a));
    assert!(vass.lookup(SpaceId(1), 0x10f).is_none());
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn byte_ranges_are_granted_only_inside_partitions_with_the_rights() {
    let (mut vass, _, _) = setup();
    let (_, ra) = vass.create(SpaceId(1), 2, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    let (_, rb) = vass.create(SpaceId(1), 1, PartitionKind::Data, Rights::READ, None, WINDOW).unwrap();
    let base = ra.start * PAGE_SIZE;
    assert!(vass.grants(SpaceId(1), base, 2 * PAGE_SIZE, RW));
    assert!(vass.grants(SpaceId(1), base + 100, 3 * PAGE_SIZE - 200, Rights::READ), "spans two partitions");
    assert!(!vass.grants(SpaceId(1), base + 100, 3 * PAGE_SIZE - 200, Rights::WRITE), "the second is read-only");
    assert!(!vass.grants(SpaceId(1), rb.end * PAGE_SIZE - 8, 16, Rights::READ), "runs past the end");
    assert!(!vass.grants(SpaceId(2), base, 8, Rights::READ), "another space");
    assert!(!vass.grants(SpaceId(1), u64::MAX - 4, 16, Rights::READ));
    assert!(vass.grants(SpaceId(1), 0, 0, RW));
}

#[test]
fn faults_commit_zeroed_pages_only_inside_partitions_with_the_right() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(SpaceId(1), 8, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    assert_eq!(vass.fault(SpaceId(1), range.start + 3, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
    assert_eq!(vass.fault(SpaceId(1), range.start + 3, Access::Read, &mut mmu, &mut frames).outcome, FaultOutcome::AlreadyCommitted);
    assert_eq!(vass.fault(SpaceId(1), range.start + 3, Access::Execute, &mut mmu, &mut frames).outcome, FaultOutcome::RightsViolation);
    assert_eq!(vass.fault(SpaceId(1), range.end, Access::Read, &mut mmu, &mut frames).outcome, FaultOutcome::NotInPartition);
    assert_eq!(vass.fault(SpaceId(2), range.start, Access::Read, &mut mmu, &mut frames).outcome, FaultOutcome::NotInPartition);
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.committed.len(), 1);
    assert_eq!(partition.counters.demand_commits, 1);
    assert_eq!(frames.in_use, 1);
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn a_sparse_gigabyte_commits_exactly_what_is_touched() {
    let (mut vass, mut mmu, mut frames) = setup();
    let window = Window { start: 0x100, end: 0x100 + (1 << 20) };
    let (id, range) = vass.create(SpaceId(1), 1 << 18, PartitionKind::Buffer, RW, None, window).unwrap();
    for index in 0..100 {
        let page = range.start + index * 2621;
        assert_eq!(vass.fault(SpaceId(1), page, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
    }
    assert_eq!(vass.partition(id).unwrap().committed.len(), 100);
    assert_eq!(frames.in_use, 100);
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn ahead_commits_count_hits_and_waste() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(SpaceId(1), 16, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    assert_eq!(vass.commit(SpaceId(1), id, PageRange::new(range.start, range.start + 4), &mut mmu, &mut frames), Ok(4));
    assert_eq!(vass.commit(SpaceId(1), id, PageRange::new(range.start, range.start + 6), &mut mmu, &mut frames), Ok(2));
    vass.touch(id, range.start + 1);
    vass.touch(id, range.start + 1);
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.counters.ahead_commits, 6);
    assert_eq!(partition.counters.hits, 1);
    assert_eq!(partition.untouched.len(), 5, "waste so far");
    assert_eq!(vass.commit(SpaceId(1), id, PageRange::new(range.end - 1, range.end + 1), &mut mmu, &mut frames), Err(VassError::OutsideGrant));
    assert_eq!(vass.commit(SpaceId(2), id, range, &mut mmu, &mut frames), Err(VassError::NotOwner));
    assert_eq!(vass.commit(SpaceId(1), PartitionId(99), range, &mut mmu, &mut frames), Err(VassError::UnknownPartition));
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn decommit_and_destroy_return_every_frame() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(SpaceId(1), 32, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.commit(SpaceId(1), id, range, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.decommit(SpaceId(1), id, PageRange::new(range.start, range.start + 10), &mut mmu, &mut frames), Ok(10));
    assert_eq!(frames.in_use, 22);
    vass.check_invariants(&mmu, &frames).unwrap();
    vass.destroy(SpaceId(1), id, &mut mmu, &mut frames).unwrap();
    assert_eq!(frames.in_use, 0);
    assert_eq!(mmu.mapped_pages(), 0);
    assert_eq!(vass.destroy(SpaceId(1), id, &mut mmu, &mut frames), Err(VassError::UnknownPartition));
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn protect_changes_mappings_but_never_escalates() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(SpaceId(1), 4, PartitionKind::Data, RW, None, WINDOW).unwrap();
    vass.commit(SpaceId(1), id, range, &mut mmu, &mut frames).unwrap();
    vass.protect(SpaceId(1), id, Rights::READ, &mut mmu).unwrap();
    assert_eq!(mmu.translate(SpaceId(1), range.start).map(|(_, r)| r), Some(Rights::READ));
    assert_eq!(vass.fault(SpaceId(1), range.start, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::RightsViolation);
    vass.protect(SpaceId(1), id, RW, &mut mmu).unwrap();
    assert_eq!(vass.protect(SpaceId(1), id, RW | Rights::EXECUTE, &mut mmu), Err(VassError::RightsEscalation));
    assert_eq!(vass.protect(SpaceId(2), id, Rights::READ, &mut mmu), Err(VassError::NotOwner));
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn resize_grows_in_place_or_adds_a_range_and_shrinks_with_decommit() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(SpaceId(1), 4, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.resize(SpaceId(1), id, 8, WINDOW, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.partition(id).unwrap().ranges, [PageRange::new(range.start, range.start + 8)]);
    let (_, blocker) = vass.create(SpaceId(1), 2, PartitionKind::Stack, RW, None, WINDOW).unwrap();
    assert_eq!(blocker.start, range.start + 8);
    vass.resize(SpaceId(1), id, 12, WINDOW, &mut mmu, &mut frames).unwrap();
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.ranges.len(), 2, "non-contiguous after growing past the blocker");
    assert_eq!(partition.pages(), 12);
    vass.commit(SpaceId(1), id, partition.ranges[1], &mut mmu, &mut frames).unwrap();
    vass.resize(SpaceId(1), id, 6, WINDOW, &mut mmu, &mut frames).unwrap();
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.ranges, [PageRange::new(range.start, range.start + 6)]);
    assert!(partition.committed.is_empty());
    assert_eq!(frames.in_use, 0);
    assert_eq!(vass.resize(SpaceId(1), id, 0, WINDOW, &mut mmu, &mut frames), Err(VassError::BadRange));
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn running_out_of_frames_keeps_everything_consistent() {
    let (mut vass, mut mmu, _) = setup();
    let mut frames = SimulatedFrames::new(3);
    let (id, range) = vass.create(SpaceId(1), 8, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    assert_eq!(vass.commit(SpaceId(1), id, range, &mut mmu, &mut frames), Err(VassError::OutOfFrames));
    assert_eq!(vass.partition(id).unwrap().committed.len(), 3, "a commit ahead never pushes out its own pages");
    // A demand fault may: the prefetched, untouched pages go first (clean
    // zero pages: dropped, nothing to write).
    assert_eq!(vass.fault(SpaceId(1), range.end - 1, Access::Read, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
    assert_eq!(vass.partition(id).unwrap().committed.len(), 3);
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().evicted_untouched, 1);
    vass.check_invariants(&mmu, &frames).unwrap();
    // Pages that were written cannot go without a swap device.
    for page in vass.partition(id).unwrap().committed.keys().copied().collect::<Vec<_>>() {
        mmu.write(SpaceId(1), page);
    }
    assert_eq!(vass.fault(SpaceId(1), range.end - 2, Access::Read, &mut mmu, &mut frames).outcome, FaultOutcome::OutOfFrames);
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().swap_outs, 0);
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn physical_extents_are_reported() {
    let (mut vass, mut mmu, _) = setup();
    let mut frames = SimulatedFrames::with_huge(0, 0);
    frames.free = (0..8).rev().collect();
    let (id, range) = vass.create(SpaceId(1), 8, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.commit(SpaceId(1), id, PageRange::new(range.start, range.start + 4), &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.partition(id).unwrap().extents(), 1, "frames 0..4 back pages 0..4 in order");
    vass.fault(SpaceId(1), range.start + 6, Access::Read, &mut mmu, &mut frames);
    assert_eq!(vass.partition(id).unwrap().extents(), 2);
}

#[test]
fn sealed_partitions_keep_their_layout_until_the_space_goes() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (code, range) = vass.create(SpaceId(1), 4, PartitionKind::Code, Rights::READ | Rights::EXECUTE, Some(0x200), WINDOW).unwrap();
    vass.seal(code);
    assert_eq!(vass.populate(SpaceId(1), code, range, &mut mmu, &mut frames), Ok(4));
    let partition = vass.partition(code).unwrap();
    assert_eq!((partition.counters.loaded, partition.counters.ahead_commits), (4, 0));
    assert!(partition.untouched.is_empty(), "loaded pages are not committed ahead of use");
    assert_eq!(vass.destroy(SpaceId(1), code, &mut mmu, &mut frames).err(), Some(VassError::Sealed));
    assert_eq!(vass.resize(SpaceId(1), code, 8, WINDOW, &mut mmu, &mut frames), Err(VassError::Sealed));
    assert_eq!(vass.add_range(SpaceId(1), code, 2, None, WINDOW), Err(VassError::Sealed));
    assert_eq!(vass.protect(SpaceId(1), code, Rights::READ, &mut mmu), Ok(()), "protect stays allowed");
    assert_eq!(vass.protect(SpaceId(1), code, Rights::READ | Rights::WRITE, &mut mmu), Err(VassError::RightsEscalation));
    vass.check_invariants(&mmu, &frames).unwrap();
    vass.destroy_space(SpaceId(1), &mut mmu, &mut frames);
    assert!(vass.partition(code).is_none());
    assert_eq!(frames.in_use, 0);
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn sub_ranges_keep_their_own_rights() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(SpaceId(1), 8, PartitionKind::Data, RW, None, WINDOW).unwrap();
    vass.commit(SpaceId(1), id, PageRange::new(range.start, range.start + 4), &mut mmu, &mut frames).unwrap();
    let guard = PageRange::new(range.start + 2, range.start + 6);
    vass.protect_range(SpaceId(1), id, guard, Rights::READ, &mut mmu, &mut frames).unwrap();
    assert_eq!(mmu.translate(SpaceId(1), range.start + 1).map(|(_, r)| r), Some(RW));
    assert_eq!(mmu.translate(SpaceId(1), range.start + 3).map(|(_, r)| r), Some(Rights::READ));
    assert_eq!(vass.fault(SpaceId(1), range.start + 5, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::RightsViolation);
    assert_eq!(vass.fault(SpaceId(1), range.start + 5, Access::Read, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
    assert_eq!(mmu.translate(SpaceId(1), range.start + 5).map(|(_, r)| r), Some(Rights::READ), "committed with its range's rights");
    let base = range.start * PAGE_SIZE;
    assert!(vass.grants(SpaceId(1), base, 2 * PAGE_SIZE, Rights::WRITE));
    assert!(!vass.grants(SpaceId(1), base, 3 * PAGE_SIZE, Rights::WRITE));
    assert!(vass.grants(SpaceId(1), base, 8 * PAGE_SIZE, Rights::READ));
    assert_eq!(
        vass.protect_range(SpaceId(1), id, guard, RW | Rights::EXECUTE, &mut mmu, &mut frames),
        Err(VassError::RightsEscalation)
    );
    assert_eq!(vass.protect_range(SpaceId(1), id, PageRange::new(range.end - 1, range.end + 1), Rights::READ, &mut mmu, &mut frames), Err(VassError::OutsideGrant));
    vass.check_invariants(&mmu, &frames).unwrap();
    // Giving the range the partition's rights again removes the override.
    vass.protect_range(SpaceId(1), id, guard, RW, &mut mmu, &mut frames).unwrap();
    assert!(vass.partition(id).unwrap().overrides.is_empty());
    vass.protect_range(SpaceId(1), id, guard, Rights::READ, &mut mmu, &mut frames).unwrap();
    vass.protect(SpaceId(1), id, RW, &mut mmu).unwrap();
    assert!(vass.partition(id).unwrap().overrides.is_empty(), "a whole-partition protect replaces sub-ranges");
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn advice_commits_drops_or_records_a_pattern() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(SpaceId(1), 16, PartitionKind::Buffer, RW, None, WINDOW).unwrap();
    let first = PageRange::new(range.start, range.start + 8);
    assert_eq!(vass.advise(SpaceId(1), id, first, Advice::WillNeed, &mut mmu, &mut frames), Ok(8));
    assert_eq!(vass.partition(id).unwrap().counters.ahead_commits, 8);
    assert_eq!(vass.advise(SpaceId(1), id, PageRange::new(range.start, range.start + 2), Advice::DontNeed, &mut mmu, &mut frames), Ok(2));
    assert_eq!(vass.advise(SpaceId(1), id, range, Advice::Sequential, &mut mmu, &mut frames), Ok(0));
    vass.advise(SpaceId(1), id, PageRange::new(range.end - 4, range.end), Advice::Random, &mut mmu, &mut frames).unwrap();
    let hints: Vec<_> = vass.partition(id).unwrap().hints.iter().collect();
    assert_eq!(hints, [(PageRange::new(range.start, range.end - 4), Pattern::Sequential), (PageRange::new(range.end - 4, range.end), Pattern::Random)]);
    vass.advise(SpaceId(1), id, range, Advice::Normal, &mut mmu, &mut frames).unwrap();
    assert!(vass.partition(id).unwrap().hints.is_empty());
    assert_eq!(vass.advise(SpaceId(2), id, range, Advice::Normal, &mut mmu, &mut frames), Err(VassError::NotOwner));
    assert_eq!(vass.advise(SpaceId(1), id, PageRange::new(range.end, range.end + 1), Advice::WillNeed, &mut mmu, &mut frames), Err(VassError::OutsideGrant));
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn hits_and_waste_come_from_accessed_bits() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(SpaceId(1), 10, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.commit(SpaceId(1), id, range, &mut mmu, &mut frames).unwrap();
    for page in range.start..range.start + 3 {
        mmu.touch(SpaceId(1), page);
    }
    assert_eq!(vass.sample_untouched(SpaceId(1), &mut mmu), 10, "every untouched page is sampled");
    assert_eq!(vass.partition(id).unwrap().counters.hits, 3);
    assert_eq!(vass.partition(id).unwrap().untouched.len(), 7);
    assert_eq!(vass.sample_untouched(SpaceId(1), &mut mmu), 7, "hits are not sampled again");
    // Touched pages released count as hits, the others as waste.
    mmu.touch(SpaceId(1), range.start + 4);
    vass.decommit(SpaceId(1), id, PageRange::new(range.start + 3, range.start + 6), &mut mmu, &mut frames).unwrap();
    let counters = vass.space_counters(SpaceId(1)).unwrap();
    assert_eq!((counters.ahead_commits, counters.hits, counters.waste), (10, 4, 2));
    let final_counters = vass.destroy_space(SpaceId(1), &mut mmu, &mut frames);
    assert_eq!((final_counters.hits, final_counters.waste, final_counters.committed), (4, 6, 0));
    assert!(vass.space_counters(SpaceId(1)).is_none());
}

#[test]
fn space_counters_follow_faults_commits_and_time() {
    let (mut vass, mut mmu, mut frames) = setup();
    vass.set_time(100);
    let (id, range) = vass.create(SpaceId(1), 8, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.fault(SpaceId(1), range.start, Access::Write, &mut mmu, &mut frames);
    vass.fault(SpaceId(1), range.start + 1, Access::Read, &mut mmu, &mut frames);
    vass.fault(SpaceId(1), range.start, Access::Execute, &mut mmu, &mut frames);
    vass.fault(SpaceId(1), range.end + 10, Access::Read, &mut mmu, &mut frames);
    assert_eq!(vass.refuse(SpaceId(1), range.end + 11, Access::Write).placement, None, "outside every partition");
    assert_eq!(vass.refuse(SpaceId(1), range.start, Access::Execute).placement.map(|placement| placement.partition), Some(id), "a mapped page without the right");
    vass.set_time(110);
    vass.commit(SpaceId(1), id, PageRange::new(range.start + 4, range.start + 6), &mut mmu, &mut frames).unwrap();
    vass.set_time(120);
    vass.add_fault_cycles(SpaceId(1), 500);
    let counters = vass.space_counters(SpaceId(1)).unwrap();
    assert_eq!((counters.faults_demand, counters.faults_violation, counters.faults_unmapped), (2, 3, 1));
    assert_eq!((counters.fault_reads, counters.fault_writes, counters.fault_executes), (2, 2, 2));
    assert_eq!(counters.faults, 6);
    assert_eq!((counters.demand_commits, counters.ahead_commits, counters.committed, counters.peak_committed), (2, 2, 4, 4));
    assert_eq!(counters.footprint, 2 * 10 + 4 * 10, "page-ticks");
    assert_eq!(counters.fault_cycles, 500);
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.counters.faults, 4);
    assert_eq!(partition.recent_faults.total(120), 4);
    assert_eq!(partition.recent_faults.total(120 + 10 * WINDOW_TICKS), 0);
    vass.decommit(SpaceId(1), id, range, &mut mmu, &mut frames).unwrap();
    vass.set_time(200);
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().footprint, 60, "nothing committed, nothing added");
    assert_eq!(vass.space_born(SpaceId(1)), Some(100));
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn declarations_name_only_own_partitions() {
    let (mut vass, _, _) = setup();
    let (mine, _) = vass.create(SpaceId(1), 4, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    let (theirs, _) = vass.create(SpaceId(2), 4, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    let declaration = Declaration { working_set: 40, lifetime: 500, programs: vec!["bin/hello".into()], partitions: vec![mine] };
    vass.declare(SpaceId(1), declaration.clone()).unwrap();
    assert_eq!(vass.declaration(SpaceId(1)), Some(&declaration));
    let bad = Declaration { partitions: vec![theirs], ..Declaration::default() };
    assert_eq!(vass.declare(SpaceId(1), bad), Err(VassError::NotOwner));
    assert_eq!(vass.declaration(SpaceId(1)), Some(&declaration), "a refused declaration changes nothing");
    assert_eq!(vass.declare(SpaceId(1), Declaration { partitions: vec![PartitionId(999)], ..Declaration::default() }), Err(VassError::UnknownPartition));
}

#[test]
fn the_checker_notices_page_tables_and_frames_going_astray() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(SpaceId(1), 4, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.commit(SpaceId(1), id, range, &mut mmu, &mut frames).unwrap();
    vass.check_invariants(&mmu, &frames).unwrap();
    // A mapping with the wrong rights.
    mmu.entries.get_mut(&(SpaceId(1), range.start)).unwrap().1 = Rights::READ;
    assert!(matches!(vass.check_invariants(&mmu, &frames), Err(Violation::Mapping { .. })));
    assert!(vass.check(&mmu, &frames, Scope::Space(SpaceId(1))).is_err());
    assert!(vass.check(&mmu, &frames, Scope::Space(SpaceId(2))).is_ok(), "another space's pages are not examined");
    mmu.entries.get_mut(&(SpaceId(1), range.start)).unwrap().1 = RW;
    // A stray mapping in an uncommitted page.
    let (other, other_range) = vass.create(SpaceId(1), 2, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    mmu.cursor(SpaceId(1), other_range).unwrap().map(&UserFrame::held(0xdead), RW).unwrap();
    assert!(matches!(vass.check_invariants(&mmu, &frames), Err(Violation::UncommittedMapped { .. })));
    let mut cursor = mmu.cursor(SpaceId(1), other_range).unwrap();
    let stale = cursor.unmap().unwrap();
    let _ = cursor.flush(stale);
    // A mapping the frame's metadata does not count (or counts twice).
    let frame = vass.partition(id).unwrap().committed[&range.start].number();
    frames.usage.get_mut(&frame).unwrap().mappings = 2;
    assert!(matches!(vass.check_invariants(&mmu, &frames), Err(Violation::FrameMappings { mappings: 2, .. })));
    frames.usage.get_mut(&frame).unwrap().mappings = 1;
    // A reverse map naming another partition.
    frames.usage.get_mut(&frame).unwrap().owner = Some(other);
    assert!(matches!(vass.check_invariants(&mmu, &frames), Err(Violation::FrameOwner { .. })));
    frames.usage.get_mut(&frame).unwrap().owner = Some(id);
    vass.check_invariants(&mmu, &frames).unwrap();
    // A frame freed behind the engine's back.
    frames.allocated.remove(&frame);
    assert!(matches!(vass.check_invariants(&mmu, &frames), Err(Violation::FrameNotAllocated { .. })));
    assert!(vass.check(&mmu, &frames, Scope::Pages { space: SpaceId(1), range: PageRange::new(range.start, range.start + 1) }).is_err());
    assert!(vass.check(&mmu, &frames, Scope::Pages { space: SpaceId(1), range: PageRange::new(range.start + 1, range.end) }).is_ok(), "outside the examined pages");
    frames.allocated.insert(frame);
    vass.check_invariants(&mmu, &frames).unwrap();
    vass.destroy(SpaceId(1), other, &mut mmu, &mut frames).unwrap();
}

const BLOCK: Page = 0x400;

#[test]
fn a_block_filled_by_faults_becomes_a_2mib_page_and_keeps_its_data() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, _) = vass.create(SpaceId(1), 2 * HUGE_PAGES, PartitionKind::Heap, RW, Some(BLOCK), WINDOW).unwrap();
    for page in BLOCK..BLOCK + HUGE_PAGES {
        assert_eq!(vass.fault(SpaceId(1), page, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
        store(&mmu, &mut frames, SpaceId(1), page, page * 3);
        if page < BLOCK + HUGE_PAGES - 1 {
            assert!(vass.partition(id).unwrap().huge.is_empty(), "not before the block is full");
        }
    }
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.huge.iter().copied().collect::<Vec<_>>(), [BLOCK], "promoted on the 512th fault");
    assert_eq!((partition.counters.promotions, partition.extents()), (1, 1));
    assert_eq!(mmu.huge.len(), 1);
    assert!(mmu.entries.is_empty(), "the 4 KiB mappings are gone");
    assert_eq!(frames.in_use, HUGE_PAGES as usize, "the old frames were freed");
    assert!((BLOCK..BLOCK + HUGE_PAGES).all(|page| load(&mmu, &frames, SpaceId(1), page) == page * 3), "contents were copied");
    vass.check_invariants(&mmu, &frames).unwrap();
    // Dropping one page splits the 2 MiB page; the rest keep their data.
    assert_eq!(vass.decommit(SpaceId(1), id, PageRange::new(BLOCK + 7, BLOCK + 8), &mut mmu, &mut frames), Ok(1));
    let partition = vass.partition(id).unwrap();
    assert!(partition.huge.is_empty());
    assert_eq!((partition.counters.demotions, partition.committed.len()), (1, 511));
    assert_eq!((mmu.huge.len(), mmu.entries.len(), frames.in_use), (0, 511, 511));
    assert!((BLOCK..BLOCK + HUGE_PAGES).filter(|&p| p != BLOCK + 7).all(|page| load(&mmu, &frames, SpaceId(1), page) == page * 3));
    vass.check_invariants(&mmu, &frames).unwrap();
    // Touching the page again fills the block: promoted again.
    vass.fault(SpaceId(1), BLOCK + 7, Access::Read, &mut mmu, &mut frames);
    assert_eq!(vass.partition(id).unwrap().counters.promotions, 2);
    assert_eq!(load(&mmu, &frames, SpaceId(1), BLOCK + 7), 0, "the dropped page comes back zeroed");
    let counters = vass.space_counters(SpaceId(1)).unwrap();
    assert_eq!((counters.promotions, counters.demotions), (2, 1));
    vass.destroy(SpaceId(1), id, &mut mmu, &mut frames).unwrap();
    assert_eq!((frames.in_use, mmu.mapped_pages()), (0, 0));
    assert!(frames.huge_allocated.is_empty());
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn committing_a_whole_aligned_block_maps_one_2mib_page_at_once() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(SpaceId(1), HUGE_PAGES + 10, PartitionKind::Buffer, RW, Some(BLOCK - 5), WINDOW).unwrap();
    assert_eq!(vass.commit(SpaceId(1), id, range, &mut mmu, &mut frames), Ok(HUGE_PAGES + 10));
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.huge.len(), 1, "the aligned block inside the range");
    assert_eq!((partition.counters.ahead_commits, partition.untouched.len() as u64), (HUGE_PAGES + 10, HUGE_PAGES + 10));
    assert_eq!(mmu.entries.len(), 10, "the unaligned ends are 4 KiB pages");
    // One accessed bit covers the whole 2 MiB page.
    mmu.touch(SpaceId(1), BLOCK + 100);
    vass.sample_untouched(SpaceId(1), &mut mmu);
    assert_eq!(vass.partition(id).unwrap().counters.hits, HUGE_PAGES);
    // Protecting the whole partition keeps the 2 MiB page; part of it splits it.
    vass.protect(SpaceId(1), id, Rights::READ, &mut mmu).unwrap();
    assert_eq!(mmu.translate(SpaceId(1), BLOCK + 3).map(|(_, r)| r), Some(Rights::READ));
    assert_eq!(vass.partition(id).unwrap().huge.len(), 1);
    vass.protect_range(SpaceId(1), id, PageRange::new(BLOCK, BLOCK + HUGE_PAGES), RW, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.partition(id).unwrap().huge.len(), 1, "a protect of exactly the block keeps it whole");
    vass.check_invariants(&mmu, &frames).unwrap();
    vass.protect_range(SpaceId(1), id, PageRange::new(BLOCK + 1, BLOCK + 2), Rights::READ, &mut mmu, &mut frames).unwrap();
    assert!(vass.partition(id).unwrap().huge.is_empty());
    assert_eq!(mmu.translate(SpaceId(1), BLOCK + 1).map(|(_, r)| r), Some(Rights::READ));
    assert_eq!(mmu.translate(SpaceId(1), BLOCK + 2).map(|(_, r)| r), Some(RW));
    vass.check_invariants(&mmu, &frames).unwrap();
    vass.destroy_space(SpaceId(1), &mut mmu, &mut frames);
    assert_eq!(frames.in_use, 0);
}

#[test]
fn blocks_stay_small_without_a_free_run_mixed_rights_or_when_disabled() {
    let (mut vass, mut mmu, _) = setup();
    let mut frames = SimulatedFrames::with_huge(4096, 0);
    let (id, _) = vass.create(SpaceId(1), HUGE_PAGES, PartitionKind::Heap, RW, Some(BLOCK), WINDOW).unwrap();
    vass.commit(SpaceId(1), id, PageRange::new(BLOCK, BLOCK + HUGE_PAGES), &mut mmu, &mut frames).unwrap();
    assert!(vass.partition(id).unwrap().huge.is_empty(), "no free 2 MiB run");
    vass.check_invariants(&mmu, &frames).unwrap();

    let (mut vass, mut mmu, mut frames) = setup();
    let (id, _) = vass.create(SpaceId(1), HUGE_PAGES, PartitionKind::Heap, RW, Some(BLOCK), WINDOW).unwrap();
    vass.protect_range(SpaceId(1), id, PageRange::new(BLOCK, BLOCK + 1), Rights::READ, &mut mmu, &mut frames).unwrap();
    vass.commit(SpaceId(1), id, PageRange::new(BLOCK, BLOCK + HUGE_PAGES), &mut mmu, &mut frames).unwrap();
    assert!(vass.partition(id).unwrap().huge.is_empty(), "mixed rights");
    vass.check_invariants(&mmu, &frames).unwrap();

    let (mut vass, mut mmu, mut frames) = setup();
    vass.set_huge_pages(false);
    let (id, _) = vass.create(SpaceId(1), HUGE_PAGES, PartitionKind::Heap, RW, Some(BLOCK), WINDOW).unwrap();
    vass.commit(SpaceId(1), id, PageRange::new(BLOCK, BLOCK + HUGE_PAGES), &mut mmu, &mut frames).unwrap();
    assert!(vass.partition(id).unwrap().huge.is_empty(), "disabled");

    let (mut vass, mut mmu, mut frames) = setup();
    let (id, _) = vass.create(SpaceId(1), HUGE_PAGES - 1, PartitionKind::Heap, RW, Some(BLOCK), WINDOW).unwrap();
    vass.add_range(SpaceId(1), id, 1, Some(BLOCK + HUGE_PAGES - 1), WINDOW).unwrap();
    vass.commit(SpaceId(1), id, PageRange::new(BLOCK, BLOCK + HUGE_PAGES - 1), &mut mmu, &mut frames).unwrap();
    vass.commit(SpaceId(1), id, PageRange::new(BLOCK + HUGE_PAGES - 1, BLOCK + HUGE_PAGES), &mut mmu, &mut frames).unwrap();
    assert!(vass.partition(id).unwrap().huge.is_empty(), "a block across two ranges");
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn shrinking_through_a_2mib_page_splits_it_and_frees_the_cut() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, _) = vass.create(SpaceId(1), HUGE_PAGES, PartitionKind::Heap, RW, Some(BLOCK), WINDOW).unwrap();
    vass.commit(SpaceId(1), id, PageRange::new(BLOCK, BLOCK + HUGE_PAGES), &mut mmu, &mut frames).unwrap();
    store(&mmu, &mut frames, SpaceId(1), BLOCK + 1, 42);
    vass.resize(SpaceId(1), id, 100, WINDOW, &mut mmu, &mut frames).unwrap();
    assert_eq!((frames.in_use, mmu.entries.len()), (100, 100));
    assert_eq!(load(&mmu, &frames, SpaceId(1), BLOCK + 1), 42);
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn periodic_samples_read_and_clear_accessed_bits() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(SpaceId(1), 8, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    let (huge_id, _) = vass.create(SpaceId(1), HUGE_PAGES, PartitionKind::Buffer, RW, Some(BLOCK), WINDOW).unwrap();
    vass.commit(SpaceId(1), huge_id, PageRange::new(BLOCK, BLOCK + HUGE_PAGES), &mut mmu, &mut frames).unwrap();
    for page in range.start..range.start + 4 {
        vass.fault(SpaceId(1), page, Access::Write, &mut mmu, &mut frames);
    }
    vass.commit(SpaceId(1), id, PageRange::new(range.start + 4, range.start + 6), &mut mmu, &mut frames).unwrap();
    mmu.touch(SpaceId(1), range.start);
    mmu.touch(SpaceId(1), range.start + 1);
    mmu.touch(SpaceId(1), range.start + 4);
    mmu.touch(SpaceId(1), BLOCK + 9);
    vass.set_time(10);
    let mut runs = Vec::new();
    assert_eq!(vass.sample_accessed(SpaceId(1), &mut mmu, |id, run| runs.push((id, run))), 6 + 1, "one entry per 4 KiB page, one per 2 MiB page");
    let start = range.start;
    assert_eq!(
        runs,
        [(id, PageRange::new(start, start + 2)), (id, PageRange::new(start + 4, start + 5)), (huge_id, PageRange::new(BLOCK, BLOCK + HUGE_PAGES))],
        "runs of pages seen accessed, a 2 MiB page whole"
    );
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.recent_accessed.total(10), 3);
    assert_eq!((partition.counters.hits, partition.untouched.len()), (1, 1), "the touched page committed ahead is a hit");
    assert_eq!(vass.partition(huge_id).unwrap().recent_accessed.total(10), HUGE_PAGES);
    assert!(mmu.accessed.is_empty(), "the bits were cleared for the next sample");
    runs.clear();
    vass.sample_accessed(SpaceId(1), &mut mmu, |id, run| runs.push((id, run)));
    assert!(runs.is_empty());
    assert_eq!(vass.partition(id).unwrap().recent_accessed.total(10), 3, "nothing new was touched");
    let counters = vass.space_counters(SpaceId(1)).unwrap();
    assert_eq!((counters.sample_scans, counters.sampled), (2, 14));
    vass.check_invariants(&mmu, &frames).unwrap();
}

/// Operations of the model check.
#[derive(Clone, Debug)]
enum Operation {
    Create { space: SpaceId, pages: u64 },
    Destroy { pick: usize },
    Resize { pick: usize, pages: u64 },
    Commit { pick: usize, offset: u64, pages: u64 },
    Decommit { pick: usize, offset: u64, pages: u64 },
    Fault { space: SpaceId, page: u64, write: bool },
    Protect { pick: usize, read_only: bool },
    ProtectRange { pick: usize, offset: u64, pages: u64, read_only: bool },
    AddRange { pick: usize, pages: u64 },
    Touch { space: SpaceId, page: u64 },
    FillBlock { pick: usize, by_faults: bool },
    Sample { space: SpaceId },
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        2 => (1..3u64, prop_oneof![2 => 1..40u64, 1 => 520..1100u64]).prop_map(|(space, pages)| Operation::Create { space: SpaceId(space), pages }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, by_faults)| Operation::FillBlock { pick, by_faults }),
        1 => any::<usize>().prop_map(|pick| Operation::Destroy { pick }),
        2 => (any::<usize>(), 1..60u64).prop_map(|(pick, pages)| Operation::Resize { pick, pages }),
        3 => (any::<usize>(), 0..40u64, prop_oneof![4 => 1..20u64, 1 => 500..1100u64])
            .prop_map(|(pick, offset, pages)| Operation::Commit { pick, offset, pages }),
        2 => (any::<usize>(), 0..40u64, 1..20u64).prop_map(|(pick, offset, pages)| Operation::Decommit { pick, offset, pages }),
        4 => (1..3u64, 0x100..0x900u64, any::<bool>()).prop_map(|(space, page, write)| Operation::Fault { space: SpaceId(space), page, write }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, read_only)| Operation::Protect { pick, read_only }),
        2 => (any::<usize>(), 0..40u64, 1..20u64, any::<bool>())
            .prop_map(|(pick, offset, pages, read_only)| Operation::ProtectRange { pick, offset, pages, read_only }),
        1 => (any::<usize>(), 1..20u64).prop_map(|(pick, pages)| Operation::AddRange { pick, pages }),
        3 => (1..3u64, 0x100..0x900u64).prop_map(|(space, page)| Operation::Touch { space: SpaceId(space), page }),
        1 => (1..3u64).prop_map(|space| Operation::Sample { space: SpaceId(space) }),
    ]
}

/// The reference model: which page of which space belongs to which
/// partition, and which pages are committed.
#[derive(Default)]
struct Model {
    owner: BTreeMap<(SpaceId, Page), PartitionId>,
    committed: BTreeMap<(SpaceId, Page), PartitionId>,
    read_only: BTreeMap<(SpaceId, Page), PartitionId>,
}

impl Model {
    /// Takes the ranges from the VASS; pages new to a partition get its
    /// default rights.
    fn sync_ranges(&mut self, vass: &Vass) {
        let previous = core::mem::take(&mut self.owner);
        for space in 1..3 {
            for partition in vass.partitions_of(SpaceId(space)) {
                for range in &partition.ranges {
                    for page in range.start..range.end {
                        assert!(self.owner.insert((SpaceId(space), page), partition.id).is_none(), "page owned twice");
                        if previous.get(&(SpaceId(space), page)) != Some(&partition.id) {
                            if partition.rights.contains(Rights::WRITE) {
                                self.read_only.remove(&(SpaceId(space), page));
                            } else {
                                self.read_only.insert((SpaceId(space), page), partition.id);
                            }
                        }
                    }
                }
            }
        }
        self.committed.retain(|key, id| self.owner.get(key) == Some(id));
        self.read_only.retain(|key, id| self.owner.get(key) == Some(id));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_operations_keep_table_vasm_and_page_tables_in_agreement(
        operations in proptest::collection::vec(operation(), 1..80)
    ) {
        let window = Window { start: 0x100, end: 0x900 };
        let (mut vass, mut mmu, _) = setup();
        let mut frames = SimulatedFrames::with_huge(2500, 3);
        let mut model = Model::default();
        let ids = |vass: &Vass| -> Vec<(SpaceId, PartitionId)> {
            (1..3).flat_map(|s| vass.partitions_of(SpaceId(s)).map(move |p| (SpaceId(s), p.id)).collect::<Vec<_>>()).collect()
        };
        for operation in operations {
            let known = ids(&vass);
            let chosen = |pick: usize| known.get(pick % known.len().max(1)).copied();
            match operation {
                Operation::Create { space, pages } => {
                    let _ = vass.create(space, pages, PartitionKind::Heap, RW, None, window);
                }
                Operation::Destroy { pick } => {
                    if let Some((space, id)) = chosen(pick) {
                        vass.destroy(space, id, &mut mmu, &mut frames).unwrap();
                    }
                }
                Operation::Resize { pick, pages } => {
                    if let Some((space, id)) = chosen(pick) {
                        let _ = vass.resize(space, id, pages, window, &mut mmu, &mut frames);
                    }
                }
                Operation::Commit { pick, offset, pages } => {
                    if let Some((space, id)) = chosen(pick) {
                        let start = vass.partition(id).unwrap().ranges[0].start + offset;
                        let range = PageRange::new(start, start + pages);
                        let before: Vec<Page> = vass.partition(id).unwrap().committed.keys().copied().collect();
                        if vass.commit(space, id, range, &mut mmu, &mut frames).is_ok() {
                            for page in range.start..range.end {
                                model.committed.insert((space, page), id);
                            }
                        } else {
                            prop_assert!(before.iter().all(|p| vass.partition(id).unwrap().committed.contains_key(p)));
                            for &page in vass.partition(id).unwrap().committed.keys() {
                                model.committed.insert((space, page), id);
                            }
                        }
                    }
                }
                Operation::Decommit { pick, offset, pages } => {
                    if let Some((space, id)) = chosen(pick) {
                        let start = vass.partition(id).unwrap().ranges[0].start + offset;
                        let range = PageRange::new(start, start + pages);
                        if vass.decommit(space, id, range, &mut mmu, &mut frames).is_ok() {
                            for page in range.start..range.end {
                                model.committed.remove(&(space, page));
                            }
                        }
                    }
                }
                Operation::Fault { space, page, write } => {
                    let access = if write { Access::Write } else { Access::Read };
                    let outcome = vass.fault(space, page, access, &mut mmu, &mut frames).outcome;
                    let owner = model.owner.get(&(space, page)).copied();
                    match outcome {
                        FaultOutcome::Committed => {
                            prop_assert!(owner.is_some());
                            prop_assert!(!(write && model.read_only.contains_key(&(space, page))));
                            prop_assert!(model.committed.insert((space, page), owner.unwrap()).is_none());
                        }
                        FaultOutcome::AlreadyCommitted => prop_assert!(model.committed.contains_key(&(space, page))),
                        FaultOutcome::NotInPartition => prop_assert!(owner.is_none()),
                        FaultOutcome::RightsViolation => {
                            prop_assert!(write && owner.is_some() && model.read_only.contains_key(&(space, page)));
                        }
                        FaultOutcome::OutOfFrames => prop_assert!(frames.free.is_empty()),
                        FaultOutcome::SwappedIn | FaultOutcome::SwapFailed => prop_assert!(false, "nothing is swapped without a budget"),
                        FaultOutcome::Mapped | FaultOutcome::Revoked | FaultOutcome::Replicated | FaultOutcome::Invalidated => prop_assert!(false, "no views here"),
                    }
                }
                Operation::Protect { pick, read_only } => {
                    if let Some((space, id)) = chosen(pick) {
                        let rights = if read_only { Rights::READ } else { RW };
                        vass.protect(space, id, rights, &mut mmu).unwrap();
                        for range in vass.partition(id).unwrap().ranges.clone() {
                            for page in range.start..range.end {
                                if read_only {
                                    model.read_only.insert((space, page), id);
                                } else {
                                    model.read_only.remove(&(space, page));
                                }
                            }
                        }
                    }
                }
                Operation::ProtectRange { pick, offset, pages, read_only } => {
                    if let Some((space, id)) = chosen(pick) {
                        let start = vass.partition(id).unwrap().ranges[0].start + offset;
                        let range = PageRange::new(start, start + pages);
                        let rights = if read_only { Rights::READ } else { RW };
                        if vass.protect_range(space, id, range, rights, &mut mmu, &mut frames).is_ok() {
                            for page in range.start..range.end {
                                if read_only {
                                    model.read_only.insert((space, page), id);
                                } else {
                                    model.read_only.remove(&(space, page));
                                }
                            }
                        }
                    }
                }
                Operation::AddRange { pick, pages } => {
                    if let Some((space, id)) = chosen(pick) {
                        let _ = vass.add_range(space, id, pages, None, window);
                    }
                }
                Operation::Touch { space, page } => mmu.touch(space, page),
                Operation::FillBlock { pick, by_faults } => {
                    // Commit every page of the first aligned block of the
                    // partition's first range: it may become a 2 MiB page.
                    if let Some((space, id)) = chosen(pick) {
                        let range = vass.partition(id).unwrap().ranges[0];
                        let start = range.start.next_multiple_of(HUGE_PAGES);
                        if start + HUGE_PAGES <= range.end {
                            let block = PageRange::new(start, start + HUGE_PAGES);
                            if by_faults {
                                for page in block.start..block.end {
                                    let _ = vass.fault(space, page, Access::Read, &mut mmu, &mut frames);
                                }
                            } else {
                                let _ = vass.commit(space, id, block, &mut mmu, &mut frames);
                            }
                            for (&page, _) in vass.partition(id).unwrap().committed.range(block.start..block.end) {
                                model.committed.insert((space, page), id);
                            }
                        }
                    }
                }
                Operation::Sample { space } => {
                    let untouched: usize = vass.partitions_of(space).map(|p| p.untouched.len()).sum();
                    prop_assert_eq!(vass.sample_untouched(space, &mut mmu), untouched as u64);
                    vass.sample_accessed(space, &mut mmu, |_, _| {});
                }
            }
            model.sync_ranges(&vass);
            vass.check_invariants(&mmu, &frames).map_err(|violation| TestCaseError::fail(violation.to_string()))?;
            let committed: usize = (1..3).flat_map(|s| vass.partitions_of(SpaceId(s)).map(|p| p.committed.len()).collect::<Vec<_>>()).sum();
            prop_assert_eq!(committed, model.committed.len());
            prop_assert_eq!(frames.in_use, committed, "frames in use match committed pages");
            prop_assert_eq!(mmu.mapped_pages(), committed, "page tables hold exactly the committed pages");
            prop_assert_eq!(mmu.pending_flushes, 0, "every unmapping was flushed");
            for &(space, page) in model.owner.keys() {
                let writable = vass.lookup(space, page).unwrap().rights_at(page).contains(Rights::WRITE);
                prop_assert_eq!(writable, !model.read_only.contains_key(&(space, page)), "rights of page {:#x}", page);
            }
        }
        for space in 1..3 {
            vass.destroy_space(SpaceId(space), &mut mmu, &mut frames);
        }
        prop_assert!(frames.huge_allocated.is_empty(), "every 2 MiB run came back");
        prop_assert_eq!(frames.in_use, 0);
        prop_assert_eq!(mmu.mapped_pages(), 0);
        prop_assert_eq!(mmu.pending_flushes, 0, "every unmapping was flushed");
        prop_assert!(frames.usage.is_empty(), "no frame metadata outlives its frame");
    }
}

#[test]
fn a_layout_names_each_partitions_ordinal_and_its_touched_pages_as_offsets() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (first, a) = vass.create(SpaceId(1), 8, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    let (_, blocker) = vass.create(SpaceId(1), 2, PartitionKind::Stack, RW, None, WINDOW).unwrap();
    let (other, _) = vass.create(SpaceId(2), 4, PartitionKind::Data, RW, None, WINDOW).unwrap();
    assert_eq!(vass.partition(other).unwrap().ordinal, 0, "ordinals count per space");
    // Two ranges: offsets 0..8 at `a`, 8..12 after the blocker.
    vass.resize(SpaceId(1), first, 12, WINDOW, &mut mmu, &mut frames).unwrap();
    let second_range = vass.partition(first).unwrap().ranges[1];
    assert_eq!(second_range.start, blocker.end);
    assert_eq!(vass.partition(first).unwrap().offset_of(second_range.start + 1), Some(9));
    assert_eq!(vass.partition(first).unwrap().pages_at(6, 10), [PageRange::new(a.start + 6, a.end), PageRange::new(second_range.start, second_range.start + 2)]);
    // Faulted pages are touched; pages committed ahead only once used.
    for page in [a.start, a.start + 1, second_range.start + 1] {
        assert_eq!(vass.fault(SpaceId(1), page, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
    }
    vass.commit(SpaceId(1), first, PageRange::new(a.start + 4, a.start + 7), &mut mmu, &mut frames).unwrap();
    mmu.touch(SpaceId(1), a.start + 5);
    let uses = vass.uses_of(SpaceId(1), &mmu);
    assert_eq!(uses.len(), 2);
    let heap = &uses[0];
    assert_eq!((heap.ordinal, heap.kind, heap.pages, heap.faults), (0, PartitionKind::Heap, 12, 3));
    assert_eq!(heap.touched, [0, 1, 5, 9]);
    assert_eq!((uses[1].ordinal, uses[1].touched.len()), (1, 0), "the untouched stack: cold");
    vass.sample_untouched(SpaceId(1), &mut mmu);
    assert_eq!(vass.partition(first).unwrap().counters.hits, 1, "reading the layout left the accessed bits alone");
    // A partition created after a destroyed one gets the next ordinal.
    vass.destroy(SpaceId(1), first, &mut mmu, &mut frames).unwrap();
    let (third, _) = vass.create(SpaceId(1), 1, PartitionKind::Buffer, RW, None, WINDOW).unwrap();
    assert_eq!(vass.partition(third).unwrap().ordinal, 2);
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn a_partition_created_with_room_grows_in_place_while_others_go_elsewhere() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (grower, range) = vass.create_with_room(SpaceId(1), 4, 12, PartitionKind::Buffer, RW, WINDOW).unwrap();
    assert_eq!(range, PageRange::new(WINDOW.start, WINDOW.start + 4));
    assert_eq!(vass.room_of(SpaceId(1), grower), Some(PageRange::new(range.end, range.end + 12)));
    // Placed past the room, not right after the partition.
    let (_, other) = vass.create(SpaceId(1), 2, PartitionKind::Buffer, RW, None, WINDOW).unwrap();
    assert_eq!(other.start, range.end + 12);
    // Growth takes the room, in place: still one range.
    vass.resize(SpaceId(1), grower, 10, WINDOW, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.partition(grower).unwrap().ranges, [PageRange::new(range.start, range.start + 10)]);
    assert_eq!(vass.room_of(SpaceId(1), grower), Some(PageRange::new(range.start + 10, range.end + 12)), "the rest stays held");
    // A range added at its end takes the rest.
    vass.add_range(SpaceId(1), grower, 6, Some(range.start + 10), WINDOW).unwrap();
    assert_eq!(vass.room_of(SpaceId(1), grower), None);
    assert_eq!(vass.partition(grower).unwrap().pages(), 16);
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn rooms_give_way_to_explicit_addresses_a_full_window_and_destruction() {
    let (mut vass, mut mmu, mut frames) = setup();
    let small = Window { start: 0x100, end: 0x110 };
    let (first, range) = vass.create_with_room(SpaceId(1), 4, 8, PartitionKind::Buffer, RW, small).unwrap();
    // Asked for an address inside the room: granted, and the room is gone.
    vass.create(SpaceId(1), 1, PartitionKind::Buffer, RW, Some(range.end + 2), small).unwrap();
    assert_eq!(vass.room_of(SpaceId(1), first), None);
    // Without space off the rooms, a partition goes into one.
    let (second, second_range) = vass.create_with_room(SpaceId(2), 4, 8, PartitionKind::Buffer, RW, small).unwrap();
    let (_, crowded) = vass.create(SpaceId(2), 4, PartitionKind::Buffer, RW, None, small).unwrap();
    assert_eq!(crowded.start, second_range.end + 8, "after the room while it fits");
    let (_, squeezed) = vass.create(SpaceId(2), 2, PartitionKind::Buffer, RW, None, small).unwrap();
    assert_eq!(squeezed.start, second_range.end, "into the room when nothing else is free");
    assert_eq!(vass.room_of(SpaceId(2), second), None);
    // No room where none fits: a plain partition.
    let (third, _) = vass.create_with_room(SpaceId(3), 4, 100, PartitionKind::Buffer, RW, small).unwrap();
    assert_eq!(vass.room_of(SpaceId(3), third), None);
    let (fourth, _) = vass.create_with_room(SpaceId(3), 2, 2, PartitionKind::Buffer, RW, small).unwrap();
    assert!(vass.room_of(SpaceId(3), fourth).is_some());
    vass.destroy(SpaceId(3), fourth, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.room_of(SpaceId(3), fourth), None, "destroyed with its partition");
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn a_cursor_changes_only_pages_of_its_range() {
    let mut mmu = SimulatedMmu::default();
    let range = PageRange::new(0x200, 0x204);
    let mut cursor = mmu.cursor(SpaceId(1), range).unwrap();
    assert_eq!(cursor.page(), 0x200, "a cursor starts at the first page of its range");
    assert!(cursor.map(&UserFrame::held(0x10), RW).is_ok());
    // Outside the range nothing is read or changed, and moving back in
    // works again.
    assert!(!cursor.jump(0x204));
    assert_eq!(cursor.map(&UserFrame::held(0x11), RW), Err(VassError::PageTable));
    assert!(cursor.unmap().is_none());
    assert_eq!(cursor.protect(Rights::READ), Err(VassError::PageTable));
    assert!(!cursor.jump(0x1ff));
    assert!(cursor.entry().is_none());
    assert!(cursor.jump(0x200));
    assert_eq!(cursor.entry().map(|entry| (entry.frame, entry.rights, entry.huge)), Some((0x10, RW, false)));
    assert!(cursor.protect(Rights::READ).is_ok());
    let flush = cursor.unmap().expect("mapped inside the range");
    assert_eq!((flush.space(), flush.page()), (SpaceId(1), 0x200));
    let flushed = cursor.flush(flush);
    assert_eq!((flushed.frame(), flushed.pages()), (0x10, 1));
    assert!(mmu.entries.is_empty() && mmu.pending_flushes == 0);
    // An empty range reaches no page at all.
    let mut empty = mmu.cursor(SpaceId(1), PageRange::new(0x300, 0x300)).unwrap();
    assert_eq!(empty.map(&UserFrame::held(0x12), RW), Err(VassError::PageTable));
    assert!(mmu.entries.is_empty());
}

#[test]
fn an_entry_reports_the_bits_of_the_two_mebibyte_page_it_is_inside() {
    let mut mmu = SimulatedMmu::default();
    let start = 4 * HUGE_PAGES;
    let run = HugeRun::held(0x100_0000);
    mmu.cursor(SpaceId(1), block(start)).unwrap().map_huge(&run, RW).unwrap();
    mmu.write(SpaceId(1), start + 7);
    let mut walk = mmu.walk(SpaceId(1), block(start)).unwrap();
    let entry = walk.entry_at(start + 9).expect("inside the 2 MiB page");
    assert_eq!((entry.frame, entry.huge, entry.accessed, entry.dirty), (0x100_0000 + 9, true, true, true));
    assert!(walk.entry_at(start + HUGE_PAGES).is_none(), "past the range");
    let mut cursor = mmu.cursor(SpaceId(1), block(start)).unwrap();
    assert!(cursor.jump(start + 9) && cursor.clear_accessed(), "one bit for the whole 2 MiB page");
    assert!(!mmu.accessed(SpaceId(1), start));
    let mut cursor = mmu.cursor(SpaceId(1), block(start)).unwrap();
    let flushed = {
        let flush = cursor.unmap_huge().expect("mapped");
        cursor.flush(flush)
    };
    assert_eq!((flushed.frame(), flushed.pages()), (0x100_0000, HUGE_PAGES));
}
