//! The process lifecycle: loading programs from the ramdisk into fresh
//! address spaces, exit, wait, faults, demand paging, and checked copies
//! between kernel and user memory.

use crate::arch::context::{self, UserEntry};
use crate::arch::cpu::{self, UserAccessWindow};
use crate::arch::{gdt, idt, probe};
use crate::exec;
use crate::mm::layout;
use crate::mm::user::UserSpace;
use crate::ramdisk::Ramdisk;
use crate::sched::{self, TaskId};
use crate::vass::hardware::{KernelFrames, SpaceTables};
use crate::vass::{FaultOutcome, PageRange, PartitionKind, Vass, VassError, Window};
use crate::sync::IrqMutex;
use abi::{Error, ExitReason, Rights, WaitStatus};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use super::memory::{self, Access, CheckedUserSlice, UserSlice, PAGE_SIZE};
use spin::Once;
use x86_64::structures::idt::PageFaultErrorCode;
use x86_64::VirtAddr;

/// A process id.
pub type Pid = u64;

/// Most processes alive at once.
pub const MAX_PROCESSES: usize = 128;
/// Size of the user stack region (committed on demand, top pages eagerly).
pub const STACK_SIZE: u64 = 1 << 20;

enum State {
    Alive,
    Zombie(ExitReason),
}

struct Process {
    name: String,
    parent: Option<Pid>,
    children: Vec<Pid>,
    state: State,
    space: Option<UserSpace>,
    task: TaskId,
    entry: UserEntry,
    /// The process is blocked in `wait`.
    waiting: bool,
    /// A kernel task waiting for this process to end.
    kernel_waiter: Option<TaskId>,
    /// Started by the kernel, which reaps it with `wait_from_kernel`: it
    /// stays a zombie until then, however early it exits.
    reaped_by_kernel: bool,
}

struct ProcessTable {
    processes: BTreeMap<Pid, Process>,
    by_task: BTreeMap<TaskId, Pid>,
    next_pid: Pid,
    spawned: u64,
}

static TABLE: IrqMutex<ProcessTable> =
    IrqMutex::new(ProcessTable { processes: BTreeMap::new(), by_task: BTreeMap::new(), next_pid: 1, spawned: 0 });
static RAMDISK: Once<Ramdisk<'static>> = Once::new();
/// The kernel-wide VASS (partition table and VASM). Lock order: TABLE, then VASS.
static VASS: IrqMutex<Vass> = IrqMutex::new(Vass::new());

/// Where anonymous partitions are placed, in pages.
const HEAP_WINDOW: Window = Window { start: layout::USER_HEAP.start / PAGE_SIZE, end: layout::USER_HEAP.end / PAGE_SIZE };

/// Makes the ramdisk available to `spawn` and `read_file`.
pub fn init(ramdisk: Ramdisk<'static>) {
    RAMDISK.call_once(|| ramdisk);
}

/// The ramdisk, if one was loaded.
pub fn ramdisk() -> Option<&'static Ramdisk<'static>> {
    RAMDISK.get()
}

/// Process counters.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// Processes in the table (alive or not yet reaped).
    pub in_table: usize,
    /// Processes spawned since boot.
    pub spawned: u64,
}

/// Process counters.
pub fn stats() -> Stats {
    let table = TABLE.lock();
    Stats { in_table: table.processes.len(), spawned: table.spawned }
}

/// The pid of the process the running task belongs to.
pub fn current_pid() -> Option<Pid> {
    let task = sched::current();
    TABLE.lock().by_task.get(&task).copied()
}

/// Where the loader may place image partitions, in pages.
const IMAGE_WINDOW: Window = Window { start: layout::USER_IMAGE.start / PAGE_SIZE, end: layout::USER_IMAGE.end / PAGE_SIZE };
/// Where the stack partition lives, in pages.
const STACK_WINDOW: Window = Window { start: layout::USER_STACK.start / PAGE_SIZE, end: layout::USER_STACK.end / PAGE_SIZE };

