//! The lock behind [`Mutex`](super::Mutex): one atomic word for the uncontended case, a
//! queue of waiters only under contention, and Go's hand-over for a waiter that has
//! waited too long.
//!
//! # The state word
//!
//! | bit | name | meaning | who sets it | who clears it |
//! |---|---|---|---|---|
//! | 0 | `LOCKED` | the lock is held (or handed to a waiter not yet running) | a CAS that saw it clear | the holder |
//! | 1 | `QUEUED` | the queue has waiters: an unlock must look at it | a waiter, under the queue lock | whoever empties the queue, under the queue lock |
//!
//! So `QUEUED` changes only under the queue lock, and it is set exactly when the queue
//! is non-empty, as seen by whoever holds that lock.
//!
//! # Locking
//!
//! The fast path is one CAS from `0` to `LOCKED`. Under contention the locker spins a
//! few rounds while nobody is queued (a short critical section on another thread ends
//! sooner than a park takes), trying to *barge* in: set `LOCKED` whenever it is clear,
//! queued waiters or not. Failing that, it takes the queue lock and in one CAS loop
//! either takes the lock (it became free) or sets `QUEUED` on a word that still shows
//! `LOCKED`; it then pushes its [`Signal`] and waits on it outside the queue lock.
//!
//! # Unlocking
//!
//! The fast path is one CAS from `LOCKED` to `0`; it fails when `QUEUED` is set. Then,
//! under the queue lock, the unlocker pops the front waiter and claims its signal:
//!
//! - normally *without* a grant: it clears `LOCKED` and the woken waiter competes with
//!   new arrivals (barging keeps the lock busy instead of idle while a waiter wakes up);
//! - but if that waiter has been queued for [`HANDOFF_AFTER`] or more, *with* a grant:
//!   `LOCKED` stays set and the lock is now the waiter's (the claim's Release publishes
//!   the critical section to it). Nobody can barge in between, so nobody starves: this
//!   is the starvation mode of Go's `sync.Mutex`.
//!
//! A woken waiter that loses the race re-queues at the *front* with the time it first
//! queued, so the oldest waiter stays next and soon qualifies for the hand-over.
//!
//! While the unlocker holds both the lock and the queue lock, nobody else can write the
//! word (lockers need `LOCKED` clear, `QUEUED` needs the queue lock), so it stores the
//! new word outright. It wakes the waiter after releasing the queue lock.
//!
//! # Why no wakeup is lost
//!
//! A waiter sets `QUEUED` with a CAS that expects `LOCKED` in the same word, under the
//! queue lock, before it pushes its entry. An unlock's fast CAS either comes first in
//! the word's modification order (then the waiter's CAS fails, it re-reads the word,
//! finds the lock free and takes it) or comes later, fails because it sees `QUEUED`,
//! and the unlocker then takes the queue lock, which it gets only after the waiter
//! pushed its entry and released it. A waiter that finds `QUEUED` already set needs no
//! CAS: `LOCKED` cannot be cleared without the queue lock it holds. The loom models
//! below check this, with the hand-over and with waiters that give up.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

// loom's atomics have no `const` constructor: the runtime uses std's directly so that
// `Mutex::new` is `const`, as std's is.
#[cfg(loom)]
use loom::sync::{Mutex as QueueLock, MutexGuard as QueueGuard, atomic::AtomicUsize};
#[cfg(not(loom))]
use std::sync::{Mutex as QueueLock, MutexGuard as QueueGuard, atomic::AtomicUsize};

use super::signal::{Claim, Signal};
use super::unwind::{held_at_shutdown, retry_while_unwinding, wait_or_unwind};

const LOCKED: usize = 1 << 0;
const QUEUED: usize = 1 << 1;

/// A waiter queued at least this long gets the lock handed over at the next unlock
/// (Go's `starvationThresholdNs`).
const HANDOFF_AFTER: Duration = Duration::from_millis(1);

/// Spin rounds before queueing; round `n` spins `2^n` times.
const SPIN_ROUNDS: u32 = 4;

