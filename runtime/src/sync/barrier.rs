//! [`Barrier`]: a count of arrivals under a std lock and the signals of the parties
//! waiting for the round to fill. The last arrival takes the signals, resets the count
//! for the next round and claims them all; it is the round's leader.

use std::fmt;
use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdGuard};

use super::signal::{Claim, Signal};
use super::unwind::wait_or_unwind;

const RELEASED: Claim = Claim { index: 0, granted: true };

/// A meeting point for a fixed number of coroutines or threads: `std::sync::Barrier`'s
/// API, parking coroutines instead of blocking their worker.
///
/// Each round, the first `n - 1` callers of [`Barrier::wait`] wait and the `n`-th
/// releases them all; exactly one of the `n` is the round's leader. The barrier is
/// ready for the next round at once.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use hebra::sync::Barrier;
///
/// hebra::run(|| {
///     let barrier = Arc::new(Barrier::new(4));
///     let handles: Vec<_> = (0..4)
///         .map(|_| {
///             let barrier = barrier.clone();
///             hebra::spawn(move || barrier.wait().is_leader())
///         })
///         .collect();
///     let results = handles.into_iter().map(|handle| handle.join().unwrap());
///     assert_eq!(results.filter(|&leader| leader).count(), 1, "one leader per round");
/// });
/// ```
pub struct Barrier {
    parties: usize,
    round: StdMutex<Round>,
}

struct Round {
    arrived: usize,
    waiting: Vec<Arc<Signal>>,
}

/// What [`Barrier::wait`] returns: whether this caller led its round.
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// `true` for exactly one caller per round (the one that completed it).
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` parties per round (`0` behaves as `1`: nobody waits).
    pub const fn new(n: usize) -> Barrier {
        Barrier { parties: n, round: StdMutex::new(Round { arrived: 0, waiting: Vec::new() }) }
    }

    /// Waits until `n` parties have called `wait` in this round.
    ///
    /// In a coroutine that the runtime unwinds at shutdown it does not wait: it leaves
    /// the round and returns a non-leader result.
    pub fn wait(&self) -> BarrierWaitResult {
        let mut round = self.round();
        round.arrived += 1;
        if round.arrived >= self.parties {
            round.arrived = 0;
            let waiting = std::mem::take(&mut round.waiting);
            drop(round);
            for signal in waiting {
                signal.notify(RELEASED);
            }
            return BarrierWaitResult(true);
        }
        let signal = Signal::new();
        round.waiting.push(signal.clone());
        drop(round);
        // Unwound while parked, a waiter leaves the round (if it is not complete).
        let on_unwind = |claim: Option<Claim>| {
            if claim.is_none() {
                self.withdraw(&signal);
            }
        };
        // Unwound at shutdown, in a destructor: the other parties are being unwound too
        // and will not arrive, so it leaves the round instead of waiting for it.
        if wait_or_unwind(&signal, None, on_unwind).is_err() {
            self.withdraw(&signal);
            return BarrierWaitResult(false);
        }
        Signal::recycle(signal);
        BarrierWaitResult(false)
    }

    /// After a wait that ended without a claim: leaves the round and returns `true`,
    /// or returns `false` if the round completed meanwhile (the leader took the signal
    /// and lost the claim to our abort).
    fn withdraw(&self, signal: &Arc<Signal>) -> bool {
        let mut round = self.round();
        let Some(position) = round.waiting.iter().position(|s| Arc::ptr_eq(s, signal)) else {
            return false;
        };
        round.waiting.swap_remove(position);
        round.arrived -= 1;
        true
    }

    fn round(&self) -> StdGuard<'_, Round> {
        // Nothing panics while this lock is held.
        self.round.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}

impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult").field("is_leader", &self.0).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn threads_meet_with_one_leader_per_round() {
        const PARTIES: usize = 4;
        const ROUNDS: usize = 50;
        let barrier = Arc::new(Barrier::new(PARTIES));
        let threads: Vec<_> = (0..PARTIES)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || (0..ROUNDS).filter(|_| barrier.wait().is_leader()).count())
            })
            .collect();
        let leaders: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(leaders, ROUNDS);
    }

    #[test]
    fn a_barrier_of_zero_or_one_never_waits() {
        assert!(Barrier::new(0).wait().is_leader());
        let one = Barrier::new(1);
        assert!(one.wait().is_leader() && one.wait().is_leader());
        assert_eq!(format!("{:?}", one.wait()), "BarrierWaitResult { is_leader: true }");
    }
}
