//! Which worker this thread is: a thread-local pointer to the [`Worker`], which lives on
//! the worker thread's own stack for as long as the thread runs.

use std::cell::Cell;
use std::ptr;
use std::sync::Arc;

use super::worker::Worker;
use crate::netpoll::PollerShared;

thread_local! {
    static WORKER: Cell<*const Worker> = const { Cell::new(ptr::null()) };
}

/// Marks the current thread as `worker`'s until the guard drops.
pub(super) struct Enter(());

pub(super) fn enter(worker: &Worker) -> Enter {
    assert!(WORKER.get().is_null(), "a thread can be one worker only");
    WORKER.set(worker);
    Enter(())
}

impl Drop for Enter {
    fn drop(&mut self) {
        WORKER.set(ptr::null());
    }
}

/// Calls `f` with this thread's worker, if it is a worker thread.
pub(super) fn with_worker<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    let worker = WORKER.get();
    // `enter` set the pointer to a Worker that outlives the Enter guard (both live in the
    // worker thread's main function, the guard declared after the worker), and the guard
    // clears it; only this thread reads it, and the Worker's mutable state is in cells.
    // SAFETY: so a non-null pointer refers to a live Worker, used through `&` only.
    f(unsafe { worker.as_ref() })
}

/// The poller of the worker running the calling coroutine.
pub(crate) fn current_poller() -> Option<Arc<PollerShared>> {
    with_worker(|worker| worker.map(|w| w.poller_shared().clone()))
}
