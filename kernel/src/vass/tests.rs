//! Host tests of the VASS core against a simulated MMU and frame pool,
//! including a model check of random operation sequences.

use super::*;
use abi::Rights;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use proptest::prelude::*;

/// Page tables as a map; counts flush-worthy changes.
#[derive(Default)]
struct SimulatedMmu {
    entries: BTreeMap<(SpaceId, Page), (Frame, Rights)>,
}

impl PageTable for SimulatedMmu {
    fn map(&mut self, space: SpaceId, page: Page, frame: Frame, rights: Rights) -> Result<(), VassError> {
        if self.entries.insert((space, page), (frame, rights)).is_some() {
            return Err(VassError::PageTable);
        }
        Ok(())
    }

    fn unmap(&mut self, space: SpaceId, page: Page) -> Option<Frame> {
        self.entries.remove(&(space, page)).map(|(frame, _)| frame)
    }

    fn protect(&mut self, space: SpaceId, page: Page, rights: Rights) -> Result<(), VassError> {
        let entry = self.entries.get_mut(&(space, page)).ok_or(VassError::PageTable)?;
        entry.1 = rights;
        Ok(())
    }

    fn translate(&self, space: SpaceId, page: Page) -> Option<(Frame, Rights)> {
        self.entries.get(&(space, page)).copied()
    }
}

/// A pool of `limit` frames that hands out scattered numbers.
struct SimulatedFrames {
    free: Vec<Frame>,
    in_use: usize,
}

impl SimulatedFrames {
    fn new(limit: u64) -> SimulatedFrames {
        // Interleave to make physical placement scattered, as on a real machine.
        let mut free: Vec<Frame> = (0..limit).map(|i| (i * 7919) % limit + 0x1000).collect();
        free.reverse();
        SimulatedFrames { free, in_use: 0 }
    }
}

impl FrameSource for SimulatedFrames {
    fn allocate(&mut self) -> Option<Frame> {
        let frame = self.free.pop()?;
        self.in_use += 1;
        Some(frame)
    }

    fn free(&mut self, frame: Frame) {
        self.in_use -= 1;
        self.free.push(frame);
    }
}

const WINDOW: Window = Window { start: 0x100, end: 0x10_0000 };
const RW: Rights = Rights::READ.union(Rights::WRITE);

fn setup() -> (Vass, SimulatedMmu, SimulatedFrames) {
    (Vass::new(), SimulatedMmu::default(), SimulatedFrames::new(4096))
}

