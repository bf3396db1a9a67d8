//! One connection, start to end, as sequential code: wait for a request, read its
//! head, answer it, repeat. Every read and write parks the coroutine when the socket
//! is not ready, so none of this ever blocks a worker.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hebra::fs::File;
use hebra::net::TcpStream;

use super::{Shared, buffers};
use crate::access_log::Entry;
use crate::files::{self, Body, Response};
use crate::http::{self, BodyDiscard, BodyKind, Method, Parsed, Persistence, Request, Status};

/// Files up to this size are read into the response buffer and sent with the head in
/// one write; larger ones go out with `sendfile` after the head. Measured (wrk, 100
/// connections): one write takes 25% less CPU per request than head + `sendfile` at
/// 4 KiB and 16 KiB, 10% less at 64 KiB; `sendfile` wins from 256 KiB on.
const INLINE_MAX: u64 = 64 * 1024;
/// Most bytes handed to one `sendfile` call, so one large response yields between
/// calls like any other busy coroutine.
const SENDFILE_CHUNK: u64 = 1024 * 1024;
/// Read buffer size to start with; it grows up to the head limit when needed.
const INITIAL_BUFFER: usize = 4096;
/// A connection closed after an error keeps reading (and dropping) what the client
/// still sends, for at most this long and this much, so the client sees our response
/// rather than a reset.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;
/// A keep-alive connection idle this long gives back the stack pages its last request
/// touched (`hebra::coroutine::shrink_stack`): one `madvise`, and a few page faults
/// when the next request comes. Long enough that a loaded server never pays it (its
/// clients come back within milliseconds), short enough that idle connections cost
/// little.
const SHRINK_AFTER: Duration = Duration::from_secs(1);

pub(super) fn serve(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shared.config.send_timeout));
    let mut connection = Connection { stream, peer, shared, out: Vec::new(), busy: false };
    let mut input = Input::default();
    match connection.run(&mut input) {
        Ok(Close::Now) => {}
        Ok(Close::Linger) => connection.linger(),
        Err(err) => tracing::debug!(%peer, %err, "connection ended by an error"),
    }
}