/// Builds the address space of process `pid`: a sealed partition per
/// loaded part of each segment (code or data, committed and filled), one
/// per bss tail (data, committed on first touch), and the stack (committed
/// on first touch, except its top pages, which hold the arguments).
fn load(pid: Pid, image: &[u8], arguments: &[&str]) -> Result<(UserSpace, UserEntry), Error> {
    let plan = exec::plan(image).map_err(|error| {
        log::warn!("rejecting executable: {error}");
        Error::BadExecutable
    })?;
    let mut space = UserSpace::new().map_err(|_| Error::OutOfMemory)?;
    match lay_out(pid, &plan, image, arguments, &mut space) {
        Ok(entry) => Ok((space, entry)),
        Err(error) => {
            VASS.lock().destroy_space(pid, &mut SpaceTables { id: pid, space: &mut space }, &mut KernelFrames);
            Err(error)
        }
    }
}

/// Creates a sealed partition of `pages` pages at page `at` for the loader,
/// committing its last `eager` pages.
fn loader_partition(
    pid: Pid,
    space: &mut UserSpace,
    at: u64,
    pages: u64,
    kind: PartitionKind,
    rights: Rights,
    window: Window,
    eager: u64,
) -> Result<(), Error> {
    let mut vass = VASS.lock();
    let (id, range) = vass.create(pid, pages, kind, rights, Some(at), window).map_err(|error| match error {
        VassError::OutOfFrames | VassError::PageTable => Error::OutOfMemory,
        _ => Error::BadExecutable,
    })?;
    vass.seal(id);
    if eager > 0 {
        let committed = PageRange::new(range.end - eager.min(pages), range.end);
        vass.populate(pid, id, committed, &mut SpaceTables { id: pid, space }, &mut KernelFrames)
            .map_err(|_| Error::OutOfMemory)?;
    }
    Ok(())
}

fn lay_out(pid: Pid, plan: &exec::LoadPlan, image: &[u8], arguments: &[&str], space: &mut UserSpace) -> Result<UserEntry, Error> {
    for segment in &plan.segments {
        let mut rights = Rights::READ;
        rights.set(Rights::WRITE, segment.writable);
        rights.set(Rights::EXECUTE, segment.executable);
        let kind = if segment.executable { PartitionKind::Code } else { PartitionKind::Data };
        let first = segment.page_start() / PAGE_SIZE;
        let end = segment.page_end() / PAGE_SIZE;
        // Pages holding file bytes are loaded now; the bss tail past them
        // is its own partition, committed zeroed on first touch.
        let loaded_end = (segment.vaddr + segment.file_size).div_ceil(PAGE_SIZE).clamp(first, end);
        if loaded_end > first {
            let pages = loaded_end - first;
            loader_partition(pid, space, first, pages, kind, rights, IMAGE_WINDOW, pages)?;
            let file = &image[segment.file_offset as usize..(segment.file_offset + segment.file_size) as usize];
            space.write(VirtAddr::new(segment.vaddr), file).map_err(|_| Error::OutOfMemory)?;
        }
        if end > loaded_end {
            loader_partition(pid, space, loaded_end, end - loaded_end, PartitionKind::Data, rights, IMAGE_WINDOW, 0)?;
        }
    }

    // The stack: arguments at the top, an array of `abi::Arg` below them.
    let strings: u64 = arguments.iter().map(|a| a.len() as u64).sum();
    let array_size = arguments.len() as u64 * size_of::<abi::Arg>() as u64;
    let needed = (strings + array_size + 64).next_multiple_of(PAGE_SIZE);
    if needed > STACK_SIZE / 2 {
        return Err(Error::TooLarge);
    }
    let stack_pages = STACK_SIZE / PAGE_SIZE;
    let stack_top = layout::USER_STACK.end;
    let eager = needed / PAGE_SIZE + 1;
    let stack_rights = Rights::READ | Rights::WRITE;
    loader_partition(pid, space, stack_top / PAGE_SIZE - stack_pages, stack_pages, PartitionKind::Stack, stack_rights, STACK_WINDOW, eager)?;
    let mut cursor = stack_top;
    let mut array = Vec::with_capacity(arguments.len() * size_of::<abi::Arg>());
    for argument in arguments {
        cursor -= argument.len() as u64;
        space.write(VirtAddr::new(cursor), argument.as_bytes()).map_err(|_| Error::OutOfMemory)?;
        array.extend_from_slice(&cursor.to_le_bytes());
        array.extend_from_slice(&(argument.len() as u64).to_le_bytes());
    }
    cursor = (cursor - array.len() as u64) & !0xf;
    space.write(VirtAddr::new(cursor), &array).map_err(|_| Error::OutOfMemory)?;
    let selectors = gdt::selectors();
    Ok(UserEntry {
        rip: plan.entry,
        rsp: cursor,
        rdi: arguments.len() as u64,
        rsi: cursor,
        cs: u64::from(selectors.user_code.0),
        ss: u64::from(selectors.user_data.0),
    })
}

