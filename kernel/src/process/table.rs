//! The process table: every process (its name, parent and children, state,
//! commit policy, history, layout proposal state, task and entry), spawn,
//! exit, wait and reaping, and what a process declares or chooses for
//! itself (`policy_set`, `resource_request`). The table holds processes
//! only; their address spaces are the memory service's (`crate::memory`).
//! Lock order: the table, then the memory service.
//!
//! A spawn may put the child under a memory budget from its first page
//! on. Exit frees the address space at once and logs the process's
//! `memstat` line (and writes it as a record, `crate::record`); the process stays a zombie until its parent reaps it
//! with `wait` (or the kernel, for a process it started such as `init`;
//! an orphan is reaped when it ends), and its task's kernel stack is freed
//! by the next scheduling decision. The end of every system call
//! ([`end_syscall`]) records it in the history and kills a process whose
//! page was lost in swap during the call.

use crate::arch::context::{self, UserEntry};
use crate::arch::cpu::{self};
use crate::history::{Event, Request};
use crate::ramdisk::Ramdisk;
use crate::memory::{self, Space};
use crate::pae::proposal::{self as proposals, PartitionLayout, ProgramLayout};
use crate::policy::{self, CommitPolicy};
use super::commit::ProcessPolicy;
use crate::sched::{self, TaskId};
use crate::vass::hardware::SystemTables;
use crate::vass::{Declaration};
use crate::sync::IrqMutex;
use crate::record;
use crate::ipc::calls as ipc;
use abi::ipc::HandleTransfer;
use abi::record::{Memstat, Record};
use abi::{Error, ExitReason, WaitStatus};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::{format, vec};
use core::fmt::Write as _;
use alloc::vec::Vec;
use super::memory::{UserSlice, PAGE_SIZE};
use super::recorder::{self, History};
use spin::Once;
use super::{loader::*, fault::*, user_copy::*, partition_calls::*};
use crate::vass::SpaceId;
/// A process id.
pub type Pid = u64;

/// The first process, which the kernel starts (`init=`): the one process
/// trusted with system-wide settings (`pae_model_set`).
pub const INIT_PID: Pid = 1;

/// Most processes alive at once.
pub const MAX_PROCESSES: usize = 128;

pub(super) enum State {
    Alive,
    Zombie(ExitReason),
}

pub(super) struct Process {
    pub(super) name: String,
    pub(super) parent: Option<Pid>,
    pub(super) children: Vec<Pid>,
    pub(super) state: State,
    /// Decides what to commit ahead of this process's faults.
    pub(super) policy: ProcessPolicy,
    /// The time-stamp counter when it was spawned.
    pub(super) started_tsc: u64,
    /// What it did to its memory, most recent last.
    pub(super) history: History,
    /// Its program's layout proposal, and how far it was applied.
    pub(super) shaping: Shaping,
    pub(super) task: TaskId,
    pub(super) entry: UserEntry,
    /// The process is blocked in `wait`.
    pub(super) waiting: bool,
    /// A kernel task waiting for this process to end.
    pub(super) kernel_waiter: Option<TaskId>,
    /// Started by the kernel, which reaps it with `wait_from_kernel`: it
    /// stays a zombie until then, however early it exits.
    pub(super) reaped_by_kernel: bool,
    /// An address the kernel touched for a system call of this process,
    /// on a page whose copy in swap is lost: the process is killed when the
    /// call returns (see [`copy_from_user`]).
    pub(super) lost_page: Option<u64>,
}

/// A process's program identity and the layout proposal its last run left
/// (see `pae::proposal`).
pub(super) struct Shaping {
    /// The program's identity (a hash of its ELF file).
    pub(super) identity: u64,
    /// The layout recorded when the program last ended under `pae`.
    pub(super) proposal: Option<Arc<ProgramLayout>>,
    /// Ordinals of the partitions whose first fault under `pae` was seen
    /// (their proposal, if any, was applied then).
    pub(super) seen: BTreeSet<u32>,
    /// The layouts of partitions it destroyed while under `pae`, for the
    /// proposal recorded when it ends.
    pub(super) ended: Vec<PartitionLayout>,
}

