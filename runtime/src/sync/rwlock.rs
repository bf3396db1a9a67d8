//! [`RwLock`]: a reader count and a writer flag under a short std lock, with a FIFO
//! queue of [`Signal`]s for the waiters.
//!
//! # Protocol
//!
//! A newcomer takes the lock at once only if it is compatible *and nobody is queued*:
//! a reader arriving while a writer waits queues behind it, so a stream of readers
//! cannot starve writers, and a writer cannot overtake queued readers either. Every
//! release (and every waiter that gives up) then *grants* the lock to the front of
//! the queue, as far as it fits: one writer, or the run of readers up to the next
//! writer. The granter updates the count for the waiter and claims its signal with a
//! grant, so a woken waiter already holds the lock; a waiter whose claim fails (it
//! gave up) is skipped.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{Arc, LockResult, Mutex as StdMutex, MutexGuard as StdGuard, TryLockError, TryLockResult};

use super::poison;
use super::signal::{Claim, Signal};
use super::unwind::{held_at_shutdown, retry_while_unwinding, wait_or_unwind};

const GRANTED: Claim = Claim { index: 0, granted: true };

/// A reader-writer lock that parks coroutines: `std::sync::RwLock`'s API, fair
/// (first come, first served) so that writers are never starved by readers.
///
/// Any number of readers or one writer hold it at a time; a reader that arrives while
/// a writer is waiting queues behind that writer. Holding a guard across a park is
/// safe, as with [`Mutex`](super::Mutex). A writer that panics poisons the lock, as in
/// std. Taking a read lock twice on one coroutine may deadlock if a writer queues in
/// between.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use hebra::sync::RwLock;
///
/// hebra::run(|| {
///     let config = Arc::new(RwLock::new(String::from("v1")));
///     let readers: Vec<_> = (0..4)
///         .map(|_| {
///             let config = config.clone();
///             hebra::spawn(move || config.read().unwrap().len())
///         })
///         .collect();
///     config.write().unwrap().push_str("-patched");
///     for reader in readers {
///         let len = reader.join().unwrap();
///         assert!(len == 2 || len == 10);
///     }
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    state: StdMutex<State>,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: moving the lock moves its `T`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}

// SAFETY: readers on several threads share `&T` (hence `T: Sync`); writers get `&mut T`
// in turn on whichever thread locks (hence `T: Send`), as for `std::sync::RwLock`. The
// state lock and the grants' claims order the holders' accesses.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T: ?Sized> UnwindSafe for RwLock<T> {}
impl<T: ?Sized> RefUnwindSafe for RwLock<T> {}

/// Shared access to the value of a [`RwLock`]; dropping it releases the read lock.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

/// Exclusive access to the value of a [`RwLock`]; dropping it releases the write
/// lock, and dropping it while panicking poisons the lock.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    poison: poison::Guard,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared read guard gives only `&T`: sound to share when `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: a shared write guard gives only `&T` (`&mut T` needs the guard itself).
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

struct State {
    readers: usize,
    writer: bool,
    queue: VecDeque<Queued>,
}

struct Queued {
    signal: Arc<Signal>,
    write: bool,
}

impl State {
    fn fits(&self, write: bool) -> bool {
        !self.writer && (!write || self.readers == 0)
    }

    /// Whether a newcomer takes the lock now: it fits and nobody is queued before it.
    fn try_take(&mut self, write: bool) -> bool {
        let free = self.queue.is_empty() && self.fits(write);
        if free {
            self.take(write);
        }
        free
    }

    fn take(&mut self, write: bool) {
        if write {
            self.writer = true;
        } else {
            self.readers += 1;
        }
    }

