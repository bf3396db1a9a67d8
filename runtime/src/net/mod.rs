//! Sockets with the `std::net` API that park the calling coroutine instead of blocking
//! its worker: [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`],
//! [`UnixStream`].
//!
//! Method names and behaviour follow std: `bind`, `accept`, `incoming`, `connect`,
//! `connect_timeout`, timeouts (an expired read or write timeout is `WouldBlock`, as
//! std gives on Linux; an expired `connect_timeout` is `TimedOut`), `set_nonblocking`
//! (then `WouldBlock` comes back instead of parking), `try_clone`, `Read`/`Write` on the
//! socket and on a shared reference to it. Several coroutines may wait on one socket in
//! the same direction: every one of them is woken when it becomes ready.
//!
//! On a plain thread every socket blocks that thread, as a std socket would. Convert
//! from and to std sockets with `From` and `into_std()`.
//!
//! Host names are resolved on a helper thread (see [`unblock`](crate::unblock)); a
//! `SocketAddr` needs no resolution and costs nothing extra. For that, the address
//! arguments are `ToSocketAddrs + Send`, which every std address type is.

mod addr;
mod std_api;
mod tcp;
mod udp;
mod unix;

pub use tcp::{Incoming, SENDFILE_CHUNK, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};
