//! The partition system calls' backends: the raw words stop here, decoded
//! into types first (kinds, rights, advice, sizes, page ranges; bad input
//! is a typed `abi::Error` before anything changes), each call applied to
//! the running process's space through a memory-service session and
//! recorded in its history; the queries (`partition_query`, `page_query`,
//! `own_memory_counters`).

use crate::arch::cpu;
use crate::history::{Cause, Change, Event};
use crate::memory::{self, Space};
use crate::mm::layout;
use crate::pae::proposal::PartitionLayout;
use crate::policy::{self, Plan};
use crate::vass::hardware::SystemTables;
use crate::vass::{Advice, Cold, PageRange, PartitionId, PartitionKind, Pattern, Residence, Vass, VassError, Window};
use abi::{Error, Rights};
use alloc::vec::Vec;
use super::memory::PAGE_SIZE;
use super::table::*;
use crate::vass::SpaceId;
/// Where partitions the program creates are placed, in pages.
pub(super) const HEAP_WINDOW: Window = Window { start: layout::USER_HEAP.start / PAGE_SIZE, end: layout::USER_HEAP.end / PAGE_SIZE };

/// Pages for a partition (or an added range) of `size` bytes: not zero,
/// at most `MAX_PARTITION`.
pub(super) fn partition_size_pages(size: u64) -> Result<u64, Error> {
    if size == 0 {
        return Err(Error::InvalidArgument);
    }
    if size > abi::limits::MAX_PARTITION {
        return Err(Error::TooLarge);
    }
    Ok(size.div_ceil(PAGE_SIZE))
}

/// The page a program asks a partition range to start at (`at`, 0 for
/// anywhere): page aligned and inside the partition window.
pub(super) fn requested_page(at: u64) -> Result<Option<u64>, Error> {
    if at == 0 {
        return Ok(None);
    }
    if !at.is_multiple_of(PAGE_SIZE) || !layout::USER_HEAP.contains(at) {
        return Err(Error::InvalidArgument);
    }
    Ok(Some(at / PAGE_SIZE))
}

pub(super) fn vass_error(error: VassError) -> Error {
    match error {
        VassError::UnknownPartition => Error::NotFound,
        VassError::NotOwner | VassError::RightsEscalation | VassError::Sealed => Error::PermissionDenied,
        VassError::Overlap => Error::AddressInUse,
        VassError::BadRange | VassError::OutsideGrant => Error::InvalidArgument,
        VassError::TooManyLocked => Error::TooLarge,
        VassError::Revoked => Error::Revoked,
        VassError::Shared => Error::Shared,
        VassError::NoVirtualSpace | VassError::OutOfFrames | VassError::PageTable | VassError::SwapFailed => Error::OutOfMemory,
    }
}

/// Creates a partition of `size` bytes for the running process, at `at`
/// (0: wherever it fits). Returns its id and address.
pub fn partition_create(size: u64, kind: u64, rights: u64, at: u64) -> Result<(PartitionId, u64), Error> {
    let kind = partition_kind(kind)?;
    let rights = partition_rights(rights)?;
    let pages = partition_size_pages(size)?;
    let at = requested_page(at)?;
    let mut table = TABLE.lock();
    let mut memory = memory::lock();
    let (process, mut space) = own(&mut table, &mut memory)?;
    let Process { policy, history, shaping, .. } = process;
    let (pid, vass) = (space.pid(), &mut *space.vass);
    // Under pae, a partition the layout proposal says grew larger is
    // placed with room to grow in place (the proposal pre-sizes it).
    let room = match (&shaping.proposal, at) {
        (Some(proposal), None) if policy.is_pae() => proposal
            .partition(vass.next_ordinal(pid), kind.code())
            .map_or(0, |proposed| proposed.pages.saturating_sub(pages).min(abi::limits::MAX_PARTITION / PAGE_SIZE)),
        _ => 0,
    };
    let created = if room > 0 {
        vass.create_with_room(pid, pages, room, kind, rights, HEAP_WINDOW)
    } else {
        vass.create(pid, pages, kind, rights, at, HEAP_WINDOW)
    };
    let (id, range) = created.map_err(vass_error)?;
    history.record(Event::Partition { partition: id, change: Change::Created, range, kind: kind.code() });
    let plan: Plan = policy.as_policy().on_create(id, &[range]);
    policy::apply(vass, pid, &plan, &mut space.tables, &mut space.frames, |partition, range, committed| {
        history.record(Event::Commit { partition, range, committed, cause: Cause::Policy });
    });
    Ok((id, range.start * PAGE_SIZE))
}