extern "sysv64" fn user_task_entry(pid: u64) -> ! {
    let entry = TABLE.lock().processes.get(&pid).map(|process| process.entry);
    match entry {
        // SAFETY: the scheduler loaded this process's address space and kernel
        // stack before running its task; `load` mapped the entry and stack.
        Some(entry) => unsafe { context::enter_user(&entry) },
        None => sched::exit_current(),
    }
}

/// Starts the program at `path` in the ramdisk with `arguments` (argv[0] is
/// the path). `parent` is the spawning process, or `None` for the kernel.
pub fn spawn(path: &str, arguments: &[&str], parent: Option<Pid>) -> Result<Pid, Error> {
    let image = ramdisk().and_then(|ramdisk| ramdisk.file(path)).ok_or(Error::NotFound)?;
    if TABLE.lock().processes.len() >= MAX_PROCESSES {
        return Err(Error::TooManyProcesses);
    }
    let mut argv = Vec::with_capacity(arguments.len() + 1);
    argv.push(path);
    argv.extend_from_slice(arguments);
    let pid = {
        let mut table = TABLE.lock();
        let pid = table.next_pid;
        table.next_pid += 1;
        pid
    };
    let (space, entry) = load(pid, image, &argv)?;
    let level4 = space.level4_frame();
    let name = String::from(path.rsplit('/').next().unwrap_or(path));
    {
        let mut table = TABLE.lock();
        table.processes.insert(
            pid,
            Process {
                name: name.clone(),
                parent,
                children: Vec::new(),
                state: State::Alive,
                space: Some(space),
                task: TaskId::MAX,
                entry,
                waiting: false,
                kernel_waiter: None,
                reaped_by_kernel: parent.is_none(),
            },
        );
    }
    // Interrupts stay off from task creation to the table update, so the
    // new task cannot run before the table knows it.
    let task = x86_64::instructions::interrupts::without_interrupts(|| {
        let task = sched::spawn_user(&name, level4, user_task_entry, pid);
        let mut table = TABLE.lock();
        match task {
            Ok(task) => {
                table.by_task.insert(task, pid);
                table.spawned += 1;
                if let Some(process) = table.processes.get_mut(&pid) {
                    process.task = task;
                }
                if let Some(parent) = parent.and_then(|parent| table.processes.get_mut(&parent)) {
                    parent.children.push(pid);
                }
                Ok(task)
            }
            Err(_) => {
                if let Some(mut space) = table.processes.remove(&pid).and_then(|process| process.space) {
                    VASS.lock().destroy_space(pid, &mut SpaceTables { id: pid, space: &mut space }, &mut KernelFrames);
                }
                Err(Error::OutOfMemory)
            }
        }
    });
    task.map(|_| pid)
}

/// Ends the running process with `reason`, frees its memory and wakes
/// whoever waits for it.
pub fn exit_current(reason: ExitReason) -> ! {
    cpu::disable_interrupts();
    let task = sched::current();
    let (pid, space, orphans) = {
        let mut table = TABLE.lock();
        let Some(pid) = table.by_task.remove(&task) else {
            drop(table);
            sched::exit_current();
        };
        let Some(process) = table.processes.get_mut(&pid) else {
            drop(table);
            sched::exit_current();
        };
        process.state = State::Zombie(reason);
        let space = process.space.take();
        let children = core::mem::take(&mut process.children);
        let parent = process.parent;
        let kernel_waiter = process.kernel_waiter;
        let reaped_by_kernel = process.reaped_by_kernel;
        // Orphans: zombies are reaped now, living ones reap themselves.
        let mut orphans = Vec::new();
        for child in children {
            let zombie = match table.processes.get_mut(&child) {
                Some(entry) => {
                    entry.parent = None;
                    matches!(entry.state, State::Zombie(_)) && !entry.reaped_by_kernel
                }
                None => false,
            };
            if zombie {
                orphans.extend(table.processes.remove(&child));
            }
        }
        let parent_task = parent.and_then(|p| table.processes.get(&p)).filter(|p| p.waiting).map(|p| p.task);
        if parent.is_none() && !reaped_by_kernel {
            orphans.extend(table.processes.remove(&pid));
        }
        drop(table);
        if let Some(waiter) = parent_task.or(kernel_waiter) {
            sched::wake(waiter);
        }
        (pid, space, orphans)
    };
    // Partitions first (they give their frames back), then the page tables.
    if let Some(mut space) = space {
        VASS.lock().destroy_space(pid, &mut SpaceTables { id: pid, space: &mut space }, &mut KernelFrames);
    }
    drop(orphans);
    sched::exit_current()
}

