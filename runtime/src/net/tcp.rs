//! TCP: [`TcpListener`] and [`TcpStream`].

use std::io;
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::addr::each_addr;
use super::std_api::{blocking_mode, fd_traits, stream_io, timeouts};
use crate::netpoll::{Direction, IoSource};

/// A TCP server socket whose `accept` parks the calling coroutine.
///
/// ```no_run
/// use std::io::Write;
///
/// hebra::run(|| {
///     let listener = hebra::net::TcpListener::bind("127.0.0.1:8080").unwrap();
///     for stream in listener.incoming() {
///         let mut stream = stream.unwrap();
///         hebra::spawn(move || stream.write_all(b"hello\n"));
///     }
/// });
/// ```
pub struct TcpListener {
    source: IoSource<net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (each resolved address in turn, as std does) and listens with a
    /// backlog of 1024 (std uses 128; the kernel caps it at `net.core.somaxconn`).
    pub fn bind<A: ToSocketAddrs + Send>(addr: A) -> io::Result<TcpListener> {
        let listener = each_addr(addr, listen)?;
        Ok(TcpListener { source: IoSource::new(listener, false) })
    }

    /// Accepts a connection, parking until one arrives.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (socket, addr) = self.source.do_io(Direction::Read, |listener| {
            // accept4 with SOCK_NONBLOCK saves the fcntl a std accept would need.
            SockRef::from(listener).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
        })?;
        let addr = addr.as_socket().ok_or_else(|| io::Error::other("accepted a non-IP address"))?;
        Ok((TcpStream::from_nonblocking(socket.into(), false), addr))
    }

    /// An iterator over incoming connections; never returns `None`.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let clone = self.source.get_ref().try_clone()?;
        Ok(TcpListener { source: IoSource::with_settings(clone, self.source.settings().clone()) })
    }

    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.source.get_ref().set_ttl(ttl)
    }

    pub fn ttl(&self) -> io::Result<u32> {
        self.source.get_ref().ttl()
    }
}

/// Pending connections a listener queues: mio's and tokio's figure. std's 128 makes a
/// burst of connects lose SYNs and retry a second later.
const LISTEN_BACKLOG: i32 = 1024;

