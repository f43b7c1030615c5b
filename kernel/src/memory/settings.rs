//! The memory service's boot settings (2 MiB pages, `memstat` lines, the
//! commit policy processes start with), swap administration (the device's
//! size, `swap-debug` fault injection, usage) and budgets (per process,
//! global; how victims are chosen).

use crate::policy::CommitPolicy;
use crate::vass::{Eviction, SpaceId, PAGE_SIZE};
use abi::Error;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether a `memstat` line is logged (and its record written) when a
/// process ends.
static MEMSTAT: AtomicBool = AtomicBool::new(true);

/// Whether `swap_debug` may inject swap faults (`swap-debug=on`).
static SWAP_DEBUG: AtomicBool = AtomicBool::new(false);

/// Whether instances of a program share its read-only image pieces through
/// the text store (`text=shared`, the default) or each load its own copy
/// (`text=private`).
static SHARED_TEXT: AtomicBool = AtomicBool::new(true);

/// The commit policy new processes start with (its `abi::CommitPolicy` code).
static DEFAULT_POLICY: AtomicU64 = AtomicU64::new(CommitPolicy::Demand as u64);

/// Applies the boot configuration: 2 MiB pages on or off, `memstat` lines
/// on or off, the commit policy every process starts with, whether
/// program text is shared and how much of it stays cached.
pub fn configure(huge_pages: bool, memstat: bool, default_policy: CommitPolicy, shared_text: bool, text_cache: u64) {
    {
        let mut memory = super::lock_untimed();
        memory.set_huge_pages(huge_pages);
        memory.set_text_cache(text_cache);
    }
    MEMSTAT.store(memstat, Ordering::Relaxed);
    DEFAULT_POLICY.store(default_policy as u64, Ordering::Relaxed);
    SHARED_TEXT.store(shared_text, Ordering::Relaxed);
    let switch = |on: bool| if on { "on" } else { "off" };
    log::info!(
        "vass: 2 MiB pages {}, memstat lines {}, commit policy {}, text {} (cache {} pages)",
        switch(huge_pages),
        switch(memstat),
        default_policy.name(),
        if shared_text { "shared" } else { "private" },
        text_cache
    );
}

/// Whether the loader maps read-only image pieces from the text store.
pub fn shared_text() -> bool {
    SHARED_TEXT.load(Ordering::Relaxed)
}

/// Whether a process that ends logs its `memstat` line and writes its record.
pub fn memstat_lines() -> bool {
    MEMSTAT.load(Ordering::Relaxed)
}

/// The commit policy a process the kernel starts begins with.
pub fn default_policy() -> CommitPolicy {
    CommitPolicy::from_code(DEFAULT_POLICY.load(Ordering::Relaxed)).unwrap_or(CommitPolicy::Demand)
}

/// Gives the commit engine a swap device of `slots` pages (at boot, once
/// the disk is found).
pub fn attach_swap(slots: u64) {
    if super::lock_untimed().set_swap_slots(slots).is_err() {
        log::error!("swap: a device of {slots} pages is smaller than what is in use");
    }
}

/// Allows the `swap_debug` system call (for the swap tests).
pub fn allow_swap_debug(on: bool) {
    SWAP_DEBUG.store(on, Ordering::Relaxed);
    if on {
        log::warn!("swap-debug on: processes may corrupt their own swapped pages");
    }
}

/// `swap_debug(op, address)` for process `pid` (`None`: the caller is no
/// process): see `abi::Syscall::SwapDebug`.
pub fn swap_debug(pid: Option<SpaceId>, op: u64, address: u64) -> Result<u64, Error> {
    if !SWAP_DEBUG.load(Ordering::Relaxed) {
        return Err(Error::PermissionDenied);
    }
    let pid = pid.ok_or(Error::InvalidArgument)?;
    let page = address / PAGE_SIZE;
    let slot = {
        let vass = super::lock_untimed();
        let partition = vass.lookup(pid, page).ok_or(Error::InvalidArgument)?;
        partition.swapped.get(&page).ok_or(Error::InvalidArgument)?.slot
    };
    match op {
        abi::SWAP_DEBUG_CORRUPT => {
            let disk = crate::dev::swap_disk().ok_or(Error::NotFound)?;
            let mut disk = disk.lock();
            let mut bytes = [0u8; crate::dev::SWAP_PAGE_SIZE];
            disk.read_page(slot.0, &mut bytes).map_err(|_| Error::OutOfMemory)?;
            bytes[17] ^= 0x10;
            disk.write_page(slot.0, &bytes).map_err(|_| Error::OutOfMemory)?;
        }
        abi::SWAP_DEBUG_FAIL_READ => crate::vass::hardware::fail_next_read(slot),
        _ => return Err(Error::InvalidArgument),
    }
    log::warn!("swap-debug: pid {pid} page {address:#x} (slot {slot}): operation {op}");
    Ok(0)
}

/// How victims are chosen when a budget or memory runs out.
pub fn set_eviction(eviction: Eviction) {
    if !super::lock_untimed().set_eviction(eviction) {
        log::error!("vass: eviction {eviction} needs what only a simulation has; the default stays");
    }
}

/// Limits the pages all processes together may have committed.
pub fn set_global_budget(pages: u64) {
    super::lock_untimed().set_global_budget(Some(pages));
}

/// The swap device's slots: (in use, total, quarantined).
pub fn swap_usage() -> (u64, u64, u64) {
    super::lock_untimed().swap_usage()
}

/// A memory budget as the system calls give it: `pages` (0: none), from
/// [`abi::MIN_MEMORY_BUDGET`] to [`abi::MAX_MEMORY_BUDGET`].
pub fn budget_from(pages: u64) -> Result<Option<u64>, Error> {
    match pages {
        0 => Ok(None),
        abi::MIN_MEMORY_BUDGET..=abi::MAX_MEMORY_BUDGET => Ok(Some(pages)),
        _ => Err(Error::InvalidArgument),
    }
}

/// Sets the memory budget of process `pid` (`None`: the caller is no
/// process) to `pages` (0: none); returns the previous one (0: none).
pub fn memory_budget(pid: Option<SpaceId>, pages: u64) -> Result<u64, Error> {
    let budget = budget_from(pages)?;
    let pid = pid.ok_or(Error::InvalidArgument)?;
    let mut vass = super::lock_untimed();
    let previous = vass.budget(pid).unwrap_or(0);
    vass.set_budget(pid, budget);
    Ok(previous)
}
