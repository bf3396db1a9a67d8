//! The signal of one blocked operation: its owner waits, and exactly one other party
//! *claims* it (a channel handing over a message, an unlock handing over a lock) or the
//! owner *aborts* it (its deadline passed, it found another way). Channels, `select!`
//! and every lock in [`crate::sync`] park on it.
//!
//! # Protocol
//!
//! The state word is `WAITING`, `ABORTED`, or a [`Claim`]: the index of the operation the
//! claimer completed (a `select!` waits on several at once) and whether the claimer
//! *granted* it something (a reserved slot, a handed-over lock) or only asks it to retry
//! (the other side disconnected). One CAS from `WAITING` decides between every claimer
//! and the owner's abort, so an operation is never completed twice, and a claimer never
//! grants to an owner that already gave up: its CAS fails, and it tries the next waiter.
//!
//! A claimer claims first and wakes second. The wake goes through the owner's
//! [`Waiter`], made when the signal was (the wait that follows is the one it ends):
//!
//! - on a coroutine, a wake of a wait that already ended (it timed out) fails, so
//!   a claim that lost the race with a deadline never resumes a later wait;
//! - on a plain thread, the parker may see a stray wake, and [`Signal::wait`] re-checks.
//!
//! An owner that never waits (the operation became ready while it was registering)
//! calls [`Signal::cancel`], which aborts the signal and retires the waiter as the wait
//! protocol requires.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::coroutine::running::with_running;
use crate::coroutine::wait::{self, WaitOutcome, Waiter};
use crate::facade::AtomicUsize;

const WAITING: usize = 0;
const ABORTED: usize = 1;
const CLAIMED: usize = 2;

/// What a claimer did for the owner of a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Claim {
    /// Which of the owner's operations was completed (0 outside `select!`).
    pub(crate) index: usize,
    /// The claimer reserved something for the owner (a slot, a message, the lock).
    /// Without a grant the owner retries its operation from the start.
    pub(crate) granted: bool,
}

impl Claim {
    fn encode(self) -> usize {
        CLAIMED + (self.index << 1 | usize::from(self.granted))
    }

    fn decode(word: usize) -> Option<Claim> {
        let bits = word.checked_sub(CLAIMED)?;
        Some(Claim { index: bits >> 1, granted: bits & 1 != 0 })
    }
}

/// Why [`Signal::wait`] returned without a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interrupted {
    /// The deadline passed.
    TimedOut,
    /// The runtime is unwinding this coroutine at shutdown: it must not wait.
    Cancelled,
}

/// The state word alone, so that loom can check the claim/abort race.
#[derive(Debug)]
pub(crate) struct SignalState(AtomicUsize);

impl SignalState {
    pub(crate) fn new() -> SignalState {
        SignalState(AtomicUsize::new(WAITING))
    }

    pub(crate) fn claim(&self, claim: Claim) -> bool {
        // AcqRel: Release publishes what the claimer reserved or wrote for the owner;
        // Acquire orders the claim after the owner's registration (its entry and slot).
        self.0.compare_exchange(WAITING, claim.encode(), Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Gives up; `Err` carries the claim that came first.
    pub(crate) fn abort(&self) -> Result<(), Claim> {
        // Acquire on failure: the owner goes on to read what the claimer handed over.
        match self.0.compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(()),
            Err(word) => Err(Claim::decode(word).expect("only the owner aborts, once")),
        }
    }

    pub(crate) fn claimed(&self) -> Option<Claim> {
        // Acquire: pairs with the claimer's Release (see `claim`).
        Claim::decode(self.0.load(Ordering::Acquire))
    }

    pub(crate) fn is_waiting(&self) -> bool {
        self.0.load(Ordering::Relaxed) == WAITING
    }
}

/// A blocked operation's signal (see the module docs).
#[derive(Debug)]
pub(crate) struct Signal {
    state: SignalState,
    waiter: Waiter,
}

impl Signal {
    /// A signal for the wait the caller is about to start. Until that wait, the caller
    /// must not wait for anything else (it may take std locks).
    ///
    /// A coroutine reuses the signal it gave back with [`Signal::recycle`] once nobody
    /// else holds it, so one that waits in a loop allocates once.
    pub(crate) fn new() -> Arc<Signal> {
        with_running(|running| {
            let Some(running) = running else {
                return Arc::new(Signal { state: SignalState::new(), waiter: wait::waiter() });
            };
            let seq = running.state().seq();
            if let Some(mut spare) = running.spare_signal.take()
                && let Some(signal) = Arc::get_mut(&mut spare)
            {
                signal.state = SignalState::new();
                if let Waiter::Coroutine { seq: waiter_seq, .. } = &mut signal.waiter {
                    *waiter_seq = seq;
                }
                return spare;
            }
            let waiter = Waiter::Coroutine { coroutine: running.coroutine.clone(), seq };
            Arc::new(Signal { state: SignalState::new(), waiter })
        })
    }

    /// Gives a finished operation's signal back to the running coroutine for its next
    /// [`Signal::new`] (a no-op on a plain thread). Entries or hand-overs that still
    /// hold it make that `new` allocate instead.
    pub(crate) fn recycle(signal: Arc<Signal>) {
        with_running(|running| {
            if let Some(running) = running {
                running.spare_signal.set(Some(signal));
            }
        });
    }

    /// Claims the signal for its owner; `false` if another claimer or the owner's abort
    /// came first. A successful claimer must call [`Signal::wake`] once it has handed
    /// over what it granted.
    pub(crate) fn claim(&self, claim: Claim) -> bool {
        self.state.claim(claim)
    }