fn reap(table: &mut ProcessTable, pid: Pid) -> Option<WaitStatus> {
    let process = table.processes.get(&pid)?;
    let State::Zombie(reason) = process.state else { return None };
    if let Some(parent) = process.parent.and_then(|parent| table.processes.get_mut(&parent)) {
        parent.children.retain(|&child| child != pid);
    }
    table.processes.remove(&pid);
    Some(match reason {
        ExitReason::Exited(code) => WaitStatus::exited(pid, code),
        ExitReason::Faulted { kind, address } => WaitStatus::faulted(pid, kind, address),
    })
}

/// Waits until a child of the running process (`pid`, or any child if 0)
/// ends; reaps it and returns how it ended.
pub fn wait_child(pid: Pid) -> Result<WaitStatus, Error> {
    let me = current_pid().ok_or(Error::NoChild)?;
    x86_64::instructions::interrupts::without_interrupts(|| {
        loop {
            let mut table = TABLE.lock();
            let children = table.processes.get(&me).map(|p| p.children.clone()).unwrap_or_default();
            let candidates: Vec<Pid> = children.into_iter().filter(|&child| pid == 0 || child == pid).collect();
            if candidates.is_empty() {
                return Err(Error::NoChild);
            }
            if let Some(status) = candidates.iter().find_map(|&child| reap(&mut table, child)) {
                if let Some(process) = table.processes.get_mut(&me) {
                    process.waiting = false;
                }
                return Ok(status);
            }
            if let Some(process) = table.processes.get_mut(&me) {
                process.waiting = true;
            }
            drop(table);
            sched::block_current();
        }
    })
}

/// Waits (from a kernel task) until process `pid`, which the kernel
/// started, ends; reaps it. `None` if there is no such process.
pub fn wait_from_kernel(pid: Pid) -> Option<ExitReason> {
    let me = sched::current();
    x86_64::instructions::interrupts::without_interrupts(|| {
        loop {
            let mut table = TABLE.lock();
            let process = table.processes.get_mut(&pid)?;
            if let State::Zombie(reason) = process.state {
                table.processes.remove(&pid);
                return Some(reason);
            }
            process.kernel_waiter = Some(me);
            drop(table);
            sched::block_current();
        }
    })
}

/// Resolves a page fault of the running process through the commit
/// engine. Returns whether the faulting access can be retried.
pub fn handle_page_fault(address: u64, error: PageFaultErrorCode) -> bool {
    if !layout::USER.contains(address) || error.contains(PageFaultErrorCode::PROTECTION_VIOLATION) {
        return false;
    }
    let access = access_of(error);
    let Some(task) = sched::try_current() else { return false };
    let Some(mut table) = TABLE.try_lock() else { return false };
    let Some(&pid) = table.by_task.get(&task) else { return false };
    let Some(space) = table.processes.get_mut(&pid).and_then(|process| process.space.as_mut()) else { return false };
    let Some(mut vass) = VASS.try_lock() else { return false };
    let outcome = vass.fault(pid, address / PAGE_SIZE, access, &mut SpaceTables { id: pid, space }, &mut KernelFrames);
    matches!(outcome, FaultOutcome::Committed | FaultOutcome::AlreadyCommitted)
}

fn access_of(error: PageFaultErrorCode) -> Access {
    if error.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
        Access::Execute
    } else if error.contains(PageFaultErrorCode::CAUSED_BY_WRITE) {
        Access::Write
    } else {
        Access::Read
    }
}

