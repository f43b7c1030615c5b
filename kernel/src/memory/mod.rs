//! The memory service: the kernel-wide VASS (partition table, VASM and
//! commit engine) with every process's address space beside it, behind one
//! lock, and the one way to work on a process's space, a [`Space`] session.
//!
//! **Sessions.** [`lock`] takes the lock and tells the VASS the time
//! (footprints and access frequencies; [`try_lock`] never waits, for the
//! fault entry; [`lock_untimed`] leaves the time alone, for lookups and
//! settings); [`Guard::space`] opens a session on one process's space:
//! the engine, the page tables of that space and of every other one
//! (`SystemTables`: a commit may have to evict another process's pages)
//! and the frames (`KernelFrames`) its operations take.
//! When the session ends (its `Drop`), the TSC cycles those frames spent in
//! swap I/O are charged to the process, and in debug kernels the engine
//! proves that the VASM, the partition table, the frame metadata and the
//! process's page tables agree over the session's check scope (the whole
//! space unless the caller narrows it, or drops it where nothing was
//! changed); a disagreement is a kernel bug and panics. The loader works
//! on a space before it is in the map ([`Guard::detached`]; a program's
//! read-only image pieces come from the text store, [`Guard::map_text`],
//! `share::text`); a space that
//! ends is destroyed outside any session ([`Guard::destroy_detached`]):
//! nothing is charged to a process whose counters go with it.
//!
//! **Lock order.** The process table (`process::table::TABLE`) first, then
//! this lock; never the other way round. Both are `IrqMutex`es: interrupts
//! stay off while either is held, so the timer cannot preempt a holder and
//! the fault entry, which only try-locks both, never waits for itself.
//! The process table holds processes only; their address spaces live here,
//! by pid, so the engine reaches every space's page tables while a process
//! of the table is borrowed.
//!
//! The boot settings (`settings`), swap administration and budgets, and
//! the memory counters' copy (`counters`) are beside the lock.

#![forbid(unsafe_code)]

mod counters;
mod settings;

pub use counters::summary;
pub use settings::*;

use crate::mm::user::UserSpace;
use crate::share::registry::Shares;
use crate::share::text::{TextKey, TextStore};
use crate::sync::{IrqMutex, IrqMutexGuard};
use crate::time;
use crate::vass::hardware::{KernelFrames, SpaceTables, SystemTables};
use crate::vass::{PageRange, PageTable, PartitionId, PartitionUse, Scope, SpaceCounters, SpaceId, Vass, VassError, Window, PAGE_SIZE};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

/// What the lock guards: the engine, every address space by pid (and the
/// text store's, [`TextStore::SPACE`]), the sharing state (every shared
/// partition's ACL, `share::registry`) and the text store (`share::text`).
struct Memory {
    vass: Vass,
    spaces: BTreeMap<SpaceId, UserSpace>,
    shares: Shares,
    text: TextStore,
}

static MEMORY: IrqMutex<Memory> = IrqMutex::new(Memory { vass: Vass::new(), spaces: BTreeMap::new(), shares: Shares::new(), text: TextStore::new() });

/// The memory service's lock, held: the VASS (through `Deref`) and the
/// address spaces. Lock order: the process table, then this.
pub struct Guard {
    memory: IrqMutexGuard<'static, Memory>,
}

/// Takes the lock and tells the VASS the time.
pub fn lock() -> Guard {
    let mut guard = lock_untimed();
    guard.set_time(time::ticks());
    guard
}

/// As [`lock`], if the lock is free (the fault entry never waits).
pub fn try_lock() -> Option<Guard> {
    let mut guard = Guard { memory: MEMORY.try_lock()? };
    guard.set_time(time::ticks());
    Some(guard)
}

/// Takes the lock without telling the time (lookups, settings).
pub fn lock_untimed() -> Guard {
    Guard { memory: MEMORY.lock() }
}

impl Deref for Guard {
    type Target = Vass;

    fn deref(&self) -> &Vass {
        &self.memory.vass
    }
}

impl DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Vass {
        &mut self.memory.vass
    }
}

impl Guard {
    /// A session on the space of process `pid` (`None` if it has none),
    /// checked over the whole space when it ends.
    pub fn space(&mut self, pid: SpaceId) -> Option<Space<'_, SystemTables<'_>>> {
        let Memory { vass, spaces, shares, .. } = &mut *self.memory;
        let tables = SystemTables::new(pid, spaces)?;
        Some(Space { vass, shares, tables, frames: KernelFrames::new(), pid, check: Some(Scope::Space(pid)) })
    }

