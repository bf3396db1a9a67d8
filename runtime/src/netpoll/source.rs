//! The park-on-EAGAIN loop every socket operation goes through.
//!
//! An [`IoSource`] wraps a non-blocking socket. An operation tries the syscall first;
//! only on `EAGAIN` does it involve the netpoller:
//!
//! 1. the first time, register the fd with the poller of the worker running us
//!    (invariant 2: registered once, on the home worker of its first waiter);
//! 2. clear the readiness we observed before the syscall (unless an event came since);
//! 3. publish a waiter unless the fd turned ready meanwhile, then suspend until the
//!    poller, the deadline or shutdown ends the wait; then try the syscall again.
//!
//! While the fd is known not to be ready, the syscall is skipped. A short read or write
//! on a stream means the kernel buffer is drained or full, so readiness is cleared right
//! away and the next call waits without an extra `EAGAIN` round trip.
//!
//! On a plain thread the same object blocks in `poll(2)`, as a std socket would.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::{Direction, Registration};
use crate::coroutine::running;
use crate::coroutine::wait::{self, WaitOutcome};
use crate::sys;

/// A non-blocking socket whose operations park the calling coroutine on `EAGAIN`.
pub(crate) struct IoSource<S: AsFd> {
    // Declared before `io`: fields drop in order, and the fd must leave epoll while it
    // is still open (invariant 2).
    registration: OnceLock<Registration>,
    io: S,
    settings: Arc<Settings>,
}

/// What std keeps per open socket (timeouts, blocking mode), so `try_clone`d handles
/// share it as std's do.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
    nonblocking: AtomicBool,
}

/// `read_timeout`/`write_timeout` value meaning "none".
const NO_TIMEOUT: u64 = 0;

impl<S: AsFd> IoSource<S> {
    /// Wraps `io`, which the caller has already put into non-blocking mode.
    /// `user_nonblocking` is the mode the user asked for (see `set_nonblocking`).
    pub(crate) fn new(io: S, user_nonblocking: bool) -> IoSource<S> {
        let settings = Settings { nonblocking: AtomicBool::new(user_nonblocking), ..Settings::default() };
        IoSource::with_settings(io, Arc::new(settings))
    }

    /// Wraps a clone of another source's socket, sharing its settings.
    pub(crate) fn with_settings(io: S, settings: Arc<Settings>) -> IoSource<S> {
        IoSource { registration: OnceLock::new(), io, settings }
    }

