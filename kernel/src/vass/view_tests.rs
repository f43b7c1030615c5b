//! Host tests of views (`engine::view`): a partition's pages mapped into
//! other spaces share one frame each, coherently through faults, eviction,
//! swap, decommit, revoke and destruction; the invariant checker holds
//! after every step, and a model check of random sequences compares every
//! read with the last write.

use super::sim::*;
use super::*;
use abi::Rights;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use proptest::prelude::*;

const WINDOW: Window = Window { start: 0x100, end: 0x10_0000 };
const RW: Rights = Rights::READ.union(Rights::WRITE);
const OWNER: SpaceId = SpaceId(1);

struct World {
    vass: Vass,
    mmu: SimulatedMmu,
    frames: SimulatedFrames,
}

impl World {
    /// A VASS with `slots` swap slots and `frames` frames (no 2 MiB runs).
    fn new(slots: u64, frames: u64) -> World {
        let mut pool = SimulatedFrames::with_huge(frames, 0);
        pool.swap_slots = slots;
        let mut vass = Vass::new();
        vass.set_swap_slots(slots).unwrap();
        World { vass, mmu: SimulatedMmu::default(), frames: pool }
    }

    fn check(&self) {
        if let Err(violation) = self.vass.check_invariants(&self.mmu, &self.frames) {
            panic!("invariant broken: {violation}");
        }
    }

    /// `space` writes `value` at `page`: a fault if it is not mapped
    /// writable, then the store. Returns the fault's outcome (or
    /// `AlreadyCommitted` when no fault was needed).
    fn write(&mut self, space: SpaceId, page: Page, value: u64) -> FaultOutcome {
        let mut outcome = match self.mmu.translate(space, page) {
            Some((_, rights)) if rights.contains(Rights::WRITE) => FaultOutcome::AlreadyCommitted,
            Some(_) => self.vass.protection_fault(space, page, Access::Write, &mut self.mmu, &mut self.frames).outcome,
            None => self.vass.fault(space, page, Access::Write, &mut self.mmu, &mut self.frames).outcome,
        };
        // The retried write may fault again: a page with replicas is mapped
        // read-only until the first write invalidates them.
        if matches!(outcome, FaultOutcome::Committed | FaultOutcome::Mapped | FaultOutcome::SwappedIn | FaultOutcome::AlreadyCommitted)
            && let Some((_, rights)) = self.mmu.translate(space, page)
            && !rights.contains(Rights::WRITE)
        {
            let second = self.vass.protection_fault(space, page, Access::Write, &mut self.mmu, &mut self.frames).outcome;
            if second == FaultOutcome::Invalidated {
                outcome = second;
            }
        }
        if let Some((frame, rights)) = self.mmu.translate(space, page)
            && rights.contains(Rights::WRITE)
        {
            self.mmu.write(space, page);
            self.frames.contents.insert(frame, value);
        }
        self.check();
        outcome
    }

    /// `space` reads `page`: a fault if needed, then the load (`None` if
    /// the page could not be made present).
    fn read(&mut self, space: SpaceId, page: Page) -> (FaultOutcome, Option<u64>) {
        let outcome = match self.mmu.translate(space, page) {
            Some(_) => FaultOutcome::AlreadyCommitted,
            None => self.vass.fault(space, page, Access::Read, &mut self.mmu, &mut self.frames).outcome,
        };
        let value = self.mmu.translate(space, page).map(|(frame, _)| {
            self.mmu.touch(space, page);
            self.frames.contents.get(&frame).copied().unwrap_or(0)
        });
        self.check();
        (outcome, value)
    }

    fn map(&mut self, source: PartitionId, offsets: PageRange, space: SpaceId, rights: Rights) -> Result<(PartitionId, PageRange), VassError> {
        let mapped = self.vass.map_view(OWNER, source, offsets, space, rights, None, WINDOW, &mut self.mmu, &mut self.frames);
        self.check();
        mapped
    }
}

