//! One allocation per coroutine: its shared header, its closure and its output.
//!
//! A spawn allocates a single `Arc<Task<F, T>>`. The runtime sees it as
//! `Arc<dyn Runnable>` (the [`Coroutine`](super::Coroutine) handle: run it, wake it),
//! the [`JoinHandle`](super::JoinHandle) as `Arc<dyn Output<T>>` (take the result).
//!
//! # The join protocol
//!
//! `join_state` holds three bits:
//!
//! | bit | set by | meaning |
//! |---|---|---|
//! | `STARTED` | the one party that claims the closure (to run it, or to drop it unrun) | the closure cell is no longer anybody else's |
//! | `WAITER` | the joiner, after storing its waiter under `join_waiter` | completion must wake it |
//! | `DONE` | the runner, after writing the output | the output cell is the joiner's |
//!
//! The closure cell is touched only by the thread whose `fetch_or(STARTED)` saw the bit
//! clear. The output cell is written by that same thread before `DONE` is published
//! (Release) and read only by the `JoinHandle` after it observed `DONE` (Acquire);
//! `JoinHandle::join` consumes the handle, so there is at most one reader. The waiter
//! slot is a mutex because it is touched on the slow path only (join before completion).

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use super::CoroutineId;
use super::wait::{WaitState, Waiter};
use crate::scheduler::Scheduler;

const STARTED: u8 = 1 << 0;
const WAITER: u8 = 1 << 1;
const DONE: u8 = 1 << 2;

/// Worker index of a coroutine that has not started yet.
pub(crate) const NO_HOME: usize = usize::MAX;

/// The part of a coroutine every thread may see.
pub(crate) struct Header {
    pub(crate) id: CoroutineId,
    pub(crate) name: Option<Box<str>>,
    pub(crate) stack_size: usize,
    /// The wait protocol word (see `wait.rs`).
    pub(crate) state: WaitState,
    /// Home worker; written once by that worker before the coroutine first runs, read by
    /// whoever schedules it after a wait (which the wait protocol orders after the write).
    pub(crate) home: AtomicUsize,
    /// Index into the home worker's table of coroutines; read and written by it only.
    pub(crate) slot: AtomicU32,
    pub(crate) scheduler: Arc<Scheduler>,
    join_state: AtomicU8,
    join_waiter: Mutex<Option<Waiter>>,
}

