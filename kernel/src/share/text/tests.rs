use super::*;
use crate::vass::sim::{SimulatedFrames, SimulatedMmu};
use crate::vass::{Access, FaultOutcome, Frame};

const IMAGE: Window = Window { start: 0x400, end: 0x10_0000 };
const RX: Rights = Rights::READ.union(Rights::EXECUTE);
const CODE: TextKey = TextKey { program: 0xfeed, at: 0x401, pages: 8, rights: RX };

struct World {
    vass: Vass,
    mmu: SimulatedMmu,
    frames: SimulatedFrames,
    store: TextStore,
}

impl World {
    fn new() -> World {
        World { vass: Vass::new(), mmu: SimulatedMmu::default(), frames: SimulatedFrames::with_huge(256, 0), store: TextStore::new() }
    }

    fn check(&self) {
        if let Err(violation) = self.vass.check_invariants(&self.mmu, &self.frames) {
            panic!("invariant broken: {violation}");
        }
    }

    /// Loads `key` into `space` as the loader does: held (and, if fresh,
    /// written: each page's word is its offset plus `seed`), then mapped.
    fn load(&mut self, key: TextKey, space: SpaceId, seed: u64) -> Result<(PartitionId, PageRange, bool), VassError> {
        let held = self.store.hold(&mut self.vass, key, &mut self.mmu, &mut self.frames)?;
        if held.fresh {
            for (offset, page) in (held.range.start..held.range.end).enumerate() {
                let frame = self.frame(TextStore::SPACE, page).expect("a fresh piece is committed");
                self.frames.contents.insert(frame, seed + offset as u64);
            }
        }
        let mapped = self.store.map(&mut self.vass, key, space, IMAGE, &mut self.mmu, &mut self.frames);
        if mapped.is_err() {
            // As the memory service does: a failed load keeps nothing.
            self.store.discard(key, &mut self.vass, &mut self.mmu, &mut self.frames);
        }
        self.check();
        mapped.map(|(view, range)| (view, range, held.fresh))
    }

    fn frame(&self, space: SpaceId, page: Page) -> Option<Frame> {
        self.mmu.translate(space, page).map(|(frame, _)| frame)
    }

    /// What `space` reads at `page` (faulting it in first if unmapped).
    fn read(&mut self, space: SpaceId, page: Page) -> (FaultOutcome, Option<u64>) {
        let outcome = match self.frame(space, page) {
            Some(_) => FaultOutcome::AlreadyCommitted,
            None => self.vass.fault(space, page, Access::Execute, &mut self.mmu, &mut self.frames).outcome,
        };
        self.check();
        (outcome, self.frame(space, page).map(|frame| self.frames.contents.get(&frame).copied().unwrap_or(0)))
    }

    /// Ends `space`'s process; returns how many pieces the store
    /// destroyed (beyond its cache's bound).
    fn end(&mut self, space: SpaceId) -> usize {
        self.vass.destroy_space(space, &mut self.mmu, &mut self.frames);
        let pieces = self.store.len();
        let retired = self.store.retire_unused(&mut self.vass, &mut self.mmu, &mut self.frames);
        self.check();
        let destroyed = pieces - self.store.len();
        assert!(retired.len() >= destroyed, "every piece destroyed left use");
        destroyed
    }

    /// A world whose store caches nothing.
    fn uncached() -> World {
        let mut world = World::new();
        world.store.set_cache_pages(0);
        world
    }
}

#[test]
fn two_instances_map_one_copy_of_their_text_and_it_outlives_the_first() {
    let mut world = World::uncached();
    let (first, range, fresh) = world.load(CODE, SpaceId(1), 100).unwrap();
    assert!(fresh, "the first instance fills the piece");
    assert_eq!(range, PageRange::new(CODE.at, CODE.at + CODE.pages), "at the address the image names");
    let (second, again, fresh) = world.load(CODE, SpaceId(2), 999).unwrap();
    assert!(!fresh, "the second only maps it");
    assert_eq!(again, range);
    assert_eq!(world.frames.in_use, CODE.pages as usize, "one frame per page, for both");
    for page in range.start..range.end {
        let frame = world.frame(SpaceId(1), page).expect("mapped at load: no fault");
        assert_eq!(world.frame(SpaceId(2), page), Some(frame));
        assert_eq!(world.mmu.translate(SpaceId(1), page).map(|(_, rights)| rights), Some(RX));
        assert_eq!(world.read(SpaceId(2), page), (FaultOutcome::AlreadyCommitted, Some(100 + page - range.start)));
    }
    for view in [first, second] {
        let partition = world.vass.partition(view).unwrap();
        assert_eq!((partition.kind, partition.sealed), (PartitionKind::Shared, true));
    }
    // The text is the store's: the instances' own counters hold none of it.
    assert_eq!(world.vass.space_counters(SpaceId(1)).map(|c| c.committed), Some(0));
    assert_eq!(world.vass.space_counters(TextStore::SPACE).map(|c| c.committed), Some(CODE.pages));
    // The first instance ends: the second still runs the same text.
    assert_eq!(world.end(SpaceId(1)), 0);
    assert_eq!(world.store.len(), 1);
    assert_eq!(world.read(SpaceId(2), range.start + 3), (FaultOutcome::AlreadyCommitted, Some(103)));
    // The last one ends: nothing is left.
    assert_eq!(world.end(SpaceId(2)), 1);
    assert!(world.store.is_empty());
    assert_eq!(world.frames.in_use, 0);
    assert_eq!(world.vass.space_counters(TextStore::SPACE).map(|c| c.committed).unwrap_or(0), 0);
}

