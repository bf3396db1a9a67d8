//! TCP: [`TcpListener`] and [`TcpStream`].

use std::io;
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};
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

fd_traits!(TcpListener, TcpStream);
blocking_mode!(TcpListener, net::TcpListener);
blocking_mode!(TcpStream, net::TcpStream);
timeouts!(TcpStream);
stream_io!(TcpStream);
