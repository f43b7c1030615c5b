//! The process lifecycle: loading programs from the ramdisk into fresh
//! address spaces, exit, wait, faults, demand paging, and checked copies
//! between kernel and user memory.

use crate::arch::context::{self, UserEntry};
use crate::arch::cpu::{self, UserAccessWindow};
use crate::arch::{gdt, idt, probe};
use crate::exec;
use crate::history::{Cause, Change, Event, Request};
use crate::mm::layout;
use crate::mm::user::UserSpace;
use crate::ramdisk::Ramdisk;
use crate::policy::layout::{self as proposals, PartitionLayout, ProgramLayout};
use crate::policy::{self, CommitPolicy, Plan, Policy};
use super::commit::ProcessPolicy;
use crate::sched::{self, TaskId};
use crate::vass::hardware::{self, KernelFrames, LostCopy, SpaceTables, SystemTables};
use crate::vass::swap::Slot;
use crate::pager::{self, FaultObserver, FaultRequest};
use crate::vass::{Advice, Cold, Declaration, PageRange, PageTable, PartitionKind, Pattern, Residence, Resolution, Scope, SpaceCounters, Vass, VassError, Window};
use crate::sync::{IrqMutex, IrqMutexGuard};
use crate::time;
use abi::{Error, ExitReason, Rights, WaitStatus};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::{format, vec};
use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use alloc::vec::Vec;
use super::memory::{self, Access, CheckedUserSlice, UserSlice, PAGE_SIZE};
use super::recorder::{self, History};
use spin::Once;
use x86_64::structures::idt::PageFaultErrorCode;
use x86_64::VirtAddr;

/// A process id.
pub type Pid = u64;

/// The first process, which the kernel starts (`init=`): the one process
/// trusted with system-wide settings (`pae_model_set`).
pub const INIT_PID: Pid = 1;

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
    /// Decides what to commit ahead of this process's faults.
    policy: ProcessPolicy,
    /// The time-stamp counter when it was spawned.
    started_tsc: u64,
    /// What it did to its memory, most recent last.
    history: History,
    /// Its program's layout proposal, and how far it was applied.
    shaping: Shaping,
    task: TaskId,
    entry: UserEntry,
    /// The process is blocked in `wait`.
    waiting: bool,
    /// A kernel task waiting for this process to end.
    kernel_waiter: Option<TaskId>,
    /// Started by the kernel, which reaps it with `wait_from_kernel`: it
    /// stays a zombie until then, however early it exits.
    reaped_by_kernel: bool,
    /// An address the kernel touched for a system call of this process,
    /// on a page whose copy in swap is lost: the process is killed when the
    /// call returns (see [`copy_from_user`]).
    lost_page: Option<u64>,
}

/// A process's program identity and the layout proposal its last run left
/// (see `policy::layout`).
struct Shaping {
    /// The program's identity (a hash of its ELF file).
    identity: u64,
    /// The layout recorded when the program last ended under `pae`.
    proposal: Option<Arc<ProgramLayout>>,
    /// Ordinals of the partitions whose first fault under `pae` was seen
    /// (their proposal, if any, was applied then).
    seen: BTreeSet<u32>,
    /// The layouts of partitions it destroyed while under `pae`, for the
    /// proposal recorded when it ends.
    ended: Vec<PartitionLayout>,
}

struct ProcessTable {
    processes: BTreeMap<Pid, Process>,
    /// The address space of every process that has one (not a zombie), by
    /// pid: kept beside the processes so the engine can reach every space's
    /// page tables while one process's policy and history are borrowed.
    spaces: BTreeMap<Pid, UserSpace>,
    by_task: BTreeMap<TaskId, Pid>,
    next_pid: Pid,
    spawned: u64,
}

static TABLE: IrqMutex<ProcessTable> =
    IrqMutex::new(ProcessTable { processes: BTreeMap::new(), spaces: BTreeMap::new(), by_task: BTreeMap::new(), next_pid: INIT_PID, spawned: 0 });
static RAMDISK: Once<Ramdisk<'static>> = Once::new();
/// The kernel-wide VASS (partition table and VASM). Lock order: TABLE, then VASS.
static VASS: IrqMutex<Vass> = IrqMutex::new(Vass::new());

/// The VASS, told the time (for footprints and access frequencies).
fn vass() -> IrqMutexGuard<'static, Vass> {
    let mut vass = VASS.lock();
    vass.set_time(time::ticks());
    vass
}

/// Where partitions the program creates are placed, in pages.
const HEAP_WINDOW: Window = Window { start: layout::USER_HEAP.start / PAGE_SIZE, end: layout::USER_HEAP.end / PAGE_SIZE };

/// Whether a `memstat` line is logged when a process ends.
static MEMSTAT: AtomicBool = AtomicBool::new(true);
/// Whether `swap_debug` may inject swap faults (`swap-debug=on`).
static SWAP_DEBUG: AtomicBool = AtomicBool::new(false);

/// The commit policy new processes start with (its `abi::CommitPolicy` code).
static DEFAULT_POLICY: AtomicU64 = AtomicU64::new(CommitPolicy::Demand as u64);

/// A fresh policy `identity` (`pae` over the model in service, `readahead`
/// if there is none).
fn new_policy(identity: CommitPolicy) -> ProcessPolicy {
    ProcessPolicy::new(identity, super::pae::policy)
}

/// Applies the boot configuration: 2 MiB pages on or off, `memstat` lines
/// on or off, and the commit policy every process starts with.
pub fn configure(huge_pages: bool, memstat: bool, default_policy: CommitPolicy) {
    VASS.lock().set_huge_pages(huge_pages);
    MEMSTAT.store(memstat, Ordering::Relaxed);
    DEFAULT_POLICY.store(default_policy as u64, Ordering::Relaxed);
    let switch = |on: bool| if on { "on" } else { "off" };
    log::info!(
        "vass: 2 MiB pages {}, memstat lines {}, commit policy {}",
        switch(huge_pages),
        switch(memstat),
        default_policy.name()
    );
}

/// Starts the kernel task that samples every process's accessed bits each
/// `ticks` timer ticks (0: never), feeding the partitions' recent-access
/// frequencies; each scan's cycles are charged to the process sampled.
pub fn start_sampler(ticks: u64) {
    if ticks == 0 {
        return;
    }
    let started = sched::spawn_kernel("vass-sampler", move || {
        loop {
            sched::sleep(ticks);
            sample_all();
        }
    });
    if let Err(error) = started {
        log::warn!("vass: no accessed-bit sampler: {error:?}");
    }
}

