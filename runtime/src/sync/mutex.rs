//! [`Mutex`]: `std::sync::Mutex`'s API on a lock that parks coroutines (see
//! `raw_mutex.rs` for the lock itself).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{LockResult, TryLockError, TryLockResult};

use super::poison;
use super::raw_mutex::{RawMutex, Waiting};

/// A mutual exclusion lock that parks the coroutine waiting for it, not its worker.
///
/// The API is `std::sync::Mutex`'s, poisoning included. Unlike a std mutex, holding a
/// guard across a park (`hebra::sleep`, a socket read, a channel receive) is safe:
/// another coroutine of the same worker that wants the lock parks too, and the worker
/// runs the holder again in the meantime. It works from coroutines on any worker and
/// from plain threads (which block), mixed.
///
/// Uncontended, locking and unlocking are one atomic instruction each. Under contention
/// a newcomer may take the lock ahead of the queued waiters (as Go's `sync.Mutex` and
/// `parking_lot` allow, for throughput), but a waiter that has waited about a
/// millisecond is handed the lock directly at the next unlock, so nobody starves.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hebra::sync::Mutex;
///
/// hebra::run(|| {
///     let counter = Arc::new(Mutex::new(0));
///     let handles: Vec<_> = (0..10)
///         .map(|_| {
///             let counter = counter.clone();
///             hebra::spawn(move || {
///                 let mut count = counter.lock().unwrap();
///                 hebra::sleep(Duration::from_millis(1)); // parks with the lock held
///                 *count += 1;
///             })
///         })
///         .collect();
///     for handle in handles {
///         handle.join().unwrap();
///     }
///     assert_eq!(*counter.lock().unwrap(), 10);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex<Waiting>,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: moving a mutex moves its `T` (hence `T: Send`); the lock word and the waiter
// queue are plain thread-safe data.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

// SAFETY: a shared mutex hands out `&mut T` to one holder at a time, in turn on
// whichever threads lock it, which is moving `T` between threads: `T: Send` is enough,
// as for `std::sync::Mutex`. The lock's Acquire/Release (raw_mutex.rs) orders the
// holders' accesses.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T: ?Sized> UnwindSafe for Mutex<T> {}
impl<T: ?Sized> RefUnwindSafe for Mutex<T> {}

