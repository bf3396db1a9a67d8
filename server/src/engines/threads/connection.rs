//! One connection, start to end, on its own thread: wait for a request, read its head,
//! answer it, repeat. Every read and write blocks the thread; the socket's timeouts
//! (`SO_RCVTIMEO`, `SO_SNDTIMEO`) bound each wait.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use super::Shared;
use super::registry::Member;
use crate::access_log::Entry;
use crate::files::{self, Body, Response};
use crate::http::{self, BodyDiscard, BodyKind, Method, Parsed, Persistence, Request, Status};

/// Files up to this size are read into the response buffer and sent with the head in
/// one write; larger ones go out with `sendfile` after the head (the coroutine
/// engine's threshold and measurements).
const INLINE_MAX: u64 = 64 * 1024;
/// Most bytes asked of one `sendfile` call: a blocking socket sends them all unless the
/// send timeout expires, and Linux stops near 2 GiB anyway.
const SENDFILE_MAX: u64 = 1 << 30;
/// Read and response buffer size to start with; the read buffer grows up to the head
/// limit when needed.
const INITIAL_BUFFER: usize = 4096;
/// A connection closed after an error keeps reading (and dropping) what the client
/// still sends, for at most this long and this much, so the client sees our response
/// rather than a reset.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

pub(super) fn serve(member: &Member, peer: SocketAddr, shared: &Shared) {
    let stream = member.stream();
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shared.config.send_timeout));
    let mut connection = Connection { member, stream, peer, shared, out: Vec::new(), read_timeout: None };
    let mut input = Input::default();
    match connection.run(&mut input) {
        Ok(Close::Now) => {}
        Ok(Close::Linger) => connection.linger(),
        Err(err) => tracing::debug!(%peer, %err, "connection ended by an error"),
    }
}

struct Connection<'c> {
    member: &'c Member,
    stream: &'c TcpStream,
    peer: SocketAddr,
    shared: &'c Shared,
    /// The response being sent: head, and a small file's bytes after it.
    out: Vec<u8>,
    /// The socket's `SO_RCVTIMEO`, so that it is set (a system call) only when it
    /// changes: between requests it stays the idle timeout.
    read_timeout: Option<Duration>,
}

/// How a connection ends.
enum Close {
    Now,
    /// Our side stopped early (an error response): drain the client's bytes first.
    Linger,
}

/// What one request/response exchange did to the connection.
struct Exchange {
    /// Bytes of the input buffer the request used (head and body).
    consumed: usize,
    /// Bytes read past the body while discarding it: the start of the next request.
    carry: Vec<u8>,
    close: Option<Close>,
}

