//! Access history: what each process did to its memory, kept in a bounded
//! per-process ring, and the record format it leaves the machine in.
//!
//! The kernel pushes an [`Event`] for every page fault (address, partition,
//! instruction pointer, access, outcome), every commit or decommit it makes
//! (with its cause: the loader, a policy, the program's own request or
//! advice), every system call (number, first arguments, result), every
//! declared resource, every accessed-bit scan of the process's page tables
//! (entries read, pages found accessed, cycles spent) and the runs of pages
//! that scan found accessed, and how the process ended. A [`Ring`] keeps the
//! last `capacity` of them: pushing never blocks and never fails, the oldest
//! event makes room. Readers (the exporter behind `cargo xtask trace`, later
//! the prediction engine) each keep a [`Cursor`] and learn how many events
//! were overwritten before they read them.
//!
//! # Wire format
//!
//! `cargo xtask trace` receives a [`HEADER`] (16 bytes: `b"VHIST\0\0\x01"`,
//! then the record size, 48, as a little-endian `u32`, then 4 zero bytes)
//! followed by [`RECORD_SIZE`]-byte records, all little-endian:
//!
//! | offset | type | field |
//! | --- | --- | --- |
//! | 0 | u8 | kind: 1 spawn, 2 fault, 3 commit, 4 decommit, 5 syscall, 6 request, 7 sample, 8 accessed, 9 exit, 10 lost, 11 partition |
//! | 1 | u8 | code (per kind, below) |
//! | 2 | u16 | zero |
//! | 4 | u32 | pid |
//! | 8 | u64 | time: TSC cycles since the process was spawned (instructions under `-icount shift=0`) |
//! | 16 | u64 | partition id (0: none) |
//! | 24 | u64 | address |
//! | 32 | u64 | count |
//! | 40 | u64 | value |
//!
//! Per kind (fields not named are zero):
//! - **spawn**: the program name (up to 16 bytes, zero-padded) in address
//!   and count; value = parent pid (0: the kernel).
//! - **fault**: code = access (0 read, 1 write, 2 execute) + 16 × outcome
//!   (0 committed, 1 already committed, 2 outside every partition, 3 rights
//!   violation, 4 out of memory, 5 swapped in, 6 swap failed); partition;
//!   address = faulting address; value = instruction pointer.
//! - **commit** / **decommit**: code = cause (0 loader, 1 policy, 2 request,
//!   3 advice, 4 layout); partition; address = first page's address; count = pages
//!   asked for; value = pages actually committed (or released).
//! - **syscall**: code = number (255: unknown); address = first argument;
//!   count = second argument; value = result as returned (errors are
//!   negative).
//! - **request**: code = what (0 working set in pages, 1 lifetime in ticks,
//!   2 a program it will start, 3 a partition it will use); value.
//! - **sample**: count = page-table entries read; address = pages seen
//!   accessed; value = cycles the scan took.
//! - **accessed**: partition; address = first page's address; count = pages
//!   seen accessed in a row.
//! - **exit**: code = 0 (exited) or the `FaultKind` code; address = fault
//!   address; value = exit code (sign-extended).
//! - **lost**: count = events the ring overwrote before they were read.
//! - **partition**: code = change (0 created, 1 range added, 2 resized,
//!   3 destroyed); partition; address = its (first, or added) range's
//!   address; count = pages (of the range, or after resizing); value = its
//!   kind (`abi::PartitionKind::code`).
//!
//! [`Record::fmt`] renders a record as one CSV row under [`CSV_HEADER`].

#![forbid(unsafe_code)]

use crate::vass::{Access, FaultOutcome, PageRange, PartitionId};
use alloc::collections::TryReserveError;
use alloc::vec::Vec;
use core::fmt;

use abi::PAGE_SIZE;

