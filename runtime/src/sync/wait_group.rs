//! [`WaitGroup`]: a count of live handles under a std lock, and the signals of the
//! handles waiting for it to reach zero. The drop that brings it to zero claims them
//! all.

use std::fmt;
use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdGuard};

use super::signal::{Claim, Signal};
use super::unwind::{retry_while_unwinding, wait_or_unwind};

const DONE: Claim = Claim { index: 0, granted: true };

/// Waits for a group of coroutines or threads to finish: crossbeam-utils' `WaitGroup`
/// (Go's `sync.WaitGroup` without the explicit `Add`), parking coroutines instead of
/// blocking their worker.
///
/// Each clone is one member of the group; dropping a clone marks that member done.
/// [`WaitGroup::wait`] consumes its own handle and returns once every other handle has
/// been dropped.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use hebra::sync::WaitGroup;
///
/// hebra::run(|| {
///     let done = Arc::new(AtomicUsize::new(0));
///     let group = WaitGroup::new();
///     for _ in 0..8 {
///         let (member, done) = (group.clone(), done.clone());
///         hebra::spawn(move || {
///             done.fetch_add(1, Ordering::Relaxed);
///             drop(member);
///         });
///     }
///     group.wait();
///     assert_eq!(done.load(Ordering::Relaxed), 8);
/// });
/// ```
pub struct WaitGroup {
    shared: Arc<StdMutex<Group>>,
}

struct Group {
    /// Live handles.
    members: usize,
    waiting: Vec<Arc<Signal>>,
}

impl WaitGroup {
    /// A group with one member: this handle.
    pub fn new() -> WaitGroup {
        WaitGroup { shared: Arc::new(StdMutex::new(Group { members: 1, waiting: Vec::new() })) }
    }

    /// Drops this handle and waits until every other handle has been dropped.
    ///
    /// In a coroutine that the runtime unwinds at shutdown it cannot park: it blocks its
    /// thread for up to a second while members on other workers finish unwinding, then
    /// returns with a `tracing` warning.
    pub fn wait(self) {
        let shared = self.shared.clone();
        drop(self);
        let mut group = lock(&shared);
        if group.members == 0 {
            return;
        }
        let signal = Signal::new();
        group.waiting.push(signal.clone());
        drop(group);
        // Unwound while parked, a waiter just leaves: a release is not lost on it.
        let leave = || lock(&shared).waiting.retain(|queued| !Arc::ptr_eq(queued, &signal));
        let on_unwind = |claim: Option<Claim>| {
            if claim.is_none() {
                leave();
            }
        };
        if wait_or_unwind(&signal, None, on_unwind).is_ok() {
            Signal::recycle(signal);
            return;
        }
        leave();
        // Unwound at shutdown, in a destructor: members on other workers drop their
        // handles as those unwind; members on this worker are unwound after us and never
        // will, so it gives up after a while rather than hang the shutdown.
        if !retry_while_unwinding(|| lock(&shared).members == 0) {
            tracing::warn!(
                "hebra::sync::WaitGroup::wait gave up at runtime shutdown: members are still alive"
            );
        }
    }
}

fn lock(shared: &StdMutex<Group>) -> StdGuard<'_, Group> {
    // Nothing panics while this lock is held.
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl Clone for WaitGroup {
    /// One more member.
    fn clone(&self) -> WaitGroup {
        lock(&self.shared).members += 1;
        WaitGroup { shared: self.shared.clone() }
    }
}

impl Drop for WaitGroup {
    /// One member fewer; the last one releases the waiters.
    fn drop(&mut self) {
        let mut group = lock(&self.shared);
        group.members -= 1;
        if group.members == 0 {
            let waiting = std::mem::take(&mut group.waiting);
            drop(group);
            for signal in waiting {
                signal.notify(DONE);
            }
        }
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup").field("count", &lock(&self.shared).members).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn debug_shows_the_members_and_a_lone_wait_returns() {
        let group = WaitGroup::default();
        let member = group.clone();
        assert_eq!(format!("{group:?}"), "WaitGroup { count: 2 }");
        drop(member);
        assert_eq!(format!("{group:?}"), "WaitGroup { count: 1 }");
        group.wait();
    }

    #[test]
    fn threads_wait_for_every_member() {
        let finished = Arc::new(AtomicUsize::new(0));
        let group = WaitGroup::new();
        let waiter = {
            let (group, finished) = (group.clone(), finished.clone());
            std::thread::spawn(move || {
                group.wait();
                finished.load(Ordering::SeqCst)
            })
        };
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (member, finished) = (group.clone(), finished.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    finished.fetch_add(1, Ordering::SeqCst);
                    drop(member);
                })
            })
            .collect();
        group.wait();
        assert_eq!(finished.load(Ordering::SeqCst), 4);
        assert_eq!(waiter.join().unwrap(), 4, "a second waiting handle is released too");
        workers.into_iter().for_each(|w| w.join().unwrap());
    }
}
