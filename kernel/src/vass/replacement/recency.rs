//! Exact recency: LRU and ARC, the classical baselines that need every use
//! of a page ([`Replacement::every_access`]). The kernel sees uses only
//! through accessed bits, so these run in the host simulator, which tells
//! them each access; they are the yardsticks the kernel's own policies and
//! the learned one are measured against.
//!
//! - [`Lru`]: the page used least recently goes.
//! - [`Adaptive`], ARC (Megiddo and Modha, "ARC: A Self-Tuning, Low Overhead
//!   Replacement Cache", FAST 2003): resident pages seen once (`T1`) and
//!   seen again (`T2`), each in recency order, and ghosts of the pages
//!   recently evicted from each (`B1`, `B2`). A fault on a ghost moves the
//!   target size `p` of `T1` towards the list that would have kept it; the
//!   victim is `T1`'s least recent page while `T1` is over its target,
//!   else `T2`'s. The cache size `c` is the space's resident pages when
//!   it must give one up (its budget).
//!
//! State is per space and a hint (see `replacement`): an entry whose page
//! is no longer resident is dropped when met; pages the policy never heard
//! of are left to the CLOCK fallback.

use super::{Clock, Replacement, Resident, Residents};
use crate::vass::partition::SpaceId;
use alloc::collections::BTreeMap;

/// Pages in recency order (least recent first), each at most once.
#[derive(Debug, Default)]
struct Order {
    next: u64,
    at: BTreeMap<Resident, u64>,
    by_use: BTreeMap<u64, Resident>,
}

impl Order {
    /// Makes `resident` the most recent (adding it if absent).
    fn touch(&mut self, resident: Resident) {
        if let Some(old) = self.at.insert(resident, self.next) {
            self.by_use.remove(&old);
        }
        self.by_use.insert(self.next, resident);
        self.next += 1;
    }

    fn remove(&mut self, resident: Resident) -> bool {
        match self.at.remove(&resident) {
            Some(at) => {
                self.by_use.remove(&at);
                true
            }
            None => false,
        }
    }

    fn contains(&self, resident: Resident) -> bool {
        self.at.contains_key(&resident)
    }

    fn len(&self) -> u64 {
        self.at.len() as u64
    }

    /// The least recent page used after position `after` (`None`: the
    /// least recent of all), with its position.
    fn oldest_after(&self, after: Option<u64>) -> Option<(u64, Resident)> {
        let from = after.map_or(0, |at| at + 1);
        self.by_use.range(from..).next().map(|(&at, &resident)| (at, resident))
    }

    /// Removes and returns the least recent page.
    fn pop_oldest(&mut self) -> Option<Resident> {
        let (_, resident) = self.oldest_after(None)?;
        self.remove(resident);
        Some(resident)
    }
}

/// Walks `order` from its least recent page: a page no longer resident is
/// dropped, the first page that goes is evicted (and removed). Returns the
/// page that went.
fn evict_oldest(order: &mut Order, residents: &mut dyn Residents) -> Option<Resident> {
    let mut after = None;
    while let Some((at, resident)) = order.oldest_after(after) {
        after = Some(at);
        if !residents.is_resident(resident) {
            order.remove(resident);
            continue;
        }
        if residents.evict(resident) {
            order.remove(resident);
            return Some(resident);
        }
    }
    None
}

/// Exact LRU (see the module documentation).
#[derive(Debug, Default)]
pub struct Lru {
    spaces: BTreeMap<SpaceId, Order>,
}

impl Replacement for Lru {
    fn name(&self) -> &'static str {
        "lru"
    }

    fn every_access(&self) -> bool {
        true
    }

    fn admitted(&mut self, space: SpaceId, resident: Resident, _demand: bool) {
        self.spaces.entry(space).or_default().touch(resident);
    }

    fn touched(&mut self, space: SpaceId, resident: Resident) {
        self.spaces.entry(space).or_default().touch(resident);
    }

    fn evicted(&mut self, space: SpaceId, resident: Resident) {
        if let Some(order) = self.spaces.get_mut(&space) {
            order.remove(resident);
        }
    }

    fn forget(&mut self, space: SpaceId) {
        self.spaces.remove(&space);
    }

    fn evict_warm(&mut self, residents: &mut dyn Residents) -> bool {
        let order = self.spaces.entry(residents.space()).or_default();
        evict_oldest(order, residents).is_some() || Clock.evict_warm(residents)
    }
}

