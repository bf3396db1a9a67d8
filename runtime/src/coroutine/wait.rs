//! The wait protocol: how a coroutine waits and how exactly one party ends the wait.
//!
//! Every blocking-style API (socket readiness, `sleep`, `join`, `unblock`, `park`) is a
//! *wait*: the coroutine hands out [`Waiter`]s for its current wait, suspends, and is
//! scheduled again by the first party that *takes* the wait. Takers are the netpoller,
//! the timer heap, a finishing coroutine, a helper thread, or `Coroutine::unpark`.
//!
//! # The state word
//!
//! Each coroutine has one `AtomicU64`:
//!
//! | bits | name | meaning |
//! |---|---|---|
//! | 0 | `PARKED` | suspended in a wait and published by its home worker; the taker must schedule it |
//! | 1 | `WOKEN` | the current wait has been taken; later takers fail |
//! | 2 | `TIMED_OUT` | ... and it was taken by its deadline |
//! | 3 | `TOKEN` | an `unpark` token is available (the `std::thread::park` token) |
//! | 4 | `USER_PARK` | the current wait is `park()`, so `unpark` may take it |
//! | 5 | `CANCELLED` | the runtime unwinds this coroutine: waits return at once, takes fail |
//! | 32..64 | seq | number of the current wait |
//!
//! # Why no wakeup is lost (ARCHITECTURE.md, invariant 3)
//!
//! A waiter carries the `seq` of the wait it was made for. Taking is one CAS that
//! succeeds only if `seq` still matches and `WOKEN` is clear, so exactly one taker wins
//! and a waiter left over from an earlier wait (a timer that lost the race, a socket's
//! waiter list) can never end a later one.
//!
//! The coroutine does not publish `PARKED` itself: it switches out first, and only then
//! does its home worker *commit* the wait (set `PARKED` unless `WOKEN` is already set).
//! A take that lands before the commit just sets `WOKEN`; the commit sees it and runs the
//! coroutine again at once. A take that lands after the commit sees `PARKED` and
//! schedules. So a coroutine is never scheduled while it is still running, and never
//! left parked after a successful take.
//!
//! After it is resumed, the coroutine ends the wait: it clears the per-wait bits and
//! increments `seq` (one atomic read-modify-write, since takers may race on the word).
//!
//! Every waiter handed out is followed by the wait it was made for, or by
//! [`abandon`] when the caller finds it need not wait after all (a helper that already
//! finished): both move `seq` on, so a late take of that waiter fails instead of ending
//! some later wait. A coroutine its runtime unwinds while it waits never ends that
//! wait; `CANCELLED` makes every take and unpark fail from then on, so nothing can queue
//! it on a worker that is gone. With those two rules a coroutine that returned can never
//! be scheduled again, and it needs no flag of its own.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::Coroutine;
use super::running::{Running, Suspend, with_running};
use crate::facade::AtomicU64;

const PARKED: u64 = 1 << 0;
const WOKEN: u64 = 1 << 1;
const TIMED_OUT: u64 = 1 << 2;
const TOKEN: u64 = 1 << 3;
const USER_PARK: u64 = 1 << 4;
const CANCELLED: u64 = 1 << 5;
const SEQ_SHIFT: u32 = 32;
const SEQ_ONE: u64 = 1 << SEQ_SHIFT;

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitOutcome {
    /// A waiter took the wait.
    Woken,
    /// The deadline passed first.
    TimedOut,
    /// The runtime is shutting down and unwinding this coroutine.
    Cancelled,
}

/// The state word of one coroutine (see the module docs).
pub(crate) struct WaitState(AtomicU64);

impl WaitState {
    pub(crate) fn new() -> WaitState {
        WaitState(AtomicU64::new(0))
    }

    /// The number of the current wait. Only the coroutine itself changes it, so a
    /// relaxed load on its own thread is exact.
    pub(crate) fn seq(&self) -> u32 {
        (self.0.load(Ordering::Relaxed) >> SEQ_SHIFT) as u32
    }

