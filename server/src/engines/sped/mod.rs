//! Flash's single-process event-driven model (SPED; Pai, Druschel and Zwaenepoel,
//! USENIX 1999): one thread, one `mio` poll loop, and a state machine per connection
//! that the loop advances whenever its socket is ready. Disk work (open, `fstat`,
//! `pread`, `sendfile`) runs inline on the loop thread through [`StdFs`], as in SPED:
//! a file that is not in the page cache stalls every connection for as long as the
//! disk takes. That cost is part of what comparing it with the coroutine engine shows.
//!
//! | file | mechanism |
//! |---|---|
//! | `event_loop.rs` | the poll loop: events, the ready-again list, accepting, deadlines, shutdown |
//! | `connection.rs` | one connection's states: head, body, send, linger |
//! | `send.rs` | a response on the wire: head and small files in one write, `sendfile` for the rest |
//! | `accept.rs` | accepting under the connection cap shared by all loops; backoff after errors |
//! | `buffers.rs` | per-loop pools that lend input (the engines' `Input`) and output buffers only while in use |
//! | `timers.rs` | deadlines in a heap with lazy deletion |
//!
//! [`reactors`](super::reactors) runs the same `EventLoop` once per worker, which is
//! why `serve` takes one listener per loop.
//!
//! # Shutdown
//!
//! 1. the thread that called `run` waits on the [`ShutdownHandle`], then wakes every
//!    loop through its `mio::Waker` (the loops never poll the flag on a timer);
//! 2. each loop closes its listener, so the kernel resets the clients still in its
//!    accept queue, and closes its idle connections;
//! 3. exchanges in progress finish, answering `Connection: close`; a loop returns once
//!    none is left, or after `shutdown_timeout`, dropping whatever remains (lingering
//!    connections included).
//!
//! A loop that fails (its `poll` does) or panics requests the shutdown itself, so the
//! other loops drain and `run` returns the error instead of serving with a loop gone.

mod accept;
mod buffers;
mod connection;
mod event_loop;
mod send;
mod timers;

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

use mio::{Poll, Waker};

use self::accept::Permits;
use self::event_loop::{EventLoop, WAKER};
use crate::access_log::AccessLog;
use crate::files::StdFs;
use crate::{Config, ShutdownHandle};

/// What every loop of one server shares.
struct Shared {
    config: Config,
    fs: StdFs,
    shutdown: ShutdownHandle,
    permits: Permits,
    /// One per loop, by index.
    wakers: Vec<Waker>,
}

impl Shared {
    /// Returns a connection's slot of the cap, waking the loops that wait for one.
    fn release_permit(&self) {
        self.permits.release(|index| self.wake(index));
    }

    fn wake(&self, index: usize) {
        if let Err(err) = self.wakers[index].wake() {
            tracing::error!(%err, loop_index = index, "cannot wake an event loop");
        }
    }
}

pub(crate) fn run(config: Config, listeners: Vec<TcpListener>, shutdown: ShutdownHandle) -> io::Result<()> {
    if listeners.len() != 1 {
        let message = "the sped engine serves exactly one listener";
        return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    }
    serve(config, listeners, shutdown)
}

/// Runs one [`EventLoop`] per listener, each on its own thread, until a graceful
/// shutdown has finished.
pub(super) fn serve(config: Config, listeners: Vec<TcpListener>, shutdown: ShutdownHandle) -> io::Result<()> {
    let with_path = |err: io::Error| io::Error::new(err.kind(), format!("{}: {err}", config.root.display()));
    let fs = StdFs::new(&config.root, config.files.follow_symlinks).map_err(with_path)?;
    let log = config.access_log.as_ref().map(AccessLog::start).transpose()?;
    let shutdown_timeout = config.shutdown_timeout;
    let mut polls = Vec::with_capacity(listeners.len());
    let mut wakers = Vec::with_capacity(listeners.len());
    for _ in &listeners {
        let poll = Poll::new()?;
        wakers.push(Waker::new(poll.registry(), WAKER)?);
        polls.push(poll);
    }
    let permits = Permits::new(config.max_connections, listeners.len());
    let shared = Arc::new(Shared { config, fs, shutdown, permits, wakers });
    let mut loops = Vec::with_capacity(listeners.len());
    for (index, (poll, listener)) in polls.into_iter().zip(listeners).enumerate() {
        loops.push(EventLoop::new(
            index,
            poll,
            listener,
            shared.clone(),
            log.as_ref().map(AccessLog::sender),
        )?);
    }
    let mut result = Ok(());
    let mut threads = Vec::with_capacity(loops.len());
    for (index, event_loop) in loops.into_iter().enumerate() {
        let stop = StopOnExit(shared.shutdown.clone());
        let spawned = thread::Builder::new().name(format!("hebra-loop-{index}")).spawn(move || {
            let _stop = stop;
            event_loop.run()
        });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(err) => {
                result = Err(err);
                shared.shutdown.shutdown();
                break;
            }
        }
    }
    shared.shutdown.wait();
    tracing::info!("shutdown: no longer accepting; finishing in-flight requests");
    for index in 0..shared.wakers.len() {
        shared.wake(index);
    }
    for thread in threads {
        let ended = thread.join().unwrap_or_else(|_| Err(io::Error::other("an event loop panicked")));
        if let Err(err) = ended {
            tracing::error!(%err, "an event loop failed");
            result = result.and(Err(err));
        }
    }
    drop(shared);
    if let Some(log) = log {
        log.finish(shutdown_timeout);
    }
    result
}

/// Requests the shutdown when a loop's thread ends, however it ends: a loop that
/// failed or panicked takes the server down rather than leaving its clients unserved.
struct StopOnExit(ShutdownHandle);

impl Drop for StopOnExit {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}