    /// Grants the lock to the front of the queue as far as it fits; returns the
    /// signals to wake once the state lock is released.
    fn grant(&mut self) -> Vec<Arc<Signal>> {
        let mut woken = Vec::new();
        while let Some(front) = self.queue.front() {
            if !self.fits(front.write) {
                break;
            }
            let front = self.queue.pop_front().expect("the front was just seen");
            // A waiter that gave up fails the claim and is skipped.
            if front.signal.claim(GRANTED) {
                self.take(front.write);
                woken.push(front.signal);
            }
        }
        woken
    }
}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value`.
    pub const fn new(value: T) -> RwLock<T> {
        let state = State { readers: 0, writer: false, queue: VecDeque::new() };
        RwLock { state: StdMutex::new(state), poison: poison::Flag::new(), data: UnsafeCell::new(value) }
    }

    /// Consumes the lock and returns its value; `Err` (with the value) if poisoned.
    pub fn into_inner(self) -> LockResult<T> {
        let RwLock { poison, data, .. } = self;
        poison.result(data.into_inner())
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Takes a read lock, waiting while a writer holds the lock or is queued.
    ///
    /// # Errors
    ///
    /// If a writer panicked while holding the lock, the guard comes back inside a
    /// [`PoisonError`](std::sync::PoisonError); the lock is held either way.
    ///
    /// # Panics
    ///
    /// In a coroutine that the runtime unwinds at shutdown, if the lock stays held for
    /// a second (see `unwind::retry_while_unwinding`).
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        self.acquire(false);
        self.poison.result(RwLockReadGuard { lock: self, _not_send: PhantomData })
    }

    /// Takes the write lock, waiting until nobody holds the lock and the waiters
    /// queued before this one have had their turn.
    ///
    /// # Errors
    ///
    /// If a writer panicked while holding the lock, the guard comes back inside a
    /// [`PoisonError`](std::sync::PoisonError); the lock is held either way.
    ///
    /// # Panics
    ///
    /// In a coroutine that the runtime unwinds at shutdown, if the lock stays held for
    /// a second (see `unwind::retry_while_unwinding`).
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        self.acquire(true);
        RwLockWriteGuard::new(self)
    }

    /// Takes a read lock if that needs no waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if a writer holds the lock or is queued,
    /// [`TryLockError::Poisoned`] (with the guard) if a writer panicked.
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        if !self.state().try_take(false) {
            return Err(TryLockError::WouldBlock);
        }
        Ok(self.poison.result(RwLockReadGuard { lock: self, _not_send: PhantomData })?)
    }

    /// Takes the write lock if that needs no waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if the lock is held or others are queued,
    /// [`TryLockError::Poisoned`] (with the guard) if a writer panicked.
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        if !self.state().try_take(true) {
            return Err(TryLockError::WouldBlock);
        }
        Ok(RwLockWriteGuard::new(self)?)
    }

    /// Whether a writer panicked while holding the lock (until cleared).
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Marks the lock as not poisoned.
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// The value, through the exclusive borrow that proves nobody holds the lock.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned, with the reference inside.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let value = self.data.get_mut();
        self.poison.result(value)
    }

    fn state(&self) -> StdGuard<'_, State> {
        // Nothing panics while the state lock is held.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn acquire(&self, write: bool) {
        let mut state = self.state();
        if state.try_take(write) {
            return;
        }
        let signal = Signal::new();
        state.queue.push_back(Queued { signal: signal.clone(), write });
        drop(state);
        // Every claim of a queued waiter is a grant: `Ok` means the lock is ours. Unwound
        // while parked, a waiter passes a granted lock on, or leaves the queue.
        let on_unwind = |claim: Option<Claim>| match claim {
            Some(_) => self.release(write),
            None => self.leave(&signal),
        };
        if wait_or_unwind(&signal, None, on_unwind).is_err() {
            self.leave(&signal);
            if !retry_while_unwinding(|| self.state().try_take(write)) {
                held_at_shutdown("hebra::sync::RwLock");
            }
        }
        Signal::recycle(signal);
    }

    /// Takes a waiter that gave up out of the queue; that may let the ones behind it in.
    fn leave(&self, signal: &Arc<Signal>) {
        let mut state = self.state();
        state.queue.retain(|queued| !Arc::ptr_eq(&queued.signal, signal));
        let woken = state.grant();
        drop(state);
        woken.iter().for_each(|signal| signal.wake());
    }

    fn release(&self, write: bool) {
        let mut state = self.state();
        if write {
            state.writer = false;
        } else {
            state.readers -= 1;
        }
        let woken = state.grant();
        drop(state);
        woken.iter().for_each(|signal| signal.wake());
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    fn new(lock: &'a RwLock<T>) -> LockResult<RwLockWriteGuard<'a, T>> {
        poison::map_result(lock.poison.guard(), |poison| RwLockWriteGuard {
            lock,
            poison,
            _not_send: PhantomData,
        })
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a read lock is held, so no writer has `&mut T`; readers only share.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the write lock is held: nobody else accesses the value.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held: this is the only access to the value, for no
        // longer than the exclusive borrow of the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release(false);
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        self.lock.release(true);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn queued(state: &mut State, write: bool) -> Arc<Signal> {
        let signal = Signal::new();
        state.queue.push_back(Queued { signal: signal.clone(), write });
        signal
    }

    #[test]
    fn readers_share_and_a_queued_writer_stops_new_readers() {
        let mut state = State { readers: 0, writer: false, queue: VecDeque::new() };
        assert!(state.try_take(false) && state.try_take(false));
        assert!(!state.try_take(true), "readers hold it");
        let writer = queued(&mut state, true);
        assert!(!state.try_take(false), "a reader queues behind the waiting writer");
        let reader = queued(&mut state, false);
        state.readers -= 1;
        assert!(state.grant().is_empty(), "one reader left");
        state.readers -= 1;
        let woken = state.grant();
        assert!(woken.len() == 1 && Arc::ptr_eq(&woken[0], &writer), "the writer is next");
        assert!(state.writer && state.readers == 0);
        state.writer = false;
        let woken = state.grant();
        assert!(woken.len() == 1 && Arc::ptr_eq(&woken[0], &reader));
        assert_eq!(state.readers, 1);
        // The signals were claimed with a grant: their owners hold the lock.
        assert_eq!(writer.cancel(), Some(GRANTED));
        assert_eq!(reader.cancel(), Some(GRANTED));
    }

    #[test]
    fn a_release_grants_the_run_of_readers_up_to_the_next_writer() {
        let mut state = State { readers: 0, writer: true, queue: VecDeque::new() };
        let gone = queued(&mut state, false);
        let readers = [queued(&mut state, false), queued(&mut state, false)];
        let writer = queued(&mut state, true);
        let last = queued(&mut state, false);
        assert_eq!(gone.cancel(), None, "this one gave up");
        state.writer = false;
        let woken = state.grant();
        assert_eq!(woken.len(), 2, "the dead entry is skipped, the writer stops the run");
        assert!(readers.iter().zip(&woken).all(|(r, w)| Arc::ptr_eq(r, w)));
        assert_eq!(state.readers, 2);
        assert_eq!(state.queue.len(), 2);
        [writer, last].iter().for_each(|s| assert_eq!(s.cancel(), None));
    }

    #[test]
    fn poisoning_and_debug_follow_std() {
        let lock = RwLock::new(1);
        let _ = std::panic::catch_unwind(|| {
            let _guard = lock.write().unwrap();
            panic!("poison");
        });
        assert!(lock.is_poisoned());
        assert!(lock.read().is_err());
        assert_eq!(format!("{lock:?}"), "RwLock { data: 1, poisoned: true, .. }");
        lock.clear_poison();
        let guard = lock.write().unwrap();
        assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
        assert_eq!(format!("{lock:?}"), "RwLock { data: <locked>, poisoned: false, .. }");
        drop(guard);
        let _reader = lock.read().unwrap();
        let _panic_reading = std::panic::catch_unwind(|| {
            let _guard = lock.read().unwrap();
            panic!("a reader does not poison");
        });
        assert!(!lock.is_poisoned());
    }
}