/// What the unlock needs from a queued waiter. The runtime's is [`Waiting`]; the loom
/// models have their own, parking loom threads.
pub(crate) trait Queued: Clone {
    /// Claims the waiter's wait (`granted`: the lock is handed over); `false` if the
    /// waiter gave up.
    fn claim(&self, granted: bool) -> bool;
    /// Wakes the waiter after a successful claim.
    fn wake(&self);
    /// Whether it has waited long enough to get the lock handed over.
    fn starving(&self) -> bool;
    /// Whether both are the same queue entry.
    fn is(&self, other: &Self) -> bool;
}

/// The lock word and its queue (see the module docs).
pub(crate) struct RawMutex<W> {
    state: AtomicUsize,
    queue: QueueLock<VecDeque<W>>,
}

impl<W> RawMutex<W> {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> RawMutex<W> {
        RawMutex { state: AtomicUsize::new(0), queue: QueueLock::new(VecDeque::new()) }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> RawMutex<W> {
        RawMutex { state: AtomicUsize::new(0), queue: QueueLock::new(VecDeque::new()) }
    }

    fn queue(&self) -> QueueGuard<'_, VecDeque<W>> {
        // Nothing panics while the queue lock is held.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_queued(&self) -> bool {
        // A hint for spinning only; the queue lock decides.
        self.state.load(Ordering::Relaxed) & QUEUED != 0
    }
}

impl<W: Queued> RawMutex<W> {
    /// The uncontended lock: one CAS.
    #[inline]
    pub(crate) fn try_lock_fast(&self) -> bool {
        // Acquire: the new holder's section follows the last one, which ended with a
        // Release (`unlock`).
        self.state.compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Takes the lock if it is free, even with waiters queued (barging).
    pub(crate) fn try_lock(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & LOCKED == 0 {
            // Acquire: as in `try_lock_fast`.
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    /// Under the queue lock: takes the lock if it became free (`None`), or marks the
    /// word `QUEUED` and queues the waiter `make` returns, at the front when it is
    /// re-queueing. Returns the queued waiter.
    pub(crate) fn lock_or_enqueue(&self, make: impl FnOnce() -> W, front: bool) -> Option<W> {
        let mut queue = self.queue();
        // Relaxed: a write that clears LOCKED or QUEUED while QUEUED is set is made
        // under the queue lock, so it happens before this load; any other write only
        // makes the CAS below fail and re-read.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                // Acquire: as in `try_lock_fast`.
                match self.state.compare_exchange_weak(
                    state,
                    state | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return None,
                    Err(now) => state = now,
                }
            } else if state & QUEUED != 0 {
                // Nobody clears LOCKED or QUEUED without the queue lock we hold.
                break;
            } else {
                // Relaxed: the handshake with unlock is the word's modification order
                // plus the queue lock (module docs).
                match self.state.compare_exchange_weak(
                    state,
                    state | QUEUED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => state = now,
                }
            }
        }
        let waiter = make();
        if front {
            queue.push_front(waiter.clone());
        } else {
            queue.push_back(waiter.clone());
        }
        Some(waiter)
    }

    /// Releases the lock, or hands it to a waiter that has waited long enough.
    #[inline]
    pub(crate) fn unlock(&self) {
        // Release: publishes the critical section to the next holder's Acquire.
        if self.state.compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed).is_err() {
            self.unlock_contended();
        }
    }

    #[cold]
    fn unlock_contended(&self) {
        let mut queue = self.queue();
        let (woken, handed_over) = loop {
            let Some(waiter) = queue.pop_front() else {
                // Every queued waiter gave up. We hold both locks: a plain store is
                // exact (module docs). Release: as in `unlock`.
                self.state.store(0, Ordering::Release);
                return;
            };
            let starving = waiter.starving();
            if waiter.claim(starving) {
                break (waiter, starving);
            }
        };
        let locked = if handed_over { LOCKED } else { 0 };
        let queued = if queue.is_empty() { 0 } else { QUEUED };
        // Both locks are held: a plain store is exact. Release: publishes the section
        // to a barger that takes the freed lock (a handed-over lock is published to its
        // new holder by the claim).
        self.state.store(locked | queued, Ordering::Release);
        drop(queue);
        woken.wake();
    }