pub(super) struct ProcessTable {
    pub(super) processes: BTreeMap<Pid, Process>,
    pub(super) next_pid: Pid,
    pub(super) spawned: u64,
}

pub(super) static TABLE: IrqMutex<ProcessTable> =
    IrqMutex::new(ProcessTable { processes: BTreeMap::new(), next_pid: INIT_PID, spawned: 0 });

pub(super) static RAMDISK: Once<Ramdisk<'static>> = Once::new();

/// A fresh policy `identity` (`pae` over the model in service, `readahead`
/// if there is none).
pub(super) fn new_policy(identity: CommitPolicy) -> ProcessPolicy {
    ProcessPolicy::new(identity, crate::pae::policy)
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
pub(super) fn export_histories() {
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
///
/// This runs after every system call, so it is kept small and inlined
/// into the dispatcher: the kill (which formats a report) is out of line.
#[inline(always)]
pub fn end_syscall(number: u64, first: u64, second: u64, result: u64, rip: u64) {
    let Some(pid) = current_pid() else { return };
    let lost = TABLE.lock().processes.get_mut(&pid).and_then(|process| {
        process.history.record(Event::Syscall { number, first, second, result });
        process.lost_page.take()
    });
    if let Some(address) = lost {
        kill_for_lost_page(pid, number, address, rip);
    }
}

/// Kills process `pid`, whose system call `number` made at `rip` touched
/// page `address`, whose copy in swap is lost (see [`end_syscall`]).
#[cold]
#[inline(never)]
fn kill_for_lost_page(pid: Pid, number: u64, address: u64, rip: u64) {
    let name = TABLE.lock().processes.get(&pid).map(|process| process.name.clone()).unwrap_or_default();
    let copy = lost_copy_of(&memory::lock_untimed(), pid, address / PAGE_SIZE);
    let call = abi::Syscall::from_number(number).map_or_else(|| format!("{number}"), |call| format!("{call:?}"));
    report_kill(pid, &name, abi::FaultKind::SwapLost, address, rip, &format!("system call {call}"), copy);
    exit_current(ExitReason::Faulted { kind: abi::FaultKind::SwapLost, address })
}

/// Makes the ramdisk available to `spawn` and `read_file`.
pub fn init(mut ramdisk: Ramdisk<'static>) {
    ramdisk.index();
    RAMDISK.call_once(|| ramdisk);
}

/// The identities of the programs spawned so far (`proposals::identity`
/// of each ELF file, by the file's place in the ramdisk, which never
/// changes): a file is hashed once, not at every spawn.
static IDENTITIES: IrqMutex<BTreeMap<(usize, usize), u64>> = IrqMutex::new(BTreeMap::new());

/// The identity of the ramdisk file `image`.
fn identity_of(image: &'static [u8]) -> u64 {
    let key = (image.as_ptr() as usize, image.len());
    if let Some(&identity) = IDENTITIES.lock().get(&key) {
        return identity;
    }
    let identity = proposals::identity(image);
    IDENTITIES.lock().insert(key, identity);
    identity
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

/// The program name of the process the running task belongs to (its
/// ramdisk path's last component).
pub fn current_name() -> Option<String> {
    let pid = current_pid()?;
    TABLE.lock().processes.get(&pid).map(|process| process.name.clone())
}

/// The pid of the process the running task belongs to (the task's owner,
/// from its spawn until its process starts to exit): no lock taken, as
/// every system call asks.
pub fn current_pid() -> Option<Pid> {
    Some(sched::current_owner()).filter(|&owner| owner != 0)
}

pub(super) extern "sysv64" fn user_task_entry(pid: u64) -> ! {
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
/// [`memory::budget_from`]; `None`: none); `handles` what the parent
/// passes on as the child's startup handles (checked first: a refused
/// spawn takes none; they are the child's from before its first
/// instruction).
pub fn spawn(path: &str, arguments: &[&str], parent: Option<Pid>, budget: Option<u64>, handles: &[HandleTransfer]) -> Result<Pid, Error> {
    let image = ramdisk().and_then(|ramdisk| ramdisk.file(path)).ok_or(Error::NotFound)?;
    match parent {
        Some(parent) => ipc::check_startup(parent, handles)?,
        None if handles.is_empty() => {}
        None => return Err(Error::InvalidArgument),
    }
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
    let identity = identity_of(image);
    let shaping = Shaping { identity, proposal: crate::pae::layout_for(identity), seen: BTreeSet::new(), ended: Vec::new() };
    let started_tsc = cpu::rdtsc();
    let mut history = History::new(started_tsc);
    history.record(Event::spawn(parent.unwrap_or(0), &name));
    let (space, entry) = load(pid, image, identity, &argv, budget, &mut history)?;
    let level4 = space.level4_frame();
    {
        let mut table = TABLE.lock();
        // A child starts with its parent's commit policy (fresh state); the
        // kernel's processes with the boot default.
        let inherited = parent.and_then(|parent| table.processes.get(&parent)).map(|process| process.policy.identity());
        let policy = new_policy(inherited.unwrap_or_else(memory::default_policy));
        memory::lock_untimed().insert_space(SpaceId(pid), space);
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
        // Cannot fail: checked above, and the parent, in this call, has not
        // touched its handles since.
        if let Err(error) = ipc::start_process(pid, parent, handles) {
            log::warn!("spawn: pid {pid} starts without its handles: {error}");
        }
        let task = sched::spawn_user(&name, level4, user_task_entry, pid);
        let mut table = TABLE.lock();
        match task {
            Ok(task) => {
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
                ipc::end_process(pid);
                table.processes.remove(&pid);
                let space = memory::lock_untimed().remove_space(SpaceId(pid));
                if let Some(mut space) = space {
                    memory::lock().destroy_detached(SpaceId(pid), &mut space);
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
    let (pid, name, policy, identity, ended, run_cycles, space, orphans, mut history) = {
        let mut table = TABLE.lock();
        let Some(pid) = current_pid() else {
            drop(table);
            sched::exit_current();
        };
        // From here on the task is no process's: `current_pid` says so.
        sched::disown_current();
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
        let space = memory::lock_untimed().remove_space(SpaceId(pid));
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
        // Its handles close: peers blocked on them wake with `PeerClosed`.
        ipc::end_process(pid);
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
        let mut memory = memory::lock();
        let partitions = memory.partitions_of(SpaceId(pid)).count() as u64;
        let born = memory.space_born(SpaceId(pid)).unwrap_or(0);
        let declared = memory.declaration(SpaceId(pid)).cloned();
        let budget = memory.budget(SpaceId(pid)).unwrap_or(0);
        // The PAE remembers the layout of the programs it served.
        let layout = (policy == CommitPolicy::Pae).then(|| memory.uses_of_detached(SpaceId(pid), &mut space));
        let counters = memory.destroy_detached(SpaceId(pid), &mut space);
        let now = memory.now();
        drop(memory);
        if let Some(uses) = layout {
            let mut partitions: Vec<PartitionLayout> = uses.into_iter().map(PartitionLayout::from).collect();
            partitions.extend(ended);
            crate::pae::record_layout(ProgramLayout { identity, name: name.clone(), runs: 0, partitions });
        }
        // The line is built only if it will be printed (a 50-field line costs
        // tens of thousands of instructions; `log=warn` drops it), the
        // record only if there is a record port.
        let line = log::log_enabled!(log::Level::Info);
        if memory::memstat_lines() && (line || record::enabled()) {
            let mut summary = memory::summary(SpaceId(pid), partitions, now.saturating_sub(born), &counters, 0, declared.as_ref());
            summary.run_cycles = run_cycles;
            summary.budget = budget;
            summary.history_events = history.written();
            summary.history_lost = history.lost();
            if line {
                let mut line = format!("memstat name={name} policy={}", policy.name());
                for (field, value) in summary.fields() {
                    let _ = write!(line, " {field}={value}");
                }
                log::info!("{line}");
            }
            record::write(&Record::Memstat(Memstat { name: name.as_str(), policy, counters: summary }));
        }
    }
    drop(orphans);
    sched::exit_current()
}

pub(super) fn reap(table: &mut ProcessTable, pid: Pid) -> Option<WaitStatus> {
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

/// The running process in the locked `table` and a session on its space
/// in the locked `memory` (taken in that order): what a system call on the
/// process's memory works through.
pub(super) fn own<'a>(table: &'a mut ProcessTable, memory: &'a mut memory::Guard) -> Result<(&'a mut Process, Space<'a, SystemTables<'a>>), Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let process = table.processes.get_mut(&pid).ok_or(Error::InvalidArgument)?;
    let space = memory.space(SpaceId(pid)).ok_or(Error::InvalidArgument)?;
    Ok((process, space))
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
    events.extend(declaration.partitions.iter().map(|&id| Event::Request { what: Request::Partition, value: id.0 }));
    memory::lock().declare(SpaceId(pid), declaration).map_err(vass_error)?;
    let mut table = TABLE.lock();
    if let Some(process) = table.processes.get_mut(&pid) {
        for event in events {
            process.history.record(event);
        }
    }
    Ok(())
}

mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use crate::mm::frame;
    use crate::{ensure, ensure_eq};

    fn run_to_end(path: &str, arguments: &[&str]) -> Result<Option<ExitReason>, Error> {
        let pid = spawn(path, arguments, None, None, &[])?;
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

    /// The pages of `pid`'s partitions of kind shared (its text, mapped
    /// from the text store) and the physical address each maps.
    fn shared_text_of(pid: Pid) -> Vec<(u64, Option<(u64, bool)>)> {
        let memory = memory::lock_untimed();
        let pages: Vec<u64> = memory
            .partitions_of(SpaceId(pid))
            .filter(|partition| partition.kind == crate::vass::PartitionKind::Shared)
            .flat_map(|partition| partition.ranges.iter().flat_map(|range| range.start..range.end))
            .collect();
        pages.into_iter().map(|page| (page, memory.physical(SpaceId(pid), page * crate::vass::PAGE_SIZE))).collect()
    }

    #[ktest]
    fn two_instances_of_a_program_run_one_copy_of_its_text_which_outlives_the_first() {
        let _ = run_to_end("bin/spin", &["1"]);
        sched::yield_now();
        // From an empty cache, so the two instances make the text afresh.
        memory::lock_untimed().drop_text_cache();
        let before = frame::counts();
        let pieces = memory::lock_untimed().text_pieces();
        let spawned = |ticks| spawn("bin/spin", &[ticks], None, None, &[]).map_err(|error| crate::ktest::Failure::new(format!("spawn: {error:?}"), file!(), line!()));
        let first = spawned("10")?;
        let second = spawned("40")?;
        let text = shared_text_of(first);
        ensure!(!text.is_empty(), "the text is mapped from the store");
        ensure!(text.iter().all(|(_, mapped)| matches!(mapped, Some((_, false)))), "every text page mapped at load, read-only: {text:?}");
        // The same frames, at the same addresses.
        ensure_eq!(shared_text_of(second), text);
        ensure!(memory::lock_untimed().text_pieces() > pieces, "held once for both");
        ensure_eq!(wait_from_kernel(first), Some(ExitReason::Exited(0)));
        // The first instance's end leaves the second its text.
        ensure_eq!(shared_text_of(second), text);
        ensure_eq!(wait_from_kernel(second), Some(ExitReason::Exited(0)));
        sched::yield_now();
        // The last instance's end caches the text: nothing else stays.
        let cached = memory::lock_untimed().text_cached().1;
        ensure!(memory::lock_untimed().text_pieces() > pieces, "cached");
        ensure!(cached >= text.len() as u64, "the text is cached: {cached} frames");
        let after = frame::counts();
        ensure_eq!(after.user, before.user + cached);
        ensure_eq!(after.free, before.free - cached);
        // Dropping the cache gives every cached frame back.
        ensure!(memory::lock_untimed().drop_text_cache() >= 1);
        ensure_eq!(memory::lock_untimed().text_cached(), (0, 0));
        ensure_eq!(memory::lock_untimed().text_pieces(), pieces);
        let dropped = frame::counts();
        ensure_eq!(dropped.user, before.user);
        ensure_eq!(dropped.free, before.free);
    }

    #[ktest]
    fn spawning_a_missing_or_invalid_program_fails_cleanly() {
        ensure_eq!(spawn("bin/no-such-program", &[], None, None, &[]), Err(Error::NotFound));
        ensure_eq!(spawn("boot/cmdline", &[], None, None, &[]), Err(Error::BadExecutable));
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