#[test]
fn a_program_started_again_maps_its_cached_text_without_writing_it() {
    let mut world = World::new();
    let (_, range, _) = world.load(CODE, SpaceId(1), 100).unwrap();
    let frames: Vec<Option<Frame>> = (range.start..range.end).map(|page| world.frame(SpaceId(1), page)).collect();
    assert_eq!(world.end(SpaceId(1)), 0, "the last instance's end caches its text");
    assert!(world.store.retire_unused(&mut world.vass, &mut world.mmu, &mut world.frames).is_empty(), "retired once");
    assert_eq!(world.store.cached(&world.vass), (CODE.pages, CODE.pages));
    assert_eq!(world.frames.in_use, CODE.pages as usize);
    // Started again: only mapped, the same frames, the same bytes.
    let (_, again, fresh) = world.load(CODE, SpaceId(2), 999).unwrap();
    assert!(!fresh, "a cached piece is not written again");
    assert_eq!(again, range);
    assert_eq!((range.start..range.end).map(|page| world.frame(SpaceId(2), page)).collect::<Vec<_>>(), frames);
    assert_eq!(world.read(SpaceId(2), range.start + 5), (FaultOutcome::AlreadyCommitted, Some(105)));
    assert_eq!(world.store.cached(&world.vass), (0, 0), "in use again");
    // Dropping the cache leaves pieces in use alone, then takes the rest.
    assert!(world.store.drop_cache(&mut world.vass, &mut world.mmu, &mut world.frames).is_empty());
    assert_eq!(world.end(SpaceId(2)), 0);
    assert_eq!(world.store.drop_cache(&mut world.vass, &mut world.mmu, &mut world.frames).len(), 1);
    world.check();
    assert!(world.store.is_empty());
    assert_eq!(world.frames.in_use, 0);
}

#[test]
fn the_cache_keeps_the_pieces_used_last_within_its_bound() {
    let mut world = World::new();
    // Room for two programs' 8-page pieces, not three.
    world.store.set_cache_pages(2 * CODE.pages);
    let programs = [CODE, TextKey { program: 0xbeef, ..CODE }, TextKey { program: 0xcafe, ..CODE }];
    for (index, &key) in programs.iter().enumerate() {
        world.load(key, SpaceId(index as u64 + 1), 0).unwrap();
    }
    // Ended in the order 2, 1, 3: the piece unused longest (the second
    // program's) goes when the third's is cached.
    assert_eq!(world.end(SpaceId(2)), 0);
    assert_eq!(world.end(SpaceId(1)), 0);
    assert_eq!(world.end(SpaceId(3)), 1);
    assert_eq!(world.store.len(), 2);
    assert_eq!(world.store.cached(&world.vass).0, 2 * CODE.pages);
    assert_eq!(world.frames.in_use, 2 * CODE.pages as usize);
    assert!(!world.load(CODE, SpaceId(4), 0).unwrap().2, "the first program's text was kept");
    assert!(world.load(programs[1], SpaceId(5), 0).unwrap().2, "the second's was not: loaded afresh");
    // Reviving a piece makes it the newest: the third program's goes next.
    world.store.set_cache_pages(CODE.pages);
    assert_eq!(world.end(SpaceId(4)), 1);
    assert!(!world.load(CODE, SpaceId(6), 0).unwrap().2);
    assert!(world.load(programs[2], SpaceId(7), 0).unwrap().2);
}