    /// A session on `space`, the address space the loader is building for
    /// process `pid` (not yet in the map), checked over the whole space.
    pub fn detached<'a>(&'a mut self, pid: SpaceId, space: &'a mut UserSpace) -> Space<'a, SpaceTables<'a>> {
        let tables = SpaceTables { id: pid, space };
        let Memory { vass, shares, .. } = &mut *self.memory;
        Space { vass, shares, tables, frames: KernelFrames::new(), pid, check: Some(Scope::Space(pid)) }
    }

    /// Adds the address space of process `pid` to the map.
    pub fn insert_space(&mut self, pid: SpaceId, space: UserSpace) {
        self.memory.spaces.insert(pid, space);
    }

    /// Takes the address space of process `pid` out of the map.
    pub fn remove_space(&mut self, pid: SpaceId) -> Option<UserSpace> {
        self.memory.spaces.remove(&pid)
    }

    /// Whether process `pid` has an address space in the map.
    pub fn has_space(&self, pid: SpaceId) -> bool {
        self.memory.spaces.contains_key(&pid)
    }

    /// The pids with an address space, in order (not the text store's).
    pub fn pids(&self) -> Vec<SpaceId> {
        self.memory.spaces.keys().copied().filter(|&id| id != TextStore::SPACE).collect()
    }

    /// Maps the read-only image piece `key` into `space`, the address
    /// space the loader is building for process `pid`, at the page the
    /// key names (within `window`): one copy in the text store for every
    /// instance of the program (`share::text`). The first instance's load
    /// makes the piece and writes `bytes` into it from byte `offset` of
    /// its first page. Returns the view's id and range; a failed load
    /// leaves nothing in the store.
    pub fn map_text(&mut self, pid: SpaceId, space: &mut UserSpace, key: TextKey, window: Window, offset: u64, bytes: &[u8]) -> Result<(PartitionId, PageRange), VassError> {
        let Memory { vass, spaces, text, shares } = &mut *self.memory;
        if let alloc::collections::btree_map::Entry::Vacant(entry) = spaces.entry(TextStore::SPACE) {
            entry.insert(UserSpace::new().map_err(|_| VassError::OutOfFrames)?);
        }
        let mut frames = KernelFrames::new();
        let mapped = (|| {
            let held = text.hold(vass, key, &mut SystemTables::with_detached(pid, space, spaces), &mut frames)?;
            if held.fresh {
                let store = spaces.get_mut(&TextStore::SPACE).ok_or(VassError::PageTable)?;
                let address = x86_64::VirtAddr::new(held.range.start * PAGE_SIZE + offset);
                store.write(address, bytes).map_err(|_| VassError::PageTable)?;
            }
            text.map(vass, key, pid, window, &mut SystemTables::with_detached(pid, space, spaces), &mut frames)
        })();
        let mut tables = SystemTables::with_detached(pid, space, spaces);
        if mapped.is_err()
            && let Some(piece) = text.discard(key, vass, &mut tables, &mut frames)
        {
            shares.text_released(piece);
        }
        charge_swap_io(vass, pid, &frames);
        check_in_debug(vass, &tables, Scope::Space(pid));
        check_in_debug(vass, &tables, Scope::Space(TextStore::SPACE));
        mapped
    }

    /// The physical address `address` of process `pid` (or of the text
    /// store) maps now, and whether it is writable (for tests and
    /// diagnostics).
    pub fn physical(&self, pid: SpaceId, address: u64) -> Option<(u64, bool)> {
        let space = self.memory.spaces.get(&pid)?;
        let (physical, flags) = space.translate(x86_64::VirtAddr::try_new(address).ok()?)?;
        Some((physical.as_u64(), flags.contains(x86_64::structures::paging::PageTableFlags::WRITABLE)))
    }

    /// How many pieces of program text the text store holds (in use or
    /// cached).
    pub fn text_pieces(&self) -> usize {
        self.memory.text.len()
    }

    /// The text store's cache: pages of pieces no instance maps, and how
    /// many of them are resident.
    pub fn text_cached(&self) -> (u64, u64) {
        self.memory.text.cached(&self.memory.vass)
    }

    /// Destroys the text store's cached pieces (their frames and swap
    /// slots come back). Returns how many went.
    pub fn drop_text_cache(&mut self) -> usize {
        let Memory { vass, spaces, shares, text } = &mut *self.memory;
        let Some(mut tables) = SystemTables::new(TextStore::SPACE, spaces) else { return 0 };
        let mut frames = KernelFrames::new();
        let released = text.drop_cache(vass, &mut tables, &mut frames);
        for &piece in &released {
            shares.text_released(piece);
        }
        charge_swap_io(vass, TextStore::SPACE, &frames);
        released.len()
    }

    /// Keeps at most `pages` pages of cached program text (`text-cache=`,
    /// set at boot: it takes effect as instances end).
    pub fn set_text_cache(&mut self, pages: u64) {
        self.memory.text.set_cache_pages(pages);
    }

    /// What each partition of `pid` touched in `space` (out of the map), for
    /// a layout proposal.
    pub fn uses_of_detached(&mut self, pid: SpaceId, space: &mut UserSpace) -> Vec<PartitionUse> {
        self.memory.vass.uses_of(pid, &SpaceTables { id: pid, space })
    }

    /// Destroys every partition of `pid`, whose `space` is out of the map
    /// (they give their frames back; the page tables go with `space`), and
    /// returns its final counters. Views of its partitions in other spaces
    /// are revoked, its own views let go of their sources (through the
    /// tables of every space), and the text no other instance maps is
    /// cached by the text store. Nothing is charged or checked: the space's
    /// counters go with it.
    pub fn destroy_detached(&mut self, pid: SpaceId, space: &mut UserSpace) -> SpaceCounters {
        let Memory { vass, spaces, shares, text } = &mut *self.memory;
        let mut tables = SystemTables::with_detached(pid, space, spaces);
        let mut frames = KernelFrames::new();
        let counters = vass.destroy_space(pid, &mut tables, &mut frames);
        // The text only this process used is cached (the oldest cached
        // beyond the cache's bound goes).
        for piece in text.retire_unused(vass, &mut tables, &mut frames) {
            shares.text_released(piece);
        }
        shares.process_ended(pid.0);
        counters
    }

    /// The sharing state (read-only: changes go through a [`Space`]).
    pub fn shares(&self) -> &Shares {
        &self.memory.shares
    }
}

