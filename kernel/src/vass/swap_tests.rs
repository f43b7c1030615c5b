//! Host tests of budgets, eviction and swap: contents survive eviction and
//! swap-in, clean pages are not written again, a full device or a failing
//! one loses nothing it should not, and a model check of random sequences.

use crate::vass::swap::Slot;
use super::sim::*;
use super::swap::{Backing, SwapEntry};
use super::*;
use abi::Rights;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use proptest::prelude::*;

const WINDOW: Window = Window { start: 0x100, end: 0x10_0000 };
const RW: Rights = Rights::READ.union(Rights::WRITE);

/// A VASS with a swap device of `slots` slots and `frames` frames (no 2 MiB
/// runs), and one 64-page heap partition in space 1 under `budget`.
fn setup(slots: u64, frames: u64, budget: Option<u64>) -> (Vass, SimulatedMmu, SimulatedFrames, PartitionId, PageRange) {
    let mut vass = Vass::new();
    let mut pool = SimulatedFrames::with_huge(frames, 0);
    pool.swap_slots = slots;
    vass.set_swap_slots(slots).unwrap();
    let (id, range) = vass.create(SpaceId(1), 64, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.set_budget(SpaceId(1), budget);
    (vass, SimulatedMmu::default(), pool, id, range)
}

/// The program writes `value` to `page`: a fault if needed, then the store.
fn write(vass: &mut Vass, mmu: &mut SimulatedMmu, frames: &mut SimulatedFrames, page: Page, value: u64) -> FaultOutcome {
    let outcome = if mmu.translate(SpaceId(1), page).is_some() {
        FaultOutcome::AlreadyCommitted
    } else {
        vass.fault(SpaceId(1), page, Access::Write, mmu, frames).outcome
    };
    if let Some((frame, _)) = mmu.translate(SpaceId(1), page) {
        mmu.write(SpaceId(1), page);
        frames.contents.insert(frame, value);
    }
    outcome
}

/// The program reads `page`: a fault if needed, then the load (`None` if
/// the page could not be made present).
fn read(vass: &mut Vass, mmu: &mut SimulatedMmu, frames: &mut SimulatedFrames, page: Page) -> (FaultOutcome, Option<u64>) {
    let outcome = if mmu.translate(SpaceId(1), page).is_some() {
        FaultOutcome::AlreadyCommitted
    } else {
        vass.fault(SpaceId(1), page, Access::Read, mmu, frames).outcome
    };
    let value = mmu.translate(SpaceId(1), page).map(|(frame, _)| {
        mmu.touch(SpaceId(1), page);
        frames.contents.get(&frame).copied().unwrap_or(0)
    });
    (outcome, value)
}

fn writes(frames: &SimulatedFrames) -> usize {
    frames.swap_log.iter().filter(|(write, _)| *write).count()
}

#[test]
fn a_budget_evicts_to_swap_and_every_byte_comes_back() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(4));
    for (index, page) in (range.start..range.start + 16).enumerate() {
        assert_eq!(write(&mut vass, &mut mmu, &mut frames, page, 1000 + index as u64), FaultOutcome::Committed);
        vass.check_invariants(&mmu, &frames).unwrap();
    }
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.committed.len(), 4, "the budget holds");
    assert_eq!(partition.swapped.len(), 12, "the rest went to swap");
    assert_eq!(frames.in_use, 4);
    for (index, page) in (range.start..range.start + 16).enumerate() {
        let (outcome, value) = read(&mut vass, &mut mmu, &mut frames, page);
        assert_eq!(value, Some(1000 + index as u64), "page {index}");
        assert!(matches!(outcome, FaultOutcome::SwappedIn | FaultOutcome::AlreadyCommitted));
        vass.check_invariants(&mmu, &frames).unwrap();
    }
    let counters = vass.space_counters(SpaceId(1)).unwrap();
    assert_eq!(counters.faults_demand, 16, "first touches");
    assert!(counters.faults_major >= 12, "re-faults read swap back: {counters:?}");
    assert_eq!(counters.swap_ins, counters.faults_major);
    assert_eq!(counters.committed, 4);
    assert!(vass.partition(id).unwrap().counters.major_faults >= 12);
    // Destroying the space gives every slot back.
    vass.destroy_space(SpaceId(1), &mut mmu, &mut frames);
    assert_eq!(vass.swap_usage(), (0, 64, 0));
    assert_eq!(frames.in_use, 0);
}

