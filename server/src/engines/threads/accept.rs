//! The accept loop, and a thread for each connection it accepts.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::{Shared, connection};
use crate::listen::{ACCEPT_BACKOFF_FIRST, ACCEPT_BACKOFF_MAX, is_transient_accept_error};

/// Stack of a connection's thread. Most thread-per-connection servers keep their
/// platform's default: 2 MiB for Rust's std, 1 MiB for Java's (Tomcat, Jetty) and for
/// MySQL's `thread_stack`, 8 MiB for C from `ulimit -s`. Only the pages a thread touches
/// become resident, so the size changes the address space reserved, not the memory
/// measured: at 10,000 connections, 2.5 GiB instead of 20 GiB, which a machine with
/// strict overcommit (`vm.overcommit_memory=2`) would refuse; and a stack under 2 MiB is
/// never backed by a transparent huge page where THP is set to `always`. Measured: a
/// thread keeps 3 stack pages resident (release build), and the HTTP suites pass with
/// 32 KiB stacks in a debug build, a margin of eight; an overflow would hit the guard
/// page, which std reports before aborting.
const STACK_SIZE: usize = 256 * 1024;

/// Accepts until the listener is shut down and admissions stop.
pub(super) fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut backoff = ACCEPT_BACKOFF_FIRST;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                // At the cap this acceptor waits with its one accepted client, and later
                // clients wait in the kernel's accept queue, where they cost no
                // descriptor and no thread.
                match start(stream, peer, shared) {
                    Ok(true) => backoff = ACCEPT_BACKOFF_FIRST,
                    Ok(false) => return,
                    Err(err) => {
                        // EAGAIN: a thread limit (`ulimit -u`, `kernel.threads-max`,
                        // `kernel.pid_max`) or no memory for a stack. The next spawn
                        // would fail alike, so pause as for EMFILE; clients wait in the
                        // accept queue meanwhile.
                        tracing::error!(%err, %peer, pause = ?backoff, "cannot start a thread; connection closed");
                        pause(shared, &mut backoff);
                    }
                }
            }
            Err(_) if shared.shutdown.is_requested() => return,
            Err(err) if is_transient_accept_error(&err) => {}
            Err(err) => {
                tracing::warn!(%err, pause = ?backoff, "accept failed; pausing before the next accept");
                pause(shared, &mut backoff);
            }
        }
    }
}

/// Serves `stream` on a thread of its own once the connection cap allows: `Ok(false)`
/// if admissions stopped while it waited. A failed spawn drops the connection (and its
/// place under the cap) with the closure.
fn start(stream: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) -> io::Result<bool> {
    let Some(member) = shared.registry.admit(stream) else { return Ok(false) };
    let shared = shared.clone();
    thread::Builder::new()
        .name("hebra-conn".into())
        .stack_size(STACK_SIZE)
        .spawn(move || connection::serve(&member, peer, &shared))?;
    Ok(true)
}

fn pause(shared: &Shared, backoff: &mut Duration) {
    shared.registry.pause(*backoff);
    *backoff = (*backoff * 2).min(ACCEPT_BACKOFF_MAX);
}