    /// Takes wait `seq` if it is still current and untaken. Returns `Some(parked)` on
    /// success, where `parked` says the taker must schedule the coroutine.
    fn take(&self, seq: u32, extra: u64) -> Option<bool> {
        // AcqRel: Acquire pairs with the Release of `commit`, so a taker that sees PARKED
        // also sees where the coroutine lives (its home worker, written before it first
        // ran); Release hands whatever the taker prepared (data, readiness) to the
        // coroutine, which reads the word with Acquire in `end_wait`.
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let stale = (cur >> SEQ_SHIFT) as u32 != seq || cur & (WOKEN | CANCELLED) != 0;
                (!stale).then_some((cur | WOKEN | extra) & !PARKED)
            })
            .ok()
            .map(|prev| prev & PARKED != 0)
    }

    /// Publishes the wait after the coroutine has switched out (home worker only).
    /// Returns `false` if the wait was already taken: run the coroutine again now.
    pub(crate) fn commit(&self) -> bool {
        // Release: see `take`.
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur & WOKEN == 0).then_some(cur | PARKED)
            })
            .is_ok()
    }

    /// Ends the current wait after the coroutine resumed; `consume_token` for `park`.
    fn end_wait(&self, consume_token: bool) -> WaitOutcome {
        let clear = WOKEN | TIMED_OUT | USER_PARK | PARKED | if consume_token { TOKEN } else { 0 };
        // Acquire: pairs with the Release of the taker (see `take`). Wrapping add on the
        // top 32 bits lets seq wrap without touching the flags.
        let prev = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some((cur & !clear).wrapping_add(SEQ_ONE))
            })
            .expect("the closure always returns Some");
        if prev & TIMED_OUT != 0 { WaitOutcome::TimedOut } else { WaitOutcome::Woken }
    }

    /// `park` fast path: consumes an available token (returns `true`), or marks the wait
    /// about to start as a user park so that `unpark` may take it.
    fn consume_token_or_mark_park(&self) -> bool {
        let prev = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some(if cur & TOKEN != 0 { cur & !TOKEN } else { cur | USER_PARK })
            })
            .expect("the closure always returns Some");
        prev & TOKEN != 0
    }

    /// `unpark`: makes the token available and takes the current wait if it is a user
    /// park. Returns `true` if the caller must schedule the coroutine.
    ///
    /// It writes the word even when the token is already there, as std's `unpark` swaps:
    /// the write (Release) is what makes everything before this unpark visible to the
    /// park that consumes the token. Without it, a park consuming an *older* token could
    /// read a stale condition and sleep through this unpark.
    fn unpark(&self) -> bool {
        let result = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
            if cur & CANCELLED != 0 {
                return None;
            }
            let mut new = cur | TOKEN;
            if cur & USER_PARK != 0 && cur & WOKEN == 0 {
                new = (new | WOKEN) & !PARKED;
            }
            Some(new)
        });
        matches!(result, Ok(prev) if prev & USER_PARK != 0 && prev & WOKEN == 0 && prev & PARKED != 0)
    }

    /// Marks the coroutine as being unwound by its runtime (home worker only). From
    /// here on no take or unpark succeeds.
    pub(crate) fn cancel(&self) {
        // AcqRel: a taker whose CAS came first is ordered before us, one that comes
        // later sees the flag.
        self.0.fetch_or(CANCELLED, Ordering::AcqRel);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        // The flag is only set by the home worker, which is the thread asking.
        self.0.load(Ordering::Relaxed) & CANCELLED != 0
    }
}

impl fmt::Debug for WaitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.0.load(Ordering::Relaxed);
        f.debug_struct("WaitState")
            .field("seq", &(word >> SEQ_SHIFT))
            .field("flags", &format_args!("{:#09b}", word & 0x7f))
            .finish()
    }
}

/// A handle that can end one particular wait: of a coroutine, or of a plain thread.
#[derive(Clone)]
pub(crate) enum Waiter {
    Coroutine { coroutine: Coroutine, seq: u32 },
    Thread(Arc<ThreadParker>),
}

impl Waiter {
    /// Ends the wait this waiter was made for. Returns `false` if another party took it
    /// first or the wait is over (a coroutine's waiter), so exactly one taker wins.
    pub(crate) fn wake(&self) -> bool {
        self.take(0)
    }

