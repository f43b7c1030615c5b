//! Round-robin scheduling policy: who runs next, who sleeps until when.
//!
//! Pure bookkeeping over task ids, so it is tested on the host; the
//! mechanism (stacks, context switches) lives in `sched`.

#![forbid(unsafe_code)]

use alloc::collections::{BinaryHeap, VecDeque};
use core::cmp::Reverse;

/// Identifies a task.
pub type TaskId = u64;

/// A round-robin ready queue with a fixed time slice and a sleep queue.
#[derive(Debug)]
pub struct RoundRobin {
    ready: VecDeque<TaskId>,
    sleepers: BinaryHeap<Reverse<(u64, TaskId)>>,
    slice_ticks: u32,
    remaining: u32,
}

impl RoundRobin {
    /// A policy giving each task `slice_ticks` timer ticks (at least 1) before preemption.
    pub fn new(slice_ticks: u32) -> RoundRobin {
        let slice_ticks = slice_ticks.max(1);
        RoundRobin { ready: VecDeque::new(), sleepers: BinaryHeap::new(), slice_ticks, remaining: slice_ticks }
    }

    /// Appends `task` to the ready queue (no-op if already queued).
    pub fn make_ready(&mut self, task: TaskId) {
        if !self.ready.contains(&task) {
            self.ready.push_back(task);
        }
    }

    /// Puts `task` at the head of the ready queue (moving it there if it
    /// was queued already).
    pub fn make_ready_front(&mut self, task: TaskId) {
        self.ready.retain(|&queued| queued != task);
        self.ready.push_front(task);
    }

    /// Forgets `task` everywhere (it exited or was killed).
    pub fn remove(&mut self, task: TaskId) {
        self.ready.retain(|&queued| queued != task);
        self.sleepers.retain(|Reverse((_, sleeper))| *sleeper != task);
    }

    /// Takes the next task to run and starts a fresh time slice.
    pub fn pick_next(&mut self) -> Option<TaskId> {
        let next = self.ready.pop_front()?;
        self.remaining = self.slice_ticks;
        Some(next)
    }

    /// Number of tasks waiting to run.
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Number of sleeping tasks.
    pub fn sleeping_len(&self) -> usize {
        self.sleepers.len()
    }

    /// Puts `task` to sleep until tick `wake_tick`.
    pub fn sleep_until(&mut self, task: TaskId, wake_tick: u64) {
        self.sleepers.push(Reverse((wake_tick, task)));
    }

    /// Moves every sleeper due at `now` to the ready queue, in wake order.
    /// Returns how many woke.
    pub fn wake_due(&mut self, now: u64) -> usize {
        let mut woken = 0;
        while let Some(Reverse((tick, task))) = self.sleepers.peek().copied() {
            if tick > now {
                break;
            }
            self.sleepers.pop();
            self.make_ready(task);
            woken += 1;
        }
        woken
    }

    /// Accounts one timer tick at time `now` for the running task: wakes
    /// due sleepers and reports whether the running task should be
    /// preempted (its slice is used up and someone else is ready).
    pub fn tick(&mut self, now: u64) -> bool {
        self.wake_due(now);
        self.remaining = self.remaining.saturating_sub(1);
        self.remaining == 0 && !self.ready.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn a_task_made_ready_at_the_front_runs_next_once() {
        let mut policy = RoundRobin::new(2);
        for task in [1, 2, 3] {
            policy.make_ready(task);
        }
        policy.make_ready_front(3);
        policy.make_ready_front(9);
        let order: Vec<TaskId> = core::iter::from_fn(|| policy.pick_next()).collect();
        assert_eq!(order, [9, 3, 1, 2]);
    }

    #[test]
    fn tasks_run_in_arrival_order() {
        let mut policy = RoundRobin::new(2);
        for task in [3, 1, 2] {
            policy.make_ready(task);
        }
        policy.make_ready(1);
        assert_eq!(policy.ready_len(), 3);
        assert_eq!([policy.pick_next(), policy.pick_next(), policy.pick_next()], [Some(3), Some(1), Some(2)]);
        assert_eq!(policy.pick_next(), None);
    }

    #[test]
    fn preemption_happens_only_after_the_slice_and_only_with_competition() {
        let mut policy = RoundRobin::new(3);
        policy.make_ready(1);
        assert_eq!(policy.pick_next(), Some(1));
        assert!(!policy.tick(1) && !policy.tick(2) && !policy.tick(3), "nobody else is ready");
        policy.make_ready(2);
        assert!(policy.tick(4), "slice exhausted and task 2 waiting");
        assert_eq!(policy.pick_next(), Some(2));
        assert!(!policy.tick(5));
        assert!(!policy.tick(6));
    }

    #[test]
    fn sleepers_wake_in_time_order_and_not_before() {
        let mut policy = RoundRobin::new(1);
        policy.sleep_until(7, 10);
        policy.sleep_until(8, 5);
        policy.sleep_until(9, 10);
        assert_eq!(policy.wake_due(4), 0);
        assert_eq!(policy.wake_due(5), 1);
        assert_eq!(policy.pick_next(), Some(8));
        assert_eq!(policy.wake_due(11), 2);
        assert_eq!(policy.sleeping_len(), 0);
        let mut woken = [policy.pick_next().unwrap(), policy.pick_next().unwrap()];
        woken.sort_unstable();
        assert_eq!(woken, [7, 9]);
    }

    #[test]
    fn removed_tasks_neither_run_nor_wake() {
        let mut policy = RoundRobin::new(1);
        policy.make_ready(1);
        policy.make_ready(2);
        policy.sleep_until(3, 1);
        policy.remove(1);
        policy.remove(3);
        assert_eq!(policy.wake_due(100), 0);
        assert_eq!(policy.pick_next(), Some(2));
        assert_eq!(policy.pick_next(), None);
    }

    #[test]
    fn ticks_wake_sleepers_and_trigger_preemption() {
        let mut policy = RoundRobin::new(1);
        policy.make_ready(1);
        policy.pick_next();
        policy.sleep_until(2, 3);
        assert!(!policy.tick(2));
        assert!(policy.tick(3), "the sleeper woke and the slice is over");
    }

    #[test]
    fn a_zero_slice_is_treated_as_one_tick() {
        let mut policy = RoundRobin::new(0);
        policy.make_ready(1);
        policy.make_ready(2);
        policy.pick_next();
        assert!(policy.tick(1));
    }
}
