//! Spawning with options: a name, a stack size, a worker.

use std::io;

use super::JoinHandle;
use crate::scheduler::{self, SpawnOptions};

/// Configures a coroutine before spawning it, like `std::thread::Builder`.
///
/// ```
/// hebra::run(|| {
///     let handle = hebra::coroutine::Builder::new()
///         .name("acceptor-0".into())
///         .stack_size(128 * 1024)
///         .worker(0)
///         .spawn(|| hebra::coroutine::current().name().unwrap().to_owned())
///         .unwrap();
///     assert_eq!(handle.join().unwrap(), "acceptor-0");
/// });
/// ```
#[derive(Debug, Default)]
#[must_use = "a Builder does nothing until spawn is called"]
pub struct Builder {
    options: SpawnOptions,
}

impl Builder {
    /// A builder with the runtime's defaults: no name, the runtime's stack size, and
    /// whichever worker takes the coroutine first.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the coroutine (shown by `Coroutine::name`, in stack-overflow reports and
    /// in traces).
    pub fn name(mut self, name: String) -> Builder {
        self.options.name = Some(name);
        self
    }

    /// Usable stack size in bytes, rounded up to whole pages; at least
    /// [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE). The default is the runtime's
    /// (see [`crate::Builder::stack_size`]).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.options.stack_size = Some(size);
        self
    }

    /// Starts the coroutine on worker `index` (`0..hebra::workers()`) and keeps it there:
    /// no other worker may steal it. Useful for one acceptor per worker.
    pub fn worker(mut self, index: usize) -> Builder {
        self.options.worker = Some(index);
        self
    }

    /// Spawns the coroutine on the runtime of the calling coroutine (or worker thread).
    ///
    /// Errors: outside a runtime; a stack size below `MIN_STACK_SIZE`, or a worker index
    /// out of range (`InvalidInput`).
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        scheduler::with_current(|scheduler| match scheduler {
            Some(scheduler) => scheduler.spawn(self.options, f),
            None => Err(io::Error::other(
                "hebra::coroutine::Builder::spawn called outside a hebra runtime; use Runtime::spawn",
            )),
        })
    }
}
