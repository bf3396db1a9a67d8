//! A response on its way out, resumable after any partial write.
//!
//! The head and everything small go through one buffer: a file of up to
//! [`INLINE_MAX`] bytes is read (`pread`) into it behind the head and leaves in one
//! write. A larger file follows the buffer with `sendfile`, the socket corked
//! (`TCP_CORK`, nginx's `tcp_nopush`) so the head shares a segment with the file's
//! first bytes, uncorked once the file is out. The sizes and the cork are the coroutine
//! engine's, measured there. `multipart/byteranges` parts are laid out the same way,
//! a part at a time: small parts are batched into the buffer, a large one ends the
//! batch and goes out with `sendfile`.
//!
//! Every step stops at `WouldBlock` and resumes where it was on the next writable
//! event; the disk reads are blocking, inline on the loop thread, as the model has it.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use mio::net::TcpStream;

use super::connection::Budget;
use crate::files::{Body, Part};

/// Files (and parts) up to this size are read into the buffer behind the head.
pub(super) const INLINE_MAX: u64 = 64 * 1024;
/// Most bytes handed to one `sendfile` call: the kernel would take more on loopback,
/// and a large file must not hold the loop for long.
const SENDFILE_CHUNK: u64 = 1024 * 1024;

/// How far [`Outgoing::send`] got.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Sent {
    /// All of it.
    Done,
    /// The socket is full: wait for a writable event.
    Blocked,
    /// The connection's budget for this turn is spent.
    Yield,
}

#[derive(Debug)]
pub(super) struct Outgoing {
    /// Bytes to write, from `written` on.
    out: Vec<u8>,
    written: usize,
    file: Option<File>,
    /// Bytes of `file` to send after `out`: `offset..end`.
    offset: u64,
    end: u64,
    /// `multipart/byteranges` parts not yet laid out, and the closing delimiter.
    parts: Option<Box<Parts>>,
    corked: bool,
    /// Bytes sent so far, of any kind: progress resets the send timeout.
    sent: u64,
}

#[derive(Debug)]
struct Parts {
    rest: std::vec::IntoIter<Part>,
    trailer: Vec<u8>,
}

impl Outgoing {
    /// `out` holds the head (and whatever must go before it); `body` follows it. Small
    /// files are read here, so a file that shrank since its head was written is an
    /// error before anything is sent.
    pub(super) fn new(out: Vec<u8>, body: Body<File>) -> io::Result<Outgoing> {
        let mut outgoing = Outgoing::buffered(out);
        match body {
            Body::Empty => {}
            Body::Bytes(bytes) => outgoing.out.extend_from_slice(&bytes),
            Body::File { file, offset, len } => {
                outgoing.file = Some(file);
                outgoing.add_range(offset, len)?;
            }
            Body::Multipart { file, parts, trailer } => {
                outgoing.file = Some(file);
                outgoing.parts = Some(Box::new(Parts { rest: parts.into_iter(), trailer }));
                outgoing.lay_out_parts()?;
            }
        }
        Ok(outgoing)
    }

    /// A response that is all in `out`.
    pub(super) fn buffered(out: Vec<u8>) -> Outgoing {
        Outgoing { out, written: 0, file: None, offset: 0, end: 0, parts: None, corked: false, sent: 0 }
    }

    /// Bytes sent so far.
    pub(super) fn progress(&self) -> u64 {
        self.sent
    }

    /// The buffer, for the pool.
    pub(super) fn into_buffer(self) -> Vec<u8> {
        self.out
    }

    /// Writes as much as the socket takes, within `budget`.
    pub(super) fn send(&mut self, stream: &TcpStream, budget: &mut Budget) -> io::Result<Sent> {
        loop {
            if self.written < self.out.len() {
                if budget.is_spent() {
                    return Ok(Sent::Yield);
                }
                if self.offset < self.end && !self.corked {
                    self.corked = true;
                    let _ = socket2::SockRef::from(stream).set_tcp_cork(true);
                }
                match (&*stream).write(&self.out[self.written..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.written += n;
                        self.sent += n as u64;
                        budget.spend(n);
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(Sent::Blocked),
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            } else if self.offset < self.end {
                if budget.is_spent() {
                    return Ok(Sent::Yield);
                }
                match self.send_file(stream) {
                    Ok(n) => budget.spend(n),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(Sent::Blocked),
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            } else if self.corked {
                self.corked = false;
                let _ = socket2::SockRef::from(stream).set_tcp_cork(false);
            } else if self.parts.is_some() {
                self.out.clear();
                self.written = 0;
                self.lay_out_parts()?;
            } else {
                return Ok(Sent::Done);
            }
        }
    }

    fn send_file(&mut self, stream: &TcpStream) -> io::Result<usize> {
        let Some(file) = &self.file else {
            return Err(io::Error::other("a file range without a file"));
        };
        let count = (self.end - self.offset).min(SENDFILE_CHUNK) as usize;
        match hebra::sys::sendfile(stream.as_fd(), file.as_fd(), &mut self.offset, count)? {
            0 => Err(shrunk()),
            n => {
                self.sent += n as u64;
                Ok(n)
            }
        }
    }

    /// Queues `len` bytes of the file from `offset`: read into the buffer if small,
    /// else left for `sendfile`.
    fn add_range(&mut self, offset: u64, len: u64) -> io::Result<()> {
        if len > INLINE_MAX {
            (self.offset, self.end) = (offset, offset + len);
            return Ok(());
        }
        let Some(file) = &self.file else {
            return Err(io::Error::other("a file range without a file"));
        };
        let start = self.out.len();
        self.out.resize(start + len as usize, 0);
        file.read_exact_at(&mut self.out[start..], offset).map_err(|err| match err.kind() {
            io::ErrorKind::UnexpectedEof => shrunk(),
            _ => err,
        })
    }

    /// Appends parts to the buffer until one is large or the buffer holds about
    /// [`INLINE_MAX`] bytes; after the last part, the closing delimiter.
    fn lay_out_parts(&mut self) -> io::Result<()> {
        while self.offset == self.end && self.out.len() < INLINE_MAX as usize {
            let Some(parts) = &mut self.parts else { return Ok(()) };
            match parts.rest.next() {
                Some(part) => {
                    self.out.extend_from_slice(&part.header);
                    self.add_range(part.offset, part.len)?;
                }
                None => {
                    self.out.extend_from_slice(&parts.trailer);
                    self.parts = None;
                }
            }
        }
        Ok(())
    }
}

fn shrunk() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent")
}
