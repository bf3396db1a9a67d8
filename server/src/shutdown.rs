//! Asking a running server to stop, from any thread or from a signal.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hebra::chan::{self, Receiver, Sender};

/// Starts a graceful shutdown of the [`Server`](crate::Server) it came from. Cheap to
/// clone; usable from plain threads, coroutines and signal-watching threads alike.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    requested: AtomicBool,
    // A token in a one-slot channel: whoever waits (the engine) parks on it, which
    // works for coroutines and threads without a second mechanism.
    token: Sender<()>,
    waiting: Receiver<()>,
}

impl ShutdownHandle {
    pub(crate) fn new() -> ShutdownHandle {
        let (token, waiting) = chan::bounded(1);
        ShutdownHandle { inner: Arc::new(Inner { requested: AtomicBool::new(false), token, waiting }) }
    }

    /// Requests the graceful shutdown; later calls do nothing.
    pub fn shutdown(&self) {
        if !self.inner.requested.swap(true, Ordering::AcqRel) {
            let _ = self.inner.token.try_send(());
        }
    }

    pub fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::Acquire)
    }

    /// Parks (or blocks, on a plain thread) until a shutdown is requested.
    pub fn wait(&self) {
        if self.inner.waiting.recv().is_ok() {
            // Pass the token on, for whoever else waits.
            let _ = self.inner.token.try_send(());
        }
    }

    /// Turns the first SIGINT or SIGTERM into [`shutdown`](Self::shutdown), and
    /// exits the process at once (status 130) on the second: an operator who presses
    /// Ctrl-C twice means it.
    pub fn shutdown_on_signals(&self) -> io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let handle = self.clone();
        std::thread::Builder::new().name("hebra-serve-signals".into()).spawn(move || {
            let mut seen = 0;
            for signal in signals.forever() {
                seen += 1;
                if seen == 1 {
                    tracing::info!(signal, "shutting down gracefully; send the signal again to exit now");
                    handle.shutdown();
                } else {
                    tracing::warn!(signal, "second signal: exiting now");
                    std::process::exit(130);
                }
            }
        })?;
        Ok(())
    }
}
