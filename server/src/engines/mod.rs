//! The concurrency models that drive the shared [`http`](crate::http) and
//! [`files`](crate::files) logic. Each engine is one folder; they differ only in how
//! they wait for sockets and disks.
//!
//! | engine | model |
//! |---|---|
//! | [`coroutine`] | hebra: one coroutine per connection, sequential code, parked on EAGAIN |

pub mod coroutine;

use std::io;
use std::net::TcpListener;

use crate::{Config, ShutdownHandle};

/// Which engine serves (`hebra-serve --engine NAME`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// hebra's model: one coroutine per connection.
    #[default]
    Coroutine,
}

impl Engine {
    /// How many `SO_REUSEPORT` listeners the engine accepts on with `workers` workers.
    pub(crate) fn listeners(self, workers: usize) -> usize {
        match self {
            Engine::Coroutine => workers,
        }
    }
}

pub(crate) fn run(config: Config, listeners: Vec<TcpListener>, shutdown: ShutdownHandle) -> io::Result<()> {
    match config.engine {
        Engine::Coroutine => coroutine::run(config, listeners, shutdown),
    }
}