#[test]
fn partitions_are_placed_first_fit_and_never_overlap() {
    let (mut vass, mmu, _) = setup();
    let (a, ra) = vass.create(1, 10, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    let (_, rb) = vass.create(1, 5, PartitionKind::Stack, RW, None, WINDOW).unwrap();
    assert_eq!(ra, PageRange::new(0x100, 0x10a));
    assert_eq!(rb, PageRange::new(0x10a, 0x10f));
    assert_eq!(vass.create(1, 4, PartitionKind::Data, RW, Some(0x108), WINDOW), Err(VassError::Overlap));
    assert_eq!(vass.create(1, 0, PartitionKind::Data, RW, None, WINDOW), Err(VassError::BadRange));
    assert_eq!(vass.create(1, u64::MAX, PartitionKind::Data, RW, None, WINDOW), Err(VassError::BadRange));
    assert_eq!(vass.create(1, 4, PartitionKind::Data, RW, Some(0x10), WINDOW), Err(VassError::BadRange));
    // Another address space has its own layout.
    assert_eq!(vass.create(2, 10, PartitionKind::Heap, RW, None, WINDOW).unwrap().1, ra);
    assert_eq!(vass.lookup(1, 0x105).map(|p| p.id), Some(a));
    assert!(vass.lookup(1, 0x10f).is_none());
    vass.check_invariants(&mmu).unwrap();
}

#[test]
fn byte_ranges_are_granted_only_inside_partitions_with_the_rights() {
    let (mut vass, _, _) = setup();
    let (a, ra) = vass.create(1, 2, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    let (_, rb) = vass.create(1, 1, PartitionKind::Data, Rights::READ, None, WINDOW).unwrap();
    let base = ra.start * PAGE_SIZE;
    assert!(vass.grants(1, base, 2 * PAGE_SIZE, RW));
    assert!(vass.grants(1, base + 100, 3 * PAGE_SIZE - 200, Rights::READ), "spans two partitions");
    assert!(!vass.grants(1, base + 100, 3 * PAGE_SIZE - 200, Rights::WRITE), "the second is read-only");
    assert!(!vass.grants(1, rb.end * PAGE_SIZE - 8, 16, Rights::READ), "runs past the end");
    assert!(!vass.grants(2, base, 8, Rights::READ), "another space");
    assert!(!vass.grants(1, u64::MAX - 4, 16, Rights::READ));
    assert!(vass.grants(1, 0, 0, RW));
    assert_eq!(vass.exact(1, ra.start, 2), Some(a));
    assert_eq!(vass.exact(1, ra.start, 1), None);
    assert_eq!(vass.exact(1, ra.start + 1, 1), None);
}

#[test]
fn faults_commit_zeroed_pages_only_inside_partitions_with_the_right() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(1, 8, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    assert_eq!(vass.fault(1, range.start + 3, Access::Write, &mut mmu, &mut frames), FaultOutcome::Committed);
    assert_eq!(vass.fault(1, range.start + 3, Access::Read, &mut mmu, &mut frames), FaultOutcome::AlreadyCommitted);
    assert_eq!(vass.fault(1, range.start + 3, Access::Execute, &mut mmu, &mut frames), FaultOutcome::RightsViolation);
    assert_eq!(vass.fault(1, range.end, Access::Read, &mut mmu, &mut frames), FaultOutcome::NotInPartition);
    assert_eq!(vass.fault(2, range.start, Access::Read, &mut mmu, &mut frames), FaultOutcome::NotInPartition);
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.committed.len(), 1);
    assert_eq!(partition.counters.demand_commits, 1);
    assert_eq!(frames.in_use, 1);
    vass.check_invariants(&mmu).unwrap();
}

#[test]
fn a_sparse_gigabyte_commits_exactly_what_is_touched() {
    let (mut vass, mut mmu, mut frames) = setup();
    let window = Window { start: 0x100, end: 0x100 + (1 << 20) };
    let (id, range) = vass.create(1, 1 << 18, PartitionKind::Buffer, RW, None, window).unwrap();
    for index in 0..100 {
        let page = range.start + index * 2621;
        assert_eq!(vass.fault(1, page, Access::Write, &mut mmu, &mut frames), FaultOutcome::Committed);
    }
    assert_eq!(vass.partition(id).unwrap().committed.len(), 100);
    assert_eq!(frames.in_use, 100);
    vass.check_invariants(&mmu).unwrap();
}

#[test]
fn ahead_commits_count_hits_and_waste() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(1, 16, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    assert_eq!(vass.commit(1, id, PageRange::new(range.start, range.start + 4), &mut mmu, &mut frames), Ok(4));
    assert_eq!(vass.commit(1, id, PageRange::new(range.start, range.start + 6), &mut mmu, &mut frames), Ok(2));
    vass.touch(id, range.start + 1);
    vass.touch(id, range.start + 1);
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.counters.ahead_commits, 6);
    assert_eq!(partition.counters.hits, 1);
    assert_eq!(partition.untouched.len(), 5, "waste so far");
    assert_eq!(vass.commit(1, id, PageRange::new(range.end - 1, range.end + 1), &mut mmu, &mut frames), Err(VassError::OutsideGrant));
    assert_eq!(vass.commit(2, id, range, &mut mmu, &mut frames), Err(VassError::NotOwner));
    assert_eq!(vass.commit(1, 99, range, &mut mmu, &mut frames), Err(VassError::UnknownPartition));
    vass.check_invariants(&mmu).unwrap();
}

#[test]
fn decommit_and_destroy_return_every_frame() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(1, 32, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.commit(1, id, range, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.decommit(1, id, PageRange::new(range.start, range.start + 10), &mut mmu, &mut frames), Ok(10));
    assert_eq!(frames.in_use, 22);
    vass.check_invariants(&mmu).unwrap();
    vass.destroy(1, id, &mut mmu, &mut frames).unwrap();
    assert_eq!(frames.in_use, 0);
    assert!(mmu.entries.is_empty());
    assert_eq!(vass.destroy(1, id, &mut mmu, &mut frames), Err(VassError::UnknownPartition));
    vass.check_invariants(&mmu).unwrap();
}

