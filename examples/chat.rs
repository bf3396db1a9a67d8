//! A TCP chat server: a reader and a writer coroutine per client, one broadcaster that
//! owns the room, and channels between them.
//!
//! Run with `cargo run --example chat [-- ADDR]` (default `127.0.0.1:7000`; a bare port
//! means 127.0.0.1, port 0 picks a free one), then join from two terminals with
//! `nc 127.0.0.1 7000`. The first line you type is your nickname; `/help` lists the
//! commands.
//!
//! ```text
//! socket ─► reader ─events─► broadcaster ─outbox─► writer ─► socket
//!           (per client)     (one, owns the room)  (per client)
//! ```
//!
//! No state is shared and no lock is taken: the broadcaster alone knows who is in the
//! room, readers ask it questions over a channel and get the answer on a reply channel,
//! and each writer owns its client's outgoing queue (its *outbox*, bounded).
//!
//! The broadcaster never waits on a client: it hands each line to every outbox with
//! `try_send`. A client whose outbox is full has stopped keeping up, and it is
//! *disconnected*, not silently skipped: a conversation with holes in it is worse than a
//! clear "too slow" and a reconnect. So a client that never reads costs the others
//! nothing.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hebra::chan::{self, Receiver, Sender, TrySendError};
use hebra::net::{TcpListener, TcpStream};

const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7000);
/// Longest line a client may send, in bytes. A longer one is skipped whole, so a client
/// cannot make the server buffer without bound.
const MAX_LINE: usize = 1024;
const MAX_NICK: usize = 16;
/// Lines queued for one client before it counts as too slow: a burst of chat fits
/// easily, a client that stopped reading does not.
const OUTBOX_CAPACITY: usize = 256;
/// A write that makes no progress for this long ends the connection. The outbox bound
/// catches a stuck client only while others talk; this catches it in a quiet room too,
/// so it cannot pin a coroutine and a descriptor forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Events the broadcaster may have pending. It never waits on anyone, so it catches up;
/// meanwhile readers wait, which slows down only the clients that talk.
const EVENT_BACKLOG: usize = 1024;

const USAGE: &str = "usage: chat [--addr] [ADDR]   (ADDR is IP:PORT or PORT; default 127.0.0.1:7000)";
const HELP: &str = "\
Commands:
  /nick NAME   change your nickname
  /who         list who is here
  /me ACTION   tell the room what you are doing
  /quit        leave";

type ClientId = u64;
/// One line of output, newline included; shared by every outbox it goes to.
type Line = Arc<str>;

fn main() -> ExitCode {
    let addr = match parse_args(std::env::args().skip(1)) {
        Ok(Some(addr)) => addr,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("chat: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match hebra::run(move || serve(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The listening address from `[--addr] ADDR`, or `None` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<SocketAddr>, String> {
    let mut addr = DEFAULT_ADDR;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--addr" => addr = parse_addr(&args.next().ok_or("--addr needs a value")?)?,
            _ if arg.starts_with('-') => return Err(format!("unknown option '{arg}'")),
            _ => addr = parse_addr(&arg)?,
        }
    }
    Ok(Some(addr))
}

/// `IP:PORT`, or a bare `PORT` on 127.0.0.1.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port));
    }
    text.parse().map_err(|_| format!("'{text}' is not an address (expected IP:PORT or PORT)"))
}