#[test]
fn clean_pages_are_not_written_twice_and_zero_pages_not_at_all() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(2));
    let (a, b, c, d) = (range.start, range.start + 1, range.start + 2, range.start + 3);
    // Read-only touches: zero pages, dropped when evicted.
    for page in [a, b, c] {
        read(&mut vass, &mut mmu, &mut frames, page);
    }
    assert_eq!(writes(&frames), 0, "zero pages are never written");
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().evictions, 1);
    assert!(vass.partition(id).unwrap().swapped.is_empty(), "a dropped zero page is not on the device");
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, a).0, FaultOutcome::Committed, "it comes back as a fresh zero page");
    // A written page is written once; read back and evicted clean, it is
    // not written again: the slot still holds it.
    write(&mut vass, &mut mmu, &mut frames, d, 7);
    read(&mut vass, &mut mmu, &mut frames, b);
    read(&mut vass, &mut mmu, &mut frames, c);
    assert_eq!(writes(&frames), 1);
    assert!(matches!(vass.partition(id).unwrap().swapped.get(&d), Some(SwapEntry { .. })));
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, d), (FaultOutcome::SwappedIn, Some(7)));
    assert!(matches!(vass.partition(id).unwrap().backing.get(&d), Some(Backing::Copy(_))), "the slot keeps a copy");
    read(&mut vass, &mut mmu, &mut frames, a);
    read(&mut vass, &mut mmu, &mut frames, b);
    assert_eq!(writes(&frames), 1, "evicted clean: not written again");
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, d), (FaultOutcome::SwappedIn, Some(7)));
    // Written again: the same slot is rewritten.
    write(&mut vass, &mut mmu, &mut frames, d, 8);
    read(&mut vass, &mut mmu, &mut frames, a);
    read(&mut vass, &mut mmu, &mut frames, b);
    assert_eq!(writes(&frames), 2);
    assert_eq!(vass.swap_usage().0, 1, "one slot for the page all along");
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, d), (FaultOutcome::SwappedIn, Some(8)));
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn loaded_pages_are_written_out_though_the_page_table_says_clean() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(2));
    vass.populate(SpaceId(1), id, PageRange::new(range.start, range.start + 2), &mut mmu, &mut frames).unwrap();
    for page in range.start..range.start + 2 {
        let (frame, _) = mmu.translate(SpaceId(1), page).unwrap();
        frames.contents.insert(frame, page * 3);
    }
    read(&mut vass, &mut mmu, &mut frames, range.start + 5);
    assert_eq!(writes(&frames), 1, "the loader's contents exist nowhere else");
    for page in range.start..range.start + 2 {
        assert_eq!(read(&mut vass, &mut mmu, &mut frames, page).1, Some(page * 3));
    }
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn a_full_device_refuses_the_new_page_and_loses_nothing() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(2, 256, Some(2));
    for (index, page) in (range.start..range.start + 4).enumerate() {
        assert_eq!(write(&mut vass, &mut mmu, &mut frames, page, 50 + index as u64), FaultOutcome::Committed);
    }
    // Two pages resident, two on the full device: a fifth page has no room.
    assert_eq!(write(&mut vass, &mut mmu, &mut frames, range.start + 4, 99), FaultOutcome::OutOfFrames);
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().faults_oom, 1);
    vass.check_invariants(&mmu, &frames).unwrap();
    assert_eq!(vass.partition(id).unwrap().committed.len() + vass.partition(id).unwrap().swapped.len(), 4);
    // Nothing was lost: the resident pages read directly; freeing one makes
    // room to read the others back one at a time.
    vass.decommit(SpaceId(1), id, PageRange::new(range.start + 2, range.start + 4), &mut mmu, &mut frames).unwrap();
    for (index, page) in (range.start..range.start + 2).enumerate() {
        assert_eq!(read(&mut vass, &mut mmu, &mut frames, page).1, Some(50 + index as u64));
    }
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn a_corrupt_slot_loses_only_its_page_and_is_quarantined() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(8, 256, Some(1));
    write(&mut vass, &mut mmu, &mut frames, range.start, 11);
    write(&mut vass, &mut mmu, &mut frames, range.start + 1, 22);
    write(&mut vass, &mut mmu, &mut frames, range.start + 2, 33);
    let entry = *vass.partition(id).unwrap().swapped.get(&range.start).unwrap();
    // Corrupt the device behind the engine's back.
    *frames.swap.get_mut(&entry.slot).unwrap() ^= 1;
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, range.start), (FaultOutcome::SwapFailed, None));
    let reads = frames.swap_log.len();
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, range.start).0, FaultOutcome::SwapFailed, "still lost");
    assert_eq!(frames.swap_log.len(), reads, "a quarantined slot is not read again");
    assert_eq!(vass.swap_usage().2, 1, "the slot is quarantined");
    let counters = vass.space_counters(SpaceId(1)).unwrap();
    assert_eq!((counters.faults_swap_failed, counters.swap_errors), (2, 1));
    vass.check_invariants(&mmu, &frames).unwrap();
    // The other pages are intact.
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, range.start + 1).1, Some(22));
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, range.start + 2).1, Some(33));
    vass.destroy_space(SpaceId(1), &mut mmu, &mut frames);
    assert_eq!(vass.swap_usage(), (0, 8, 1), "every slot back but the quarantined one");
}

#[test]
fn a_failing_write_keeps_the_page_and_another_one_goes() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(8, 256, Some(2));
    write(&mut vass, &mut mmu, &mut frames, range.start, 1);
    write(&mut vass, &mut mmu, &mut frames, range.start + 1, 2);
    frames.failing.insert(Slot(0));
    assert_eq!(write(&mut vass, &mut mmu, &mut frames, range.start + 2, 3), FaultOutcome::Committed);
    let counters = vass.space_counters(SpaceId(1)).unwrap();
    assert_eq!((counters.swap_errors, counters.swap_outs), (1, 1));
    assert_eq!(vass.swap_usage(), (1, 8, 1));
    vass.check_invariants(&mmu, &frames).unwrap();
    for (index, page) in (range.start..range.start + 3).enumerate() {
        assert_eq!(read(&mut vass, &mut mmu, &mut frames, page).1, Some(index as u64 + 1));
    }
    let _ = id;
}

