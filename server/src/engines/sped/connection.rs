//! One connection as a state machine, advanced by the loop whenever its socket is
//! ready or its deadline passes. It does what the sequential engines' code
//! (`sequential.rs`) does, step for step, so all answer the same bytes:
//!
//! ```text
//!            ┌───────────────────── keep-alive ─────────────────────┐
//!            ▼                                                      │
//! accept ─▶ Head ─┬─ head complete, no body ──────────────────────▶ Send ─▶ (close)
//!                 ├─ head complete, body not all here ─▶ Body ─────▶ Send
//!                 └─ refused (bad head or body, timeout) ─────────▶ Send ─▶ Linger ─▶ (close)
//! ```
//!
//! - `Head`: reading a request head. With nothing received yet the connection is
//!   idle: it holds no buffer and waits `header_timeout` when new, `idle_timeout`
//!   once served. From the first byte of a head it has `header_timeout` to finish it
//!   (then 408).
//! - `Body`: reading past a request body, within `header_timeout` (then 408). The
//!   head stays at the front of the input buffer and is parsed again when the body
//!   ends: a `Request` borrows its buffer and cannot wait across events.
//! - `Send`: writing the response, which must make progress every `send_timeout`.
//! - `Linger`: after an error response, half-closed, dropping what the client still
//!   sends for up to 2 s or 64 KiB, so it reads our response instead of a reset.
//!
//! The access log line is written when the response is sent (with the body length,
//! or 0 if sending failed), from the head parsed again, which is still at the front
//! of the input buffer; refusals are logged when decided, as the coroutine engine does.
//!
//! # Readiness
//!
//! The socket is registered once, readable and writable, edge-triggered: an event sets
//! `readable` or `writable`, and only `WouldBlock` clears them. One exception saves a
//! `read` per request, as nginx does: a read that does not fill the room it was given
//! found the socket empty, and any later byte raises a new edge, so it clears
//! `readable` at once, unless the peer's FIN was reported (`read_closed`), whose
//! edge is already spent. A spurious flag costs one `WouldBlock`, nothing else.

use std::io::{self, Read, Write};
use std::mem;
use std::net::{IpAddr, Shutdown};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;

use super::Shared;
use super::buffers::Buffers;
use super::send::{Outgoing, Sent};
use super::timers::Timer;
use crate::access_log::{AccessLogSender, Entry};
use crate::engines::input::Input;
use crate::files::{self, Body};
use crate::http::{self, BodyDiscard, BodyKind, Method, Parsed, Persistence, Request, Status};

/// Requests a connection may start per turn of the loop, so one pipelining client
/// cannot starve the others.
const REQUESTS_PER_TURN: u32 = 32;
/// Bytes a connection may read and write per turn, for the same reason.
const BYTES_PER_TURN: usize = 1024 * 1024;
/// A connection closed after an error keeps reading (and dropping) what the client
/// still sends, for at most this long and this much, so the client sees our response
/// rather than a reset.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

/// What one connection may do in one turn of the loop.
#[derive(Debug)]
pub(super) struct Budget {
    requests: u32,
    bytes: usize,
}

impl Budget {
    fn new() -> Budget {
        Budget { requests: REQUESTS_PER_TURN, bytes: BYTES_PER_TURN }
    }

    pub(super) fn spend(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_sub(bytes);
    }

    pub(super) fn is_spent(&self) -> bool {
        self.bytes == 0
    }
}

/// What the loop does with a connection after driving it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Progress {
    /// Waiting for readiness or its deadline.
    Wait,
    /// Out of budget with work left: serve it again after the others.
    Yield,
    Close,
}

/// What the loop lends a connection while driving it.
pub(super) struct Context<'a> {
    pub(super) shared: &'a Shared,
    pub(super) log: Option<&'a AccessLogSender>,
    pub(super) buffers: &'a mut Buffers,
    pub(super) now: Instant,
    /// A graceful shutdown is under way: answer with `Connection: close`, close when idle.
    pub(super) stopping: bool,
}