fn serve(addr: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(addr)
        .map_err(|err| io::Error::new(err.kind(), format!("cannot listen on {addr}: {err}")))?;
    let local = listener.local_addr()?;
    println!("chat server listening on {local}; join with: nc {} {}", local.ip(), local.port());

    let (events, inbox) = chan::bounded(EVENT_BACKLOG);
    hebra::spawn(move || broadcaster(inbox));
    let mut next_id: ClientId = 0;
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let events = events.clone();
                hebra::spawn(move || serve_client(stream, next_id, events));
                next_id += 1;
            }
            // Out of descriptors or a connection reset before accept: keep serving.
            Err(err) => {
                eprintln!("accept failed: {err}");
                hebra::sleep(Duration::from_millis(10));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The broadcaster: the only owner of the room.

/// What readers tell or ask the broadcaster. A question carries the channel its
/// answer goes back on.
enum Event {
    /// Join as `nick`; the answer is who else is here. `socket` lets the broadcaster
    /// disconnect the client if it falls behind.
    Join {
        id: ClientId,
        nick: String,
        peer: SocketAddr,
        outbox: Sender<Line>,
        socket: TcpStream,
        reply: Sender<Result<Vec<String>, NickTaken>>,
    },
    Rename {
        id: ClientId,
        nick: String,
        reply: Sender<Result<(), NickTaken>>,
    },
    /// A line for everyone but its sender.
    Say {
        from: ClientId,
        line: Line,
    },
    Who {
        reply: Sender<Vec<String>>,
    },
    Leave {
        id: ClientId,
        reason: &'static str,
    },
}

/// Another client has this nickname (compared without regard to ASCII case).
struct NickTaken;

struct Member {
    nick: String,
    peer: SocketAddr,
    outbox: Sender<Line>,
    socket: TcpStream,
}

#[derive(Default)]
struct Room {
    /// By id, which is arrival order: `/who` lists the old-timers first.
    members: BTreeMap<ClientId, Member>,
    /// Members whose outbox refused a line while an event was handled, and why.
    falling_behind: Vec<(ClientId, &'static str)>,
}

fn broadcaster(events: Receiver<Event>) {
    let mut room = Room::default();
    for event in events {
        room.handle(event);
        room.evict_falling_behind();
    }
}

impl Room {
    fn handle(&mut self, event: Event) {
        match event {
            Event::Join { id, nick, peer, outbox, socket, reply } => {
                if self.is_taken(&nick, id) {
                    let _ = reply.send(Err(NickTaken));
                    return;
                }
                eprintln!("{nick} ({peer}) joined");
                self.broadcast(line(format_args!("* {nick} joined")), None);
                let others = self.nicks();
                self.members.insert(id, Member { nick, peer, outbox, socket });
                let _ = reply.send(Ok(others));
            }
            Event::Rename { id, nick, reply } => {
                if self.is_taken(&nick, id) {
                    let _ = reply.send(Err(NickTaken));
                    return;
                }
                // Gone already (evicted): dropping `reply` tells the reader so.
                let Some(member) = self.members.get_mut(&id) else { return };
                let old = std::mem::replace(&mut member.nick, nick);
                let notice = line(format_args!("* {old} is now known as {}", member.nick));
                self.broadcast(notice, None);
                let _ = reply.send(Ok(()));
            }
            Event::Say { from, line } => {
                // An evicted client's last words may still be in the queue: drop them.
                if self.members.contains_key(&from) {
                    self.broadcast(line, Some(from));
                }
            }
            Event::Who { reply } => {
                let _ = reply.send(self.nicks());
            }
            Event::Leave { id, reason } => {
                self.remove(id, reason);
            }
        }
    }

    fn is_taken(&self, nick: &str, asker: ClientId) -> bool {
        self.members.iter().any(|(&id, member)| id != asker && member.nick.eq_ignore_ascii_case(nick))
    }

    fn nicks(&self) -> Vec<String> {
        self.members.values().map(|member| member.nick.clone()).collect()
    }

    /// Queues `line` for every member but `except`, never waiting: a member whose outbox
    /// refuses it is evicted once the current event is handled.
    fn broadcast(&mut self, line: Line, except: Option<ClientId>) {
        for (&id, member) in &self.members {
            if Some(id) == except {
                continue;
            }
            match member.outbox.try_send(line.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => self.falling_behind.push((id, "too slow to keep up")),
                Err(TrySendError::Disconnected(_)) => self.falling_behind.push((id, "connection lost")),
            }
        }
    }

    /// Takes a member out of the room and tells the others.
    fn remove(&mut self, id: ClientId, reason: &'static str) -> Option<Member> {
        // Already gone: evicted, and now its reader noticed.
        let member = self.members.remove(&id)?;
        eprintln!("{} ({}) left: {reason}", member.nick, member.peer);
        self.broadcast(line(format_args!("* {} left ({reason})", member.nick)), None);
        Some(member)
    }

    fn evict_falling_behind(&mut self) {
        // The leave notice can find another member falling behind: a worklist, not
        // recursion, so a room of thousands cannot overflow the stack.
        while let Some((id, reason)) = self.falling_behind.pop() {
            if let Some(member) = self.remove(id, reason) {
                // Its writer may be parked in a write the client never drains; this ends
                // that write, and the reader's read, at once.
                let _ = member.socket.shutdown(Shutdown::Both);
            }
        }
    }
}

/// A line of output from anything printable.
fn line(text: impl Display) -> Line {
    format!("{text}\n").into()
}

// ---------------------------------------------------------------------------------------
// One client: its reader (the coroutine running `serve_client`) and its writer.

/// What a client typed.
enum Input {
    Text(String),
    TooLong,
}

enum Command<'a> {
    Say(&'a str),
    Me(&'a str),
    Nick(&'a str),
    Who,
    Help,
    Quit,
    Unknown(&'a str),
}

struct Client {
    id: ClientId,
    peer: SocketAddr,
    lines: BufReader<TcpStream>,
    outbox: Sender<Line>,
    events: Sender<Event>,
}

fn serve_client(stream: TcpStream, id: ClientId, events: Sender<Event>) {
    let Ok(mut client) = Client::new(stream, id, events) else { return };
    let nick = match client.join() {
        Ok(Some(nick)) => nick,
        // Left, or the connection failed, before joining: nobody to tell.
        Ok(None) | Err(_) => return,
    };
    let reason = client.chat(nick).unwrap_or("connection lost");
    let _ = client.events.send(Event::Leave { id, reason });
}

impl Client {
    /// Sets up the connection and starts its writer.
    fn new(stream: TcpStream, id: ClientId, events: Sender<Event>) -> io::Result<Client> {
        let peer = stream.peer_addr()?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?; // shared with the writer's clone
        let (outbox, queued) = chan::bounded(OUTBOX_CAPACITY);
        let writer_half = stream.try_clone()?;
        hebra::spawn(move || write_lines(writer_half, queued));
        let client = Client { id, peer, lines: BufReader::new(stream), outbox, events };
        client.say("Welcome to hebra chat! What is your nickname?")?;
        Ok(client)
    }

    /// Asks for nicknames until the broadcaster accepts one; `None` if the client left.
    fn join(&mut self) -> io::Result<Option<String>> {
        loop {
            let nick = match self.read_input()? {
                None => return Ok(None),
                Some(Input::TooLong) => {
                    self.say("That is long for a nickname. Try another:")?;
                    continue;
                }
                Some(Input::Text(text)) => text.trim().to_owned(),
            };
            if nick.is_empty() {
                continue;
            }
            if nick == "/quit" {
                self.say("Bye!")?;
                return Ok(None);
            }
            if nick.starts_with('/') {
                self.say("Pick a nickname first (or /quit):")?;
                continue;
            }
            if let Err(why) = check_nick(&nick) {
                self.say(format_args!("{why} Try another:"))?;
                continue;
            }
            let socket = self.lines.get_ref().try_clone()?;
            let (id, peer, outbox) = (self.id, self.peer, self.outbox.clone());
            let joined =
                self.ask(|reply| Event::Join { id, nick: nick.clone(), peer, outbox, socket, reply })?;
            match joined {
                Ok(others) => {
                    self.say(welcome(&nick, &others))?;
                    return Ok(Some(nick));
                }
                Err(NickTaken) => self.say(format_args!("{nick} is taken. Try another:"))?,
            }
        }
    }

    /// The conversation, until the client leaves; returns why it did.
    fn chat(&mut self, mut nick: String) -> io::Result<&'static str> {
        loop {
            let text = match self.read_input()? {
                None => return Ok("connection closed"),
                Some(Input::TooLong) => {
                    self.say(format_args!("! Line too long (over {MAX_LINE} bytes): not sent."))?;
                    continue;
                }
                Some(Input::Text(text)) => text,
            };
            match parse_command(&text) {
                None => {}
                Some(Command::Say(words)) => self.tell_room(format_args!("<{nick}> {words}"))?,
                Some(Command::Me("")) => self.say("! Usage: /me ACTION")?,
                Some(Command::Me(action)) => self.tell_room(format_args!("* {nick} {action}"))?,
                Some(Command::Nick(new)) => nick = self.rename(nick, new)?,
                Some(Command::Who) => {
                    let nicks = self.ask(|reply| Event::Who { reply })?;
                    self.say(format_args!("Here now ({}): {}", nicks.len(), nicks.join(", ")))?;
                }
                Some(Command::Help) => self.say(HELP)?,
                Some(Command::Quit) => {
                    self.say("Bye!")?;
                    return Ok("quit");
                }
                Some(Command::Unknown(command)) => {
                    self.say(format_args!("! Unknown command {command}; /help lists them."))?
                }
            }
        }
    }

    /// Asks the broadcaster to rename `nick` to `new`; returns the nickname now in use.
    fn rename(&self, nick: String, new: &str) -> io::Result<String> {
        if let Err(why) = check_nick(new) {
            self.say(format_args!("! {why}"))?;
            return Ok(nick);
        }
        let id = self.id;
        match self.ask(|reply| Event::Rename { id, nick: new.to_owned(), reply })? {
            Ok(()) => Ok(new.to_owned()),
            Err(NickTaken) => {
                self.say(format_args!("! {new} is taken."))?;
                Ok(nick)
            }
        }
    }

    fn read_input(&mut self) -> io::Result<Option<Input>> {
        read_input(&mut self.lines)
    }

    /// Queues a line for this client alone. Waiting here when the outbox is full slows
    /// down only this client, which is the one not reading.
    fn say(&self, text: impl Display) -> io::Result<()> {
        self.outbox.send(line(text)).map_err(|_| gone("the writer"))
    }

    fn tell_room(&self, text: impl Display) -> io::Result<()> {
        self.send_event(Event::Say { from: self.id, line: line(text) })
    }

    fn send_event(&self, event: Event) -> io::Result<()> {
        self.events.send(event).map_err(|_| gone("the broadcaster"))
    }

    /// Sends the broadcaster a question and waits for the answer.
    fn ask<T>(&self, question: impl FnOnce(Sender<T>) -> Event) -> io::Result<T> {
        let (reply, answer) = chan::bounded(1);
        self.send_event(question(reply))?;
        // No answer: the broadcaster dropped the question, because it evicted us.
        answer.recv().map_err(|_| gone("the room"))
    }
}

fn gone(who: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, format!("{who} hung up"))
}

/// Drains a client's outbox into its socket, a batch of queued lines per write. Ends
/// when the outbox closes (the client left) or a write fails, and shuts the socket down
/// either way so that the reader stops too.
fn write_lines(mut socket: TcpStream, queued: Receiver<Line>) {
    let mut batch = Vec::new();
    while let Ok(first) = queued.recv() {
        batch.clear();
        batch.extend_from_slice(first.as_bytes());
        for line in queued.try_iter().take(64) {
            batch.extend_from_slice(line.as_bytes());
        }
        if socket.write_all(&batch).is_err() {
            break;
        }
    }
    let _ = socket.shutdown(Shutdown::Both);
}

/// Reads the next line, without its line ending. `None` at end of stream; a line over
/// [`MAX_LINE`] bytes is skipped to its end and reported as [`Input::TooLong`].
fn read_input(reader: &mut impl BufRead) -> io::Result<Option<Input>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            // A last line without its newline (`printf hi | nc`) still counts.
            let last = (too_long || !line.is_empty()).then(|| finish(line, too_long));
            return Ok(last);
        }
        let (chunk, used, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(end) => (&buf[..end], end + 1, true),
            None => (buf, buf.len(), false),
        };
        too_long |= line.len() + chunk.len() > MAX_LINE;
        if !too_long {
            line.extend_from_slice(chunk);
        }
        reader.consume(used);
        if complete {
            return Ok(Some(finish(line, too_long)));
        }
    }
}