#[test]
fn swapped_pages_are_prefetched_by_commits_ahead_without_pushing_out_pages_in_use() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(4));
    for (index, page) in (range.start..range.start + 8).enumerate() {
        write(&mut vass, &mut mmu, &mut frames, page, 70 + index as u64);
    }
    // Pages 4..8 are resident and were just used; 0..4 are on swap.
    let used: Vec<Page> = (range.start + 4..range.start + 8).collect();
    for &page in &used {
        mmu.touch(SpaceId(1), page);
    }
    let prefetch = PageRange::new(range.start, range.start + 4);
    assert_eq!(vass.commit(SpaceId(1), id, prefetch, &mut mmu, &mut frames), Err(VassError::OutOfFrames), "no page in use may go");
    assert!(used.iter().all(|page| vass.partition(id).unwrap().committed.contains_key(page)));
    // Once the hand has cleared their bits, inactive pages make room.
    for &page in &used {
        let _ = mmu.clear_accessed(SpaceId(1), page);
    }
    assert_eq!(vass.commit(SpaceId(1), id, prefetch, &mut mmu, &mut frames), Ok(4));
    let counters = vass.space_counters(SpaceId(1)).unwrap();
    assert_eq!(counters.swap_ins, 4, "the prefetch read them back");
    assert_eq!(counters.ahead_commits, 4);
    for (index, page) in (range.start..range.start + 4).enumerate() {
        assert_eq!(read(&mut vass, &mut mmu, &mut frames, page), (FaultOutcome::AlreadyCommitted, Some(70 + index as u64)));
    }
    assert_eq!(vass.sample_untouched(SpaceId(1), &mut mmu), 4);
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().hits, 4);
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn prefetched_pages_nobody_touched_are_evicted_first() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(4));
    write(&mut vass, &mut mmu, &mut frames, range.start, 1);
    write(&mut vass, &mut mmu, &mut frames, range.start + 1, 2);
    vass.commit(SpaceId(1), id, PageRange::new(range.start + 10, range.start + 12), &mut mmu, &mut frames).unwrap();
    // The next fault evicts a prefetched page, not a page in use.
    write(&mut vass, &mut mmu, &mut frames, range.start + 2, 3);
    let partition = vass.partition(id).unwrap();
    assert!(partition.committed.contains_key(&range.start) && partition.committed.contains_key(&(range.start + 1)));
    let counters = vass.space_counters(SpaceId(1)).unwrap();
    assert_eq!((counters.evicted_untouched, counters.waste), (1, 1));
    vass.check_invariants(&mmu, &frames).unwrap();
}

/// The sampler's scan of space 1, after the program touched `used`.
fn scan(vass: &mut Vass, mmu: &mut SimulatedMmu, used: &[Page]) {
    for &page in used {
        mmu.touch(SpaceId(1), page);
    }
    vass.sample_accessed(SpaceId(1), mmu, |_, _| {});
}

#[test]
fn advised_cold_pages_are_swapped_out_first_and_come_back() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(8));
    for (index, page) in (range.start..range.start + 8).enumerate() {
        write(&mut vass, &mut mmu, &mut frames, page, 500 + index as u64);
    }
    // The last two pages are held cold although they were used last.
    let cold = PageRange::new(range.start + 6, range.start + 8);
    assert_eq!(vass.advise(SpaceId(1), id, cold, Advice::Cold, &mut mmu, &mut frames), Ok(0));
    assert_eq!(vass.partition(id).unwrap().cold_pages(), 2);
    write(&mut vass, &mut mmu, &mut frames, range.start + 8, 508);
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.swapped.keys().copied().collect::<Vec<_>>(), [range.start + 6, range.start + 7], "both cold pages went, nothing else");
    assert!((range.start..range.start + 6).all(|page| partition.committed.contains_key(&page)));
    // A cold page touched again loses its mark; its contents are intact.
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, range.start + 7), (FaultOutcome::SwappedIn, Some(507)));
    assert_eq!(vass.partition(id).unwrap().cold_pages(), 1);
    vass.check_invariants(&mmu, &frames).unwrap();
    // Normal advice forgets the mark.
    vass.advise(SpaceId(1), id, range, Advice::Normal, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.partition(id).unwrap().cold_pages(), 0);
}

#[test]
fn a_cold_page_used_again_is_spared() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(4));
    for page in range.start..range.start + 4 {
        write(&mut vass, &mut mmu, &mut frames, page, page);
    }
    vass.advise(SpaceId(1), id, PageRange::new(range.start, range.start + 2), Advice::Cold, &mut mmu, &mut frames).unwrap();
    mmu.touch(SpaceId(1), range.start);
    write(&mut vass, &mut mmu, &mut frames, range.start + 4, 0);
    let partition = vass.partition(id).unwrap();
    assert!(partition.committed.contains_key(&range.start), "accessed since the advice: not evicted");
    assert!(partition.swapped.contains_key(&(range.start + 1)));
}

