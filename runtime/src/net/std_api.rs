//! The parts of the std socket API that every hebra socket shares, written once.
//!
//! Each socket type is a struct with one field, `source: IoSource<StdType>`. The
//! macros here give it what std gives its sockets: descriptor access and `Debug`, the
//! blocking mode and conversion back to std, adoption of a std socket, read and write
//! timeouts, and `Read`/`Write` for the type and for a shared reference to it.

/// `AsRawFd`, `AsFd` and `Debug` (the std socket's).
macro_rules! fd_traits {
    ($($ty:ty),*) => {$(
        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(self.source.get_ref())
            }
        }

        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                ::std::os::fd::AsFd::as_fd(self.source.get_ref())
            }
        }

        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(self.source.get_ref(), f)
            }
        }
    )*};
}

/// `set_nonblocking`, `take_error` and `into_std` (inside the type's `impl` block), and
/// `From<std type>`.
macro_rules! blocking_mode {
    ($ty:ident, $std:ty) => {
        impl $ty {
            /// With `true`, operations return `WouldBlock` instead of parking, as std's
            /// do in non-blocking mode.
            pub fn set_nonblocking(&self, nonblocking: bool) -> ::std::io::Result<()> {
                self.source.set_nonblocking(nonblocking);
                Ok(())
            }

            /// Takes the pending socket error (`SO_ERROR`), if any.
            pub fn take_error(&self) -> ::std::io::Result<Option<::std::io::Error>> {
                self.source.get_ref().take_error()
            }

            /// The std socket, in the blocking mode the user last asked for.
            pub fn into_std(self) -> ::std::io::Result<$std> {
                let nonblocking = self.source.is_nonblocking();
                let socket = self.source.into_inner();
                socket.set_nonblocking(nonblocking)?;
                Ok(socket)
            }
        }

        impl From<$std> for $ty {
            /// Takes over a std socket; its blocking mode becomes this socket's.
            fn from(socket: $std) -> $ty {
                let nonblocking = socket2::SockRef::from(&socket).nonblocking().unwrap_or(false);
                if let Err(err) = socket.set_nonblocking(true) {
                    tracing::warn!(%err, "cannot make an adopted socket non-blocking");
                }
                $ty { source: $crate::netpoll::IoSource::new(socket, nonblocking) }
            }
        }
    };
}

/// `set_read_timeout`, `set_write_timeout`, `read_timeout`, `write_timeout`.
macro_rules! timeouts {
    ($ty:ident) => {
        impl $ty {
            /// `None` waits forever; `Some(Duration::ZERO)` is an `InvalidInput` error. An
            /// expired read is `WouldBlock`, as std reports it on Linux.
            pub fn set_read_timeout(&self, timeout: Option<::std::time::Duration>) -> ::std::io::Result<()> {
                self.source.set_timeout($crate::netpoll::Direction::Read, timeout)
            }

            /// As [`set_read_timeout`](Self::set_read_timeout), for writes.
            pub fn set_write_timeout(&self, timeout: Option<::std::time::Duration>) -> ::std::io::Result<()> {
                self.source.set_timeout($crate::netpoll::Direction::Write, timeout)
            }

            pub fn read_timeout(&self) -> ::std::io::Result<Option<::std::time::Duration>> {
                Ok(self.source.timeout($crate::netpoll::Direction::Read))
            }

            pub fn write_timeout(&self) -> ::std::io::Result<Option<::std::time::Duration>> {
                Ok(self.source.timeout($crate::netpoll::Direction::Write))
            }
        }
    };
}

/// `Read` and `Write` for a stream and for `&` it: one coroutine may read while another
/// writes, and several may wait on the same direction.
macro_rules! stream_io {
    ($($ty:ty),*) => {$(
        impl ::std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                ::std::io::Read::read(&mut &*self, buf)
            }

            fn read_vectored(&mut self, bufs: &mut [::std::io::IoSliceMut<'_>]) -> ::std::io::Result<usize> {
                ::std::io::Read::read_vectored(&mut &*self, bufs)
            }
        }

        impl ::std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                let len = buf.len();
                self.source.do_stream_io($crate::netpoll::Direction::Read, len, |mut s| ::std::io::Read::read(&mut s, buf))
            }

            fn read_vectored(&mut self, bufs: &mut [::std::io::IoSliceMut<'_>]) -> ::std::io::Result<usize> {
                let len = bufs.iter().map(|b| b.len()).sum();
                self.source.do_stream_io($crate::netpoll::Direction::Read, len, |mut s| {
                    ::std::io::Read::read_vectored(&mut s, bufs)
                })
            }
        }

        impl ::std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> ::std::io::Result<usize> {
                ::std::io::Write::write(&mut &*self, buf)
            }

            fn write_vectored(&mut self, bufs: &[::std::io::IoSlice<'_>]) -> ::std::io::Result<usize> {
                ::std::io::Write::write_vectored(&mut &*self, bufs)
            }

            fn flush(&mut self) -> ::std::io::Result<()> {
                Ok(())
            }
        }

        impl ::std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> ::std::io::Result<usize> {
                self.source.do_stream_io($crate::netpoll::Direction::Write, buf.len(), |mut s| {
                    ::std::io::Write::write(&mut s, buf)
                })
            }

            fn write_vectored(&mut self, bufs: &[::std::io::IoSlice<'_>]) -> ::std::io::Result<usize> {
                let len = bufs.iter().map(|b| b.len()).sum();
                self.source.do_stream_io($crate::netpoll::Direction::Write, len, |mut s| {
                    ::std::io::Write::write_vectored(&mut s, bufs)
                })
            }

            fn flush(&mut self) -> ::std::io::Result<()> {
                Ok(())
            }
        }
    )*};
}

pub(super) use {blocking_mode, fd_traits, stream_io, timeouts};