/// Adds a range of `size` bytes at `at` (0: anywhere) to partition `id`.
/// Returns its address.
pub fn partition_add_range(id: PartitionId, size: u64, at: u64) -> Result<u64, Error> {
    let pages = partition_size_pages(size)?;
    let at = requested_page(at)?;
    let mut table = TABLE.lock();
    let mut memory = memory::lock();
    let (process, space) = own(&mut table, &mut memory)?;
    let range = space.vass.add_range(space.pid(), id, pages, at, HEAP_WINDOW).map_err(vass_error)?;
    process.history.record(Event::Partition { partition: id, change: Change::Extended, range, kind: kind_of(space.vass, id) });
    Ok(range.start * PAGE_SIZE)
}

/// The pages of `[offset, offset + length)` of partition `id`, where offsets
/// count through its ranges in the order they were added (a partition that
/// grew by adding a range is still one logical span). One page range per
/// piece.
pub(super) fn partition_pages(vass: &Vass, space: SpaceId, id: PartitionId, offset: u64, length: u64) -> Result<Vec<PageRange>, VassError> {
    let partition = vass.partition(id).ok_or(VassError::UnknownPartition)?;
    if partition.space != space {
        return Err(VassError::NotOwner);
    }
    if !offset.is_multiple_of(PAGE_SIZE) || length == 0 {
        return Err(VassError::BadRange);
    }
    let mut skip = offset / PAGE_SIZE;
    let mut wanted = length.div_ceil(PAGE_SIZE);
    if skip.checked_add(wanted).is_none_or(|end| end > partition.pages()) {
        return Err(VassError::OutsideGrant);
    }
    let mut pieces = Vec::new();
    for range in &partition.ranges {
        if wanted == 0 {
            break;
        }
        if skip >= range.len() {
            skip -= range.len();
            continue;
        }
        let start = range.start + skip;
        let take = wanted.min(range.end - start);
        pieces.push(PageRange::new(start, start + take));
        wanted -= take;
        skip = 0;
    }
    Ok(pieces)
}

/// Applies `operation` to each piece of `[offset, offset + length)` of
/// partition `id` (in a session on the running process's space) and adds
/// up the pages it reports; `event` names what each piece did for the
/// history (`None`: nothing to record).
pub(super) fn for_each_piece(
    id: PartitionId,
    offset: u64,
    length: u64,
    operation: impl Fn(&mut Space<'_, SystemTables<'_>>, PageRange) -> Result<u64, VassError>,
    event: impl Fn(PageRange, u64) -> Option<Event>,
) -> Result<u64, Error> {
    let mut table = TABLE.lock();
    let mut memory = memory::lock();
    let (process, mut space) = own(&mut table, &mut memory)?;
    let mut pages = 0;
    for range in partition_pages(space.vass, space.pid(), id, offset, length).map_err(vass_error)? {
        let done = operation(&mut space, range).map_err(vass_error)?;
        if let Some(event) = event(range, done) {
            process.history.record(event);
        }
        pages += done;
    }
    Ok(pages)
}

