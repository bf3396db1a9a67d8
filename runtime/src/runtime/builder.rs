//! Runtime settings.

use std::io;
use std::thread;

use super::{Runtime, check_stack_size};

/// Default usable stack size of a coroutine: 64 KiB (plus one guard page).
///
/// Pages are only made resident when touched, so an idle coroutine costs the pages its
/// deepest call touched, not 64 KiB. Panics print on the worker's stack, so a panic with
/// `RUST_BACKTRACE=1` does not need more.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// Smallest stack a coroutine may have: 16 KiB. Unwinding a panic alone needs a few KiB.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// Default cap on the helper threads of [`unblock`](crate::unblock).
pub(crate) const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;

/// Configures and builds a [`Runtime`], like `std::thread::Builder`: by value.
///
/// ```
/// let runtime = hebra::Builder::new()
///     .workers(2)
///     .stack_size(128 * 1024)
///     .max_blocking_threads(64)
///     .build()
///     .unwrap();
/// assert_eq!(runtime.workers(), 2);
///
/// let err = hebra::Builder::new().workers(0).build().unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a Builder does nothing until build is called"]
pub struct Builder {
    pub(super) workers: usize,
    pub(super) stack_size: usize,
    pub(super) max_blocking_threads: usize,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// One worker per available core, [`DEFAULT_STACK_SIZE`] stacks, and at most 512
    /// helper threads.
    pub fn new() -> Builder {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        Builder {
            workers: cores,
            stack_size: DEFAULT_STACK_SIZE,
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
        }
    }

    /// Number of worker threads (at least 1).
    pub fn workers(mut self, workers: usize) -> Builder {
        self.workers = workers;
        self
    }

    /// Default usable stack size of this runtime's coroutines, in bytes (at least
    /// [`MIN_STACK_SIZE`]; rounded up to whole pages).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = bytes;
        self
    }

    /// Cap on the helper threads that run [`unblock`](crate::unblock) closures (at least
    /// 1). The helper pool is shared by every runtime of the process; the cap is the
    /// one set by the runtime built last.
    pub fn max_blocking_threads(mut self, threads: usize) -> Builder {
        self.max_blocking_threads = threads;
        self
    }

    /// Starts the worker threads.
    ///
    /// Errors: `InvalidInput` for 0 workers, a stack below `MIN_STACK_SIZE` or 0 blocking
    /// threads; otherwise what the system reports (no threads, no epoll instances).
    pub fn build(self) -> io::Result<Runtime> {
        if self.workers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a hebra runtime needs at least 1 worker",
            ));
        }
        if self.max_blocking_threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_blocking_threads must be at least 1",
            ));
        }
        check_stack_size(self.stack_size)?;
        Runtime::start(&self)
    }
}
