//! The poll loop: one `mio::Poll`, one listener, the connections accepted from it.
//!
//! Each turn:
//!
//! 1. `poll`, for at most the time to the next deadline (zero if work is left over);
//! 2. every event: a connection is driven until it would block or spends its budget;
//! 3. the ready-again list: connections that spent their budget last turn with work
//!    left. Edge-triggered epoll will not report them again, so the loop must
//!    remember them; serving them after the others' events is what makes the budget
//!    fair;
//! 4. accepting, if the listener has clients queued and the cap allows, up to
//!    [`ACCEPTS_PER_TURN`];
//! 5. deadlines that passed ([`Timers`]).
//!
//! A connection is closed by dropping it: closing the descriptor removes it from the
//! epoll set, so no `epoll_ctl` is spent on it (nginx skips it too).

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::Shared;
use super::accept::{Accepted, Acceptor};
use super::buffers::Buffers;
use super::connection::{Connection, Context, Progress};
use super::timers::{Fire, Timers};
use crate::access_log::AccessLogSender;

const LISTENER: Token = Token(usize::MAX - 1);
/// The loop's `mio::Waker`: a shutdown, or a slot of the cap freed on another loop.
pub(super) const WAKER: Token = Token(usize::MAX - 2);
/// Events taken from the kernel per `poll`.
const EVENTS: usize = 1024;
/// Clients accepted per turn, so a flood of connects cannot starve the connections
/// already served.
const ACCEPTS_PER_TURN: usize = 64;

pub(super) struct EventLoop {
    index: usize,
    poll: Poll,
    shared: Arc<Shared>,
    log: Option<AccessLogSender>,
    acceptor: Acceptor,
    connections: Slab<Connection>,
    timers: Timers,
    /// The ready-again list, and its spare for the turn that serves it.
    ready: Vec<usize>,
    serving: Vec<usize>,
    buffers: Buffers,
    /// Connections in the middle of an exchange: a graceful shutdown waits for them.
    busy: usize,
    /// When a graceful shutdown under way gives up waiting.
    stopping: Option<Instant>,
}

/// Why a connection is driven.
enum Action<'e> {
    Event(&'e Event),
    ReadyAgain,
    Expire,
}

impl EventLoop {
    /// Loop `index` of the server, on `poll` (whose waker is `Shared`'s `index`th).
    pub(super) fn new(
        index: usize,
        poll: Poll,
        listener: std::net::TcpListener,
        shared: Arc<Shared>,
        log: Option<AccessLogSender>,
    ) -> io::Result<EventLoop> {
        let acceptor = Acceptor::new(listener, poll.registry(), LISTENER)?;
        Ok(EventLoop {
            index,
            poll,
            shared,
            log,
            acceptor,
            connections: Slab::new(),
            timers: Timers::default(),
            ready: Vec::new(),
            serving: Vec::new(),
            buffers: Buffers::new(),
            busy: 0,
            stopping: None,
        })
    }

