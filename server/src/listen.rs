//! Listening sockets for the engines, and the accept policy they share.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections per listener: what nginx and mio use; the kernel caps it at
/// `net.core.somaxconn`.
const BACKLOG: i32 = 1024;

/// `count` listeners on one address with `SO_REUSEPORT`, so the kernel hashes each
/// new connection to exactly one of them: no thundering herd, no shared accept lock.
/// With port 0 the first picks the port and the rest join it.
///
/// `SO_REUSEPORT` would also let a second server of the same user join the group
/// silently and take part of the connections; a probe bound without it first makes an
/// address in use an error, as it is for any server. (A port that another server
/// binds in the instant between the probe and the group still slips through.)
pub(crate) fn bind_reuseport(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    if count > 1 && addr.port() != 0 {
        drop(listener(addr, false)?);
    }
    let first = listener(addr, count > 1)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(listener(addr, true)?);
    }
    Ok(listeners)
}

fn listener(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket
        .bind(&addr.into())
        .map_err(|err| io::Error::new(err.kind(), format!("cannot bind {addr}: {err}")))?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Backoff after an accept error that retrying at once cannot fix (out of file
/// descriptors or memory): doubles from the first value to the last, so a server out of
/// descriptors neither spins nor stops accepting for long once some are freed.
pub(crate) const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(5);
pub(crate) const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Whether an accept error is about one connection, not about the listener, so the
/// next accept may succeed at once: `accept(2)` also reports the new connection's
/// network errors (its man page's list).
pub(crate) fn is_transient_accept_error(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EINTR
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}