#[test]
fn a_partition_observed_cold_is_swapped_out_whole_before_warm_pages() {
    for cold_first in [true, false] {
        let (mut vass, mut mmu, mut frames, idle, idle_range) = setup(128, 256, None);
        if !cold_first {
            vass.set_eviction(Eviction::Clock);
        }
        let (warm, warm_range) = vass.create(SpaceId(1), 64, PartitionKind::Heap, RW, None, WINDOW).unwrap();
        for page in (idle_range.start..idle_range.start + 40).chain(warm_range.start..warm_range.start + 8) {
            write(&mut vass, &mut mmu, &mut frames, page, page);
        }
        let warm_pages: Vec<Page> = (warm_range.start..warm_range.start + 8).collect();
        // The first scan sees (and clears) the writes.
        scan(&mut vass, &mut mmu, &warm_pages);
        assert_eq!(vass.partition(idle).unwrap().idle_scans, 0);
        for _ in 0..COLD_SCANS {
            assert!(!vass.partition(idle).unwrap().observed_cold());
            scan(&mut vass, &mut mmu, &warm_pages);
        }
        assert!(vass.partition(idle).unwrap().observed_cold());
        assert!(!vass.partition(warm).unwrap().observed_cold());
        assert_eq!(vass.partition(idle).unwrap().idle_scans, COLD_SCANS);
        // The warm pages are in use again; memory gets short.
        for &page in &warm_pages {
            mmu.touch(SpaceId(1), page);
        }
        vass.set_budget(SpaceId(1), Some(48));
        write(&mut vass, &mut mmu, &mut frames, warm_range.start + 8, 1);
        let (idle_partition, warm_partition) = (vass.partition(idle).unwrap(), vass.partition(warm).unwrap());
        if cold_first {
            assert_eq!(idle_partition.swapped.len() as u64, COLD_CLUSTER, "a cluster of the cold partition left at once");
            assert_eq!(warm_partition.swapped.len(), 0);
        } else {
            assert_eq!(idle_partition.swapped.len() + warm_partition.swapped.len(), 1, "CLOCK evicts one page");
        }
        // Memory gets shorter: the rest of the cold partition goes next,
        // before any warm page.
        vass.set_budget(SpaceId(1), Some(20));
        for page in warm_range.start + 9..warm_range.start + 20 {
            write(&mut vass, &mut mmu, &mut frames, page, page);
        }
        if cold_first {
            assert_eq!(vass.partition(idle).unwrap().committed.len(), 0, "the cold partition is out whole");
            assert!(warm_pages.iter().all(|page| vass.partition(warm).unwrap().committed.contains_key(page)));
        }
        // Every byte of the idle partition comes back.
        vass.set_budget(SpaceId(1), None);
        for page in idle_range.start..idle_range.start + 40 {
            assert_eq!(read(&mut vass, &mut mmu, &mut frames, page).1, Some(page));
        }
        assert_eq!(vass.partition(idle).unwrap().idle_scans, 0, "a fault makes it warm again");
        vass.check_invariants(&mmu, &frames).unwrap();
    }
}

#[test]
fn without_scans_no_partition_is_observed_cold() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(4));
    for page in range.start..range.start + 8 {
        write(&mut vass, &mut mmu, &mut frames, page, page);
    }
    assert!(!vass.partition(id).unwrap().observed_cold(), "a partition the sampler never looked at is not cold");
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().evictions, 4, "CLOCK, one page per fault");
}

#[test]
fn page_out_swaps_a_range_now_and_splits_2mib_pages() {
    let mut vass = Vass::new();
    let mut mmu = SimulatedMmu::default();
    let mut frames = SimulatedFrames::with_huge(2048, 4);
    frames.swap_slots = 1024;
    vass.set_swap_slots(1024).unwrap();
    let (id, range) = vass.create(SpaceId(1), 1024, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    let block = range.start.next_multiple_of(HUGE_PAGES);
    vass.commit(SpaceId(1), id, PageRange::new(block, block + HUGE_PAGES), &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.partition(id).unwrap().huge.len(), 1);
    let (frame, _) = mmu.translate(SpaceId(1), block + 3).unwrap();
    mmu.write(SpaceId(1), block + 3);
    frames.contents.insert(frame, 33);
    let out = PageRange::new(block, block + 16);
    assert_eq!(vass.advise(SpaceId(1), id, out, Advice::PageOut, &mut mmu, &mut frames), Ok(16));
    let partition = vass.partition(id).unwrap();
    assert!(partition.huge.is_empty(), "the 2 MiB page was split");
    assert_eq!(partition.committed.len() as u64, HUGE_PAGES - 16);
    // One page table bit said the 2 MiB page was written: which 4 KiB
    // pieces hold data is unknown, so every piece is written out.
    assert_eq!(partition.swapped.len(), 16);
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().swap_outs, 16);
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().evictions, 16);
    assert_eq!(vass.partition(id).unwrap().counters.evictions, 16);
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, block + 3), (FaultOutcome::SwappedIn, Some(33)));
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, block + 4), (FaultOutcome::SwappedIn, Some(0)));
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn page_out_on_a_full_device_keeps_what_cannot_go() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(2, 256, None);
    for page in range.start..range.start + 4 {
        write(&mut vass, &mut mmu, &mut frames, page, page);
    }
    assert_eq!(vass.advise(SpaceId(1), id, PageRange::new(range.start, range.start + 4), Advice::PageOut, &mut mmu, &mut frames), Ok(2));
    for page in range.start..range.start + 4 {
        assert_eq!(read(&mut vass, &mut mmu, &mut frames, page).1, Some(page));
    }
    vass.check_invariants(&mmu, &frames).unwrap();
}

/// Space `space` writes `value` to `page` (a fault if needed, then the store).
fn write_in(vass: &mut Vass, mmu: &mut SimulatedMmu, frames: &mut SimulatedFrames, space: SpaceId, page: Page, value: u64) -> FaultOutcome {
    let outcome = if mmu.translate(space, page).is_some() { FaultOutcome::AlreadyCommitted } else { vass.fault(space, page, Access::Write, mmu, frames).outcome };
    if let Some((frame, _)) = mmu.translate(space, page) {
        mmu.write(space, page);
        frames.contents.insert(frame, value);
    }
    outcome
}

/// Page tables that reach only space 1 (as the kernel's own-process
/// tables do).
struct OnlySpaceOne<'a>(&'a mut SimulatedMmu);