    /// Serves until a graceful shutdown has finished.
    pub(super) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS);
        loop {
            let now = Instant::now();
            if self.stopping.is_none() && self.shared.shutdown.is_requested() {
                self.begin_shutdown(now);
            }
            if let Some(deadline) = self.stopping {
                if self.busy == 0 {
                    return Ok(());
                }
                if now >= deadline {
                    tracing::warn!(
                        requests = self.busy,
                        "shutdown deadline passed; closing requests still in flight"
                    );
                    return Ok(());
                }
            }
            match self.poll.poll(&mut events, self.poll_timeout(now)) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
            let now = Instant::now();
            for event in &events {
                match event.token() {
                    WAKER => self.on_wake(now),
                    LISTENER => self.acceptor.on_readable(),
                    Token(key) => self.dispatch(key, now, Action::Event(event)),
                }
            }
            self.serve_ready_again(now);
            self.accept(now);
            self.expire(now);
        }
    }

    /// Zero while work is left over; else until the next deadline, if any. (mio rounds
    /// a sub-millisecond timeout up, so a close deadline cannot spin the loop.)
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.ready.is_empty() || self.acceptor.may_accept(now) {
            return Some(Duration::ZERO);
        }
        [self.timers.next_wake(), self.acceptor.resume_at(), self.stopping]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(now))
    }

    fn on_wake(&mut self, now: Instant) {
        if self.stopping.is_none() && self.shared.shutdown.is_requested() {
            self.begin_shutdown(now);
        }
        // Possibly a slot freed on another loop: try again (at worst, wait again).
        self.acceptor.on_permit_freed();
    }

    fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPTS_PER_TURN {
            match self.acceptor.accept(&self.shared, self.index, now) {
                Accepted::Client(stream, peer) => self.add(stream, peer, now),
                Accepted::Again => {}
                Accepted::Nothing => return,
            }
        }
    }

    fn add(&mut self, mut stream: TcpStream, peer: SocketAddr, now: Instant) {
        let entry = self.connections.vacant_entry();
        let key = entry.key();
        let registered =
            self.poll.registry().register(&mut stream, Token(key), Interest::READABLE | Interest::WRITABLE);
        if let Err(err) = registered {
            tracing::warn!(%err, "cannot watch a new connection; closing it");
            self.shared.release_permit();
            return;
        }
        let mut connection = Connection::new(stream, peer.ip(), now + self.shared.config.header_timeout);
        self.timers.arm(key, &mut connection.timer);
        entry.insert(connection);
    }

    fn dispatch(&mut self, key: usize, now: Instant, action: Action<'_>) {
        let Some(connection) = self.connections.get_mut(key) else { return };
        let mut cx = Context {
            shared: &self.shared,
            log: self.log.as_ref(),
            buffers: &mut self.buffers,
            now,
            stopping: self.stopping.is_some(),
        };
        let was_busy = connection.is_busy();
        let progress = match action {
            Action::Event(event) => {
                connection.on_event(event);
                connection.drive(&mut cx)
            }
            Action::ReadyAgain => connection.drive(&mut cx),
            Action::Expire => connection.expire(&mut cx),
        };
        let is_busy = progress != Progress::Close && connection.is_busy();
        match (was_busy, is_busy) {
            (false, true) => self.busy += 1,
            (true, false) => self.busy -= 1,
            _ => {}
        }
        match progress {
            Progress::Close => self.close(key),
            Progress::Wait => self.timers.arm(key, &mut connection.timer),
            Progress::Yield => {
                self.timers.arm(key, &mut connection.timer);
                if !connection.queued {
                    connection.queued = true;
                    self.ready.push(key);
                }
            }
        }
    }

    /// Drives the connections that spent their budget last turn. One closed since
    /// may have left its key to a new connection, which is then driven for nothing.
    fn serve_ready_again(&mut self, now: Instant) {
        let mut serving = mem::replace(&mut self.ready, mem::take(&mut self.serving));
        for key in serving.drain(..) {
            if let Some(connection) = self.connections.get_mut(key) {
                connection.queued = false;
                self.dispatch(key, now, Action::ReadyAgain);
            }
        }
        self.serving = serving;
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, key)) = self.timers.pop_due(now) {
            let Some(connection) = self.connections.get_mut(key) else { continue };
            match connection.timer.fire(at, now) {
                Fire::Stale => {}
                Fire::Early => self.timers.arm(key, &mut connection.timer),
                Fire::Due => self.dispatch(key, now, Action::Expire),
            }
        }
        let connections = &self.connections;
        self.timers.compact(connections.len(), |key| connections.get(key)?.timer.scheduled());
    }

    fn close(&mut self, key: usize) {
        if self.connections.try_remove(key).is_some() {
            self.shared.release_permit();
        }
    }

    /// Stops accepting and closes the idle connections; the busy ones finish their
    /// exchange, answering `Connection: close`, and close.
    fn begin_shutdown(&mut self, now: Instant) {
        self.stopping = Some(now + self.shared.config.shutdown_timeout);
        self.acceptor.close(self.poll.registry());
        let idle: Vec<usize> = self
            .connections
            .iter()
            .filter(|(_, connection)| connection.is_idle())
            .map(|(key, _)| key)
            .collect();
        for key in idle {
            self.close(key);
        }
    }
}
