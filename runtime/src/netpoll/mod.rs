//! The netpoller: one `mio::Poll` (epoll) per worker.
//!
//! - `registration.rs`: per-fd readiness and waiters, generation-tagged tokens,
//!   registering once on the home worker's poller and deregistering before close.
//! - `source.rs`: the park-on-EAGAIN loop every socket operation goes through.
//! - this file: the worker's side: polling, dispatching events to waiters, the waker
//!   that interrupts `epoll_wait` when another thread hands the worker something.
//!
//! Registration is edge-triggered for read and write at once (mio is edge-triggered on
//! Linux), so an fd is registered exactly once and never re-armed.

mod registration;
mod source;

pub(crate) use registration::{Direction, IoState, Registration};
pub(crate) use source::IoSource;

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::{Events, Poll, Token, Waker};

use crate::coroutine::wait::Waiter;
use registration::Sources;

/// Token of the waker; registrations use slab keys, which never reach it.
const WAKER: Token = Token(usize::MAX);
const EVENTS_CAPACITY: usize = 1024;

/// The part of a poller any thread may use: register, deregister, wake.
pub(crate) struct PollerShared {
    registry: mio::Registry,
    waker: Waker,
    sources: Mutex<Sources>,
    /// Set when the worker stops: its events will never be read again.
    closed: AtomicBool,
}

impl PollerShared {
    /// Interrupts the worker's `epoll_wait`.
    pub(crate) fn wake(&self) {
        if let Err(err) = self.waker.wake() {
            tracing::warn!(%err, "could not wake a worker's poller");
        }
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for PollerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollerShared").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

/// A worker's poller; only its worker thread polls it.
pub(crate) struct Poller {
    poll: RefCell<Poll>,
    events: RefCell<Events>,
    shared: Arc<PollerShared>,
    /// Reused buffers: sources with events, and the waiters they wake.
    ready: RefCell<Vec<(Arc<IoState>, usize)>>,
    woken: RefCell<Vec<Waiter>>,
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let shared = Arc::new(PollerShared {
            registry,
            waker,
            sources: Mutex::new(Sources::default()),
            closed: AtomicBool::new(false),
        });
        Ok(Poller {
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(EVENTS_CAPACITY)),
            shared,
            ready: RefCell::new(Vec::new()),
            woken: RefCell::new(Vec::new()),
        })
    }

    pub(crate) fn shared(&self) -> &Arc<PollerShared> {
        &self.shared
    }

    /// Waits up to `timeout` (`None`: forever) for events and wakes their waiters.
    /// Returns how many sources had events. Sub-millisecond timeouts are rounded up by
    /// mio, so a near deadline never turns into a busy loop.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> usize {
        let mut events = self.events.borrow_mut();
        if let Err(err) = self.poll.borrow_mut().poll(&mut events, timeout) {
            if err.kind() != io::ErrorKind::Interrupted {
                tracing::warn!(%err, "epoll_wait failed");
            }
            return 0;
        }
        if events.is_empty() {
            return 0;
        }
        let mut ready = self.ready.borrow_mut();
        {
            let sources = self.shared.sources.lock().unwrap_or_else(|e| e.into_inner());
            for event in events.iter().filter(|e| e.token() != WAKER) {
                if let Some(state) = sources.get(event.token()) {
                    ready.push((state.clone(), registration::readiness_of(event)));
                }
            }
        }
        drop(events);
        let count = ready.len();
        let mut woken = std::mem::take(&mut *self.woken.borrow_mut());
        for (state, bits) in ready.drain(..) {
            state.set_readiness(bits, &mut woken);
        }
        drop(ready);
        // Wake with no borrow held: a wake runs scheduler code on this thread.
        for waiter in woken.drain(..) {
            waiter.wake();
        }
        *self.woken.borrow_mut() = woken;
        count
    }
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller").field("shared", &self.shared).finish_non_exhaustive()
    }
}
