//! Per-fd readiness and waiters, and the registration that ties an fd to one poller.
//!
//! # Readiness
//!
//! `IoState::readiness` packs the readiness bits (low byte) with a *tick* (the rest) that
//! the poller increments on every event for the fd. A coroutine that saw "ready" at tick
//! `t`, tried the syscall and got `EAGAIN` clears the bit only if the tick is still `t`:
//! an event that arrived after its observation is never thrown away. This is the
//! "clear readiness, try the syscall" half of invariant 3; the other half (publish the
//! waiter, then re-check) is `add_waiter`, which checks readiness under the same lock
//! the poller takes to collect waiters.
//!
//! # Tokens
//!
//! A token is a slab key in the low 32 bits and a generation in the high 32 bits. An
//! event that was already read from epoll for a source that has since been deregistered
//! (and whose key was reused) carries the old generation and is ignored.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::{fmt, io};

use mio::unix::SourceFd;
use mio::{Interest, Token};
use slab::Slab;

use super::PollerShared;
use crate::coroutine::wait::Waiter;

const READABLE: usize = 1 << 0;
const WRITABLE: usize = 1 << 1;
const READ_CLOSED: usize = 1 << 2;
const WRITE_CLOSED: usize = 1 << 3;
const ERROR: usize = 1 << 4;
const READINESS_MASK: usize = 0xff;
const TICK_ONE: usize = 1 << 8;

/// Which way a caller waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    /// Readiness bits that let an operation in this direction make progress (an error
    /// or a close does: the syscall then returns it instead of `EAGAIN`).
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }
}

/// Readiness of one direction as observed at one tick.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Observed {
    pub(crate) ready: bool,
    word: usize,
}

/// Readiness bits of one mio event.
pub(crate) fn readiness_of(event: &mio::event::Event) -> usize {
    let mut bits = 0;
    for (yes, bit) in [
        (event.is_readable(), READABLE),
        (event.is_writable(), WRITABLE),
        (event.is_read_closed(), READ_CLOSED),
        (event.is_write_closed(), WRITE_CLOSED),
        (event.is_error(), ERROR),
    ] {
        if yes {
            bits |= bit;
        }
    }
    bits
}

#[derive(Default)]
struct Waiters {
    read: Vec<Waiter>,
    write: Vec<Waiter>,
}

impl Waiters {
    fn list(&mut self, direction: Direction) -> &mut Vec<Waiter> {
        match direction {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        }
    }
}

/// Readiness and waiters of one registered fd, shared by the poller and the socket.
pub(crate) struct IoState {
    token: Token,
    readiness: AtomicUsize,
    waiters: Mutex<Waiters>,
}

impl IoState {
    pub(crate) fn observe(&self, direction: Direction) -> Observed {
        // Acquire: pairs with the poller's Release in `set_readiness`.
        let word = self.readiness.load(Ordering::Acquire);
        Observed { ready: word & direction.mask() != 0, word }
    }

    /// After `EAGAIN`: clears `direction`'s readiness unless an event arrived since
    /// `seen`.
    ///
    /// Every bit that let the direction through goes, the close and error bits too:
    /// `EAGAIN` is the kernel saying "not now" with authority. A sticky error bit would
    /// otherwise turn a connected UDP socket whose ICMP error was already reported into
    /// a busy loop of "ready" and `EAGAIN`.
    pub(crate) fn clear_after_eagain(&self, direction: Direction, seen: Observed) {
        self.clear_bits(direction.mask(), seen);
    }

    /// After a short stream transfer: the kernel buffer was drained (or filled), so the
    /// next call should wait rather than try. Only the plain readiness bit goes: a close
    /// or an error that came with the last bytes must still be seen (a FIN often
    /// arrives in the same event as the data before it).
    pub(crate) fn clear_after_short_transfer(&self, direction: Direction, seen: Observed) {
        let bit = match direction {
            Direction::Read => READABLE,
            Direction::Write => WRITABLE,
        };
        self.clear_bits(bit, seen);
    }

    fn clear_bits(&self, bits: usize, seen: Observed) {
        // A failed exchange means the tick moved on: keep the newer readiness.
        let _ = self.readiness.compare_exchange(
            seen.word,
            seen.word & !bits,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Poller side: records an event and collects the waiters it lets progress.
    pub(crate) fn set_readiness(&self, bits: usize, woken: &mut Vec<Waiter>) {
        // Release: a coroutine that observes the new bits (Acquire) retries its syscall
        // after the kernel made the fd ready. The tick wraps harmlessly.
        let _ = self.readiness.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            Some((word & !READINESS_MASK).wrapping_add(TICK_ONE) | (word | bits) & READINESS_MASK)
        });
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        for direction in [Direction::Read, Direction::Write] {
            if bits & direction.mask() != 0 {
                woken.append(waiters.list(direction));
            }
        }
    }

    /// Publishes `waiter` for `direction` unless the fd became ready since the caller
    /// last observed it (in which case the caller retries and `false` is returned).
    pub(crate) fn add_waiter(&self, direction: Direction, waiter: Waiter) -> bool {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if self.observe(direction).ready {
            return false;
        }
        waiters.list(direction).push(waiter);
        true
    }