abi::coded_enum! {
    /// Why pages were committed or decommitted, named as CSV rows print it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Cause: u8 {
        /// The program loader (code, data, the stack's argument pages).
        Loader = 0 => "loader",
        /// The commit policy, ahead of use.
        Policy = 1 => "policy",
        /// The program asked (`partition_commit`, `partition_decommit`).
        Request = 2 => "request",
        /// The program's advice (will-need, dont-need).
        Advice = 3 => "advice",
        /// The program's layout proposal, applied at the first fault in a
        /// partition under `pae` (`pae::proposal`).
        Layout = 4 => "layout",
    }
}

abi::coded_enum! {
    /// What a process declared about its future (`resource_request`), named
    /// as CSV rows print it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Request: u8 {
        /// Expected working set, in pages.
        WorkingSet = 0 => "working-set",
        /// Expected lifetime, in ticks.
        Lifetime = 1 => "lifetime",
        /// A program it will start (the value is its index in the declaration).
        Program = 2 => "program",
        /// A partition it will use (the value is its id).
        Partition = 3 => "partition",
    }
}

abi::coded_enum! {
    /// How a partition changed, named as CSV rows print it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Change: u8 {
        /// Created (by the loader or the program).
        Created = 0 => "create",
        /// A range was added.
        Extended = 1 => "add-range",
        /// Resized.
        Resized = 2 => "resize",
        /// Destroyed.
        Destroyed = 3 => "destroy",
    }
}

/// One thing a process did to its memory, or the kernel did for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The process was created by `parent` (0: the kernel).
    Spawn {
        /// Parent pid.
        parent: u64,
        /// Program name, zero-padded (cut at 16 bytes).
        name: [u8; 16],
    },
    /// A page fault.
    Fault {
        /// Faulting address.
        address: u64,
        /// Instruction pointer of the faulting access.
        rip: u64,
        /// The partition holding the address (0: none).
        partition: PartitionId,
        /// What the access was.
        access: Access,
        /// What the commit engine did.
        outcome: FaultOutcome,
    },
    /// Pages committed other than by the fault itself.
    Commit {
        /// The partition.
        partition: PartitionId,
        /// The pages asked for.
        range: PageRange,
        /// Pages newly committed.
        committed: u64,
        /// Who asked.
        cause: Cause,
    },
    /// Pages decommitted.
    Decommit {
        /// The partition.
        partition: PartitionId,
        /// The pages asked for.
        range: PageRange,
        /// Pages released.
        released: u64,
        /// Who asked.
        cause: Cause,
    },
    /// A system call returned.
    Syscall {
        /// Its number.
        number: u64,
        /// First argument.
        first: u64,
        /// Second argument.
        second: u64,
        /// The result as returned to the process (errors negative).
        result: u64,
    },
    /// A declared resource.
    Request {
        /// What was declared.
        what: Request,
        /// Its value.
        value: u64,
    },
    /// An accessed-bit scan of the process's page tables.
    Sample {
        /// Page-table entries read.
        entries: u64,
        /// Pages seen accessed.
        accessed: u64,
        /// Cycles the scan took.
        cycles: u64,
    },
    /// A run of pages the last scan saw accessed.
    Accessed {
        /// The partition.
        partition: PartitionId,
        /// The pages.
        range: PageRange,
    },
    /// A partition appeared, grew, shrank or went away.
    Partition {
        /// The partition.
        partition: PartitionId,
        /// What happened.
        change: Change,
        /// Its first range (created, resized, destroyed) or the added one.
        range: PageRange,
        /// Its kind (`abi::PartitionKind::code`).
        kind: u64,
    },
    /// The process ended.
    Exit {
        /// 0 if it exited, else the code of the fault that killed it.
        fault: u8,
        /// The fault address.
        address: u64,
        /// The exit code.
        code: i32,
    },
}

impl Event {
    /// A spawn event for a program called `name`.
    pub fn spawn(parent: u64, name: &str) -> Event {
        let mut padded = [0; 16];
        let bytes = name.as_bytes();
        let length = bytes.len().min(padded.len());
        padded[..length].copy_from_slice(&bytes[..length]);
        Event::Spawn { parent, name: padded }
    }
}

