//! [`Condvar`]: waiters queue their [`Signal`]s *before* releasing the mutex, so a
//! notify that follows a change made under the mutex always finds them; a notify
//! claims one signal at a time, and the claim's CAS skips the waiters that already
//! timed out, so `notify_one` wakes exactly one waiter that is still waiting.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, LockResult, Mutex as StdMutex, MutexGuard as StdGuard};
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::poison;
use super::signal::{Claim, Interrupted, Signal};
use super::unwind::{SHUTDOWN_PATIENCE, give_up_while_unwinding, unwinding_at_shutdown, wait_or_unwind};

const NOTIFIED: Claim = Claim { index: 0, granted: false };

/// A condition variable for hebra's [`Mutex`](super::Mutex): `std::sync::Condvar`'s
/// API, parking coroutines instead of blocking their worker.
///
/// Waiters may be coroutines on any worker or plain threads. Spurious wakeups are
/// possible (the runtime's shutdown ends a coroutine's wait early), so wait in a loop
/// or with [`Condvar::wait_while`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use hebra::sync::{Condvar, Mutex};
///
/// hebra::run(|| {
///     let pair = Arc::new((Mutex::new(false), Condvar::new()));
///     let other = pair.clone();
///     hebra::spawn(move || {
///         let (ready, condvar) = &*other;
///         *ready.lock().unwrap() = true;
///         condvar.notify_one();
///     });
///     let (ready, condvar) = &*pair;
///     let ready = condvar.wait_while(ready.lock().unwrap(), |ready| !*ready).unwrap();
///     assert!(*ready);
/// });
/// ```
pub struct Condvar {
    waiters: StdMutex<VecDeque<Arc<Signal>>>,
}

