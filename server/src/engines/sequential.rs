//! One connection of a sequential engine (`coroutine`, `threads`), start to end, as
//! plain code: wait for a request, read its head, answer it, repeat. Every read and
//! write waits until the socket is ready, parking the coroutine or blocking the
//! thread; the socket's timeouts bound each wait.
//!
//! The engine supplies, through [`Host`], what is its own: the socket and file types,
//! how a connection waits for the next request without holding a buffer, where
//! buffers come from, `sendfile`, and the bookkeeping its shutdown relies on.
//! Everything is resolved at compile time: one copy of this code per engine, no
//! dynamic dispatch.

use std::io::{self, Read, Write};
use std::mem;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::input::{Input, InputPool};
use crate::Config;
use crate::access_log::{AccessLogSender, Entry};
use crate::files::{self, Body, Fs, Response};
use crate::http::{self, BodyDiscard, BodyKind, Method, Parsed, Persistence, Request, Status};

/// Files up to this size are read into the response buffer and sent with the head in
/// one write; larger ones go out with `sendfile` after the head. Measured (wrk, 100
/// connections, coroutine engine): one write takes 25% less CPU per request than the
/// head and `sendfile` at 4 KiB and 16 KiB, 10% less at 64 KiB; `sendfile` wins from
/// 256 KiB on.
const INLINE_MAX: u64 = 64 * 1024;
/// Scratch space a request body is read into and dropped.
const SCRATCH_SIZE: usize = 4096;
/// A connection closed after an error keeps reading (and dropping) what the client
/// still sends, for at most this long and this much, so the client sees our response
/// rather than a reset.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

/// What a sequential engine provides to its connections: one value per connection,
/// owned by it.
pub(super) trait Host {
    /// The socket, read and written through a shared reference (`&TcpStream`).
    type Stream<'a>: Read + Write + AsFd
    where
        Self: 'a;
    type Fs: Fs;
    /// Where input buffers come from while a request is read.
    type Inputs: InputPool + Default;
    /// Most bytes asked of one [`sendfile`](Self::sendfile) call.
    const SENDFILE_CHUNK: u64;

    fn stream(&self) -> Self::Stream<'_>;
    fn config(&self) -> &Config;
    fn fs(&self) -> &Self::Fs;
    fn access_log(&self) -> Option<&AccessLogSender>;
    fn shutdown_requested(&self) -> bool;
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()>;

    /// With nothing pending in `input`: waits for the next request (the connection's
    /// `first`, owed within the header timeout, or one more after the idle timeout)
    /// holding no buffer, and reads its first bytes into `input`. False when the
    /// connection ends instead: the client closed or stayed silent, or the server
    /// shuts down.
    fn next_request(&mut self, input: &mut Input, first: bool) -> io::Result<bool>;
    /// Before lingering after an error response: false to close at once instead.
    fn lingering(&mut self) -> bool;

    /// An empty buffer for a response.
    fn take_output(&mut self) -> Vec<u8>;
    /// The response buffer, once the response is sent.
    fn give_output(&mut self, out: Vec<u8>);
    /// Fills `buf` from `file` at `offset`; a file that ends first is an error.
    fn read_exact_at(file: &File<Self>, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Sends up to `count` bytes of `file` from `offset` and returns how many were
    /// sent; 0 at the end of the file.
    fn sendfile(&self, file: &File<Self>, offset: u64, count: usize) -> io::Result<usize>;
}

type File<H> = <<H as Host>::Fs as Fs>::File;

/// Serves the connection until it ends.
pub(super) fn serve<H: Host>(host: H, peer: SocketAddr) {
    let mut connection = Connection { host, inputs: H::Inputs::default(), peer, out: Vec::new() };
    let mut input = Input::default();
    match connection.run(&mut input) {
        Ok(Close::Now) => {}
        Ok(Close::Linger) => connection.linger(),
        Err(err) => tracing::debug!(%peer, %err, "connection ended by an error"),
    }
}

struct Connection<H: Host> {
    host: H,
    inputs: H::Inputs,
    peer: SocketAddr,
    /// The response being sent: head, and a small file's bytes after it.
    out: Vec<u8>,
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

impl<H: Host> Connection<H> {
    fn run(&mut self, input: &mut Input) -> io::Result<Close> {
        // A new connection owes a request within the header timeout; only one that
        // has been served may idle for the (longer) keep-alive timeout. Otherwise
        // silent sockets could hold every place under the connection cap.
        let mut first = true;
        loop {
            if input.pending().is_empty() && !self.host.next_request(input, first)? {
                return Ok(Close::Now);
            }
            first = false;
            if let Some(close) = self.serve_request(input)? {
                return Ok(close);
            }
        }
    }