/// An event and when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Cycles since the process was spawned.
    pub time: u64,
    /// What happened.
    pub event: Event,
}

/// A reader's place in a [`Ring`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Sequence number of the next event to read.
    pub next: u64,
    /// Events overwritten before this reader read them.
    pub lost: u64,
}

/// The last `capacity` events of one process. Pushing is O(1) and never
/// fails: when the ring is full (or the heap refuses to grow it) the oldest
/// event is overwritten.
#[derive(Debug, Default)]
pub struct Ring {
    events: Vec<Entry>,
    capacity: usize,
    /// Events pushed since creation; the sequence number of the next one.
    written: u64,
}

impl Ring {
    /// A ring for up to `capacity` events (0: records nothing). Storage
    /// grows as events arrive.
    pub fn new(capacity: usize) -> Ring {
        Ring { events: Vec::new(), capacity, written: 0 }
    }

    /// The most events it keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Events pushed since creation.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Records `entry`, overwriting the oldest event if the ring is full.
    /// (Every system call records one: the common case, a ring that is
    /// full or has room in its storage, stays small and inline; growing
    /// the storage is out of line.)
    #[inline]
    pub fn push(&mut self, entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        // Storage only grows before the ring first wraps, so event `n` stays
        // at slot `n % len` once it has.
        let len = self.events.len();
        if self.written == len as u64 && len < self.capacity {
            self.push_growing(entry);
        } else {
            self.overwrite(entry);
        }
        self.written += 1;
    }

    /// Appends `entry` to storage not yet wrapped, growing it (or, if it
    /// cannot grow, overwrites as a full ring does).
    #[cold]
    #[inline(never)]
    fn push_growing(&mut self, entry: Entry) {
        if self.grow().is_ok() {
            self.events.push(entry);
        } else {
            self.overwrite(entry);
        }
    }

    /// Puts `entry` in the slot of event `written` (lost if there is no
    /// storage at all: readers count it).
    #[inline]
    fn overwrite(&mut self, entry: Entry) {
        let len = self.events.len() as u64;
        if len > 0 {
            let slot = (self.written % len) as usize;
            self.events[slot] = entry;
        }
    }

    /// Makes room for one more event, doubling the storage up to the
    /// capacity.
    fn grow(&mut self) -> Result<(), TryReserveError> {
        if self.events.len() < self.events.capacity() {
            return Ok(());
        }
        let wanted = (self.events.len() * 2).max(16).min(self.capacity);
        self.events.try_reserve_exact(wanted - self.events.len())
    }

    /// Sequence number of the oldest event still held.
    fn oldest(&self) -> u64 {
        self.written - self.events.len() as u64
    }

    /// Appends to `out` up to `max` events from `cursor` on, in order, and
    /// moves the cursor past them. Events overwritten before the cursor
    /// reached them are added to `cursor.lost`; returns how many of those
    /// this read skipped.
    pub fn read(&self, cursor: &mut Cursor, max: usize, out: &mut Vec<Entry>) -> u64 {
        let oldest = self.oldest();
        let skipped = oldest.saturating_sub(cursor.next);
        cursor.lost += skipped;
        cursor.next = cursor.next.max(oldest);
        let available = usize::try_from(self.written - cursor.next).unwrap_or(usize::MAX);
        let take = available.min(max);
        let length = self.events.len() as u64;
        out.extend((0..take as u64).map(|offset| self.events[((cursor.next + offset) % length) as usize]));
        cursor.next += take as u64;
        skipped
    }

    /// Events a reader at `cursor` has not read yet (lost ones included).
    pub fn pending(&self, cursor: &Cursor) -> u64 {
        self.written.saturating_sub(cursor.next)
    }
}

