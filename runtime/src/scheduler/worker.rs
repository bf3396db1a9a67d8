//! A worker thread: the tick loop, searching, sleeping, and its shutdown.
//!
//! The coroutines themselves (start, resume, commit a wait, retire) are in `run.rs`.

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Worker as Deque};

use super::idle::Idle;
use super::inbox::Inbox;
use super::monitor::{self, MonitorSignal};
use super::run::{Coroutines, Next, RunQueue};
use super::{Config, Incoming, MAINTENANCE_INTERVAL, Scheduler, WorkerShared, context};
use crate::coroutine::Coroutine;
use crate::coroutine::stack::StackPool;
use crate::coroutine::task;
use crate::coroutine::wait::Waiter;
use crate::netpoll::{Poller, PollerShared};
use crate::sys::AltStack;
use crate::timer::Timers;

/// Stack of a worker thread. The panic hook of a coroutine runs here (see
/// `coroutine::panic_hook`), and symbolising a backtrace takes room.
const WORKER_STACK_SIZE: usize = 4 << 20;

/// The longest a worker with nothing to do keeps looking before it sleeps. Waking a
/// sleeping worker costs 25-30 us on these machines; spinning about as long makes a
/// quick hand-off from another thread (a ping-pong between workers) cheap.
///
/// Spinning is adaptive, because it is pure waste where work only arrives through the
/// worker's own netpoller (most servers): each spin that found nothing halves the next
/// one, down to none; a hand-off from another thread that arrives while a spin is
/// running restores the full spin, and one that arrives soon after a worker that did
/// not spin fell asleep starts a short one.
const SPIN_TIME: Duration = Duration::from_micros(25);

/// Ticks between two looks at the inbox while the run queue has work.
const INBOX_INTERVAL: u32 = 8;

/// How often a busy worker polls its netpoller although its queues are not empty.
const NETPOLL_INTERVAL: Duration = Duration::from_millis(1);

/// The worker threads of one runtime, and its monitor.
#[derive(Debug)]
pub(crate) struct WorkerThreads {
    threads: Vec<thread::JoinHandle<()>>,
    monitor: Option<thread::JoinHandle<()>>,
}

impl WorkerThreads {
    /// Builds the scheduler and starts `workers` worker threads and the monitor.
    pub(crate) fn start(config: Config, workers: usize) -> io::Result<(Arc<Scheduler>, WorkerThreads)> {
        let mut deques = Vec::with_capacity(workers);
        let mut pollers = Vec::with_capacity(workers);
        let mut shared = Vec::with_capacity(workers);
        for _ in 0..workers {
            let deque = Deque::new_fifo();
            let poller = Poller::new()?;
            shared.push(Arc::new(WorkerShared {
                stealer: deque.stealer(),
                inbox: Inbox::new(),
                poller: poller.shared().clone(),
                sleeping: AtomicBool::new(false),
                search_requested: AtomicBool::new(false),
                progress: AtomicU64::new(0),
            }));
            deques.push(deque);
            pollers.push(poller);
        }
        let scheduler = Arc::new(Scheduler {
            workers: shared.into_boxed_slice(),
            injector: Injector::new(),
            idle: Idle::new(),
            shutdown: AtomicBool::new(false),
            drained: AtomicBool::new(false),
            monitor: MonitorSignal::new(),
            config,
        });
        let mut threads = WorkerThreads { threads: Vec::with_capacity(workers), monitor: None };
        for (index, (deque, poller)) in deques.into_iter().zip(pollers).enumerate() {
            let worker_scheduler = scheduler.clone();
            let spawned = thread::Builder::new()
                .name(format!("hebra-worker-{index}"))
                .stack_size(WORKER_STACK_SIZE)
                .spawn(move || Worker::new(worker_scheduler, index, deque, poller).main());
            match spawned {
                Ok(handle) => threads.threads.push(handle),
                Err(err) => {
                    scheduler.begin_shutdown();
                    threads.join();
                    return Err(err);
                }
            }
        }
        let monitor_scheduler = scheduler.clone();
        match thread::Builder::new()
            .name("hebra-monitor".into())
            .spawn(move || monitor::run(monitor_scheduler))
        {
            Ok(handle) => threads.monitor = Some(handle),
            Err(err) => {
                scheduler.begin_shutdown();
                threads.join();
                return Err(err);
            }
        }
        Ok((scheduler, threads))
    }

