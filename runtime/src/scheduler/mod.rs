//! The M:N scheduler: worker threads, run queues, stealing, idle parking.
//!
//! # Where a coroutine can be
//!
//! | place | holds | who takes from it |
//! |---|---|---|
//! | a worker's `fresh` deque | coroutines spawned on that worker, not started | the worker (FIFO), or any thief |
//! | the global `injector` | coroutines spawned from outside the runtime | any worker, in batches |
//! | a worker's `inbox` | cross-thread wakes, and coroutines pinned to it by `Builder::worker` | that worker only |
//! | a worker's `runnext` slot and `ready` queue | started coroutines of that worker that are runnable | that worker only |
//! | a worker's coroutine table | every started coroutine of that worker | that worker only |
//!
//! Only coroutines that never ran are stealable: from its first resume a coroutine stays
//! on its home worker (ARCHITECTURE.md, invariant 1). The corosensei object lives in the
//! home worker's table and is never `Send`; other threads hold only the `Send + Sync`
//! [`Coroutine`] handle and wake it through the home worker's inbox (invariant 4).
//!
//! # The tick loop (`worker.rs`)
//!
//! Each scheduling decision is a tick. Every [`MAINTENANCE_INTERVAL`] ticks a worker
//! fires due timers, polls its netpoller without blocking (at most once a millisecond)
//! and takes one coroutine from the injector before its own queues, so neither I/O nor
//! outside spawns starve behind a busy local queue (invariant 8). Otherwise: the inbox
//! is drained (every 8 ticks while local work is queued, else every tick), a fresh
//! coroutine goes first on every other tick (so coroutines that keep yielding or waking
//! each other cannot hold back new ones), then `runnext` (bounded streak), `ready`,
//! `fresh`, and the injector. A coroutine that yields while nothing else is runnable
//! goes on in place, its tick counted.
//!
//! # Idle workers (`idle.rs`, `worker.rs`)
//!
//! Go's protocol for stealing: at most one worker is woken to *search* at a time, and
//! a worker about to sleep re-checks every queue after announcing itself so that no
//! spawn is lost. A spawn that the spawning worker will run itself (its deque was empty)
//! wakes nobody; the monitor (`monitor.rs`) hands such a coroutine to an idle worker if
//! its worker stays busy. Apart from stealing, every idle worker spins a little for a
//! hand-off aimed at it (its inbox), adaptively: spinning stops where it does not pay.

mod context;
mod idle;
mod inbox;
mod monitor;
mod run;
mod worker;

pub(crate) use context::current_poller;
pub(crate) use worker::WorkerThreads;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

use crossbeam_deque::{Injector, Stealer};

use crate::coroutine::task::{Header, Task};
use crate::coroutine::{Coroutine, JoinHandle};
use crate::netpoll::PollerShared;
use idle::Idle;
use monitor::MonitorSignal;

/// Ticks between two maintenance passes (netpoll, timers, injector).
const MAINTENANCE_INTERVAL: u32 = 61;

/// What another thread hands a worker.
pub(crate) enum Incoming {
    /// A started coroutine of this worker became runnable.
    Woken(Coroutine),
    /// A new coroutine pinned to this worker.
    Start(Coroutine),
}

/// The part of a worker that other threads see.
pub(crate) struct WorkerShared {
    stealer: Stealer<Coroutine>,
    inbox: inbox::Inbox,
    pub(crate) poller: Arc<PollerShared>,
    /// True while the worker is in, or about to enter, `epoll_wait`.
    sleeping: AtomicBool,
    /// Set (under the sleepers lock) when `Idle::wake_one` picked this worker to search.
    search_requested: AtomicBool,
    /// Ticks so far; the monitor watches it move.
    progress: AtomicU64,
}

/// Runtime-wide settings the scheduler needs.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) stack_size: usize,
}

/// The state of one runtime that every thread shares.
pub(crate) struct Scheduler {
    pub(crate) workers: Box<[Arc<WorkerShared>]>,
    injector: Injector<Coroutine>,
    idle: Idle,
    shutdown: AtomicBool,
    /// Set once every worker exited and the queues were drained (see `drain_if_drained`).
    drained: AtomicBool,
    monitor: MonitorSignal,
    pub(crate) config: Config,
}

/// How to spawn: the fields of `coroutine::Builder`.
#[derive(Debug, Default)]
pub(crate) struct SpawnOptions {
    pub(crate) name: Option<String>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) worker: Option<usize>,
}

