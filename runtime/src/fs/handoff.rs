//! The one way `hebra::fs` (and `TcpStream::sendfile`) waits for the disk: try the
//! operation inline when the kernel can prove it will not wait, else hand it to the
//! helper pool while the coroutine parks, and count the hand-off.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::blocking::unblock_scoped;
use crate::coroutine::running;
use crate::sys;

static HANDOFFS: AtomicU64 = AtomicU64::new(0);

/// How many operations `hebra::fs` and [`TcpStream::sendfile`](crate::net::TcpStream::sendfile)
/// have handed to the helper pool in this process because they might wait for the disk.
///
/// Diagnostic only: a rising count under a steady load means the working set does not
/// fit in the page cache. Operations on plain threads run inline and are not counted.
pub fn pool_handoffs() -> u64 {
    // Relaxed: a statistic, ordered with nothing.
    HANDOFFS.load(Ordering::Relaxed)
}

/// Runs `f` on the helper pool while the calling coroutine parks, counting the
/// hand-off; on a plain thread, runs it inline.
pub(crate) fn offload<'a, T: Send + 'a>(f: impl FnOnce() -> T + Send + 'a) -> T {
    if running::in_coroutine() {
        HANDOFFS.fetch_add(1, Ordering::Relaxed);
    }
    unblock_scoped(f)
}

/// Runs `cached` inline on a coroutine; if it answers `WouldBlock` (it would need the
/// disk), runs `uncached` on the pool. On a plain thread, where blocking is allowed,
/// runs `uncached` alone.
pub(crate) fn cached_or_offload<T: Send>(
    cached: impl FnOnce() -> io::Result<T>,
    uncached: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    if !running::in_coroutine() {
        return uncached();
    }
    match cached() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => offload(uncached),
        result => {
            running::consume_budget();
            result
        }
    }
}

/// One `sendfile` of `count` bytes from `offset`: inline if the range is in the page
/// cache and readable now (or on a plain thread), else on the pool. The socket is
/// non-blocking, so the pool thread waits only for the disk; its `WouldBlock` goes
/// back to the caller's park-on-EAGAIN loop. Pages evicted between the check and the
/// call make that one call wait for the disk inline: a narrow race, accepted.
pub(crate) fn sendfile(
    socket: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: u64,
    count: usize,
) -> io::Result<usize> {
    let mut offset = offset;
    if running::in_coroutine() && !ready_in_cache(file, offset, count as u64) {
        return offload(|| sys::sendfile(socket, file, &mut offset, count));
    }
    sys::sendfile(socket, file, &mut offset, count)
}

/// Whether `sendfile` of the range can run without waiting for the disk. Residency
/// alone is not enough: pages that readahead has added to the cache but is still
/// reading count as cached. Readahead fills a file front to back, so the range's last
/// byte is the one most likely still in flight, and a read of it that refuses to wait
/// (`RWF_NOWAIT`) tells.
fn ready_in_cache(file: BorrowedFd<'_>, offset: u64, count: u64) -> bool {
    if !sys::is_resident(file, offset, count).unwrap_or(false) {
        return false;
    }
    let mut last = [0; 1];
    match sys::pread_nowait(file, &mut last, offset + count.saturating_sub(1)) {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::Unsupported => true,
        Err(_) => false,
    }
}