/// A non-blocking listening socket, set up as std sets one up (`SO_REUSEADDR`).
fn listen(addr: SocketAddr) -> io::Result<net::TcpListener> {
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Iterator returned by [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A TCP connection whose reads and writes park the calling coroutine.
pub struct TcpStream {
    source: IoSource<net::TcpStream>,
}

impl TcpStream {
    fn from_nonblocking(stream: net::TcpStream, user_nonblocking: bool) -> TcpStream {
        TcpStream { source: IoSource::new(stream, user_nonblocking) }
    }

    /// Connects to `addr` (each resolved address in turn, as std does), parking while
    /// the handshake is in flight.
    pub fn connect<A: ToSocketAddrs + Send>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |addr| TcpStream::connect_addr(&addr, None))
    }

    /// Connects with a timeout; an expired one is `TimedOut`, a zero one `InvalidInput`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
        }
        TcpStream::connect_addr(addr, Instant::now().checked_add(timeout))
    }

    fn connect_addr(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let socket = Socket::new(
            Domain::for_address(*addr),
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        match socket.connect(&(*addr).into()) {
            Ok(()) => return Ok(TcpStream::from_nonblocking(socket.into(), false)),
            Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(err) => return Err(err),
        }
        let stream = TcpStream::from_nonblocking(socket.into(), false);
        // Writable means the handshake ended; SO_ERROR says how.
        stream.source.do_io_until(Direction::Write, deadline, |s| {
            if let Some(err) = s.take_error()? {
                return Err(err);
            }
            match s.peer_addr() {
                Ok(_) => Ok(()),
                Err(err) if err.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(err) => Err(err),
            }
        })?;
        Ok(stream)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.get_ref().shutdown(how)
    }

    /// A second handle to the same socket (a duplicated descriptor), sharing its
    /// timeouts and blocking mode. One coroutine may read while another writes.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let clone = self.source.get_ref().try_clone()?;
        Ok(TcpStream { source: IoSource::with_settings(clone, self.source.settings().clone()) })
    }

    /// Sends up to `len` bytes of `file` from `offset` with `sendfile(2)` (no copy
    /// through user space) and returns how many were sent. Parks while the socket has no
    /// room, as [`write`](std::io::Write::write) does, and honours the write timeout and
    /// the non-blocking mode as it does. Short counts are normal; `0` means `len` was 0
    /// or `offset` is at or past the end of the file.
    ///
    /// One call sends at most [`SENDFILE_CHUNK`] bytes. If those bytes are not all in
    /// the page cache, the call runs on the helper pool (the socket stays non-blocking,
    /// so the helper waits only for the disk) and is counted by
    /// [`fs::pool_handoffs`](crate::fs::pool_handoffs); otherwise it runs inline.
    ///
    /// ```no_run
    /// # fn serve(stream: &hebra::net::TcpStream, file: &hebra::fs::File) -> std::io::Result<()> {
    /// let len = file.metadata()?.len();
    /// let mut offset = 0;
    /// while offset < len {
    ///     let remaining = usize::try_from(len - offset).unwrap_or(usize::MAX);
    ///     match stream.sendfile(file, offset, remaining)? {
    ///         0 => break, // the file shrank
    ///         n => offset += n as u64,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn sendfile(&self, file: &impl AsFd, offset: u64, len: usize) -> io::Result<usize> {
        let count = len.min(SENDFILE_CHUNK);
        if count == 0 {
            return Ok(0);
        }
        let file = file.as_fd();
        // `do_io`, not `do_stream_io`: a short count may mean end of file rather than a
        // full socket buffer, so it must not clear the write readiness.
        self.source.do_io(Direction::Write, |socket| crate::fs::sendfile(socket.as_fd(), file, offset, count))
    }

    /// Parks until the socket may be readable (data, end of stream or an error)
    /// without reading anything: a server can keep thousands of idle connections
    /// without a read buffer each, and take one only when a request arrives. Honours
    /// the read timeout (an expired one is `WouldBlock`, as for `read`) and the
    /// non-blocking mode (`WouldBlock` at once when nothing is there).
    ///
    /// Readiness is what the last event said: a read that follows may still find
    /// nothing (if another handle took the bytes) and then waits as usual.
    ///
    /// ```no_run
    /// # use std::io::Read;
    /// # fn serve(mut stream: hebra::net::TcpStream) -> std::io::Result<()> {
    /// loop {
    ///     stream.readable()?; // no buffer held while the client is idle
    ///     let mut buf = vec![0; 4096];
    ///     let n = stream.read(&mut buf)?;
    ///     if n == 0 {
    ///         return Ok(());
    ///     }
    ///     // ... handle buf[..n], then drop or pool the buffer
    /// }
    /// # }
    /// ```
    pub fn readable(&self) -> io::Result<()> {
        self.source.wait_readable()
    }

    /// Reads without consuming, parking until data is there.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Read, |s| s.peek(buf))
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.source.get_ref().set_nodelay(nodelay)
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        self.source.get_ref().nodelay()
    }

    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.source.get_ref().set_ttl(ttl)
    }

    pub fn ttl(&self) -> io::Result<u32> {
        self.source.get_ref().ttl()
    }
}

/// The most one [`TcpStream::sendfile`] call sends. It bounds the residency check
/// before the call, a walk linear in the cached folios of the range: for 1 MiB, from
/// 0.25 µs (large folios) to 8 µs (4 KiB folios), against about 5 µs for a hand-off to
/// the pool. Larger calls would gain little: one system call per MiB is cheap next to
/// moving the MiB.
pub const SENDFILE_CHUNK: usize = 1 << 20;

fd_traits!(TcpListener, TcpStream);
blocking_mode!(TcpListener, net::TcpListener);
blocking_mode!(TcpStream, net::TcpStream);
timeouts!(TcpStream);
stream_io!(TcpStream);
