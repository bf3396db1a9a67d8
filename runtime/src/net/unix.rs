//! Unix domain stream sockets: [`UnixListener`] and [`UnixStream`].

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use super::tcp::fd_traits;
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

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
    }

    /// With `true`, `accept` returns `WouldBlock` instead of parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.source.set_nonblocking(nonblocking);
        Ok(())
    }

    /// The std listener, in the blocking mode the user last asked for.
    pub fn into_std(self) -> io::Result<net::UnixListener> {
        let nonblocking = self.source.is_nonblocking();
        let listener = self.source.into_inner();
        listener.set_nonblocking(nonblocking)?;
        Ok(listener)
    }
}

impl From<net::UnixListener> for UnixListener {
    /// Takes over a std listener; its blocking mode becomes this listener's.
    fn from(listener: net::UnixListener) -> UnixListener {
        let nonblocking = socket2::SockRef::from(&listener).nonblocking().unwrap_or(false);
        if let Err(err) = listener.set_nonblocking(true) {
            tracing::warn!(%err, "cannot make an adopted listener non-blocking");
        }
        UnixListener { source: IoSource::new(listener, nonblocking) }
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

    /// `None` waits forever; `Some(Duration::ZERO)` is an `InvalidInput` error.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Direction::Read, timeout)
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Direction::Write, timeout)
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.source.timeout(Direction::Read))
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.source.timeout(Direction::Write))
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
    }

    /// With `true`, reads and writes return `WouldBlock` instead of parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.source.set_nonblocking(nonblocking);
        Ok(())
    }

    /// The std stream, in the blocking mode the user last asked for.
    pub fn into_std(self) -> io::Result<net::UnixStream> {
        let nonblocking = self.source.is_nonblocking();
        let stream = self.source.into_inner();
        stream.set_nonblocking(nonblocking)?;
        Ok(stream)
    }
}

impl From<net::UnixStream> for UnixStream {
    /// Takes over a std stream; its blocking mode becomes this stream's.
    fn from(stream: net::UnixStream) -> UnixStream {
        let nonblocking = socket2::SockRef::from(&stream).nonblocking().unwrap_or(false);
        if let Err(err) = stream.set_nonblocking(true) {
            tracing::warn!(%err, "cannot make an adopted stream non-blocking");
        }
        UnixStream { source: IoSource::new(stream, nonblocking) }
    }
}

impl Read for UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Read for &UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        self.source.do_stream_io(Direction::Read, len, |mut s| s.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.source.do_stream_io(Direction::Read, len, |mut s| s.read_vectored(bufs))
    }
}

impl Write for UnixStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &UnixStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.source.do_stream_io(Direction::Write, buf.len(), |mut s| s.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.source.do_stream_io(Direction::Write, len, |mut s| s.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fd_traits!(UnixListener, UnixStream);