/// One accessed-bit scan of every live process.
fn sample_all() {
    let mut table = TABLE.lock();
    let mut vass = vass();
    let pids: Vec<Pid> = table.spaces.keys().copied().collect();
    for pid in pids {
        let Some(space) = table.spaces.get_mut(&pid) else { continue };
        let started = cpu::rdtsc();
        let mut tables = SpaceTables { id: pid, space };
        let mut runs = Vec::new();
        let entries = vass.sample_accessed(pid, &mut tables, |partition, range| runs.push((partition, range)));
        let cycles = cpu::rdtsc().wrapping_sub(started);
        vass.add_sample_cycles(pid, cycles);
        check_in_debug(&vass, &tables, Scope::Space(pid));
        let Some(process) = table.processes.get_mut(&pid) else { continue };
        let accessed = runs.iter().map(|(_, range)| range.len()).sum();
        process.history.record(Event::Sample { entries, accessed, cycles });
        for (partition, range) in runs {
            process.history.record(Event::Accessed { partition, range });
        }
    }
}

/// Starts the kernel task that exports every process's new history events
/// to the debug console each tick (when the export is on).
pub fn start_history_export() {
    if !recorder::exporting() {
        return;
    }
    let started = sched::spawn_kernel("history-export", || {
        loop {
            sched::sleep(1);
            export_histories();
        }
    });
    if let Err(error) = started {
        log::warn!("history: no exporter task: {error:?}");
    }
}

/// One export pass: up to a batch of new events of every process.
fn export_histories() {
    let export = recorder::lock_export();
    let mut records = Vec::new();
    {
        let mut table = TABLE.lock();
        for (&pid, process) in table.processes.iter_mut().filter(|(_, process)| process.history.pending()) {
            process.history.take_unexported(pid, recorder::EXPORT_BATCH, &mut records);
        }
    }
    recorder::write(&export, &records);
}

/// Ends a system call of the running process made at `rip`: records it
/// and its result (as returned, errors negative). If the call touched a
/// page of the process whose copy in swap is lost (the call failed with
/// `BadAddress`), the process is killed now, as a fault on that page
/// would have killed it: the call's own memory has been freed by now.
pub fn end_syscall(number: u64, first: u64, second: u64, result: u64, rip: u64) {
    let task = sched::current();
    let lost = {
        let mut table = TABLE.lock();
        let ProcessTable { processes, by_task, .. } = &mut *table;
        by_task.get(&task).and_then(|&pid| {
            let process = processes.get_mut(&pid)?;
            process.history.record(Event::Syscall { number, first, second, result });
            let address = process.lost_page.take()?;
            let copy = lost_copy_of(&VASS.lock(), pid, address / PAGE_SIZE);
            Some((pid, process.name.clone(), address, copy))
        })
    };
    if let Some((pid, name, address, copy)) = lost {
        let call = abi::Syscall::from_number(number).map_or_else(|| format!("{number}"), |call| format!("{call:?}"));
        report_kill(pid, &name, abi::FaultKind::SwapLost, address, rip, &format!("system call {call}"), copy);
        exit_current(ExitReason::Faulted { kind: abi::FaultKind::SwapLost, address })
    }
}

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
/// With a `budget`, the process holds at most that many pages from its
/// first one on (the loader's included).
fn load(pid: Pid, image: &[u8], arguments: &[&str], budget: Option<u64>, history: &mut History) -> Result<(UserSpace, UserEntry), Error> {
    let plan = exec::plan(image).map_err(|error| {
        log::warn!("rejecting executable: {error}");
        Error::BadExecutable
    })?;
    let mut space = UserSpace::new().map_err(|_| Error::OutOfMemory)?;
    if budget.is_some() {
        // `destroy_space` below drops it again if the layout fails.
        vass().set_budget(pid, budget);
    }
    match lay_out(pid, &plan, image, arguments, &mut space, history) {
        Ok(entry) => Ok((space, entry)),
        Err(error) => {
            vass().destroy_space(pid, &mut SpaceTables { id: pid, space: &mut space }, &mut KernelFrames::new());
            Err(error)
        }
    }
}

/// One partition the loader lays out.
struct Piece {
    /// First page.
    at: u64,
    /// Size in pages.
    pages: u64,
    kind: PartitionKind,
    rights: Rights,
    window: Window,
    /// How many of its last pages to commit now.
    eager: u64,
}

/// Creates a sealed partition for the loader and commits its eager pages.
fn loader_partition(pid: Pid, space: &mut UserSpace, piece: Piece, history: &mut History) -> Result<(), Error> {
    let mut vass = vass();
    let (id, range) = vass.create(pid, piece.pages, piece.kind, piece.rights, Some(piece.at), piece.window).map_err(|error| match error {
        VassError::OutOfFrames | VassError::PageTable => Error::OutOfMemory,
        _ => Error::BadExecutable,
    })?;
    vass.seal(id);
    history.record(Event::Partition { partition: id, change: Change::Created, range, kind: piece.kind.code() });
    let mut tables = SpaceTables { id: pid, space };
    if piece.eager > 0 {
        let committed = PageRange::new(range.end - piece.eager.min(piece.pages), range.end);
        let mut frames = KernelFrames::new();
        let populated = vass.populate(pid, id, committed, &mut tables, &mut frames);
        charge_swap_io(&mut vass, pid, &frames);
        let pages = populated.map_err(|_| Error::OutOfMemory)?;
        history.record(Event::Commit { partition: id, range: committed, committed: pages, cause: Cause::Loader });
    }
    check_in_debug(&vass, &tables, Scope::Space(pid));
    Ok(())
}

