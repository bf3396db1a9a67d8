//! A connection's thread: the shared sequential connection (`sequential.rs`) on
//! blocking `std` sockets and files. Every read and write blocks the thread; the
//! socket's timeouts (`SO_RCVTIMEO`, `SO_SNDTIMEO`) bound each wait. What is the
//! threads engine's own: buffers from the allocator, the first read of a request into
//! an array on the stack, and the registry's phases (`registry.rs`) that let the
//! shutdown close idle connections.

use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use super::Shared;
use super::registry::Member;
use crate::Config;
use crate::access_log::AccessLogSender;
use crate::engines::input::{Input, InputPool};
use crate::engines::sequential::{self, Host};
use crate::files::StdFs;

/// Size of the stack array the first bytes of a request are read into, and of a
/// response buffer to start with.
const INITIAL_BUFFER: usize = 4096;

pub(super) fn serve(member: &Member, peer: SocketAddr, shared: &Shared) {
    let stream = member.stream();
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shared.config.send_timeout));
    sequential::serve(Thread { member, stream, shared, output: Vec::new(), read_timeout: None }, peer);
}

/// The threads engine's side of one connection.
struct Thread<'c> {
    member: &'c Member,
    stream: &'c TcpStream,
    shared: &'c Shared,
    /// The response buffer between the responses of one burst of requests; freed
    /// before the connection waits for the next.
    output: Vec<u8>,
    /// The socket's `SO_RCVTIMEO`, so that it is set (a system call) only when it
    /// changes: between requests it stays the idle timeout.
    read_timeout: Option<Duration>,
}

/// Input buffers straight from the allocator, freed when given back.
#[derive(Default)]
struct Unpooled;

impl InputPool for Unpooled {
    fn take(&mut self) -> Vec<u8> {
        Vec::new()
    }

    fn give(&mut self, _buffer: Vec<u8>) {}
}

impl Thread<'_> {
    /// Reads the first bytes of the next request into `input`, waiting at most `wait`
    /// with no buffer held, so that idle connections cost their threads and not
    /// buffers (the coroutine engine gives its buffers back at the same point, and
    /// nginx frees its header buffers on keep-alive): the bytes land in an array on the
    /// stack, and are copied into a buffer allocated once they are there. Out of line,
    /// so that the array lies within the stack depth that answering a request reaches
    /// anyway and costs no resident stack page.
    #[inline(never)]
    fn read_first(&mut self, input: &mut Input, wait: Duration) -> io::Result<usize> {
        input.release(&mut Unpooled);
        self.output = Vec::new();
        let mut first = [0; INITIAL_BUFFER];
        self.set_read_timeout(wait)?;
        let n = self.stream.read(&mut first)?;
        input.extend(&first[..n], &mut Unpooled);
        Ok(n)
    }
}

impl Host for Thread<'_> {
    type Stream<'a>
        = &'a TcpStream
    where
        Self: 'a;
    type Fs = StdFs;
    type Inputs = Unpooled;
    /// A blocking socket sends them all unless the send timeout expires, and Linux
    /// stops near 2 GiB anyway.
    const SENDFILE_CHUNK: u64 = 1 << 30;

    fn stream(&self) -> &TcpStream {
        self.stream
    }

    fn config(&self) -> &Config {
        &self.shared.config
    }

    fn fs(&self) -> &StdFs {
        &self.shared.fs
    }

    fn access_log(&self) -> Option<&AccessLogSender> {
        self.shared.log.as_ref()
    }

    fn shutdown_requested(&self) -> bool {
        self.shared.shutdown.is_requested()
    }

    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        if self.read_timeout != Some(timeout) {
            self.stream.set_read_timeout(Some(timeout))?;
            self.read_timeout = Some(timeout);
        }
        Ok(())
    }

    fn next_request(&mut self, input: &mut Input, first: bool) -> io::Result<bool> {
        if !self.member.idle() {
            return Ok(false);
        }
        let config = &self.shared.config;
        let wait = if first { config.header_timeout } else { config.idle_timeout };
        let read = self.read_first(input, wait);
        if !self.member.serving() {
            return Ok(false); // The shutdown closed the idle socket.
        }
        sequential::arrived(read)
    }

    /// A shutdown may cut lingering short, as it closes an idle connection.
    fn lingering(&mut self) -> bool {
        self.member.idle()
    }

    fn take_output(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.output);
        out.clear();
        // A head and a small file's bytes, without growing from nothing.
        out.reserve(INITIAL_BUFFER);
        out
    }

    fn give_output(&mut self, out: Vec<u8>) {
        self.output = out;
    }

    fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
        file.read_exact_at(buf, offset)
    }

    fn sendfile(&self, file: &File, offset: u64, count: usize) -> io::Result<usize> {
        hebra::sys::sendfile(self.stream.as_fd(), file.as_fd(), &mut { offset }, count)
    }
}