/// The first bytes of an exported history.
pub const HEADER: [u8; 16] = [b'V', b'H', b'I', b'S', b'T', 0, 0, 1, RECORD_SIZE as u8, 0, 0, 0, 0, 0, 0, 0];
/// Bytes per exported record.
pub const RECORD_SIZE: usize = 48;

abi::coded_enum! {
    /// Record kinds on the wire, named as CSV rows print them (the `event`
    /// column).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Kind: u8 {
        /// [`Event::Spawn`].
        Spawn = 1 => "spawn",
        /// [`Event::Fault`].
        Fault = 2 => "fault",
        /// [`Event::Commit`].
        Commit = 3 => "commit",
        /// [`Event::Decommit`].
        Decommit = 4 => "decommit",
        /// [`Event::Syscall`].
        Syscall = 5 => "syscall",
        /// [`Event::Request`].
        Request = 6 => "request",
        /// [`Event::Sample`].
        Sample = 7 => "sample",
        /// [`Event::Accessed`].
        Accessed = 8 => "accessed",
        /// [`Event::Exit`].
        Exit = 9 => "exit",
        /// Events of `pid` overwritten before they were exported.
        Lost = 10 => "lost",
        /// [`Event::Partition`].
        Partition = 11 => "partition",
    }
}

/// One exported record: the wire format's fields, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// What it records.
    pub kind: Kind,
    /// Kind-specific code.
    pub code: u8,
    /// The process.
    pub pid: u32,
    /// Cycles since the process was spawned.
    pub time: u64,
    /// Partition id (0: none).
    pub partition: u64,
    /// Kind-specific address.
    pub address: u64,
    /// Kind-specific count.
    pub count: u64,
    /// Kind-specific value.
    pub value: u64,
}

const ACCESSES: [Access; 3] = [Access::Read, Access::Write, Access::Execute];
const OUTCOMES: [FaultOutcome; 11] = FaultOutcome::ALL;

fn position<T: PartialEq>(all: &[T], wanted: &T) -> u8 {
    all.iter().position(|item| item == wanted).unwrap_or(0) as u8
}

impl Record {
    /// The record of `entry` of process `pid`.
    pub fn of(pid: u64, entry: &Entry) -> Record {
        let pid = u32::try_from(pid).unwrap_or(u32::MAX);
        let mut record = Record { kind: Kind::Spawn, code: 0, pid, time: entry.time, partition: 0, address: 0, count: 0, value: 0 };
        match entry.event {
            Event::Spawn { parent, name } => {
                record.address = u64::from_le_bytes(name[..8].try_into().unwrap_or_default());
                record.count = u64::from_le_bytes(name[8..].try_into().unwrap_or_default());
                record.value = parent;
            }
            Event::Fault { address, rip, partition, access, outcome } => {
                record.kind = Kind::Fault;
                record.code = position(&ACCESSES, &access) + 16 * position(&OUTCOMES, &outcome);
                record.partition = partition.0;
                record.address = address;
                record.value = rip;
            }
            Event::Commit { partition, range, committed, cause } => {
                record.kind = Kind::Commit;
                record.code = cause.code();
                record.partition = partition.0;
                record.address = range.start * PAGE_SIZE;
                record.count = range.len();
                record.value = committed;
            }
            Event::Decommit { partition, range, released, cause } => {
                record.kind = Kind::Decommit;
                record.code = cause.code();
                record.partition = partition.0;
                record.address = range.start * PAGE_SIZE;
                record.count = range.len();
                record.value = released;
            }
            Event::Syscall { number, first, second, result } => {
                record.kind = Kind::Syscall;
                record.code = u8::try_from(number).ok().filter(|&number| number < u8::MAX).unwrap_or(u8::MAX);
                record.address = first;
                record.count = second;
                record.value = result;
            }
            Event::Request { what, value } => {
                record.kind = Kind::Request;
                record.code = what.code();
                record.value = value;
            }
            Event::Sample { entries, accessed, cycles } => {
                record.kind = Kind::Sample;
                record.count = entries;
                record.address = accessed;
                record.value = cycles;
            }
            Event::Accessed { partition, range } => {
                record.kind = Kind::Accessed;
                record.partition = partition.0;
                record.address = range.start * PAGE_SIZE;
                record.count = range.len();
            }
            Event::Partition { partition, change, range, kind } => {
                record.kind = Kind::Partition;
                record.code = change.code();
                record.partition = partition.0;
                record.address = range.start * PAGE_SIZE;
                record.count = range.len();
                record.value = kind;
            }
            Event::Exit { fault, address, code } => {
                record.kind = Kind::Exit;
                record.code = fault;
                record.address = address;
                record.value = i64::from(code) as u64;
            }
        }
        record
    }