impl PageTable for OnlySpaceOne<'_> {
    type Walk<'a>
        = <SimulatedMmu as PageTable>::Walk<'a>
    where
        Self: 'a;
    type Cursor<'a>
        = <SimulatedMmu as PageTable>::Cursor<'a>
    where
        Self: 'a;
    fn walk(&self, space: SpaceId, pages: PageRange) -> Option<Self::Walk<'_>> {
        // Reading reaches every space (as the checker needs); changing, one.
        self.0.walk(space, pages)
    }
    fn cursor(&mut self, space: SpaceId, pages: PageRange) -> Option<Self::Cursor<'_>> {
        self.0.cursor(space, pages).filter(|_| space == SpaceId(1))
    }
    fn reaches(&self, space: SpaceId) -> bool {
        space == SpaceId(1)
    }
}

#[test]
fn under_the_global_budget_the_largest_space_pays_and_a_new_one_gets_its_page() {
    let (mut vass, mut mmu, mut frames, _, range) = setup(64, 256, None);
    let (_, big) = vass.create(SpaceId(2), 64, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.set_global_budget(Some(20));
    for page in big.start..big.start + 20 {
        assert_eq!(write_in(&mut vass, &mut mmu, &mut frames, SpaceId(2), page, page), FaultOutcome::Committed);
    }
    // Space 1 has nothing committed: the global budget is full, and the
    // big space gives a page up for it.
    for page in range.start..range.start + 4 {
        assert_eq!(write_in(&mut vass, &mut mmu, &mut frames, SpaceId(1), page, 7), FaultOutcome::Committed);
    }
    let committed = |vass: &Vass, space| vass.space_counters(space).unwrap().committed;
    assert_eq!((committed(&vass, SpaceId(1)), committed(&vass, SpaceId(2))), (4, 16), "the largest paid for each page");
    assert_eq!(vass.space_counters(SpaceId(2)).unwrap().evictions, 4);
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().evictions, 0);
    vass.check_invariants(&mmu, &frames).unwrap();
    // Through tables that cannot reach space 2, space 1 gives up a page
    // of its own instead.
    let mut only = OnlySpaceOne(&mut mmu);
    assert_eq!(vass.fault(SpaceId(1), range.start + 4, Access::Write, &mut only, &mut frames).outcome, FaultOutcome::Committed);
    assert_eq!((committed(&vass, SpaceId(1)), committed(&vass, SpaceId(2))), (4, 16), "space 1 evicted its own page");
    assert_eq!(vass.space_counters(SpaceId(1)).unwrap().evictions, 1);
    vass.check_invariants(&mmu, &frames).unwrap();
    // Every byte of space 2 comes back.
    vass.set_global_budget(None);
    for page in big.start..big.start + 20 {
        let outcome = if mmu.translate(SpaceId(2), page).is_some() { FaultOutcome::AlreadyCommitted } else { vass.fault(SpaceId(2), page, Access::Read, &mut mmu, &mut frames).outcome };
        assert_ne!(outcome, FaultOutcome::SwapFailed);
        let (frame, _) = mmu.translate(SpaceId(2), page).unwrap();
        assert_eq!(frames.contents.get(&frame).copied(), Some(page));
    }
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn when_frames_run_out_the_largest_space_pays() {
    let (mut vass, mut mmu, mut frames, _, range) = setup(64, 12, None);
    let (_, big) = vass.create(SpaceId(2), 64, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    for page in big.start..big.start + 12 {
        write_in(&mut vass, &mut mmu, &mut frames, SpaceId(2), page, page);
    }
    assert_eq!(frames.in_use, 12);
    assert_eq!(vass.fault(SpaceId(1), range.start, Access::Write, &mut mmu, &mut frames).outcome, FaultOutcome::Committed);
    assert_eq!(vass.space_counters(SpaceId(2)).unwrap().evictions, 1);
    // Through tables that reach only space 1, the next fault evicts the
    // one page space 1 has.
    let mut only = OnlySpaceOne(&mut mmu);
    assert_eq!(vass.fault(SpaceId(1), range.start + 1, Access::Write, &mut only, &mut frames).outcome, FaultOutcome::Committed);
    assert_eq!(vass.space_counters(SpaceId(2)).unwrap().evictions, 1, "space 2 was out of reach");
    vass.check_invariants(&mmu, &frames).unwrap();
}

/// Belady's oracle over a fixed future.
struct Future(Vec<Page>);

impl NextUse for Future {
    fn next_use(&self, _space: SpaceId, page: Page) -> u64 {
        self.0.iter().position(|&p| p == page).map_or(u64::MAX, |at| at as u64)
    }
}

#[test]
fn belady_evicts_the_page_used_farthest_ahead() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(3));
    let [a, b, c, d] = [0, 1, 2, 3].map(|offset| range.start + offset);
    for page in [a, b, c] {
        write(&mut vass, &mut mmu, &mut frames, page, page);
    }
    vass.set_replacement(alloc::boxed::Box::new(crate::vass::replacement::Belady(alloc::boxed::Box::new(Future(alloc::vec![b, a, d, c])))));
    write(&mut vass, &mut mmu, &mut frames, d, d);
    let partition = vass.partition(id).unwrap();
    assert!(partition.swapped.contains_key(&c), "c is used last: it goes");
    assert_eq!(partition.committed.len(), 3);
}

