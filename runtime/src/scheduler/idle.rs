//! Idle workers: who searches for stealable work, who sleeps, who gets woken.
//!
//! This is Go's `wakep` protocol:
//!
//! - A worker without local work may *search* (steal, spinning briefly), but only while
//!   searchers are fewer than half of the busy workers: spinning is cheap, not free.
//! - New stealable work wakes a sleeping worker only if nobody is searching, and the
//!   woken worker starts out as a searcher. So at most one worker is being woken to
//!   search at any time, and a burst of spawns costs one wake, not one per spawn.
//! - A worker that goes to sleep first announces itself in `sleepers`, then (after a
//!   SeqCst fence) re-checks every stealable queue. A producer pushes, fences, then reads
//!   `searching` and `num_sleepers`. One of the two always sees the other, so work is
//!   never stranded with every worker asleep.
//! - The last searcher that finds work wakes another one if stealable work remains.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use super::{Scheduler, WorkerShared};

pub(crate) struct Idle {
    searching: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    num_sleepers: AtomicUsize,
}

impl Idle {
    pub(crate) fn new() -> Idle {
        Idle {
            searching: AtomicUsize::new(0),
            sleepers: Mutex::new(Vec::new()),
            num_sleepers: AtomicUsize::new(0),
        }
    }

    /// Called after stealable work was published: wakes one sleeping worker to search,
    /// unless one is already searching.
    pub(crate) fn wake_one(&self, scheduler: &Scheduler) {
        // SeqCst fence: see the module docs (pairs with the fence in `Worker::sleep`).
        fence(Ordering::SeqCst);
        if self.searching.load(Ordering::Relaxed) != 0 || self.num_sleepers.load(Ordering::Relaxed) == 0 {
            return;
        }
        // The woken worker is counted as searching from here on, so that concurrent
        // producers do not wake a second one.
        if self.searching.compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed).is_err() {
            return;
        }
        let woken = {
            let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
            let woken = sleepers.pop();
            if let Some(index) = woken {
                self.num_sleepers.fetch_sub(1, Ordering::Relaxed);
                // Under the lock, so that `unregister_sleeper` sees it consistently.
                scheduler.workers[index].search_requested.store(true, Ordering::Relaxed);
            }
            woken
        };
        match woken {
            Some(index) => {
                tracing::trace!(worker = index, "waking a worker to search");
                scheduler.unpark_worker(index);
            }
            None => {
                self.searching.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Whether a worker with nothing to do may become a searcher (and now is one).
    pub(crate) fn try_start_searching(&self, workers: usize) -> bool {
        let busy = workers.saturating_sub(self.num_sleepers.load(Ordering::Relaxed));
        if 2 * self.searching.load(Ordering::Relaxed) >= busy.max(1) {
            return false;
        }
        self.searching.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// A searcher stops searching; returns whether it was the last one.
    pub(crate) fn stop_searching(&self) -> bool {
        self.searching.fetch_sub(1, Ordering::SeqCst) == 1
    }

    pub(crate) fn register_sleeper(&self, index: usize) {
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        sleepers.push(index);
        self.num_sleepers.fetch_add(1, Ordering::SeqCst);
    }

    /// A worker is done sleeping. Returns `true` if `wake_one` chose it, in which case it
    /// is already counted as a searcher.
    pub(crate) fn unregister_sleeper(&self, index: usize, shared: &WorkerShared) -> bool {
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        if shared.search_requested.swap(false, Ordering::Relaxed) {
            return true;
        }
        if let Some(position) = sleepers.iter().position(|&i| i == index) {
            sleepers.swap_remove(position);
            self.num_sleepers.fetch_sub(1, Ordering::Relaxed);
        }
        false
    }
}
