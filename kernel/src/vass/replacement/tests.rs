use super::*;
use alloc::collections::{BTreeMap, BTreeSet};

/// Resident pages of one partition as a list, with accessed marks and
/// pages that refuse to go; records what went.
struct Pages {
    resident: Vec<Page>,
    accessed: BTreeSet<Page>,
    stuck: BTreeSet<Page>,
    hand: Option<Resident>,
    evicted: Vec<Page>,
}

impl Pages {
    fn new(resident: &[Page], accessed: &[Page]) -> Pages {
        Pages {
            resident: resident.to_vec(),
            accessed: accessed.iter().copied().collect(),
            stuck: BTreeSet::new(),
            hand: None,
            evicted: Vec::new(),
        }
    }
}

impl Residents for Pages {
    fn space(&self) -> SpaceId {
        SpaceId(1)
    }
    fn committed(&self) -> u64 {
        self.resident.len() as u64
    }
    fn next(&self, after: Option<Resident>) -> Option<Resident> {
        let later = self.resident.iter().find(|&&page| after.is_none_or(|(_, after)| page > after));
        later.or(self.resident.first()).map(|&page| (PartitionId(1), page))
    }
    fn hand(&self) -> Option<Resident> {
        self.hand
    }
    fn set_hand(&mut self, hand: Option<Resident>) {
        self.hand = hand;
    }
    fn accessed(&mut self, (_, page): Resident, clear: bool) -> bool {
        if clear { self.accessed.remove(&page) } else { self.accessed.contains(&page) }
    }
    fn evict(&mut self, (_, page): Resident) -> bool {
        if self.stuck.contains(&page) {
            return false;
        }
        self.resident.retain(|&other| other != page);
        self.evicted.push(page);
        true
    }
    fn is_resident(&self, (_, page): Resident) -> bool {
        self.resident.contains(&page)
    }
}

#[test]
fn clock_gives_marked_pages_a_second_chance_and_moves_its_hand() {
    let mut pages = Pages::new(&[10, 11, 12, 13], &[10, 11]);
    assert!(Clock.evict_warm(&mut pages));
    assert_eq!(pages.evicted, [12], "the first unmarked page after the marked ones");
    assert!(pages.accessed.is_empty(), "the marks it passed are cleared");
    assert_eq!(pages.hand, Some((PartitionId(1), 12)));
    assert!(Clock.evict_warm(&mut pages));
    assert_eq!(pages.evicted, [12, 13], "the sweep goes on from the hand");
}

#[test]
fn clock_sweeps_twice_when_every_page_is_marked_and_skips_pages_that_cannot_go() {
    let mut pages = Pages::new(&[1, 2, 3], &[1, 2, 3]);
    pages.stuck.insert(1);
    assert!(Clock.evict_warm(&mut pages));
    assert_eq!(pages.evicted, [2], "the first turn clears, the second evicts; page 1 cannot go");
    let mut nothing = Pages::new(&[5], &[]);
    nothing.stuck.insert(5);
    assert!(!Clock.evict_warm(&mut nothing), "a space whose pages all refuse gives up nothing");
}

struct Future(Vec<(Page, u64)>);

impl NextUse for Future {
    fn next_use(&self, _: SpaceId, page: Page) -> u64 {
        self.0.iter().find(|&&(other, _)| other == page).map_or(u64::MAX, |&(_, at)| at)
    }
}

#[test]
fn belady_evicts_the_page_used_farthest_ahead_ignoring_marks() {
    let mut pages = Pages::new(&[1, 2, 3, 4], &[3]);
    let mut belady = Belady(Box::new(Future(alloc::vec![(1, 5), (2, 9), (3, 100), (4, 7)])));
    assert!(belady.evict_warm(&mut pages));
    assert_eq!(pages.evicted, [3], "marked, but next used last");
    pages.stuck.insert(2);
    assert!(belady.evict_warm(&mut pages));
    assert_eq!(pages.evicted, [3, 4], "the next farthest when the farthest cannot go");
}

#[test]
fn the_named_policies_are_the_policies() {
    for eviction in Eviction::ALL {
        assert_eq!(Eviction::from_name(eviction.name()), Some(eviction));
        let future: Box<dyn NextUse> = Box::new(Future(Vec::new()));
        assert_eq!(eviction.policy(Some(future)).map(|policy| policy.name()), Some(eviction.name()));
    }
    assert!(Eviction::Belady.policy(None).is_none(), "Belady needs the future");
    assert!(Eviction::ColdFirst.policy(None).unwrap().cold_first());
    assert!(!Eviction::Clock.policy(None).unwrap().cold_first());
    for eviction in Eviction::KERNEL {
        assert!(!eviction.policy(None).unwrap().every_access(), "{eviction}: the kernel sees accessed bits only");
    }
    assert!(Eviction::Lru.policy(None).unwrap().every_access() && Eviction::Arc.policy(None).unwrap().every_access());
    assert_eq!(Eviction::from_name("fifo"), None);
}