    /// Like [`Waiter::wake`], but the wait reports [`WaitOutcome::TimedOut`].
    pub(crate) fn wake_timed_out(&self) -> bool {
        self.take(TIMED_OUT)
    }

    fn take(&self, extra: u64) -> bool {
        match self {
            Waiter::Coroutine { coroutine, seq } => match coroutine.header().state.take(*seq, extra) {
                Some(parked) => {
                    if parked {
                        coroutine.schedule();
                    }
                    true
                }
                None => false,
            },
            Waiter::Thread(parker) => parker.notify(extra != 0),
        }
    }

    /// Whether two waiters end the same wait (used to remove a waiter from a list).
    pub(crate) fn same_wait(&self, other: &Waiter) -> bool {
        match (self, other) {
            (Waiter::Coroutine { coroutine: a, seq: s }, Waiter::Coroutine { coroutine: b, seq: t }) => {
                s == t && a.same(b)
            }
            (Waiter::Thread(a), Waiter::Thread(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiter::Coroutine { coroutine, seq } => {
                f.debug_struct("Waiter").field("coroutine", &coroutine.id()).field("seq", seq).finish()
            }
            Waiter::Thread(_) => f.write_str("Waiter(thread)"),
        }
    }
}

/// Makes a waiter for the wait the caller is about to start: on a coroutine, its
/// current wait; on a plain thread, the thread's parker.
pub(crate) fn waiter() -> Waiter {
    with_running(|running| match running {
        Some(r) => Waiter::Coroutine { coroutine: r.coroutine.clone(), seq: r.state().seq() },
        None => Waiter::Thread(ThreadParker::current()),
    })
}

/// Waits until a waiter made by [`waiter`] takes the wait, or until `deadline`.
///
/// On a coroutine this suspends it (the worker runs other coroutines) and never returns
/// spuriously. On a plain thread it blocks the thread and may return spuriously: callers
/// re-check their condition in a loop, as with a condition variable.
pub(crate) fn wait(deadline: Option<Instant>) -> WaitOutcome {
    with_running(|running| match running {
        None => ThreadParker::current().wait(deadline),
        Some(r) if r.state().is_cancelled() => {
            r.state().end_wait(false);
            WaitOutcome::Cancelled
        }
        Some(r) => {
            r.suspend(Suspend::Wait { deadline });
            r.state().end_wait(false)
        }
    })
}

/// Ends the current wait without waiting, after handing out a waiter and finding the
/// wait unnecessary: the waiter becomes stale, so its late take fails. A no-op on a
/// plain thread, whose parker tolerates a stray wake.
pub(crate) fn abandon() {
    with_running(|running| {
        if let Some(r) = running {
            r.state().end_wait(false);
        }
    });
}

/// `park` on a coroutine (see `coroutine::park`): consumes the token or waits for it.
pub(crate) fn park(running: &Running<'_>, deadline: Option<Instant>) {
    let state = running.state();
    if state.is_cancelled() || state.consume_token_or_mark_park() {
        return;
    }
    running.suspend(Suspend::Wait { deadline });
    state.end_wait(true);
}

/// `Coroutine::unpark`.
pub(crate) fn unpark(coroutine: &Coroutine) {
    if coroutine.header().state.unpark() {
        coroutine.schedule();
    }
}

/// Blocks a plain thread for the runtime's own waits (join, unblock, sockets' helpers).
///
/// It is separate from `std::thread::park` on purpose: the runtime must never consume
/// a park token that belongs to the user's code.
pub(crate) struct ThreadParker {
    notified: Mutex<Notified>,
    condvar: Condvar,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Notified {
    No,
    Yes,
    TimedOut,
}

impl ThreadParker {
    pub(crate) fn new() -> ThreadParker {
        ThreadParker { notified: Mutex::new(Notified::No), condvar: Condvar::new() }
    }

    pub(crate) fn current() -> Arc<ThreadParker> {
        thread_local! {
            static PARKER: Arc<ThreadParker> = Arc::new(ThreadParker::new());
        }
        PARKER.with(Arc::clone)
    }

    fn notify(&self, timed_out: bool) -> bool {
        let mut notified = self.notified.lock().unwrap_or_else(|e| e.into_inner());
        *notified = if timed_out { Notified::TimedOut } else { Notified::Yes };
        drop(notified);
        self.condvar.notify_one();
        true
    }

    fn wait(&self, deadline: Option<Instant>) -> WaitOutcome {
        let mut notified = self.notified.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match *notified {
                Notified::Yes => break,
                Notified::TimedOut => {
                    *notified = Notified::No;
                    return WaitOutcome::TimedOut;
                }
                Notified::No => {}
            }
            notified = match deadline {
                None => self.condvar.wait(notified).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return WaitOutcome::TimedOut;
                    }
                    self.condvar.wait_timeout(notified, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
        *notified = Notified::No;
        WaitOutcome::Woken
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_taker_wins_and_stale_waiters_fail() {
        let state = WaitState::new();
        let seq = state.seq();
        assert_eq!(state.take(seq, 0), Some(false), "taken before commit: not parked");
        assert_eq!(state.take(seq, 0), None, "second taker loses");
        assert!(!state.commit(), "commit sees the take and runs the coroutine again");
        assert_eq!(state.end_wait(false), WaitOutcome::Woken);
        assert_eq!(state.take(seq, 0), None, "a waiter of the previous wait is stale");
        let seq = state.seq();
        assert!(state.commit());
        assert_eq!(state.take(seq, TIMED_OUT), Some(true), "taken after commit: schedule it");
        assert_eq!(state.end_wait(false), WaitOutcome::TimedOut);
    }

    #[test]
    fn unpark_token_follows_std_semantics() {
        let state = WaitState::new();
        assert!(!state.unpark(), "no park in progress: only the token is set");
        assert!(state.consume_token_or_mark_park(), "park consumes the token");
        assert!(!state.consume_token_or_mark_park(), "no token left: the park waits");
        assert!(state.commit());
        assert!(state.unpark(), "unpark takes the parked user wait");
        assert_eq!(state.end_wait(true), WaitOutcome::Woken);
        assert!(!state.consume_token_or_mark_park(), "the token was consumed by that park");
    }

    #[test]
    fn an_abandoned_wait_cannot_be_taken_later() {
        let state = WaitState::new();
        let seq = state.seq();
        state.end_wait(false);
        assert_eq!(state.take(seq, 0), None, "the helper's late wake misses the next wait");
    }

    #[test]
    fn a_cancelled_coroutine_cannot_be_taken_or_unparked() {
        let state = WaitState::new();
        assert!(!state.consume_token_or_mark_park());
        let seq = state.seq();
        assert!(state.commit());
        state.cancel();
        assert_eq!(state.take(seq, 0), None);
        assert!(!state.unpark(), "nothing may queue it on a worker that is gone");
    }

    #[test]
    fn unpark_does_not_end_internal_waits() {
        let state = WaitState::new();
        let seq = state.seq();
        assert!(state.commit());
        assert!(!state.unpark(), "an I/O or sleep wait is not a park");
        assert_eq!(state.take(seq, 0), Some(true));
        state.end_wait(false);
        assert!(state.consume_token_or_mark_park(), "the token survived for a later park");
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A take racing the worker's commit: the coroutine is resumed exactly once, either
    /// by the worker (take came first) or by the taker (commit came first).
    #[test]
    fn take_and_commit_resume_exactly_once() {
        loom::model(|| {
            let state = Arc::new(WaitState::new());
            let seq = state.seq();
            let taker = {
                let state = state.clone();
                thread::spawn(move || state.take(seq, 0))
            };
            let parked = state.commit();
            let taken = taker.join().unwrap();
            assert_eq!(taken, Some(parked), "the taker schedules exactly when the commit parked");
            assert_eq!(state.end_wait(false), WaitOutcome::Woken);
        });
    }

    /// Two takers (say the poller and the deadline timer) and the commit.
    #[test]
    fn one_of_two_takers_wins() {
        loom::model(|| {
            let state = Arc::new(WaitState::new());
            let seq = state.seq();
            let takers: Vec<_> = [0, TIMED_OUT]
                .into_iter()
                .map(|extra| {
                    let state = state.clone();
                    thread::spawn(move || state.take(seq, extra))
                })
                .collect();
            let parked = state.commit();
            let results: Vec<_> = takers.into_iter().map(|t| t.join().unwrap()).collect();
            let winners: Vec<_> = results.iter().flatten().collect();
            assert_eq!(winners.len(), 1, "exactly one taker wins: {results:?}");
            let resumptions = usize::from(!parked) + usize::from(*winners[0]);
            assert_eq!(resumptions, 1);
            state.end_wait(false);
            assert_eq!(state.take(seq, 0), None, "the ended wait cannot be taken again");
        });
    }

    /// An unpark that finds the token already there must still publish what came before
    /// it: a park that consumes the older token and reads a stale condition must then
    /// find a token again, or be taken by the unpark.
    #[test]
    fn unpark_publishes_even_when_the_token_is_already_there() {
        use loom::sync::atomic::AtomicBool;
        loom::model(|| {
            let state = Arc::new(WaitState::new());
            let condition = Arc::new(AtomicBool::new(false));
            // An unpark from an earlier round left its token.
            state.unpark();
            let unparker = {
                let (state, condition) = (state.clone(), condition.clone());
                thread::spawn(move || {
                    condition.store(true, Ordering::Relaxed);
                    state.unpark()
                })
            };
            assert!(state.consume_token_or_mark_park(), "the older token is consumed");
            if !condition.load(Ordering::Relaxed) {
                // The condition looks false: park again.
                let consumed = state.consume_token_or_mark_park();
                let parked = !consumed && state.commit();
                let scheduled = unparker.join().unwrap();
                assert!(!parked || scheduled, "parked, and nobody will wake it");
            }
        });
    }

    /// A channel's claim-then-wake racing the waiting party's deadline (the timer takes
    /// the same wait): the coroutine resumes exactly once, and afterwards it knows
    /// whether the claim happened (its abort fails exactly when the claim won), so a
    /// message or a lock handed over is never lost and never handed to nobody.
    #[test]
    fn a_claim_racing_the_deadline_is_never_lost() {
        use crate::sync::{Claim, SignalState};
        loom::model(|| {
            let state = Arc::new(WaitState::new());
            let signal = Arc::new(SignalState::new());
            let seq = state.seq();
            let claimer = {
                let (state, signal) = (state.clone(), signal.clone());
                thread::spawn(move || {
                    let claimed = signal.claim(Claim { index: 0, granted: true });
                    let scheduled = claimed && state.take(seq, 0) == Some(true);
                    (claimed, scheduled)
                })
            };
            let timer = {
                let state = state.clone();
                thread::spawn(move || state.take(seq, TIMED_OUT) == Some(true))
            };
            let parked = state.commit();
            let (claimed, scheduled_by_claimer) = claimer.join().unwrap();
            let scheduled_by_timer = timer.join().unwrap();
            let resumptions =
                usize::from(!parked) + usize::from(scheduled_by_claimer) + usize::from(scheduled_by_timer);
            assert_eq!(resumptions, 1, "resumed exactly once");
            let owner_sees_claim = match state.end_wait(false) {
                WaitOutcome::TimedOut => signal.abort().is_err(),
                _ => signal.claimed().is_some(),
            };
            assert_eq!(owner_sees_claim, claimed);
        });
    }

    /// `park` racing `unpark`: never parked with the token available, never resumed twice.
    #[test]
    fn park_and_unpark_never_lose_the_token() {
        loom::model(|| {
            let state = Arc::new(WaitState::new());
            let unparker = {
                let state = state.clone();
                thread::spawn(move || state.unpark())
            };
            let resumed = if state.consume_token_or_mark_park() {
                // The token was there: park returns at once, nobody schedules.
                assert!(!unparker.join().unwrap());
                true
            } else {
                let parked = state.commit();
                let scheduled = unparker.join().unwrap();
                assert!(parked == scheduled, "resumed by exactly one of worker and unparker");
                true
            };
            assert!(resumed);
            state.end_wait(true);
            assert!(!state.consume_token_or_mark_park(), "the single token was consumed");
        });
    }
}