fn lay_out(
    pid: Pid,
    plan: &exec::LoadPlan,
    image: &[u8],
    arguments: &[&str],
    space: &mut UserSpace,
    history: &mut History,
) -> Result<UserEntry, Error> {
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
            loader_partition(pid, space, Piece { at: first, pages, kind, rights, window: IMAGE_WINDOW, eager: pages }, history)?;
            let file = &image[segment.file_offset as usize..(segment.file_offset + segment.file_size) as usize];
            space.write(VirtAddr::new(segment.vaddr), file).map_err(|_| Error::OutOfMemory)?;
        }
        if end > loaded_end {
            let bss = Piece { at: loaded_end, pages: end - loaded_end, kind: PartitionKind::Data, rights, window: IMAGE_WINDOW, eager: 0 };
            loader_partition(pid, space, bss, history)?;
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
    let stack = Piece {
        at: stack_top / PAGE_SIZE - stack_pages,
        pages: stack_pages,
        kind: PartitionKind::Stack,
        rights: Rights::READ | Rights::WRITE,
        window: STACK_WINDOW,
        eager,
    };
    loader_partition(pid, space, stack, history)?;
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
/// the path). `parent` is the spawning process, or `None` for the kernel;
/// `budget` the child's memory budget in pages from its birth (see
/// [`budget_from`]; `None`: none).
pub fn spawn(path: &str, arguments: &[&str], parent: Option<Pid>, budget: Option<u64>) -> Result<Pid, Error> {
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
    let name = String::from(path.rsplit('/').next().unwrap_or(path));
    let identity = proposals::identity(image);
    let shaping = Shaping { identity, proposal: super::pae::layout_for(identity), seen: BTreeSet::new(), ended: Vec::new() };
    let started_tsc = cpu::rdtsc();
    let mut history = History::new(started_tsc);
    history.record(Event::spawn(parent.unwrap_or(0), &name));
    let (space, entry) = load(pid, image, &argv, budget, &mut history)?;
    let level4 = space.level4_frame();
    {
        let mut table = TABLE.lock();
        // A child starts with its parent's commit policy (fresh state); the
        // kernel's processes with the boot default.
        let inherited = parent.and_then(|parent| table.processes.get(&parent)).map(|process| process.policy.identity());
        let default = || CommitPolicy::from_code(DEFAULT_POLICY.load(Ordering::Relaxed)).unwrap_or(CommitPolicy::Demand);
        let policy = new_policy(inherited.unwrap_or_else(default));
        table.spaces.insert(pid, space);
        table.processes.insert(
            pid,
            Process {
                name: name.clone(),
                parent,
                children: Vec::new(),
                state: State::Alive,
                policy,
                started_tsc,
                history,
                shaping,
                task: TaskId::MAX,
                entry,
                waiting: false,
                kernel_waiter: None,
                reaped_by_kernel: parent.is_none(),
                lost_page: None,
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
                table.processes.remove(&pid);
                if let Some(mut space) = table.spaces.remove(&pid) {
                    vass().destroy_space(pid, &mut SpaceTables { id: pid, space: &mut space }, &mut KernelFrames::new());
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
    let (pid, name, policy, identity, ended, run_cycles, space, orphans, mut history) = {
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
        let (fault, address, code) = match reason {
            ExitReason::Exited(code) => (0, 0, code),
            ExitReason::Faulted { kind, address } => (kind as u8, address, 0),
        };
        process.history.record(Event::Exit { fault, address, code });
        let history = core::mem::replace(&mut process.history, History::new(0));
        let name = process.name.clone();
        let policy = process.policy.identity();
        let identity = process.shaping.identity;
        let ended = core::mem::take(&mut process.shaping.ended);
        let run_cycles = cpu::rdtsc().wrapping_sub(process.started_tsc);
        let children = core::mem::take(&mut process.children);
        let parent = process.parent;
        let kernel_waiter = process.kernel_waiter;
        let reaped_by_kernel = process.reaped_by_kernel;
        let space = table.spaces.remove(&pid);
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
        (pid, name, policy, identity, ended, run_cycles, space, orphans, history)
    };
    if recorder::exporting() {
        let export = recorder::lock_export();
        let mut records = Vec::new();
        history.take_unexported(pid, usize::MAX, &mut records);
        recorder::write(&export, &records);
    }
    // Partitions first (they give their frames back), then the page tables.
    if let Some(mut space) = space {
        let mut vass = vass();
        let partitions = vass.partitions_of(pid).count() as u64;
        let born = vass.space_born(pid).unwrap_or(0);
        let declared = vass.declaration(pid).cloned();
        let budget = vass.budget(pid).unwrap_or(0);
        // The PAE remembers the layout of the programs it served.
        let layout = (policy == CommitPolicy::Pae).then(|| vass.layout_of(pid, &mut SpaceTables { id: pid, space: &mut space }));
        let counters = vass.destroy_space(pid, &mut SpaceTables { id: pid, space: &mut space }, &mut KernelFrames::new());
        let now = vass.now();
        drop(vass);
        if let Some(mut partitions) = layout {
            partitions.extend(ended);
            super::pae::record_layout(ProgramLayout { identity, name: name.clone(), runs: 0, partitions });
        }
        if MEMSTAT.load(Ordering::Relaxed) {
            let mut line = format!("memstat name={name} policy={}", policy.name());
            let mut summary = memory_counters(pid, partitions, now.saturating_sub(born), &counters, 0, declared.as_ref());
            summary.run_cycles = run_cycles;
            summary.budget = budget;
            summary.history_events = history.written();
            summary.history_lost = history.lost();
            for (field, value) in summary.fields() {
                let _ = write!(line, " {field}={value}");
            }
            log::info!("{line}");
        }
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

/// The kernel's page-fault handler ([`idt::Handlers::page_fault`]): a
/// fault of the running process is served by the pager
/// ([`handle_page_fault`]); when a fault taken in ring 3 was resolved, the
/// PAE task may read it before the access is retried. Returns whether the
/// access can be retried.
pub fn page_fault(address: u64, rip: u64, error: PageFaultErrorCode) -> bool {
    let retry = handle_page_fault(address, rip, error);
    if retry && error.contains(PageFaultErrorCode::USER_MODE) {
        super::pae::after_user_fault();
    }
    retry
}

/// Resolves a page fault of the running process through the commit
/// engine (`rip` is the faulting instruction, for the history). Returns
/// whether the faulting access can be retried.
fn handle_page_fault(address: u64, rip: u64, error: PageFaultErrorCode) -> bool {
    let started = cpu::rdtsc();
    if !layout::USER.contains(address) {
        return false;
    }
    let access = access_of(error);
    let Some(task) = sched::try_current() else { return false };
    let Some(mut table) = TABLE.try_lock() else { return false };
    let Some(&pid) = table.by_task.get(&task) else { return false };
    let Some((mut tables, policy, history, shaping)) = system_tables(&mut table, pid) else { return false };
    let Some(mut vass) = VASS.try_lock() else { return false };
    vass.set_time(time::ticks());
    let page = address / PAGE_SIZE;
    let request = FaultRequest { space: pid, page, access, protection: error.contains(PageFaultErrorCode::PROTECTION_VIOLATION) };
    let under_pae = policy.is_pae();
    let mut frames = KernelFrames::new();
    let mut recorder = FaultRecorder { history: &mut *history, address, rip, under_pae };
    let report = pager::serve_fault(&mut vass, request, policy.as_policy(), &mut tables, &mut frames, &mut recorder);
    if request.protection {
        // Mapped, but not for this access: counted and recorded, never retried.
        return false;
    }
    let mut checked = report.span(page);
    if under_pae && let Some(placement) = report.placement().filter(|_| report.resolution.served()) {
        let proposed = apply_proposal(&mut vass, pid, placement.partition, shaping, &mut tables, &mut frames, history);
        checked = proposed.iter().fold(checked, |all, piece| PageRange::new(all.start.min(piece.start), all.end.max(piece.end)));
    }
    charge_swap_io(&mut vass, pid, &frames);
    vass.add_fault_cycles(pid, cpu::rdtsc().wrapping_sub(started));
    check_in_debug(&vass, &tables, Scope::Pages { space: pid, range: checked });
    report.retry()
}

/// What the kernel keeps of a fault as the pager serves it: the fault and
/// each commit its plan makes go to the process's history; a fault of a
/// process under `pae` wakes the PAE task.
struct FaultRecorder<'a> {
    history: &'a mut History,
    address: u64,
    rip: u64,
    under_pae: bool,
}

impl FaultObserver for FaultRecorder<'_> {
    fn resolved(&mut self, request: &FaultRequest, resolution: &Resolution) {
        let partition = resolution.placement.map_or(0, |placement| placement.partition);
        let event = Event::Fault { address: self.address, rip: self.rip, partition, access: request.access, outcome: resolution.outcome };
        self.history.record(event);
        if self.under_pae && !request.protection {
            super::pae::note_work();
        }
    }

    fn committed(&mut self, partition: u64, range: PageRange, committed: u64) {
        self.history.record(Event::Commit { partition, range, committed, cause: Cause::Policy });
    }
}

/// The first fault under `pae` in partition `id` of `pid`: if the
/// program's layout proposal has hot ranges for it (same ordinal, same
/// kind), they are committed now, within the prefetch allowance. Returns
/// what it asked to commit.
fn apply_proposal(
    vass: &mut Vass,
    pid: Pid,
    id: u64,
    shaping: &mut Shaping,
    tables: &mut SystemTables<'_>,
    frames: &mut KernelFrames,
    history: &mut History,
) -> Vec<PageRange> {
    let Some(proposal) = &shaping.proposal else { return Vec::new() };
    let Some(partition) = vass.partition(id) else { return Vec::new() };
    if !shaping.seen.insert(partition.ordinal) {
        return Vec::new();
    }
    let Some(proposed) = proposal.partition(partition.ordinal, partition.kind.code()) else { return Vec::new() };
    let commit: Vec<PageRange> = proposed.hot.iter().flat_map(|&(start, end)| partition.pages_at(start, end)).collect();
    let plan = Plan { commit: commit.clone(), cold: Vec::new() };
    let committed = policy::apply(vass, pid, &plan, tables, frames, |partition, range, committed| {
        history.record(Event::Commit { partition, range, committed, cause: Cause::Layout });
    });
    vass.add_layout_commits(pid, committed);
    commit
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
/// `pid=<p> name=<n> fault=<kind> addr=<a> rip=<r> (<exception>)`; a page
/// whose copy in swap could not be brought back adds the slot and why
/// (`swap slot <s> lost: <why>; slot quarantined`).
pub fn kill_for_fault(report: &idt::ExceptionReport) -> ! {
    let task = sched::current();
    let mut lost = None;
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
                let page = cr2 / PAGE_SIZE;
                // A swapped-out page whose slot failed a read: the engine
                // refuses to commit it (a swapped-out page refused for
                // want of a frame is out of memory, classified below).
                lost = lost_copy_of(&vass, pid, page).filter(|_| !present);
                let kind = if lost.is_some() {
                    abi::FaultKind::SwapLost
                } else {
                    memory::classify_page_fault(cr2, access_of(error), present, granted, stack_bottom)
                };
                (kind, cr2)
            }
            (vector, _, _) => (memory::classify_exception(vector), report.rip),
        };
        (pid.unwrap_or(0), process.map(|p| p.name.clone()).unwrap_or_default(), kind, address)
    };
    report_kill(pid, &name, kind, address, report.rip, report.name, lost);
    exit_current(ExitReason::Faulted { kind, address })
}

/// Logs why a process is killed: `pid=<p> name=<n> fault=<kind> addr=<a>
/// rip=<r> (<what>)`, where `what` names the exception or system call; a
/// page lost in swap adds its slot and why.
fn report_kill(pid: Pid, name: &str, kind: abi::FaultKind, address: u64, rip: u64, what: &str, lost: Option<(Slot, LostCopy)>) {
    match lost {
        Some((slot, why)) => log::warn!(
            "pid={pid} name={name} fault={kind} addr={address:#x} rip={rip:#x} ({what}; swap slot {slot} lost: {why}; slot quarantined)"
        ),
        None => log::warn!("pid={pid} name={name} fault={kind} addr={address:#x} rip={rip:#x} ({what})"),
    }
}

/// The swap slot of `page` of `pid` and why its copy there is lost, if
/// the page is swapped out and a read of that slot failed.
fn lost_copy_of(vass: &Vass, pid: Pid, page: u64) -> Option<(Slot, LostCopy)> {
    let slot = vass.lookup(pid, page)?.swapped.get(&page)?.slot;
    Some((slot, hardware::lost_copy(slot)?))
}

/// The error for a kernel copy to or from the running process's memory
/// that faulted: `BadAddress`. If the fault was on a page whose copy in
/// swap is lost, the process is marked to be killed when its system call
/// returns ([`end_syscall`]): not here, where the call still holds memory
/// it must free.
fn user_copy_failed(fault: probe::ProbeFault) -> Error {
    let address = fault.address.as_u64();
    let task = sched::current();
    let mut table = TABLE.lock();
    let ProcessTable { processes, by_task, .. } = &mut *table;
    if let Some(&pid) = by_task.get(&task)
        && lost_copy_of(&VASS.lock(), pid, address / PAGE_SIZE).is_some()
        && let Some(process) = processes.get_mut(&pid)
    {
        process.lost_page = Some(address);
    }
    Error::BadAddress
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
            .map_err(user_copy_failed)?;
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
            .map_err(user_copy_failed)?;
    }
    Ok(())
}

/// Pages for a partition (or an added range) of `size` bytes: not zero,
/// at most `MAX_PARTITION`.
fn partition_size_pages(size: u64) -> Result<u64, Error> {
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
fn requested_page(at: u64) -> Result<Option<u64>, Error> {
    if at == 0 {
        return Ok(None);
    }
    if !at.is_multiple_of(PAGE_SIZE) || !layout::USER_HEAP.contains(at) {
        return Err(Error::InvalidArgument);
    }
    Ok(Some(at / PAGE_SIZE))
}

fn vass_error(error: VassError) -> Error {
    match error {
        VassError::UnknownPartition => Error::NotFound,
        VassError::NotOwner | VassError::RightsEscalation | VassError::Sealed => Error::PermissionDenied,
        VassError::Overlap => Error::AddressInUse,
        VassError::BadRange | VassError::OutsideGrant => Error::InvalidArgument,
        VassError::TooManyLocked => Error::TooLarge,
        VassError::NoVirtualSpace | VassError::OutOfFrames | VassError::PageTable | VassError::SwapFailed => Error::OutOfMemory,
    }
}

/// Creates a partition of `size` bytes for the running process, at `at`
/// (0: wherever it fits). Returns its id and address.
pub fn partition_create(size: u64, kind: u64, rights: u64, at: u64) -> Result<(u64, u64), Error> {
    let kind = abi::PartitionKind::from_code(kind).ok_or(Error::InvalidArgument)?;
    let rights = partition_rights(rights)?;
    let pages = partition_size_pages(size)?;
    let at = requested_page(at)?;
    with_own_process(|vass, pid, tables, policy, history, shaping, frames| {
        // Under pae, a partition the layout proposal says grew larger is
        // placed with room to grow in place (the proposal pre-sizes it).
        let room = match (&shaping.proposal, at) {
            (Some(proposal), None) if policy.is_pae() => proposal
                .partition(vass.next_ordinal(pid), kind.code())
                .map_or(0, |proposed| proposed.pages.saturating_sub(pages).min(abi::limits::MAX_PARTITION / PAGE_SIZE)),
            _ => 0,
        };
        let (id, range) = if room > 0 {
            vass.create_with_room(pid, pages, room, kind, rights, HEAP_WINDOW)?
        } else {
            vass.create(pid, pages, kind, rights, at, HEAP_WINDOW)?
        };
        history.record(Event::Partition { partition: id, change: Change::Created, range, kind: kind.code() });
        let plan: Plan = policy.as_policy().on_create(id, &[range]);
        policy::apply(vass, pid, &plan, tables, frames, |partition, range, committed| {
            history.record(Event::Commit { partition, range, committed, cause: Cause::Policy });
        });
        Ok((id, range.start * PAGE_SIZE))
    })
}

/// Adds a range of `size` bytes at `at` (0: anywhere) to partition `id`.
/// Returns its address.
pub fn partition_add_range(id: u64, size: u64, at: u64) -> Result<u64, Error> {
    let pages = partition_size_pages(size)?;
    let at = requested_page(at)?;
    with_own_policy(|vass, pid, _, _, history, _| {
        let range = vass.add_range(pid, id, pages, at, HEAP_WINDOW)?;
        history.record(Event::Partition { partition: id, change: Change::Extended, range, kind: kind_of(vass, id) });
        Ok(range.start * PAGE_SIZE)
    })
}

/// Runs `operation` on the VASS with the running process's page tables.
fn with_own_tables<R>(operation: impl FnOnce(&mut Vass, u64, &mut SystemTables<'_>) -> Result<R, VassError>) -> Result<R, Error> {
    with_own_policy(|vass, pid, tables, _, _, _| operation(vass, pid, tables))
}

/// Runs `operation` on the VASS with the running process's page tables,
/// commit policy, history and frames (the time they spend in swap I/O is
/// charged to the process).
fn with_own_policy<R>(
    operation: impl FnOnce(&mut Vass, u64, &mut SystemTables<'_>, &mut dyn Policy, &mut History, &mut KernelFrames) -> Result<R, VassError>,
) -> Result<R, Error> {
    with_own_process(|vass, pid, tables, policy, history, _, frames| operation(vass, pid, tables, policy.as_policy(), history, frames))
}

/// As [`with_own_policy`], with the process's layout proposal state too.
fn with_own_process<R>(
    operation: impl FnOnce(&mut Vass, u64, &mut SystemTables<'_>, &mut ProcessPolicy, &mut History, &mut Shaping, &mut KernelFrames) -> Result<R, VassError>,
) -> Result<R, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let mut table = TABLE.lock();
    let (mut tables, policy, history, shaping) = system_tables(&mut table, pid).ok_or(Error::InvalidArgument)?;
    let mut vass = vass();
    let mut frames = KernelFrames::new();
    let result = operation(&mut vass, pid, &mut tables, policy, history, shaping, &mut frames);
    charge_swap_io(&mut vass, pid, &frames);
    check_in_debug(&vass, &tables, Scope::Space(pid));
    result.map_err(vass_error)
}

/// The first process after `after` (by pid) under the `pae` policy with
/// history events its PAE has not read.
pub(super) fn next_pae_process(after: Pid) -> Option<Pid> {
    let table = TABLE.lock();
    table
        .processes
        .range(after + 1..)
        .find(|(pid, process)| table.spaces.contains_key(pid) && process.history.pae_pending() && process.policy.is_pae())
        .map(|(&pid, _)| pid)
}

/// Feeds process `pid`'s new history events to its PAE, `batch` at a
/// time, until none is left or the TSC reaches `deadline`: each fault that
/// gave it a page is a model step, and what the step predicts is
/// committed (or held cold) at once. `deferred`: these events waited for
/// this tick. The work is charged to the process.
pub(super) fn pae_serve(pid: Pid, deadline: u64, deferred: bool, batch: usize) -> super::pae::Served {
    let mut served = super::pae::Served::default();
    let mut table = TABLE.lock();
    // Interrupts are off from here on: the cycles counted are the PAE's.
    let started = cpu::rdtsc();
    let Some((mut tables, policy, history, _)) = system_tables(&mut table, pid) else { return served };
    let Some(pae) = policy.pae() else { return served };
    let mut vass = vass();
    let mut frames = KernelFrames::new();
    let demotions_before = pae.counters().demotions;
    let mut entries = Vec::with_capacity(batch);
    let mut checked: Option<PageRange> = None;
    let (mut steps, mut model_cycles) = (0, 0);
    loop {
        entries.clear();
        history.take_for_pae(batch, &mut entries);
        for entry in &entries {
            if let Event::Accessed { partition, .. } = entry.event {
                pae.saw_accessed(partition);
                continue;
            }
            let kind_of = |id| vass.partition(id).filter(|partition| partition.space == pid).map(|partition| partition.kind);
            let Some(step) = policy::step_of(&entry.event, kind_of) else { continue };
            let Some(range) = vass.lookup(pid, step.page).and_then(|partition| partition.range_of(step.page)) else { continue };
            let now = vass.now();
            let view = policy::EngineView { vass: &vass, space: pid, table: &tables };
            // The inference alone is the model's cost; choosing pages and
            // committing them count toward the task's.
            let stepping = cpu::rdtsc();
            let scores = pae.infer(&step);
            model_cycles += cpu::rdtsc().wrapping_sub(stepping);
            let Some(scores) = scores else { continue };
            let plan = pae.plan_for(&step, &scores, range, now, &view);
            steps += 1;
            policy::apply(&mut vass, pid, &plan, &mut tables, &mut frames, |partition, range, committed| {
                history.record(Event::Commit { partition, range, committed, cause: Cause::Policy });
            });
            for piece in &plan.commit {
                checked = Some(checked.map_or(*piece, |all| PageRange::new(all.start.min(piece.start), all.end.max(piece.end))));
            }
        }
        if !history.pae_pending() {
            break;
        }
        if cpu::rdtsc() >= deadline {
            served.more = true;
            break;
        }
    }
    charge_swap_io(&mut vass, pid, &frames);
    served.work = crate::vass::PaeWork {
        steps,
        cycles: cpu::rdtsc().wrapping_sub(started),
        model_cycles,
        deferred: if deferred { steps } else { 0 },
        lost: history.pae_lost(),
        demotions: pae.counters().demotions - demotions_before,
    };
    vass.add_pae_work(pid, served.work);
    if let Some(range) = checked {
        check_in_debug(&vass, &tables, Scope::Pages { space: pid, range });
    }
    served
}

/// The page tables of process `pid` (which must have a space) and of
/// every other process with one, with `pid`'s commit policy, history and
/// layout proposal state: disjoint parts of the process table, borrowed
/// together.
fn system_tables(table: &mut ProcessTable, pid: Pid) -> Option<(SystemTables<'_>, &mut ProcessPolicy, &mut History, &mut Shaping)> {
    let ProcessTable { processes, spaces, .. } = table;
    let Process { policy, history, shaping, .. } = processes.get_mut(&pid)?;
    Some((SystemTables::new(pid, spaces)?, policy, history, shaping))
}

/// In debug kernels, proves after every VASS operation on behalf of a
/// process that the VASM, the partition table, the frame metadata and that
/// process's page tables agree (over `scope`); a disagreement is a kernel
/// bug.
fn check_in_debug(vass: &Vass, tables: &impl PageTable, scope: Scope) {
    if cfg!(debug_assertions)
        && let Err(error) = vass.check(tables, &KernelFrames::new(), scope)
    {
        panic!("VASS invariant broken ({scope:?}): {error}");
    }
}

/// Charges the time `frames` spent in swap I/O to process `pid`.
fn charge_swap_io(vass: &mut Vass, pid: Pid, frames: &KernelFrames) {
    if frames.swap_io_cycles() > 0 {
        vass.add_swap_io_cycles(pid, frames.swap_io_cycles());
    }
}

/// The pages of `[offset, offset + length)` of partition `id`, where offsets
/// count through its ranges in the order they were added (a partition that
/// grew by adding a range is still one logical span). One page range per
/// piece.
fn partition_pages(vass: &Vass, space: u64, id: u64, offset: u64, length: u64) -> Result<Vec<PageRange>, VassError> {
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
/// partition `id` and adds up the pages it reports; `event` names what
/// each piece did for the history (`None`: nothing to record).
fn for_each_piece(
    id: u64,
    offset: u64,
    length: u64,
    operation: impl Fn(&mut Vass, u64, PageRange, &mut SystemTables<'_>, &mut KernelFrames) -> Result<u64, VassError>,
    event: impl Fn(PageRange, u64) -> Option<Event>,
) -> Result<u64, Error> {
    with_own_policy(|vass, pid, tables, _, history, frames| {
        let mut pages = 0;
        for range in partition_pages(vass, pid, id, offset, length)? {
            let done = operation(vass, pid, range, tables, frames)?;
            if let Some(event) = event(range, done) {
                history.record(event);
            }
            pages += done;
        }
        Ok(pages)
    })
}

/// Destroys partition `id` of the running process.
pub fn partition_destroy(id: u64) -> Result<(), Error> {
    with_own_process(|vass, pid, tables, policy, history, shaping, frames| {
        let (range, kind) = (first_range(vass, id), kind_of(vass, id));
        // The PAE remembers what the partition held for the next launch.
        let layout = if policy.is_pae() && vass.partition(id).is_some_and(|partition| partition.space == pid) {
            vass.partition_layout(id, tables)
        } else {
            None
        };
        vass.destroy(pid, id, tables, frames)?;
        shaping.ended.extend(layout);
        policy.as_policy().on_destroy(id);
        history.record(Event::Partition { partition: id, change: Change::Destroyed, range, kind });
        Ok(())
    })
}

/// Commits `[offset, offset + length)` of partition `id` ahead of use.
pub fn partition_commit(id: u64, offset: u64, length: u64) -> Result<u64, Error> {
    for_each_piece(
        id,
        offset,
        length,
        |vass, pid, range, tables, frames| vass.commit(pid, id, range, tables, frames),
        |range, committed| Some(Event::Commit { partition: id, range, committed, cause: Cause::Request }),
    )
}

/// Decommits `[offset, offset + length)` of partition `id`.
pub fn partition_decommit(id: u64, offset: u64, length: u64) -> Result<u64, Error> {
    for_each_piece(
        id,
        offset,
        length,
        |vass, pid, range, tables, frames| vass.decommit(pid, id, range, tables, frames),
        |range, released| Some(Event::Decommit { partition: id, range, released, cause: Cause::Request }),
    )
}

/// Resizes partition `id` of the running process to `size` bytes.
pub fn partition_resize(id: u64, size: u64) -> Result<(), Error> {
    let pages = partition_size_pages(size)?;
    with_own_policy(|vass, pid, tables, _, history, frames| {
        vass.resize(pid, id, pages, HEAP_WINDOW, tables, frames)?;
        let range = first_range(vass, id);
        history.record(Event::Partition { partition: id, change: Change::Resized, range: PageRange::new(range.start, range.start + pages), kind: kind_of(vass, id) });
        Ok(())
    })
}

/// The first range of partition `id` (empty if there is none).
fn first_range(vass: &Vass, id: u64) -> PageRange {
    vass.partition(id).and_then(|partition| partition.ranges.first().copied()).unwrap_or(PageRange::new(0, 0))
}

/// The kind code of partition `id` (0 if there is none).
fn kind_of(vass: &Vass, id: u64) -> u64 {
    vass.partition(id).map_or(0, |partition| partition.kind.code())
}

/// Sets the rights of `[offset, offset + length)` of partition `id`.
pub fn partition_protect(id: u64, offset: u64, length: u64, rights: u64) -> Result<(), Error> {
    let rights = partition_rights(rights)?;
    // `for_each_piece` checks the whole range before changing any piece.
    for_each_piece(
        id,
        offset,
        length,
        |vass, pid, range, tables, frames| vass.protect_range(pid, id, range, rights, tables, frames).map(|()| 0),
        |_, _| None,
    )
    .map(|_| ())
}

/// Applies `advice` to `[offset, offset + length)` of partition `id`.
pub fn partition_advise(id: u64, offset: u64, length: u64, advice: u64) -> Result<u64, Error> {
    let advice = match abi::Advice::from_code(advice).ok_or(Error::InvalidArgument)? {
        abi::Advice::Normal => Advice::Normal,
        abi::Advice::WillNeed => Advice::WillNeed,
        abi::Advice::DontNeed => Advice::DontNeed,
        abi::Advice::Sequential => Advice::Sequential,
        abi::Advice::Random => Advice::Random,
        abi::Advice::Cold => Advice::Cold,
        abi::Advice::PageOut => Advice::PageOut,
        abi::Advice::Lock => Advice::Lock,
        abi::Advice::Unlock => Advice::Unlock,
    };
    for_each_piece(
        id,
        offset,
        length,
        |vass, pid, range, tables, frames| vass.advise(pid, id, range, advice, tables, frames),
        |range, pages| match advice {
            Advice::WillNeed => Some(Event::Commit { partition: id, range, committed: pages, cause: Cause::Advice }),
            Advice::DontNeed => Some(Event::Decommit { partition: id, range, released: pages, cause: Cause::Advice }),
            _ => None,
        },
    )
}

/// Rights a partition may have: some, and never writable and executable.
fn partition_rights(bits: u64) -> Result<Rights, Error> {
    let rights = u32::try_from(bits).ok().and_then(Rights::from_bits).ok_or(Error::InvalidArgument)?;
    if rights.is_empty() || rights.contains(Rights::WRITE | Rights::EXECUTE) {
        return Err(Error::InvalidArgument);
    }
    Ok(rights)
}

/// The ids of the running process's partitions, in id order.
pub fn partition_list() -> Result<Vec<u64>, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    Ok(vass().partitions_of(pid).map(|partition| partition.id).collect())
}

/// The partition-table row of partition `id` of the running process
/// (after sampling accessed bits, so hits are current).
pub fn partition_query(id: u64) -> Result<abi::PartitionInfo, Error> {
    with_own_tables(|vass, pid, tables| {
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
            id,
            owner: pid,
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
    })
}

/// What the VASM holds for the running process's page at `address`.
pub fn page_query(address: u64) -> Result<abi::PageInfo, Error> {
    if !layout::USER.contains(address) {
        return Err(Error::NotFound);
    }
    let page = address / PAGE_SIZE;
    with_own_tables(|vass, pid, tables| {
        let state = vass.page_state(pid, page).ok_or(VassError::UnknownPartition)?;
        let mut info = abi::PageInfo { partition: state.partition, rights: u64::from(state.rights.bits()), slot: u64::MAX, ..Default::default() };
        match state.residence {
            Residence::Uncommitted => info.state = abi::PAGE_UNCOMMITTED,
            Residence::Committed { frame, huge, copy } => {
                info.state = abi::PAGE_COMMITTED;
                info.frame = frame;
                info.huge = u64::from(huge);
                info.slot = copy.unwrap_or(u64::MAX);
                info.accessed = u64::from(tables.accessed_now(pid, page));
                info.dirty = u64::from(tables.dirty(pid, page));
            }
            Residence::Swapped { slot, lost } => {
                info.state = if lost { abi::PAGE_LOST } else { abi::PAGE_SWAPPED };
                info.slot = slot;
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
    })
}

/// Gives the running process a fresh commit policy `policy` (the oracle
/// reads the future from the replay file at `path`); returns the code of the
/// one it had.
pub fn policy_set(policy: abi::CommitPolicy, path: Option<&str>) -> Result<u64, Error> {
    let fresh = match (policy, path) {
        (abi::CommitPolicy::Oracle, Some(path)) => {
            let bytes = ramdisk().and_then(|ramdisk| ramdisk.file(path)).ok_or(Error::NotFound)?;
            let replay = trace::Replay::decode(bytes).map_err(|error| {
                log::warn!("oracle: {path}: {error}");
                Error::InvalidArgument
            })?;
            let future = replay.placed_pages(trace::REPLAY_BASE_PAGE);
            ProcessPolicy::Plain(Box::new(policy::Oracle::new(future, policy::Oracle::LOOKAHEAD, policy::Oracle::BUDGET)))
        }
        (abi::CommitPolicy::Oracle, None) => return Err(Error::InvalidArgument),
        (other, _) => new_policy(other),
    };
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let mut table = TABLE.lock();
    let process = table.processes.get_mut(&pid).ok_or(Error::InvalidArgument)?;
    let previous = process.policy.identity();
    process.policy = fresh;
    // A model starts from what happens next.
    process.history.pae_start();
    Ok(previous as u64)
}

/// Records what the running process declared about its future.
pub fn resource_request(declaration: Declaration) -> Result<(), Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let mut events = vec![
        Event::Request { what: Request::WorkingSet, value: declaration.working_set },
        Event::Request { what: Request::Lifetime, value: declaration.lifetime },
    ];
    events.extend((0..declaration.programs.len() as u64).map(|index| Event::Request { what: Request::Program, value: index }));
    events.extend(declaration.partitions.iter().map(|&id| Event::Request { what: Request::Partition, value: id }));
    vass().declare(pid, declaration).map_err(vass_error)?;
    let mut table = TABLE.lock();
    if let Some(process) = table.processes.get_mut(&pid) {
        for event in events {
            process.history.record(event);
        }
    }
    Ok(())
}

/// The memory counters of process `pid`.
fn memory_counters(
    pid: Pid,
    partitions: u64,
    age: u64,
    counters: &SpaceCounters,
    untouched: u64,
    declared: Option<&Declaration>,
) -> abi::MemoryCounters {
    abi::MemoryCounters {
        pid,
        partitions,
        age_ticks: age,
        run_cycles: 0,
        faults: counters.faults(),
        faults_demand: counters.faults_demand,
        faults_spurious: counters.faults_spurious,
        faults_unmapped: counters.faults_unmapped,
        faults_violation: counters.faults_violation,
        faults_oom: counters.faults_oom,
        fault_reads: counters.fault_reads,
        fault_writes: counters.fault_writes,
        fault_executes: counters.fault_executes,
        loaded: counters.loaded,
        demand_commits: counters.demand_commits,
        ahead_commits: counters.ahead_commits,
        hits: counters.hits,
        waste: counters.waste,
        untouched,
        decommits: counters.decommits,
        committed: counters.committed,
        peak_committed: counters.peak_committed,
        footprint: counters.footprint,
        fault_cycles: counters.fault_cycles,
        sampled: counters.sampled,
        sample_scans: counters.sample_scans,
        sample_cycles: counters.sample_cycles,
        promotions: counters.promotions,
        demotions: counters.demotions,
        declared_working_set: declared.map_or(0, |d| d.working_set),
        declared_lifetime: declared.map_or(0, |d| d.lifetime),
        declared_dependencies: declared.map_or(0, |d| (d.programs.len() + d.partitions.len()) as u64),
        history_events: 0,
        history_lost: 0,
        budget: 0,
        faults_major: counters.faults_major,
        faults_swap_failed: counters.faults_swap_failed,
        evictions: counters.evictions,
        swap_outs: counters.swap_outs,
        swap_ins: counters.swap_ins,
        evicted_untouched: counters.evicted_untouched,
        swap_errors: counters.swap_errors,
        swapped: 0,
        swap_io_cycles: counters.swap_io_cycles,
        pae_steps: counters.pae_steps,
        pae_cycles: counters.pae_cycles,
        pae_model_cycles: counters.pae_model_cycles,
        pae_deferred: counters.pae_deferred,
        pae_lost: counters.pae_lost,
        pae_demotions: counters.pae_demotions,
        layout_commits: counters.layout_commits,
    }
}

/// Gives the commit engine a swap device of `slots` pages (at boot, once
/// the disk is found).
pub fn attach_swap(slots: u64) {
    if VASS.lock().set_swap_slots(slots).is_err() {
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

/// `swap_debug(op, address)`: see `abi::Syscall::SwapDebug`.
pub fn swap_debug(op: u64, address: u64) -> Result<u64, Error> {
    if !SWAP_DEBUG.load(Ordering::Relaxed) {
        return Err(Error::PermissionDenied);
    }
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let page = address / PAGE_SIZE;
    let slot = {
        let vass = VASS.lock();
        let partition = vass.lookup(pid, page).ok_or(Error::InvalidArgument)?;
        partition.swapped.get(&page).ok_or(Error::InvalidArgument)?.slot
    };
    match op {
        abi::SWAP_DEBUG_CORRUPT => {
            let disk = crate::dev::swap_disk().ok_or(Error::NotFound)?;
            let mut disk = disk.lock();
            let mut bytes = [0u8; crate::dev::SWAP_PAGE_SIZE];
            disk.read_page(slot, &mut bytes).map_err(|_| Error::OutOfMemory)?;
            bytes[17] ^= 0x10;
            disk.write_page(slot, &bytes).map_err(|_| Error::OutOfMemory)?;
        }
        abi::SWAP_DEBUG_FAIL_READ => crate::vass::hardware::fail_next_read(slot),
        _ => return Err(Error::InvalidArgument),
    }
    log::warn!("swap-debug: pid {pid} page {address:#x} (slot {slot}): operation {op}");
    Ok(0)
}

/// How victims are chosen when a budget or memory runs out.
pub fn set_eviction(eviction: crate::vass::Eviction) {
    VASS.lock().set_eviction(eviction);
}

/// Limits the pages all processes together may have committed.
pub fn set_global_budget(pages: u64) {
    VASS.lock().set_global_budget(Some(pages));
}

/// The swap device's slots: (in use, total, quarantined).
pub fn swap_usage() -> (u64, u64, u64) {
    VASS.lock().swap_usage()
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

/// Sets the running process's memory budget (`pages`, 0: none); returns the
/// previous one (0: none).
pub fn memory_budget(pages: u64) -> Result<u64, Error> {
    let budget = budget_from(pages)?;
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let mut vass = VASS.lock();
    let previous = vass.budget(pid).unwrap_or(0);
    vass.set_budget(pid, budget);
    Ok(previous)
}

/// The running process's memory counters (after sampling accessed bits).
pub fn own_memory_counters() -> Result<abi::MemoryCounters, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let (started, history_events, history_lost) = TABLE
        .lock()
        .processes
        .get(&pid)
        .map_or((0, 0, 0), |process| (process.started_tsc, process.history.written(), process.history.lost()));
    let mut counters = with_own_tables(|vass, pid, tables| {
        vass.sample_untouched(pid, tables);
        let counters = vass.space_counters(pid).unwrap_or_default();
        let partitions = vass.partitions_of(pid).count() as u64;
        let untouched = vass.partitions_of(pid).map(|p| p.untouched.len() as u64).sum();
        let age = vass.now().saturating_sub(vass.space_born(pid).unwrap_or(0));
        let mut summary = memory_counters(pid, partitions, age, &counters, untouched, vass.declaration(pid));
        summary.budget = vass.budget(pid).unwrap_or(0);
        summary.swapped = vass.partitions_of(pid).map(|p| p.swapped.len() as u64).sum();
        Ok(summary)
    })?;
    counters.run_cycles = cpu::rdtsc().wrapping_sub(started);
    counters.history_events = history_events;
    counters.history_lost = history_lost;
    Ok(counters)
}

mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use crate::mm::frame;
    use crate::{ensure, ensure_eq};

    fn run_to_end(path: &str, arguments: &[&str]) -> Result<Option<ExitReason>, Error> {
        let pid = spawn(path, arguments, None, None)?;
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
        ensure_eq!(spawn("bin/no-such-program", &[], None, None), Err(Error::NotFound));
        ensure_eq!(spawn("boot/cmdline", &[], None, None), Err(Error::BadExecutable));
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

    /// The PAE's model from the ramdisk runs on bare metal: its self-check
    /// hash (which the `pae` integration test compares with the host's)
    /// and the cost of a step (TSC cycles; instructions under `-icount`).
    #[ktest]
    fn the_default_model_runs_on_bare_metal() {
        use pae_model::features::{AccessKind, Encoder, Event, Source};
        let bytes = ramdisk().and_then(|ramdisk| ramdisk.file(policy::MODEL_PATH));
        ensure!(bytes.is_some(), "no {} in the ramdisk", policy::MODEL_PATH);
        let model = pae_model::integer::IntegerModel::load(bytes.unwrap_or_default());
        ensure!(model.is_ok(), "the model does not load: {:?}", model.err());
        let Ok(model) = model else { return Ok(()) };
        log::info!("pae-self-check {:#018x}", model.self_check());
        const STEPS: u64 = 1000;
        let (mut state, mut encoder) = (model.new_state(), Encoder::new());
        let events: Vec<[usize; pae_model::features::ACTIVE]> = (0..STEPS)
            .map(|step| {
                let page = 0x1000 + step * 3 % 64 + step / 4;
                encoder.active(&Event { partition: 1 + step % 3, page, access: AccessKind::Write, kind: 3, source: Source::Fault })
            })
            .collect();
        let started = cpu::rdtsc();
        for active in &events {
            ensure!(model.step(&mut state, active).is_ok());
        }
        let cycles = cpu::rdtsc().wrapping_sub(started);
        log::info!("pae-step-cost steps={STEPS} cycles={cycles} tsc_hz={} hidden={}", time::tsc_hz(), model.hidden_size());
    }

    #[ktest]
    fn user_copies_reject_kernel_and_unmapped_addresses() {
        // The boot task has no process: every user access is refused.
        ensure_eq!(copy_from_user(UserSlice::new(0x40_0000, 8)).err(), Some(Error::BadAddress));
        ensure_eq!(copy_to_user(UserSlice::new(0x40_0000, 1), &[1]).err(), Some(Error::BadAddress));
    }
}
