//! CLOCK-Pro (Jiang, Chen and Zhang, "CLOCK-Pro: An Effective Improvement
//! of the CLOCK Replacement", USENIX ATC 2005): LIRS's reuse-distance idea
//! made to work from accessed bits alone, so the kernel runs it as the
//! simulator does.
//!
//! Each space's pages lie on one circular list in the order they came in
//! (or last moved), newest at the head. A page is *hot* (its reuse distance
//! is short: it stays), *cold* (resident, the candidates), or a *ghost*: a
//! cold page evicted during its *test period*, remembered without its
//! frame. A cold page starts its test period when it comes in or when it
//! is found used; used again during it, its reuse distance beat the hot
//! pages', so it becomes hot. The target number of resident cold pages,
//! `cold_target`, grows by one when a ghost is faulted back (a page memory
//! would have kept with more room for cold pages) and shrinks by one when a
//! test period ends without a use. (A resident cold page promoted during
//! its test period leaves the target alone: it needed no more room. The
//! paper's wording admits both readings; this is the one its LIRS origin
//! and Linux's CLOCK-Pro patches follow, and it keeps a hot set used many
//! times before memory fills from pushing the target to its bound.)
//! Three hands go round:
//!
//! - the cold hand evicts: at a cold page used since it last passed, it
//!   promotes the page (in its test period) or starts its test period, and
//!   moves the page to the head; at an unused one, the page goes (a ghost
//!   if in its test period);
//! - the hot hand, run while hot pages exceed the space's resident pages
//!   less `cold_target`, demotes the first hot page unused since it last
//!   passed (clearing the marks of the used ones) and ends the test
//!   periods of the cold pages it passes;
//! - the test hand, run while ghosts outnumber resident pages, ends test
//!   periods until one ghost is dropped.
//!
//! A loop larger than memory thus keeps the part of it that fits (its
//! pages become hot while the others pass through as cold), and a scan
//! through a hot set leaves the hot set alone: CLOCK evicts both.
//!
//! The space's memory size `m` is its resident pages when it must give one
//! up (its budget); `cold_target` stays within 1 and `m - 1`. State is a
//! hint (see `replacement`): an entry whose page is no longer resident is
//! dropped (or, in its test period, becomes a ghost) when a hand meets it.

use super::{Clock, Replacement, Resident, Residents};
use crate::vass::partition::SpaceId;
use alloc::collections::BTreeMap;

/// A page's place in CLOCK-Pro.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Resident, with a short reuse distance.
    Hot,
    /// Resident, a candidate; `test`: in its test period.
    Cold { test: bool },
    /// Resident, come in, in its first test period, its first use not yet
    /// seen: the accessed bit the cold hand first finds set may be the use
    /// that brought it in (the faulting access, or the burst of accesses
    /// right after it), not a reuse, so it starts the test period again
    /// instead of promoting the page.
    Fresh,
    /// Evicted during its test period: remembered, not resident.
    Ghost,
}

/// One space's circular list and hands.
#[derive(Debug, Default)]
struct Ring {
    /// Position to page and status; positions grow, the head is the last.
    list: BTreeMap<u64, (Resident, Status)>,
    /// Each page's position.
    at: BTreeMap<Resident, u64>,
    /// The last position given.
    newest: u64,
    /// Where each hand last stopped (it goes on after it; 0: from the tail).
    hand_hot: u64,
    hand_cold: u64,
    hand_test: u64,
    hot: u64,
    cold: u64,
    ghosts: u64,
    /// The target number of resident cold pages.
    cold_target: u64,
}

impl Ring {
    fn counter(&mut self, status: Status) -> &mut u64 {
        match status {
            Status::Hot => &mut self.hot,
            Status::Cold { .. } | Status::Fresh => &mut self.cold,
            Status::Ghost => &mut self.ghosts,
        }
    }

    fn push_head(&mut self, resident: Resident, status: Status) {
        self.newest += 1;
        self.list.insert(self.newest, (resident, status));
        self.at.insert(resident, self.newest);
        *self.counter(status) += 1;
    }

    fn remove(&mut self, position: u64) {
        if let Some((resident, status)) = self.list.remove(&position) {
            self.at.remove(&resident);
            *self.counter(status) -= 1;
        }
    }

    fn set(&mut self, position: u64, status: Status) {
        let Some(entry) = self.list.get_mut(&position) else { return };
        let old = core::mem::replace(&mut entry.1, status);
        *self.counter(old) -= 1;
        *self.counter(status) += 1;
    }

    fn move_to_head(&mut self, position: u64, status: Status) {
        if let Some(&(resident, _)) = self.list.get(&position) {
            self.remove(position);
            self.push_head(resident, status);
        }
    }

    /// The first entry after `hand`, wrapping around to the tail.
    fn after(&self, hand: u64) -> Option<(u64, Resident, Status)> {
        let next = self.list.range(hand + 1..).next().or_else(|| self.list.iter().next());
        next.map(|(&position, &(resident, status))| (position, resident, status))
    }