struct Connection<'s> {
    stream: TcpStream,
    peer: SocketAddr,
    shared: &'s Shared,
    /// The response being sent: head, and a small file's bytes after it.
    out: Vec<u8>,
    /// Counted in `Shared::busy`: a request is in progress.
    busy: bool,
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
        // A new connection owes a request within the header timeout; only one that
        // has been served may idle for the (longer) keep-alive timeout. Otherwise
        // silent sockets could hold every permit of the connection cap.
        let mut first = true;
        loop {
            if input.pending().is_empty() {
                self.set_busy(false);
                if self.shared.shutdown.is_requested() {
                    return Ok(Close::Now);
                }
                // A fresh client has usually sent its request already: read at once.
                // Between requests, wait with no buffer held (an idle connection costs
                // its socket and a few stack pages, not a buffer).
                if !first {
                    input.release();
                    if !self.await_request()? {
                        return Ok(Close::Now);
                    }
                }
                let wait =
                    if first { self.shared.config.header_timeout } else { self.shared.config.idle_timeout };
                self.stream.set_read_timeout(Some(wait))?;
                match input.fill(&self.stream, self.shared.config.limits.max_head + 1) {
                    Ok(0) => return Ok(Close::Now),
                    Ok(_) => {}
                    Err(err) if is_timeout(&err) => return Ok(Close::Now),
                    Err(err) => return Err(err),
                }
            }
            first = false;
            self.set_busy(true);
            if let Some(close) = self.serve_request(input)? {
                return Ok(close);
            }
        }
    }

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

    /// Reads the rest of the head at the front of `input` and answers it; `Some` when
    /// the connection must end. Kept out of `run`'s frame: parsing and answering use
    /// far more stack than waiting does, and only `run`'s frame stays while idle.
    #[inline(never)]
    fn serve_request(&mut self, input: &mut Input) -> io::Result<Option<Close>> {
        let config = &self.shared.config;
        let max_input = config.limits.max_head + 1;
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
            self.stream.set_read_timeout(Some(left))?;
            match input.fill(&self.stream, max_input) {
                Ok(0) => return Ok(Some(Close::Now)),
                Ok(_) => {}
                Err(err) if is_timeout(&err) => break self.refuse(Status::REQUEST_TIMEOUT, None)?,
                Err(err) => return Err(err),
            }
        };
        input.consume(exchange.consumed);
        input.extend(&exchange.carry);
        Ok(exchange.close.map(|close| if input.pending().is_empty() { close } else { Close::Linger }))
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
        self.out = buffers::take_output();
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
            (&self.stream).write_all(http::continue_response())?;
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
            self.stream.set_read_timeout(Some(left))?;
            let n = match (&self.stream).read(&mut scratch) {
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
        self.out = buffers::take_output();
        let head_only = request.is_some_and(|r| r.method == Method::Head);
        http::error_response(&mut self.out, status, Persistence::Close, head_only, &[]);
        let body_len = if head_only { 0 } else { self.out.len() - head_end(&self.out) };
        self.log(request, status, body_len as u64);
        (&self.stream).write_all(&self.out)?;
        buffers::give_output(std::mem::take(&mut self.out));
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
                (&self.stream).write_all(&self.out)?;
            }
            Body::Bytes(bytes) => {
                self.out.extend_from_slice(&bytes);
                (&self.stream).write_all(&self.out)?;
            }
            Body::File { file, offset, len } => self.send_file(&file, offset, len)?,
            Body::Multipart { file, parts, trailer } => {
                for part in parts {
                    self.out.extend_from_slice(&part.header);
                    self.send_file(&file, part.offset, part.len)?;
                }
                (&self.stream).write_all(&trailer)?;
            }
        }
        buffers::give_output(std::mem::take(&mut self.out));
        Ok(body_len)
    }

    /// Sends what `out` holds, then `len` bytes of `file` from `offset`; leaves `out`
    /// empty. A file that shrank meanwhile is an error: the head promised its length.
    fn send_file(&mut self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        if len <= INLINE_MAX {
            let start = self.out.len();
            self.out.resize(start + len as usize, 0);
            read_exact_at(file, &mut self.out[start..], offset)?;
            (&self.stream).write_all(&self.out)?;
            self.out.clear();
            return Ok(());
        }
        // TCP_CORK (nginx's `tcp_nopush`): the head leaves in one segment with the
        // file's first bytes, and what is left is pushed at once when uncorked. Measured
        // on loopback with 1 MiB files: 10-20% more throughput.
        let _ = socket2::SockRef::from(&self.stream).set_tcp_cork(true);
        let sent = self.send_head_and_file(file, offset, len);
        let _ = socket2::SockRef::from(&self.stream).set_tcp_cork(false);
        sent
    }

    fn send_head_and_file(&mut self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        (&self.stream).write_all(&self.out)?;
        self.out.clear();
        let end = offset + len;
        let mut offset = offset;
        while offset < end {
            let chunk = (end - offset).min(SENDFILE_CHUNK) as usize;
            match self.stream.sendfile(file, offset, chunk)? {
                0 => return Err(shrunk()),
                sent => offset += sent as u64,
            }
        }
        Ok(())
    }

    fn log(&self, request: Option<&Request<'_>>, status: Status, bytes: u64) {
        if let Some(log) = &self.shared.log {
            log.log(&Entry { client: self.peer.ip(), request, status, bytes });
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

    /// Half-closes and reads what the client still sends, so the response it is owed
    /// is not destroyed by a reset when we close with unread input.
    fn linger(&mut self) {
        self.set_busy(false);
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER_TIME;
        let mut scratch = [0; 1024];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match (&self.stream).read(&mut scratch) {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    }
}

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        self.set_busy(false);
    }
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

fn shrunk() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent")
}

/// An expired socket timeout: std (and hebra) report it as `WouldBlock` on Linux.
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
    fn fill(&mut self, stream: &TcpStream, max: usize) -> io::Result<usize> {
        self.make_room(1, max);
        if self.end == self.data.len() {
            // Only reachable when the parser let more than `max` bytes through.
            return Err(io::Error::other("request head over the buffer limit"));
        }
        let n = (&*stream).read(&mut self.data[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Gives the buffer back to the worker's pool; only when nothing is pending.
    fn release(&mut self) {
        debug_assert!(self.pending().is_empty());
        buffers::give_input(std::mem::take(&mut self.data));
        self.start = 0;
        self.end = 0;
    }

    fn make_room(&mut self, wanted: usize, max: usize) {
        if self.data.is_empty() {
            self.data = buffers::take_input();
        }
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