/// One space's ARC lists.
#[derive(Debug, Default)]
struct Lists {
    /// Resident, used once since admitted.
    t1: Order,
    /// Resident, used again.
    t2: Order,
    /// Ghosts of pages evicted from `t1`.
    b1: Order,
    /// Ghosts of pages evicted from `t2`.
    b2: Order,
    /// The target size of `t1`.
    p: u64,
    /// The cache size (the resident pages when the space last had to give
    /// one up).
    c: u64,
}

impl Lists {
    /// Keeps the ghosts within ARC's bounds: `t1 + b1 <= c` and all four
    /// lists within `2c`.
    fn trim_ghosts(&mut self) {
        if self.c == 0 {
            return;
        }
        while self.t1.len() + self.b1.len() > self.c && self.b1.pop_oldest().is_some() {}
        while self.t1.len() + self.t2.len() + self.b1.len() + self.b2.len() > 2 * self.c && self.b2.pop_oldest().is_some() {}
    }

    /// A page that left memory becomes a ghost of the list it was in.
    fn make_ghost(&mut self, resident: Resident) {
        if self.t1.remove(resident) {
            self.b1.touch(resident);
        } else if self.t2.remove(resident) {
            self.b2.touch(resident);
        }
        self.trim_ghosts();
    }
}

/// ARC, the adaptive replacement cache (see the module documentation).
#[derive(Debug, Default)]
pub struct Adaptive {
    spaces: BTreeMap<SpaceId, Lists>,
}

impl Adaptive {
    /// `space`'s target size of `T1`, and its cache size.
    pub fn target(&self, space: SpaceId) -> Option<(u64, u64)> {
        self.spaces.get(&space).map(|lists| (lists.p, lists.c))
    }
}

impl Replacement for Adaptive {
    fn name(&self) -> &'static str {
        "arc"
    }

    fn every_access(&self) -> bool {
        true
    }

    fn admitted(&mut self, space: SpaceId, resident: Resident, _demand: bool) {
        let lists = self.spaces.entry(space).or_default();
        if lists.b1.remove(resident) {
            // It would have stayed had t1 been larger.
            let step = (lists.b2.len() / lists.b1.len().max(1)).max(1);
            lists.p = (lists.p + step).min(lists.c);
            lists.t2.touch(resident);
        } else if lists.b2.remove(resident) {
            let step = (lists.b1.len() / lists.b2.len().max(1)).max(1);
            lists.p = lists.p.saturating_sub(step);
            lists.t2.touch(resident);
        } else if !lists.t2.contains(resident) {
            lists.t1.remove(resident);
            lists.t1.touch(resident);
        }
        lists.trim_ghosts();
    }

    fn touched(&mut self, space: SpaceId, resident: Resident) {
        let lists = self.spaces.entry(space).or_default();
        if lists.t1.remove(resident) || lists.t2.contains(resident) {
            lists.t2.touch(resident);
        }
    }

    fn evicted(&mut self, space: SpaceId, resident: Resident) {
        if let Some(lists) = self.spaces.get_mut(&space) {
            lists.make_ghost(resident);
        }
    }

    fn forget(&mut self, space: SpaceId) {
        self.spaces.remove(&space);
    }

    fn evict_warm(&mut self, residents: &mut dyn Residents) -> bool {
        let lists = self.spaces.entry(residents.space()).or_default();
        lists.c = lists.c.max(residents.committed());
        // REPLACE: t1's least recent while t1 is over its target (or t2 is
        // empty), else t2's; the other list if the first has nothing that
        // can go.
        let from_t1 = lists.t1.len() > 0 && (lists.t1.len() > lists.p || lists.t2.len() == 0);
        let gone = if from_t1 {
            evict_oldest(&mut lists.t1, residents).map(|page| (page, true)).or_else(|| evict_oldest(&mut lists.t2, residents).map(|page| (page, false)))
        } else {
            evict_oldest(&mut lists.t2, residents).map(|page| (page, false)).or_else(|| evict_oldest(&mut lists.t1, residents).map(|page| (page, true)))
        };
        match gone {
            Some((page, true)) => lists.b1.touch(page),
            Some((page, false)) => lists.b2.touch(page),
            None => return Clock.evict_warm(residents),
        }
        lists.trim_ghosts();
        true
    }
}
