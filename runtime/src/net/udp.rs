//! UDP: [`UdpSocket`].

use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::addr::{each_addr, resolve};
use super::tcp::fd_traits;
use crate::netpoll::{Direction, IoSource};

/// A UDP socket whose sends and receives park the calling coroutine.
///
/// ```
/// hebra::run(|| {
///     let a = hebra::net::UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = hebra::net::UdpSocket::bind("127.0.0.1:0").unwrap();
///     a.send_to(b"ping", b.local_addr().unwrap()).unwrap();
///     let mut buf = [0; 8];
///     let (n, from) = b.recv_from(&mut buf).unwrap();
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
pub struct UdpSocket {
    source: IoSource<net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (each resolved address in turn, as std does).
    pub fn bind<A: ToSocketAddrs + Send>(addr: A) -> io::Result<UdpSocket> {
        let socket = each_addr(addr, net::UdpSocket::bind)?;
        socket.set_nonblocking(true)?;
        Ok(UdpSocket { source: IoSource::new(socket, false) })
    }

    /// Sets the default peer for `send` and `recv` (each resolved address in turn).
    pub fn connect<A: ToSocketAddrs + Send>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |addr| self.source.get_ref().connect(addr))
    }

    /// Sends one datagram to `addr` (its first resolved address, as std does).
    pub fn send_to<A: ToSocketAddrs + Send>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = resolve(addr)?
            .into_iter()
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"))?;
        self.source.do_io(Direction::Write, |s| s.send_to(buf, addr))
    }

    /// Receives one datagram, parking until one arrives.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source.do_io(Direction::Read, |s| s.recv_from(buf))
    }

    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source.do_io(Direction::Read, |s| s.peek_from(buf))
    }

    /// Sends to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Write, |s| s.send(buf))
    }

    /// Receives from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Read, |s| s.recv(buf))
    }

    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Read, |s| s.peek(buf))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().peer_addr()
    }

    /// A second handle to the same socket, sharing its timeouts and blocking mode.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let clone = self.source.get_ref().try_clone()?;
        Ok(UdpSocket { source: IoSource::with_settings(clone, self.source.settings().clone()) })
    }

    /// `None` waits forever; `Some(Duration::ZERO)` is an `InvalidInput` error. An
    /// expired timeout is `WouldBlock`, as std gives on Linux.
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

    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.source.get_ref().set_broadcast(broadcast)
    }

    pub fn broadcast(&self) -> io::Result<bool> {
        self.source.get_ref().broadcast()
    }

    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.source.get_ref().set_ttl(ttl)
    }

    pub fn ttl(&self) -> io::Result<u32> {
        self.source.get_ref().ttl()
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
    }

    /// With `true`, sends and receives return `WouldBlock` instead of parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.source.set_nonblocking(nonblocking);
        Ok(())
    }

    /// The std socket, in the blocking mode the user last asked for.
    pub fn into_std(self) -> io::Result<net::UdpSocket> {
        let nonblocking = self.source.is_nonblocking();
        let socket = self.source.into_inner();
        socket.set_nonblocking(nonblocking)?;
        Ok(socket)
    }
}

impl From<net::UdpSocket> for UdpSocket {
    /// Takes over a std socket; its blocking mode becomes this socket's.
    fn from(socket: net::UdpSocket) -> UdpSocket {
        let nonblocking = socket2::SockRef::from(&socket).nonblocking().unwrap_or(false);
        if let Err(err) = socket.set_nonblocking(true) {
            tracing::warn!(%err, "cannot make an adopted socket non-blocking");
        }
        UdpSocket { source: IoSource::new(socket, nonblocking) }
    }
}

fd_traits!(UdpSocket);
