//! "The coroutine running now": a thread-local pointer to a [`Running`] record that
//! lives in the entry frame of the coroutine's own stack.
//!
//! The pointer is set while the coroutine's code runs and null otherwise: `suspend`
//! clears it before switching out and restores it when the coroutine is resumed, or when
//! it is unwound by its runtime (so destructors run "inside" the coroutine, see that it
//! is cancelled, and do not block the worker). Code the worker runs between coroutines,
//! such as dropping a timer's waiter, therefore never mistakes itself for a coroutine.
//!
//! The record is also what the stack-overflow handler reads, so it holds the stack
//! bounds, and what the panic hook uses to reach the worker's stack (the yielder).

use std::cell::Cell;
use std::ops::Range;
use std::ptr;
use std::sync::Arc;

use corosensei::Yielder;

use super::Coroutine;
use super::wait::WaitState;
use crate::sync::Signal;

/// What a coroutine asks its worker for when it switches out.
#[derive(Debug)]
pub(crate) enum Suspend {
    /// Run me again after the coroutines that are ready now (`yield_now`).
    Yield,
    /// Commit my current wait and arm its deadline (see `wait.rs`).
    Wait { deadline: Option<std::time::Instant> },
}

/// Successful I/O operations a coroutine may do in a row before it yields to the others
/// (ARCHITECTURE.md, invariant 8).
const IO_BUDGET: u32 = 128;

/// Where the stack of the running coroutine is, for the overflow report.
#[derive(Clone, Debug)]
pub(crate) struct StackBounds {
    pub(crate) guard: Range<usize>,
    pub(crate) usable: usize,
}

pub(crate) struct Running<'y> {
    yielder: &'y Yielder<(), Suspend>,
    pub(crate) coroutine: Coroutine,
    pub(crate) stack: StackBounds,
    budget: Cell<u32>,
    /// The signal of this coroutine's last blocked channel or lock operation, kept for
    /// the next one (see `Signal::new`).
    pub(crate) spare_signal: Cell<Option<Arc<Signal>>>,
}

thread_local! {
    // A const-initialised Cell without destructor compiles to a plain thread-local
    // load, which is also what makes it readable from the fault handler.
    static RUNNING: Cell<*const Running<'static>> = const { Cell::new(ptr::null()) };
}

/// The body of every coroutine: publishes its record, runs the task, clears it.
pub(crate) fn run(yielder: &Yielder<(), Suspend>, coroutine: Coroutine, stack: StackBounds) {
    let running =
        Running { yielder, coroutine, stack, budget: Cell::new(IO_BUDGET), spare_signal: Cell::new(None) };
    let previous = RUNNING.replace(erase(&running));
    let _restore = Restore(previous);
    running.coroutine.runnable().run();
}

fn erase(running: &Running<'_>) -> *const Running<'static> {
    (running as *const Running<'_>).cast()
}

/// Puts a saved pointer back on drop, which also happens during a forced unwind.
struct Restore(*const Running<'static>);

impl Drop for Restore {
    fn drop(&mut self) {
        RUNNING.set(self.0);
    }
}

impl Running<'_> {
    /// Switches to the worker with `request`; returns when the worker resumes us.
    pub(crate) fn suspend(&self, request: Suspend) {
        let me = RUNNING.replace(ptr::null());
        let _restore = Restore(me);
        self.budget.set(IO_BUDGET);
        self.yielder.suspend(request);
    }

    pub(crate) fn state(&self) -> &WaitState {
        &self.coroutine.header().state
    }
}

/// Calls `f` with the running coroutine's record, or `None` on a plain thread (or on a
/// worker between coroutines).
pub(crate) fn with_running<R>(f: impl FnOnce(Option<&Running<'_>>) -> R) -> R {
    let ptr = RUNNING.get();
    // SAFETY: a non-null pointer was set by `run` on this thread and points into the
    // entry frame of the coroutine executing right now; that frame outlives every call
    // made from the coroutine, including this one, and `f` cannot keep the reference.
    f(unsafe { ptr.as_ref() })
}

/// A handle to the running coroutine, if any.
pub(crate) fn current_handle() -> Option<Coroutine> {
    with_running(|r| r.map(|r| r.coroutine.clone()))
}

/// Runs `f` on the stack of the worker that resumed the running coroutine (corosensei
/// links the two stacks, so backtraces still show the coroutine's frames). While `f`
/// runs, the thread does not count as being on the coroutine, so `f` can never try to
/// suspend from the worker's stack. Returns `None` on a plain thread.
pub(crate) fn on_worker_stack<R>(f: impl FnOnce() -> R + Send) -> Option<R> {
    with_running(|running| {
        running.map(|r| {
            let me = RUNNING.replace(ptr::null());
            let _restore = Restore(me);
            r.yielder.on_parent_stack(f)
        })
    })
}

/// Bytes of the running coroutine's stack kept below the frame of [`shrink_stack`]:
/// the frames of the switch to the worker's stack, in use while the pages below go.
/// They are a few hundred bytes (no large locals on that path).
const SHRINK_MARGIN: usize = 1024;

/// Gives back the pages of the running coroutine's stack below the caller's frame; see
/// [`crate::coroutine::shrink_stack`]. Returns the bytes of address range discarded.
#[inline(never)]
pub(crate) fn shrink_stack() -> usize {
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let Some(bottom) = with_running(|running| running.map(|r| r.stack.guard.end)) else {
        return 0;
    };
    let to = here.saturating_sub(SHRINK_MARGIN) & !(crate::sys::page_size() - 1);
    if to <= bottom {
        return 0;
    }
    // The `madvise` runs on the worker's stack: on ours, its own frames would lie
    // below `here`, in the pages it discards.
    on_worker_stack(move || {
        // SAFETY: `[bottom, to)` is page aligned (the usable part of a stack mapping
        // starts on a page) and lies below every frame of this coroutine still in use:
        // ours, and the switch to the worker's stack, which fits in SHRINK_MARGIN. The
        // stack grows down, so no live frame of a coroutine is below its deepest one.
        unsafe { crate::sys::mapping::discard_pages(bottom, to) }
    });
    to - bottom
}

/// Whether the calling code runs on a coroutine.
pub(crate) fn in_coroutine() -> bool {
    !RUNNING.get().is_null()
}

/// Spends one unit of the I/O budget; when it runs out, yields so that one connection
/// that always has data cannot starve the others on its worker.
pub(crate) fn consume_budget() {
    with_running(|r| {
        if let Some(r) = r {
            let left = r.budget.get().saturating_sub(1);
            if left == 0 {
                tracing::trace!(coroutine = ?r.coroutine.id(), "I/O budget spent, yielding");
                r.suspend(Suspend::Yield);
            } else {
                r.budget.set(left);
            }
        }
    });
}

/// Read by the fault handler: guard range and identity of the running coroutine.
///
/// Must stay async-signal-safe: a thread-local load and plain reads, no allocation.
pub(crate) fn fault_info<R>(f: impl FnOnce(&Running<'_>) -> R) -> Option<R> {
    let ptr = RUNNING.get();
    // SAFETY: as in `with_running`; the fault interrupted the coroutine whose entry
    // frame the pointer refers to, and that frame is far above the guard page.
    unsafe { ptr.as_ref() }.map(f)
}
