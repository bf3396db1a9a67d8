//! The server on hebra: one coroutine per connection, written as plain sequential
//! code (read a request, answer it, repeat) that parks wherever it would block.
//!
//! | file | mechanism |
//! |---|---|
//! | `accept.rs` | an acceptor coroutine per listener, and a coroutine per connection under the connection cap |
//! | `connection.rs` | the engine's side of a connection (`sequential.rs` answers): the wait for a request with no buffer held, the stack shrunk while idle, the `busy` count |
//! | `buffers.rs` | per-worker pools of input and output buffers |
//! | `hebra_fs.rs` | [`Fs`](crate::files::Fs) on `hebra::fs`: disk waits move to the helper pool |
//!
//! # Accepting
//!
//! Each worker has its own `SO_REUSEPORT` listener and an acceptor coroutine pinned to
//! it, so the kernel hashes every new connection to exactly one worker: no accept
//! wakes a second thread (the thundering herd), and no lock is shared between
//! acceptors. A connection's coroutine stays on its acceptor's worker. Measured
//! against one acceptor handing connections to every worker: the same rate with
//! keep-alive, 3-4% more connections per second with a connection per request. A server
//! given a single listener ([`Server::from_listener`](crate::Server::from_listener))
//! runs one acceptor and lets idle workers steal its fresh connections.
//!
//! # Shutdown
//!
//! 1. the acceptors stop: their listeners are shut down for reading, which wakes a
//!    parked `accept` with an error on Linux, and the kernel resets connections still
//!    in the accept queue;
//! 2. connections in the middle of a request finish it, answering with
//!    `Connection: close`; the main coroutine waits until none is busy, or
//!    `shutdown_timeout`;
//! 3. the runtime is dropped, which unwinds every coroutine still parked (idle
//!    keep-alive connections waiting for a request, and whatever outlived the
//!    deadline); their sockets close as they unwind.

mod accept;
mod buffers;
mod connection;
mod hebra_fs;

use std::io;
use std::net::{Shutdown, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hebra::chan::{self, Receiver, Sender};

use self::hebra_fs::HebraFs;
use crate::access_log::{AccessLog, AccessLogSender};
use crate::{Config, ShutdownHandle};

/// What every connection of one server shares.
struct Shared {
    config: Config,
    fs: HebraFs,
    log: Option<AccessLogSender>,
    shutdown: ShutdownHandle,
    /// Connections in the middle of a request (graceful shutdown waits for them).
    busy: AtomicUsize,
    /// One token per connection allowed (`max_connections`): an acceptor takes one
    /// before accepting, and a connection gives it back when it closes.
    permits: (Sender<()>, Receiver<()>),
}

/// How often the shutdown checks whether in-flight requests are done.
const DRAIN_POLL: Duration = Duration::from_millis(5);

pub(crate) fn run(config: Config, listeners: Vec<TcpListener>, shutdown: ShutdownHandle) -> io::Result<()> {
    let runtime = hebra::Builder::new().workers(config.worker_count()).build()?;
    let fs = HebraFs::open(&config.root, config.files.follow_symlinks)?;
    let log = config.access_log.as_ref().map(AccessLog::start).transpose()?;
    let shutdown_timeout = config.shutdown_timeout;
    let permits = chan::bounded(config.max_connections.max(1));
    for _ in 0..config.max_connections.max(1) {
        let _ = permits.0.try_send(());
    }
    let shared = Arc::new(Shared {
        config,
        fs,
        log: log.as_ref().map(AccessLog::sender),
        shutdown,
        busy: AtomicUsize::new(0),
        permits,
    });
    let served = runtime.block_on(move || serve(shared, listeners));
    // Unwinds the idle connections and anything past the deadline (step 3).
    drop(runtime);
    if let Some(log) = log {
        log.finish(shutdown_timeout);
    }
    served
}

/// The main coroutine: starts the acceptors, waits for the shutdown request, drains.
fn serve(shared: Arc<Shared>, listeners: Vec<TcpListener>) -> io::Result<()> {
    let workers = hebra::workers();
    // One listener per worker: each keeps its connections; a single one relies on
    // stealing to spread them.
    let per_worker = listeners.len() == workers;
    let mut stoppers = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        stoppers.push(listener.try_clone()?);
        let shared = shared.clone();
        let home = per_worker.then_some(index);
        hebra::coroutine::Builder::new()
            .name(format!("acceptor-{index}"))
            .worker(index % workers)
            .spawn(move || accept::accept_loop(hebra::net::TcpListener::from(listener), &shared, home))?;
    }
    shared.shutdown.wait();
    tracing::info!("shutdown: no longer accepting; finishing in-flight requests");
    for listener in &stoppers {
        let _ = socket2::SockRef::from(listener).shutdown(Shutdown::Read);
    }
    let deadline = Instant::now() + shared.config.shutdown_timeout;
    while shared.busy.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        hebra::sleep(DRAIN_POLL);
    }
    let left = shared.busy.load(Ordering::Acquire);
    if left > 0 {
        tracing::warn!(requests = left, "shutdown deadline passed; closing requests still in flight");
    }
    Ok(())
}
