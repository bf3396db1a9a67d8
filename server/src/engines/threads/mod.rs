//! The classic server: one OS thread per connection, blocking `std::net` sockets, and
//! files read inline on the connection's thread ([`StdFs`]). A connection runs the
//! coroutine engine's sequential code (`sequential.rs`: read a request, answer it,
//! repeat); the kernel parks the threads, and each costs a stack and a scheduler entry,
//! which is what comparing the engines at 10,000 connections measures.
//!
//! | file | mechanism |
//! |---|---|
//! | `accept.rs` | the accept loop, and a thread per accepted connection |
//! | `registry.rs` | the open connections: the connection cap, and closing idle ones at shutdown |
//! | `connection.rs` | the engine's side of a connection (`sequential.rs` answers): the first read on the stack, buffers from the allocator |
//!
//! `Config::workers` does not apply: there is a thread per connection and one acceptor
//! per listener (one, as [`Engine::listeners`](super::Engine) binds). 10,000
//! connections mean 10,000 threads, within `ulimit -u`, `kernel.threads-max` and
//! `kernel.pid_max`; a thread that cannot start costs its one connection.
//!
//! # Shutdown
//!
//! 1. admissions stop and the listeners are shut down for reading, which wakes a
//!    blocked `accept` with an error on Linux (the kernel resets connections still in
//!    the accept queue); the acceptors are joined;
//! 2. idle connections, waiting for a request, are closed by shutting their sockets
//!    down under the blocked read (`registry.rs` says why no arriving request is cut);
//! 3. connections in the middle of a request finish it, answering with
//!    `Connection: close`; `run` waits until none is left, or `shutdown_timeout`;
//! 4. past the deadline, the sockets left are shut down, which fails their threads'
//!    reads and writes, and `run` returns without waiting for those threads to end.

mod accept;
mod connection;
mod registry;

use std::io;
use std::net::{Shutdown, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use self::registry::Registry;
use crate::access_log::{AccessLog, AccessLogSender};
use crate::files::StdFs;
use crate::{Config, ShutdownHandle};

/// What every connection of one server shares.
struct Shared {
    config: Config,
    fs: StdFs,
    log: Option<AccessLogSender>,
    shutdown: ShutdownHandle,
    registry: Arc<Registry>,
}

pub(crate) fn run(config: Config, listeners: Vec<TcpListener>, shutdown: ShutdownHandle) -> io::Result<()> {
    let root = &config.root;
    let fs = StdFs::new(root, config.files.follow_symlinks)
        .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", root.display())))?;
    for listener in &listeners {
        // A listener the caller bound may be non-blocking.
        listener.set_nonblocking(false)?;
    }
    let log = config.access_log.as_ref().map(AccessLog::start).transpose()?;
    let shutdown_timeout = config.shutdown_timeout;
    let registry = Arc::new(Registry::new(config.max_connections));
    let shared =
        Arc::new(Shared { config, fs, log: log.as_ref().map(AccessLog::sender), shutdown, registry });
    let served = serve(&shared, &listeners);
    // Threads cut off at the deadline may still hold senders: `finish` does not wait
    // for them.
    drop(shared);
    if let Some(log) = log {
        log.finish(shutdown_timeout);
    }
    served
}

/// Accepts on every listener until the shutdown request, then drains (steps 1 to 4).
fn serve(shared: &Arc<Shared>, listeners: &[TcpListener]) -> io::Result<()> {
    let started = thread::scope(|scope| {
        let mut started = Ok(());
        for listener in listeners {
            let spawned = thread::Builder::new()
                .name("hebra-acceptor".into())
                .spawn_scoped(scope, || accept::accept_loop(listener, shared));
            if let Err(err) = spawned {
                // Stop the acceptors already running, as a shutdown would.
                started = Err(err);
                shared.shutdown.shutdown();
                break;
            }
        }
        shared.shutdown.wait();
        tracing::info!("shutdown: no longer accepting; finishing in-flight requests");
        shared.registry.stop_admitting();
        for listener in listeners {
            let _ = socket2::SockRef::from(listener).shutdown(Shutdown::Read);
        }
        started
    });
    started?;
    shared.registry.close_idle();
    let deadline = Instant::now() + shared.config.shutdown_timeout;
    let left = shared.registry.wait_until_empty(deadline);
    if left > 0 {
        tracing::warn!(connections = left, "shutdown deadline passed; closing requests still in flight");
        shared.registry.close_all();
    }
    Ok(())
}