#[test]
fn no_2mib_pages_under_a_budget() {
    let mut vass = Vass::new();
    let mut mmu = SimulatedMmu::default();
    let mut frames = SimulatedFrames::with_huge(2048, 4);
    let (id, range) = vass.create(SpaceId(1), 1024, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    vass.set_budget(SpaceId(1), Some(4096));
    let block = range.start.next_multiple_of(HUGE_PAGES);
    vass.commit(SpaceId(1), id, PageRange::new(block, block + HUGE_PAGES), &mut mmu, &mut frames).unwrap();
    assert!(vass.partition(id).unwrap().huge.is_empty(), "every page stays evictable on its own");
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[derive(Clone, Debug)]
enum Operation {
    Write { page: u64, value: u64 },
    Read { page: u64 },
    Commit { offset: u64, pages: u64 },
    Decommit { offset: u64, pages: u64 },
    Clear { page: u64 },
    Budget { pages: u64 },
    Fail { slot: u64 },
    Cold { offset: u64, pages: u64 },
    PageOut { offset: u64, pages: u64 },
    Lock { offset: u64, pages: u64 },
    Unlock { offset: u64, pages: u64 },
    Scan,
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        4 => (0..40u64, 1..1000u64).prop_map(|(page, value)| Operation::Write { page, value }),
        3 => (0..40u64).prop_map(|page| Operation::Read { page }),
        1 => (0..40u64, 1..8u64).prop_map(|(offset, pages)| Operation::Commit { offset, pages }),
        1 => (0..40u64, 1..6u64).prop_map(|(offset, pages)| Operation::Decommit { offset, pages }),
        1 => (0..40u64).prop_map(|page| Operation::Clear { page }),
        1 => (2..12u64).prop_map(|pages| Operation::Budget { pages }),
        1 => (0..24u64).prop_map(|slot| Operation::Fail { slot }),
        1 => (0..40u64, 1..8u64).prop_map(|(offset, pages)| Operation::Cold { offset, pages }),
        1 => (0..40u64, 1..8u64).prop_map(|(offset, pages)| Operation::PageOut { offset, pages }),
        1 => (0..40u64, 1..3u64).prop_map(|(offset, pages)| Operation::Lock { offset, pages }),
        1 => (0..40u64, 1..8u64).prop_map(|(offset, pages)| Operation::Unlock { offset, pages }),
        1 => Just(Operation::Scan),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Under random budgets, accesses, prefetches, decommits, cold,
    /// page-out, lock and unlock advice, accessed-bit scans and device
    /// errors: every page reads what was last written to it (zero after a
    /// decommit), except pages the engine reported lost; a committed page
    /// that stays locked stays committed; and every invariant holds after
    /// every step.
    #[test]
    fn contents_survive_eviction_and_swap(operations in proptest::collection::vec(operation(), 1..120)) {
        let (mut vass, mut mmu, mut frames, id, range) = setup(24, 4096, Some(6));
        let mut expected: BTreeMap<Page, u64> = BTreeMap::new();
        let mut lost: alloc::collections::BTreeSet<Page> = alloc::collections::BTreeSet::new();
        for operation in operations {
            let held: Vec<Page> = {
                let partition = vass.partition(id).unwrap();
                partition.committed.keys().copied().filter(|&page| partition.is_locked(page)).collect()
            };
            match operation {
                Operation::Write { page, value } => {
                    let page = range.start + page;
                    let outcome = write(&mut vass, &mut mmu, &mut frames, page, value);
                    match outcome {
                        FaultOutcome::SwapFailed => prop_assert!(lost.contains(&page) || vass.swap_usage().2 > 0),
                        FaultOutcome::OutOfFrames => {}
                        _ => {
                            expected.insert(page, value);
                            lost.remove(&page);
                        }
                    }
                    if outcome == FaultOutcome::SwapFailed {
                        lost.insert(page);
                    }
                }
                Operation::Read { page } => {
                    let page = range.start + page;
                    let (outcome, value) = read(&mut vass, &mut mmu, &mut frames, page);
                    match outcome {
                        FaultOutcome::SwapFailed => {
                            lost.insert(page);
                        }
                        FaultOutcome::OutOfFrames => prop_assert!(value.is_none()),
                        _ if !lost.contains(&page) => {
                            prop_assert_eq!(value, Some(expected.get(&page).copied().unwrap_or(0)), "page {:#x}", page);
                        }
                        _ => {}
                    }
                }
                Operation::Commit { offset, pages } => {
                    let start = range.start + offset;
                    let ahead = PageRange::new(start, (start + pages).min(range.end));
                    if vass.commit(SpaceId(1), id, ahead, &mut mmu, &mut frames) == Err(VassError::SwapFailed) {
                        // The prefetch stopped at the page it could not read
                        // back: the first of the range still swapped out.
                        let failed = vass.partition(id).unwrap().swapped.range(ahead.start..ahead.end).next().map(|(&page, _)| page);
                        lost.insert(failed.expect("a failed prefetch leaves its page swapped"));
                    }
                }
                Operation::Decommit { offset, pages } => {
                    let start = range.start + offset;
                    let cut = PageRange::new(start, (start + pages).min(range.end));
                    vass.decommit(SpaceId(1), id, cut, &mut mmu, &mut frames).unwrap();
                    for page in cut.start..cut.end {
                        expected.remove(&page);
                        lost.remove(&page);
                    }
                }
                Operation::Clear { page } => {
                    let _ = mmu.clear_accessed(SpaceId(1), range.start + page);
                }
                Operation::Budget { pages } => vass.set_budget(SpaceId(1), Some(pages)),
                Operation::Fail { slot } => {
                    frames.failing.insert(Slot(slot));
                }
                Operation::Cold { offset, pages } | Operation::PageOut { offset, pages } => {
                    let start = range.start + offset;
                    let advice = if matches!(operation, Operation::Cold { .. }) { Advice::Cold } else { Advice::PageOut };
                    vass.advise(SpaceId(1), id, PageRange::new(start, (start + pages).min(range.end)), advice, &mut mmu, &mut frames).unwrap();
                }
                Operation::Lock { offset, pages } | Operation::Unlock { offset, pages } => {
                    let start = range.start + offset;
                    let advice = if matches!(operation, Operation::Lock { .. }) { Advice::Lock } else { Advice::Unlock };
                    vass.advise(SpaceId(1), id, PageRange::new(start, (start + pages).min(range.end)), advice, &mut mmu, &mut frames).unwrap();
                }
                Operation::Scan => {
                    vass.sample_accessed(SpaceId(1), &mut mmu, |_, _| {});
                }
            }
            if !matches!(operation, Operation::Decommit { .. }) {
                let partition = vass.partition(id).unwrap();
                for page in held.into_iter().filter(|&page| partition.is_locked(page)) {
                    prop_assert!(partition.committed.contains_key(&page), "locked page {:#x} left under {:?}", page, operation);
                }
            }
            vass.check_invariants(&mmu, &frames).map_err(|violation| TestCaseError::fail(violation.to_string()))?;
            let counters = vass.space_counters(SpaceId(1)).unwrap();
            let budget = vass.budget(SpaceId(1)).unwrap();
            // A lowered budget is reached at the next commit, not at once.
            prop_assert!(counters.committed <= budget.max(12), "{} committed over budget {}", counters.committed, budget);
            prop_assert_eq!(frames.in_use as u64, counters.committed);
        }
        // Every page that was not lost reads back what was last written
        // (with no more injected errors).
        frames.failing.clear();
        vass.set_budget(SpaceId(1), None);
        for page in range.start..range.end {
            if lost.contains(&page) {
                continue;
            }
            let (outcome, value) = read(&mut vass, &mut mmu, &mut frames, page);
            prop_assert!(outcome != FaultOutcome::SwapFailed, "page {:#x} lost without a report", page);
            prop_assert_eq!(value, Some(expected.get(&page).copied().unwrap_or(0)), "page {:#x} at the end", page);
        }
        vass.destroy_space(SpaceId(1), &mut mmu, &mut frames);
        prop_assert_eq!(vass.swap_usage().0, 0);
        prop_assert_eq!(frames.in_use, 0);
    }
}

#[test]
fn the_vasm_tells_where_each_page_is() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(2));
    let (a, b, c) = (range.start, range.start + 1, range.start + 2);
    assert_eq!(vass.page_state(SpaceId(1), a).map(|state| state.residence), Some(Residence::Uncommitted));
    assert_eq!(vass.page_state(SpaceId(1), range.end), None, "outside every partition");
    assert_eq!(vass.page_state(SpaceId(2), a), None, "another space's view");
    write(&mut vass, &mut mmu, &mut frames, a, 1);
    let frame = mmu.translate(SpaceId(1), a).unwrap().0;
    assert_eq!(vass.page_state(SpaceId(1), a).unwrap().residence, Residence::Committed { frame, huge: false, copy: None });
    write(&mut vass, &mut mmu, &mut frames, b, 2);
    write(&mut vass, &mut mmu, &mut frames, c, 3);
    let Residence::Swapped { slot, lost: false } = vass.page_state(SpaceId(1), a).unwrap().residence else { panic!("a went to swap") };
    frames.failing.insert(slot);
    assert_eq!(read(&mut vass, &mut mmu, &mut frames, a).0, FaultOutcome::SwapFailed);
    assert_eq!(vass.page_state(SpaceId(1), a).unwrap().residence, Residence::Swapped { slot, lost: true });
    vass.advise(SpaceId(1), id, PageRange::new(c, c + 1), Advice::Cold, &mut mmu, &mut frames).unwrap();
    let state = vass.page_state(SpaceId(1), c).unwrap();
    assert_eq!((state.partition, state.rights, state.cold, state.untouched), (id, RW, Some(Cold::Advised), false));
}

