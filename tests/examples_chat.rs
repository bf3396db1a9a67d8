//! The `chat` example as its users see it: a server process started from the build
//! directory on a free port, and clients that are plain std sockets typing lines.

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::example::{ExampleProcess, example_command};
use common::{HANG_BOUND, output_within};

/// Bound on every read: it only turns a hang into a failure, nothing waits that long.
const READ_BOUND: Duration = Duration::from_secs(30);

fn start_chat() -> (ExampleProcess, SocketAddr) {
    let chat = ExampleProcess::start("chat", &["127.0.0.1:0"]);
    let addr = chat.address_after("chat server listening on ");
    (chat, addr)
}

/// A person at `nc`: writes lines, reads lines, never waits longer than [`READ_BOUND`].
struct User {
    name: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl User {
    /// Connected and asked for a nickname, not joined yet.
    fn connect(addr: SocketAddr, name: &str) -> User {
        let stream = TcpStream::connect(addr).expect("connect to the chat server");
        stream.set_read_timeout(Some(READ_BOUND)).unwrap();
        let writer = stream.try_clone().unwrap();
        let mut user = User { name: name.to_owned(), reader: BufReader::new(stream), writer };
        user.expect("What is your nickname?");
        user
    }

    fn join(addr: SocketAddr, nick: &str) -> User {
        let mut user = User::connect(addr, nick);
        user.send(nick);
        user.expect(&format!("Hi {nick}!"));
        user
    }

    fn send(&mut self, line: &str) {
        self.writer.write_all(format!("{line}\n").as_bytes()).expect("write to the chat server");
    }

    /// Reads lines until one contains `needle` and returns it.
    fn expect(&mut self, needle: &str) -> String {
        self.read_through(needle).pop().expect("read_through returns the match last")
    }

    /// Reads lines until one contains `needle`; returns them all, the match last.
    /// Panics, showing what was read, on end of stream or when nothing comes.
    fn read_through(&mut self, needle: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => {
                    panic!("{}: connection closed while waiting for {needle:?}; got {lines:#?}", self.name)
                }
                Ok(_) => {}
                Err(err) => panic!("{}: {err} while waiting for {needle:?}; got {lines:#?}", self.name),
            }
            let found = line.contains(needle);
            lines.push(line.trim_end().to_owned());
            if found {
                return lines;
            }
        }
    }

    /// Reads until the server closes the connection.
    fn expect_closed(&mut self) {
        assert_server_closed(&mut self.reader, &self.name);
    }
}

/// Reads everything left; the server must end the connection (EOF or a reset) rather
/// than leave it open.
fn assert_server_closed(reader: &mut impl Read, name: &str) {
    let mut rest = Vec::new();
    match reader.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {}
        Err(err) => panic!("{name}: the server did not close the connection: {err}"),
    }
}

#[test]
fn two_users_talk_and_see_each_other_come_and_go() {
    let (_chat, addr) = start_chat();
    let mut alice = User::join(addr, "alice");
    let mut bob = User::connect(addr, "bob");
    bob.send("bob");
    assert!(bob.expect("Hi bob!").contains("Here now: alice"), "bob was not told alice is here");
    alice.expect("* bob joined");

    alice.send("hello bob");
    bob.expect("<alice> hello bob");
    bob.send("hi alice");
    // Alice's outbox is in order: had her own line come back, it would be here first.
    let seen = alice.read_through("<bob> hi alice");
    assert!(!seen.iter().any(|line| line.contains("<alice>")), "alice got her own line back: {seen:#?}");

    alice.send("/me waves");
    bob.expect("* alice waves");
    alice.send("/who");
    alice.expect("Here now (2): alice, bob");

    bob.send("/nick robert");
    alice.expect("* bob is now known as robert");
    bob.expect("* bob is now known as robert");
    bob.send("/quit");
    bob.expect("Bye!");
    bob.expect_closed();
    alice.expect("* robert left (quit)");

    let carol = User::join(addr, "carol");
    alice.expect("* carol joined");
    drop(carol); // gone without a word
    alice.expect("* carol left (connection closed)");
    alice.send("/who");
    alice.expect("Here now (1): alice");
}