    /// Reads the rest of the head at the front of `input` and answers it; `Some` when
    /// the connection must end. Kept out of `run`'s frame: parsing and answering use
    /// far more stack than waiting does, and only `run`'s frame stays while idle (the
    /// coroutine engine gives back the stack pages below it).
    #[inline(never)]
    fn serve_request(&mut self, input: &mut Input) -> io::Result<Option<Close>> {
        let config = self.host.config();
        let max_input = config.limits.max_head + 1;
        let deadline = Instant::now() + config.header_timeout;
        let exchange = loop {
            match http::parse_request(input.pending(), &self.host.config().limits) {
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
            self.host.set_read_timeout(left)?;
            match input.read_from(self.host.stream(), max_input, &mut self.inputs) {
                Ok(0) => return Ok(Some(Close::Now)),
                Ok(_) => {}
                Err(err) if is_timeout(&err) => break self.refuse(Status::REQUEST_TIMEOUT, None)?,
                Err(err) => return Err(err),
            }
        };
        input.consume(exchange.consumed);
        input.extend(&exchange.carry, &mut self.inputs);
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
        let keep_alive = request.keep_alive && !self.host.shutdown_requested();
        self.out = self.host.take_output();
        let response =
            files::respond(self.host.fs(), &self.host.config().files, request, keep_alive, &mut self.out);
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
        let config = self.host.config();
        let mut body = match BodyDiscard::new(request.body, config.limits.max_body) {
            Ok(body) => body,
            Err(error) => return Ok(Err(error.status)),
        };
        let header_timeout = config.header_timeout;
        if request.expect_continue {
            self.host.stream().write_all(http::continue_response())?;
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
        let deadline = Instant::now() + header_timeout;
        let mut scratch = vec![0; SCRATCH_SIZE];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Err(Status::REQUEST_TIMEOUT));
            }
            self.host.set_read_timeout(left)?;
            let n = match self.host.stream().read(&mut scratch) {
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
        self.out = self.host.take_output();
        let head_only = request.is_some_and(|r| r.method == Method::Head);
        http::error_response(&mut self.out, status, Persistence::Close, head_only, &[]);
        let body_len = if head_only { 0 } else { self.out.len() - head_end(&self.out) };
        self.log(request, status, body_len as u64);
        self.host.stream().write_all(&self.out)?;
        self.host.give_output(mem::take(&mut self.out));
        Ok(Exchange { consumed: 0, carry: Vec::new(), close: Some(Close::Linger) })
    }

    /// Sends the head in `out` and the body; returns the body bytes sent.
    fn send(&mut self, response: Response<File<H>>, head_only: bool) -> io::Result<u64> {
        let mut body_len = response.body_len;
        match response.body {
            Body::Empty => {
                // An error page comes whole in `out`, its text after the head.
                if !head_only && response.status.code() >= 300 {
                    body_len = (self.out.len() - head_end(&self.out)) as u64;
                }
                self.host.stream().write_all(&self.out)?;
            }
            Body::Bytes(bytes) => {
                self.out.extend_from_slice(&bytes);
                self.host.stream().write_all(&self.out)?;
            }
            Body::File { file, offset, len } => self.send_file(&file, offset, len)?,
            Body::Multipart { file, parts, trailer } => {
                for part in parts {
                    self.out.extend_from_slice(&part.header);
                    self.send_file(&file, part.offset, part.len)?;
                }
                self.host.stream().write_all(&trailer)?;
            }
        }
        self.host.give_output(mem::take(&mut self.out));
        Ok(body_len)
    }

    /// Sends what `out` holds, then `len` bytes of `file` from `offset`; leaves `out`
    /// empty. A file that shrank meanwhile is an error: the head promised its length.
    fn send_file(&mut self, file: &File<H>, offset: u64, len: u64) -> io::Result<()> {
        if len <= INLINE_MAX {
            let start = self.out.len();
            self.out.resize(start + len as usize, 0);
            H::read_exact_at(file, &mut self.out[start..], offset)?;
            self.host.stream().write_all(&self.out)?;
            self.out.clear();
            return Ok(());
        }
        // TCP_CORK (nginx's `tcp_nopush`): the head leaves in one segment with the
        // file's first bytes, and what is left is pushed at once when uncorked. Measured
        // on loopback with 1 MiB files: 10-20% more throughput.
        let _ = socket2::SockRef::from(&self.host.stream()).set_tcp_cork(true);
        let sent = self.send_head_and_file(file, offset, len);
        let _ = socket2::SockRef::from(&self.host.stream()).set_tcp_cork(false);
        sent
    }

    fn send_head_and_file(&mut self, file: &File<H>, offset: u64, len: u64) -> io::Result<()> {
        self.host.stream().write_all(&self.out)?;
        self.out.clear();
        let end = offset + len;
        let mut offset = offset;
        while offset < end {
            let chunk = (end - offset).min(H::SENDFILE_CHUNK) as usize;
            match self.host.sendfile(file, offset, chunk)? {
                0 => return Err(shrunk()),
                sent => offset += sent as u64,
            }
        }
        Ok(())
    }

    fn log(&self, request: Option<&Request<'_>>, status: Status, bytes: u64) {
        if let Some(log) = self.host.access_log() {
            log.log(&Entry { client: self.peer.ip(), request, status, bytes });
        }
    }

    /// Half-closes and reads what the client still sends, so the response it is owed
    /// is not destroyed by a reset when we close with unread input.
    fn linger(&mut self) {
        if !self.host.lingering() {
            return;
        }
        let _ = socket2::SockRef::from(&self.host.stream()).shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER_TIME;
        let mut scratch = [0; 1024];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.host.set_read_timeout(left).is_err() {
                return;
            }
            match self.host.stream().read(&mut scratch) {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    }
}

/// What the read of a request's first bytes says: `Ok(true)` when some came, `Ok(false)`
/// when the client closed or its timeout expired.
pub(super) fn arrived(read: io::Result<usize>) -> io::Result<bool> {
    match read {
        Ok(n) => Ok(n > 0),
        Err(err) if is_timeout(&err) => Ok(false),
        Err(err) => Err(err),
    }
}

/// An expired socket timeout: std (and hebra) report it as `WouldBlock` on Linux.
pub(super) fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

pub(super) fn shrunk() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent")
}

/// Where the head ends in a buffer that holds a whole response.
fn head_end(response: &[u8]) -> usize {
    response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |at| at + 4)
}
