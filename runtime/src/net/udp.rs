//! UDP: [`UdpSocket`].

use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};

use super::addr::{each_addr, resolve};
use super::std_api::{blocking_mode, fd_traits, timeouts};
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
}

fd_traits!(UdpSocket);
blocking_mode!(UdpSocket, net::UdpSocket);
timeouts!(UdpSocket);
