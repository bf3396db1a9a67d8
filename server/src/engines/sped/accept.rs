//! Accepting: under the connection cap shared by every loop, and with a pause after
//! errors that retrying at once cannot fix.
//!
//! # The cap
//!
//! A loop takes a [`Permits`] slot *before* `accept`, so at the cap clients stay in
//! the kernel's accept queue, where they cost no descriptor and no state (the
//! coroutine engine takes its permit after `accept`, holding one client; a loop cannot
//! wait there). A loop that finds no slot free records itself as waiting and stops
//! accepting; the next connection to close, on any loop, wakes it through its
//! `mio::Waker`. With one listener per loop this matters: a slot freed on one loop may
//! be the one a client queued on another loop's listener needs.
//!
//! The record and the release race like Dekker's protocol, so all four steps are
//! `SeqCst`: a waiter announces itself and then retries, a releaser frees the slot and
//! then looks for waiters. In the single order of `SeqCst` operations either the retry
//! sees the freed slot or the releaser sees the waiter; no wake-up is lost.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::Shared;
use crate::listen::{ACCEPT_BACKOFF_FIRST, ACCEPT_BACKOFF_MAX, is_transient_accept_error};

/// `max_connections` slots, shared by every loop of a server.
#[derive(Debug)]
pub(super) struct Permits {
    max: usize,
    in_use: AtomicUsize,
    /// Per loop: it found no slot and stopped accepting.
    waiting: Vec<AtomicBool>,
    /// How many `waiting` flags are set: lets a release skip the scan.
    waiters: AtomicUsize,
}

impl Permits {
    pub(super) fn new(max: usize, loops: usize) -> Permits {
        Permits {
            max: max.max(1),
            in_use: AtomicUsize::new(0),
            waiting: (0..loops).map(|_| AtomicBool::new(false)).collect(),
            waiters: AtomicUsize::new(0),
        }
    }

    /// Takes a slot for loop `index`, or records the loop as waiting for one.
    pub(super) fn acquire(&self, index: usize) -> bool {
        if self.try_acquire() {
            return true;
        }
        if !self.waiting[index].swap(true, SeqCst) {
            self.waiters.fetch_add(1, SeqCst);
        }
        // A release between the failed attempt and the record saw no waiter.
        self.try_acquire()
    }

    fn try_acquire(&self) -> bool {
        self.in_use.fetch_update(SeqCst, SeqCst, |n| (n < self.max).then_some(n + 1)).is_ok()
    }

    /// Frees a slot and calls `wake` with each loop that was waiting for one.
    pub(super) fn release(&self, mut wake: impl FnMut(usize)) {
        self.in_use.fetch_sub(1, SeqCst);
        if self.waiters.load(SeqCst) == 0 {
            return;
        }
        for (index, waiting) in self.waiting.iter().enumerate() {
            if waiting.swap(false, SeqCst) {
                self.waiters.fetch_sub(1, SeqCst);
                wake(index);
            }
        }
    }
}

/// One loop's listener and what stops it from accepting.
#[derive(Debug)]
pub(super) struct Acceptor {
    /// `None` once shut down.
    listener: Option<TcpListener>,
    /// The listener reported readable and `accept` has not said `WouldBlock` since:
    /// edge-triggered, it will not be reported again for clients already queued.
    ready: bool,
    /// No slot was free; [`Permits::release`] wakes the loop.
    waiting_for_permit: bool,
    /// After an error: no accept before this.
    paused_until: Option<Instant>,
    backoff: Duration,
}

/// What one [`Acceptor::accept`] call got.
pub(super) enum Accepted {
    /// A client, holding a slot of the cap.
    Client(TcpStream, SocketAddr),
    /// Nothing for now (no client queued, no slot free, or paused).
    Nothing,
    /// A client lost before it was accepted; try again.
    Again,
}

impl Acceptor {
    pub(super) fn new(
        listener: std::net::TcpListener,
        registry: &Registry,
        token: Token,
    ) -> io::Result<Acceptor> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        registry.register(&mut listener, token, Interest::READABLE)?;
        Ok(Acceptor {
            listener: Some(listener),
            ready: true,
            waiting_for_permit: false,
            paused_until: None,
            backoff: ACCEPT_BACKOFF_FIRST,
        })
    }

    pub(super) fn on_readable(&mut self) {
        self.ready = true;
    }

    /// A slot was freed somewhere while this loop waited for one.
    pub(super) fn on_permit_freed(&mut self) {
        self.waiting_for_permit = false;
    }

    /// Whether an accept may find a client now: the listener was reported readable
    /// and nothing holds accepting back.
    pub(super) fn may_accept(&self, now: Instant) -> bool {
        self.listener.is_some()
            && self.ready
            && !self.waiting_for_permit
            && self.paused_until.is_none_or(|until| now >= until)
    }

    /// When a paused acceptor wants the loop to wake.
    pub(super) fn resume_at(&self) -> Option<Instant> {
        self.paused_until.filter(|_| self.listener.is_some() && self.ready)
    }

    /// Accepts one client if [`may_accept`](Self::may_accept), under the cap.
    pub(super) fn accept(&mut self, shared: &Shared, index: usize, now: Instant) -> Accepted {
        let Some(listener) = self.listener.as_ref().filter(|_| self.may_accept(now)) else {
            return Accepted::Nothing;
        };
        self.paused_until = None;
        if !shared.permits.acquire(index) {
            self.waiting_for_permit = true;
            return Accepted::Nothing;
        }
        let accepted = listener.accept();
        if accepted.is_err() {
            shared.release_permit();
        }
        match accepted {
            Ok((stream, peer)) => {
                self.backoff = ACCEPT_BACKOFF_FIRST;
                return Accepted::Client(stream, peer);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.ready = false,
            Err(err) if is_transient_accept_error(&err) => return Accepted::Again,
            Err(err) => {
                tracing::warn!(%err, pause = ?self.backoff, "accept failed; pausing before the next accept");
                self.paused_until = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
        Accepted::Nothing
    }

    /// Stops accepting for good: closing the listener makes the kernel reset the
    /// clients still in its queue, and refuse new ones once every loop closed its own.
    pub(super) fn close(&mut self, registry: &Registry) {
        if let Some(mut listener) = self.listener.take() {
            // Deregistered first: with a listener shared by several loops the descriptor
            // closed here is a duplicate, and epoll forgets a registration only when the
            // last descriptor of the socket closes.
            let _ = registry.deregister(&mut listener);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_without_a_slot_is_woken_by_the_next_release() {
        let permits = Permits::new(1, 2);
        assert!(permits.acquire(0));
        assert!(!permits.acquire(1), "the cap is 1");
        let mut woken = Vec::new();
        permits.release(|index| woken.push(index));
        assert_eq!(woken, [1]);
        assert!(permits.acquire(1));
        permits.release(|index| woken.push(index));
        assert_eq!(woken, [1], "nobody was waiting the second time");
    }
}
