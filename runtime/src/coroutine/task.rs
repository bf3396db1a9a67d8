//! One allocation per coroutine: its shared header, its closure and its output.
//!
//! A spawn allocates a single `Arc<Task<F, T>>`, seen by everyone else as
//! `Arc<dyn Runnable>` (the [`Coroutine`](super::Coroutine) handle). The
//! [`JoinHandle<T>`](super::JoinHandle) holds that same handle and reaches the typed
//! [`OutputCell<T>`] through a checked downcast, so a spawn costs one allocation and one
//! reference count per holder.
//!
//! # The join protocol
//!
//! [`JoinState`] holds three bits and one waiter slot:
//!
//! | bit | set by | meaning |
//! |---|---|---|
//! | `STARTED` | the one party that claims the closure (to run it, or to drop it unrun) | the closure cell is no longer anybody else's |
//! | `WAITER` | the joiner, after writing its waiter into the slot | the slot is published: only completion may touch it |
//! | `DONE` | the runner, after writing the output | the output cell is the joiner's |
//!
//! - The closure cell is touched only by the thread whose `fetch_or(STARTED)` saw the
//!   bit clear.
//! - The output cell is written by that thread before `DONE` is published (Release) and
//!   read only by the `JoinHandle` after it observed `DONE` (Acquire); `join` consumes
//!   the handle, so there is one reader.
//! - The waiter slot is written by the joiner only while `WAITER` and `DONE` are both
//!   clear; completion reads it only if its `fetch_or(DONE)` saw `WAITER`, and from then
//!   on the joiner never touches it. A joiner that registers again (a plain thread woken
//!   spuriously) first clears `WAITER` with a compare-exchange that fails once `DONE` is
//!   set. This is checked by the loom models below.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::thread;

use super::CoroutineId;
use super::wait::{WaitState, Waiter};
use crate::facade::{AtomicU8, UnsafeCell};
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
    pub(crate) join: JoinState,
}