    /// Waits for every thread to exit (after `Scheduler::begin_shutdown`).
    pub(crate) fn join(&mut self) {
        for handle in self.threads.drain(..).chain(self.monitor.take()) {
            if handle.join().is_err() {
                tracing::error!("a hebra worker thread panicked");
            }
        }
    }
}

/// The worker-local state. Only its own thread touches it, through `&Worker`.
pub(crate) struct Worker {
    index: usize,
    scheduler: Arc<Scheduler>,
    /// `scheduler.workers[index]`, held directly: the loop reads it on every tick.
    shared: Arc<WorkerShared>,
    fresh: Deque<Coroutine>,
    pub(super) run_queue: RefCell<RunQueue>,
    pub(super) coroutines: Coroutines,
    pub(super) stacks: RefCell<StackPool>,
    pub(super) timers: RefCell<Timers>,
    due: RefCell<Vec<Waiter>>,
    poller: Poller,
    tick: Cell<u32>,
    last_netpoll: Cell<Instant>,
    searching: Cell<bool>,
    /// The current spin, adapted between zero and `SPIN_TIME` (see there).
    spin: Cell<Duration>,
}

impl Worker {
    fn new(scheduler: Arc<Scheduler>, index: usize, fresh: Deque<Coroutine>, poller: Poller) -> Worker {
        let stacks = StackPool::new(scheduler.config.stack_size);
        Worker {
            index,
            shared: scheduler.workers[index].clone(),
            scheduler,
            fresh,
            run_queue: RefCell::new(RunQueue::new()),
            coroutines: Coroutines::new(),
            stacks: RefCell::new(stacks),
            timers: RefCell::new(Timers::new()),
            due: RefCell::new(Vec::new()),
            poller,
            tick: Cell::new(0),
            last_netpoll: Cell::new(Instant::now()),
            searching: Cell::new(false),
            spin: Cell::new(SPIN_TIME),
        }
    }

    pub(super) fn index(&self) -> usize {
        self.index
    }