    pub(crate) fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.io
    }

    /// Deregisters (if registered) and returns the socket.
    pub(crate) fn into_inner(self) -> S {
        drop(self.registration);
        self.io
    }

    /// Whether the user asked for `WouldBlock` instead of parking.
    pub(crate) fn is_nonblocking(&self) -> bool {
        self.settings.nonblocking.load(Ordering::Relaxed)
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        self.settings.nonblocking.store(nonblocking, Ordering::Relaxed);
    }

    pub(crate) fn set_timeout(&self, direction: Direction, timeout: Option<Duration>) -> io::Result<()> {
        let nanos = match timeout {
            None => NO_TIMEOUT,
            Some(t) if t.is_zero() => {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
            }
            Some(t) => u64::try_from(t.as_nanos()).unwrap_or(u64::MAX).max(1),
        };
        self.timeout_cell(direction).store(nanos, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn timeout(&self, direction: Direction) -> Option<Duration> {
        match self.timeout_cell(direction).load(Ordering::Relaxed) {
            NO_TIMEOUT => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    fn timeout_cell(&self, direction: Direction) -> &AtomicU64 {
        match direction {
            Direction::Read => &self.settings.read_timeout,
            Direction::Write => &self.settings.write_timeout,
        }
    }

    /// Runs `op` until it does not return `WouldBlock`, parking between attempts.
    /// An expired read/write timeout is `WouldBlock`, as std reports it on Linux.
    pub(crate) fn do_io<R>(
        &self,
        direction: Direction,
        op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        if self.is_nonblocking() {
            return op_once(&self.io, op);
        }
        let timeout = self.timeout(direction);
        self.io_loop(direction, || timeout.map(|t| Instant::now() + t), timed_out_would_block, |_| false, op)
    }

    /// Like `do_io` for stream reads and writes: a transfer shorter than `requested`
    /// means the kernel buffer is empty (read) or full (write).
    pub(crate) fn do_stream_io(
        &self,
        direction: Direction,
        requested: usize,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if self.is_nonblocking() {
            return op_once(&self.io, op);
        }
        let timeout = self.timeout(direction);
        let deadline = || timeout.map(|t| Instant::now() + t);
        self.io_loop(direction, deadline, timed_out_would_block, |&n| n > 0 && n < requested, op)
    }

    /// Runs `op` until it does not return `WouldBlock` or `deadline` passes (then
    /// `TimedOut`), regardless of the socket's timeouts and blocking mode: `connect`.
    pub(crate) fn do_io_until<R>(
        &self,
        direction: Direction,
        deadline: Option<Instant>,
        op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connection timed out");
        self.io_loop(direction, || deadline, timed_out, |_| false, op)
    }

    /// The park-on-EAGAIN loop of the module docs. `deadline` is computed only when a
    /// wait is needed, so the fast path never reads the clock.
    fn io_loop<R>(
        &self,
        direction: Direction,
        deadline: impl FnOnce() -> Option<Instant>,
        timed_out: impl Fn() -> io::Error,
        drained: impl Fn(&R) -> bool,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut deadline = Some(deadline);
        let mut resolved = None;
        let mut wait = |this: &Self| -> io::Result<()> {
            if let Some(compute) = deadline.take() {
                resolved = compute();
            }
            if this.wait_for(direction, resolved)? { Ok(()) } else { Err(timed_out()) }
        };
        loop {
            let in_coroutine = running::in_coroutine();
            let observed = self.registration.get().map(|r| (r, r.state().observe(direction)));
            if in_coroutine && observed.is_some_and(|(_, seen)| !seen.ready) {
                wait(self)?;
                continue;
            }
            match op(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some((registration, seen)) = observed {
                        registration.state().clear_after_eagain(direction, seen);
                    }
                    if !in_coroutine || observed.is_none() {
                        wait(self)?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => {
                    if let (Ok(value), Some((registration, seen))) = (&result, observed)
                        && drained(value)
                    {
                        registration.state().clear_after_short_transfer(direction, seen);
                    }
                    running::consume_budget();
                    return result;
                }
            }
        }
    }

    /// Parks until the fd may be readable (data, end of stream or an error), without
    /// reading: a caller can wait with no buffer and take one only when bytes are there.
    /// Honours the read timeout (then `WouldBlock`, as a read would report it) and the
    /// non-blocking mode (then `WouldBlock` at once when nothing is there).
    ///
    /// "May be": readiness comes from the last event, so a read that follows can still
    /// find nothing (another handle drained it) and must handle that as usual.
    pub(crate) fn wait_readable(&self) -> io::Result<()> {
        let nonblocking = self.is_nonblocking();
        if nonblocking || !running::in_coroutine() {
            let timeout = if nonblocking { Some(Duration::ZERO) } else { self.timeout(Direction::Read) };
            let ready = sys::poll_fd(&self.io, sys::Interest::Read, timeout)?;
            return if ready { Ok(()) } else { Err(timed_out_would_block()) };
        }
        let mut deadline = None;
        let mut resolved = false;
        loop {
            if let Some(registration) = self.registration.get()
                && registration.state().observe(Direction::Read).ready
            {
                return Ok(());
            }
            if !resolved {
                resolved = true;
                deadline = self.timeout(Direction::Read).map(|t| Instant::now() + t);
            }
            // Unregistered: registering makes the poller report the fd's current
            // readiness as its first event, which the next round waits for.
            if !self.wait_for(Direction::Read, deadline)? {
                return Err(timed_out_would_block());
            }
        }
    }

    /// Waits until the fd may be ready for `direction`. Returns `Ok(false)` if `deadline`
    /// passed first. On a coroutine, registers the fd on first use.
    pub(crate) fn wait_for(&self, direction: Direction, deadline: Option<Instant>) -> io::Result<bool> {
        if !running::in_coroutine() {
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let interest = match direction {
                Direction::Read => sys::Interest::Read,
                Direction::Write => sys::Interest::Write,
            };
            return sys::poll_fd(&self.io, interest, timeout);
        }
        let registration = match self.registration.get() {
            Some(r) => r,
            // A fresh registration reports the fd's current readiness as its first
            // event, so whatever arrived before it is not lost: retry and see.
            None => return self.register().map(|()| true),
        };
        if registration.poller().is_closed() {
            return Err(io::Error::other(
                "socket is registered with a hebra runtime that has shut down; \
                 move it with into_std() and from() instead",
            ));
        }
        let state = registration.state();
        let waiter = wait::waiter();
        if !state.add_waiter(direction, waiter.clone()) {
            return Ok(true);
        }
        let mut withdraw = Withdraw { registration, direction, waiter: Some(waiter) };
        match wait::wait(deadline) {
            WaitOutcome::Woken => {
                // The poller took the waiter out of the list when it woke us.
                withdraw.waiter = None;
                Ok(true)
            }
            WaitOutcome::TimedOut => Ok(false),
            WaitOutcome::Cancelled => Err(cancelled()),
        }
    }

    fn register(&self) -> io::Result<()> {
        let poller = crate::scheduler::current_poller().ok_or_else(|| {
            io::Error::other("hebra: a coroutine runs outside its worker thread (this is a bug)")
        })?;
        match Registration::new(self.io.as_fd().as_raw_fd(), &poller) {
            // Losing a race with another coroutine is fine: the winner's stays.
            Ok(registration) => drop(self.registration.set(registration)),
            Err(_) if self.registration.get().is_some() => {}
            Err(err) => return Err(err),
        }
        Ok(())
    }
}

/// Removes a waiter from its fd's list when the wait ends without the poller: by
/// deadline, or by the runtime unwinding the coroutine mid-wait.
struct Withdraw<'a> {
    registration: &'a Registration,
    direction: Direction,
    waiter: Option<wait::Waiter>,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            self.registration.state().remove_waiter(self.direction, &waiter);
        }
    }
}

fn op_once<S, R>(io: &S, mut op: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
    loop {
        match op(io) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

fn timed_out_would_block() -> io::Error {
    io::Error::from_raw_os_error(libc::EAGAIN)
}

pub(crate) fn cancelled() -> io::Error {
    io::Error::other("hebra runtime is shutting down")
}

impl<S: AsFd + std::fmt::Debug> std::fmt::Debug for IoSource<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.io.fmt(f)
    }
}
