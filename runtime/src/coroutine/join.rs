//! Waiting for a coroutine to finish.

use std::fmt;
use std::marker::PhantomData;
use std::thread;

use super::task::{self, OutputCell};
use super::wait::{self, WaitOutcome};
use super::{Coroutine, running};

/// An owned permission to join a coroutine: wait for it and take its result.
///
/// Dropping it detaches the coroutine, as with `std::thread::JoinHandle`.
pub struct JoinHandle<T> {
    coroutine: Coroutine,
    output: PhantomData<fn() -> T>,
}

impl<T: Send + 'static> JoinHandle<T> {
    pub(crate) fn new(coroutine: Coroutine) -> JoinHandle<T> {
        JoinHandle { coroutine, output: PhantomData }
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
        let header = self.coroutine.header();
        if !header.is_finished()
            && running::with_running(|r| r.is_some_and(|r| r.coroutine.same(&self.coroutine)))
        {
            panic!("a coroutine cannot join itself");
        }
        while !header.is_finished() {
            if !header.join.set_waiter(wait::waiter()) {
                break;
            }
            if wait::wait(None) == WaitOutcome::Cancelled {
                return Err(task::cancelled_payload());
            }
        }
        let output = self.coroutine.runnable().output().downcast_ref::<OutputCell<T>>();
        output
            .and_then(|cell| cell.take(&header.join))
            .expect("a finished coroutine has an output of its type, and join takes it once")
    }
}

impl<T> JoinHandle<T> {
    /// Whether the coroutine has finished (returned, panicked or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.coroutine.header().is_finished()
    }

    /// A handle to the coroutine, e.g. to [`unpark`](Coroutine::unpark) it.
    pub fn coroutine(&self) -> &Coroutine {
        &self.coroutine
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("coroutine", &self.coroutine).finish()
    }
}
