//! The scheduler mechanism: tasks with their own kernel stacks, context
//! switches, blocking and waking, preemption from the timer.
//!
//! Every scheduler operation runs with interrupts disabled (one CPU), which
//! is also what makes check-then-block sequences free of lost wake-ups.
//!
//! [`hand_off`] runs a task now with the caller right behind it in the
//! ready queue (the PAE task after a fault); dead tasks are reaped only
//! when one died. The running task and its owner (a process's id) are
//! atomics the switch writes ([`current`], [`current_owner`]), so the
//! system-call path reads them without a lock.

use crate::arch::{context, cpu, gdt, syscall};
use crate::time;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use super::round_robin::{RoundRobin, TaskId};
use super::stack::KernelStack;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::PhysFrame;

/// Ticks a task runs before it may be preempted.
pub const TIME_SLICE_TICKS: u32 = 2;

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting in the ready queue.
    Ready,
    /// On the CPU.
    Running,
    /// Waiting for a wake-up (sleep, a child, ...).
    Blocked,
    /// Finished; its stack is freed by the next scheduling decision.
    Dead,
}

struct Task {
    name: String,
    state: TaskState,
    saved_stack_pointer: u64,
    stack: Option<KernelStack>,
    /// The address space to load when the task runs (user tasks only).
    address_space: Option<PhysFrame>,
    /// Who owns it (a user task: its process's id; 0: the kernel).
    owner: u64,
}

struct Scheduler {
    tasks: BTreeMap<TaskId, Box<Task>>,
    policy: RoundRobin,
    current: TaskId,
    idle: TaskId,
    next_id: TaskId,
    switches: u64,
    /// Tasks that died and are not freed yet (the one running may be
    /// among them): nothing to reap while it is 0, so a switch need not
    /// look at every task.
    dead: usize,
}

static SCHEDULER: spin::Mutex<Option<Scheduler>> = spin::Mutex::new(None);

/// The running task and its owner, as the last switch left them: read on
/// every system call and fault without the scheduler's lock (one CPU; a
/// switch writes both with interrupts off).
static CURRENT: AtomicU64 = AtomicU64::new(0);
static CURRENT_OWNER: AtomicU64 = AtomicU64::new(0);

impl Scheduler {
    /// Frees the tasks (and kernel stacks) of tasks that died, except the
    /// running one, which may still be on its stack.
    fn reap_dead(&mut self) {
        if self.dead == 0 {
            return;
        }
        let current = self.current;
        self.tasks.retain(|id, task| task.state != TaskState::Dead || *id == current);
        self.dead = usize::from(self.tasks.get(&current).is_some_and(|task| task.state == TaskState::Dead));
    }
}

/// Scheduler counters.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// Context switches so far.
    pub switches: u64,
    /// Live tasks (not dead), including idle and boot.
    pub tasks: usize,
    /// Tasks ready to run.
    pub ready: usize,
}

fn with_scheduler<R>(f: impl FnOnce(&mut Scheduler) -> R) -> R {
    let mut guard = SCHEDULER.lock();
    f(guard.as_mut().expect("scheduler not initialised"))
}

/// Runs `f` with interrupts disabled, restoring them afterwards.
fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    x86_64::instructions::interrupts::without_interrupts(f)
}

/// Turns the boot context into task 0 and creates the idle task.
pub fn init() -> Result<(), crate::mm::paging::MapError> {
    let boot = Box::new(Task {
        name: String::from("boot"),
        state: TaskState::Running,
        saved_stack_pointer: 0,
        stack: None,
        address_space: None,
        owner: 0,
    });
    let mut tasks = BTreeMap::new();
    tasks.insert(0, boot);
    *SCHEDULER.lock() = Some(Scheduler {
        tasks,
        policy: RoundRobin::new(TIME_SLICE_TICKS),
        current: 0,
        idle: 0,
        next_id: 1,
        switches: 0,
        dead: 0,
    });
    // Interrupts stay off until the idle task is known: a timer tick in
    // between would see `idle == 0` (the boot task), switch to the new idle
    // task as "leaving idle", and never queue the boot task again.
    without_interrupts(|| {
        let idle = spawn_kernel("idle", || loop {
            cpu::wait_for_interrupt();
        })?;
        with_scheduler(|scheduler| {
            scheduler.policy.remove(idle);
            scheduler.idle = idle;
        });
        Ok(())
    })
}