#[test]
fn instances_cannot_write_destroy_or_widen_their_text() {
    let mut world = World::new();
    let (view, range, _) = world.load(CODE, SpaceId(1), 0).unwrap();
    let _ = world.load(CODE, SpaceId(2), 0).unwrap();
    assert_eq!(world.vass.fault(SpaceId(1), range.start, Access::Write, &mut world.mmu, &mut world.frames).outcome, FaultOutcome::RightsViolation);
    assert_eq!(world.vass.destroy(SpaceId(1), view, &mut world.mmu, &mut world.frames).err(), Some(VassError::Sealed));
    let widened = world.vass.protect(SpaceId(1), view, Rights::READ | Rights::WRITE | Rights::EXECUTE, &mut world.mmu);
    assert_eq!(widened, Err(VassError::RightsEscalation));
    // Narrowing its own mapping is the instance's business only.
    world.vass.protect(SpaceId(1), view, Rights::READ, &mut world.mmu).unwrap();
    assert_eq!(world.mmu.translate(SpaceId(2), range.start).map(|(_, rights)| rights), Some(RX));
    world.check();
    // Only what no instance can change is held.
    let data = TextKey { rights: Rights::READ | Rights::WRITE, ..CODE };
    assert_eq!(world.store.hold(&mut world.vass, data, &mut world.mmu, &mut world.frames).err(), Some(VassError::RightsEscalation));
}

#[test]
fn different_programs_and_pieces_are_held_apart() {
    let mut world = World::uncached();
    let other = TextKey { program: 0xbeef, ..CODE };
    let constants = TextKey { at: 0x400, pages: 1, rights: Rights::READ, ..CODE };
    let (_, code, _) = world.load(CODE, SpaceId(1), 100).unwrap();
    assert!(world.load(constants, SpaceId(1), 500).unwrap().2);
    assert!(world.load(other, SpaceId(2), 700).unwrap().2, "another program's text at the same address is its own");
    assert_eq!(world.store.len(), 3);
    assert_ne!(world.frame(SpaceId(1), code.start), world.frame(SpaceId(2), code.start));
    assert_eq!(world.read(SpaceId(2), code.start).1, Some(700));
    assert_eq!(world.read(SpaceId(1), 0x400).1, Some(500));
    assert_eq!(world.mmu.translate(SpaceId(1), 0x400).map(|(_, rights)| rights), Some(Rights::READ));
    assert_eq!(world.end(SpaceId(1)), 2);
    assert_eq!(world.end(SpaceId(2)), 1);
    assert_eq!(world.frames.in_use, 0);
}

#[test]
fn a_load_that_cannot_map_leaves_nothing_behind() {
    let mut world = World::new();
    // The instance already has something where its text goes.
    world.vass.create(SpaceId(1), 2, PartitionKind::Data, Rights::READ, Some(CODE.at + 2), IMAGE).unwrap();
    assert_eq!(world.load(CODE, SpaceId(1), 0).err(), Some(VassError::Overlap));
    assert_eq!(world.vass.partitions_of(SpaceId(1)).count(), 1, "no view stays");
    assert!(world.store.is_empty(), "the fresh piece goes with the failed load, not into the cache");
    assert_eq!(world.end(SpaceId(1)), 0);
    assert_eq!(world.frames.in_use, 0);
    // Out of frames while filling the piece: nothing is held.
    let mut world = World { frames: SimulatedFrames::with_huge(4, 0), ..World::new() };
    assert_eq!(world.load(CODE, SpaceId(1), 0).err(), Some(VassError::OutOfFrames));
    assert!(world.store.is_empty());
    assert_eq!(world.frames.in_use, 0);
}

#[test]
fn the_global_budget_evicts_shared_text_from_every_instance_and_a_fault_brings_it_back_for_all() {
    let mut world = World::new();
    world.frames.swap_slots = 64;
    world.vass.set_swap_slots(64).unwrap();
    let (_, range, _) = world.load(CODE, SpaceId(1), 100).unwrap();
    world.load(CODE, SpaceId(2), 0).unwrap();
    // A third process's data pushes the system over its budget: the store
    // holds the most pages, so its text goes first.
    world.vass.set_global_budget(Some(CODE.pages + 2));
    let (data, data_range) = world.vass.create(SpaceId(3), 4, PartitionKind::Data, Rights::READ | Rights::WRITE, None, IMAGE).unwrap();
    for page in data_range.start..data_range.end {
        let outcome = world.vass.fault(SpaceId(3), page, Access::Write, &mut world.mmu, &mut world.frames).outcome;
        assert_eq!(outcome, FaultOutcome::Committed, "page {page:#x} of {data:?}");
        world.check();
    }
    let gone: Vec<Page> = (range.start..range.end).filter(|&page| world.frame(SpaceId(1), page).is_none()).collect();
    assert_eq!(gone.len(), 2, "two text pages made room");
    for &page in &gone {
        assert_eq!(world.frame(SpaceId(2), page), None, "unmapped from every instance");
    }
    // Instance 2 faults it back from swap; instance 1 then maps the same frame.
    let page = gone[0];
    assert_eq!(world.read(SpaceId(2), page), (FaultOutcome::SwappedIn, Some(100 + page - range.start)));
    assert_eq!(world.read(SpaceId(1), page), (FaultOutcome::Mapped, Some(100 + page - range.start)));
    assert_eq!(world.frame(SpaceId(1), page), world.frame(SpaceId(2), page));
}
