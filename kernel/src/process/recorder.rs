//! The kernel side of access histories (`crate::history`): each process's
//! ring with its time base, and the export of every ring to QEMU's debug
//! console for `cargo xtask trace`.
//!
//! Recording never waits for the exporter: events go into the process's
//! ring (under the process-table lock the recording path already holds),
//! and the exporter task copies what is new every tick. If a process
//! records faster than that, its oldest events are overwritten and the
//! export says how many with a `lost` record.
//!
//! `history=` sets each ring's size in events (1024 by default; 0: none);
//! `history-export=on` starts the exporter (`history-export`), which
//! writes to QEMU's debug console (port 0xe9, `-debugcon file:...`), away
//! from the serial log; an exiting process flushes the rest of its ring
//! itself. `memstat` lines carry `history_events` and `history_lost`.

use crate::arch::{cpu, qemu};
use crate::history::{Cursor, Entry, Event, Record, Ring, HEADER};
use crate::sync::{IrqMutex, IrqMutexGuard};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Events each new process's ring keeps.
static CAPACITY: AtomicUsize = AtomicUsize::new(1024);
/// Whether histories are exported.
static EXPORTING: AtomicBool = AtomicBool::new(false);
/// Held while records are taken from rings and written, so the records of
/// one process leave in order. Lock order: EXPORT, then the process table.
static EXPORT: IrqMutex<()> = IrqMutex::new(());

/// Most records taken from one process per export pass.
pub(super) const EXPORT_BATCH: usize = 4096;

/// Sets the ring size of processes spawned from now on and turns the
/// export on (if QEMU's debug console is there) or off.
pub fn configure(capacity: usize, export: bool) {
    CAPACITY.store(capacity, Ordering::Relaxed);
    let export = export && capacity > 0;
    if export && !qemu::debugcon_present() {
        log::warn!("history: no debug console on port {:#x}; not exporting", qemu::DEBUGCON_PORT);
        return;
    }
    if export {
        let _export = EXPORT.lock();
        qemu::debugcon_write(&HEADER);
        EXPORTING.store(true, Ordering::Relaxed);
    }
    log::info!("history: {capacity} events per process, export {}", if export { "on (debug console)" } else { "off" });
}

/// Whether histories are exported.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Takes the export lock: records written while it is held stay together.
pub(super) fn lock_export() -> IrqMutexGuard<'static, ()> {
    EXPORT.lock()
}

/// Writes `records` to the debug console. The caller holds the export lock.
pub(super) fn write(_export: &IrqMutexGuard<'static, ()>, records: &[Record]) {
    for record in records {
        qemu::debugcon_write(&record.encode());
    }
}

/// One process's access history.
#[derive(Debug)]
pub struct History {
    ring: Ring,
    /// Time stamps count TSC cycles from here (the spawn).
    since: u64,
    /// The exporter's place in the ring.
    exported: Cursor,
    /// The PAE task's place in the ring.
    pae: Cursor,
}

impl History {
    /// An empty history whose clock starts at TSC value `since`.
    pub(super) fn new(since: u64) -> History {
        History { ring: Ring::new(CAPACITY.load(Ordering::Relaxed)), since, exported: Cursor::default(), pae: Cursor::default() }
    }

    /// Records `event` now.
    #[inline]
    pub fn record(&mut self, event: Event) {
        let time = cpu::rdtsc().wrapping_sub(self.since);
        self.ring.push(Entry { time, event });
    }

    /// Events recorded so far.
    pub(super) fn written(&self) -> u64 {
        self.ring.written()
    }

    /// Events overwritten before the exporter read them.
    pub(super) fn lost(&self) -> u64 {
        self.exported.lost
    }

    /// Appends up to `max` events not yet exported to `out` as records of
    /// process `pid`, after a `lost` record if some were overwritten unread.
    pub(super) fn take_unexported(&mut self, pid: u64, max: usize, out: &mut Vec<Record>) {
        if self.ring.pending(&self.exported) == 0 {
            return;
        }
        let mut entries = Vec::new();
        let lost = self.ring.read(&mut self.exported, max, &mut entries);
        if lost > 0 {
            out.push(Record::lost(pid, lost));
        }
        out.extend(entries.iter().map(|entry| Record::of(pid, entry)));
    }

    /// Whether events wait for the PAE task.
    pub fn pae_pending(&self) -> bool {
        self.ring.pending(&self.pae) > 0
    }

    /// Moves the PAE task's cursor past every event recorded so far (a
    /// process that just chose `pae`: its model starts from now).
    pub(super) fn pae_start(&mut self) {
        self.pae = Cursor { next: self.ring.written(), lost: self.pae.lost };
    }

    /// Appends up to `max` events the PAE task has not read to `out`.
    pub fn take_for_pae(&mut self, max: usize, out: &mut Vec<Entry>) {
        self.ring.read(&mut self.pae, max, out);
    }

    /// Events overwritten before the PAE task read them.
    pub fn pae_lost(&self) -> u64 {
        self.pae.lost
    }

    /// Whether events wait for the exporter.
    pub(super) fn pending(&self) -> bool {
        self.ring.pending(&self.exported) > 0
    }
}