    /// A record saying `lost` events of `pid` were overwritten unread.
    pub fn lost(pid: u64, lost: u64) -> Record {
        let pid = u32::try_from(pid).unwrap_or(u32::MAX);
        Record { kind: Kind::Lost, code: 0, pid, time: 0, partition: 0, address: 0, count: lost, value: 0 }
    }

    /// The wire bytes.
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut bytes = [0; RECORD_SIZE];
        bytes[0] = self.kind.code();
        bytes[1] = self.code;
        bytes[4..8].copy_from_slice(&self.pid.to_le_bytes());
        for (index, field) in [self.time, self.partition, self.address, self.count, self.value].into_iter().enumerate() {
            bytes[8 + 8 * index..16 + 8 * index].copy_from_slice(&field.to_le_bytes());
        }
        bytes
    }

    /// Decodes the wire bytes of one record, checking its kind and codes.
    pub fn decode(bytes: &[u8; RECORD_SIZE]) -> Result<Record, DecodeError> {
        let kind = Kind::from_code(bytes[0]).ok_or(DecodeError::Kind(bytes[0]))?;
        let code = bytes[1];
        if bytes[2..4] != [0, 0] {
            return Err(DecodeError::Reserved);
        }
        let word = |index: usize| u64::from_le_bytes(bytes[8 + 8 * index..16 + 8 * index].try_into().unwrap_or_default());
        let record = Record {
            kind,
            code,
            pid: u32::from_le_bytes(bytes[4..8].try_into().unwrap_or_default()),
            time: word(0),
            partition: word(1),
            address: word(2),
            count: word(3),
            value: word(4),
        };
        let valid = match kind {
            Kind::Fault => usize::from(code % 16) < ACCESSES.len() && usize::from(code / 16) < OUTCOMES.len(),
            Kind::Commit | Kind::Decommit => Cause::from_code(code).is_some(),
            Kind::Request => Request::from_code(code).is_some(),
            Kind::Partition => Change::from_code(code).is_some(),
            Kind::Exit => code == 0 || abi::FaultKind::from_code(u32::from(code)).is_some(),
            Kind::Syscall => true,
            Kind::Spawn | Kind::Sample | Kind::Accessed | Kind::Lost => code == 0,
        };
        if valid { Ok(record) } else { Err(DecodeError::Code { kind: kind.name(), code }) }
    }

    /// The program name of a spawn record.
    pub fn name(&self) -> Option<([u8; 16], usize)> {
        if self.kind != Kind::Spawn {
            return None;
        }
        let mut name = [0; 16];
        name[..8].copy_from_slice(&self.address.to_le_bytes());
        name[8..].copy_from_slice(&self.count.to_le_bytes());
        let length = name.iter().position(|&byte| byte == 0).unwrap_or(name.len());
        Some((name, length))
    }

    /// The CSV `detail` column: a name for the code.
    fn detail(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Spawn => {
                let (name, length) = self.name().unwrap_or_default();
                // Keep the CSV well formed whatever the name holds.
                for &byte in &name[..length] {
                    let safe = if byte.is_ascii_graphic() && byte != b',' && byte != b'"' { byte as char } else { '?' };
                    write!(out, "{safe}")?;
                }
                Ok(())
            }
            Kind::Fault => {
                let access = ["read", "write", "execute"].get(usize::from(self.code % 16)).copied().unwrap_or("?");
                let outcome = ["committed", "already-committed", "outside", "violation", "out-of-memory", "swapped-in", "swap-failed", "mapped", "revoked", "replicated", "invalidated"]
                    .get(usize::from(self.code / 16))
                    .copied()
                    .unwrap_or("?");
                write!(out, "{access}:{outcome}")
            }
            Kind::Commit | Kind::Decommit => out.write_str(Cause::from_code(self.code).map_or("?", Cause::name)),
            Kind::Syscall => match abi::Syscall::from_number(u64::from(self.code)) {
                Some(call) => out.write_str(call.name()),
                None => out.write_str("unknown"),
            },
            Kind::Request => out.write_str(Request::from_code(self.code).map_or("?", Request::name)),
            Kind::Partition => out.write_str(Change::from_code(self.code).map_or("?", Change::name)),
            Kind::Exit => match abi::FaultKind::from_code(u32::from(self.code)) {
                Some(kind) => out.write_str(kind.name()),
                None => out.write_str("exited"),
            },
            Kind::Sample | Kind::Accessed | Kind::Lost => Ok(()),
        }
    }
}

