//! Unix domain stream sockets: [`UnixListener`] and [`UnixStream`].

use std::io;
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use super::std_api::{blocking_mode, fd_traits, stream_io, timeouts};
use crate::netpoll::{Direction, IoSource};

/// A Unix stream server socket whose `accept` parks the calling coroutine.
pub struct UnixListener {
    source: IoSource<net::UnixListener>,
}

impl UnixListener {
    /// Binds to the socket file at `path` (which must not exist yet).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let listener = net::UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(UnixListener { source: IoSource::new(listener, false) })
    }

    /// Accepts a connection, parking until one arrives.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.source.do_io(Direction::Read, |l| l.accept())?;
        stream.set_nonblocking(true)?;
        Ok((UnixStream { source: IoSource::new(stream, false) }, addr))
    }

    /// An iterator over incoming connections; never returns `None`.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    pub fn try_clone(&self) -> io::Result<UnixListener> {
        let clone = self.source.get_ref().try_clone()?;
        Ok(UnixListener { source: IoSource::with_settings(clone, self.source.settings().clone()) })
    }
}

/// Iterator returned by [`UnixListener::incoming`].
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A Unix stream connection whose reads and writes park the calling coroutine.
pub struct UnixStream {
    source: IoSource<net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path`. A full backlog makes a non-blocking connect
    /// fail with `EAGAIN` and no readiness event follows, so that case retries after a
    /// short sleep.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let addr = SockAddr::unix(path)?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        loop {
            match socket.connect(&addr) {
                Ok(()) => break,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => crate::sleep(Duration::from_millis(1)),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(UnixStream {
            source: IoSource::new(net::UnixStream::from(std::os::fd::OwnedFd::from(socket)), false),
        })
    }

    /// Two connected sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        Ok((UnixStream { source: IoSource::new(a, false) }, UnixStream { source: IoSource::new(b, false) }))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().peer_addr()
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.get_ref().shutdown(how)
    }

    /// A second handle to the same socket, sharing its timeouts and blocking mode.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        let clone = self.source.get_ref().try_clone()?;
        Ok(UnixStream { source: IoSource::with_settings(clone, self.source.settings().clone()) })
    }
}

fd_traits!(UnixListener, UnixStream);
blocking_mode!(UnixListener, net::UnixListener);
blocking_mode!(UnixStream, net::UnixStream);
timeouts!(UnixStream);
stream_io!(UnixStream);
