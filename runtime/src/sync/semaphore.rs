//! [`Semaphore`]: a permit count under a std lock and a FIFO queue of waiters. A
//! released permit goes straight to the first waiter still waiting (a claim with a
//! grant), and back to the count only when nobody is; so while anybody waits the
//! count stays at zero and newcomers queue behind them.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdGuard};

use super::signal::{Claim, Signal};
use super::unwind::{held_at_shutdown, retry_while_unwinding, wait_or_unwind};

const PERMIT: Claim = Claim { index: 0, granted: true };

/// A counting semaphore: at most `n` holders of a permit at a time, served first come
/// first served. Waiting parks a coroutine (its worker runs others) or blocks a plain
/// thread.
///
/// # Examples
///
/// Limiting how many coroutines use a resource at once:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hebra::sync::Semaphore;
///
/// hebra::run(|| {
///     let connections = Arc::new(Semaphore::new(2));
///     let handles: Vec<_> = (0..6)
///         .map(|_| {
///             let connections = connections.clone();
///             hebra::spawn(move || {
///                 let _permit = connections.acquire();
///                 hebra::sleep(Duration::from_millis(5)); // at most 2 at a time here
///             })
///         })
///         .collect();
///     handles.into_iter().for_each(|h| h.join().unwrap());
///     assert_eq!(connections.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    state: StdMutex<State>,
}

struct State {
    permits: usize,
    waiting: VecDeque<Arc<Signal>>,
}

/// A permit of a [`Semaphore`]; dropping it gives the permit back.
#[must_use = "if unused the permit is given back at once"]
pub struct SemaphoreGuard<'a> {
    semaphore: &'a Semaphore,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore { state: StdMutex::new(State { permits, waiting: VecDeque::new() }) }
    }

    /// Takes a permit, waiting (behind earlier waiters) until one is free.
    ///
    /// # Panics
    ///
    /// In a coroutine that the runtime unwinds at shutdown, if no permit comes free
    /// within a second (see `unwind::retry_while_unwinding`).
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        let mut state = self.state();
        if state.permits > 0 {
            state.permits -= 1;
            return SemaphoreGuard { semaphore: self };
        }
        let signal = Signal::new();
        state.waiting.push_back(signal.clone());
        drop(state);
        // Every claim is a grant: `Ok` means the releaser handed us its permit. Unwound
        // while parked, a waiter passes a granted permit on, or leaves the queue.
        let on_unwind = |claim: Option<Claim>| match claim {
            Some(_) => self.release(),
            None => self.leave(&signal),
        };
        if wait_or_unwind(&signal, None, on_unwind).is_err() {
            self.leave(&signal);
            if !retry_while_unwinding(|| self.try_acquire().map(std::mem::forget).is_some()) {
                held_at_shutdown("hebra::sync::Semaphore");
            }
        }
        Signal::recycle(signal);
        SemaphoreGuard { semaphore: self }
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        let mut state = self.state();
        (state.permits > 0).then(|| {
            state.permits -= 1;
            SemaphoreGuard { semaphore: self }
        })
    }

    /// The permits free right now (a snapshot: others may take them at once).
    pub fn available_permits(&self) -> usize {
        self.state().permits
    }

    fn leave(&self, signal: &Arc<Signal>) {
        self.state().waiting.retain(|queued| !Arc::ptr_eq(queued, signal));
    }

    fn release(&self) {
        let mut state = self.state();
        while let Some(signal) = state.waiting.pop_front() {
            // A waiter that gave up fails the claim: try the next one.
            if signal.claim(PERMIT) {
                drop(state);
                signal.wake();
                return;
            }
        }
        state.permits += 1;
    }

    fn state(&self) -> StdGuard<'_, State> {
        // Nothing panics while this lock is held.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore").field("permits", &self.available_permits()).finish_non_exhaustive()
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn permits_are_counted_and_given_back() {
        let semaphore = Semaphore::new(2);
        let first = semaphore.acquire();
        let second = semaphore.try_acquire().expect("one permit left");
        assert!(semaphore.try_acquire().is_none());
        assert_eq!(format!("{semaphore:?}"), "Semaphore { permits: 0, .. }");
        drop((first, second));
        assert_eq!(semaphore.available_permits(), 2);
    }

    #[test]
    fn a_release_hands_the_permit_to_the_first_live_waiter() {
        let semaphore = Semaphore::new(0);
        let (gone, live) = (Signal::new(), Signal::new());
        semaphore.state().waiting.extend([gone.clone(), live.clone()]);
        assert_eq!(gone.cancel(), None);
        semaphore.release();
        assert_eq!(live.cancel(), Some(PERMIT), "handed over, not counted");
        assert_eq!(semaphore.available_permits(), 0);
        semaphore.release();
        assert_eq!(semaphore.available_permits(), 1, "nobody waits: back to the count");
    }

    #[test]
    fn a_blocked_thread_gets_the_released_permit() {
        let semaphore = Arc::new(Semaphore::new(1));
        let held = semaphore.acquire();
        let waiter = {
            let semaphore = semaphore.clone();
            std::thread::spawn(move || drop(semaphore.acquire()))
        };
        std::thread::sleep(std::time::Duration::from_millis(10));
        drop(held);
        waiter.join().unwrap();
        assert_eq!(semaphore.available_permits(), 1);
    }
}
