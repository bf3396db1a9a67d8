//! The concurrency models that drive the shared [`http`](crate::http) and
//! [`files`](crate::files) logic. Each engine is one file or folder; they differ only
//! in how they wait for sockets and disks, never in what they answer.
//!
//! | engine | model | disk |
//! |---|---|---|
//! | [`coroutine`] | hebra: one coroutine per connection, sequential code, parked on EAGAIN | cache-aware, the helper pool when it would wait |
//! | [`sped`] | one thread, one `mio` loop, a state machine per connection (Flash's SPED) | inline |
//! | [`reactors`] | one `sped` loop per worker, each on its own `SO_REUSEPORT` listener (nginx, Netty) | inline |
//! | [`threads`] | one OS thread per connection, blocking `std::net` | inline, on the connection's thread |
//!
//! What engines share lives beside them:
//!
//! | file | mechanism | used by |
//! |---|---|---|
//! | `input.rs` | a connection's read buffer, taken from the engine's pool only while bytes are pending | all |
//! | `sequential.rs` | a connection as sequential code (wait, read a head, answer, repeat), generic over the engine's `Host` | [`coroutine`], [`threads`] |
//!
//! Each engine's folder keeps what is its own: accepting, the connection cap, shutdown,
//! buffer pools, and for the sequential ones their `Host`: the socket and file types,
//! how an idle connection waits, and the bookkeeping their shutdown relies on.

pub mod coroutine;
mod input;
pub mod reactors;
mod sequential;
pub mod sped;
pub mod threads;

use std::io;
use std::net::TcpListener;

use crate::{Config, ShutdownHandle};

/// Which engine serves (`hebra-serve --engine NAME`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// hebra's model: one coroutine per connection, on one worker thread per CPU.
    #[default]
    Coroutine,
    /// Single-process event-driven: one thread, one epoll loop, a state machine per
    /// connection; disk work inline.
    Sped,
    /// One event loop per worker, each accepting on its own SO_REUSEPORT listener;
    /// disk work inline.
    Reactors,
    /// One OS thread per connection with blocking sockets.
    Threads,
}

impl Engine {
    /// Every engine, in the order comparisons list them.
    pub const ALL: [Engine; 4] = [Engine::Coroutine, Engine::Sped, Engine::Reactors, Engine::Threads];

    /// The name `--engine` takes.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Coroutine => "coroutine",
            Engine::Sped => "sped",
            Engine::Reactors => "reactors",
            Engine::Threads => "threads",
        }
    }

    /// How many `SO_REUSEPORT` listeners the engine accepts on with `workers` workers.
    pub(crate) fn listeners(self, workers: usize) -> usize {
        match self {
            Engine::Coroutine | Engine::Reactors => workers,
            Engine::Sped | Engine::Threads => 1,
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub(crate) fn run(config: Config, listeners: Vec<TcpListener>, shutdown: ShutdownHandle) -> io::Result<()> {
    match config.engine {
        Engine::Coroutine => coroutine::run(config, listeners, shutdown),
        Engine::Sped => sped::run(config, listeners, shutdown),
        Engine::Reactors => reactors::run(config, listeners, shutdown),
        Engine::Threads => threads::run(config, listeners, shutdown),
    }
}