impl Connection<'_> {
    fn run(&mut self, input: &mut Input) -> io::Result<Close> {
        let config = &self.shared.config;
        let max_input = config.limits.max_head + 1;
        // A new connection owes a request within the header timeout; only one that
        // has been served may idle for the (longer) keep-alive timeout. Otherwise
        // silent sockets could hold every place under the connection cap.
        let mut wait = config.header_timeout;
        loop {
            if input.pending().is_empty() {
                if !self.member.idle() {
                    return Ok(Close::Now);
                }
                let filled = self.await_request(input, wait);
                if !self.member.serving() {
                    return Ok(Close::Now); // The shutdown closed the idle socket.
                }
                match filled {
                    Ok(0) => return Ok(Close::Now),
                    Ok(_) => {}
                    Err(err) if is_timeout(&err) => return Ok(Close::Now),
                    Err(err) => return Err(err),
                }
            }
            let deadline = Instant::now() + config.header_timeout;
            let exchange = loop {
                match http::parse_request(input.pending(), &config.limits) {
                    Ok(Parsed::Complete(request, head_len)) => {
                        break self.exchange(&request, head_len, input.pending())?;
                    }
                    Ok(Parsed::Partial) => {}
                    Err(error) => break self.refuse(error.status, None)?,
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break self.refuse(Status::REQUEST_TIMEOUT, None)?;
                }
                self.set_read_timeout(left)?;
                match input.fill(self.stream, max_input) {
                    Ok(0) => return Ok(Close::Now),
                    Ok(_) => {}
                    Err(err) if is_timeout(&err) => break self.refuse(Status::REQUEST_TIMEOUT, None)?,
                    Err(err) => return Err(err),
                }
            };
            wait = config.idle_timeout;
            input.consume(exchange.consumed);
            input.extend(&exchange.carry);
            if let Some(close) = exchange.close {
                let unread = !input.pending().is_empty();
                return Ok(if unread { Close::Linger } else { close });
            }
        }
    }

    /// Reads the first bytes of the next request into `input`, waiting at most `wait`
    /// with no buffer held, so that idle connections cost their threads and not
    /// buffers (the coroutine engine gives its buffers back at the same point, and
    /// nginx frees its header buffers on keep-alive): the bytes land in an array on the
    /// stack, and are copied into a buffer allocated once they are there. Out of line,
    /// so that the array lies within the stack depth that answering a request reaches
    /// anyway and costs no resident stack page.
    #[inline(never)]
    fn await_request(&mut self, input: &mut Input, wait: Duration) -> io::Result<usize> {
        input.release();
        self.out = Vec::new();
        let mut first = [0; INITIAL_BUFFER];
        self.set_read_timeout(wait)?;
        let n = self.stream.read(&mut first)?;
        input.extend(&first[..n]);
        Ok(n)
    }

    /// Answers one request whose head is complete; `pending` is the input buffer,
    /// head first.
    fn exchange(&mut self, request: &Request<'_>, head_len: usize, pending: &[u8]) -> io::Result<Exchange> {
        let mut consumed = head_len;
        let mut carry = Vec::new();
        if request.body != BodyKind::None {
            match self.discard_body(request, &pending[head_len..])? {
                Ok((used, rest)) => {
                    consumed += used;
                    carry = rest;
                }
                Err(status) => return self.refuse(status, Some(request)),
            }
        }
        let keep_alive = request.keep_alive && !self.shared.shutdown.is_requested();
        self.out.clear();
        // A head and a small file's bytes, without growing from nothing.
        self.out.reserve(INITIAL_BUFFER);
        let response =
            files::respond(&self.shared.fs, &self.shared.config.files, request, keep_alive, &mut self.out);
        let status = response.status;
        let head_only = request.method == Method::Head;
        let sent = self.send(response, head_only);
        self.log(Some(request), status, sent.as_ref().map_or(0, |&n| n));
        sent?;
        Ok(Exchange { consumed, carry, close: (!keep_alive).then_some(Close::Now) })
    }

    /// Reads past the request body: `Ok(Ok((bytes of pending used, bytes read past the
    /// body)))`, or `Ok(Err(status))` for a body the server refuses.
    fn discard_body(
        &mut self,
        request: &Request<'_>,
        pending: &[u8],
    ) -> io::Result<Result<(usize, Vec<u8>), Status>> {
        let limits = &self.shared.config.limits;
        let mut body = match BodyDiscard::new(request.body, limits.max_body) {
            Ok(body) => body,
            Err(error) => return Ok(Err(error.status)),
        };
        if request.expect_continue {
            self.stream.write_all(http::continue_response())?;
        }
        let (used, done) = match body.feed(pending) {
            Ok(fed) => fed,
            Err(error) => return Ok(Err(error.status)),
        };
        if done {
            return Ok(Ok((used, Vec::new())));
        }
        // The body is bounded in time as the head is: a client trickling it byte by
        // byte must not hold the connection longer than one slow head could.
        let deadline = Instant::now() + self.shared.config.header_timeout;
        let mut scratch = vec![0; INITIAL_BUFFER];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Err(Status::REQUEST_TIMEOUT));
            }
            self.set_read_timeout(left)?;
            let n = match self.stream.read(&mut scratch) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(err) if is_timeout(&err) => return Ok(Err(Status::REQUEST_TIMEOUT)),
                Err(err) => return Err(err),
            };
            match body.feed(&scratch[..n]) {
                Ok((used_now, true)) => return Ok(Ok((pending.len(), scratch[used_now..n].to_vec()))),
                Ok((_, false)) => {}
                Err(error) => return Ok(Err(error.status)),
            }
        }
    }

    /// Answers with an error status and ends the connection.
    fn refuse(&mut self, status: Status, request: Option<&Request<'_>>) -> io::Result<Exchange> {
        self.out.clear();
        let head_only = request.is_some_and(|r| r.method == Method::Head);
        http::error_response(&mut self.out, status, Persistence::Close, head_only, &[]);
        let body_len = if head_only { 0 } else { self.out.len() - head_end(&self.out) };
        self.log(request, status, body_len as u64);
        self.stream.write_all(&self.out)?;
        Ok(Exchange { consumed: 0, carry: Vec::new(), close: Some(Close::Linger) })
    }

    /// Sends the head in `out` and the body; returns the body bytes sent.
    fn send(&mut self, response: Response<File>, head_only: bool) -> io::Result<u64> {
        let mut body_len = response.body_len;
        match response.body {
            Body::Empty => {
                // An error page comes whole in `out`, its text after the head.
                if !head_only && response.status.code() >= 300 {
                    body_len = (self.out.len() - head_end(&self.out)) as u64;
                }
                self.stream.write_all(&self.out)?;
            }
            Body::Bytes(bytes) => {
                self.out.extend_from_slice(&bytes);
                self.stream.write_all(&self.out)?;
            }
            Body::File { file, offset, len } => self.send_file(&file, offset, len)?,
            Body::Multipart { file, parts, trailer } => {
                for part in parts {
                    self.out.extend_from_slice(&part.header);
                    self.send_file(&file, part.offset, part.len)?;
                }
                self.stream.write_all(&trailer)?;
            }
        }
        Ok(body_len)
    }

    /// Sends what `out` holds, then `len` bytes of `file` from `offset`; leaves `out`
    /// empty. A file that shrank meanwhile is an error: the head promised its length.
    fn send_file(&mut self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        if len <= INLINE_MAX {
            let start = self.out.len();
            self.out.resize(start + len as usize, 0);
            file.read_exact_at(&mut self.out[start..], offset)?;
            self.stream.write_all(&self.out)?;
            self.out.clear();
            return Ok(());
        }
        // TCP_CORK (nginx's `tcp_nopush`): the head leaves in one segment with the
        // file's first bytes, and what is left is pushed at once when uncorked.
        let _ = socket2::SockRef::from(self.stream).set_tcp_cork(true);
        let sent = self.send_head_and_file(file, offset, len);
        let _ = socket2::SockRef::from(self.stream).set_tcp_cork(false);
        sent
    }

    fn send_head_and_file(&mut self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        self.stream.write_all(&self.out)?;
        self.out.clear();
        let end = offset + len;
        let mut offset = offset;
        while offset < end {
            let count = (end - offset).min(SENDFILE_MAX) as usize;
            if hebra::sys::sendfile(self.stream.as_fd(), file.as_fd(), &mut offset, count)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent"));
            }
        }
        Ok(())
    }

    fn log(&self, request: Option<&Request<'_>>, status: Status, bytes: u64) {
        if let Some(log) = &self.shared.log {
            log.log(&Entry { client: self.peer.ip(), request, status, bytes });
        }
    }

    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        if self.read_timeout != Some(timeout) {
            self.stream.set_read_timeout(Some(timeout))?;
            self.read_timeout = Some(timeout);
        }
        Ok(())
    }

    /// Half-closes and reads what the client still sends, so the response it is owed
    /// is not destroyed by a reset when we close with unread input. A shutdown may
    /// cut it short, as it closes an idle connection.
    fn linger(&mut self) {
        if !self.member.idle() {
            return;
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER_TIME;
        let mut scratch = [0; 1024];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.set_read_timeout(left).is_err() {
                return;
            }
            match self.stream.read(&mut scratch) {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    }
}

/// An expired socket timeout: std reports it as `WouldBlock` on Linux.
fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Where the head ends in a buffer that holds a whole response.
fn head_end(response: &[u8]) -> usize {
    response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |at| at + 4)
}

