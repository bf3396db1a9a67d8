//! Locks and coordination for coroutines: they park the coroutine, never its worker.
//!
//! The types mirror `std::sync` ([`Mutex`], [`RwLock`], [`Condvar`], [`Barrier`]) and
//! add crossbeam's [`WaitGroup`] and a [`Semaphore`]. Waiting for one of them parks
//! the calling coroutine and its worker runs other coroutines meanwhile; on a plain OS
//! thread it blocks the thread, as std's would. Coroutines on any worker and plain
//! threads can share one value.
//!
//! Use these rather than `std::sync`'s when a lock may be *held across a park* (a
//! sleep, a socket read, a channel receive): with a std mutex, a second coroutine of
//! the same worker that wants the lock blocks the very thread the holder needs to
//! finish, and the worker deadlocks. With [`Mutex`] it parks:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use hebra::sync::Mutex;
//!
//! hebra::run(|| {
//!     let log = Arc::new(Mutex::new(Vec::new()));
//!     let mut guard = log.lock().unwrap();
//!     let other = {
//!         let log = log.clone();
//!         hebra::spawn(move || log.lock().unwrap().push("other")) // parks until we unlock
//!     };
//!     hebra::sleep(Duration::from_millis(10)); // parks holding the lock
//!     guard.push("main");
//!     drop(guard);
//!     other.join().unwrap();
//!     assert_eq!(*log.lock().unwrap(), ["main", "other"]);
//! });
//! ```
//!
//! For a short critical section that never parks, `std::sync::Mutex` is fine too.
//!
//! # Shutdown
//!
//! When the runtime shuts down it unwinds the coroutines still parked, running their
//! destructors. Such a coroutine cannot park any more. A destructor that needs a lock
//! or a permit somebody else holds blocks its thread instead, for up to a second: a
//! holder on another worker (being unwound too) or on a plain thread lets go well
//! within that. A holder parked on the *same* worker is unwound only after this
//! coroutine and never lets go, so that wait then panics, naming the primitive (and a
//! panic in a destructor aborts). A [`WaitGroup`] waits the same way and then returns
//! with a warning; a [`Barrier`] leaves its round at once, since the other parties are
//! being unwound; condvar waits just return, as spurious wakeups may, and a
//! [`Condvar::wait_while`] polls its condition for up to a second, then panics. A guard dropped
//! by that unwinding poisons its lock, as a panic would, since the critical section
//! was cut short.
//!
//! # How they wait
//!
//! Every waiter is a `Signal` (the `signal` module): the waiter queues it and parks,
//! and whoever releases what it waits for claims it with one CAS, which also decides
//! against the waiter giving up (a timeout), and wakes it. A claim may *grant*: the
//! lock or permit is handed over with the wakeup ([`RwLock`], [`Semaphore`], a
//! [`Mutex`] whose waiter waited too long), so the woken waiter cannot lose it to a
//! newcomer. [`Mutex`] keeps its uncontended path on one atomic word; the others keep
//! their state under a short `std::sync::Mutex` that is never held across a park.

mod barrier;
mod condvar;
mod mutex;
mod poison;
mod raw_mutex;
mod rwlock;
mod semaphore;
mod signal;
mod unwind;
mod wait_group;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphoreGuard};
#[cfg(all(test, loom))]
pub(crate) use signal::SignalState; // for the loom model in `coroutine::wait`
pub(crate) use signal::{Claim, Interrupted, Signal};
pub(crate) use unwind::wait_or_unwind;
pub use wait_group::WaitGroup;