/// Destroys partition `id` of the running process.
pub fn partition_destroy(id: PartitionId) -> Result<(), Error> {
    let mut table = TABLE.lock();
    let mut memory = memory::lock();
    let (process, mut space) = own(&mut table, &mut memory)?;
    let Process { policy, history, shaping, .. } = process;
    let (pid, vass) = (space.pid(), &mut *space.vass);
    let (range, kind) = (first_range(vass, id), kind_of(vass, id));
    // The PAE remembers what the partition held for the next launch.
    let layout = if policy.is_pae() && vass.partition(id).is_some_and(|partition| partition.space == pid) {
        vass.partition_use(id, &space.tables).map(PartitionLayout::from)
    } else {
        None
    };
    vass.destroy(pid, id, &mut space.tables, &mut space.frames).map_err(vass_error)?;
    // A view gives its mapping back; a shared partition's grants are
    // revoked (the VASS revoked its views).
    space.shares.view_destroyed(id);
    space.shares.source_destroyed(id);
    shaping.ended.extend(layout);
    policy.as_policy().on_destroy(id);
    history.record(Event::Partition { partition: id, change: Change::Destroyed, range, kind });
    Ok(())
}

/// Commits `[offset, offset + length)` of partition `id` ahead of use.
pub fn partition_commit(id: PartitionId, offset: u64, length: u64) -> Result<u64, Error> {
    for_each_piece(
        id,
        offset,
        length,
        |space, range| space.vass.commit(space.pid(), id, range, &mut space.tables, &mut space.frames),
        |range, committed| Some(Event::Commit { partition: id, range, committed, cause: Cause::Request }),
    )
}

/// Decommits `[offset, offset + length)` of partition `id`.
pub fn partition_decommit(id: PartitionId, offset: u64, length: u64) -> Result<u64, Error> {
    for_each_piece(
        id,
        offset,
        length,
        |space, range| space.vass.decommit(space.pid(), id, range, &mut space.tables, &mut space.frames),
        |range, released| Some(Event::Decommit { partition: id, range, released, cause: Cause::Request }),
    )
}

/// Resizes partition `id` of the running process to `size` bytes.
pub fn partition_resize(id: PartitionId, size: u64) -> Result<(), Error> {
    let pages = partition_size_pages(size)?;
    let mut table = TABLE.lock();
    let mut memory = memory::lock();
    let (process, mut space) = own(&mut table, &mut memory)?;
    let (pid, vass) = (space.pid(), &mut *space.vass);
    vass.resize(pid, id, pages, HEAP_WINDOW, &mut space.tables, &mut space.frames).map_err(vass_error)?;
    let range = first_range(vass, id);
    process.history.record(Event::Partition { partition: id, change: Change::Resized, range: PageRange::new(range.start, range.start + pages), kind: kind_of(vass, id) });
    Ok(())
}

/// The first range of partition `id` (empty if there is none).
pub(super) fn first_range(vass: &Vass, id: PartitionId) -> PageRange {
    vass.partition(id).and_then(|partition| partition.ranges.first().copied()).unwrap_or(PageRange::new(0, 0))
}

/// The kind code of partition `id` (0 if there is none).
pub(super) fn kind_of(vass: &Vass, id: PartitionId) -> u64 {
    vass.partition(id).map_or(0, |partition| partition.kind.code())
}

/// Sets the rights of `[offset, offset + length)` of partition `id`.
pub fn partition_protect(id: PartitionId, offset: u64, length: u64, rights: u64) -> Result<(), Error> {
    let rights = partition_rights(rights)?;
    // `for_each_piece` checks the whole range before changing any piece.
    for_each_piece(
        id,
        offset,
        length,
        |space, range| space.vass.protect_range(space.pid(), id, range, rights, &mut space.tables, &mut space.frames).map(|()| 0),
        |_, _| None,
    )
    .map(|_| ())
}

/// Applies `advice` to `[offset, offset + length)` of partition `id`.
pub fn partition_advise(id: PartitionId, offset: u64, length: u64, advice: u64) -> Result<u64, Error> {
    let advice = partition_advice(advice)?;
    for_each_piece(
        id,
        offset,
        length,
        |space, range| space.vass.advise(space.pid(), id, range, advice, &mut space.tables, &mut space.frames),
        |range, pages| match advice {
            Advice::WillNeed => Some(Event::Commit { partition: id, range, committed: pages, cause: Cause::Advice }),
            Advice::DontNeed => Some(Event::Decommit { partition: id, range, released: pages, cause: Cause::Advice }),
            _ => None,
        },
    )
}

