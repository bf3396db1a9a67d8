//! The accept loop: one per listener, pinned to a worker.

use hebra::net::TcpListener;

use super::{Shared, connection};
use crate::listen::{ACCEPT_BACKOFF_FIRST, ACCEPT_BACKOFF_MAX, is_transient_accept_error};

/// Accepts until the listener is shut down. With a `home` worker, connections stay on
/// it: the kernel already spread them over the workers' listeners, and letting idle
/// workers steal them only moved work between cores (measured with a new connection
/// per request: 5% more CPU per request, the same rate).
pub(super) fn accept_loop(listener: TcpListener, shared: &std::sync::Arc<Shared>, home: Option<usize>) {
    let mut backoff = ACCEPT_BACKOFF_FIRST;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = ACCEPT_BACKOFF_FIRST;
                // At the cap this acceptor waits with its one accepted client, and
                // later clients wait in the kernel's accept queue, where they cost no
                // descriptor and no coroutine. The permit is taken after `accept`:
                // with one listener per worker, a permit held while waiting on an idle
                // listener would be lost to the clients of the others.
                let Ok(()) = shared.permits.1.recv() else { return };
                let permit = Permit(shared.clone());
                let mut builder = hebra::coroutine::Builder::new();
                if let Some(worker) = home {
                    builder = builder.worker(worker);
                }
                let spawned = builder.spawn(move || {
                    let permit = permit;
                    connection::serve(stream, peer, &permit.0);
                });
                if let Err(err) = spawned {
                    tracing::error!(%err, "cannot start a connection's coroutine");
                }
            }
            Err(_) if shared.shutdown.is_requested() => return,
            Err(err) if is_transient_accept_error(&err) => {}
            Err(err) => {
                tracing::warn!(%err, pause = ?backoff, "accept failed; pausing before the next accept");
                hebra::sleep(backoff);
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// A connection's share of `max_connections`, returned when the connection ends.
pub(super) struct Permit(std::sync::Arc<Shared>);

impl Drop for Permit {
    fn drop(&mut self) {
        let _ = self.0.permits.0.try_send(());
    }
}