#[derive(Debug)]
pub(super) struct Connection {
    stream: TcpStream,
    client: IpAddr,
    state: State,
    input: Input,
    pub(super) timer: Timer,
    readable: bool,
    writable: bool,
    /// The peer's FIN (or an error) was reported: read until a read says so.
    read_closed: bool,
    /// On the loop's ready-again list.
    pub(super) queued: bool,
}

#[derive(Debug)]
enum State {
    Head,
    Body {
        discard: BodyDiscard,
        head_len: usize,
        /// What is left to send of `100 Continue`.
        continue_left: &'static [u8],
    },
    Send(Box<Sending>),
    Linger {
        drained: usize,
    },
}

#[derive(Debug)]
struct Sending {
    outgoing: Outgoing,
    /// Input bytes the exchange used, head first, released once the response is out.
    consumed: usize,
    after: After,
    /// The access log entry to write once sent, if not written already.
    log: Option<LogLater>,
}

#[derive(Clone, Copy, Debug)]
enum After {
    KeepAlive,
    /// `Connection: close`; lingers if the client sent more.
    Close,
    /// An error response: always lingers.
    Linger,
}

#[derive(Clone, Copy, Debug)]
struct LogLater {
    head_len: usize,
    status: Status,
    bytes: u64,
}

/// What one step of the state machine did.
enum Step {
    Continue,
    Wait,
    Yield,
    Close,
}

impl Connection {
    /// `deadline`: a new connection owes a request within the header timeout, so that
    /// silent sockets cannot hold the slots of the cap for the keep-alive timeout.
    pub(super) fn new(stream: TcpStream, client: IpAddr, deadline: Instant) -> Connection {
        let _ = stream.set_nodelay(true);
        Connection {
            stream,
            client,
            state: State::Head,
            input: Input::default(),
            timer: Timer::new(deadline),
            readable: false,
            writable: true,
            read_closed: false,
            queued: false,
        }
    }

    pub(super) fn on_event(&mut self, event: &Event) {
        let failed = event.is_error() || event.is_read_closed();
        self.readable |= event.is_readable() || failed;
        self.read_closed |= failed;
        self.writable |= event.is_writable() || event.is_write_closed() || event.is_error();
    }

    /// In the middle of an exchange: a graceful shutdown waits for it.
    pub(super) fn is_busy(&self) -> bool {
        match self.state {
            State::Head => !self.input.is_empty(),
            State::Body { .. } | State::Send(_) => true,
            State::Linger { .. } => false,
        }
    }

    /// Between requests, with nothing received: a graceful shutdown closes it.
    pub(super) fn is_idle(&self) -> bool {
        matches!(self.state, State::Head) && self.input.is_empty()
    }

    /// Advances the connection as far as readiness and its budget allow.
    pub(super) fn drive(&mut self, cx: &mut Context<'_>) -> Progress {
        let mut budget = Budget::new();
        let progress = loop {
            let step = match self.state {
                State::Head => self.read_head(cx, &mut budget),
                State::Body { .. } => self.read_body(cx, &mut budget),
                State::Send(_) => self.send(cx, &mut budget),
                State::Linger { .. } => self.linger(cx, &mut budget),
            };
            match step {
                Ok(Step::Continue) => {}
                Ok(Step::Wait) => break Progress::Wait,
                Ok(Step::Yield) => break Progress::Yield,
                Ok(Step::Close) => break Progress::Close,
                Err(err) => {
                    tracing::debug!(client = %self.client, %err, "connection ended by an error");
                    break Progress::Close;
                }
            }
        };
        if progress == Progress::Close {
            self.abandon(cx);
        } else {
            self.input.release(&mut cx.buffers.inputs);
        }
        progress
    }

    /// The deadline passed.
    pub(super) fn expire(&mut self, cx: &mut Context<'_>) -> Progress {
        match &self.state {
            // Idle: closed without a word, as a keep-alive timeout is.
            State::Head if self.input.is_empty() => return Progress::Close,
            State::Head => {
                let state = refusal(Status::REQUEST_TIMEOUT, None, &[], cx, self.client);
                self.enter(state, cx);
            }
            &State::Body { head_len, continue_left, .. } => {
                let state = self.refuse_retained(Status::REQUEST_TIMEOUT, head_len, continue_left, cx);
                self.enter(state, cx);
            }
            State::Send(_) => {
                tracing::debug!(client = %self.client, "send timed out");
                self.abandon(cx);
                return Progress::Close;
            }
            State::Linger { .. } => return Progress::Close,
        }
        self.drive(cx)
    }