/// A partition kind as the system calls give it (its `abi::PartitionKind`
/// code).
pub(super) fn partition_kind(code: u64) -> Result<PartitionKind, Error> {
    PartitionKind::from_code(code).ok_or(Error::InvalidArgument)
}

/// Advice as the system calls give it (its `abi::Advice` code).
pub(super) fn partition_advice(code: u64) -> Result<Advice, Error> {
    Advice::from_code(code).ok_or(Error::InvalidArgument)
}

/// Rights a partition may have: some, and never writable and executable.
pub(super) fn partition_rights(bits: u64) -> Result<Rights, Error> {
    let rights = u32::try_from(bits).ok().and_then(Rights::from_bits).ok_or(Error::InvalidArgument)?;
    if rights.is_empty() || rights.contains(Rights::WRITE | Rights::EXECUTE) {
        return Err(Error::InvalidArgument);
    }
    Ok(rights)
}

/// The ids of the running process's partitions, in id order.
pub fn partition_list() -> Result<Vec<u64>, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    Ok(memory::lock().partitions_of(SpaceId(pid)).map(|partition| partition.id.0).collect())
}

/// The partition-table row of partition `id` of the running process
/// (after sampling accessed bits, so hits are current).
pub fn partition_query(id: PartitionId) -> Result<abi::PartitionInfo, Error> {
    let mut table = TABLE.lock();
    let mut memory = memory::lock();
    let (_, mut space) = own(&mut table, &mut memory)?;
    let (pid, vass, tables) = (space.pid(), &mut *space.vass, &mut space.tables);
    query_partition(vass, pid, id, tables).map_err(vass_error)
}

/// The partition-table row of partition `id` of `pid`.
fn query_partition(vass: &mut Vass, pid: SpaceId, id: PartitionId, tables: &mut SystemTables<'_>) -> Result<abi::PartitionInfo, VassError> {
    let partition = vass.partition(id).ok_or(VassError::UnknownPartition)?;
    if partition.space != pid {
        return Err(VassError::NotOwner);
    }
    vass.sample_untouched(pid, tables);
    let partition = vass.partition(id).ok_or(VassError::UnknownPartition)?;
    let now = vass.now();
    let hinted = |wanted: Pattern| -> u64 {
        partition.hints.iter().filter(|&(_, pattern)| pattern == wanted).map(|(range, _)| range.len()).sum()
    };
    Ok(abi::PartitionInfo {
        id: id.0,
        owner: pid.0,
        kind: partition.kind.code(),
        rights: u64::from(partition.rights.bits()),
        max_rights: u64::from(partition.max_rights.bits()),
        sealed: u64::from(partition.sealed),
        base: partition.ranges.first().map_or(0, |range| range.start * PAGE_SIZE),
        size: partition.pages() * PAGE_SIZE,
        ranges: partition.ranges.len() as u64,
        protected_ranges: partition.overrides.len() as u64,
        committed_pages: partition.committed.len() as u64,
        uncommitted_pages: partition.pages() - partition.committed.len() as u64,
        extents: partition.extents(),
        huge_pages: partition.huge.len() as u64,
        promotions: partition.counters.promotions,
        demotions: partition.counters.demotions,
        loaded: partition.counters.loaded,
        demand_commits: partition.counters.demand_commits,
        ahead_commits: partition.counters.ahead_commits,
        hits: partition.counters.hits,
        untouched: partition.untouched.len() as u64,
        waste: partition.counters.waste,
        decommits: partition.counters.decommits,
        peak_committed: partition.counters.peak_committed,
        faults: partition.counters.faults,
        recent_faults: partition.recent_faults.total(now),
        recent_accessed: partition.recent_accessed.total(now),
        sequential_pages: hinted(Pattern::Sequential),
        random_pages: hinted(Pattern::Random),
        swapped_pages: partition.swapped.len() as u64,
        evictions: partition.counters.evictions,
        major_faults: partition.counters.major_faults,
        cold_pages: partition.cold_pages(),
        idle_scans: partition.idle_scans,
    })
}