impl Header {
    pub(crate) fn new(name: Option<String>, stack_size: usize, scheduler: Arc<Scheduler>) -> Header {
        Header {
            id: next_id(),
            name: name.map(String::into_boxed_str),
            stack_size,
            state: WaitState::new(),
            home: AtomicUsize::new(NO_HOME),
            slot: AtomicU32::new(0),
            scheduler,
            join: JoinState::new(),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.join.is_finished()
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

/// Coroutine ids come from the global counter in blocks, so that spawning on several
/// workers does not contend on one cache line.
fn next_id() -> CoroutineId {
    const BLOCK: u64 = 1024;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    RANGE.with(|range| {
        let (next, end) = range.get();
        let id = if next < end {
            next
        } else {
            // Relaxed: uniqueness needs only the atomicity of the increment.
            NEXT.fetch_add(BLOCK, Ordering::Relaxed)
        };
        let end = if next < end { end } else { id + BLOCK };
        range.set((id + 1, end));
        CoroutineId::from_raw(id)
    })
}

/// The join protocol of the module docs: `STARTED`, `WAITER`, `DONE` and the slot of
/// the joiner's waiter.
pub(crate) struct JoinState {
    bits: AtomicU8,
    waiter: UnsafeCell<Option<Waiter>>,
}

// SAFETY: the waiter slot is accessed under the protocol of the module docs: written by
// the joiner only while WAITER and DONE are clear, read by completion only after its
// fetch_or(DONE) observed WAITER; the two never overlap. `Waiter` is Send.
unsafe impl Sync for JoinState {}

impl JoinState {
    fn new() -> JoinState {
        JoinState { bits: AtomicU8::new(0), waiter: UnsafeCell::new(None) }
    }

    pub(crate) fn is_finished(&self) -> bool {
        // Acquire: pairs with the Release in `finish`, making the output visible.
        self.bits.load(Ordering::Acquire) & DONE != 0
    }

    /// Claims the closure: `true` for exactly one caller.
    fn claim(&self) -> bool {
        // Relaxed: the closure itself was handed over by the queue that carried the
        // task; the read-modify-write alone decides the one claimant.
        self.bits.fetch_or(STARTED, Ordering::Relaxed) & STARTED == 0
    }

    /// Registers `waiter` to be woken on completion, replacing one registered before.
    /// Returns `false` (and drops the waiter) if the coroutine already finished.
    pub(crate) fn set_waiter(&self, waiter: Waiter) -> bool {
        let mut bits = self.bits.load(Ordering::Acquire);
        while bits & WAITER != 0 {
            if bits & DONE != 0 {
                return false;
            }
            // Withdraw the published slot before writing it again.
            match self.bits.compare_exchange(bits, bits & !WAITER, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => bits &= !WAITER,
                Err(now) => bits = now,
            }
        }
        if bits & DONE != 0 {
            return false;
        }
        // SAFETY: WAITER and DONE are clear, so completion does not read the slot and
        // we are the only joiner (join consumes its handle).
        self.waiter.with_mut(|slot| unsafe { *slot = Some(waiter) });
        // AcqRel: Release publishes the slot to completion; Acquire makes the output
        // visible if DONE came first.
        if self.bits.fetch_or(WAITER, Ordering::AcqRel) & DONE != 0 {
            // Completion set DONE before our WAITER, so it never looks at the slot.
            // SAFETY: as above; completion has already decided not to read it.
            self.waiter.with_mut(|slot| unsafe { *slot = None });
            return false;
        }
        true
    }

    /// Marks the output published; returns the joiner's waiter, if one is registered.
    fn finish(&self) -> Option<Waiter> {
        // Release: the output written before this is the joiner's once it sees DONE.
        // Acquire: the waiter written before WAITER is ours to take.
        if self.bits.fetch_or(DONE, Ordering::AcqRel) & WAITER == 0 {
            return None;
        }
        // SAFETY: we saw WAITER with DONE now set: the joiner will not write the slot
        // again, and nobody else reads it.
        self.waiter.with_mut(|slot| unsafe { (*slot).take() })
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
    /// The [`OutputCell`] of this coroutine's output type, for `JoinHandle` to downcast.
    fn output(&self) -> &dyn Any;
}

/// The output of a coroutine: written once by its runner, taken once by its `JoinHandle`.
pub(crate) struct OutputCell<T>(UnsafeCell<Option<thread::Result<T>>>);

impl<T> OutputCell<T> {
    /// Takes the output if the coroutine finished. Called by the one `JoinHandle`.
    pub(crate) fn take(&self, join: &JoinState) -> Option<thread::Result<T>> {
        if !join.is_finished() {
            return None;
        }
        // SAFETY: DONE was observed with Acquire, so the runner's write happened before
        // and it will not touch the cell again; the JoinHandle is the only reader.
        self.0.with_mut(|output| unsafe { (*output).take() })
    }
}

pub(crate) struct Task<F, T> {
    header: Header,
    closure: UnsafeCell<Option<F>>,
    output: OutputCell<T>,
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
        Task { header, closure: UnsafeCell::new(Some(closure)), output: OutputCell(UnsafeCell::new(None)) }
    }

    fn take_closure(&self) -> Option<F> {
        if !self.header.join.claim() {
            return None;
        }
        // SAFETY: this thread won the claim, so nobody else touches the closure cell.
        self.closure.with_mut(|closure| unsafe { (*closure).take() })
    }

    fn finish(&self, output: thread::Result<T>) {
        // SAFETY: only the claimant writes the output, once, before DONE is published;
        // the reader waits for DONE (see the module docs).
        self.output.0.with_mut(|cell| unsafe { *cell = Some(output) });
        if let Some(waiter) = self.header.join.finish() {
            waiter.wake();
        }
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
        let Some(closure) = self.take_closure() else { return };
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

    fn output(&self) -> &dyn Any {
        &self.output
    }
}

/// Panic payload of a coroutine that never ran to completion because its runtime shut
/// down: `join` returns `Err` with this `&'static str`.
pub(crate) const CANCELLED: &str = "coroutine cancelled: its runtime shut down";

pub(crate) fn cancelled_payload() -> Box<dyn Any + Send> {
    Box::new(CANCELLED)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::coroutine::wait::ThreadParker;

    fn task<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Arc<Task<impl FnOnce() -> T + Send, T>> {
        Arc::new(Task::new(Header::new(None, 0, Scheduler::detached()), f))
    }

    fn output<F, T>(t: &Task<F, T>) -> Option<thread::Result<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        t.output().downcast_ref::<OutputCell<T>>().unwrap().take(&t.header.join)
    }

    #[test]
    fn runs_once_and_publishes_output() {
        let t = task(|| 7);
        assert!(output(&t).is_none());
        t.run();
        t.run();
        assert!(t.header.is_finished());
        assert_eq!(output(&t).unwrap().unwrap(), 7);
        assert!(output(&t).is_none(), "taken once");
    }

    #[test]
    fn panic_becomes_err_and_cancel_drops_closure() {
        let t = task(|| -> u8 { panic!("boom") });
        let hook = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        t.run();
        panic::set_hook(hook);
        let err = output(&t).unwrap().unwrap_err();
        assert_eq!(*err.downcast::<&str>().unwrap(), "boom");

        let guard = Arc::new(());
        let held = guard.clone();
        let t = task(move || drop(held));
        t.cancel(Box::new("stopped"));
        assert_eq!(Arc::strong_count(&guard), 1, "closure dropped without running");
        assert!(output(&t).unwrap().is_err());
    }

    #[test]
    fn late_join_waiter_is_refused_and_early_one_is_handed_over() {
        let t = task(|| ());
        assert!(t.header.join.set_waiter(Waiter::Thread(ThreadParker::current())));
        assert!(t.header.join.set_waiter(Waiter::Thread(ThreadParker::current())), "registering again");
        t.run();
        assert!(t.header.is_finished());
        assert!(!t.header.join.set_waiter(Waiter::Thread(ThreadParker::current())));
    }

    #[test]
    fn ids_are_unique_across_threads() {
        let ids: Vec<u64> = (0..4)
            .map(|_| thread::spawn(|| (0..3000).map(|_| next_id().as_u64()).collect::<Vec<_>>()))
            .flat_map(|h| h.join().unwrap())
            .collect();
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::coroutine::wait::ThreadParker;
    use loom::sync::Arc;

    fn waiter() -> Waiter {
        Waiter::Thread(std::sync::Arc::new(ThreadParker::new()))
    }

    /// Whatever the interleaving, a joiner either sees the coroutine finished or its
    /// waiter is handed to the finisher, also when it registers a second time (a thread
    /// woken spuriously), and the slot is never accessed by both at once.
    #[test]
    fn join_waiter_is_never_lost() {
        loom::model(|| {
            let join = Arc::new(JoinState::new());
            let finisher = {
                let join = join.clone();
                loom::thread::spawn(move || join.finish().is_some())
            };
            let first = join.set_waiter(waiter());
            // The joiner waits only if its last registration succeeded.
            let waits = first && join.set_waiter(waiter());
            let handed_over = finisher.join().unwrap();
            if waits {
                assert!(handed_over, "a joiner that waits is woken");
            }
            if handed_over {
                assert!(first, "only a registered waiter is handed over");
            }
            assert!(join.is_finished());
        });
    }

    #[test]
    fn exactly_one_claimant() {
        loom::model(|| {
            let join = Arc::new(JoinState::new());
            let other = {
                let join = join.clone();
                loom::thread::spawn(move || join.claim())
            };
            let mine = join.claim();
            assert!(mine ^ other.join().unwrap());
        });
    }
}
