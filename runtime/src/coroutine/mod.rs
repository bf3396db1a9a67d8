//! Coroutines: spawning, joining, parking, and the handle of the running one.
//!
//! This mirrors `std::thread`: [`spawn`](crate::spawn) returns a [`JoinHandle`], a
//! [`Builder`] names a coroutine or sizes its stack, [`current`] gives a [`Coroutine`]
//! handle (like std's `Thread`) whose [`unpark`](Coroutine::unpark) wakes a
//! coroutine blocked in [`park`].
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//!
//! hebra::run(|| {
//!     let flag = Arc::new(AtomicBool::new(false));
//!     let parked = {
//!         let flag = flag.clone();
//!         hebra::coroutine::Builder::new()
//!             .name("waiter".into())
//!             .spawn(move || {
//!                 while !flag.load(Ordering::Acquire) {
//!                     hebra::coroutine::park(); // suspends this coroutine only
//!                 }
//!                 hebra::coroutine::current().name().map(str::to_owned)
//!             })
//!             .unwrap()
//!     };
//!     flag.store(true, Ordering::Release);
//!     parked.coroutine().unpark();
//!     assert_eq!(parked.join().unwrap().as_deref(), Some("waiter"));
//! });
//! ```
//!
//! A coroutine runs on one worker thread from its first instruction to its last (see
//! the crate docs): thread-locals are per worker, not per coroutine.

mod builder;
mod join;
pub(crate) mod overflow;
mod panic_hook;
pub(crate) mod running;
pub(crate) mod stack;
pub(crate) mod task;
pub(crate) mod wait;

pub use builder::Builder;
pub use join::JoinHandle;

use std::fmt;
use std::io;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use task::{Header, Runnable};

/// A handle to a coroutine, like `std::thread::Thread`: cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Coroutine {
    inner: Arc<dyn Runnable>,
}

impl Coroutine {
    pub(crate) fn from_task(task: Arc<dyn Runnable>) -> Coroutine {
        Coroutine { inner: task }
    }

    /// The coroutine's unique identifier.
    pub fn id(&self) -> CoroutineId {
        self.header().id
    }

    /// The name given with [`Builder::name`], if any.
    pub fn name(&self) -> Option<&str> {
        self.header().name.as_deref()
    }

    /// Makes the park token available: the coroutine's next (or current) [`park`]
    /// returns. Works from any coroutine, any worker, and any plain thread.
    pub fn unpark(&self) {
        wait::unpark(self);
    }

    pub(crate) fn header(&self) -> &Header {
        self.inner.header()
    }

    pub(crate) fn runnable(&self) -> &dyn Runnable {
        &*self.inner
    }

    /// Makes this parked coroutine runnable on its home worker.
    pub(crate) fn schedule(&self) {
        self.header().scheduler.schedule(self);
    }

    pub(crate) fn same(&self, other: &Coroutine) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.inner), Arc::as_ptr(&other.inner))
    }
}

impl fmt::Debug for Coroutine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coroutine")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// A unique identifier of a coroutine in this process; never reused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct CoroutineId(NonZeroU64);

impl CoroutineId {
    pub(crate) fn from_raw(id: u64) -> CoroutineId {
        CoroutineId(NonZeroU64::new(id).expect("coroutine ids start at 1 and never wrap around 2^64"))
    }

    /// The identifier as a number.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

/// The handle of the coroutine that calls it.
///
/// # Panics
///
/// Outside a coroutine (on a plain thread), with a message saying so.
pub fn current() -> Coroutine {
    running::current_handle()
        .unwrap_or_else(|| panic!("hebra::coroutine::current() called outside a coroutine"))
}

/// Gives back to the kernel the pages of the calling coroutine's stack below the
/// caller's frame, which deeper calls touched earlier and no frame uses now; returns
/// the bytes of stack discarded (resident or not). Does nothing (returns 0) on a plain
/// thread.
///
/// A stack page, once touched, stays resident for the coroutine's life. A coroutine
/// about to wait a long time after deep calls (a keep-alive connection between
/// requests, say) can call this first, so that thousands of idle coroutines cost only
/// the pages of their shallow waiting frames. The pages read as zeroes afterwards and
/// cost a page fault each when touched again: call it before long waits, not in a hot
/// loop. Costs one `madvise` call.
///
/// ```
/// hebra::run(|| {
///     fn deep(n: u32) -> u32 {
///         let buf = std::hint::black_box([n as u8; 1024]);
///         if n == 0 { buf[0] as u32 } else { deep(n - 1) + buf[1] as u32 }
///     }
///     hebra::spawn(|| {
///         deep(12); // touches 12 KiB of stack or more
///         assert!(hebra::coroutine::shrink_stack() >= 8 * 1024);
///         deep(12) // and the stack works as before
///     })
///     .join()
///     .unwrap();
/// });
/// ```
pub fn shrink_stack() -> usize {
    running::shrink_stack()
}

/// Blocks the calling coroutine until its park token is available, then consumes it:
/// the `std::thread::park` contract, tokens included. It may return spuriously, so call
/// it in a loop that checks a condition.
///
/// Only this coroutine waits: its worker runs others meanwhile. On a plain thread it is
/// `std::thread::park`.
pub fn park() {
    running::with_running(|running| match running {
        Some(r) => wait::park(r, None),
        None => std::thread::park(),
    });
}

/// Like [`park`], returning at the latest after `timeout`.
pub fn park_timeout(timeout: Duration) {
    running::with_running(|running| match running {
        Some(r) => wait::park(r, Instant::now().checked_add(timeout)),
        None => std::thread::park_timeout(timeout),
    });
}

/// Installs what every runtime needs once per process: the stack-overflow reporter and
/// the panic hook that runs on the worker's stack.
pub(crate) fn install_process_hooks() -> io::Result<()> {
    overflow::install()?;
    panic_hook::install();
    Ok(())
}
