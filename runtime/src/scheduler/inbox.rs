//! A worker's inbox: what other threads hand it (wakes of its coroutines, coroutines
//! pinned to it).
//!
//! The queue itself is crossbeam's `SegQueue`. Next to it sits one flag, on its own
//! cache line, set after every push and cleared by the worker before it drains. An idle
//! worker spinning for a hand-off watches only that line; watching the queue would keep
//! the queue's head, tail and slot lines bouncing between the spinner and the pusher,
//! which made every hand-off between workers several times slower.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;

use super::Incoming;

pub(crate) struct Inbox {
    queue: SegQueue<Incoming>,
    pending: CachePadded<AtomicBool>,
}

impl Inbox {
    pub(crate) fn new() -> Inbox {
        Inbox { queue: SegQueue::new(), pending: CachePadded::new(AtomicBool::new(false)) }
    }

    /// Any thread. The caller then fences and checks whether the worker sleeps.
    pub(crate) fn push(&self, incoming: Incoming) {
        self.queue.push(incoming);
        self.pending.store(true, Ordering::Release);
    }

    /// Whether something may be waiting. Never false while an item is queued and its
    /// push has finished; may be true for a moment after the queue was drained.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// The worker takes everything queued. The flag goes first: a push that lands after
    /// it is cleared sets it again, so nothing is left unseen.
    pub(crate) fn drain(&self, mut f: impl FnMut(Incoming)) {
        if !self.has_pending() {
            return;
        }
        self.pending.store(false, Ordering::Relaxed);
        // SeqCst fence: order the clear before the pops, against a push that sets the
        // flag after its item went in (that push is then seen by the pops, or its flag
        // by the next look).
        std::sync::atomic::fence(Ordering::SeqCst);
        while let Some(incoming) = self.queue.pop() {
            f(incoming);
        }
    }

    /// Shutdown: take whatever is queued, from any thread.
    pub(crate) fn pop(&self) -> Option<Incoming> {
        self.queue.pop()
    }
}
