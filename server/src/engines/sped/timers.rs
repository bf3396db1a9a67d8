//! Connection deadlines: a min-heap of `(deadline, connection)` with lazy deletion.
//!
//! A connection's deadline moves on every request and on every bit of send progress;
//! touching the heap each time would cost a push per request and leave a stale entry
//! behind for every move. Instead each connection has at most one entry that counts,
//! the one whose deadline its [`Timer`] remembers as `scheduled`:
//!
//! - moving the deadline *later* (the common case) only writes the new value: the
//!   entry already in the heap wakes the loop early, and is then re-pushed for the
//!   real deadline;
//! - moving it *earlier* pushes a new entry, and the old one becomes stale;
//! - an entry whose connection is gone, or whose deadline is no longer the
//!   `scheduled` one, is dropped when it reaches the top.
//!
//! So a keep-alive connection costs about one heap operation per header timeout, not
//! one per request. Stale entries of closed connections would pile up under a high
//! connection rate until their deadlines pass; [`Timers::compact`] rebuilds the heap
//! once they outnumber the live ones.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// The heap grows to this many entries beyond twice the live connections before it is
/// compacted: a rebuild is linear, so it must be rare.
const SLACK: usize = 1024;

/// A connection's deadline, and the heap entry that wakes the loop for it.
#[derive(Debug)]
pub(super) struct Timer {
    /// When the connection's current state times out.
    pub(super) deadline: Instant,
    /// The deadline of the connection's live heap entry, if it has one.
    scheduled: Option<Instant>,
}

impl Timer {
    pub(super) fn new(deadline: Instant) -> Timer {
        Timer { deadline, scheduled: None }
    }

    pub(super) fn scheduled(&self) -> Option<Instant> {
        self.scheduled
    }

    /// What the heap entry `at`, popped at `now`, means for this timer.
    pub(super) fn fire(&mut self, at: Instant, now: Instant) -> Fire {
        if self.scheduled != Some(at) {
            return Fire::Stale;
        }
        self.scheduled = None;
        if self.deadline <= now { Fire::Due } else { Fire::Early }
    }
}

/// A popped heap entry, judged by [`Timer::fire`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fire {
    /// Not the connection's live entry: dropped.
    Stale,
    /// The deadline moved later since: [`Timers::arm`] it again.
    Early,
    /// The deadline has passed.
    Due,
}

#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl Timers {
    /// Makes sure the heap wakes the loop by `timer.deadline` for connection `key`.
    pub(super) fn arm(&mut self, key: usize, timer: &mut Timer) {
        if timer.scheduled.is_none_or(|at| timer.deadline < at) {
            self.heap.push(Reverse((timer.deadline, key)));
            timer.scheduled = Some(timer.deadline);
        }
    }

    /// The earliest entry, possibly stale: waking for it is at worst early.
    pub(super) fn next_wake(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The next entry due by `now`, for [`Timer::fire`] to judge.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, usize)> {
        match self.heap.peek() {
            Some(&Reverse((at, key))) if at <= now => {
                self.heap.pop();
                Some((at, key))
            }
            _ => None,
        }
    }

    /// Drops the stale entries once they dominate the heap. `scheduled_of` gives the
    /// `scheduled` deadline of a live connection.
    pub(super) fn compact(&mut self, live: usize, scheduled_of: impl Fn(usize) -> Option<Instant>) {
        if self.heap.len() > 2 * live + SLACK {
            self.heap.retain(|Reverse((at, key))| scheduled_of(*key) == Some(*at));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn expired(timers: &mut Timers, now: Instant, slots: &mut [Option<Timer>]) -> Vec<usize> {
        let mut keys = Vec::new();
        while let Some((at, key)) = timers.pop_due(now) {
            let Some(timer) = slots[key].as_mut() else { continue };
            match timer.fire(at, now) {
                Fire::Stale => {}
                Fire::Early => timers.arm(key, timer),
                Fire::Due => keys.push(key),
            }
        }
        keys
    }

    #[test]
    fn a_deadline_moved_later_costs_no_push_and_still_fires() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let mut slots = vec![Some(Timer::new(start + Duration::from_secs(1)))];
        timers.arm(0, slots[0].as_mut().unwrap());
        let timer = slots[0].as_mut().unwrap();
        timer.deadline = start + Duration::from_secs(5);
        timers.arm(0, timer);
        assert_eq!(timers.heap.len(), 1, "moving a deadline later pushes nothing");
        // The old entry wakes the loop early, and the real deadline is re-armed.
        assert!(expired(&mut timers, start + Duration::from_secs(2), &mut slots).is_empty());
        assert_eq!(timers.next_wake(), Some(start + Duration::from_secs(5)));
        assert_eq!(expired(&mut timers, start + Duration::from_secs(5), &mut slots), [0]);
    }

    #[test]
    fn a_deadline_moved_earlier_fires_once() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let mut slots = vec![Some(Timer::new(start + Duration::from_secs(60)))];
        timers.arm(0, slots[0].as_mut().unwrap());
        let timer = slots[0].as_mut().unwrap();
        timer.deadline = start + Duration::from_secs(1);
        timers.arm(0, timer);
        assert_eq!(expired(&mut timers, start + Duration::from_secs(100), &mut slots), [0]);
    }

    #[test]
    fn entries_of_closed_connections_are_dropped_and_compacted() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let mut slots: Vec<Option<Timer>> = (0..3000).map(|_| Some(Timer::new(start))).collect();
        for (key, slot) in slots.iter_mut().enumerate() {
            timers.arm(key, slot.as_mut().unwrap());
        }
        slots.iter_mut().skip(1).for_each(|slot| *slot = None);
        timers.compact(1, |key| slots[key].as_ref().and_then(Timer::scheduled));
        assert_eq!(timers.heap.len(), 1);
        assert_eq!(expired(&mut timers, start, &mut slots), [0]);
    }
}
