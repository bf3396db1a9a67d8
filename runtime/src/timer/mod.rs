//! Per-worker timers: the deadlines of `sleep`, `park_timeout` and socket timeouts.
//!
//! A timer belongs to the worker whose coroutine armed it and fires on that worker, so
//! the structure is plain single-threaded data. Every wait with a deadline arms one timer
//! and cancels it when the coroutine resumes for another reason; with a socket timeout on
//! every read that is one insert and one remove per wait, so both must be cheap and a
//! cancelled timer must not linger. An ordered map keyed by (deadline, sequence number)
//! gives exactly that in O(log n), with the earliest deadline first; keys never repeat,
//! so cancelling a timer that already fired is a harmless miss.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::coroutine::wait::Waiter;

/// Names one armed timer, to cancel it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    deadline: Instant,
    seq: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    armed: BTreeMap<TimerKey, Waiter>,
    next_seq: u64,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers::default()
    }

    /// Arms a timer that takes `waiter`'s wait (as timed out) at `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant, waiter: Waiter) -> TimerKey {
        let key = TimerKey { deadline, seq: self.next_seq };
        self.next_seq += 1;
        self.armed.insert(key, waiter);
        key
    }

    /// Disarms a timer; does nothing if it already fired.
    pub(crate) fn cancel(&mut self, key: TimerKey) {
        self.armed.remove(&key);
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.armed.first_key_value().map(|(key, _)| key.deadline)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }

    /// Removes the timers due at `now` into `due`, earliest first. The caller wakes them
    /// after releasing its borrow of `self`, since a wake may arm or cancel timers.
    pub(crate) fn take_due(&mut self, now: Instant, due: &mut Vec<Waiter>) {
        while let Some(entry) = self.armed.first_entry() {
            if entry.key().deadline > now {
                break;
            }
            due.push(entry.remove());
        }
    }

    /// Drops every timer (runtime shutdown).
    pub(crate) fn clear(&mut self) {
        self.armed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coroutine::wait::ThreadParker;
    use std::time::Duration;

    fn waiter() -> Waiter {
        Waiter::Thread(ThreadParker::current())
    }

    #[test]
    fn fires_in_deadline_order_and_skips_cancelled() {
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let late = timers.insert(t0 + Duration::from_millis(30), waiter());
        let early = timers.insert(t0 + Duration::from_millis(10), waiter());
        let cancelled = timers.insert(t0 + Duration::from_millis(20), waiter());
        timers.cancel(cancelled);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(10)));
        let mut due = Vec::new();
        timers.take_due(t0 + Duration::from_millis(25), &mut due);
        assert_eq!(due.len(), 1, "only the early one is due; the cancelled one is gone");
        timers.cancel(early);
        assert_eq!(timers.next_deadline(), Some(late.deadline));
        timers.take_due(t0 + Duration::from_secs(1), &mut due);
        assert_eq!(due.len(), 2);
        assert!(timers.is_empty());
    }

    #[test]
    fn equal_deadlines_are_distinct_timers() {
        let mut timers = Timers::new();
        let t = Instant::now();
        let a = timers.insert(t, waiter());
        let b = timers.insert(t, waiter());
        assert_ne!(a, b);
        timers.cancel(a);
        let mut due = Vec::new();
        timers.take_due(t, &mut due);
        assert_eq!(due.len(), 1);
    }
}