    /// The first resident cold page after `hand`, wrapping around.
    fn next_cold(&self, hand: u64) -> Option<(u64, Resident, Status)> {
        self.list
            .range(hand + 1..)
            .chain(self.list.range(..=hand))
            .find(|(_, (_, status))| matches!(status, Status::Cold { .. } | Status::Fresh))
            .map(|(&position, &(resident, status))| (position, resident, status))
    }

    /// A test period ended without a use: `cold_target` shrinks.
    fn test_ended(&mut self, position: u64, status: Status) {
        match status {
            Status::Cold { test: true } | Status::Fresh => self.set(position, Status::Cold { test: false }),
            Status::Ghost => self.remove(position),
            _ => return,
        }
        self.cold_target = self.cold_target.saturating_sub(1);
    }

    /// The hot hand: demotes one hot page unused since it last passed.
    /// Returns whether one was demoted.
    fn run_hot(&mut self, residents: &mut dyn Residents) -> bool {
        for _ in 0..self.list.len() {
            let Some((position, resident, status)) = self.after(self.hand_hot) else { return false };
            self.hand_hot = position;
            match status {
                Status::Hot if !residents.is_resident(resident) => self.remove(position),
                Status::Hot if residents.accessed(resident, true) => {}
                Status::Hot => {
                    self.set(position, Status::Cold { test: false });
                    return true;
                }
                other => self.test_ended(position, other),
            }
        }
        false
    }

    /// The test hand: ends test periods until one ghost is dropped.
    fn run_test(&mut self) {
        for _ in 0..self.list.len() {
            let Some((position, _, status)) = self.after(self.hand_test) else { return };
            self.hand_test = position;
            self.test_ended(position, status);
            if status == Status::Ghost {
                return;
            }
        }
    }

    /// Demotes hot pages while they exceed their share of `memory`.
    fn balance(&mut self, memory: u64, residents: &mut dyn Residents) {
        let hot_target = memory - self.cold_target.clamp(1, memory - 1);
        for _ in 0..self.list.len() {
            if self.hot <= hot_target || !self.run_hot(residents) {
                return;
            }
        }
    }

    /// The cold hand (see the module documentation). Returns whether a
    /// page went.
    fn run_cold(&mut self, residents: &mut dyn Residents) -> bool {
        let memory = residents.committed().max(2);
        self.balance(memory, residents);
        for _ in 0..2 * self.list.len() + 2 {
            if self.cold == 0 && !self.run_hot(residents) {
                return false;
            }
            let Some((position, resident, status)) = self.next_cold(self.hand_cold) else { return false };
            let fresh = status == Status::Fresh;
            let test = status != Status::Cold { test: false };
            self.hand_cold = position;
            if !residents.is_resident(resident) {
                // Gone without the engine saying so (decommitted).
                if test { self.set(position, Status::Ghost) } else { self.remove(position) }
                continue;
            }
            if residents.accessed(resident, true) {
                if fresh {
                    // Its first use: the test period starts again from it.
                    self.move_to_head(position, Status::Cold { test: true });
                } else if test {
                    self.move_to_head(position, Status::Hot);
                    self.balance(memory, residents);
                } else {
                    self.move_to_head(position, Status::Cold { test: true });
                }
                continue;
            }
            if residents.evict(resident) {
                if test { self.set(position, Status::Ghost) } else { self.remove(position) }
                while self.ghosts > memory {
                    let before = self.ghosts;
                    self.run_test();
                    if self.ghosts == before {
                        break;
                    }
                }
                return true;
            }
        }
        false
    }
}

/// CLOCK-Pro (see the module documentation).
#[derive(Debug, Default)]
pub struct ClockPro {
    spaces: BTreeMap<SpaceId, Ring>,
}

impl Replacement for ClockPro {
    fn name(&self) -> &'static str {
        "clock-pro"
    }

    fn admitted(&mut self, space: SpaceId, resident: Resident, _demand: bool) {
        let ring = self.spaces.entry(space).or_default();
        match ring.at.get(&resident).copied() {
            Some(position) => {
                let ghost = ring.list.get(&position).is_some_and(|&(_, status)| status == Status::Ghost);
                ring.remove(position);
                if ghost {
                    // Back within its test period: its reuse distance beat
                    // the hot pages'.
                    ring.push_head(resident, Status::Hot);
                    ring.cold_target += 1;
                } else {
                    ring.push_head(resident, Status::Fresh);
                }
            }
            None => ring.push_head(resident, Status::Fresh),
        }
    }

    fn evicted(&mut self, space: SpaceId, resident: Resident) {
        let Some(ring) = self.spaces.get_mut(&space) else { return };
        let Some(position) = ring.at.get(&resident).copied() else { return };
        match ring.list.get(&position) {
            Some(&(_, Status::Cold { test: true } | Status::Fresh)) => ring.set(position, Status::Ghost),
            _ => ring.remove(position),
        }
    }

    fn forget(&mut self, space: SpaceId) {
        self.spaces.remove(&space);
    }

    fn evict_warm(&mut self, residents: &mut dyn Residents) -> bool {
        let ring = self.spaces.entry(residents.space()).or_default();
        ring.run_cold(residents) || Clock.evict_warm(residents)
    }
}