#[test]
fn a_view_maps_the_sources_frames_both_ways() {
    let mut world = World::new(0, 256);
    let (source, range) = world.vass.create(OWNER, 8, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    assert_eq!(world.write(OWNER, range.start + 1, 11), FaultOutcome::Committed);
    let (view, at) = world.map(source, PageRange::new(1, 5), SpaceId(2), RW).unwrap();
    assert_eq!(at.len(), 4);
    assert_eq!(world.vass.partition(view).unwrap().kind, PartitionKind::Shared);
    // The owner's page is there: a minor fault maps its frame.
    assert_eq!(world.read(SpaceId(2), at.start), (FaultOutcome::Mapped, Some(11)));
    assert_eq!(world.mmu.translate(SpaceId(2), at.start).map(|(frame, _)| frame), world.mmu.translate(OWNER, range.start + 1).map(|(frame, _)| frame));
    // A page only the view touched is committed in the source, charged to
    // the owner, and the owner sees the write.
    assert_eq!(world.write(SpaceId(2), at.start + 2, 33), FaultOutcome::Committed);
    assert_eq!(world.read(OWNER, range.start + 3), (FaultOutcome::AlreadyCommitted, Some(33)));
    let owner = world.vass.space_counters(OWNER).unwrap();
    let mapper = world.vass.space_counters(SpaceId(2)).unwrap();
    assert_eq!((owner.committed, mapper.committed), (2, 0), "shared pages are charged to the owner");
    assert_eq!((mapper.faults_shared, mapper.faults_demand), (1, 1));
    assert_eq!(world.vass.partition(source).unwrap().counters.demand_commits, 2);
    let state = world.vass.page_state(SpaceId(2), at.start + 2).unwrap();
    assert_eq!((state.partition, state.residence), (view, Residence::Committed { frame: world.mmu.translate(OWNER, range.start + 3).unwrap().0, huge: false, copy: None }));
    assert_eq!(world.vass.view_target(view, at.start), Some((source, range.start + 1)));
    let used = world.vass.partition_use(view, &world.mmu).unwrap();
    assert_eq!((used.kind, used.touched), (PartitionKind::Shared, alloc::vec![0, 2]), "a layout proposal records what the view used");
    assert_eq!(world.vass.view_target(view, at.end), None);
    assert_eq!(world.frames.in_use, 2);
}

#[test]
fn a_view_gives_no_more_than_its_rights_and_its_own_range() {
    let mut world = World::new(0, 256);
    let (source, range) = world.vass.create(OWNER, 8, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    world.write(OWNER, range.start, 5);
    assert_eq!(world.map(source, PageRange::new(0, 9), SpaceId(2), Rights::READ), Err(VassError::BadRange));
    assert_eq!(world.map(source, PageRange::new(3, 3), SpaceId(2), Rights::READ), Err(VassError::BadRange));
    assert_eq!(world.map(source, PageRange::new(0, 2), SpaceId(2), RW | Rights::EXECUTE), Err(VassError::RightsEscalation));
    assert_eq!(world.vass.map_view(SpaceId(3), source, PageRange::new(0, 2), SpaceId(2), Rights::READ, None, WINDOW, &mut world.mmu, &mut world.frames), Err(VassError::NotOwner));
    let (view, at) = world.map(source, PageRange::new(0, 2), SpaceId(2), Rights::READ).unwrap();
    assert_eq!(world.map(view, PageRange::new(0, 1), SpaceId(3), Rights::READ).map(|_| ()), Err(VassError::NotOwner));
    assert_eq!(world.vass.map_view(SpaceId(2), view, PageRange::new(0, 1), SpaceId(3), Rights::READ, None, WINDOW, &mut world.mmu, &mut world.frames), Err(VassError::Shared), "a view of a view maps the source");
    assert_eq!(world.read(SpaceId(2), at.start), (FaultOutcome::Mapped, Some(5)));
    assert_eq!(world.write(SpaceId(2), at.start, 6), FaultOutcome::RightsViolation);
    assert_eq!(world.vass.fault(SpaceId(2), at.start + 1, Access::Write, &mut world.mmu, &mut world.frames).outcome, FaultOutcome::RightsViolation);
    assert_eq!(world.read(OWNER, range.start).1, Some(5), "the refused write changed nothing");
    assert!(world.vass.grants(SpaceId(2), at.start * PAGE_SIZE, 2 * PAGE_SIZE, Rights::READ));
    assert!(!world.vass.grants(SpaceId(2), at.start * PAGE_SIZE, 8, Rights::WRITE));
    assert_eq!(world.vass.protect(SpaceId(2), view, RW, &mut world.mmu), Err(VassError::RightsEscalation));
    assert_eq!(world.vass.resize(SpaceId(2), view, 4, WINDOW, &mut world.mmu, &mut world.frames), Err(VassError::Shared));
    assert_eq!(world.vass.add_range(SpaceId(2), view, 4, None, WINDOW), Err(VassError::Shared));
    assert_eq!(world.vass.resize(OWNER, source, 1, WINDOW, &mut world.mmu, &mut world.frames), Err(VassError::Shared), "the source keeps what a view maps");
    world.vass.resize(OWNER, source, 2, WINDOW, &mut world.mmu, &mut world.frames).unwrap();
    world.vass.resize(OWNER, source, 12, WINDOW, &mut world.mmu, &mut world.frames).unwrap();
    world.check();
}

#[test]
fn protecting_a_view_changes_its_entries_within_its_rights() {
    let mut world = World::new(0, 256);
    let (source, _) = world.vass.create(OWNER, 4, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let (view, at) = world.map(source, PageRange::new(0, 4), SpaceId(2), RW).unwrap();
    assert_eq!(world.write(SpaceId(2), at.start, 1), FaultOutcome::Committed);
    world.vass.protect(SpaceId(2), view, Rights::READ, &mut world.mmu).unwrap();
    world.check();
    assert_eq!(world.mmu.translate(SpaceId(2), at.start).map(|(_, rights)| rights), Some(Rights::READ));
    assert_eq!(world.write(SpaceId(2), at.start, 2), FaultOutcome::RightsViolation);
    world.vass.protect_range(SpaceId(2), view, PageRange::new(at.start, at.start + 1), RW, &mut world.mmu, &mut world.frames).unwrap();
    world.check();
    assert_eq!(world.write(SpaceId(2), at.start, 3), FaultOutcome::AlreadyCommitted);
    assert_eq!(world.read(OWNER, world.vass.view_target(view, at.start).unwrap().1).1, Some(3));
}

#[test]
fn eviction_unmaps_every_view_and_a_write_through_a_view_reaches_swap() {
    let mut world = World::new(64, 256);
    let (source, range) = world.vass.create(OWNER, 16, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let (_, two) = world.map(source, PageRange::new(0, 16), SpaceId(2), RW).unwrap();
    // (Writable, so it never replicates: replicas have tests of their own.)
    let (_, three) = world.map(source, PageRange::new(0, 16), SpaceId(3), RW).unwrap();
    // The owner commits every page clean (it never writes), the views
    // write and read them.
    for page in 0..16 {
        assert_eq!(world.read(OWNER, range.start + page), (FaultOutcome::Committed, Some(0)));
        assert_eq!(world.write(SpaceId(2), two.start + page, 100 + page), FaultOutcome::Mapped);
        assert_eq!(world.read(SpaceId(3), three.start + page), (FaultOutcome::Mapped, Some(100 + page)));
    }
    // The owner's budget, not the mappers', makes room.
    world.vass.set_budget(SpaceId(2), Some(1));
    world.vass.set_budget(SpaceId(3), Some(1));
    world.vass.set_budget(OWNER, Some(4));
    let (_, other) = world.vass.create(OWNER, 4, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    for page in other.start..other.end {
        world.write(OWNER, page, 7);
    }
    let source_entry = world.vass.partition(source).unwrap();
    assert!(source_entry.committed.len() <= 4 && source_entry.swapped.len() >= 12, "{} committed", source_entry.committed.len());
    let swapped: Vec<Page> = source_entry.swapped.keys().copied().collect();
    for &page in &swapped {
        let offset = page - range.start;
        assert_eq!(world.mmu.translate(SpaceId(2), two.start + offset), None, "evicted from every view");
        assert_eq!(world.mmu.translate(SpaceId(3), three.start + offset), None);
    }
    // A mapper's fault brings the page back (a major fault, for the owner's
    // account); the other view then maps the same frame.
    let page = swapped[0] - range.start;
    assert_eq!(world.read(SpaceId(3), three.start + page), (FaultOutcome::SwappedIn, Some(100 + page)), "written through a view, kept in swap");
    assert_eq!(world.read(SpaceId(2), two.start + page), (FaultOutcome::Mapped, Some(100 + page)));
    assert_eq!(world.vass.space_counters(SpaceId(3)).unwrap().faults_major, 1);
    assert_eq!(world.vass.space_counters(SpaceId(2)).unwrap().committed, 0);
    for page in 0..16 {
        assert_eq!(world.read(SpaceId(2), two.start + page).1, Some(100 + page));
    }
    assert!(world.vass.space_counters(OWNER).unwrap().committed <= 4);
}

#[test]
fn a_use_through_a_view_keeps_a_page_from_eviction() {
    let mut world = World::new(64, 256);
    world.vass.set_eviction(Eviction::Clock);
    let (source, range) = world.vass.create(OWNER, 8, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let (_, at) = world.map(source, PageRange::new(0, 8), SpaceId(2), RW).unwrap();
    for page in 0..8 {
        world.write(OWNER, range.start + page, page);
    }
    world.vass.set_budget(OWNER, Some(8));
    // Only the view touches page 0 from now on; the owner's bits are clear.
    world.read(SpaceId(2), at.start);
    for page in 0..8 {
        world.mmu.clear_accessed(OWNER, range.start + page);
    }
    world.mmu.touch(SpaceId(2), at.start);
    let (_, other) = world.vass.create(OWNER, 1, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    world.write(OWNER, other.start, 9);
    assert!(world.vass.partition(source).unwrap().committed.contains_key(&range.start), "the page the view used stays");
    assert_eq!(world.vass.partition(source).unwrap().committed.len(), 7);
}

#[test]
fn revoke_unmaps_a_view_and_every_later_touch_fails_as_revoked() {
    let mut world = World::new(0, 256);
    let (source, range) = world.vass.create(OWNER, 4, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let (view, at) = world.map(source, PageRange::new(0, 4), SpaceId(2), RW).unwrap();
    world.write(SpaceId(2), at.start, 42);
    world.write(SpaceId(2), at.start + 1, 43);
    let flushes = world.mmu.flushes;
    world.vass.revoke_view(view, &mut world.mmu, &mut world.frames).unwrap();
    world.check();
    assert!(world.mmu.flushes >= flushes + 2, "each entry's translation was flushed");
    assert_eq!(world.mmu.translate(SpaceId(2), at.start), None);
    assert_eq!(world.read(SpaceId(2), at.start), (FaultOutcome::Revoked, None));
    assert_eq!(world.write(SpaceId(2), at.start + 2, 1), FaultOutcome::Revoked);
    assert_eq!(world.vass.space_counters(SpaceId(2)).unwrap().faults_revoked, 2);
    assert!(!world.vass.grants(SpaceId(2), at.start * PAGE_SIZE, 8, Rights::READ), "no system call reaches it either");
    assert!(world.vass.revoked_in(SpaceId(2), at.start * PAGE_SIZE - 8, 16), "and says why");
    assert!(!world.vass.revoked_in(OWNER, range.start * PAGE_SIZE, 8));
    assert_eq!(world.vass.commit(SpaceId(2), view, at, &mut world.mmu, &mut world.frames), Err(VassError::Revoked));
    assert_eq!(world.vass.protect(SpaceId(2), view, Rights::READ, &mut world.mmu), Err(VassError::Revoked));
    // The owner keeps its pages and data; nothing was freed under it.
    assert_eq!(world.read(OWNER, range.start).1, Some(42));
    assert_eq!(world.frames.in_use, 2);
    assert_eq!(world.vass.views_of(source).count(), 0);
    // The revoked view's range is the mapper's to destroy.
    world.vass.destroy(SpaceId(2), view, &mut world.mmu, &mut world.frames).unwrap();
    world.check();
    assert!(world.vass.lookup(SpaceId(2), at.start).is_none());
}

#[test]
fn destroying_a_source_revokes_its_views_and_frees_every_frame() {
    let mut world = World::new(0, 256);
    let (source, range) = world.vass.create(OWNER, 4, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let views: Vec<(PartitionId, PageRange)> = (2..6).map(|space| world.map(source, PageRange::new(0, 4), SpaceId(space), RW).unwrap()).collect();
    for (space, (_, at)) in (2..6).zip(&views) {
        world.write(SpaceId(space), at.start + space % 4, space);
    }
    world.write(OWNER, range.start, 1);
    world.vass.destroy(OWNER, source, &mut world.mmu, &mut world.frames).unwrap();
    world.check();
    assert_eq!((world.frames.in_use, world.mmu.mapped_pages()), (0, 0));
    for (space, (view, at)) in (2..6).zip(&views) {
        assert!(world.vass.partition(*view).unwrap().revoked());
        assert_eq!(world.read(SpaceId(space), at.start).0, FaultOutcome::Revoked);
    }
    // A mapper that ends takes its views with it.
    for space in 2..6 {
        world.vass.destroy_space(SpaceId(space), &mut world.mmu, &mut world.frames);
    }
    world.check();
}

#[test]
fn a_mapper_that_ends_leaves_the_source_whole() {
    let mut world = World::new(0, 256);
    let (source, range) = world.vass.create(OWNER, 4, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let (_, at) = world.map(source, PageRange::new(0, 4), SpaceId(2), RW).unwrap();
    for page in 0..4 {
        world.write(SpaceId(2), at.start + page, 50 + page);
    }
    world.vass.destroy_space(SpaceId(2), &mut world.mmu, &mut world.frames);
    world.check();
    assert_eq!(world.frames.in_use, 4);
    assert_eq!(world.vass.views_of(source).count(), 0);
    for page in 0..4 {
        assert_eq!(world.read(OWNER, range.start + page).1, Some(50 + page));
        assert_eq!(world.frames.usage.get(&world.mmu.translate(OWNER, range.start + page).unwrap().0).map(|usage| usage.mappings), Some(1));
    }
}

#[test]
fn decommits_unmap_views_and_a_views_own_decommit_frees_nothing() {
    let mut world = World::new(0, 256);
    let (source, range) = world.vass.create(OWNER, 4, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let (view, at) = world.map(source, PageRange::new(0, 4), SpaceId(2), RW).unwrap();
    for page in 0..4 {
        world.write(SpaceId(2), at.start + page, 60 + page);
    }
    // The mapper lets go of its entries; the data stays with the source.
    assert_eq!(world.vass.decommit(SpaceId(2), view, PageRange::new(at.start, at.start + 2), &mut world.mmu, &mut world.frames), Ok(0));
    world.check();
    assert_eq!(world.frames.in_use, 4);
    assert_eq!(world.read(SpaceId(2), at.start), (FaultOutcome::Mapped, Some(60)));
    // The owner decommits: every view's entry goes, a new touch reads zero.
    assert_eq!(world.vass.decommit(OWNER, source, PageRange::new(range.start + 1, range.start + 3), &mut world.mmu, &mut world.frames), Ok(2));
    world.check();
    assert_eq!(world.mmu.translate(SpaceId(2), at.start + 2), None);
    assert_eq!(world.read(SpaceId(2), at.start + 2), (FaultOutcome::Committed, Some(0)));
    assert_eq!(world.read(SpaceId(2), at.start + 3).1, Some(63));
    // A commit through the view commits in the source.
    let (_, two) = world.map(source, PageRange::new(0, 4), SpaceId(3), Rights::READ).unwrap();
    let fresh = world.vass.commit(SpaceId(3), world.vass.lookup(SpaceId(3), two.start).unwrap().id, two, &mut world.mmu, &mut world.frames);
    world.check();
    assert_eq!(fresh, Ok(1), "page 1 was the only one uncommitted");
    assert!((0..4).all(|page| world.mmu.translate(SpaceId(3), two.start + page).is_some()));
}

#[test]
fn aligned_views_map_the_sources_2mib_pages_as_2mib_pages() {
    let mut world = World::new(0, 4096);
    world.frames = SimulatedFrames::with_huge(4096, 4);
    let window = Window { start: 0x200, end: 0x10_0000 };
    let (source, range) = world.vass.create(OWNER, 2 * HUGE_PAGES, PartitionKind::Shared, RW, None, window).unwrap();
    world.vass.commit(OWNER, source, PageRange::new(range.start, range.start + HUGE_PAGES), &mut world.mmu, &mut world.frames).unwrap();
    world.write(OWNER, range.start + 5, 55);
    assert_eq!(world.vass.partition(source).unwrap().huge.len(), 1);
    // Placed where its pages line up with the source's blocks.
    let (view, at) = world.map(source, PageRange::new(0, 2 * HUGE_PAGES), SpaceId(2), RW).unwrap();
    assert!(at.start.is_multiple_of(HUGE_PAGES));
    assert_eq!(world.vass.partition(source).unwrap().huge.len(), 1, "still a 2 MiB page");
    assert_eq!(world.read(SpaceId(2), at.start + 5), (FaultOutcome::Mapped, Some(55)));
    let entry = world.mmu.entry(SpaceId(2), at.start + 5).unwrap();
    assert!(entry.huge, "mapped as one 2 MiB page");
    assert_eq!(entry.frame, world.mmu.translate(OWNER, range.start + 5).unwrap().0);
    assert_eq!(world.read(SpaceId(2), at.start + 300), (FaultOutcome::AlreadyCommitted, Some(0)), "the rest of the block came with it");
    // The second block: committed whole it is one 2 MiB page at once, which
    // the view maps as one too.
    world.vass.commit(OWNER, source, PageRange::new(range.start + HUGE_PAGES, range.end), &mut world.mmu, &mut world.frames).unwrap();
    assert_eq!(world.read(SpaceId(2), at.start + HUGE_PAGES).0, FaultOutcome::Mapped);
    assert!(world.mmu.entry(SpaceId(2), at.start + HUGE_PAGES).unwrap().huge);
    // A partial decommit splits the source's page: the view's goes too,
    // and the next touch maps a 4 KiB page.
    world.vass.decommit(OWNER, source, PageRange::new(range.start + 10, range.start + 12), &mut world.mmu, &mut world.frames).unwrap();
    world.check();
    assert_eq!(world.mmu.translate(SpaceId(2), at.start + 5), None);
    assert_eq!(world.read(SpaceId(2), at.start + 5), (FaultOutcome::Mapped, Some(55)));
    assert!(!world.mmu.entry(SpaceId(2), at.start + 5).unwrap().huge);
    // A view that does not line up splits the source's 2 MiB pages.
    let (_, skewed) = world.vass.map_view(OWNER, source, PageRange::new(0, 2 * HUGE_PAGES), SpaceId(3), Rights::READ, Some(0x10_0001 - 0x800), window, &mut world.mmu, &mut world.frames).unwrap();
    world.check();
    assert!(!skewed.start.is_multiple_of(HUGE_PAGES));
    assert!(world.vass.partition(source).unwrap().huge.is_empty(), "split for the skewed view");
    assert_eq!(world.mmu.translate(SpaceId(2), at.start + HUGE_PAGES), None, "the aligned view's 2 MiB entry went with it");
    assert_eq!(world.read(SpaceId(3), skewed.start + 5).1, Some(55));
    assert_eq!(world.read(SpaceId(2), at.start + HUGE_PAGES), (FaultOutcome::Mapped, Some(0)));
    world.vass.destroy(SpaceId(2), view, &mut world.mmu, &mut world.frames).unwrap();
    world.check();
}

#[test]
fn a_replicating_view_reads_its_own_copy_charged_to_the_reader() {
    let mut world = World::new(0, 256);
    let (source, range) = world.vass.create(OWNER, 4, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    world.write(OWNER, range.start, 10);
    let (reader, at) = world.map(source, PageRange::new(0, 4), SpaceId(2), Rights::READ).unwrap();
    let (_, writer) = world.map(source, PageRange::new(0, 4), SpaceId(3), RW).unwrap();
    assert_eq!(world.write(SpaceId(3), writer.start, 11), FaultOutcome::Mapped);
    let (_, rw_view) = world.map(source, PageRange::new(0, 4), SpaceId(4), RW).unwrap();
    assert_eq!(world.vass.set_replicate(SpaceId(4), world.vass.lookup(SpaceId(4), rw_view.start).unwrap().id, true, &mut world.mmu, &mut world.frames), Err(VassError::Shared), "a writer never replicates");
    world.vass.set_replicate(SpaceId(2), reader, true, &mut world.mmu, &mut world.frames).unwrap();
    assert_eq!(world.read(SpaceId(2), at.start), (FaultOutcome::Replicated, Some(11)));
    let primary = world.mmu.translate(OWNER, range.start).unwrap();
    let replica = world.mmu.translate(SpaceId(2), at.start).unwrap();
    assert_ne!(replica.0, primary.0, "its own frame");
    assert_eq!((primary.1, world.mmu.translate(SpaceId(3), writer.start).unwrap().1), (Rights::READ, Rights::READ), "every writer is write-protected while a replica exists");
    assert_eq!((world.vass.space_counters(SpaceId(2)).unwrap().committed, world.vass.space_counters(SpaceId(2)).unwrap().faults_replica), (1, 1), "charged to the reader");
    assert_eq!(world.vass.replicas_of(source, range.start), 1);
    // A page the owner never committed is committed, then copied.
    assert_eq!(world.read(SpaceId(2), at.start + 3), (FaultOutcome::Replicated, Some(0)));
    assert_eq!(world.vass.partition(source).unwrap().committed.len(), 2);
}

#[test]
fn a_write_invalidates_every_replica_and_the_next_read_copies_it_again() {
    let mut world = World::new(0, 256);
    let (source, range) = world.vass.create(OWNER, 2, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    world.write(OWNER, range.start, 1);
    let readers: Vec<(PartitionId, PageRange)> = (2..5).map(|space| world.map(source, PageRange::new(0, 2), SpaceId(space), Rights::READ).unwrap()).collect();
    for (space, (view, at)) in (2..5).zip(&readers) {
        world.vass.set_replicate(SpaceId(space), *view, true, &mut world.mmu, &mut world.frames).unwrap();
        assert_eq!(world.read(SpaceId(space), at.start), (FaultOutcome::Replicated, Some(1)));
    }
    assert_eq!(world.vass.replicas_of(source, range.start), 3);
    let (_, writer) = world.map(source, PageRange::new(0, 2), SpaceId(5), RW).unwrap();
    // A write through a writer's view invalidates all three.
    let flushes = world.mmu.flushes;
    assert_eq!(world.write(SpaceId(5), writer.start, 2), FaultOutcome::Invalidated);
    assert!(world.mmu.flushes >= flushes + 3);
    assert_eq!(world.vass.replicas_of(source, range.start), 0);
    assert_eq!(world.vass.partition(source).unwrap().versions.get(&range.start), Some(&1));
    for (space, (_, at)) in (2..5).zip(&readers) {
        assert_eq!(world.mmu.translate(SpaceId(space), at.start), None, "unmapped");
        assert_eq!(world.read(SpaceId(space), at.start), (FaultOutcome::Replicated, Some(2)), "the new contents");
    }
    // And a write by the owner.
    assert_eq!(world.write(OWNER, range.start, 3), FaultOutcome::Invalidated);
    assert_eq!(world.vass.partition(source).unwrap().versions.get(&range.start), Some(&2));
    assert_eq!(world.read(SpaceId(2), readers[0].1.start), (FaultOutcome::Replicated, Some(3)));
    assert_eq!(world.vass.space_counters(OWNER).unwrap().replica_invalidations, 1);
    // Stopping replication drops the copies and gives the writers their rights.
    world.vass.set_replicate(SpaceId(2), readers[0].0, false, &mut world.mmu, &mut world.frames).unwrap();
    world.check();
    assert_eq!(world.vass.space_counters(SpaceId(2)).unwrap().committed, 0);
    for (space, (view, _)) in (3..5).zip(&readers[1..]) {
        world.vass.set_replicate(SpaceId(space), *view, false, &mut world.mmu, &mut world.frames).unwrap();
    }
    world.check();
    assert_eq!(world.mmu.translate(OWNER, range.start).map(|(_, rights)| rights), Some(RW));
}

#[test]
fn a_replica_restores_a_primary_whose_swap_copy_is_lost() {
    let mut world = World::new(64, 256);
    let (source, range) = world.vass.create(OWNER, 4, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    for page in 0..4 {
        world.write(OWNER, range.start + page, 40 + page);
    }
    let (reader, at) = world.map(source, PageRange::new(0, 4), SpaceId(2), Rights::READ).unwrap();
    world.vass.set_replicate(SpaceId(2), reader, true, &mut world.mmu, &mut world.frames).unwrap();
    assert_eq!(world.read(SpaceId(2), at.start + 1), (FaultOutcome::Replicated, Some(41)));
    // The owner's budget pushes its pages out; the replica stays.
    world.vass.set_budget(OWNER, Some(1));
    let (_, other) = world.vass.create(OWNER, 1, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    world.write(OWNER, other.start, 9);
    let slot = world.vass.partition(source).unwrap().swapped.get(&(range.start + 1)).expect("swapped out").slot;
    world.frames.failing.insert(slot);
    world.vass.set_budget(OWNER, None);
    assert_eq!(world.read(OWNER, range.start + 1), (FaultOutcome::SwappedIn, Some(41)), "restored from the replica: nobody dies");
    let owner = world.vass.space_counters(OWNER).unwrap();
    assert_eq!((owner.replica_restores, owner.swap_errors, owner.faults_swap_failed), (1, 1, 0));
    // Without a replica a lost page is lost.
    let slot = world.vass.partition(source).unwrap().swapped.get(&(range.start + 2)).expect("swapped out").slot;
    world.frames.failing.insert(slot);
    assert_eq!(world.read(OWNER, range.start + 2).0, FaultOutcome::SwapFailed);
}

#[test]
fn views_read_often_and_rarely_written_replicate_until_writes_grow_frequent() {
    let mut world = World::new(0, 256);
    let (source, range) = world.vass.create(OWNER, 64, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let (reader, at) = world.map(source, PageRange::new(0, 64), SpaceId(2), Rights::READ).unwrap();
    for page in 0..REPLICATE_AFTER_SHARED_FAULTS {
        world.write(OWNER, range.start + page, page);
        assert_eq!(world.read(SpaceId(2), at.start + page).0, FaultOutcome::Mapped);
    }
    let replicating = |world: &World| world.vass.partition(source).unwrap().views[&reader].replicate;
    assert!(replicating(&world), "turned on after {REPLICATE_AFTER_SHARED_FAULTS} minor faults");
    assert_eq!(world.read(SpaceId(2), at.start + 40).0, FaultOutcome::Replicated);
    // Writes invalidating it again and again turn it off.
    for round in 0..STOP_AT_INVALIDATIONS {
        assert!(replicating(&world), "still on after {round} invalidations");
        let page = 20 + round;
        world.write(OWNER, range.start + page, 1);
        world.read(SpaceId(2), at.start + page);
        assert_eq!(world.write(OWNER, range.start + page, 2), FaultOutcome::Invalidated);
    }
    assert!(!replicating(&world), "off after {STOP_AT_INVALIDATIONS} invalidations");
    assert_eq!(world.vass.space_counters(SpaceId(2)).unwrap().committed, 0, "its replicas went");
    // Hysteresis: more minor faults do not turn it on while writes are frequent.
    for page in 30..30 + REPLICATE_AFTER_SHARED_FAULTS {
        world.read(SpaceId(2), at.start + page);
    }
    assert!(!replicating(&world));
}

/// One step of the model check.
#[derive(Clone, Debug)]
enum Step {
    /// Space `space` (0: the owner; 1..=3: views) writes page `offset`.
    Write { space: u64, offset: u64, value: u64 },
    /// Space `space` reads page `offset`.
    Read { space: u64, offset: u64 },
    /// The owner decommits offsets `[offset, offset + 3)`.
    Decommit { offset: u64 },
    /// View `space` is revoked.
    Revoke { space: u64 },
    /// View `space` is destroyed and made again (a new mapping).
    Remap { space: u64 },
    /// A mapper decommits its view's entries.
    ViewDecommit { space: u64 },
    /// The read-only view (space 3) starts or stops replicating.
    Replicate { on: bool },
}

const PAGES: u64 = 12;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..4u64, 0..PAGES, 1..1000u64).prop_map(|(space, offset, value)| Step::Write { space, offset, value }),
        4 => (0..4u64, 0..PAGES).prop_map(|(space, offset)| Step::Read { space, offset }),
        1 => (0..PAGES).prop_map(|offset| Step::Decommit { offset }),
        1 => (1..4u64).prop_map(|space| Step::Revoke { space }),
        1 => (1..4u64).prop_map(|space| Step::Remap { space }),
        1 => (1..4u64).prop_map(|space| Step::ViewDecommit { space }),
        2 => proptest::bool::weighted(0.8).prop_map(|on| Step::Replicate { on }),
        2 => (0..PAGES).prop_map(|offset| Step::Read { space: 3, offset }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Under an owner budget with swap, any read through the owner or a
    /// live view (a replicating one too) returns the last value written
    /// through any of them (zero after a decommit): replicas are coherent;
    /// a revoked view faults as revoked; the invariant
    /// checker holds after every step; at the end every frame and slot
    /// comes back.
    #[test]
    fn every_read_returns_the_last_write_through_any_view(steps in proptest::collection::vec(step(), 1..80), budget in 3..10u64) {
        let mut world = World::new(64, 512);
        let (source, range) = world.vass.create(OWNER, PAGES, PartitionKind::Shared, RW, None, WINDOW).unwrap();
        world.vass.set_budget(OWNER, Some(budget));
        let mut views: BTreeMap<u64, (PartitionId, PageRange)> = BTreeMap::new();
        // Views 1 and 2 write; view 3 only reads, and may replicate.
        let rights_of = |space: u64| if space == 3 { Rights::READ } else { RW };
        for space in 1..4 {
            views.insert(space, world.map(source, PageRange::new(0, PAGES), SpaceId(space + 1), rights_of(space)).unwrap());
        }
        let mut revoked: BTreeMap<u64, bool> = (1..4).map(|space| (space, false)).collect();
        let mut model = [0u64; PAGES as usize];
        let page_of = |views: &BTreeMap<u64, (PartitionId, PageRange)>, space: u64, offset: u64| match space {
            0 => (OWNER, range.start + offset),
            space => (SpaceId(space + 1), views[&space].1.start + offset),
        };
        for step in steps {
            match step {
                Step::Write { space, offset, value } => {
                    let (id, page) = page_of(&views, space, offset);
                    let outcome = world.write(id, page, value);
                    if space > 0 && revoked[&space] {
                        prop_assert_eq!(outcome, FaultOutcome::Revoked);
                    } else if space == 3 {
                        prop_assert_eq!(outcome, FaultOutcome::RightsViolation);
                    } else {
                        prop_assert!(outcome != FaultOutcome::Revoked && outcome != FaultOutcome::OutOfFrames, "{:?}", outcome);
                        model[offset as usize] = value;
                    }
                }
                Step::Read { space, offset } => {
                    let (id, page) = page_of(&views, space, offset);
                    let (outcome, value) = world.read(id, page);
                    if space > 0 && revoked[&space] {
                        prop_assert_eq!((outcome, value), (FaultOutcome::Revoked, None));
                    } else {
                        prop_assert_eq!(value, Some(model[offset as usize]), "{:?} at offset {}", outcome, offset);
                    }
                }
                Step::Decommit { offset } => {
                    let pieces = PageRange::new(range.start + offset, (range.start + offset + 3).min(range.end));
                    world.vass.decommit(OWNER, source, pieces, &mut world.mmu, &mut world.frames).unwrap();
                    world.check();
                    for offset in offset..(offset + 3).min(PAGES) {
                        model[offset as usize] = 0;
                    }
                }
                Step::Revoke { space } => {
                    world.vass.revoke_view(views[&space].0, &mut world.mmu, &mut world.frames).unwrap();
                    world.check();
                    revoked.insert(space, true);
                }
                Step::Remap { space } => {
                    world.vass.destroy(SpaceId(space + 1), views[&space].0, &mut world.mmu, &mut world.frames).unwrap();
                    world.check();
                    views.insert(space, world.map(source, PageRange::new(0, PAGES), SpaceId(space + 1), rights_of(space)).unwrap());
                    revoked.insert(space, false);
                }
                Step::ViewDecommit { space } => {
                    let (view, at) = views[&space];
                    let result = world.vass.decommit(SpaceId(space + 1), view, at, &mut world.mmu, &mut world.frames);
                    // Only a replicating view's own copies are freed.
                    match result {
                        Ok(dropped) => prop_assert!(!revoked[&space] && (dropped == 0 || space == 3)),
                        Err(error) => prop_assert!(revoked[&space] && error == VassError::Revoked),
                    }
                    world.check();
                }
                Step::Replicate { on } => {
                    let result = world.vass.set_replicate(SpaceId(4), views[&3].0, on, &mut world.mmu, &mut world.frames);
                    prop_assert_eq!(result, if revoked[&3] { Err(VassError::Revoked) } else { Ok(()) });
                    world.check();
                }
            }
            prop_assert!(world.vass.space_counters(OWNER).unwrap().committed <= budget);
        }
        for space in 2..5 {
            world.vass.destroy_space(SpaceId(space), &mut world.mmu, &mut world.frames);
            world.check();
        }
        world.vass.destroy_space(OWNER, &mut world.mmu, &mut world.frames);
        world.check();
        prop_assert_eq!((world.frames.in_use, world.mmu.mapped_pages(), world.vass.swap_usage().0), (0, 0, 0));
    }
}

#[test]
fn a_copy_on_write_view_is_a_private_snapshot() {
    let mut world = World::new(64, 256);
    let (source, range) = world.vass.create(OWNER, 4, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    world.write(OWNER, range.start, 1);
    world.write(OWNER, range.start + 1, 5);
    let (view, at) = world.vass.map_copy_on_write(OWNER, source, PageRange::new(0, 4), SpaceId(2), RW, None, WINDOW, &mut world.mmu, &mut world.frames).unwrap();
    world.check();
    assert_eq!(world.mmu.translate(OWNER, range.start).map(|(_, rights)| rights), Some(Rights::READ), "the owner's pages are write-protected for the snapshot");
    // A read maps the source's page, read-only.
    assert_eq!(world.read(SpaceId(2), at.start), (FaultOutcome::Mapped, Some(1)));
    assert_eq!(world.mmu.translate(SpaceId(2), at.start).map(|(_, rights)| rights), Some(Rights::READ));
    // The owner writes: the snapshot gets its copy first.
    assert_eq!(world.write(OWNER, range.start, 2), FaultOutcome::Invalidated);
    assert_eq!(world.read(SpaceId(2), at.start).1, Some(1), "the snapshot keeps what was there");
    assert_eq!(world.read(OWNER, range.start).1, Some(2));
    // The view writes: its own copy, the owner never sees it.
    assert_eq!(world.write(SpaceId(2), at.start + 1, 6), FaultOutcome::Committed);
    assert_eq!((world.read(OWNER, range.start + 1).1, world.read(SpaceId(2), at.start + 1).1), (Some(5), Some(6)));
    assert_eq!(world.write(OWNER, range.start + 1, 7), FaultOutcome::AlreadyCommitted, "the last snapshot reader had copied it: writable again");
    assert_eq!(world.mmu.translate(OWNER, range.start + 1).map(|(_, rights)| rights), Some(RW));
    // A page the owner had never committed reads as zero in the snapshot
    // whatever the owner writes later.
    assert_eq!(world.read(SpaceId(2), at.start + 2), (FaultOutcome::Committed, Some(0)));
    world.write(OWNER, range.start + 2, 9);
    assert_eq!(world.read(SpaceId(2), at.start + 2).1, Some(0));
    // The owner's decommit does not reach the snapshot.
    world.write(OWNER, range.start + 3, 4);
    world.vass.decommit(OWNER, source, PageRange::new(range.start, range.end), &mut world.mmu, &mut world.frames).unwrap();
    world.check();
    let snapshot: Vec<Option<u64>> = (0..4).map(|page| world.read(SpaceId(2), at.start + page).1).collect();
    assert_eq!(snapshot, [Some(1), Some(6), Some(0), Some(0)], "page 3 was written after the snapshot was made");
    assert_eq!(world.vass.space_counters(SpaceId(2)).unwrap().committed, 4, "the copies are the view's, charged to it");
    // Its own decommit drops its copies: it reads the source again.
    world.write(OWNER, range.start, 11);
    world.vass.decommit(SpaceId(2), view, at, &mut world.mmu, &mut world.frames).unwrap();
    world.check();
    assert_eq!(world.read(SpaceId(2), at.start).1, Some(11));
    assert_eq!(world.vass.space_counters(SpaceId(2)).unwrap().committed, 0);
    world.vass.destroy_space(SpaceId(2), &mut world.mmu, &mut world.frames);
    world.check();
    assert_eq!(world.mmu.translate(OWNER, range.start).map(|(_, rights)| rights), Some(RW), "no snapshot left to keep");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A copy-on-write view reads what the source held when it was made,
    /// and its own writes; the source and a writer's view never see them;
    /// under budgets with swap on both sides; the checker holds after every
    /// step and every frame comes back.
    #[test]
    fn a_snapshot_keeps_what_the_source_held_when_it_was_made(
        steps in proptest::collection::vec((0..3u64, 0..8u64, 0..1000u64, 0..10u8), 1..80),
        budgets in (3..8u64, 3..8u64),
    ) {
        const PAGES: u64 = 8;
        let mut world = World::new(64, 512);
        let (source, range) = world.vass.create(OWNER, PAGES, PartitionKind::Shared, RW, None, WINDOW).unwrap();
        let mut held = [0u64; PAGES as usize];
        for page in 0..4 {
            world.write(OWNER, range.start + page, 100 + page);
            held[page as usize] = 100 + page;
        }
        let (_, writer) = world.map(source, PageRange::new(0, PAGES), SpaceId(2), RW).unwrap();
        let (view, at) = world.vass.map_copy_on_write(OWNER, source, PageRange::new(0, PAGES), SpaceId(3), RW, None, WINDOW, &mut world.mmu, &mut world.frames).unwrap();
        world.check();
        world.vass.set_budget(OWNER, Some(budgets.0));
        world.vass.set_budget(SpaceId(3), Some(budgets.1));
        let mut snapshot = held;
        for (who, offset, value, what) in steps {
            let page = |who: u64| match who {
                0 => (OWNER, range.start + offset),
                1 => (SpaceId(2), writer.start + offset),
                _ => (SpaceId(3), at.start + offset),
            };
            let (space, address) = page(who);
            match what {
                0..=3 => {
                    let outcome = world.write(space, address, value);
                    prop_assert!(!matches!(outcome, FaultOutcome::OutOfFrames | FaultOutcome::RightsViolation | FaultOutcome::SwapFailed), "{:?}", outcome);
                    if who == 2 { snapshot[offset as usize] = value } else { held[offset as usize] = value }
                }
                4..=7 => {
                    let expected = if who == 2 { snapshot[offset as usize] } else { held[offset as usize] };
                    let (outcome, read) = world.read(space, address);
                    prop_assert_eq!(read, Some(expected), "{:?} by {} at {}", outcome, who, offset);
                }
                8 => {
                    world.vass.decommit(OWNER, source, PageRange::new(range.start + offset, range.start + offset + 1), &mut world.mmu, &mut world.frames).unwrap();
                    world.check();
                    held[offset as usize] = 0;
                }
                _ => {
                    world.vass.decommit(SpaceId(3), view, PageRange::new(at.start + offset, at.start + offset + 1), &mut world.mmu, &mut world.frames).unwrap();
                    world.check();
                    snapshot[offset as usize] = held[offset as usize];
                }
            }
        }
        for space in [SpaceId(3), SpaceId(2), OWNER] {
            world.vass.destroy_space(space, &mut world.mmu, &mut world.frames);
            world.check();
        }
        prop_assert_eq!((world.frames.in_use, world.mmu.mapped_pages(), world.vass.swap_usage().0), (0, 0, 0));
    }
}

#[test]
fn a_write_that_cannot_keep_a_snapshot_fails_as_out_of_memory() {
    let mut world = World::new(0, 6);
    let (source, range) = world.vass.create(OWNER, 4, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    for page in 0..4 {
        world.write(OWNER, range.start + page, 20 + page);
    }
    let (_, at) = world.vass.map_copy_on_write(OWNER, source, PageRange::new(0, 4), SpaceId(2), RW, None, WINDOW, &mut world.mmu, &mut world.frames).unwrap();
    let (_, other) = world.vass.create(OWNER, 2, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    world.write(OWNER, other.start, 1);
    world.write(OWNER, other.start + 1, 1);
    assert!(world.frames.free.is_empty());
    // No frame for the snapshot's copy, no swap to make one: the write fails.
    assert_eq!(world.write(OWNER, range.start, 99), FaultOutcome::OutOfFrames);
    assert_eq!(world.read(SpaceId(2), at.start).1, Some(20), "the snapshot is intact");
    assert_eq!(world.read(OWNER, range.start).1, Some(20), "and so is the page");
}
