//! Waiting for a coroutine to finish.

use std::fmt;
use std::sync::Arc;
use std::thread;

use super::Coroutine;
use super::task::{self, Output, Runnable};
use super::wait::{self, WaitOutcome};

/// An owned permission to join a coroutine: wait for it and take its result.
///
/// Dropping it detaches the coroutine, as with `std::thread::JoinHandle`.
pub struct JoinHandle<T> {
    task: Arc<dyn Output<T>>,
    coroutine: Coroutine,
}

impl<T> JoinHandle<T> {
    pub(crate) fn from_task<R: Runnable + Output<T> + 'static>(task: Arc<R>) -> JoinHandle<T> {
        JoinHandle {
            coroutine: Coroutine::from_task(task.clone()),
            task,
        }
    }

    /// Waits for the coroutine to finish and returns its result, or `Err` with the
    /// panic payload if it panicked (the runtime lives on). A coroutine that never
    /// finished because its runtime shut down gives `Err` with a `&'static str` payload.
    ///
    /// On a coroutine this parks only the caller; on a plain thread it blocks the thread.
    ///
    /// # Panics
    ///
    /// If a coroutine joins itself (it would wait forever).
    pub fn join(self) -> thread::Result<T> {
        let header = self.task.header();
        if !header.is_finished()
            && super::running::current_handle().is_some_and(|c| c.same(&self.coroutine))
        {
            panic!("a coroutine cannot join itself");
        }
        while !header.is_finished() {
            if !header.set_join_waiter(wait::waiter()) {
                break;
            }
            if wait::wait(None) == WaitOutcome::Cancelled {
                return Err(task::cancelled_payload());
            }
        }
        self.task
            .take_output()
            .expect("a finished coroutine has an output, and join takes it once")
    }

    /// Whether the coroutine has finished (returned, panicked or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.header().is_finished()
    }

    /// A handle to the coroutine, e.g. to [`unpark`](Coroutine::unpark) it.
    pub fn coroutine(&self) -> &Coroutine {
        &self.coroutine
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("coroutine", &self.coroutine)
            .finish()
    }
}