    /// Claims and wakes at once: for claimers with nothing to hand over afterwards.
    pub(crate) fn notify(&self, claim: Claim) -> bool {
        let claimed = self.claim(claim);
        if claimed {
            self.wake();
        }
        claimed
    }

    /// Wakes the owner after a successful claim.
    pub(crate) fn wake(&self) {
        self.waiter.wake();
    }

    /// Whether nobody has claimed or aborted the signal yet (a hint for skipping dead
    /// entries; the CAS in `claim` decides).
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.is_waiting()
    }

    /// Waits until the signal is claimed or `deadline` passes (owner only, once).
    /// Everything outside this module waits through `unwind::wait_or_unwind`, which also
    /// cleans up if the runtime unwinds the owner from inside this wait.
    pub(super) fn wait(&self, deadline: Option<Instant>) -> Result<Claim, Interrupted> {
        loop {
            let outcome = wait::wait(deadline);
            if let Some(claim) = self.state.claimed() {
                return Ok(claim);
            }
            let interrupted = match outcome {
                // On a coroutine only a claimer wakes the wait; on a thread the parker
                // may wake spuriously, and its waiter stays valid for the next round.
                WaitOutcome::Woken => continue,
                WaitOutcome::TimedOut => Interrupted::TimedOut,
                WaitOutcome::Cancelled => Interrupted::Cancelled,
            };
            return match self.state.abort() {
                Ok(()) => Err(interrupted),
                // Claimed just before the abort: the claim stands. Its wake may still
                // come; on a coroutine it misses (the wait ended), on a thread it is a
                // stray wake the parker tolerates.
                Err(claim) => Ok(claim),
            };
        }
    }

    /// Gives up without waiting; `Some` carries the claim that came first, which the
    /// owner must honour (take what was granted, or retry).
    pub(crate) fn cancel(&self) -> Option<Claim> {
        let result = self.state.abort();
        // The claimer's wake may be on its way: make it miss our next wait.
        wait::abandon();
        result.err()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn claims_encode_index_and_grant() {
        for claim in [Claim { index: 0, granted: false }, Claim { index: 31, granted: true }] {
            assert_eq!(Claim::decode(claim.encode()), Some(claim));
        }
        assert_eq!(Claim::decode(WAITING), None);
        assert_eq!(Claim::decode(ABORTED), None);
    }

    #[test]
    fn first_claim_wins_and_abort_reports_it() {
        let state = SignalState::new();
        let first = Claim { index: 2, granted: true };
        assert!(state.claim(first));
        assert!(!state.claim(Claim { index: 0, granted: true }), "a second claimer loses");
        assert_eq!(state.abort(), Err(first), "the owner learns which claim came first");
        let state = SignalState::new();
        assert_eq!(state.abort(), Ok(()));
        assert!(!state.claim(first), "nobody claims an aborted signal");
    }

    #[test]
    fn a_thread_waits_for_a_claim_from_another_thread() {
        let signal = Signal::new();
        let claimer = {
            let signal = signal.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                assert!(signal.notify(Claim { index: 1, granted: true }));
            })
        };
        assert_eq!(signal.wait(None), Ok(Claim { index: 1, granted: true }));
        claimer.join().unwrap();
    }

    #[test]
    fn a_deadline_aborts_the_signal() {
        let signal = Signal::new();
        let deadline = Instant::now() + std::time::Duration::from_millis(5);
        assert_eq!(signal.wait(Some(deadline)), Err(Interrupted::TimedOut));
        assert!(!signal.claim(Claim { index: 0, granted: true }), "a late claimer moves on");
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two claimers and the owner's abort: exactly one of the three wins, and the owner
    /// learns about a claim that beat its abort.
    #[test]
    fn one_claim_or_the_abort_wins() {
        loom::model(|| {
            let state = Arc::new(SignalState::new());
            let claimers: Vec<_> = (0..2)
                .map(|index| {
                    let state = state.clone();
                    thread::spawn(move || state.claim(Claim { index, granted: true }))
                })
                .collect();
            let aborted = state.abort();
            let wins: Vec<bool> = claimers.into_iter().map(|c| c.join().unwrap()).collect();
            let claims = wins.iter().filter(|&&w| w).count();
            match aborted {
                Ok(()) => assert_eq!(claims, 0, "the abort won: no claim may succeed"),
                Err(claim) => {
                    assert_eq!(claims, 1, "exactly one claimer won");
                    assert!(wins[claim.index], "the owner sees the winner's claim");
                }
            }
        });
    }

    /// What a claimer writes before its claim is visible to the owner that sees the
    /// claim, whether through `claimed` or through a failed abort.
    #[test]
    fn the_claim_publishes_the_hand_over() {
        use loom::sync::atomic::AtomicUsize as Cell;
        loom::model(|| {
            let state = Arc::new(SignalState::new());
            let slot = Arc::new(Cell::new(0));
            let claimer = {
                let (state, slot) = (state.clone(), slot.clone());
                thread::spawn(move || {
                    slot.store(42, Ordering::Relaxed);
                    state.claim(Claim { index: 0, granted: true })
                })
            };
            let seen = state.claimed().is_some() || state.abort().is_err();
            if seen {
                assert_eq!(slot.load(Ordering::Relaxed), 42);
            }
            claimer.join().unwrap();
        });
    }
}