#[test]
fn protect_changes_mappings_but_never_escalates() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(1, 4, PartitionKind::Data, RW, None, WINDOW).unwrap();
    vass.commit(1, id, range, &mut mmu, &mut frames).unwrap();
    vass.protect(1, id, Rights::READ, &mut mmu).unwrap();
    assert_eq!(mmu.translate(1, range.start).map(|(_, r)| r), Some(Rights::READ));
    assert_eq!(vass.fault(1, range.start, Access::Write, &mut mmu, &mut frames), FaultOutcome::RightsViolation);
    vass.protect(1, id, RW, &mut mmu).unwrap();
    assert_eq!(vass.protect(1, id, RW | Rights::EXECUTE, &mut mmu), Err(VassError::RightsEscalation));
    assert_eq!(vass.protect(2, id, Rights::READ, &mut mmu), Err(VassError::NotOwner));
    vass.check_invariants(&mmu).unwrap();
}

#[test]
fn resize_grows_in_place_or_adds_a_range_and_shrinks_with_decommit() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (id, range) = vass.create(1, 4, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.resize(1, id, 8, WINDOW, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.partition(id).unwrap().ranges, [PageRange::new(range.start, range.start + 8)]);
    let (_, blocker) = vass.create(1, 2, PartitionKind::Stack, RW, None, WINDOW).unwrap();
    assert_eq!(blocker.start, range.start + 8);
    vass.resize(1, id, 12, WINDOW, &mut mmu, &mut frames).unwrap();
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.ranges.len(), 2, "non-contiguous after growing past the blocker");
    assert_eq!(partition.pages(), 12);
    vass.commit(1, id, partition.ranges[1], &mut mmu, &mut frames).unwrap();
    vass.resize(1, id, 6, WINDOW, &mut mmu, &mut frames).unwrap();
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.ranges, [PageRange::new(range.start, range.start + 6)]);
    assert!(partition.committed.is_empty());
    assert_eq!(frames.in_use, 0);
    assert_eq!(vass.resize(1, id, 0, WINDOW, &mut mmu, &mut frames), Err(VassError::BadRange));
    vass.check_invariants(&mmu).unwrap();
}

#[test]
fn running_out_of_frames_keeps_everything_consistent() {
    let (mut vass, mut mmu, _) = setup();
    let mut frames = SimulatedFrames::new(3);
    let (id, range) = vass.create(1, 8, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    assert_eq!(vass.commit(1, id, range, &mut mmu, &mut frames), Err(VassError::OutOfFrames));
    assert_eq!(vass.partition(id).unwrap().committed.len(), 3);
    assert_eq!(vass.fault(1, range.end - 1, Access::Read, &mut mmu, &mut frames), FaultOutcome::OutOfFrames);
    vass.check_invariants(&mmu).unwrap();
}

#[test]
fn physical_extents_are_reported() {
    let (mut vass, mut mmu, _) = setup();
    let mut frames = SimulatedFrames { free: (0..8).rev().collect(), in_use: 0 };
    let (id, range) = vass.create(1, 8, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.commit(1, id, PageRange::new(range.start, range.start + 4), &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.partition(id).unwrap().extents(), 1, "frames 0..4 back pages 0..4 in order");
    vass.fault(1, range.start + 6, Access::Read, &mut mmu, &mut frames);
    assert_eq!(vass.partition(id).unwrap().extents(), 2);
}

#[test]
fn sealed_partitions_keep_their_layout_until_the_space_goes() {
    let (mut vass, mut mmu, mut frames) = setup();
    let (code, range) = vass.create(1, 4, PartitionKind::Code, Rights::READ | Rights::EXECUTE, Some(0x200), WINDOW).unwrap();
    vass.seal(code);
    assert_eq!(vass.populate(1, code, range, &mut mmu, &mut frames), Ok(4));
    let partition = vass.partition(code).unwrap();
    assert_eq!((partition.counters.loaded, partition.counters.ahead_commits), (4, 0));
    assert!(partition.untouched.is_empty(), "loaded pages are not committed ahead of use");
    assert_eq!(vass.destroy(1, code, &mut mmu, &mut frames).err(), Some(VassError::Sealed));
    assert_eq!(vass.resize(1, code, 8, WINDOW, &mut mmu, &mut frames), Err(VassError::Sealed));
    assert_eq!(vass.add_range(1, code, 2, None, WINDOW), Err(VassError::Sealed));
    assert_eq!(vass.protect(1, code, Rights::READ, &mut mmu), Ok(()), "protect stays allowed");
    assert_eq!(vass.protect(1, code, Rights::READ | Rights::WRITE, &mut mmu), Err(VassError::RightsEscalation));
    vass.check_invariants(&mmu).unwrap();
    vass.destroy_space(1, &mut mmu, &mut frames);
    assert!(vass.partition(code).is_none());
    assert_eq!(frames.in_use, 0);
    vass.check_invariants(&mmu).unwrap();
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
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        2 => (1..3u64, 1..40u64).prop_map(|(space, pages)| Operation::Create { space, pages }),
        1 => any::<usize>().prop_map(|pick| Operation::Destroy { pick }),
        2 => (any::<usize>(), 1..60u64).prop_map(|(pick, pages)| Operation::Resize { pick, pages }),
        3 => (any::<usize>(), 0..40u64, 1..20u64).prop_map(|(pick, offset, pages)| Operation::Commit { pick, offset, pages }),
        2 => (any::<usize>(), 0..40u64, 1..20u64).prop_map(|(pick, offset, pages)| Operation::Decommit { pick, offset, pages }),
        4 => (1..3u64, 0x100..0x300u64, any::<bool>()).prop_map(|(space, page, write)| Operation::Fault { space, page, write }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, read_only)| Operation::Protect { pick, read_only }),
    ]
}