/// Kills the running process for a fault taken in ring 3 and reports it as
/// `pid=<p> name=<n> fault=<kind> addr=<a> rip=<r>`.
pub fn kill_for_fault(report: &idt::ExceptionReport) -> ! {
    let task = sched::current();
    let (pid, name, kind, address) = {
        let table = TABLE.lock();
        let pid = table.by_task.get(&task).copied();
        let process = pid.and_then(|pid| table.processes.get(&pid));
        let (kind, address) = match (report.vector, report.cr2, pid) {
            (14, Some(cr2), Some(pid)) => {
                let error = PageFaultErrorCode::from_bits_truncate(report.error_code.unwrap_or(0));
                let present = error.contains(PageFaultErrorCode::PROTECTION_VIOLATION);
                let vass = VASS.lock();
                let granted = vass.lookup(pid, cr2 / PAGE_SIZE).map(|partition| partition.rights);
                let stack_bottom = vass
                    .partitions_of(pid)
                    .find(|partition| partition.kind == PartitionKind::Stack && partition.sealed)
                    .and_then(|partition| partition.ranges.first())
                    .map(|range| range.start * PAGE_SIZE);
                (memory::classify_page_fault(cr2, access_of(error), present, granted, stack_bottom), cr2)
            }
            (vector, _, _) => (memory::classify_exception(vector), report.rip),
        };
        (pid.unwrap_or(0), process.map(|p| p.name.clone()).unwrap_or_default(), kind, address)
    };
    log::warn!("pid={pid} name={name} fault={kind} addr={address:#x} rip={:#x} ({})", report.rip, report.name);
    exit_current(ExitReason::Faulted { kind, address })
}

/// Checks a user range against the running process's partitions.
fn check_user_slice(slice: UserSlice, needed: Rights) -> Result<CheckedUserSlice, Error> {
    let pid = current_pid().ok_or(Error::BadAddress)?;
    slice.check_against(|address, length| VASS.lock().grants(pid, address, length, needed))
}

/// Copies user memory named by the running process into a kernel buffer,
/// after checking it is readable memory of that process.
pub fn copy_from_user(slice: UserSlice) -> Result<Vec<u8>, Error> {
    let checked = check_user_slice(slice, Rights::READ)?;
    let mut buffer = vec![0u8; usize::try_from(checked.len()).map_err(|_| Error::TooLarge)?];
    if !checked.is_empty() {
        let _window = UserAccessWindow::open();
        // No TABLE lock is held here, so demand pages can be committed meanwhile.
        // SAFETY: the source was checked against the process's regions (a fault
        // is still caught by the probe); the destination is our own buffer.
        unsafe { probe::copy(buffer.as_mut_ptr() as u64, checked.address(), checked.len()) }
            .map_err(|_| Error::BadAddress)?;
    }
    Ok(buffer)
}

/// Copies `data` into user memory named by the running process, after
/// checking it is writable memory of that process and exactly `data` long.
pub fn copy_to_user(slice: UserSlice, data: &[u8]) -> Result<(), Error> {
    if slice.len() != data.len() as u64 {
        return Err(Error::InvalidArgument);
    }
    let checked = check_user_slice(slice, Rights::WRITE)?;
    if !checked.is_empty() {
        let _window = UserAccessWindow::open();
        // SAFETY: the destination was checked to be writable memory of the
        // running process; the source is a kernel slice of the same length.
        unsafe { probe::copy(checked.address(), data.as_ptr() as u64, checked.len()) }
            .map_err(|_| Error::BadAddress)?;
    }
    Ok(())
}

/// Pages for a partition of `size` bytes: not zero, at most `MAX_MAP`.
fn partition_size_pages(size: u64) -> Result<u64, Error> {
    if size == 0 {
        return Err(Error::InvalidArgument);
    }
    if size > abi::limits::MAX_MAP {
        return Err(Error::TooLarge);
    }
    Ok(size.div_ceil(PAGE_SIZE))
}

/// Creates a heap partition of `length` bytes (rounded up to pages) for the
/// running process; pages are committed on first touch. Returns its address.
pub fn map_anonymous(length: u64) -> Result<u64, Error> {
    let pages = partition_size_pages(length)?;
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let rights = Rights::READ | Rights::WRITE;
    match VASS.lock().create(pid, pages, PartitionKind::Heap, rights, None, HEAP_WINDOW) {
        Ok((_, range)) => Ok(range.start * PAGE_SIZE),
        Err(VassError::NoVirtualSpace) => Err(Error::OutOfMemory),
        Err(_) => Err(Error::InvalidArgument),
    }
}