/// The running task (0, the boot task, before the scheduler starts).
pub fn current() -> TaskId {
    CURRENT.load(Ordering::Relaxed)
}

/// The owner of the running task (a process's id; 0: the kernel's own
/// task, or a process's task after [`disown_current`]).
pub fn current_owner() -> u64 {
    CURRENT_OWNER.load(Ordering::Relaxed)
}

/// The running task no longer belongs to its process (which is ending):
/// from now on [`current_owner`] says 0.
pub fn disown_current() {
    without_interrupts(|| {
        with_scheduler(|scheduler| {
            let current = scheduler.current;
            if let Some(task) = scheduler.tasks.get_mut(&current) {
                task.owner = 0;
            }
        });
        CURRENT_OWNER.store(0, Ordering::Relaxed);
    });
}

/// Scheduler counters. Dead tasks are reaped first, so the counts (and the
/// frame counts after this call) do not depend on when the last switch was.
pub fn stats() -> Stats {
    without_interrupts(|| {
        with_scheduler(|scheduler| {
            scheduler.reap_dead();
            Stats {
            switches: scheduler.switches,
                tasks: scheduler.tasks.values().filter(|task| task.state != TaskState::Dead).count(),
                ready: scheduler.policy.ready_len(),
            }
        })
    })
}

type KernelEntry = Box<dyn FnOnce() + Send>;

extern "sysv64" fn kernel_task_entry(argument: u64) -> ! {
    // SAFETY: `argument` is the Box leaked by `spawn_kernel` for this task,
    // reclaimed exactly once here.
    let entry = unsafe { Box::from_raw(argument as *mut KernelEntry) };
    cpu::enable_interrupts();
    entry();
    exit_current()
}

fn add_task(
    name: &str,
    address_space: Option<PhysFrame>,
    entry: extern "sysv64" fn(u64) -> !,
    argument: u64,
    owner: u64,
) -> Result<TaskId, crate::mm::paging::MapError> {
    let stack = KernelStack::new()?;
    // SAFETY: the stack was just mapped and belongs to the new task alone.
    let stack_pointer = unsafe { context::prepare_stack(stack.top(), entry, argument) };
    let task = Box::new(Task {
        name: String::from(name),
        state: TaskState::Ready,
        saved_stack_pointer: stack_pointer,
        stack: Some(stack),
        address_space,
        owner,
    });
    Ok(without_interrupts(|| {
        with_scheduler(|scheduler| {
            let id = scheduler.next_id;
            scheduler.next_id += 1;
            scheduler.tasks.insert(id, task);
            scheduler.policy.make_ready(id);
            id
        })
    }))
}

/// Starts a kernel task running `entry`.
pub fn spawn_kernel(name: &str, entry: impl FnOnce() + Send + 'static) -> Result<TaskId, crate::mm::paging::MapError> {
    let entry: Box<KernelEntry> = Box::new(Box::new(entry));
    let argument = Box::into_raw(entry) as u64;
    add_task(name, None, kernel_task_entry, argument, 0).inspect_err(|_| {
        // SAFETY: the task was not created, so the Box is still ours.
        drop(unsafe { Box::from_raw(argument as *mut KernelEntry) });
    })
}

/// Starts a task that runs `entry(argument)` in the address space whose
/// level-4 table is `address_space` (used for processes: `argument` is the
/// process's id, which becomes the task's owner, see [`current_owner`]).
pub fn spawn_user(
    name: &str,
    address_space: PhysFrame,
    entry: extern "sysv64" fn(u64) -> !,
    argument: u64,
) -> Result<TaskId, crate::mm::paging::MapError> {
    add_task(name, Some(address_space), entry, argument, argument)
}

