//! Helpers shared by the integration tests: hang detection, child processes (the
//! example programs among them, in `example`), drop recorders and the few socket options
//! std does not expose.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

pub mod example;
pub mod http;

use std::any::Any;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Bound for tests that would hang on a lost wakeup: far above their normal run time even
/// on a loaded 2-core machine in a debug build.
pub const HANG_BOUND: Duration = Duration::from_secs(60);

/// Runs `f` on its own thread and returns its result, or panics with a message naming
/// `what` if it has not finished within `limit`. A panic in `f` is re-raised here.
///
/// A hung runtime cannot be stopped, so on timeout the thread is left behind; the test
/// process exits when the harness is done.
pub fn within<T, F>(what: &str, limit: Duration, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (done, finished) = mpsc::channel();
    let body = thread::Builder::new()
        .name(format!("hang-bound: {what}"))
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = done.send(result);
        })
        .expect("cannot start the test body thread");
    match finished.recv_timeout(limit) {
        Ok(Ok(value)) => {
            body.join().expect("the body thread caught its own panic");
            value
        }
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "{what} did not finish within {limit:?}: the runtime is probably hung \
             (a lost wakeup, a starved coroutine or a stuck worker)"
        ),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{what}: the body thread died without reporting")
        }
    }
}

/// A runtime with `workers` workers running `f` as its main coroutine, under the hang
/// bound; the runtime is dropped (shut down) before this returns.
pub fn run_with<T, F>(workers: usize, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    within("runtime body", HANG_BOUND, move || {
        let runtime = hebra::Builder::new().workers(workers).build().expect("cannot build a runtime");
        runtime.block_on(f)
    })
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Counts the drops of the values it hands out: proves a destructor ran.
#[derive(Clone, Debug, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub fn new() -> DropCounter {
        DropCounter::default()
    }

    /// A value whose drop increments this counter.
    pub fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }

    pub fn drops(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
pub struct DropToken(Arc<AtomicUsize>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Environment variable that tells a re-executed test binary which child role to play.
pub const CHILD_ENV: &str = "HEBRA_TEST_CHILD";

/// Whether this process is the child started by [`child`] for `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(test)
}

/// A command that re-executes this test binary running only `test`, in child mode.
/// `--include-ignored`: the child must run even when `test` is an ignored one that the
/// parent was asked to run.
pub fn child(test: &str) -> Command {
    let exe = std::env::current_exe().expect("no path to the test binary");
    let mut command = Command::new(exe);
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1", "--include-ignored"])
        .env(CHILD_ENV, test);
    command
}

/// Asserts that a child started by [`child`] ran its one test and passed it.
pub fn assert_child_passed(output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child failed ({:?}); stdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `command` to completion under the hang bound and returns what it printed.
pub fn output_within(mut command: Command, limit: Duration) -> Output {
    within("child process", limit, move || command.output().expect("cannot start the child process"))
}

/// Sets `SO_LINGER` to zero: closing the socket then sends a RST instead of a FIN.
pub fn set_linger_zero(socket: &impl AsRawFd) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    setsockopt(socket, libc::SOL_SOCKET, libc::SO_LINGER, &linger);
}

/// Sets the kernel receive buffer size (the kernel doubles it and applies a minimum).
pub fn set_recv_buffer(socket: &impl AsRawFd, bytes: libc::c_int) {
    setsockopt(socket, libc::SOL_SOCKET, libc::SO_RCVBUF, &bytes);
}

/// Sets the kernel send buffer size (the kernel doubles it and applies a minimum).
pub fn set_send_buffer(socket: &impl AsRawFd, bytes: libc::c_int) {
    setsockopt(socket, libc::SOL_SOCKET, libc::SO_SNDBUF, &bytes);
}

fn setsockopt<T>(socket: &impl AsRawFd, level: libc::c_int, name: libc::c_int, value: &T) {
    // SAFETY: `value` points to a live, initialised T and the length passed is its size;
    // the fd is borrowed from a socket that stays open for the call.
    let res = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    assert_eq!(res, 0, "setsockopt({level}, {name}) failed: {}", std::io::Error::last_os_error());
}

/// Calls `listen(2)` again on a listening socket: on Linux this changes its backlog.
/// std (and so hebra) listens with a backlog of 128.
pub fn set_backlog(listener: &impl AsRawFd, backlog: libc::c_int) {
    // SAFETY: listen on a borrowed, open socket fd touches no memory of ours.
    let res = unsafe { libc::listen(listener.as_raw_fd(), backlog) };
    assert_eq!(res, 0, "listen({backlog}) failed: {}", std::io::Error::last_os_error());
}

/// 127.0.0.1 with a port chosen by the kernel. A `SocketAddr`, not a string: strings go
/// through the resolver on a helper thread (`hebra::unblock`), which only the tests of
/// name resolution should depend on.
pub const LOCALHOST: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));

/// Spawns a coroutine pinned to `worker` of the current runtime.
pub fn spawn_on<T: Send + 'static>(
    worker: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> hebra::JoinHandle<T> {
    hebra::coroutine::Builder::new().worker(worker).spawn(f).expect("cannot spawn a coroutine")
}

/// Joins a plain thread from a coroutine without blocking its worker.
pub fn join_thread<T: Send + 'static>(thread: std::thread::JoinHandle<T>) -> T {
    hebra::unblock(move || thread.join().expect("the plain thread panicked"))
}
