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
//! A policy that keeps state of its own hears what the engine does to the
//! pages it ranks: [`Replacement::admitted`] when a page becomes resident
//! (faulted in or committed ahead), [`Replacement::evicted`] when the
//! engine's shared steps evict one (the policy's own evictions it sees
//! itself: it is taken out of the engine while it picks),
//! [`Replacement::forget`] when a space ends, and, for the policies that
//! need every use ([`Replacement::every_access`]), [`Replacement::touched`].
//! What the engine does not report (a decommit, a partition destroyed) a
//! policy finds out lazily: a page [`Residents::is_resident`] denies is
//! stale, and a policy that finds nothing it may evict falls back to
//! [`Clock`], so a policy's state is a hint, never the truth.
//!
//! The policies ([`Eviction`] names them):
//! - [`Clock`]: second chance over the accessed bits;
//! - [`ColdFirst`] (the default): cold pages, then CLOCK;
//! - [`ClockPro`] (`clock_pro`): CLOCK-Pro (Jiang, Chen and Zhang, USENIX
//!   ATC 2005), hot and cold pages and a test period kept for recently
//!   evicted cold pages, from accessed bits alone: scan-resistant, the
//!   design Linux's reclaim drew on;
//! - [`Lru`] and [`Adaptive`] (ARC; `recency`): exact LRU and ARC (Megiddo and
//!   Modha, FAST 2003), which need every use: the host simulator's
//!   baselines (the kernel sees uses only through accessed bits);
//! - [`Belady`]: the page next used farthest in the future, from an oracle
//!   only a simulation that replays a trace has.
//!
//! A new policy (a learned one) is a new implementation; the engine does
//! not change.

#![forbid(unsafe_code)]

mod clock_pro;
mod recency;

pub use clock_pro::ClockPro;
pub use recency::{Adaptive, Lru};

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
    /// Whether `resident` is one of the pages [`Residents::next`] lists
    /// (committed, evictable): what a policy's own records are checked
    /// against.
    fn is_resident(&self, resident: Resident) -> bool;
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
    /// Whether it must hear of every use ([`Replacement::touched`]): only
    /// a simulation can tell it (the kernel sees accessed bits).
    fn every_access(&self) -> bool {
        false
    }
    /// `resident` of `space` became resident: faulted in or read back
    /// (`demand`), or committed ahead of use.
    fn admitted(&mut self, _space: SpaceId, _resident: Resident, _demand: bool) {}
    /// `resident` of `space` was used (told only if
    /// [`Replacement::every_access`]).
    fn touched(&mut self, _space: SpaceId, _resident: Resident) {}
    /// The engine's shared steps evicted `resident` of `space`.
    fn evicted(&mut self, _space: SpaceId, _resident: Resident) {}
    /// `space` ended: everything kept about it can go.
    fn forget(&mut self, _space: SpaceId) {}
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

/// The replacement policies by name, as a boot configuration
/// (`eviction=`) or a simulation names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Eviction {
    /// [`ColdFirst`] (the default).
    #[default]
    ColdFirst,
    /// [`Clock`].
    Clock,
    /// [`ClockPro`].
    ClockPro,
    /// [`Lru`] (simulation only).
    Lru,
    /// [`Adaptive`]: ARC (simulation only).
    Arc,
    /// [`Belady`] (simulation only, over the replayed trace's future).
    Belady,
}

impl Eviction {
    /// Every policy, in the order reports list them.
    pub const ALL: [Eviction; 6] = [Eviction::ColdFirst, Eviction::Clock, Eviction::ClockPro, Eviction::Lru, Eviction::Arc, Eviction::Belady];

    /// The policies the kernel runs: those that need only accessed bits
    /// and no future.
    pub const KERNEL: [Eviction; 3] = [Eviction::ColdFirst, Eviction::Clock, Eviction::ClockPro];

    /// Its name, as the command line, the tools and the reports spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Eviction::ColdFirst => "cold-first",
            Eviction::Clock => "clock",
            Eviction::ClockPro => "clock-pro",
            Eviction::Lru => "lru",
            Eviction::Arc => "arc",
            Eviction::Belady => "belady",
        }
    }

    /// The policy named `name`.
    pub fn from_name(name: &str) -> Option<Eviction> {
        Eviction::ALL.into_iter().find(|eviction| eviction.name() == name)
    }

    /// The policy, a new instance; Belady's needs `future` (`None`
    /// without one).
    pub fn policy(self, future: Option<Box<dyn NextUse>>) -> Option<Box<dyn Replacement>> {
        Some(match self {
            Eviction::ColdFirst => Box::new(ColdFirst),
            Eviction::Clock => Box::new(Clock),
            Eviction::ClockPro => Box::new(ClockPro::default()),
            Eviction::Lru => Box::new(Lru::default()),
            Eviction::Arc => Box::new(Adaptive::default()),
            Eviction::Belady => Box::new(Belady(future?)),
        })
    }
}

impl core::fmt::Display for Eviction {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests;