/// Whether a timed wait of a [`Condvar`] ended because its time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// `true` if the wait timed out rather than being notified.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A condition variable with no waiters.
    pub const fn new() -> Condvar {
        Condvar { waiters: StdMutex::new(VecDeque::new()) }
    }

    /// Releases the mutex, waits for a notification and re-locks the mutex.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when re-locked, with the guard inside.
    ///
    /// # Panics
    ///
    /// As [`Mutex::lock`](super::Mutex::lock), if re-locking has to wait in a coroutine
    /// that the runtime unwinds at shutdown.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        poison::map_result(self.wait_until(guard, None), |(guard, _)| guard)
    }

    /// Waits while `condition` holds for the guarded value (checked before the first
    /// wait and after every wakeup).
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when re-locked, with the guard inside.
    ///
    /// # Panics
    ///
    /// As [`Condvar::wait`]; and in a coroutine that the runtime unwinds at shutdown
    /// (its waits return at once), if `condition` still holds after a second.
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        let mut unwinding_since = None;
        while condition(&mut *guard) {
            // Unwound at shutdown, every wait returns after a short pause (see
            // `wait_until`): give up after a while rather than hang the shutdown.
            if unwinding_at_shutdown() && give_up_while_unwinding(&mut unwinding_since) {
                drop(guard);
                panic!(
                    "hebra::sync::Condvar::wait_while: a coroutine unwound at runtime shutdown \
                     waited {SHUTDOWN_PATIENCE:?} in a destructor for a condition nobody changed"
                );
            }
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`Condvar::wait`], but for at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hebra::sync::{Condvar, Mutex};
    ///
    /// hebra::run(|| {
    ///     let (mutex, condvar) = (Mutex::new(()), Condvar::new());
    ///     let guard = mutex.lock().unwrap();
    ///     let (_guard, result) = condvar.wait_timeout(guard, Duration::from_millis(10)).unwrap();
    ///     assert!(result.timed_out(), "nobody notified");
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when re-locked, with the guard inside.
    ///
    /// # Panics
    ///
    /// As [`Condvar::wait`].
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        // A deadline past the end of time is no deadline.
        self.wait_until(guard, Instant::now().checked_add(timeout))
    }

    /// Waits while `condition` holds, for at most `timeout` in total. The result says
    /// whether the time ran out with the condition still holding.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when re-locked, with the guard inside.
    ///
    /// # Panics
    ///
    /// As [`Condvar::wait`].
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let start = Instant::now();
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let Some(left) = timeout.checked_sub(start.elapsed()) else {
                return Ok((guard, WaitTimeoutResult(true)));
            };
            guard = self.wait_timeout(guard, left)?.0;
        }
    }

    /// Wakes one waiter that is still waiting, if any.
    pub fn notify_one(&self) {
        let mut waiters = self.waiters();
        while let Some(signal) = waiters.pop_front() {
            // A waiter that timed out fails the claim: try the next one.
            if signal.claim(NOTIFIED) {
                drop(waiters);
                signal.wake();
                return;
            }
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters());
        for signal in waiters {
            signal.notify(NOTIFIED);
        }
    }

    fn waiters(&self) -> StdGuard<'_, VecDeque<Arc<Signal>>> {
        // Nothing panics while this lock is held.
        self.waiters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn leave(&self, signal: &Arc<Signal>) {
        self.waiters().retain(|queued| !Arc::ptr_eq(queued, signal));
    }

    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        // Queued before the mutex is released: a notify after the next holder's change
        // finds this waiter.
        let signal = Signal::new();
        self.waiters().push_back(signal.clone());
        let mutex = guard.unlock_for_wait();
        // Unwound while parked, a waiter leaves the queue, or passes on a notification
        // that was spent on it.
        let on_unwind = |claim: Option<Claim>| match claim {
            Some(_) => self.notify_one(),
            None => self.leave(&signal),
        };
        let timed_out = match wait_or_unwind(&signal, deadline, on_unwind) {
            // A notify that won the race with the deadline counts: it was spent on us.
            Ok(_) => false,
            Err(interrupted) => {
                self.leave(&signal);
                if interrupted == Interrupted::Cancelled {
                    // At shutdown the wait ends early, a spurious wakeup: after a pause
                    // with the mutex released, so that a caller that waits in a loop
                    // polls gently and others get the mutex to change the condition.
                    std::thread::sleep(Duration::from_millis(1));
                }
                interrupted == Interrupted::TimedOut
            }
        };
        Signal::recycle(signal); // out of the queue
        poison::map_result(mutex.lock(), |guard| (guard, WaitTimeoutResult(timed_out)))
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::Mutex;
    use std::time::Duration;

    #[test]
    fn a_thread_is_notified_by_another() {
        let pair = Arc::new((Mutex::new(0), Condvar::new()));
        let notifier = {
            let pair = pair.clone();
            std::thread::spawn(move || {
                *pair.0.lock().unwrap() = 1;
                pair.1.notify_one();
            })
        };
        let guard = pair.1.wait_while(pair.0.lock().unwrap(), |n| *n == 0).unwrap();
        assert_eq!(*guard, 1);
        drop(guard);
        notifier.join().unwrap();
    }

    #[test]
    fn a_timed_out_waiter_leaves_the_queue_and_is_not_notified() {
        let (mutex, condvar) = (Mutex::new(()), Condvar::new());
        let (guard, result) = condvar.wait_timeout(mutex.lock().unwrap(), Duration::from_millis(5)).unwrap();
        assert!(result.timed_out());
        assert!(condvar.waiters().is_empty());
        drop(guard);
        condvar.notify_one(); // nobody to wake: a no-op
        let (_guard, result) =
            condvar.wait_timeout_while(mutex.lock().unwrap(), Duration::from_millis(5), |()| true).unwrap();
        assert!(result.timed_out());
    }

    #[test]
    fn notify_one_skips_waiters_that_gave_up() {
        let condvar = Condvar::new();
        let (gone, live) = (Signal::new(), Signal::new());
        condvar.waiters().extend([gone.clone(), live.clone()]);
        assert_eq!(gone.cancel(), None);
        condvar.notify_one();
        assert_eq!(live.cancel(), Some(NOTIFIED), "the live waiter got the notification");
        assert!(condvar.waiters().is_empty());
    }
}