/// A session on one process's space: the engine, the page tables and the
/// frames of its operations. Its `Drop` charges the frames' swap I/O to the
/// process and runs the debug invariant check over [`Space::check_over`]'s
/// scope.
pub struct Space<'a, T: PageTable> {
    /// The engine.
    pub vass: &'a mut Vass,
    /// The sharing state.
    pub shares: &'a mut Shares,
    /// The page tables the engine works through.
    pub tables: T,
    /// The frames (and the swap I/O time) of this session's operations.
    pub frames: KernelFrames,
    pid: SpaceId,
    check: Option<Scope>,
}

impl<T: PageTable> Space<'_, T> {
    /// The process whose space it is.
    pub fn pid(&self) -> SpaceId {
        self.pid
    }

    /// What the debug invariant check covers when the session ends (`None`:
    /// nothing, where nothing was changed).
    pub fn check_over(&mut self, scope: Option<Scope>) {
        self.check = scope;
    }
}

impl<T: PageTable> Drop for Space<'_, T> {
    fn drop(&mut self) {
        charge_swap_io(self.vass, self.pid, &self.frames);
        if let Some(scope) = self.check {
            check_in_debug(self.vass, &self.tables, scope);
        }
    }
}

/// Charges the time `frames` spent in swap I/O to process `pid`.
fn charge_swap_io(vass: &mut Vass, pid: SpaceId, frames: &KernelFrames) {
    if frames.swap_io_cycles() > 0 {
        vass.add_swap_io_cycles(pid, frames.swap_io_cycles());
    }
}

/// In debug kernels, proves after a VASS operation on behalf of a process
/// that the VASM, the partition table, the frame metadata and that
/// process's page tables agree (over `scope`); a disagreement is a kernel
/// bug.
fn check_in_debug(vass: &Vass, tables: &impl PageTable, scope: Scope) {
    if cfg!(debug_assertions)
        && let Err(error) = vass.check(tables, &KernelFrames::new(), scope)
    {
        panic!("VASS invariant broken ({scope:?}): {error}");
    }
}