/// Picks the next task and switches to it. Interrupts must be disabled.
fn schedule() {
    debug_assert!(!cpu::interrupts_enabled());
    let switch = with_scheduler(|scheduler| {
        let current = scheduler.current;
        scheduler.reap_dead();
        let running = scheduler.tasks.get_mut(&current).map(|task| {
            if task.state == TaskState::Running {
                task.state = TaskState::Ready;
            }
            task.state
        });
        if running == Some(TaskState::Ready) && current != scheduler.idle {
            scheduler.policy.make_ready(current);
        }
        let next = scheduler.policy.pick_next().unwrap_or(scheduler.idle);
        let next_task = scheduler.tasks.get_mut(&next).expect("scheduled task exists");
        next_task.state = TaskState::Running;
        if next == current {
            return None;
        }
        let (load, owner) = (next_task.saved_stack_pointer, next_task.owner);
        if let Some(stack) = &next_task.stack {
            gdt::set_kernel_stack(stack.top());
            syscall::set_kernel_stack(stack.top());
        }
        if let Some(level4) = next_task.address_space
            && Cr3::read().0 != level4
        {
            // SAFETY: the task's address space is alive while the task is
            // (the process tears it down only after its task is dead), and it
            // maps the shared kernel half.
            unsafe { Cr3::write(level4, Cr3Flags::empty()) };
        }
        scheduler.current = next;
        CURRENT.store(next, Ordering::Relaxed);
        CURRENT_OWNER.store(owner, Ordering::Relaxed);
        scheduler.switches += 1;
        let current_task = scheduler.tasks.get_mut(&current).expect("current task exists");
        Some((&raw mut current_task.saved_stack_pointer, load))
    });
    if let Some((save, load)) = switch {
        // Dead tasks are freed only when not current, so `save` stays valid.
        // SAFETY: `save` points into a live boxed task; `load` was saved by
        // `switch` or `prepare_stack` on a mapped stack; interrupts are off.
        unsafe { context::switch(save, load) };
    }
}

/// Gives up the CPU to the next ready task.
pub fn yield_now() {
    without_interrupts(schedule);
}

/// Blocks the running task until [`wake`]. Call with interrupts disabled,
/// right after recording what the task waits for.
pub fn block_current() {
    debug_assert!(!cpu::interrupts_enabled());
    with_scheduler(|scheduler| {
        let current = scheduler.current;
        if let Some(task) = scheduler.tasks.get_mut(&current) {
            task.state = TaskState::Blocked;
        }
    });
    schedule();
}

/// Makes a blocked task ready again.
pub fn wake(task: TaskId) {
    without_interrupts(|| {
        with_scheduler(|scheduler| {
            if let Some(entry) = scheduler.tasks.get_mut(&task)
                && entry.state == TaskState::Blocked
            {
                entry.state = TaskState::Ready;
                scheduler.policy.make_ready(task);
            }
        })
    });
}

/// Runs `task` (blocked or ready) now, ahead of every ready task, with the
/// running task right behind it (it continues when `task` blocks or
/// yields): the running task lends the processor for `task`'s short job.
/// A blocked `task` must tolerate waking early (as [`sleep`] does).
pub fn hand_off(task: TaskId) {
    without_interrupts(|| {
        let handed = with_scheduler(|scheduler| {
            let current = scheduler.current;
            match scheduler.tasks.get_mut(&task) {
                Some(entry) if matches!(entry.state, TaskState::Blocked | TaskState::Ready) && task != current => {
                    entry.state = TaskState::Ready
                }
                _ => return false,
            }
            if current != scheduler.idle
                && let Some(running) = scheduler.tasks.get_mut(&current)
                && running.state == TaskState::Running
            {
                running.state = TaskState::Ready;
                scheduler.policy.make_ready_front(current);
            }
            scheduler.policy.make_ready_front(task);
            true
        });
        if handed {
            schedule();
        }
    });
}

/// Blocks the running task until [`wake`] and runs `task` (blocked or
/// ready) next, ahead of every ready task: the running task gives its
/// processor to the one it now waits for (a call's server). Call with
/// interrupts disabled, right after recording what the task waits for.
pub fn block_and_run(task: TaskId) {
    debug_assert!(!cpu::interrupts_enabled());
    with_scheduler(|scheduler| {
        let current = scheduler.current;
        if let Some(running) = scheduler.tasks.get_mut(&current) {
            running.state = TaskState::Blocked;
        }
        if let Some(entry) = scheduler.tasks.get_mut(&task)
            && matches!(entry.state, TaskState::Blocked | TaskState::Ready)
            && task != current
        {
            entry.state = TaskState::Ready;
            scheduler.policy.make_ready_front(task);
        }
    });
    schedule();
}

/// Blocks the running task for at least `ticks` timer ticks. Wake-ups
/// before the deadline (a task may be woken for other reasons) just put it
/// back to sleep.
pub fn sleep(ticks: u64) {
    let wake_at = time::ticks().saturating_add(ticks);
    without_interrupts(|| {
        while time::ticks() < wake_at {
            with_scheduler(|scheduler| {
                let current = scheduler.current;
                scheduler.policy.sleep_until(current, wake_at);
                if let Some(task) = scheduler.tasks.get_mut(&current) {
                    task.state = TaskState::Blocked;
                }
            });
            schedule();
        }
    });
}