#[test]
fn locked_pages_stay_resident_while_the_others_take_the_evictions() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(8));
    let locked = PageRange::new(range.start, range.start + 4);
    // Locking commits nothing; pages committed later are held.
    assert_eq!(vass.advise(SpaceId(1), id, locked, Advice::Lock, &mut mmu, &mut frames), Ok(0));
    assert_eq!(vass.partition(id).unwrap().committed.len(), 0);
    for (index, page) in (range.start..range.start + 16).enumerate() {
        write(&mut vass, &mut mmu, &mut frames, page, 700 + index as u64);
        vass.check_invariants(&mmu, &frames).unwrap();
    }
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.committed.len(), 8, "locked pages still count toward the budget");
    assert!((locked.start..locked.end).all(|page| partition.committed.contains_key(&page)), "the locked pages stayed");
    assert_eq!(partition.swapped.len(), 8, "the other pages took every eviction");
    assert!(vass.page_state(SpaceId(1), range.start).unwrap().locked);
    assert!(!vass.page_state(SpaceId(1), range.start + 4).unwrap().locked);
    // Cold advice and paging out pass over them.
    vass.advise(SpaceId(1), id, range, Advice::Cold, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.advise(SpaceId(1), id, range, Advice::PageOut, &mut mmu, &mut frames), Ok(4));
    let partition = vass.partition(id).unwrap();
    assert_eq!(partition.committed.keys().copied().collect::<Vec<_>>(), (locked.start..locked.end).collect::<Vec<_>>());
    // Unlocked, they go like any other page, and every byte comes back.
    vass.advise(SpaceId(1), id, PageRange::new(range.start, range.start + 2), Advice::Unlock, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.advise(SpaceId(1), id, range, Advice::PageOut, &mut mmu, &mut frames), Ok(2));
    assert!(!vass.page_state(SpaceId(1), range.start).unwrap().locked);
    assert!(vass.page_state(SpaceId(1), range.start + 2).unwrap().locked);
    vass.check_invariants(&mmu, &frames).unwrap();
    for (index, page) in (range.start..range.start + 16).enumerate() {
        assert_eq!(read(&mut vass, &mut mmu, &mut frames, page).1, Some(700 + index as u64), "page {index}");
    }
}