impl Header {
    pub(crate) fn new(
        name: Option<String>,
        stack_size: usize,
        scheduler: Arc<Scheduler>,
    ) -> Header {
        Header {
            id: CoroutineId::next(),
            name: name.map(String::into_boxed_str),
            stack_size,
            state: WaitState::new(),
            home: AtomicUsize::new(NO_HOME),
            slot: AtomicU32::new(0),
            scheduler,
            join_state: AtomicU8::new(0),
            join_waiter: Mutex::new(None),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.join_state.load(Ordering::Acquire) & DONE != 0
    }

    /// Registers `waiter` to be woken on completion. Returns `false` (and drops the
    /// waiter) if the coroutine already finished.
    pub(crate) fn set_join_waiter(&self, waiter: Waiter) -> bool {
        let mut slot = self.join_waiter.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(waiter);
        // AcqRel: Acquire so that seeing DONE makes the output visible; Release pairs
        // with `complete`, which must see the stored waiter once it sees WAITER.
        if self.join_state.fetch_or(WAITER, Ordering::AcqRel) & DONE != 0 {
            *slot = None;
            return false;
        }
        true
    }

    fn claim(&self) -> bool {
        // Acquire/Release are not needed for the closure itself (it was handed over by
        // the queue that carried the task); the RMW alone decides the one claimant.
        self.join_state.fetch_or(STARTED, Ordering::Relaxed) & STARTED == 0
    }

    /// Publishes the output and wakes the joiner, if any.
    fn complete(&self) {
        self.state.finish();
        // Release: the output written before this is the joiner's once it sees DONE.
        if self.join_state.fetch_or(DONE, Ordering::AcqRel) & WAITER != 0 {
            let waiter = self
                .join_waiter
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(waiter) = waiter {
                waiter.wake();
            }
        }
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("state", &self.state)
            .field("home", &self.home.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What the runtime can do with a coroutine, whatever its closure and output types.
pub(crate) trait Runnable: Send + Sync + 'static {
    fn header(&self) -> &Header;
    /// Runs the closure to completion on the current stack (the coroutine's), catching a
    /// panic into the output. Does nothing if the closure was already claimed.
    fn run(&self);
    /// Drops the closure unrun (if nobody claimed it yet) and completes with `payload`
    /// as the panic payload `join` returns.
    fn cancel(&self, payload: Box<dyn Any + Send>);
}

/// What a `JoinHandle<T>` can do with its coroutine.
pub(crate) trait Output<T>: Send + Sync {
    fn header(&self) -> &Header;
    /// Takes the output. Only valid after `header().is_finished()` returned `true`.
    fn take_output(&self) -> Option<thread::Result<T>>;
}

pub(crate) struct Task<F, T> {
    header: Header,
    closure: UnsafeCell<Option<F>>,
    output: UnsafeCell<Option<thread::Result<T>>>,
}

// SAFETY: the cells are shared under the join protocol of the module docs: the closure
// is accessed only by the single thread that claimed STARTED; the output is written by
// that thread before DONE (Release) and read by the one JoinHandle after it observed
// DONE (Acquire). `F: Send` and `T: Send` because both move between threads that way.
unsafe impl<F: Send, T: Send> Sync for Task<F, T> {}

impl<F, T> Task<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(header: Header, closure: F) -> Task<F, T> {
        Task {
            header,
            closure: UnsafeCell::new(Some(closure)),
            output: UnsafeCell::new(None),
        }
    }

    fn take_closure(&self) -> Option<F> {
        if !self.header.claim() {
            return None;
        }
        // SAFETY: this thread won the claim, so nobody else touches the closure cell.
        unsafe { (*self.closure.get()).take() }
    }

    fn finish(&self, output: thread::Result<T>) {
        // SAFETY: only the claimant writes the output, once, before DONE is published;
        // the reader waits for DONE (see the module docs).
        unsafe { *self.output.get() = Some(output) };
        self.header.complete();
    }
}

impl<F, T> Runnable for Task<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn header(&self) -> &Header {
        &self.header
    }

    fn run(&self) {
        let Some(closure) = self.take_closure() else {
            return;
        };
        let output = panic::catch_unwind(AssertUnwindSafe(closure));
        // A forced unwind (runtime shutdown) is not the coroutine's own panic: report
        // it as a cancellation and drop the unwinder's private payload here.
        let output = match output {
            Err(_) if self.header.state.is_cancelled() => Err(cancelled_payload()),
            output => output,
        };
        self.finish(output);
    }

    fn cancel(&self, payload: Box<dyn Any + Send>) {
        if let Some(closure) = self.take_closure() {
            drop(closure);
            self.finish(Err(payload));
        }
    }
}

impl<F, T> Output<T> for Task<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn header(&self) -> &Header {
        &self.header
    }

    fn take_output(&self) -> Option<thread::Result<T>> {
        if !self.header.is_finished() {
            return None;
        }
        // SAFETY: DONE was observed with Acquire, so the write happened before; the only
        // reader is the JoinHandle, which calls this once.
        unsafe { (*self.output.get()).take() }
    }
}

/// Panic payload of a coroutine that never ran to completion because its runtime shut
/// down: `join` returns `Err` with this `&'static str`.
pub(crate) const CANCELLED: &str = "coroutine cancelled: its runtime shut down";

pub(crate) fn cancelled_payload() -> Box<dyn Any + Send> {
    Box::new(CANCELLED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coroutine::wait::ThreadParker;

    fn task<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Arc<Task<impl FnOnce() -> T + Send, T>> {
        Arc::new(Task::new(Header::new(None, 0, Scheduler::detached()), f))
    }

    #[test]
    fn runs_once_and_publishes_output() {
        let t = task(|| 7);
        assert!(t.take_output().is_none());
        t.run();
        t.run();
        assert!(t.header.is_finished());
        assert_eq!(t.take_output().unwrap().unwrap(), 7);
    }

    #[test]
    fn panic_becomes_err_and_cancel_drops_closure() {
        let t = task(|| -> u8 { panic!("boom") });
        let hook = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        t.run();
        panic::set_hook(hook);
        let err = t.take_output().unwrap().unwrap_err();
        assert_eq!(*err.downcast::<&str>().unwrap(), "boom");

        let guard = Arc::new(());
        let held = guard.clone();
        let t = task(move || drop(held));
        t.cancel(Box::new("stopped"));
        assert_eq!(
            Arc::strong_count(&guard),
            1,
            "closure dropped without running"
        );
        assert!(t.take_output().unwrap().is_err());
    }

    #[test]
    fn late_join_waiter_is_refused_and_early_one_is_woken() {
        let t = task(|| ());
        assert!(
            t.header
                .set_join_waiter(Waiter::Thread(ThreadParker::current()))
        );
        t.run();
        assert!(t.header.is_finished());
        assert!(
            !t.header
                .set_join_waiter(Waiter::Thread(ThreadParker::current()))
        );
    }
}