/// Ends the running task. Its stack is freed once another task runs.
pub fn exit_current() -> ! {
    cpu::disable_interrupts();
    with_scheduler(|scheduler| {
        let current = scheduler.current;
        scheduler.policy.remove(current);
        if let Some(task) = scheduler.tasks.get_mut(&current) {
            task.state = TaskState::Dead;
            scheduler.dead += 1;
        }
    });
    schedule();
    unreachable!("a dead task was scheduled again");
}

/// Called from the timer interrupt (after EOI): wakes due sleepers and
/// preempts the running task when its slice is over, or leaves idle as soon
/// as there is work.
pub fn on_timer_tick() {
    let decision = {
        let Some(mut guard) = SCHEDULER.try_lock() else { return };
        let Some(scheduler) = guard.as_mut() else { return };
        let preempt = scheduler.policy.tick(time::ticks());
        preempt || (scheduler.current == scheduler.idle && scheduler.policy.ready_len() > 0)
    };
    if decision {
        schedule();
    }
}

/// The name of a task, for reports.
pub fn task_name(task: TaskId) -> Option<String> {
    without_interrupts(|| with_scheduler(|scheduler| scheduler.tasks.get(&task).map(|t| t.name.clone())))
}

mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use crate::{ensure, ensure_eq};
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// Yields until `done` holds or `ticks` timer ticks pass.
    fn yield_until(ticks: u64, done: impl Fn() -> bool) -> bool {
        let deadline = time::ticks() + ticks;
        while !done() {
            if time::ticks() > deadline {
                return false;
            }
            yield_now();
        }
        true
    }

    #[ktest]
    fn a_kernel_task_runs_and_its_stack_is_freed() {
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let before = crate::mm::frame::counts();
        let task = spawn_kernel("ktest-task", move || flag.store(true, Ordering::SeqCst));
        ensure!(task.is_ok(), "spawn failed: {task:?}");
        ensure!(yield_until(100, || ran.load(Ordering::SeqCst)), "the task never ran");
        // One more switch lets the scheduler free the dead task's stack.
        ensure!(yield_until(100, || task_name(task.unwrap()).is_none()), "the dead task was not reaped");
        ensure_eq!(crate::mm::frame::counts().free, before.free);
    }

    #[ktest]
    fn sleep_blocks_for_at_least_the_requested_ticks() {
        for ticks in [1, 3] {
            let start = time::ticks();
            sleep(ticks);
            let slept = time::ticks() - start;
            ensure!(slept >= ticks && slept <= ticks + 3, "sleep({ticks}) took {slept} ticks");
        }
    }

    #[ktest]
    fn a_busy_task_is_preempted_by_the_timer() {
        let counter = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (Arc::clone(&counter), Arc::clone(&stop));
        let task = spawn_kernel("ktest-spinner", move || {
            while !halt.load(Ordering::SeqCst) {
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        ensure!(task.is_ok());
        // Busy-wait without yielding: only preemption lets the spinner run.
        let start = time::ticks();
        while time::ticks() < start + 3 * u64::from(TIME_SLICE_TICKS) {
            core::hint::spin_loop();
        }
        let progressed = counter.load(Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        ensure!(progressed > 0, "the spinner never ran while this task was busy");
        ensure!(yield_until(100, || task_name(task.unwrap()).is_none()), "the spinner did not finish");
        ensure!(stats().switches > 0);
    }

    #[ktest]
    fn tasks_take_turns_when_yielding() {
        let turns = Arc::new(AtomicU64::new(0));
        let other = Arc::clone(&turns);
        let task = spawn_kernel("ktest-pingpong", move || {
            for _ in 0..5 {
                other.fetch_add(1, Ordering::SeqCst);
                yield_now();
            }
        });
        ensure!(task.is_ok());
        let mut observed = alloc::vec::Vec::new();
        for _ in 0..5 {
            yield_now();
            observed.push(turns.load(Ordering::SeqCst));
        }
        ensure!(observed.windows(2).all(|pair| pair[1] >= pair[0]), "{observed:?}");
        ensure!(observed.last().copied().unwrap_or(0) >= 4, "the other task barely ran: {observed:?}");
    }
}