/// Text for the room: invalid UTF-8 replaced, control characters dropped (an escape
/// sequence from one client must not repaint the others' terminals), `\r` included.
fn finish(line: Vec<u8>, too_long: bool) -> Input {
    if too_long {
        return Input::TooLong;
    }
    let text = String::from_utf8_lossy(&line);
    Input::Text(text.chars().filter(|c| !c.is_control()).collect::<String>().trim_end().to_owned())
}

/// The command on a line; `None` for a blank one.
fn parse_command(text: &str) -> Option<Command<'_>> {
    if text.trim().is_empty() {
        return None;
    }
    let Some(command) = text.strip_prefix('/') else { return Some(Command::Say(text)) };
    let (name, rest) = command.split_once(' ').unwrap_or((command, ""));
    let rest = rest.trim();
    Some(match name {
        "me" => Command::Me(rest),
        "nick" => Command::Nick(rest),
        "who" => Command::Who,
        "help" => Command::Help,
        "quit" => Command::Quit,
        _ => Command::Unknown(text.split(' ').next().unwrap_or(text)),
    })
}

fn check_nick(nick: &str) -> Result<(), String> {
    let valid = (1..=MAX_NICK).contains(&nick.len())
        && nick.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid { Ok(()) } else { Err(format!("A nickname is 1 to {MAX_NICK} letters, digits, '-' or '_'.")) }
}

fn welcome(nick: &str, others: &[String]) -> String {
    let company = match others {
        [] => "Nobody else is here yet".to_owned(),
        others => format!("Here now: {}", others.join(", ")),
    };
    format!("Hi {nick}! {company}. Type to talk; /help lists the commands.")
}