/// The columns of the CSV form of a history (`cargo xtask trace`).
pub const CSV_HEADER: &str = "pid,time,event,detail,partition,address,count,value";

/// One CSV row (no newline), all numbers in decimal; `value` is signed for
/// syscall results and exit codes.
impl fmt::Display for Record {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(out, "{},{},{},", self.pid, self.time, self.kind.name())?;
        self.detail(out)?;
        // A spawn record's address and count carry the name, shown as detail.
        let (address, count) = if self.kind == Kind::Spawn { (0, 0) } else { (self.address, self.count) };
        write!(out, ",{},{address},{count},", self.partition)?;
        match self.kind {
            Kind::Syscall | Kind::Exit => write!(out, "{}", self.value as i64),
            _ => write!(out, "{}", self.value),
        }
    }
}

/// Why a history could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The stream does not start with [`HEADER`].
    Header,
    /// The stream ends inside a record.
    Truncated {
        /// Bytes left over after the last whole record.
        extra: usize,
    },
    /// An unknown record kind.
    Kind(u8),
    /// A code the kind does not have.
    Code {
        /// The kind.
        kind: &'static str,
        /// The code.
        code: u8,
    },
    /// The reserved bytes are not zero.
    Reserved,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Header => write!(out, "not a history stream (bad header)"),
            DecodeError::Truncated { extra } => write!(out, "stream ends {extra} bytes into a record"),
            DecodeError::Kind(kind) => write!(out, "unknown record kind {kind}"),
            DecodeError::Code { kind, code } => write!(out, "bad code {code} for a {kind} record"),
            DecodeError::Reserved => write!(out, "reserved bytes are not zero"),
        }
    }
}

/// Decodes a whole exported stream: the header, then records. Reports
/// the first bad record with its index.
pub fn decode_stream(bytes: &[u8]) -> Result<Vec<Record>, (usize, DecodeError)> {
    let body = bytes.strip_prefix(&HEADER[..]).ok_or((0, DecodeError::Header))?;
    let (chunks, rest) = body.as_chunks::<RECORD_SIZE>();
    let extra = rest.len();
    let mut records = Vec::with_capacity(chunks.len());
    for (index, chunk) in chunks.iter().enumerate() {
        records.push(Record::decode(chunk).map_err(|error| (index, error))?);
    }
    if extra != 0 {
        return Err((records.len(), DecodeError::Truncated { extra }));
    }
    Ok(records)
}

#[cfg(test)]
mod tests;