#[test]
fn a_budget_held_by_locked_pages_runs_out_of_memory() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, Some(8));
    vass.advise(SpaceId(1), id, range, Advice::Lock, &mut mmu, &mut frames).unwrap();
    for page in range.start..range.start + 8 {
        assert_eq!(write(&mut vass, &mut mmu, &mut frames, page, page), FaultOutcome::Committed);
    }
    assert_eq!(write(&mut vass, &mut mmu, &mut frames, range.start + 8, 0), FaultOutcome::OutOfFrames, "nothing may go");
    assert_eq!(vass.partition(id).unwrap().committed.len(), 8);
    assert_eq!(frames.swap_log.len(), 0, "nothing was written");
    vass.check_invariants(&mmu, &frames).unwrap();
}

#[test]
fn a_space_locks_at_most_max_locked_pages() {
    let (mut vass, mut mmu, mut frames, id, range) = setup(64, 256, None);
    let (big, big_range) = vass.create(SpaceId(1), abi::MAX_LOCKED_PAGES, PartitionKind::Heap, RW, None, WINDOW).unwrap();
    let half = PageRange::new(range.start, range.start + 32);
    vass.advise(SpaceId(1), id, half, Advice::Lock, &mut mmu, &mut frames).unwrap();
    // Locking a range again, or a range overlapping one, counts its pages once.
    vass.advise(SpaceId(1), id, PageRange::new(range.start + 16, range.start + 40), Advice::Lock, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.partition(id).unwrap().locked_pages(), 40);
    let fits = PageRange::new(big_range.start, big_range.end - 40);
    assert_eq!(vass.advise(SpaceId(1), big, fits, Advice::Lock, &mut mmu, &mut frames), Ok(0));
    assert_eq!(vass.advise(SpaceId(1), big, big_range, Advice::Lock, &mut mmu, &mut frames), Err(VassError::TooManyLocked));
    assert_eq!(vass.partition(big).unwrap().locked_pages(), fits.len(), "a refused lock changes nothing");
    vass.advise(SpaceId(1), id, range, Advice::Unlock, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.advise(SpaceId(1), big, big_range, Advice::Lock, &mut mmu, &mut frames), Ok(0));
    // Shrinking a partition drops the locks on what it gave up.
    vass.resize(SpaceId(1), big, 8, WINDOW, &mut mmu, &mut frames).unwrap();
    assert_eq!(vass.partition(big).unwrap().locked_pages(), 8);
    vass.check_invariants(&mmu, &frames).unwrap();
}

/// Locked pages are invisible to eviction: a space holding locked pages
/// beside a partition, with its budget raised by their number, evicts the
/// partition's pages exactly as a space holding that partition alone.
#[test]
fn locked_pages_do_not_change_which_pages_clock_evicts() {
    for eviction in [Eviction::Clock, Eviction::ColdFirst] {
        let mut runs = Vec::new();
        for with_locked in [false, true] {
            let mut vass = Vass::new();
            let mut mmu = SimulatedMmu::default();
            let mut frames = SimulatedFrames::with_huge(512, 0);
            frames.swap_slots = 256;
            vass.set_swap_slots(256).unwrap();
            vass.set_eviction(eviction);
            let mut budget = 12;
            if with_locked {
                let (own, own_range) = vass.create(SpaceId(1), 16, PartitionKind::Data, RW, None, WINDOW).unwrap();
                vass.advise(SpaceId(1), own, own_range, Advice::Lock, &mut mmu, &mut frames).unwrap();
                for page in own_range.start..own_range.start + 5 {
                    write(&mut vass, &mut mmu, &mut frames, page, page);
                }
                budget += 5;
            }
            vass.set_budget(SpaceId(1), Some(budget));
            let (_, range) = vass.create(SpaceId(1), 48, PartitionKind::Heap, RW, Some(0x2000), WINDOW).unwrap();
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            let mut outcomes = Vec::new();
            for step in 0..600u64 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let page = range.start + state % 48;
                let outcome = if step % 3 == 0 {
                    write(&mut vass, &mut mmu, &mut frames, page, step)
                } else {
                    read(&mut vass, &mut mmu, &mut frames, page).0
                };
                outcomes.push((page, outcome));
            }
            vass.check_invariants(&mmu, &frames).unwrap();
            runs.push(outcomes);
        }
        assert_eq!(runs[0], runs[1]);
        assert!(runs[0].iter().filter(|(_, outcome)| *outcome == FaultOutcome::SwappedIn).count() > 100, "the budget was tight");
    }
}
