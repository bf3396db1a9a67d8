//! Helper threads for work that would block a worker (the AMPED idea of the Flash web
//! server, nginx's thread pools): disk I/O, name resolution, CPU-heavy calls.
//!
//! One pool per process, shared by every runtime. It starts with no threads, adds one
//! whenever a job arrives and none is idle (up to a cap, 512 by default), and a thread
//! idle for [`IDLE_TIMEOUT`] exits. The calling coroutine parks while its job runs; the
//! helper wakes it through the same path any other thread uses (invariant 4).

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use crate::coroutine::running;
use crate::coroutine::wait::{self, WaitOutcome};
use crate::runtime::builder::DEFAULT_MAX_BLOCKING_THREADS;

/// How long a helper thread waits for a job before it exits.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Runs `f` on a helper thread while the calling coroutine parks, and returns its result;
/// a panic in `f` is re-raised here. On a plain thread, `f` simply runs on it.
///
/// ```
/// hebra::run(|| {
///     // The worker keeps running other coroutines during the 10 ms.
///     let n = hebra::unblock(|| {
///         std::thread::sleep(std::time::Duration::from_millis(10));
///         7
///     });
///     assert_eq!(n, 7);
/// });
/// ```
pub fn unblock<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if !running::in_coroutine() || is_cancelled() {
        return f();
    }
    let done = Arc::new(Done::default());
    let job_done = done.clone();
    let waiter = wait::waiter();
    pool().submit(Box::new(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        job_done.set(result);
        waiter.wake();
    }));
    done.wait()
}

/// Like [`unblock`], for a closure that borrows from the caller's stack.
///
/// The borrow is sound because this function does not return, normally or by
/// unwinding, before the helper finished the job: a coroutine unwound by its runtime
/// while the job runs blocks its worker until then (shutdown only).
pub(crate) fn unblock_scoped<'a, F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'a,
    T: Send + 'a,
{
    if !running::in_coroutine() || is_cancelled() {
        return f();
    }
    let done = Arc::new(Done::default());
    let job_done = done.clone();
    let waiter = wait::waiter();
    let job: Box<dyn FnOnce() + Send + 'a> = Box::new(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        job_done.set(result);
        waiter.wake();
    });
    // The job borrows data that lives at least as long as this call; `_finish` (dropped
    // before this frame is left, also when unwinding) waits until the job completed.
    // SAFETY: only the lifetime changes, and by the above the job never runs, or drops
    // its captures, after the borrowed data is gone.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'a>, Job>(job) };
    let _finish = FinishBeforeReturn(&done);
    pool().submit(job);
    done.wait()
}

struct FinishBeforeReturn<'d, T>(&'d Done<T>);

impl<T> Drop for FinishBeforeReturn<'_, T> {
    fn drop(&mut self) {
        self.0.block_until_set();
    }
}

fn is_cancelled() -> bool {
    running::with_running(|r| r.is_some_and(|r| r.state().is_cancelled()))
}

/// The result slot shared by a caller and its job.
struct Done<T> {
    result: Mutex<Option<thread::Result<T>>>,
    /// Set once the job dropped everything it captured.
    finished: Mutex<bool>,
    condvar: Condvar,
}

impl<T> Default for Done<T> {
    fn default() -> Self {
        Done { result: Mutex::new(None), finished: Mutex::new(false), condvar: Condvar::new() }
    }
}

impl<T> Done<T> {
    fn set(&self, result: thread::Result<T>) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        *self.finished.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.condvar.notify_all();
    }

    /// Parks the coroutine until the job finished; returns its result or re-raises.
    fn wait(&self) -> T {
        loop {
            if let Some(result) = self.result.lock().unwrap_or_else(|e| e.into_inner()).take() {
                // The job may not have woken us yet: make its wake miss our later waits.
                wait::abandon();
                return result.unwrap_or_else(|payload| panic::resume_unwind(payload));
            }
            if wait::wait(None) == WaitOutcome::Cancelled {
                self.block_until_set();
            }
        }
    }

    fn block_until_set(&self) {
        let finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        let _finished = self.condvar.wait_while(finished, |f| !*f).unwrap_or_else(|e| e.into_inner());
    }
}

static MAX_THREADS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_BLOCKING_THREADS);

/// Sets the cap on helper threads (`Builder::max_blocking_threads`).
pub(crate) fn set_max_threads(max: usize) {
    MAX_THREADS.store(max.max(1), Ordering::Relaxed);
}

struct Pool {
    state: Mutex<PoolState>,
    condvar: Condvar,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool { state: Mutex::default(), condvar: Condvar::new() })
}

impl Pool {
    fn submit(&'static self, job: Job) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.queue.push_back(job);
        if state.idle > 0 {
            drop(state);
            self.condvar.notify_one();
            return;
        }
        if state.threads >= MAX_THREADS.load(Ordering::Relaxed) {
            tracing::debug!(
                threads = state.threads,
                queued = state.queue.len(),
                "helper pool at its cap; job queued"
            );
            return;
        }
        state.threads += 1;
        let id = state.threads;
        drop(state);
        let spawned = thread::Builder::new().name(format!("hebra-helper-{id}")).spawn(move || self.helper());
        if let Err(err) = spawned {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.threads -= 1;
            tracing::error!(%err, threads = state.threads, "cannot start a helper thread");
            if state.threads == 0 {
                // Nobody would ever run the queue: run it here rather than hang the
                // waiting coroutines, even though it blocks this thread.
                let jobs: Vec<Job> = state.queue.drain(..).collect();
                drop(state);
                jobs.into_iter().for_each(|job| job());
            }
        }
    }

    fn helper(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job();
                state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.idle += 1;
            let (next, timeout) =
                self.condvar.wait_timeout(state, IDLE_TIMEOUT).unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_a_plain_thread_runs_inline() {
        let id = thread::current().id();
        assert!(unblock(move || thread::current().id() == id));
        let local = [1, 2, 3];
        assert_eq!(unblock_scoped(|| local.iter().sum::<i32>()), 6);
    }
}
