//! The connections being served, in one place: the connection cap counts them, and a
//! graceful shutdown finds the idle ones there to close them.
//!
//! # Closing idle connections without a race
//!
//! Between requests a connection's thread blocks in `read`, and only shutting the
//! socket down under it ends that wait early. The shutdown must not cut a request the
//! thread has started reading, nor miss a thread that goes idle just after it looked.
//! Each connection has a phase, and both sides use `SeqCst`, the only ordering that
//! keeps a store before a later load of another location:
//!
//! - the thread, before it waits for a request, stores `IDLE`, then loads
//!   `closing_idle`: if set, it closes instead of reading;
//! - when its read returns, it exchanges `IDLE` for `SERVING`; finding `CLOSED`
//!   instead, it ends, since the shutdown took the socket meanwhile;
//! - the shutdown stores `closing_idle`, then exchanges each `IDLE` for `CLOSED` and
//!   shuts that socket down.
//!
//! In the single order of `SeqCst` operations, either the thread's load comes after
//! the shutdown's store (the thread sees it), or its `IDLE` store comes before the
//! shutdown's exchange (the shutdown sees it). A request is never cut: once `SERVING`,
//! the shutdown leaves the socket alone until its deadline.
//!
//! The registry's lock is taken twice per connection (admitted, gone), never per
//! request: the phase lives in the connection's own atomic.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The thread is reading or answering a request.
const SERVING: u8 = 0;
/// The thread waits for a request, or lingers after an error: the shutdown may close it.
const IDLE: u8 = 1;
/// The shutdown shut the socket down.
const CLOSED: u8 = 2;

pub(super) struct Registry {
    connections: Mutex<Connections>,
    /// Signalled when a connection leaves and when admissions stop.
    changed: Condvar,
    /// Set once the shutdown closes idle connections (see the module docs).
    closing_idle: AtomicBool,
    /// `max_connections`.
    max: usize,
}

#[derive(Default)]
struct Connections {
    open: HashMap<u64, Arc<Socket>>,
    next_id: u64,
    /// No connection is admitted any more: the shutdown started.
    stopped: bool,
}

/// A connection's socket, shared by its thread and the registry (one descriptor: the
/// registry needs no `try_clone`).
struct Socket {
    stream: TcpStream,
    phase: AtomicU8,
}

/// A connection's place in the registry: one of `max_connections`, given back when
/// dropped (the socket closes once its thread is done with it).
pub(super) struct Member {
    registry: Arc<Registry>,
    id: u64,
    socket: Arc<Socket>,
}

impl Registry {
    pub(super) fn new(max: usize) -> Registry {
        Registry {
            connections: Mutex::default(),
            changed: Condvar::new(),
            closing_idle: AtomicBool::new(false),
            max: max.max(1),
        }
    }

    /// Admits `stream` once fewer than `max` connections are open, waiting for one to
    /// leave if needed; `None` (the stream is dropped) once admissions have stopped.
    pub(super) fn admit(self: &Arc<Registry>, stream: TcpStream) -> Option<Member> {
        let mut connections = self.lock();
        while connections.open.len() >= self.max && !connections.stopped {
            connections = self.changed.wait(connections).unwrap_or_else(PoisonError::into_inner);
        }
        if connections.stopped {
            return None;
        }
        let id = connections.next_id;
        connections.next_id += 1;
        let socket = Arc::new(Socket { stream, phase: AtomicU8::new(SERVING) });
        connections.open.insert(id, socket.clone());
        Some(Member { registry: self.clone(), id, socket })
    }

    /// Stops admitting connections, and wakes an acceptor waiting for room or pausing.
    pub(super) fn stop_admitting(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    /// Sleeps for `pause`, or less if admissions stop meanwhile.
    pub(super) fn pause(&self, pause: Duration) {
        let connections = self.lock();
        let _ = self.changed.wait_timeout_while(connections, pause, |connections| !connections.stopped);
    }

    /// Shuts down the socket of every idle connection, now and as others go idle.
    pub(super) fn close_idle(&self) {
        self.closing_idle.store(true, SeqCst);
        for socket in self.lock().open.values() {
            if socket.phase.compare_exchange(IDLE, CLOSED, SeqCst, SeqCst).is_ok() {
                let _ = socket.stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// Waits until no connection is left, or `deadline`; returns how many are left.
    pub(super) fn wait_until_empty(&self, deadline: Instant) -> usize {
        let mut connections = self.lock();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if connections.open.is_empty() || left.is_zero() {
                return connections.open.len();
            }
            connections =
                self.changed.wait_timeout(connections, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Shuts down every socket left: the threads' blocked reads and writes fail, and
    /// they end on their own.
    pub(super) fn close_all(&self) {
        for socket in self.lock().open.values() {
            socket.phase.store(CLOSED, SeqCst);
            let _ = socket.stream.shutdown(Shutdown::Both);
        }
    }

    /// The lock, even if a thread panicked holding it: every update under it is a
    /// single step, so the state is consistent.
    fn lock(&self) -> MutexGuard<'_, Connections> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Member {
    pub(super) fn stream(&self) -> &TcpStream {
        &self.socket.stream
    }

    /// Before waiting for a request (or lingering): from now on the shutdown may close
    /// the socket. False when the shutdown is closing idle connections: close instead.
    pub(super) fn idle(&self) -> bool {
        self.socket.phase.store(IDLE, SeqCst);
        !self.registry.closing_idle.load(SeqCst)
    }

    /// After the wait: false if the shutdown closed the socket meanwhile.
    pub(super) fn serving(&self) -> bool {
        self.socket.phase.compare_exchange(IDLE, SERVING, SeqCst, SeqCst).is_ok()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.registry.lock().open.remove(&self.id);
        self.registry.changed.notify_all();
    }
}
