//! A connection's coroutine: the shared sequential connection (`sequential.rs`) on
//! hebra's socket and files. Every read and write parks the coroutine when the socket
//! is not ready, so none of it ever blocks a worker. What is the coroutine engine's
//! own: buffers from the worker's pools, the wait for the next request with no buffer
//! held and, past [`SHRINK_AFTER`], a shrunk stack, and the `busy` count the shutdown
//! waits on.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hebra::fs::File;
use hebra::net::TcpStream;

use super::Shared;
use super::buffers::{self, Inputs};
use super::hebra_fs::HebraFs;
use crate::Config;
use crate::access_log::AccessLogSender;
use crate::engines::input::Input;
use crate::engines::sequential::{self, Host, is_timeout, shrunk};

/// A keep-alive connection idle this long gives back the stack pages its last request
/// touched (`hebra::coroutine::shrink_stack`): one `madvise`, and a few page faults
/// when the next request comes. Long enough that a loaded server never pays it (its
/// clients come back within milliseconds), short enough that idle connections cost
/// little.
const SHRINK_AFTER: Duration = Duration::from_secs(1);

pub(super) fn serve(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shared.config.send_timeout));
    sequential::serve(Coroutine { stream, shared, busy: false }, peer);
}

/// The coroutine engine's side of one connection.
struct Coroutine<'s> {
    stream: TcpStream,
    shared: &'s Shared,
    /// Counted in `Shared::busy`: a request is in progress.
    busy: bool,
}

impl Coroutine<'_> {
    /// Waits up to the idle timeout for the next request's first bytes; `false` when
    /// it did not come. Past [`SHRINK_AFTER`], the stack pages that answering touched
    /// go back to the kernel: this frame is shallow, so an idle connection keeps only
    /// the top of its stack.
    fn await_request(&self) -> io::Result<bool> {
        let idle = self.shared.config.idle_timeout;
        let soon = idle.min(SHRINK_AFTER);
        self.stream.set_read_timeout(Some(soon))?;
        match self.stream.readable() {
            Ok(()) => return Ok(true),
            Err(err) if is_timeout(&err) => {}
            Err(err) => return Err(err),
        }
        let rest = idle - soon;
        if rest.is_zero() {
            return Ok(false);
        }
        hebra::coroutine::shrink_stack();
        self.stream.set_read_timeout(Some(rest))?;
        match self.stream.readable() {
            Ok(()) => Ok(true),
            Err(err) if is_timeout(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }

    fn set_busy(&mut self, busy: bool) {
        if self.busy != busy {
            self.busy = busy;
            if busy {
                self.shared.busy.fetch_add(1, Ordering::AcqRel);
            } else {
                self.shared.busy.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

impl Host for Coroutine<'_> {
    type Stream<'a>
        = &'a TcpStream
    where
        Self: 'a;
    type Fs = HebraFs;
    type Inputs = Inputs;
    /// One large response yields between calls like any other busy coroutine.
    const SENDFILE_CHUNK: u64 = 1024 * 1024;

    fn stream(&self) -> &TcpStream {
        &self.stream
    }

    fn config(&self) -> &Config {
        &self.shared.config
    }

    fn fs(&self) -> &HebraFs {
        &self.shared.fs
    }

    fn access_log(&self) -> Option<&AccessLogSender> {
        self.shared.log.as_ref()
    }

    fn shutdown_requested(&self) -> bool {
        self.shared.shutdown.is_requested()
    }

    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    fn next_request(&mut self, input: &mut Input, first: bool) -> io::Result<bool> {
        self.set_busy(false);
        if self.shared.shutdown.is_requested() {
            return Ok(false);
        }
        // A fresh client has usually sent its request already: read at once. Between
        // requests, wait with no buffer held (an idle connection costs its socket and
        // a few stack pages, not a buffer).
        if !first {
            input.release(&mut Inputs);
            if !self.await_request()? {
                return Ok(false);
            }
        }
        let config = &self.shared.config;
        let wait = if first { config.header_timeout } else { config.idle_timeout };
        self.stream.set_read_timeout(Some(wait))?;
        let arrived =
            sequential::arrived(input.read_from(&self.stream, config.limits.max_head + 1, &mut Inputs))?;
        if arrived {
            self.set_busy(true);
        }
        Ok(arrived)
    }

    fn lingering(&mut self) -> bool {
        self.set_busy(false);
        true
    }

    fn take_output(&mut self) -> Vec<u8> {
        buffers::take_output()
    }

    fn give_output(&mut self, out: Vec<u8>) {
        buffers::give_output(out);
    }

    fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match file.read_at(buf, offset)? {
                0 => return Err(shrunk()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }

    fn sendfile(&self, file: &File, offset: u64, count: usize) -> io::Result<usize> {
        self.stream.sendfile(file, offset, count)
    }
}

impl Drop for Coroutine<'_> {
    fn drop(&mut self) {
        self.set_busy(false);
    }
}