impl Scheduler {
    pub(crate) fn workers(&self) -> usize {
        self.workers.len()
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Creates a coroutine and queues it; it starts on whichever worker takes it first
    /// (or on `options.worker`).
    pub(crate) fn spawn<F, T>(self: &Arc<Self>, options: SpawnOptions, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let stack_size = options.stack_size.unwrap_or(self.config.stack_size);
        crate::runtime::check_stack_size(stack_size)?;
        if let Some(worker) = options.worker
            && worker >= self.workers()
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("worker index {worker} is out of range: the runtime has {} workers", self.workers()),
            ));
        }
        let task = Arc::new(Task::new(Header::new(options.name, stack_size, self.clone()), f));
        let coroutine = Coroutine::from_task(task);
        let handle = JoinHandle::new(coroutine.clone());
        tracing::trace!(coroutine = ?coroutine.id(), "spawn");
        if self.is_shutdown() {
            coroutine.runnable().cancel(crate::coroutine::task::cancelled_payload());
        } else {
            match options.worker {
                Some(worker) => self.push_incoming(worker, Incoming::Start(coroutine)),
                None => self.submit(coroutine),
            }
        }
        Ok(handle)
    }

    /// Queues a fresh coroutine: on the calling worker's deque if it is one of ours,
    /// else on the injector.
    fn submit(&self, coroutine: Coroutine) {
        let mut coroutine = Some(coroutine);
        let local = context::with_worker(|worker| match worker {
            Some(w) if w.belongs_to(self) => coroutine.take().map(|c| w.push_fresh(c)),
            _ => None,
        });
        match local {
            // The first coroutine in an empty deque is what this worker runs next, as
            // soon as the spawner parks: waking a peer for it would cost a peer 25-30 us
            // for nothing. A second one is surplus a peer may take.
            Some(was_empty) => {
                if !was_empty {
                    self.idle.wake_one(self);
                }
            }
            None => {
                self.injector.push(coroutine.expect("not pushed locally"));
                self.idle.wake_one(self);
                self.drain_if_drained();
            }
        }
    }

    /// Makes a started, parked coroutine runnable on its home worker. Called by the one
    /// party that took its wait.
    pub(crate) fn schedule(&self, coroutine: &Coroutine) {
        // Relaxed: the taker's Acquire on the wait state already ordered this after the
        // home worker's write (see `coroutine::wait`).
        let home = coroutine.header().home.load(Ordering::Relaxed);
        let slot = coroutine.header().slot.load(Ordering::Relaxed);
        let done_locally = context::with_worker(|worker| match worker {
            Some(w) if w.index() == home && w.belongs_to(self) => {
                tracing::trace!(coroutine = ?coroutine.id(), "wake");
                w.push_woken(slot);
                true
            }
            _ => false,
        });
        if !done_locally {
            tracing::trace!(coroutine = ?coroutine.id(), home, "wake across threads");
            self.push_incoming(home, Incoming::Woken(coroutine.clone()));
        }
    }

    fn push_incoming(&self, worker: usize, incoming: Incoming) {
        let shared = &self.workers[worker];
        shared.inbox.push(incoming);
        // One SeqCst fence for both handshakes: with the worker's `sleeping` store and
        // flag check (`Worker::sleep`), and with `drain_after_shutdown`.
        fence(Ordering::SeqCst);
        self.wake_if_sleeping(worker);
        self.drain_if_drained();
    }

    /// A push that raced the final drain of a runtime that is gone (a wake taken just
    /// before the coroutine was cancelled, a spawn just before shutdown) drains again
    /// itself: a queued handle would keep the scheduler alive through its own
    /// back-reference, a cycle nothing else would break.
    ///
    /// Callers have pushed and then issued a SeqCst fence (`push_incoming` its own,
    /// `submit` the one in `Idle::wake_one`); it pairs with the fence in
    /// `drain_after_shutdown`, so either that drain sees the push or we see its flag.
    fn drain_if_drained(&self) {
        if self.drained.load(Ordering::Relaxed) {
            self.drain_queues();
        }
    }

    /// Wakes worker `index` if it sleeps, after the caller published something for it
    /// (search request, shutdown).
    fn unpark_worker(&self, index: usize) {
        // SeqCst fence: the Dekker handshake with the worker's `sleeping` store and its
        // checks in `Worker::sleep`; one of the two sides sees the other's write.
        fence(Ordering::SeqCst);
        self.wake_if_sleeping(index);
    }

    /// The second half of `unpark_worker`, for callers that fenced already.
    fn wake_if_sleeping(&self, index: usize) {
        let worker = &self.workers[index];
        if worker.sleeping.load(Ordering::Relaxed) && worker.sleeping.swap(false, Ordering::Relaxed) {
            worker.poller.wake();
        }
    }

    /// Whether any stealable queue holds work.
    fn has_stealable_work(&self) -> bool {
        !self.injector.is_empty() || self.workers.iter().any(|w| !w.stealer.is_empty())
    }

    /// Starts the shutdown: workers unwind their coroutines and exit.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for index in 0..self.workers() {
            self.unpark_worker(index);
        }
        self.monitor.stop();
    }

    /// After every worker exited: drops what may still sit in shared queues, which
    /// would otherwise keep the scheduler alive through the handles' back-references.
    pub(crate) fn drain_after_shutdown(&self) {
        self.drained.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.drain_queues();
    }

    fn drain_queues(&self) {
        let cancel =
            |coroutine: Coroutine| coroutine.runnable().cancel(crate::coroutine::task::cancelled_payload());
        while let Some(coroutine) = self.injector.steal().success() {
            cancel(coroutine);
        }
        for worker in self.workers.iter() {
            while let Some(coroutine) = worker.stealer.steal().success() {
                cancel(coroutine);
            }
            while let Some(incoming) = worker.inbox.pop() {
                if let Incoming::Start(coroutine) = incoming {
                    cancel(coroutine);
                }
            }
        }
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("workers", &self.workers())
            .field("shutdown", &self.is_shutdown())
            .finish_non_exhaustive()
    }
}

/// The scheduler of the worker thread this code runs on, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Arc<Scheduler>>) -> R) -> R {
    context::with_worker(|worker| f(worker.map(|w| w.scheduler())))
}

/// Whether this thread is a worker thread (of any runtime).
pub(crate) fn on_worker_thread() -> bool {
    context::with_worker(|worker| worker.is_some())
}

#[cfg(all(test, not(loom)))]
impl Scheduler {
    /// A scheduler without workers, for unit tests of coroutine internals.
    pub(crate) fn detached() -> Arc<Scheduler> {
        Arc::new(Scheduler {
            workers: Box::new([]),
            injector: Injector::new(),
            idle: Idle::new(),
            shutdown: AtomicBool::new(false),
            drained: AtomicBool::new(false),
            monitor: MonitorSignal::new(),
            config: Config { stack_size: crate::DEFAULT_STACK_SIZE },
        })
    }
}