/// The reference model: which page of which space belongs to which
/// partition, and which pages are committed.
#[derive(Default)]
struct Model {
    owner: BTreeMap<(SpaceId, Page), PartitionId>,
    committed: BTreeMap<(SpaceId, Page), PartitionId>,
}

impl Model {
    fn sync_ranges(&mut self, vass: &Vass) {
        self.owner.clear();
        for space in 1..3 {
            for partition in vass.partitions_of(space) {
                for range in &partition.ranges {
                    for page in range.start..range.end {
                        assert!(self.owner.insert((space, page), partition.id).is_none(), "page owned twice");
                    }
                }
            }
        }
        self.committed.retain(|key, id| self.owner.get(key) == Some(id));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_operations_keep_table_vasm_and_page_tables_in_agreement(
        operations in proptest::collection::vec(operation(), 1..80)
    ) {
        let window = Window { start: 0x100, end: 0x300 };
        let (mut vass, mut mmu, _) = setup();
        let mut frames = SimulatedFrames::new(300);
        let mut model = Model::default();
        let ids = |vass: &Vass| -> Vec<(SpaceId, PartitionId)> {
            (1..3).flat_map(|s| vass.partitions_of(s).map(move |p| (s, p.id)).collect::<Vec<_>>()).collect()
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
                    let outcome = vass.fault(space, page, access, &mut mmu, &mut frames);
                    let owner = model.owner.get(&(space, page)).copied();
                    match outcome {
                        FaultOutcome::Committed => {
                            prop_assert!(owner.is_some());
                            prop_assert!(model.committed.insert((space, page), owner.unwrap()).is_none());
                        }
                        FaultOutcome::AlreadyCommitted => prop_assert!(model.committed.contains_key(&(space, page))),
                        FaultOutcome::NotInPartition => prop_assert!(owner.is_none()),
                        FaultOutcome::RightsViolation => prop_assert!(write && owner.is_some()),
                        FaultOutcome::OutOfFrames => prop_assert!(frames.free.is_empty()),
                    }
                }
                Operation::Protect { pick, read_only } => {
                    if let Some((space, id)) = chosen(pick) {
                        let rights = if read_only { Rights::READ } else { RW };
                        vass.protect(space, id, rights, &mut mmu).unwrap();
                    }
                }
            }
            model.sync_ranges(&vass);
            vass.check_invariants(&mmu).map_err(TestCaseError::fail)?;
            let committed: usize = (1..3).flat_map(|s| vass.partitions_of(s).map(|p| p.committed.len()).collect::<Vec<_>>()).sum();
            prop_assert_eq!(committed, model.committed.len());
            prop_assert_eq!(frames.in_use, committed, "frames in use match committed pages");
            prop_assert_eq!(mmu.entries.len(), committed, "page tables hold exactly the committed pages");
        }
        for space in 1..3 {
            vass.destroy_space(space, &mut mmu, &mut frames);
        }
        prop_assert_eq!(frames.in_use, 0);
        prop_assert!(mmu.entries.is_empty());
    }
}