/// What the VASM holds for the running process's page at `address`.
pub fn page_query(address: u64) -> Result<abi::PageInfo, Error> {
    if !layout::USER.contains(address) {
        return Err(Error::NotFound);
    }
    let page = address / PAGE_SIZE;
    let mut table = TABLE.lock();
    let mut memory = memory::lock();
    let (_, space) = own(&mut table, &mut memory)?;
    query_page(space.vass, space.pid(), page, &space.tables).map_err(vass_error)
}

/// What the VASM holds for page `page` of `pid`.
fn query_page(vass: &Vass, pid: SpaceId, page: u64, tables: &SystemTables<'_>) -> Result<abi::PageInfo, VassError> {
    if vass.lookup(pid, page).is_some_and(|partition| partition.revoked()) {
        return Err(VassError::Revoked);
    }
    let state = vass.page_state(pid, page).ok_or(VassError::UnknownPartition)?;
    let mut info = abi::PageInfo { partition: state.partition.0, rights: u64::from(state.rights.bits()), slot: u64::MAX, ..Default::default() };
    match state.residence {
        Residence::Uncommitted => info.state = abi::PAGE_UNCOMMITTED,
        Residence::Committed { frame, huge, copy } => {
            info.state = abi::PAGE_COMMITTED;
            info.frame = frame;
            info.huge = u64::from(huge);
            info.slot = copy.map_or(u64::MAX, |slot| slot.0);
            let entry = crate::vass::entry_of(tables, pid, page);
            info.accessed = u64::from(entry.is_some_and(|entry| entry.accessed));
            info.dirty = u64::from(entry.is_some_and(|entry| entry.dirty));
        }
        Residence::Swapped { slot, lost } => {
            info.state = if lost { abi::PAGE_LOST } else { abi::PAGE_SWAPPED };
            info.slot = slot.0;
        }
    }
    info.untouched = u64::from(state.untouched);
    info.cold = match state.cold {
        None => 0,
        Some(Cold::Advised) => 1,
        Some(Cold::Predicted) => 2,
    };
    info.locked = u64::from(state.locked);
    Ok(info)
}

/// The running process's memory counters (after sampling accessed bits).
pub fn own_memory_counters() -> Result<abi::MemoryCounters, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let (started, history_events, history_lost) = TABLE
        .lock()
        .processes
        .get(&pid)
        .map_or((0, 0, 0), |process| (process.started_tsc, process.history.written(), process.history.lost()));
    let mut counters = {
        let mut table = TABLE.lock();
        let mut memory = memory::lock();
        let (_, mut space) = own(&mut table, &mut memory)?;
        let (pid, vass) = (space.pid(), &mut *space.vass);
        vass.sample_untouched(pid, &mut space.tables);
        let counters = vass.space_counters(pid).unwrap_or_default();
        let partitions = vass.partitions_of(pid).count() as u64;
        let untouched = vass.partitions_of(pid).map(|p| p.untouched.len() as u64).sum();
        let age = vass.now().saturating_sub(vass.space_born(pid).unwrap_or(0));
        let mut summary = memory::summary(pid, partitions, age, &counters, untouched, vass.declaration(pid));
        summary.budget = vass.budget(pid).unwrap_or(0);
        summary.swapped = vass.partitions_of(pid).map(|p| p.swapped.len() as u64).sum();
        summary
    };
    counters.run_cycles = cpu::rdtsc().wrapping_sub(started);
    counters.history_events = history_events;
    counters.history_lost = history_lost;
    Ok(counters)
}