    fn read_head(&mut self, cx: &mut Context<'_>, budget: &mut Budget) -> io::Result<Step> {
        if !self.input.is_empty() {
            match http::parse_request(self.input.pending(), &cx.shared.config.limits) {
                Ok(Parsed::Complete(request, head_len)) => {
                    if budget.requests == 0 {
                        return Ok(Step::Yield);
                    }
                    budget.requests -= 1;
                    let state = begin(&request, head_len, self.input.pending(), cx, self.client)?;
                    self.enter(state, cx);
                    return Ok(Step::Continue);
                }
                Ok(Parsed::Partial) => {}
                Err(error) => {
                    let state = refusal(error.status, None, &[], cx, self.client);
                    self.enter(state, cx);
                    return Ok(Step::Continue);
                }
            }
        } else if cx.stopping {
            return Ok(Step::Close);
        }
        if !self.readable {
            return Ok(Step::Wait);
        }
        if budget.is_spent() {
            return Ok(Step::Yield);
        }
        let was_idle = self.input.is_empty();
        let max = cx.shared.config.limits.max_head;
        match self.input.read_from(&self.stream, max, &mut cx.buffers.inputs) {
            Ok(0) => Ok(Step::Close),
            Ok(n) => {
                budget.spend(n);
                self.readable = self.input.is_full() || self.read_closed;
                if was_idle {
                    self.timer.deadline = cx.now + cx.shared.config.header_timeout;
                }
                Ok(Step::Continue)
            }
            Err(err) => self.read_failed(err),
        }
    }