#[test]
fn nicknames_are_checked_and_unique() {
    let (_chat, addr) = start_chat();
    let mut alice = User::join(addr, "alice");
    let mut newcomer = User::connect(addr, "newcomer");
    for bad in ["two words", "semi;colon", "", &"x".repeat(17)] {
        newcomer.send(bad);
        if !bad.is_empty() {
            newcomer.expect("A nickname is 1 to 16 letters");
        }
    }
    newcomer.send("ALICE");
    newcomer.expect("ALICE is taken. Try another:");
    newcomer.send("/who");
    newcomer.expect("Pick a nickname first");
    newcomer.send("alice2");
    newcomer.expect("Hi alice2! Here now: alice.");
    alice.expect("* alice2 joined");

    newcomer.send("/nick Alice");
    newcomer.expect("! Alice is taken.");
    newcomer.send("/nick");
    newcomer.expect("! A nickname is 1 to 16 letters");
    // Changing only the case of one's own nickname is allowed.
    newcomer.send("/nick ALICE2");
    alice.expect("* alice2 is now known as ALICE2");
    newcomer.send("/frobnicate");
    newcomer.expect("! Unknown command /frobnicate");
}

#[test]
fn an_overlong_line_is_refused_and_text_is_cleaned() {
    let (_chat, addr) = start_chat();
    let mut alice = User::join(addr, "alice");
    let mut bob = User::join(addr, "bob");
    alice.expect("* bob joined");

    bob.send(&"x".repeat(5000));
    bob.expect("! Line too long");
    bob.send("still here");
    let seen = alice.read_through("<bob> still here");
    assert!(!seen.iter().any(|line| line.contains("xxxx")), "the long line got through: {seen:#?}");

    // An escape sequence must not reach other terminals; bad UTF-8 is replaced.
    bob.writer.write_all(b"\x1b[2Jcleared? \xff\r\n").unwrap();
    let line = alice.expect("cleared?");
    assert_eq!(line, "<bob> [2Jcleared? \u{fffd}");
}

#[test]
fn a_client_that_never_reads_is_disconnected_without_stalling_the_others() {
    // Per round: fewer lines than a client's outbox holds, so the watcher, who reads
    // everything before the next round, can never fall behind. The slowpoke, who reads
    // nothing, must, once the kernel's buffers for it are full.
    const LINES_PER_ROUND: usize = 100;
    const MAX_ROUNDS: usize = 1000; // 100 MB: far beyond any socket buffers

    let (_chat, addr) = start_chat();
    let mut watcher = User::join(addr, "watcher");
    let mut slowpoke = TcpStream::connect(addr).unwrap();
    slowpoke.write_all(b"slowpoke\n").unwrap();
    watcher.expect("* slowpoke joined");
    let mut talker = User::join(addr, "talker");
    watcher.expect("* talker joined");

    let filler = "x".repeat(1000);
    let round = (0..LINES_PER_ROUND).map(|i| format!("{i} {filler}")).collect::<Vec<_>>().join("\n");
    let evicted = (0..MAX_ROUNDS).any(|n| {
        talker.send(&round);
        talker.send(&format!("end of round {n}"));
        let seen = watcher.read_through(&format!("<talker> end of round {n}"));
        seen.iter().any(|line| line == "* slowpoke left (too slow to keep up)")
    });
    assert!(evicted, "the slowpoke was never disconnected");

    talker.send("the room goes on");
    watcher.expect("<talker> the room goes on");
    slowpoke.set_read_timeout(Some(READ_BOUND)).unwrap();
    assert_server_closed(&mut slowpoke, "slowpoke");
}

#[test]
fn bad_arguments_are_refused_with_the_usage() {
    for args in [&["--bogus"][..], &["not-an-address"], &["--addr"]] {
        let output = output_within(example_command("chat", args), HANG_BOUND);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "chat {args:?}: {stderr}");
        assert!(stderr.contains("usage: chat"), "chat {args:?} did not print the usage: {stderr}");
    }
    let help = output_within(example_command("chat", &["--help"]), HANG_BOUND);
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("usage: chat"));
}