    pub(super) fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    pub(super) fn belongs_to(&self, scheduler: &Scheduler) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.scheduler), scheduler)
    }

    pub(super) fn poller_shared(&self) -> &Arc<PollerShared> {
        self.poller.shared()
    }

    fn shared(&self) -> &WorkerShared {
        &self.shared
    }

    /// Queues a fresh coroutine here; returns whether the deque was empty before.
    pub(super) fn push_fresh(&self, coroutine: Coroutine) -> bool {
        let was_empty = self.fresh.is_empty();
        self.fresh.push(coroutine);
        was_empty
    }

    /// A started coroutine of this worker became runnable.
    pub(super) fn push_woken(&self, slot: u32) {
        self.run_queue.borrow_mut().push_woken(slot);
    }

    /// The worker thread's main function.
    fn main(self) {
        let _altstack = AltStack::ensure().inspect_err(
            |err| tracing::warn!(%err, "no alternate signal stack: overflows will not be reported"),
        );
        let _enter = context::enter(&self);
        tracing::debug!(worker = self.index, "worker started");
        self.run();
        self.shut_down();
        tracing::debug!(worker = self.index, "worker stopped");
    }

    fn run(&self) {
        while !self.scheduler.is_shutdown() {
            let next = self.next();
            if next.is_some() && self.searching.get() {
                self.stop_searching();
            }
            match next {
                Some(Next::Resume(slot)) => self.resume(slot),
                Some(Next::Start(coroutine)) => self.start(coroutine),
                None => self.idle(),
            }
        }
    }

    /// A searching worker found work, wherever it found it (a worker woken to search
    /// may find it in its own queues). If it was the last searcher and stealable work
    /// remains, another worker takes over the search (Go's `resetspinning`).
    fn stop_searching(&self) {
        self.searching.set(false);
        let idle = &self.scheduler.idle;
        if idle.stop_searching() && self.scheduler.has_stealable_work() {
            idle.wake_one(&self.scheduler);
        }
    }

    /// One tick: picks what to run next, if anything is ready.
    /// For a coroutine that just yielded: counts a tick and says whether it may run on
    /// at once, because nothing else is runnable and no maintenance is due.
    pub(super) fn alone_tick(&self) -> bool {
        if self.tick.get().wrapping_add(1) % MAINTENANCE_INTERVAL == 0
            || !self.run_queue.borrow().is_empty()
            || !self.fresh.is_empty()
            || self.shared().inbox.has_pending()
            || self.scheduler.is_shutdown()
        {
            return false;
        }
        self.count_tick();
        true
    }

    /// Counts one scheduling decision, where the monitor can see it.
    fn count_tick(&self) -> u32 {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        self.shared().progress.store(u64::from(tick), Ordering::Relaxed);
        tick
    }

    fn next(&self) -> Option<Next> {
        let tick = self.count_tick();
        if tick % MAINTENANCE_INTERVAL == 0 {
            self.maintenance();
            if let Some(coroutine) = self.scheduler.injector.steal().success() {
                return Some(Next::Start(coroutine));
            }
        }
        // Wakes from other threads join the run queue at its back: taking them every few
        // ticks while there is local work keeps their place almost exactly, and saves
        // the look at a shared queue on every switch.
        if tick % INBOX_INTERVAL == 0 || self.run_queue.borrow().is_empty() {
            self.drain_inbox();
        }
        // Every other tick a fresh coroutine goes first, so that started ones that keep
        // yielding or waking each other cannot keep new ones from ever starting.
        if tick % 2 == 0
            && let Some(coroutine) = self.fresh.pop()
        {
            return Some(Next::Start(coroutine));
        }
        if let Some(next) = self.run_queue.borrow_mut().pop() {
            return Some(next);
        }
        if let Some(coroutine) = self.fresh.pop() {
            return Some(Next::Start(coroutine));
        }
        self.steal_from(&self.scheduler.injector)
    }

    fn maintenance(&self) {
        let now = Instant::now();
        if now.duration_since(self.last_netpoll.get()) >= NETPOLL_INTERVAL {
            self.netpoll(Some(Duration::ZERO));
        }
        self.fire_timers();
        self.stacks.borrow_mut().maybe_trim(now);
    }

    fn netpoll(&self, timeout: Option<Duration>) {
        self.poller.poll(timeout);
        self.last_netpoll.set(Instant::now());
    }

    /// Wakes the coroutines whose deadline passed. Reads the clock only if a timer is
    /// armed.
    fn fire_timers(&self) {
        if self.timers.borrow().is_empty() {
            return;
        }
        let mut due = std::mem::take(&mut *self.due.borrow_mut());
        self.timers.borrow_mut().take_due(Instant::now(), &mut due);
        for waiter in due.drain(..) {
            waiter.wake_timed_out();
        }
        // Put the emptied buffer back, so that firing timers does not allocate.
        *self.due.borrow_mut() = due;
    }

    fn drain_inbox(&self) {
        self.shared().inbox.drain(|incoming| {
            let mut run_queue = self.run_queue.borrow_mut();
            match incoming {
                Incoming::Woken(coroutine) => {
                    run_queue.push_woken(coroutine.header().slot.load(Ordering::Relaxed))
                }
                Incoming::Start(coroutine) => run_queue.push_pinned(coroutine),
            }
        });
    }

    fn has_local_work(&self) -> bool {
        !self.run_queue.borrow().is_empty() || !self.fresh.is_empty() || self.shared().inbox.has_pending()
    }

    fn steal_from(&self, injector: &Injector<Coroutine>) -> Option<Next> {
        // Stealing pins crossbeam's global epoch (a fence and shared cache lines) before
        // it looks at the queue; an idle worker polls empty queues often, so look first.
        if injector.is_empty() {
            return None;
        }
        loop {
            match injector.steal_batch_and_pop(&self.fresh) {
                Steal::Success(coroutine) => return Some(Next::Start(coroutine)),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    /// One pass over the injector and every other worker's deque. Stolen coroutines land
    /// in our own deque.
    fn steal(&self) -> bool {
        if let Some(Next::Start(coroutine)) = self.steal_from(&self.scheduler.injector) {
            self.fresh.push(coroutine);
            return true;
        }
        let workers = &self.scheduler.workers;
        let start = self.tick.get() as usize % workers.len();
        for offset in 0..workers.len() {
            let victim = (start + offset) % workers.len();
            if victim == self.index || workers[victim].stealer.is_empty() {
                continue;
            }
            loop {
                match workers[victim].stealer.steal_batch_and_pop(&self.fresh) {
                    Steal::Success(coroutine) => {
                        tracing::trace!(worker = self.index, victim, coroutine = ?coroutine.id(), "steal");
                        self.fresh.push(coroutine);
                        return true;
                    }
                    Steal::Empty => break,
                    Steal::Retry => continue,
                }
            }
        }
        false
    }

    /// Nothing is runnable: look at our own I/O and timers, then search (spinning),
    /// then sleep. The look at I/O comes first because the coroutine that just parked
    /// most often waits for a reply that is already there (a request-response on
    /// loopback); a hand-off from another worker is caught by the spin either way.
    ///
    /// A worker whose spin has shrunk to nothing (work reaches it through its own
    /// netpoller, as in most servers) skips the non-blocking look and goes straight to
    /// the sleep's `epoll_wait`, which returns at once if events are ready: one system
    /// call per idle moment instead of two.
    fn idle(&self) {
        self.shared().progress.store(u64::from(self.tick.get()), Ordering::Relaxed);
        if self.spin.get().is_zero() {
            self.fire_timers();
            if !self.has_local_work() && !self.steal() {
                self.sleep();
            }
            return;
        }
        self.netpoll(Some(Duration::ZERO));
        self.fire_timers();
        if self.has_local_work() || self.search() {
            return;
        }
        self.sleep();
    }

    /// Spins up to the current spin looking for a hand-off from another thread (our
    /// inbox, our netpoller) and, if we may be a searcher, for stealable work.
    ///
    /// Go's limit (searchers at most half the busy workers) applies to stealing only:
    /// one searcher is enough to find stealable work, but a wake aimed at this worker
    /// can only be caught by this worker. In a ping-pong between two workers, each side
    /// must be able to spin while the other searches, or every hand-off pays a full
    /// wake-up of a sleeping thread.
    fn search(&self) -> bool {
        let idle = &self.scheduler.idle;
        if !self.searching.get() && idle.try_start_searching(self.scheduler.workers()) {
            self.searching.set(true);
        }
        let steals = self.searching.get();
        let start = Instant::now();
        let spin = self.spin.get();
        let mut round = 0u32;
        let found = loop {
            // Our own queues are a few loads: look every round. Stealing touches every
            // other worker's cache lines and polling is a system call: less often.
            if self.has_local_work() || (steals || round == 0) && round % 4 == 0 && self.steal() {
                // Work came from another thread while we looked: spinning pays here.
                self.spin.set(SPIN_TIME);
                break true;
            }
            round += 1;
            if round % 32 == 0 {
                // About every 5 us: I/O that arrived while we spin is ours to run.
                self.netpoll(Some(Duration::ZERO));
                self.fire_timers();
                if self.has_local_work() {
                    break true;
                }
            }
            if round % 8 == 0 && (start.elapsed() >= spin || self.scheduler.is_shutdown()) {
                self.spin.set(if spin < SPIN_TIME / 16 { Duration::ZERO } else { spin / 2 });
                break false;
            }
            // PAUSE takes up to ~140 cycles on recent cores: a few per round keep the
            // latency of noticing a hand-off in the tens of nanoseconds.
            for _ in 0..4 {
                std::hint::spin_loop();
            }
        };
        if found && self.searching.get() {
            self.stop_searching();
        }
        found
    }

    /// Sleeps in `epoll_wait` until an event, a timer, a wake or the next stack trim.
    fn sleep(&self) {
        let idle = &self.scheduler.idle;
        if self.searching.replace(false) {
            idle.stop_searching();
        }
        idle.register_sleeper(self.index);
        // SeqCst fence: announce, then re-check (see `idle.rs`).
        fence(Ordering::SeqCst);
        let shared = self.shared();
        if !self.scheduler.has_stealable_work() && !self.scheduler.is_shutdown() {
            shared.sleeping.store(true, Ordering::Relaxed);
            // SeqCst fence: the Dekker handshake with `Scheduler::unpark_worker`.
            fence(Ordering::SeqCst);
            let handed_off = || shared.inbox.has_pending() || shared.search_requested.load(Ordering::Relaxed);
            if handed_off() {
                // A hand-off from another thread while we were on our way to sleep:
                // a spin would have caught it.
                self.spin.set(SPIN_TIME);
            } else if !self.scheduler.is_shutdown() {
                let timeout = self.sleep_timeout();
                tracing::trace!(worker = self.index, ?timeout, "sleep");
                let asleep = Instant::now();
                self.netpoll(timeout);
                // ... or soon after we fell asleep. If we went to sleep without
                // spinning, a short spin would have caught it: start one, which grows
                // to the full spin once it catches a hand-off. If we spun in vain just
                // before, the spin is the likely reason the hand-off came late: where
                // the workers share one free core, the other worker runs only once we
                // stop. Restoring the full spin then made every hand-off wait it out.
                if handed_off() && asleep.elapsed() < 2 * SPIN_TIME && self.spin.get().is_zero() {
                    self.spin.set(SPIN_TIME / 8);
                }
            }
            shared.sleeping.store(false, Ordering::Relaxed);
        }
        if idle.unregister_sleeper(self.index, shared) {
            self.searching.set(true);
        }
        self.fire_timers();
        self.stacks.borrow_mut().maybe_trim(Instant::now());
    }

    /// Until the next timer or stack trim, whichever comes first; `None`: no deadline.
    fn sleep_timeout(&self) -> Option<Duration> {
        let timer = self.timers.borrow().next_deadline();
        let trim = self.stacks.borrow().next_trim();
        let deadline = match (timer, trim) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Unwinds every coroutine that lives here and drops the ones that never started,
    /// until nothing is left (unwinding may spawn or wake).
    fn shut_down(&self) {
        loop {
            let mut any = false;
            while let Some(coroutine) = self.fresh.pop() {
                coroutine.runnable().cancel(task::cancelled_payload());
                any = true;
            }
            while let Some(Next::Start(coroutine)) = self.steal_from(&self.scheduler.injector) {
                coroutine.runnable().cancel(task::cancelled_payload());
                any = true;
            }
            self.drain_inbox();
            let pinned = self.run_queue.borrow_mut().take_pinned();
            for coroutine in pinned {
                coroutine.runnable().cancel(task::cancelled_payload());
                any = true;
            }
            self.run_queue.borrow_mut().clear();
            any |= self.unwind_all();
            if !any {
                break;
            }
        }
        self.timers.borrow_mut().clear();
        self.poller.shared().close();
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("index", &self.index).finish_non_exhaustive()
    }
}