    fn read_body(&mut self, cx: &mut Context<'_>, budget: &mut Budget) -> io::Result<Step> {
        let State::Body { discard, head_len, continue_left } = &mut self.state else {
            return Ok(Step::Continue);
        };
        // The interim response goes out before the body is read, as it promises.
        if !continue_left.is_empty() {
            if !self.writable {
                return Ok(Step::Wait);
            }
            match (&self.stream).write(continue_left) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => *continue_left = &continue_left[n..],
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
            return Ok(Step::Continue);
        }
        if !self.readable {
            return Ok(Step::Wait);
        }
        if budget.is_spent() {
            return Ok(Step::Yield);
        }
        let scratch = &mut cx.buffers.scratch;
        let n = match (&self.stream).read(scratch) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(err) => return self.read_failed(err),
        };
        budget.spend(n);
        self.readable = n == scratch.len() || self.read_closed;
        let head_len = *head_len;
        let state = match discard.feed(&scratch[..n]) {
            Ok((_, false)) => return Ok(Step::Continue),
            Ok((used, true)) => {
                // What follows the body is the next request: it goes behind the head.
                self.input.extend(&scratch[used..n], &mut cx.buffers.inputs);
                match parse_retained(&self.input, head_len, cx) {
                    Some(request) => respond(&request, head_len, head_len, &[], cx, self.client)?,
                    None => return Err(io::Error::other("the retained request head no longer parses")),
                }
            }
            Err(error) => self.refuse_retained(error.status, head_len, &[], cx),
        };
        self.enter(state, cx);
        Ok(Step::Continue)
    }

    fn send(&mut self, cx: &mut Context<'_>, budget: &mut Budget) -> io::Result<Step> {
        let State::Send(sending) = &mut self.state else { return Ok(Step::Continue) };
        if !self.writable {
            return Ok(Step::Wait);
        }
        let before = sending.outgoing.progress();
        let sent = sending.outgoing.send(&self.stream, budget);
        if sending.outgoing.progress() > before {
            self.timer.deadline = cx.now + cx.shared.config.send_timeout;
        }
        match sent? {
            Sent::Done => Ok(self.finish(cx)),
            Sent::Blocked => {
                self.writable = false;
                Ok(Step::Wait)
            }
            Sent::Yield => Ok(Step::Yield),
        }
    }

    /// The response is out: log it, and go on to the next request, or close.
    fn finish(&mut self, cx: &mut Context<'_>) -> Step {
        let State::Send(sending) = mem::replace(&mut self.state, State::Head) else {
            return Step::Continue;
        };
        let Sending { outgoing, consumed, after, log } = *sending;
        cx.buffers.outputs.give(outgoing.into_buffer());
        if let Some(log) = log {
            self.log_retained(log, log.bytes, cx);
        }
        self.input.consume(consumed);
        match after {
            After::KeepAlive => {
                let config = &cx.shared.config;
                let wait = if self.input.is_empty() { config.idle_timeout } else { config.header_timeout };
                self.timer.deadline = cx.now + wait;
                Step::Continue
            }
            After::Close if self.input.is_empty() => Step::Close,
            After::Close | After::Linger => {
                self.start_linger(cx);
                Step::Continue
            }
        }
    }

    fn start_linger(&mut self, cx: &mut Context<'_>) {
        let _ = self.stream.shutdown(Shutdown::Write);
        self.input.clear(&mut cx.buffers.inputs);
        self.state = State::Linger { drained: 0 };
        self.timer.deadline = cx.now + LINGER_TIME;
    }

    fn linger(&mut self, cx: &mut Context<'_>, budget: &mut Budget) -> io::Result<Step> {
        let State::Linger { drained } = &mut self.state else { return Ok(Step::Continue) };
        if !self.readable {
            return Ok(Step::Wait);
        }
        if budget.is_spent() {
            return Ok(Step::Yield);
        }
        let room = cx.buffers.scratch.len().min(LINGER_BYTES - *drained);
        match (&self.stream).read(&mut cx.buffers.scratch[..room]) {
            Ok(0) => Ok(Step::Close),
            Ok(n) => {
                *drained += n;
                budget.spend(n);
                self.readable = n == room || self.read_closed;
                Ok(if *drained >= LINGER_BYTES { Step::Close } else { Step::Continue })
            }
            Err(err) => self.read_failed(err).or(Ok(Step::Close)),
        }
    }

    fn read_failed(&mut self, err: io::Error) -> io::Result<Step> {
        match err.kind() {
            io::ErrorKind::WouldBlock => {
                self.readable = false;
                Ok(Step::Wait)
            }
            io::ErrorKind::Interrupted => Ok(Step::Continue),
            _ => Err(err),
        }
    }

    /// Moves to `state`, with the deadline it comes with.
    fn enter(&mut self, mut state: State, cx: &Context<'_>) {
        let config = &cx.shared.config;
        match &mut state {
            State::Body { head_len, .. } => {
                // The body bytes already here were fed to the discard; keep the head.
                self.input.truncate(*head_len);
                self.timer.deadline = cx.now + config.header_timeout;
            }
            State::Send(sending) => {
                if sending.log.is_none() {
                    // No log line will parse the head again: a long download need not
                    // pin the input buffer for it.
                    self.input.consume(mem::take(&mut sending.consumed));
                }
                self.timer.deadline = cx.now + config.send_timeout;
            }
            State::Head | State::Linger { .. } => {}
        }
        self.state = state;
    }

    /// An error response to the request whose head is retained at the front of the
    /// input (its body being read).
    fn refuse_retained(
        &self,
        status: Status,
        head_len: usize,
        continue_left: &[u8],
        cx: &mut Context<'_>,
    ) -> State {
        let request = parse_retained(&self.input, head_len, cx);
        refusal(status, request.as_ref(), continue_left, cx, self.client)
    }

    fn log_retained(&self, log: LogLater, bytes: u64, cx: &Context<'_>) {
        if let Some(sender) = cx.log {
            let request = parse_retained(&self.input, log.head_len, cx);
            sender.log(&Entry { client: self.client, request: request.as_ref(), status: log.status, bytes });
        }
    }

    /// The connection closes early: a response cut short is logged with 0 bytes, as
    /// the coroutine engine logs a send that failed.
    fn abandon(&mut self, cx: &mut Context<'_>) {
        if let State::Send(sending) = mem::replace(&mut self.state, State::Head) {
            if let Some(log) = sending.log {
                self.log_retained(log, 0, cx);
            }
        }
    }
}