/// The read buffer: bytes received and not yet used, at `data[start..end]`.
#[derive(Default)]
struct Input {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl Input {
    fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Frees the buffer; only when nothing is pending.
    fn release(&mut self) {
        debug_assert!(self.pending().is_empty());
        *self = Input::default();
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.make_room(bytes.len(), usize::MAX);
            self.data[self.end..self.end + bytes.len()].copy_from_slice(bytes);
            self.end += bytes.len();
        }
    }

    /// Reads whatever the socket has, into room made by compacting or growing the
    /// buffer up to `max` bytes.
    fn fill(&mut self, mut stream: &TcpStream, max: usize) -> io::Result<usize> {
        self.make_room(1, max);
        if self.end == self.data.len() {
            // Only reachable when the parser let more than `max` bytes through.
            return Err(io::Error::other("request head over the buffer limit"));
        }
        let n = stream.read(&mut self.data[self.end..])?;
        self.end += n;
        Ok(n)
    }

    fn make_room(&mut self, wanted: usize, max: usize) {
        if self.data.len() - self.end >= wanted {
            return;
        }
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let needed = self.end + wanted;
        if self.data.len() < needed {
            let grown = needed.max(self.data.len() * 2).max(INITIAL_BUFFER).min(max.max(needed));
            self.data.resize(grown, 0);
        }
    }
}
