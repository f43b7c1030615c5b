//! Page replacement: which resident page a space gives up when it must
//! stay within a budget, as policies behind one trait ([`Replacement`]).
//!
//! The engine's eviction (`engine::eviction`) does what every policy shares
//! and what the engine alone may decide: budgets, the order of the steps,
//! prefetched pages nobody used (they go first, as the least recently
//! used), the rule that a commit ahead pushes out only pages not in use,
//! and the eviction itself (swap out, unmap, counters). A policy decides
//! two things through [`Residents`], its view of one space:
//!
//! - whether pages held or observed cold go before any other
//!   ([`Replacement::cold_first`]: partition-aware eviction);
//! - which warm page goes ([`Replacement::evict_warm`]), walking the
//!   space's resident pages, reading (and clearing) accessed bits, moving
//!   the space's CLOCK hand, and asking the engine to evict candidates
//!   until one goes.
//!
//! Today's policies: [`Clock`] (second chance over the accessed bits),
//! [`ColdFirst`] (the default: cold pages, then CLOCK) and [`Belady`]
//! (the page next used farthest in the future, from an oracle only a
//! simulation that replays a trace has). A new policy (LRU, CLOCK-Pro, a
//! learned one) is a new implementation; the engine does not change.

#![forbid(unsafe_code)]

use super::partition::{Page, PartitionId, SpaceId};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// A resident page: its partition and its page.
pub type Resident = (PartitionId, Page);

/// One space's resident pages, as a replacement policy sees them while it
/// picks a victim. Only pages that may be evicted appear: committed 4 KiB
/// pages, not inside a 2 MiB page, not locked.
pub trait Residents {
    /// The space.
    fn space(&self) -> SpaceId;
    /// Pages the space has committed (the bound of a sweep).
    fn committed(&self) -> u64;
    /// The first resident page after `after` in (partition, page) order,
    /// wrapping around once (`None` after: the first).
    fn next(&self, after: Option<Resident>) -> Option<Resident>;
    /// Where the space's CLOCK hand stands.
    fn hand(&self) -> Option<Resident>;
    /// Moves the space's CLOCK hand.
    fn set_hand(&mut self, hand: Option<Resident>);
    /// Whether the processor marked `page` accessed; with `clear`, the mark
    /// is cleared (to sample again) and the use it recorded is counted (a
    /// prefetched page stops counting as one nobody used).
    fn accessed(&mut self, resident: Resident, clear: bool) -> bool;
    /// Evicts `page` (written to swap if its contents exist nowhere else);
    /// returns whether it went (it stays if swap is full or fails).
    fn evict(&mut self, resident: Resident) -> bool;
}

/// A page-replacement policy (see the module documentation).
pub trait Replacement: Send {
    /// Its name, as the kernel's command line and the logs spell it.
    fn name(&self) -> &'static str;
    /// Whether pages held cold and partitions observed cold go before any
    /// warm page (partition-aware eviction).
    fn cold_first(&self) -> bool {
        false
    }
    /// Gives up one warm page of the space. Returns whether one went.
    fn evict_warm(&mut self, residents: &mut dyn Residents) -> bool;
}

impl core::fmt::Debug for dyn Replacement {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// CLOCK (second chance): from the space's hand, a page the processor
/// marked since the hand last passed gets a second chance (its mark is
/// cleared), the first unmarked one goes; at most two turns (the first may
/// only clear marks).
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock;

impl Replacement for Clock {
    fn name(&self) -> &'static str {
        "clock"
    }

    fn evict_warm(&mut self, residents: &mut dyn Residents) -> bool {
        let mut position = residents.hand();
        for _ in 0..2 * residents.committed() + 1 {
            let Some(resident) = residents.next(position) else { return false };
            position = Some(resident);
            if residents.accessed(resident, true) {
                continue;
            }
            if residents.evict(resident) {
                residents.set_hand(position);
                return true;
            }
        }
        residents.set_hand(position);
        false
    }
}

/// Partition-aware CLOCK (the default): before anything else, pages held
/// cold (advised by the program or predicted by the commit policy), then
/// partitions observed cold (unused for `COLD_SCANS` accessed-bit scans,
/// coldest first) go whole, up to `COLD_CLUSTER` pages per eviction,
/// skipping pages accessed since the last scan (the engine's cold steps);
/// then as [`Clock`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ColdFirst;

impl Replacement for ColdFirst {
    fn name(&self) -> &'static str {
        "cold-first"
    }

    fn cold_first(&self) -> bool {
        true
    }

    fn evict_warm(&mut self, residents: &mut dyn Residents) -> bool {
        Clock.evict_warm(residents)
    }
}

/// Says when a page will next be used (Belady's optimal eviction needs
/// the future: only a simulation that replays a trace knows it).
pub trait NextUse: Send {
    /// When `page` of `space` is next touched (larger is later;
    /// `u64::MAX`: never).
    fn next_use(&self, space: SpaceId, page: Page) -> u64;
}

/// Belady's optimal: the page next used farthest in the future, as the
/// oracle says (the host simulator's limit; the kernel never knows); ties
/// go in (partition, page) order.
pub struct Belady(pub Box<dyn NextUse>);

impl Replacement for Belady {
    fn name(&self) -> &'static str {
        "belady"
    }

    fn evict_warm(&mut self, residents: &mut dyn Residents) -> bool {
        let space = residents.space();
        let mut candidates: Vec<(u64, Resident)> = Vec::new();
        let mut position = None;
        while let Some(resident) = residents.next(position) {
            if candidates.first().is_some_and(|&(_, first)| first == resident) {
                break;
            }
            candidates.push((self.0.next_use(space, resident.1), resident));
            position = Some(resident);
        }
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates.into_iter().any(|(_, resident)| residents.evict(resident))
    }
}

/// The replacement policy a boot configuration or a simulation names.
pub enum Eviction {
    /// [`Clock`].
    Clock,
    /// [`ColdFirst`].
    ColdFirst,
    /// [`Belady`] over this oracle.
    Farthest(Box<dyn NextUse>),
}

impl Eviction {
    /// The policy.
    pub fn policy(self) -> Box<dyn Replacement> {
        match self {
            Eviction::Clock => Box::new(Clock),
            Eviction::ColdFirst => Box::new(ColdFirst),
            Eviction::Farthest(oracle) => Box::new(Belady(oracle)),
        }
    }
}

impl core::fmt::Debug for Eviction {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Eviction::Clock => "Clock",
            Eviction::ColdFirst => "ColdFirst",
            Eviction::Farthest(_) => "Farthest",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

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
        assert_eq!(Eviction::Clock.policy().name(), "clock");
        assert!(Eviction::ColdFirst.policy().cold_first());
        assert!(!Eviction::Clock.policy().cold_first());
        assert_eq!(Eviction::Farthest(Box::new(Future(Vec::new()))).policy().name(), "belady");
    }
}
