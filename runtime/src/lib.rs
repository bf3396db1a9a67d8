//! Green threads for Rust: write plain sequential, blocking-style code; run it on a few
//! OS threads with the cost profile of an event loop.
//!
//! hebra runs each [`spawn`]ed closure as a *coroutine* on its own small stack. When a
//! coroutine would block (a socket says `EAGAIN`, it sleeps, it joins another, it waits
//! for a helper thread) it parks, and its worker thread runs another one. Sockets wake
//! their coroutines through a per-worker epoll netpoller; timers through a per-worker
//! timer heap. Idle workers steal coroutines that have not started yet.
//!
//! ```
//! use std::io::{Read, Write};
//!
//! hebra::run(|| {
//!     let listener = hebra::net::TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let server = hebra::spawn(move || {
//!         let (mut stream, _) = listener.accept().unwrap();
//!         let mut buf = [0; 5];
//!         stream.read_exact(&mut buf).unwrap(); // parks, never blocks the worker
//!         stream.write_all(&buf).unwrap();
//!     });
//!     let mut client = hebra::net::TcpStream::connect(addr).unwrap();
//!     client.write_all(b"hello").unwrap();
//!     let mut echo = [0; 5];
//!     client.read_exact(&mut echo).unwrap();
//!     assert_eq!(&echo, b"hello");
//!     server.join().unwrap();
//! });
//! ```
//!
//! # The model
//!
//! The API mirrors `std`: [`spawn`] and [`JoinHandle`] as `std::thread`, [`net`] as
//! `std::net`, [`coroutine::park`] as `std::thread::park`, [`sleep`] as
//! `std::thread::sleep`, [`sync`] as `std::sync`, [`fs`] as `std::fs`; and [`chan`]
//! with [`select!`] mirror `crossbeam-channel`. Called outside a coroutine, the
//! functions that would block do what their `std` namesakes do, and sockets block the
//! calling thread as std sockets do; a channel or a lock can be shared between
//! coroutines and plain threads.
//!
//! A coroutine starts on whichever worker takes it first and stays on that worker from
//! then on. This keeps everything a coroutine holds across a park (`!Send` values, guards
//! of std locks, thread-local addresses) on the thread that created it.
//!
//! # Caveats
//!
//! - **Thread-locals are per worker, not per coroutine**: coroutines on one worker share
//!   them.
//! - **Blocking calls block a worker**, and with it every coroutine living there: use
//!   [`unblock`] for blocking system calls and long computations. A worker blocked for
//!   long is reported with a `tracing` warning.
//! - **A `std::sync::Mutex` held across a park can deadlock the worker**: another
//!   coroutine of the same worker that blocks on it blocks the thread the holder needs.
//!   A [`sync::Mutex`] parks instead, so its guard may be held across a park.
//! - **Stacks are fixed-size** ([`DEFAULT_STACK_SIZE`], settable per runtime and per
//!   coroutine). An overflow hits a guard page and aborts the process with a message
//!   naming the coroutine. Each stack takes two memory maps, and Linux allows 65530 per
//!   process by default: raise `vm.max_map_count` for more than ~30,000 coroutines.
//! - **`panic = "unwind"` is required**: shutdown unwinds parked coroutines so their
//!   destructors run, and a coroutine's panic is caught and handed to its `JoinHandle`.
//! - A panic hook set with `std::panic::set_hook` after the first runtime was built
//!   runs on the coroutine's stack; hebra's own hook moves the default one to the
//!   worker's stack, where printing a backtrace has room.

#[cfg(panic = "abort")]
compile_error!(
    "hebra requires panic = \"unwind\": it unwinds coroutines at shutdown and catches their panics"
);

mod blocking;
pub mod chan;
pub mod coroutine;
mod facade;
pub mod fs;
pub mod net;
mod netpoll;
mod runtime;
mod scheduler;
pub mod sync;
pub mod sys;
mod timer;

use std::time::{Duration, Instant};

pub use blocking::unblock;
pub use coroutine::JoinHandle;
pub use runtime::{Builder, DEFAULT_STACK_SIZE, MIN_STACK_SIZE, Runtime};

use coroutine::running::{self, Suspend};
use coroutine::wait::{self, WaitOutcome};

/// Starts a runtime with default settings, runs `f` as its main coroutine and returns
/// its result; a panic in `f` is re-raised here.
///
/// When `f` returns, the coroutines still parked are unwound on their own worker (their
/// destructors run), the workers stop and nothing leaks; a coroutine stuck in a blocking
/// call is waited for.
///
/// # Panics
///
/// If called from inside a runtime, if the runtime cannot start, and if `f` panics.
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    runtime::assert_outside_runtime("hebra::run");
    let runtime =
        Builder::new().build().unwrap_or_else(|err| panic!("hebra::run: cannot start a runtime: {err}"));
    runtime.block_on(f)
}

/// Spawns a coroutine on the current runtime and returns its [`JoinHandle`].
///
/// # Panics
///
/// Outside a runtime (use [`Runtime::spawn`] there).
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    scheduler::with_current(|scheduler| match scheduler {
        Some(scheduler) => scheduler
            .spawn(scheduler::SpawnOptions::default(), f)
            .expect("the runtime's own settings are valid"),
        None => panic!("hebra::spawn called outside a hebra runtime; use Runtime::spawn"),
    })
}

/// Number of worker threads of the current runtime.
///
/// # Panics
///
/// Outside a runtime.
pub fn workers() -> usize {
    scheduler::with_current(|scheduler| scheduler.map(|s| s.workers()))
        .unwrap_or_else(|| panic!("hebra::workers called outside a hebra runtime"))
}

/// Lets the other runnable coroutines of this worker run before this one continues.
/// Outside a coroutine, `std::thread::yield_now`.
pub fn yield_now() {
    running::with_running(|running| match running {
        Some(r) => r.suspend(Suspend::Yield),
        None => std::thread::yield_now(),
    });
}

/// Suspends the calling coroutine for at least `duration`; its worker runs others
/// meanwhile. Outside a coroutine, `std::thread::sleep`. Park tokens are left alone.
pub fn sleep(duration: Duration) {
    if running::in_coroutine() {
        match Instant::now().checked_add(duration) {
            Some(deadline) => sleep_until(deadline),
            // A deadline past the end of time: only shutdown ends this wait.
            None => while wait::wait(None) != WaitOutcome::Cancelled {},
        }
    } else {
        std::thread::sleep(duration);
    }
}

/// Suspends the calling coroutine until `deadline`. Outside a coroutine, the thread
/// sleeps until then.
pub fn sleep_until(deadline: Instant) {
    if !running::in_coroutine() {
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        return;
    }
    // Nobody else has a waiter for these waits, so only the deadline ends them.
    while Instant::now() < deadline {
        if wait::wait(Some(deadline)) == WaitOutcome::Cancelled {
            return;
        }
    }
}