/// Starts the exchange for a complete head at the front of `pending`.
fn begin(
    request: &Request<'_>,
    head_len: usize,
    pending: &[u8],
    cx: &mut Context<'_>,
    client: IpAddr,
) -> io::Result<State> {
    if request.body == BodyKind::None {
        return respond(request, head_len, head_len, &[], cx, client);
    }
    let mut discard = match BodyDiscard::new(request.body, cx.shared.config.limits.max_body) {
        Ok(discard) => discard,
        Err(error) => return Ok(refusal(error.status, Some(request), &[], cx, client)),
    };
    let interim = if request.expect_continue { http::continue_response() } else { &[] };
    Ok(match discard.feed(&pending[head_len..]) {
        Ok((used, true)) => return respond(request, head_len + used, head_len, interim, cx, client),
        Ok((_, false)) => State::Body { discard, head_len, continue_left: interim },
        Err(error) => refusal(error.status, Some(request), interim, cx, client),
    })
}

/// The response to a request whose body (if any) has been read past. `before` goes
/// out ahead of it (the rest of a `100 Continue`).
fn respond(
    request: &Request<'_>,
    consumed: usize,
    head_len: usize,
    before: &[u8],
    cx: &mut Context<'_>,
    client: IpAddr,
) -> io::Result<State> {
    let keep_alive = request.keep_alive && !cx.stopping;
    let mut out = cx.buffers.output();
    out.extend_from_slice(before);
    let head_start = out.len();
    let response = files::respond(&cx.shared.fs, &cx.shared.config.files, request, keep_alive, &mut out);
    let status = response.status;
    let head_only = request.method == Method::Head;
    let bytes = match response.body {
        // An error page comes whole in `out`, its text after the head.
        Body::Empty if !head_only && status.code() >= 300 => error_body_len(&out[head_start..]),
        _ => response.body_len,
    };
    let outgoing = match Outgoing::new(out, response.body) {
        Ok(outgoing) => outgoing,
        Err(err) => {
            log(cx, client, Some(request), status, 0);
            return Err(err);
        }
    };
    let after = if keep_alive { After::KeepAlive } else { After::Close };
    let log = cx.log.is_some().then_some(LogLater { head_len, status, bytes });
    Ok(State::Send(Box::new(Sending { outgoing, consumed, after, log })))
}

/// An error response that ends the connection, logged now.
fn refusal(
    status: Status,
    request: Option<&Request<'_>>,
    before: &[u8],
    cx: &mut Context<'_>,
    client: IpAddr,
) -> State {
    let mut out = cx.buffers.output();
    out.extend_from_slice(before);
    let head_start = out.len();
    let head_only = request.is_some_and(|r| r.method == Method::Head);
    http::error_response(&mut out, status, Persistence::Close, head_only, &[]);
    let bytes = if head_only { 0 } else { error_body_len(&out[head_start..]) };
    log(cx, client, request, status, bytes);
    let outgoing = Outgoing::buffered(out);
    State::Send(Box::new(Sending { outgoing, consumed: 0, after: After::Linger, log: None }))
}

/// The head retained at the front of `input`, parsed again.
fn parse_retained<'i>(input: &'i Input, head_len: usize, cx: &Context<'_>) -> Option<Request<'i>> {
    let head = input.pending().get(..head_len)?;
    match http::parse_request(head, &cx.shared.config.limits) {
        Ok(Parsed::Complete(request, _)) => Some(request),
        _ => None,
    }
}

fn log(cx: &Context<'_>, client: IpAddr, request: Option<&Request<'_>>, status: Status, bytes: u64) {
    if let Some(sender) = cx.log {
        sender.log(&Entry { client, request, status, bytes });
    }
}

/// The length of the text after the head of a whole error response.
fn error_body_len(response: &[u8]) -> u64 {
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |at| at + 4);
    (response.len() - head_end) as u64
}