/// The lock of a [`Mutex`] while it is held; dropping it unlocks.
///
/// Like std's, it is not `Send`, and dropping it while panicking poisons the mutex.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<hebra::sync::MutexGuard<'static, u8>>();
/// ```
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    mutex: &'a Mutex<T>,
    poison: poison::Guard,
    /// `!Send` like std's guard (and `Sync` only through the impl below).
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing a guard shares only `&T` (through `Deref`), which is sound exactly
// when `T: Sync`, as for `std::sync::MutexGuard`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    ///
    /// ```
    /// use hebra::sync::Mutex;
    ///
    /// static NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());
    /// NAMES.lock().unwrap().push("hebra".to_owned());
    /// ```
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Mutex<T> {
        Mutex { raw: RawMutex::new(), poison: poison::Flag::new(), data: UnsafeCell::new(value) }
    }

    /// A new, unlocked mutex (not `const` under loom, whose atomics cannot be).
    #[cfg(loom)]
    pub fn new(value: T) -> Mutex<T> {
        Mutex { raw: RawMutex::new(), poison: poison::Flag::new(), data: UnsafeCell::new(value) }
    }

    /// Consumes the mutex and returns its value; `Err` (with the value) if poisoned.
    pub fn into_inner(self) -> LockResult<T> {
        let Mutex { poison, data, .. } = self;
        poison.result(data.into_inner())
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex: on a coroutine, parks until it is free (the worker runs other
    /// coroutines meanwhile); on a plain thread, blocks the thread.
    ///
    /// Locking a mutex the caller already holds never returns (as std's may deadlock).
    ///
    /// # Errors
    ///
    /// If a holder panicked while holding the lock, the guard comes back inside a
    /// [`PoisonError`](std::sync::PoisonError); the lock is held either way.
    ///
    /// # Panics
    ///
    /// If the lock is held and the caller is a coroutine that the runtime unwinds at
    /// shutdown (a destructor locking it then): such a coroutine cannot wait.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.raw.lock();
        MutexGuard::new(self)
    }

    /// Locks the mutex if it is free right now, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is held, [`TryLockError::Poisoned`] (with the
    /// guard) if a holder panicked.
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        if self.raw.try_lock() { Ok(MutexGuard::new(self)?) } else { Err(TryLockError::WouldBlock) }
    }

    /// Whether a holder panicked while holding the lock (until [`Mutex::clear_poison`]).
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Marks the mutex as not poisoned, once its value has been checked or repaired.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hebra::sync::Mutex;
    ///
    /// hebra::run(|| {
    ///     let mutex = Arc::new(Mutex::new(0));
    ///     let other = mutex.clone();
    ///     let _ = hebra::spawn(move || {
    ///         let _guard = other.lock().unwrap();
    ///         panic!("poisons the mutex");
    ///     })
    ///     .join();
    ///     assert!(mutex.is_poisoned());
    ///     *mutex.lock().unwrap_or_else(|e| e.into_inner()) = 0;
    ///     mutex.clear_poison();
    ///     assert!(!mutex.is_poisoned());
    /// });
    /// ```
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// The value, through the exclusive borrow that proves nobody holds the lock.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned, with the reference inside.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let value = self.data.get_mut();
        self.poison.result(value)
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The guard of a freshly taken lock.
    fn new(mutex: &'a Mutex<T>) -> LockResult<MutexGuard<'a, T>> {
        poison::map_result(mutex.poison.guard(), |poison| MutexGuard {
            mutex,
            poison,
            _not_send: PhantomData,
        })
    }

    /// Unlocks for `Condvar::wait`, which re-locks later: no poisoning here, as in
    /// std, whose condvar wait neither poisons nor clears.
    pub(super) fn unlock_for_wait(self) -> &'a Mutex<T> {
        let mutex = self.mutex;
        std::mem::forget(self);
        mutex.raw.unlock();
        mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no `&mut T` exists elsewhere; the
        // reference lives no longer than the guard.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, so this is the only access to the value;
        // the reference lives no longer than the exclusive borrow of the guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.poison.done(&self.poison);
        self.mutex.raw.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_sync<T: Sync>() {}

    #[test]
    fn bounds_are_std_ones() {
        assert_send_sync::<Mutex<std::cell::Cell<u8>>>();
        assert_sync::<MutexGuard<'_, u8>>(); // not Send: the compile_fail doc test
    }

    #[test]
    fn threads_exclude_each_other() {
        let mutex = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let mutex = mutex.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let mut count = mutex.lock().unwrap();
                        // A read and a later write: a second holder would lose updates.
                        let seen = *count;
                        std::hint::black_box(&count);
                        *count = seen + 1;
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(Arc::into_inner(mutex).unwrap().into_inner().unwrap(), 40_000);
    }

    #[test]
    fn a_panicking_holder_poisons_and_the_value_stays_reachable() {
        let mutex = Mutex::new(vec![1]);
        let result = std::panic::catch_unwind(|| {
            let mut guard = mutex.lock().unwrap();
            guard.push(2);
            panic!("while holding the lock");
        });
        assert!(result.is_err());
        assert!(mutex.is_poisoned());
        assert!(matches!(mutex.try_lock(), Err(TryLockError::Poisoned(_))));
        assert_eq!(*mutex.lock().unwrap_err().into_inner(), [1, 2]);
        mutex.clear_poison();
        assert_eq!(mutex.try_lock().unwrap().len(), 2);
        assert!(mutex.into_inner().is_ok());
    }

    #[test]
    fn try_lock_fails_while_held_and_debug_says_so() {
        let mut mutex = Mutex::new(5);
        let guard = mutex.lock().unwrap();
        assert!(matches!(mutex.try_lock(), Err(TryLockError::WouldBlock)));
        assert_eq!(format!("{mutex:?}"), "Mutex { data: <locked>, poisoned: false, .. }");
        drop(guard);
        assert_eq!(format!("{mutex:?}"), "Mutex { data: 5, poisoned: false, .. }");
        *mutex.get_mut().unwrap() = 6;
        assert_eq!(*mutex.try_lock().unwrap(), 6);
    }

    #[test]
    fn unsized_values_work() {
        let mutex: &Mutex<[u8]> = &Mutex::new([1, 2, 3]);
        mutex.lock().unwrap()[0] = 9;
        assert_eq!(&*mutex.lock().unwrap(), &[9, 2, 3]);
    }
}