/// A memory of `capacity` pages under `policy`, driven by a reference
/// string as the simulated MMU is: a use of a resident page sets its
/// accessed bit (and is told to a policy that wants every use), a use of
/// another is a fault, which evicts one page if memory is full and maps
/// the page with its accessed bit clear.
struct Cache {
    pages: Pages,
    policy: Box<dyn Replacement>,
    capacity: usize,
    faults: u64,
}

impl Cache {
    fn new(eviction: Eviction, capacity: usize) -> Cache {
        Cache { pages: Pages::new(&[], &[]), policy: eviction.policy(None).unwrap(), capacity, faults: 0 }
    }

    fn access(&mut self, page: Page) {
        let resident = (PartitionId(1), page);
        if self.pages.is_resident(resident) {
            self.pages.accessed.insert(page);
            if self.policy.every_access() {
                self.policy.touched(SpaceId(1), resident);
            }
            return;
        }
        self.faults += 1;
        if self.pages.resident.len() >= self.capacity {
            assert!(self.policy.evict_warm(&mut self.pages), "{} gave up nothing", self.policy.name());
            assert_eq!(self.pages.resident.len(), self.capacity - 1);
        }
        let at = self.pages.resident.partition_point(|&other| other < page);
        self.pages.resident.insert(at, page);
        self.pages.accessed.remove(&page);
        self.policy.admitted(SpaceId(1), resident, true);
    }

    /// Faults over `references`, after the ones before.
    fn run(&mut self, references: impl IntoIterator<Item = Page>) -> u64 {
        let before = self.faults;
        references.into_iter().for_each(|page| self.access(page));
        self.faults - before
    }
}

/// Faults of each policy over `references` with `capacity` pages.
fn faults_of(references: &[Page], capacity: usize) -> BTreeMap<Eviction, u64> {
    [Eviction::Clock, Eviction::ClockPro, Eviction::Lru, Eviction::Arc]
        .into_iter()
        .map(|eviction| (eviction, Cache::new(eviction, capacity).run(references.iter().copied())))
        .collect()
}

#[test]
fn lru_evicts_the_page_used_least_recently() {
    let mut cache = Cache::new(Eviction::Lru, 3);
    cache.run([1, 2, 3, 1, 4]);
    assert_eq!(cache.pages.evicted, [2], "1 was used after 2");
    cache.run([3, 5]);
    assert_eq!(cache.pages.evicted, [2, 1]);
    // A page that cannot go is passed over for the next least recent.
    cache.pages.stuck.insert(4);
    cache.run([6]);
    assert_eq!(cache.pages.evicted, [2, 1, 3]);
}

#[test]
fn a_loop_larger_than_memory_defeats_lru_clock_and_arc_not_clock_pro() {
    // 60 pages in a loop, 40 of memory: LRU and CLOCK evict each page just
    // before its next use, and so does ARC (its ghosts of pages seen once
    // fit only beside them: a loop never comes back to one); CLOCK-Pro's
    // test periods see the loop's reuse distance and keep most of it.
    let references: Vec<Page> = (0..20).flat_map(|_| 100..160).collect();
    let faults = faults_of(&references, 40);
    let all = references.len() as u64;
    for eviction in [Eviction::Lru, Eviction::Clock, Eviction::Arc] {
        assert_eq!(faults[&eviction], all, "{eviction}: {faults:?}");
    }
    // The optimum keeps 39 of the 60: 60 + 19 × 21 = 459 faults.
    assert!(faults[&Eviction::ClockPro] < all * 6 / 10, "{faults:?}");
}

