//! Locks that are safe to take from interrupt handlers.
//!
//! A plain spin lock deadlocks if an interrupt handler on the same CPU wants
//! the lock the interrupted code holds. `IrqMutex` disables interrupts for as
//! long as the lock is held and restores the previous state afterwards.

use crate::arch::cpu;
use core::ops::{Deref, DerefMut};

/// A spin lock that keeps interrupts disabled while held.
pub struct IrqMutex<T> {
    inner: spin::Mutex<T>,
}

/// Restores the interrupt flag when dropped.
struct InterruptRestore {
    were_enabled: bool,
}

impl InterruptRestore {
    #[inline(always)]
    fn save_and_disable() -> InterruptRestore {
        let were_enabled = cpu::interrupts_enabled();
        cpu::disable_interrupts();
        InterruptRestore { were_enabled }
    }
}

impl Drop for InterruptRestore {
    #[inline(always)]
    fn drop(&mut self) {
        if self.were_enabled {
            cpu::enable_interrupts();
        }
    }
}

/// Access to the data of a locked [`IrqMutex`].
pub struct IrqMutexGuard<'a, T> {
    // Field order matters: the lock is released before interrupts come back.
    guard: spin::MutexGuard<'a, T>,
    _restore: InterruptRestore,
}

impl<T> IrqMutex<T> {
    /// A new unlocked mutex.
    pub const fn new(value: T) -> IrqMutex<T> {
        IrqMutex { inner: spin::Mutex::new(value) }
    }

    /// Disables interrupts and spins until the lock is free. Always
    /// inlined: taking a free lock is a few instructions, which a call
    /// (and the registers it saves) would double on the system-call path.
    #[inline(always)]
    pub fn lock(&self) -> IrqMutexGuard<'_, T> {
        let restore = InterruptRestore::save_and_disable();
        IrqMutexGuard { guard: self.inner.lock(), _restore: restore }
    }

    /// Takes the lock if it is free, without spinning.
    pub fn try_lock(&self) -> Option<IrqMutexGuard<'_, T>> {
        let restore = InterruptRestore::save_and_disable();
        self.inner.try_lock().map(|guard| IrqMutexGuard { guard, _restore: restore })
    }

    /// Whether the lock is held by anyone right now.
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }
}

impl<T> Deref for IrqMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for IrqMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

mod ktests {
    use super::*;
    use crate::ktest::ktest;
    use crate::{ensure, ensure_eq};

    #[ktest]
    fn irq_mutex_masks_interrupts_while_held_and_restores_them() {
        let mutex = IrqMutex::new(5);
        ensure!(cpu::interrupts_enabled());
        {
            let mut guard = mutex.lock();
            ensure!(!cpu::interrupts_enabled(), "interrupts on while the lock is held");
            ensure!(mutex.try_lock().is_none(), "lock taken twice");
            *guard += 1;
        }
        ensure!(cpu::interrupts_enabled(), "interrupts not restored");
        ensure_eq!(*mutex.lock(), 6);
        cpu::disable_interrupts();
        drop(mutex.lock());
        let stayed_off = !cpu::interrupts_enabled();
        cpu::enable_interrupts();
        ensure!(stayed_off, "unlocking enabled interrupts that were off before");
    }
}