    /// Takes a waiter that gave up out of the queue.
    pub(crate) fn remove(&self, waiter: &W) {
        let mut queue = self.queue();
        queue.retain(|queued| !queued.is(waiter));
        if queue.is_empty() {
            // A read-modify-write: bargers may set LOCKED meanwhile. Relaxed: QUEUED
            // only changes under the queue lock, which orders it.
            self.state.fetch_and(!QUEUED, Ordering::Relaxed);
        }
    }
}

/// A coroutine or thread queued on a [`RawMutex`].
#[derive(Clone, Debug)]
pub(crate) struct Waiting {
    signal: Arc<Signal>,
    /// When the waiter first queued for this lock (kept when it re-queues).
    since: Instant,
}

impl Queued for Waiting {
    fn claim(&self, granted: bool) -> bool {
        self.signal.claim(Claim { index: 0, granted })
    }

    fn wake(&self) {
        self.signal.wake();
    }

    fn starving(&self) -> bool {
        self.since.elapsed() >= HANDOFF_AFTER
    }

    fn is(&self, other: &Waiting) -> bool {
        Arc::ptr_eq(&self.signal, &other.signal)
    }
}

impl RawMutex<Waiting> {
    /// Locks, parking the coroutine (or blocking the thread) while the lock is held.
    ///
    /// # Panics
    ///
    /// In a coroutine that the runtime unwinds at shutdown, if the lock stays held for
    /// a second (see `unwind::retry_while_unwinding`).
    #[inline]
    pub(crate) fn lock(&self) {
        if !self.try_lock_fast() {
            self.lock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0;
        let mut first_queued = None;
        loop {
            if self.try_lock() {
                return;
            }
            if first_queued.is_none() && spins < SPIN_ROUNDS && !self.is_queued() {
                (0..1 << spins).for_each(|_| std::hint::spin_loop());
                spins += 1;
                continue;
            }
            let requeue = first_queued.is_some();
            let since = *first_queued.get_or_insert_with(Instant::now);
            let make = || Waiting { signal: Signal::new(), since };
            let Some(waiting) = self.lock_or_enqueue(make, requeue) else {
                return;
            };
            match wait_or_unwind(&waiting.signal, None, |claim| self.pass_on(&waiting, claim)) {
                Ok(claim) => {
                    // Out of the queue: the next wait may reuse the signal.
                    Signal::recycle(waiting.signal);
                    if claim.granted {
                        return;
                    }
                }
                Err(_) => {
                    self.remove(&waiting);
                    if retry_while_unwinding(|| self.try_lock()) {
                        return;
                    }
                    held_at_shutdown("hebra::sync::Mutex");
                }
            }
        }
    }

    /// A waiter unwound while parked (runtime shutdown) leaves the queue, and passes
    /// on what an unlock gave it: the lock itself, or the turn to retry, which the
    /// next waiter needs since no other unlock may come.
    fn pass_on(&self, waiting: &Waiting, claim: Option<Claim>) {
        match claim {
            None => self.remove(waiting),
            Some(claim) if claim.granted => self.unlock(),
            Some(_) => {
                if self.try_lock() {
                    self.unlock();
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::signal::SignalState;
    use super::*;
    use std::sync::atomic::AtomicUsize as Counter;

    /// A waiter that records its claim and counts its wakes.
    #[derive(Clone)]
    struct TestWaiter(Arc<(SignalState, Counter, bool)>);

    impl TestWaiter {
        fn new(starving: bool) -> TestWaiter {
            TestWaiter(Arc::new((SignalState::new(), Counter::new(0), starving)))
        }

        fn claimed(&self) -> Option<Claim> {
            self.0.0.claimed()
        }
    }

    impl Queued for TestWaiter {
        fn claim(&self, granted: bool) -> bool {
            self.0.0.claim(Claim { index: 0, granted })
        }
        fn wake(&self) {
            self.0.1.fetch_add(1, Ordering::Relaxed);
        }
        fn starving(&self) -> bool {
            self.0.2
        }
        fn is(&self, other: &TestWaiter) -> bool {
            Arc::ptr_eq(&self.0, &other.0)
        }
    }

    fn word(mutex: &RawMutex<TestWaiter>) -> usize {
        mutex.state.load(Ordering::Relaxed)
    }

    fn queue_behind_holder(mutex: &RawMutex<TestWaiter>, starving: bool, front: bool) -> TestWaiter {
        mutex.lock_or_enqueue(|| TestWaiter::new(starving), front).expect("the lock is held: it queues")
    }

    #[test]
    fn uncontended_lock_and_unlock_touch_only_the_word() {
        let mutex = RawMutex::<TestWaiter>::new();
        assert!(mutex.try_lock_fast());
        assert_eq!(word(&mutex), LOCKED);
        assert!(!mutex.try_lock(), "held");
        mutex.unlock();
        assert_eq!(word(&mutex), 0);
        assert!(mutex.lock_or_enqueue(|| unreachable!("free: no waiter is made"), false).is_none());
        assert_eq!(word(&mutex), LOCKED, "enqueue took the free lock instead");
    }

    #[test]
    fn unlock_frees_the_lock_and_wakes_the_head_to_retry() {
        let mutex = RawMutex::new();
        assert!(mutex.try_lock_fast());
        let first = queue_behind_holder(&mutex, false, false);
        let second = queue_behind_holder(&mutex, false, false);
        assert_eq!(word(&mutex), LOCKED | QUEUED);
        assert!(!mutex.try_lock_fast(), "the fast path ignores a queued word");
        mutex.unlock();
        assert_eq!(first.claimed(), Some(Claim { index: 0, granted: false }));
        assert_eq!(first.0.1.load(Ordering::Relaxed), 1, "woken once");
        assert_eq!(second.claimed(), None);
        assert_eq!(word(&mutex), QUEUED, "free, with a waiter left");
        assert!(mutex.try_lock(), "a newcomer may barge in");
    }

    #[test]
    fn a_starving_waiter_gets_the_lock_handed_over() {
        let mutex = RawMutex::new();
        assert!(mutex.try_lock_fast());
        let first = queue_behind_holder(&mutex, true, false);
        let second = queue_behind_holder(&mutex, true, false);
        mutex.unlock();
        assert_eq!(first.claimed(), Some(Claim { index: 0, granted: true }));
        assert_eq!(word(&mutex), LOCKED | QUEUED, "still locked: it belongs to the first waiter");
        assert!(!mutex.try_lock(), "nobody barges in on a handed-over lock");
        mutex.unlock(); // the first waiter's unlock
        assert_eq!(second.claimed(), Some(Claim { index: 0, granted: true }));
        assert_eq!(word(&mutex), LOCKED);
        mutex.unlock();
        assert_eq!(word(&mutex), 0);
    }

    #[test]
    fn unlock_skips_waiters_that_gave_up_and_requeued_ones_go_first() {
        let mutex = RawMutex::new();
        assert!(mutex.try_lock_fast());
        let gone = queue_behind_holder(&mutex, false, false);
        let later = queue_behind_holder(&mutex, false, false);
        let requeued = queue_behind_holder(&mutex, false, true);
        gone.0.0.abort().unwrap();
        mutex.unlock();
        assert_eq!(requeued.claimed().map(|c| c.granted), Some(false), "re-queued at the front");
        assert!(mutex.try_lock());
        requeued.0.0.abort().unwrap_err();
        mutex.unlock();
        assert!(later.claimed().is_some(), "the dead entry was skipped");
        assert_eq!(word(&mutex), 0, "the queue is empty again");
    }

    #[test]
    fn removing_the_last_waiter_clears_queued() {
        let mutex = RawMutex::new();
        assert!(mutex.try_lock_fast());
        let waiter = queue_behind_holder(&mutex, false, false);
        waiter.0.0.abort().unwrap();
        mutex.remove(&waiter);
        assert_eq!(word(&mutex), LOCKED);
        mutex.unlock();
        assert_eq!(word(&mutex), 0);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::super::signal::SignalState;
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    /// A waiter that parks a loom thread: the model of a `Signal`.
    #[derive(Clone)]
    struct ModelWaiter(Arc<(SignalState, thread::Thread, bool)>);

    impl Queued for ModelWaiter {
        fn claim(&self, granted: bool) -> bool {
            self.0.0.claim(Claim { index: 0, granted })
        }
        fn wake(&self) {
            self.0.1.unpark();
        }
        fn starving(&self) -> bool {
            self.0.2
        }
        fn is(&self, other: &ModelWaiter) -> bool {
            Arc::ptr_eq(&self.0, &other.0)
        }
    }

    impl ModelWaiter {
        /// Parks until claimed. A lost wakeup leaves every thread parked, which loom
        /// reports as a deadlock.
        fn wait(&self) -> Claim {
            loop {
                if let Some(claim) = self.0.0.claimed() {
                    return claim;
                }
                thread::park();
            }
        }
    }

    type Lock = RawMutex<ModelWaiter>;

    /// `lock_contended` without the spinning, with the model waiter.
    fn lock(mutex: &Lock, starving: bool) {
        let mut requeue = false;
        while !mutex.try_lock() {
            let make = || ModelWaiter(Arc::new((SignalState::new(), thread::current(), starving)));
            let Some(waiter) = mutex.lock_or_enqueue(make, requeue) else { return };
            if waiter.wait().granted {
                return;
            }
            requeue = true;
        }
    }

    /// Increments the shared counter inside the lock: loom flags any overlap of two
    /// sections, and any section that does not see the previous one, as a data race.
    fn critical_section(mutex: &Lock, counter: &UnsafeCell<usize>, starving: bool) {
        lock(mutex, starving);
        // SAFETY: the lock is held, so no other thread accesses the counter (this is
        // what the model checks).
        counter.with_mut(|count| unsafe { *count += 1 });
        mutex.unlock();
    }

    /// `others` threads lock once each while the main thread locks `rounds` times:
    /// with one other thread and two rounds, the main thread barges in again after its
    /// first unlock and the woken waiter re-queues.
    fn contend(others: usize, rounds: usize, starving: bool) {
        let mutex = Arc::new(Lock::new());
        let counter = Arc::new(UnsafeCell::new(0));
        let threads: Vec<_> = (0..others)
            .map(|_| {
                let (mutex, counter) = (mutex.clone(), counter.clone());
                thread::spawn(move || critical_section(&mutex, &counter, starving))
            })
            .collect();
        (0..rounds).for_each(|_| critical_section(&mutex, &counter, starving));
        threads.into_iter().for_each(|t| t.join().unwrap());
        // SAFETY: every other thread has been joined.
        assert_eq!(counter.with_mut(|count| unsafe { *count }), others + rounds);
        assert_eq!(mutex.state.load(Ordering::Relaxed), 0, "free and unqueued at the end");
    }

    /// Three threads explode loom's search: bound the preemptions, as tokio does
    /// (`LOOM_MAX_PREEMPTIONS` overrides the bound).
    fn bounded(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound.get_or_insert(4);
        builder.check(f);
    }

    /// Barging and re-queueing: mutual exclusion, no lost wakeup.
    #[test]
    fn barging_loses_no_wakeup() {
        loom::model(|| contend(1, 2, false));
    }

    /// The same with every waiter starving: unlocks hand the lock over.
    #[test]
    fn handing_over_loses_no_wakeup() {
        loom::model(|| contend(1, 2, true));
    }

    /// Two waiters queue behind each other (bounded search).
    #[test]
    fn three_lockers_lose_no_wakeup() {
        bounded(|| contend(2, 1, false));
        bounded(|| contend(2, 1, true));
    }

    /// A waiter gives up (as at shutdown) while the holder unlocks: whoever wins,
    /// the word ends up free and unqueued, and a granted lock is not lost.
    #[test]
    fn a_waiter_that_gives_up_leaves_a_clean_word() {
        loom::model(|| {
            let mutex = Arc::new(Lock::new());
            assert!(mutex.try_lock_fast());
            let quitter = {
                let mutex = mutex.clone();
                thread::spawn(move || {
                    let make = || ModelWaiter(Arc::new((SignalState::new(), thread::current(), true)));
                    let Some(waiter) = mutex.lock_or_enqueue(make, false) else {
                        return mutex.unlock();
                    };
                    match waiter.0.0.abort() {
                        Ok(()) => mutex.remove(&waiter),
                        Err(claim) => {
                            assert!(claim.granted, "a starving waiter is handed the lock");
                            mutex.unlock();
                        }
                    }
                })
            };
            mutex.unlock();
            quitter.join().unwrap();
            assert_eq!(mutex.state.load(Ordering::Relaxed), 0);
        });
    }
}