    /// Withdraws a waiter whose wait ended another way (deadline, cancellation).
    pub(crate) fn remove_waiter(&self, direction: Direction, waiter: &Waiter) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let list = waiters.list(direction);
        if let Some(i) = list.iter().position(|w| w.same_wait(waiter)) {
            list.swap_remove(i);
        }
    }
}

impl fmt::Debug for IoState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoState")
            .field("token", &self.token)
            .field("readiness", &(self.readiness.load(Ordering::Relaxed) & READINESS_MASK))
            .finish_non_exhaustive()
    }
}

/// The registered sources of one poller, by token.
#[derive(Default)]
pub(crate) struct Sources {
    slab: Slab<Arc<IoState>>,
    generation: u32,
}

impl Sources {
    pub(crate) fn get(&self, token: Token) -> Option<&Arc<IoState>> {
        self.slab.get(token.0 & u32::MAX as usize).filter(|state| state.token == token)
    }
}

/// An fd registered with one poller; deregisters on drop, which must come before the
/// fd is closed.
pub(crate) struct Registration {
    state: Arc<IoState>,
    poller: Arc<PollerShared>,
    fd: RawFd,
}

impl Registration {
    /// Registers `fd` for read and write readiness, edge-triggered, with `poller`.
    pub(crate) fn new(fd: RawFd, poller: &Arc<PollerShared>) -> io::Result<Registration> {
        let state = {
            let mut sources = poller.sources.lock().unwrap_or_else(|e| e.into_inner());
            sources.generation = sources.generation.wrapping_add(1);
            let generation = sources.generation as usize;
            let entry = sources.slab.vacant_entry();
            if entry.key() > u32::MAX as usize {
                return Err(io::Error::other("too many sockets registered with one worker"));
            }
            let token = Token(generation << 32 | entry.key());
            let state =
                Arc::new(IoState { token, readiness: AtomicUsize::new(0), waiters: Mutex::default() });
            entry.insert(state.clone());
            state
        };
        let registration = Registration { state, poller: poller.clone(), fd };
        // On failure `registration` drops here and takes the slab entry with it.
        poller.registry.register(
            &mut SourceFd(&fd),
            registration.state.token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        tracing::trace!(fd, token = registration.state.token.0, "registered with netpoller");
        Ok(registration)
    }

    pub(crate) fn state(&self) -> &IoState {
        &self.state
    }

    pub(crate) fn poller(&self) -> &Arc<PollerShared> {
        &self.poller
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Deregistering an fd whose registration failed is an expected ENOENT.
        let _ = self.poller.registry.deregister(&mut SourceFd(&self.fd));
        let mut sources = self.poller.sources.lock().unwrap_or_else(|e| e.into_inner());
        let key = self.state.token.0 & u32::MAX as usize;
        if sources.get(self.state.token).is_some() {
            sources.slab.remove(key);
        }
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration").field("fd", &self.fd).field("state", &self.state).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::coroutine::wait::ThreadParker;

    fn state() -> IoState {
        IoState { token: Token(0), readiness: AtomicUsize::new(0), waiters: Mutex::default() }
    }

    #[test]
    fn eagain_clears_sticky_error_and_close_bits_unless_an_event_came_since() {
        let state = state();
        let mut woken = Vec::new();
        state.set_readiness(READABLE | ERROR | READ_CLOSED, &mut woken);
        let seen = state.observe(Direction::Read);
        assert!(seen.ready);
        state.clear_after_eagain(Direction::Read, seen);
        assert!(!state.observe(Direction::Read).ready, "EAGAIN is authoritative");

        state.set_readiness(READABLE, &mut woken);
        let seen = state.observe(Direction::Read);
        state.set_readiness(READABLE, &mut woken);
        state.clear_after_eagain(Direction::Read, seen);
        assert!(state.observe(Direction::Read).ready, "an event after the observation survives");
    }

    #[test]
    fn a_short_read_keeps_a_close_that_came_with_the_data() {
        let state = state();
        state.set_readiness(READABLE | READ_CLOSED, &mut Vec::new());
        state.clear_after_short_transfer(Direction::Read, state.observe(Direction::Read));
        assert!(state.observe(Direction::Read).ready, "the FIN is still to be read");
    }

    #[test]
    fn events_wake_every_waiter_of_their_direction_only() {
        let state = state();
        let waiter = || Waiter::Thread(std::sync::Arc::new(ThreadParker::new()));
        assert!(state.add_waiter(Direction::Read, waiter()));
        assert!(state.add_waiter(Direction::Read, waiter()));
        assert!(state.add_waiter(Direction::Write, waiter()));
        let mut woken = Vec::new();
        state.set_readiness(READABLE, &mut woken);
        assert_eq!(woken.len(), 2, "both readers, not the writer");
        assert!(!state.add_waiter(Direction::Read, waiter()), "ready now: retry instead of waiting");
        woken.clear();
        state.set_readiness(ERROR, &mut woken);
        assert_eq!(woken.len(), 1, "an error lets the writer through too");
    }
}