/// Destroys the heap partition that is exactly `[address, address + length)`
/// (rounded up to pages) and frees what was committed.
pub fn unmap_anonymous(address: u64, length: u64) -> Result<(), Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    if !address.is_multiple_of(PAGE_SIZE) || length == 0 {
        return Err(Error::InvalidArgument);
    }
    let pages = length.checked_next_multiple_of(PAGE_SIZE).ok_or(Error::InvalidArgument)? / PAGE_SIZE;
    let mut table = TABLE.lock();
    let space = table.processes.get_mut(&pid).and_then(|p| p.space.as_mut()).ok_or(Error::InvalidArgument)?;
    let mut vass = VASS.lock();
    let id = vass.exact(pid, address / PAGE_SIZE, pages).ok_or(Error::InvalidArgument)?;
    if vass.partition(id).is_none_or(|partition| partition.kind != PartitionKind::Heap) {
        return Err(Error::InvalidArgument);
    }
    vass.destroy(pid, id, &mut SpaceTables { id: pid, space }, &mut KernelFrames).map_err(|_| Error::InvalidArgument)?;
    Ok(())
}

fn vass_error(error: VassError) -> Error {
    match error {
        VassError::UnknownPartition => Error::NotFound,
        VassError::NotOwner | VassError::RightsEscalation | VassError::Sealed => Error::PermissionDenied,
        VassError::BadRange | VassError::Overlap | VassError::OutsideGrant => Error::InvalidArgument,
        VassError::NoVirtualSpace | VassError::OutOfFrames | VassError::PageTable => Error::OutOfMemory,
    }
}

/// Creates a partition of `size` bytes for the running process.
pub fn partition_create(size: u64, kind: u64, rights: u64) -> Result<u64, Error> {
    let kind = abi::PartitionKind::from_code(kind).ok_or(Error::InvalidArgument)?;
    let rights = partition_rights(rights)?;
    let pages = partition_size_pages(size)?;
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let (id, _) = VASS.lock().create(pid, pages, kind, rights, None, HEAP_WINDOW).map_err(vass_error)?;
    Ok(id)
}

/// Runs `operation` on the VASS with the running process's page tables.
fn with_own_tables<R>(operation: impl FnOnce(&mut Vass, u64, &mut SpaceTables<'_>) -> Result<R, VassError>) -> Result<R, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let mut table = TABLE.lock();
    let space = table.processes.get_mut(&pid).and_then(|p| p.space.as_mut()).ok_or(Error::InvalidArgument)?;
    let mut tables = SpaceTables { id: pid, space };
    operation(&mut VASS.lock(), pid, &mut tables).map_err(vass_error)
}

/// The pages of `[offset, offset + length)` of partition `id`, where offsets
/// count through its ranges in the order they were added (a partition that
/// grew by adding a range is still one logical span). One page range per
/// piece.
fn partition_pages(vass: &Vass, id: u64, offset: u64, length: u64) -> Result<Vec<crate::vass::PageRange>, VassError> {
    let partition = vass.partition(id).ok_or(VassError::UnknownPartition)?;
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
        pieces.push(crate::vass::PageRange::new(start, start + take));
        wanted -= take;
        skip = 0;
    }
    Ok(pieces)
}

