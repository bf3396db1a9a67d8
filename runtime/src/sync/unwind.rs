//! Waiting on a [`Signal`] when the wait may never return.
//!
//! At shutdown the runtime unwinds every parked coroutine *from inside its wait*: the
//! stack unwinds out of [`Signal::wait`] without it returning. The signal is still
//! queued and still claimable then, and a claimer could hand a lock or a permit to a
//! coroutine that is gone, or spend the one wakeup of `notify_one` or of an unlock on
//! it. So every primitive waits through [`wait_or_unwind`], which on that unwind
//! aborts the signal (the same CAS that decides against claimers) and lets the
//! primitive clean up: take the entry out of its queue if nobody claimed it, or pass
//! on what a claim that came first handed over.

use std::time::{Duration, Instant};

use super::signal::{Claim, Interrupted, Signal};
use crate::coroutine::running::with_running;

/// [`Signal::wait`], but if the caller is unwound while waiting, `on_unwind` runs
/// (during the unwind, so it must not panic or wait) with `None` if the signal was
/// aborted before any claim, or with the claim that came first, which it must honour.
pub(crate) fn wait_or_unwind(
    signal: &Signal,
    deadline: Option<Instant>,
    on_unwind: impl FnOnce(Option<Claim>),
) -> Result<Claim, Interrupted> {
    let mut guard = OnUnwind { signal, on_unwind: Some(on_unwind) };
    let result = signal.wait(deadline);
    guard.on_unwind = None; // the wait returned: nothing to clean up here
    result
}

/// How long a coroutine that the runtime unwinds at shutdown keeps trying for a lock or
/// a permit. A holder on another worker or on a plain thread lets go within microseconds
/// (that worker is unwinding its coroutines too, and their guards drop); a holder that
/// has not let go by then is parked on this same worker, to be unwound after this
/// coroutine, and never will.
pub(super) const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(1);

/// For a coroutine the runtime unwinds at shutdown, which can no longer park (a
/// suspension during that unwind would restart it): blocks its thread, retrying
/// `attempt` with short sleeps, for up to [`SHUTDOWN_PATIENCE`]. Returns whether
/// `attempt` succeeded.
pub(super) fn retry_while_unwinding(mut attempt: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + SHUTDOWN_PATIENCE;
    let mut pause = Duration::from_micros(10);
    loop {
        if attempt() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(1));
    }
}

/// Whether the calling coroutine is being unwound by its runtime at shutdown, when its
/// waits return at once.
pub(super) fn unwinding_at_shutdown() -> bool {
    with_running(|running| running.is_some_and(|running| running.state().is_cancelled()))
}

/// Whether a loop of waits that return at once because the coroutine is being unwound
/// (a condvar's `wait_while`) should give up: once [`SHUTDOWN_PATIENCE`] has passed
/// since `since` (set on the first call).
pub(super) fn give_up_while_unwinding(since: &mut Option<Instant>) -> bool {
    since.get_or_insert_with(Instant::now).elapsed() >= SHUTDOWN_PATIENCE
}

/// The end of a lock or permit wait that [`retry_while_unwinding`] could not complete.
pub(super) fn held_at_shutdown(what: &str) -> ! {
    panic!(
        "{what}: a coroutine unwound at runtime shutdown waited {SHUTDOWN_PATIENCE:?} for it in a \
         destructor; its holder is parked on the same worker and can never release it"
    )
}

struct OnUnwind<'a, F: FnOnce(Option<Claim>)> {
    signal: &'a Signal,
    on_unwind: Option<F>,
}

impl<F: FnOnce(Option<Claim>)> Drop for OnUnwind<'_, F> {
    fn drop(&mut self) {
        if let Some(on_unwind) = self.on_unwind.take() {
            // The wait never ended: `cancel` is the owner's other way out (it also
            // makes a claimer's late wake miss this coroutine's next wait).
            on_unwind(self.signal.cancel());
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    #[test]
    fn a_returning_wait_runs_no_cleanup() {
        let signal = Signal::new();
        assert!(signal.notify(Claim { index: 0, granted: true }));
        let result = wait_or_unwind(&signal, None, |_| panic!("no unwind happened"));
        assert_eq!(result, Ok(Claim { index: 0, granted: true }));
    }

    #[test]
    fn an_unwind_aborts_the_signal_and_reports_a_claim_that_came_first() {
        // A panic stands for the runtime's forced unwind: a deadline in the past makes
        // the wait return at once, so panic from inside the guard's scope instead.
        let signal = Signal::new();
        let mut seen = None;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _guard = OnUnwind { signal: &signal, on_unwind: Some(|claim| seen = Some(claim)) };
            panic!("unwound while parked");
        }));
        assert!(result.is_err());
        assert_eq!(seen, Some(None), "aborted before any claim");
        assert!(!signal.claim(Claim { index: 0, granted: true }), "claimers skip it now");
    }
}
