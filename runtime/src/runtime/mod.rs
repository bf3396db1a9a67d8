//! A runtime: its workers, and how it starts, runs a main coroutine, and shuts down.
//!
//! # Shutdown order
//!
//! Dropping a [`Runtime`] (or the end of [`run`](crate::run)):
//!
//! 1. sets the shutdown flag and wakes every worker and the monitor;
//! 2. each worker, back in its loop, drops the closures of coroutines that never
//!    started (their `join` returns `Err`), then unwinds every started coroutine on its
//!    own stack and thread, so destructors run where the coroutine lived; code running
//!    during the unwind sees every wait return at once (sockets and channels report an
//!    error, `sleep` and `park` return), so no destructor can hang the shutdown; only a
//!    destructor that needs a `hebra::sync` lock held on another worker blocks its
//!    thread, for at most a second, while that worker's unwind releases it;
//! 3. a worker that is still inside a coroutine stuck in a blocking call finishes that
//!    call first: dropping the runtime waits for it;
//! 4. the threads are joined and whatever was queued meanwhile is dropped.

pub(crate) mod builder;

pub use builder::{Builder, DEFAULT_STACK_SIZE, MIN_STACK_SIZE};

use std::fmt;
use std::io;
use std::panic;
use std::sync::Arc;

use crate::coroutine::JoinHandle;
use crate::scheduler::{self, Scheduler, SpawnOptions, WorkerThreads};

/// A hebra runtime: a set of worker threads running coroutines.
///
/// Create one with [`Builder`], or let [`run`](crate::run) do it.
///
/// ```
/// let runtime = hebra::Builder::new().workers(2).build().unwrap();
/// let handle = runtime.spawn(|| 6 * 7);
/// assert_eq!(handle.join().unwrap(), 42);
/// assert_eq!(runtime.block_on(|| hebra::workers()), 2);
/// ```
pub struct Runtime {
    scheduler: Arc<Scheduler>,
    threads: WorkerThreads,
}

impl Runtime {
    fn start(builder: &Builder) -> io::Result<Runtime> {
        crate::coroutine::install_process_hooks()?;
        crate::blocking::set_max_threads(builder.max_blocking_threads);
        let config = scheduler::Config { stack_size: builder.stack_size };
        let (scheduler, threads) = WorkerThreads::start(config, builder.workers)?;
        Ok(Runtime { scheduler, threads })
    }

    /// Runs `f` as a coroutine and blocks the calling thread until it returns; returns
    /// its result and re-raises its panic. Coroutines `f` spawned keep running until the
    /// runtime is dropped.
    ///
    /// # Panics
    ///
    /// If called from inside a runtime (it would block a worker), and if `f` panics.
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        assert_outside_runtime("Runtime::block_on");
        let options = SpawnOptions { name: Some("main".into()), ..SpawnOptions::default() };
        let handle = self.scheduler.spawn(options, f).expect("the runtime's own settings are valid");
        match handle.join() {
            Ok(value) => value,
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    /// Spawns a coroutine from any thread.
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.scheduler.spawn(SpawnOptions::default(), f).expect("the runtime's own settings are valid")
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.scheduler.workers()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let own_worker = scheduler::with_current(|s| s.is_some_and(|s| Arc::ptr_eq(s, &self.scheduler)));
        self.scheduler.begin_shutdown();
        if own_worker {
            // Joining our own thread would never return; the workers finish on their own.
            tracing::warn!("a hebra Runtime was dropped on one of its own workers; not waiting for it");
            return;
        }
        self.threads.join();
        self.scheduler.drain_after_shutdown();
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("workers", &self.workers()).finish_non_exhaustive()
    }
}

/// Panics if the caller runs on a worker thread of any runtime.
pub(crate) fn assert_outside_runtime(what: &str) {
    if scheduler::on_worker_thread() {
        panic!(
            "{what} cannot be called from inside a hebra runtime (it would block a worker); spawn a coroutine instead"
        );
    }
}

/// Checks a stack size against `MIN_STACK_SIZE`.
pub(crate) fn check_stack_size(size: usize) -> io::Result<()> {
    if size < MIN_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("stack size {size} is below hebra::MIN_STACK_SIZE ({MIN_STACK_SIZE} bytes)"),
        ));
    }
    Ok(())
}