/// Applies `operation` to each piece of `[offset, offset + length)` of
/// partition `id` and adds up the pages it reports.
fn for_each_piece(
    id: u64,
    offset: u64,
    length: u64,
    operation: impl Fn(&mut Vass, u64, crate::vass::PageRange, &mut SpaceTables<'_>) -> Result<u64, VassError>,
) -> Result<u64, Error> {
    with_own_tables(|vass, pid, tables| {
        let mut pages = 0;
        for range in partition_pages(vass, id, offset, length)? {
            pages += operation(vass, pid, range, tables)?;
        }
        Ok(pages)
    })
}

/// Destroys partition `id` of the running process.
pub fn partition_destroy(id: u64) -> Result<(), Error> {
    with_own_tables(|vass, pid, tables| vass.destroy(pid, id, tables, &mut KernelFrames).map(|_| ()))
}

/// Commits `[offset, offset + length)` of partition `id` ahead of use.
pub fn partition_commit(id: u64, offset: u64, length: u64) -> Result<u64, Error> {
    for_each_piece(id, offset, length, |vass, pid, range, tables| vass.commit(pid, id, range, tables, &mut KernelFrames))
}

/// Decommits `[offset, offset + length)` of partition `id`.
pub fn partition_decommit(id: u64, offset: u64, length: u64) -> Result<u64, Error> {
    for_each_piece(id, offset, length, |vass, pid, range, tables| vass.decommit(pid, id, range, tables, &mut KernelFrames))
}

/// Resizes partition `id` of the running process to `size` bytes.
pub fn partition_resize(id: u64, size: u64) -> Result<(), Error> {
    let pages = partition_size_pages(size)?;
    with_own_tables(|vass, pid, tables| vass.resize(pid, id, pages, HEAP_WINDOW, tables, &mut KernelFrames))
}

/// Sets the rights of partition `id` of the running process.
pub fn partition_protect(id: u64, rights: u64) -> Result<(), Error> {
    let rights = partition_rights(rights)?;
    with_own_tables(|vass, pid, tables| vass.protect(pid, id, rights, tables))
}

/// Rights a partition may have: some, and never writable and executable.
fn partition_rights(bits: u64) -> Result<Rights, Error> {
    let rights = u32::try_from(bits).ok().and_then(Rights::from_bits).ok_or(Error::InvalidArgument)?;
    if rights.is_empty() || rights.contains(Rights::WRITE | Rights::EXECUTE) {
        return Err(Error::InvalidArgument);
    }
    Ok(rights)
}

/// The partition-table row of partition `id` of the running process.
pub fn partition_query(id: u64) -> Result<abi::PartitionInfo, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let vass = VASS.lock();
    let partition = vass.partition(id).ok_or(Error::NotFound)?;
    if partition.space != pid {
        return Err(Error::PermissionDenied);
    }
    Ok(abi::PartitionInfo {
        id,
        kind: partition.kind.code(),
        rights: u64::from(partition.rights.bits()),
        base: partition.ranges.first().map_or(0, |range| range.start * PAGE_SIZE),
        size: partition.pages() * PAGE_SIZE,
        ranges: partition.ranges.len() as u64,
        committed_pages: partition.committed.len() as u64,
        extents: partition.extents(),
        demand_commits: partition.counters.demand_commits,
        ahead_commits: partition.counters.ahead_commits,
        hits: partition.counters.hits,
        untouched: partition.untouched.len() as u64,
        decommits: partition.counters.decommits,
        peak_committed: partition.counters.peak_committed,
    })
}

mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use crate::mm::frame;
    use crate::{ensure, ensure_eq};

    fn run_to_end(path: &str, arguments: &[&str]) -> Result<Option<ExitReason>, Error> {
        let pid = spawn(path, arguments, None)?;
        Ok(wait_from_kernel(pid))
    }

    #[ktest]
    fn a_program_runs_to_completion_and_frees_everything() {
        // Warm up once so lazily grown kernel structures (heap) are in place.
        let _ = run_to_end("bin/hello", &[]);
        sched::yield_now();
        let before = frame::counts();
        let reason = run_to_end("bin/hello", &["ktest"]);
        ensure_eq!(reason, Ok(Some(ExitReason::Exited(0))));
        sched::yield_now();
        let after = frame::counts();
        ensure_eq!(after.user, before.user);
        ensure_eq!(after.free, before.free);
        ensure_eq!(stats().in_table, 0);
    }

    #[ktest]
    fn spawning_a_missing_or_invalid_program_fails_cleanly() {
        ensure_eq!(spawn("bin/no-such-program", &[], None), Err(Error::NotFound));
        ensure_eq!(spawn("boot/cmdline", &[], None), Err(Error::BadExecutable));
        ensure_eq!(stats().in_table, 0);
    }

    #[ktest]
    fn a_faulting_program_is_killed_and_reported() {
        let reason = run_to_end("bin/read-address", &["0"]);
        ensure!(
            matches!(reason, Ok(Some(ExitReason::Faulted { kind: abi::FaultKind::NullDereference, .. }))),
            "{reason:?}"
        );
    }

    #[ktest]
    fn user_copies_reject_kernel_and_unmapped_addresses() {
        // The boot task has no process: every user access is refused.
        ensure_eq!(copy_from_user(UserSlice::new(0x40_0000, 8)).err(), Some(Error::BadAddress));
        ensure_eq!(copy_to_user(UserSlice::new(0x40_0000, 1), &[1]).err(), Some(Error::BadAddress));
    }
}