#[test]
fn a_scan_through_a_hot_set_evicts_it_under_lru_only() {
    // 24 hot pages in 32 of memory, each used again every 40 pages of a
    // scan of 2,400 pages used once: between two uses of a hot page more
    // than 32 others are used, so LRU loses it every time. CLOCK keeps it
    // (a page comes in unmarked, so the scan's pages go at the hand's
    // first pass while a hot page is marked again before its second), as
    // do ARC's pages seen twice and, once they are hot (after a few
    // returns as ghosts), CLOCK-Pro's hot pages.
    let hot: Vec<Page> = (0..24).collect();
    let warm_up: Vec<Page> = (0..4).flat_map(|_| hot.iter().copied()).collect();
    let scan = |from: Page, rounds: usize| -> Vec<Page> {
        (0..rounds).flat_map(|round| (0..5).map(move |page| from + (round * 5) as Page + page).chain((0..3).map(move |index| ((round * 3 + index) % 24) as Page))).collect()
    };
    let (first_half, second_half) = (scan(1000, 240), scan(5000, 240));
    for eviction in [Eviction::Clock, Eviction::ClockPro, Eviction::Arc, Eviction::Lru] {
        let mut cache = Cache::new(eviction, 32);
        cache.run(warm_up.iter().copied());
        let learning = cache.run(first_half.iter().copied());
        let steady = cache.run(second_half.iter().copied());
        match eviction {
            Eviction::Lru => assert!(steady > 1200 + 600, "{eviction}: {steady} faults once warm"),
            // A hot page CLOCK-Pro demotes (when ghosts returning grow
            // its cold target) must earn its place again, and its ghost
            // may expire before it does: it keeps the hot set through the
            // scan but not perfectly (1,320 faults here).
            Eviction::ClockPro => assert!(steady <= 1200 + 1200 / 8, "{eviction}: {steady} faults once warm"),
            // Once warm, only the scan's own first touches.
            _ => assert_eq!(steady, 1200, "{eviction}: {steady} faults once warm"),
        }
        assert!(learning <= 1200 + 6 * 24 || eviction == Eviction::Lru, "{eviction}: {learning} faults while learning");
    }
}

#[test]
fn where_memory_holds_the_working_set_every_policy_faults_only_on_first_touches() {
    let references: Vec<Page> = (0..30).flat_map(|turn| (0..24).map(move |page| page * 7 % 24 + turn % 2)).collect();
    for (eviction, faults) in faults_of(&references, 32) {
        assert_eq!(faults, 25, "{eviction}");
    }
}

#[test]
fn arc_moves_its_target_towards_the_list_whose_ghosts_are_hit() {
    let mut arc = Adaptive::default();
    let mut pages = Pages::new(&[], &[]);
    let space = SpaceId(1);
    let fault = |arc: &mut Adaptive, pages: &mut Pages, page: Page| {
        if pages.resident.len() >= 4 {
            assert!(arc.evict_warm(pages));
        }
        pages.resident.push(page);
        pages.resident.sort_unstable();
        arc.admitted(space, (PartitionId(1), page), true);
    };
    // 1 and 2 used twice (t2), 3 and 4 once (t1).
    for page in [1, 2, 3, 4] {
        fault(&mut arc, &mut pages, page);
    }
    arc.touched(space, (PartitionId(1), 1));
    arc.touched(space, (PartitionId(1), 2));
    // 5 pushes out t1's oldest, 3, which becomes a ghost; its return grows
    // t1's target.
    fault(&mut arc, &mut pages, 5);
    assert_eq!(pages.evicted, [3]);
    assert_eq!(arc.target(space), Some((0, 4)));
    fault(&mut arc, &mut pages, 3);
    assert_eq!(pages.evicted, [3, 4], "t1 still over its target of 1");
    assert_eq!(arc.target(space), Some((1, 4)));
    // Now t2 = {1, 2, 3} and t1 = {5}, at its target: t2's oldest goes,
    // and its ghost's return shrinks the target again.
    fault(&mut arc, &mut pages, 6);
    assert_eq!(pages.evicted, [3, 4, 1]);
    fault(&mut arc, &mut pages, 1);
    assert_eq!(arc.target(space), Some((0, 4)));
}

#[test]
fn policies_drop_what_is_no_longer_resident_and_fall_back_to_clock() {
    for eviction in [Eviction::ClockPro, Eviction::Lru, Eviction::Arc] {
        let mut cache = Cache::new(eviction, 8);
        cache.run(1..=8);
        // Pages the policy knows are decommitted behind its back, and
        // pages it never heard of arrive (as replicas do).
        cache.pages.resident.retain(|&page| page > 6);
        cache.pages.resident.extend([50, 51]);
        assert!(cache.policy.evict_warm(&mut cache.pages), "{eviction}");
        assert_eq!(cache.pages.evicted.len(), 1, "{eviction}");
        assert!(cache.policy.evict_warm(&mut cache.pages), "{eviction}");
        assert!(cache.policy.evict_warm(&mut cache.pages), "{eviction}: falls back to CLOCK for the pages it never heard of");
        assert!(cache.pages.resident.len() == 1, "{eviction}: {:?}", cache.pages.resident);
        cache.policy.forget(SpaceId(1));
    }
}

