//! `hebra-server` in the test process, and a client that speaks bytes: requests go out
//! exactly as the test wrote them, and responses are parsed only as far as a check
//! needs (status line, header fields, a body delimited by `Content-Length`), so a test
//! sees what the server sent, not what a client library made of it.
//!
//! Every engine must pass the same HTTP tests: a test body takes the [`Engine`] to run
//! as a parameter, and [`engine_tests!`](crate::engine_tests) makes one `#[test]` of it
//! per engine.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use hebra_server::{Config, Engine, Server, ShutdownHandle};

use super::{HANG_BOUND, LOCALHOST, panic_message, within};

/// Bound on every read from the server: it only turns a hang into a failure, nothing
/// waits that long when the server works.
pub const READ_BOUND: Duration = Duration::from_secs(30);

/// For each test body `fn NAME(engine: Engine)` listed, a module `NAME` with one
/// `#[test]` per engine: `NAME::coroutine`, `NAME::sped`, `NAME::reactors`,
/// `NAME::threads`. `cargo test --test http_protocol threads` runs one engine's cases.
/// A body left out of the list is never run, and the compiler says so (dead code).
#[macro_export]
macro_rules! engine_tests {
    ($($name:ident),+ $(,)?) => {
        // A new engine must join the list below.
        const _: () = assert!(hebra_server::Engine::ALL.len() == 4, "engine_tests! runs four engines");
        $(
            mod $name {
                #[test]
                fn coroutine() {
                    super::$name(hebra_server::Engine::Coroutine);
                }

                #[test]
                fn sped() {
                    super::$name(hebra_server::Engine::Sped);
                }

                #[test]
                fn reactors() {
                    super::$name(hebra_server::Engine::Reactors);
                }

                #[test]
                fn threads() {
                    super::$name(hebra_server::Engine::Threads);
                }
            }
        )+
    };
}

/// The default configuration serving `root` on `engine`.
pub fn config(engine: Engine, root: impl Into<PathBuf>) -> Config {
    Config { engine, ..Config::new(root) }
}

/// A server running on a background thread, on 127.0.0.1 and a free port. Dropping it
/// shuts it down and checks that `run()` returned `Ok`, within [`HANG_BOUND`].
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shutdown: ShutdownHandle,
    running: Option<JoinHandle<io::Result<()>>>,
}

impl TestServer {
    pub fn start(config: Config) -> TestServer {
        TestServer::run(Server::bind(LOCALHOST, config).expect("cannot bind the server"))
    }

    /// Runs a server the test bound itself.
    pub fn run(server: Server) -> TestServer {
        let addr = server.local_addr();
        let shutdown = server.shutdown_handle();
        let running = thread::Builder::new()
            .name("hebra-server".into())
            .spawn(move || server.run())
            .expect("cannot start the server thread");
        TestServer { addr, shutdown, running: Some(running) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Requests a graceful shutdown (again, if the test did already) and waits for
    /// `run()` to return `Ok`.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let Some(running) = self.running.take() else { return };
        self.shutdown.shutdown();
        match within("the server's shutdown", HANG_BOUND, move || running.join()) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => panic!("Server::run returned an error: {err}"),
            Err(payload) => panic!("the server thread panicked: {}", panic_message(&*payload)),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if thread::panicking() {
            // The test failed already: a hung server must not turn that into an abort.
            self.shutdown.shutdown();
            return;
        }
        self.stop_and_join();
    }
}

/// A scratch directory to serve, removed when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A fresh directory under the system's temporary directory.
    pub fn new(what: &str) -> TempDir {
        TempDir::new_in(&std::env::temp_dir(), what)
    }

    /// A fresh directory under `parent`, named after `what`, the process and a counter.
    pub fn new_in(parent: &Path, what: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("hebra-{what}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|err| panic!("cannot create {}: {err}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, relative: &str) -> PathBuf {
        self.path.join(relative)
    }

    /// Writes the file at `relative`, creating its parent directories.
    pub fn file(&self, relative: &str, contents: impl AsRef<[u8]>) -> &TempDir {
        let path = self.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("cannot create a parent directory");
        }
        fs::write(&path, contents).unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
        self
    }

    pub fn dir(&self, relative: &str) -> &TempDir {
        fs::create_dir_all(self.join(relative)).expect("cannot create a directory");
        self
    }

    /// A symlink at `relative` pointing to `target` (as given: relative or absolute).
    pub fn symlink(&self, relative: &str, target: impl AsRef<Path>) -> &TempDir {
        std::os::unix::fs::symlink(target, self.join(relative)).expect("cannot create a symlink");
        self
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// `len` bytes that differ from any shifted copy of themselves, so a body sent from
/// the wrong offset cannot pass for the right one.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// A TCP connection to `addr` whose reads give up after [`READ_BOUND`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"));
    stream.set_read_timeout(Some(READ_BOUND)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Writes `request` on a new connection and returns everything read until the server
/// closes it (EOF or a reset) or a read waits [`READ_BOUND`].
pub fn raw(addr: SocketAddr, request: impl AsRef<[u8]>) -> Vec<u8> {
    let mut stream = connect(addr);
    stream.write_all(request.as_ref()).expect("cannot write the request");
    let mut received = Vec::new();
    let mut buf = [0; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// The one response to `GET path` with `headers` (`Name: value` lines, each ending in
/// CRLF) on a connection of its own, which the server must close after it.
pub fn get(addr: SocketAddr, path: &str, headers: &str) -> Response {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n");
    parse_one(&raw(addr, request), true)
}

/// The one response in `bytes`, which must hold nothing after it. `has_body`: false for
/// the answer to a HEAD.
pub fn parse_one(bytes: &[u8], has_body: bool) -> Response {
    let mut reader = bytes;
    let response = Response::read(&mut reader, has_body).unwrap_or_else(|err| {
        panic!("cannot parse a response ({err}) from {:?}", String::from_utf8_lossy(bytes))
    });
    assert!(reader.is_empty(), "bytes after the response: {:?}", String::from_utf8_lossy(reader));
    response
}

/// A client connection: requests written as bytes, responses read one at a time, so
/// pipelined responses come out in order.
#[derive(Debug)]
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        Conn { reader: BufReader::new(connect(addr)) }
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// The buffered reader, for bodies read in pieces.
    pub fn reader(&mut self) -> &mut BufReader<TcpStream> {
        &mut self.reader
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.reader.get_mut().write_all(bytes.as_ref()).expect("cannot write to the server");
    }

    /// Sends `GET path` with a `Host` and `headers` (lines ending in CRLF).
    pub fn send_get(&mut self, path: &str, headers: &str) {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n"));
    }

    /// The next response, with its body.
    pub fn response(&mut self) -> Response {
        Response::read(&mut self.reader, true).unwrap_or_else(|err| panic!("no response: {err}"))
    }

    /// The next response to a HEAD (or an interim 1xx): whatever `Content-Length` says,
    /// no body follows. Also the head of a large body, then read from [`reader`](Self::reader).
    pub fn head_response(&mut self) -> Response {
        Response::read(&mut self.reader, false).unwrap_or_else(|err| panic!("no response: {err}"))
    }

    /// Asserts that the server closes the connection (EOF or a reset) without sending
    /// anything more.
    pub fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {}
            Err(err) => panic!("the server did not close the connection: {err}; got {rest:?} first"),
        }
        assert!(rest.is_empty(), "bytes before the close: {:?}", String::from_utf8_lossy(&rest));
    }

    /// Asserts that the server sends nothing within `wait`, and leaves the connection
    /// open: a bound on how long to look, not a measurement.
    pub fn expect_silence(&mut self, wait: Duration) {
        if !self.reader.buffer().is_empty() {
            panic!("unexpected bytes: {:?}", String::from_utf8_lossy(self.reader.buffer()));
        }
        self.stream().set_read_timeout(Some(wait)).unwrap();
        let result = self.reader.fill_buf().map(<[u8]>::to_vec);
        self.stream().set_read_timeout(Some(READ_BOUND)).unwrap();
        match result {
            Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Ok(bytes) if bytes.is_empty() => panic!("the server closed the connection"),
            Ok(bytes) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&bytes)),
            Err(err) => panic!("the connection failed: {err}"),
        }
    }
}

/// A response as received.
#[derive(Clone, Debug)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// In the order received, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Reads one response: the head, then a body of `Content-Length` bytes, or up to
    /// EOF without one. No body for HEAD (`has_body` false), 1xx, 204 and 304.
    pub fn read(reader: &mut impl BufRead, has_body: bool) -> io::Result<Response> {
        let status_line = read_line(reader)?;
        let mut parts = status_line.splitn(3, ' ');
        let (Some(version), Some(code), Some(reason)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid(format!("malformed status line {status_line:?}")));
        };
        let status =
            code.parse().map_err(|_| invalid(format!("malformed status code in {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(reader)?;
            if line.is_empty() {
                break;
            }
            let (name, value) =
                line.split_once(':').ok_or_else(|| invalid(format!("malformed header line {line:?}")))?;
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let mut response = Response {
            version: version.to_owned(),
            status,
            reason: reason.to_owned(),
            headers,
            body: Vec::new(),
        };
        let bodiless = !has_body || status < 200 || status == 204 || status == 304;
        if !bodiless {
            match response.content_length() {
                Some(len) => {
                    response.body = vec![0; usize::try_from(len).expect("Content-Length fits in memory")];
                    reader.read_exact(&mut response.body)?;
                }
                None => {
                    reader.read_to_end(&mut response.body)?;
                }
            }
        }
        Ok(response)
    }

    /// `HTTP/1.1 200 OK`.
    pub fn status_line(&self) -> String {
        format!("{} {} {}", self.version, self.status, self.reason)
    }

    /// The value of the first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The value of the field `name`, which must be present.
    pub fn expect_header(&self, name: &str) -> &str {
        self.header(name).unwrap_or_else(|| panic!("no {name} in {:#?}", self.headers))
    }

    /// How many fields are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count()
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("Content-Length").map(|v| v.parse().expect("a numeric Content-Length"))
    }

    /// Whether the server announced it closes the connection.
    pub fn closes(&self) -> bool {
        self.header("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if !line.ends_with(b"\r\n") {
        return Err(invalid(format!("line not ended by CRLF: {:?}", String::from_utf8_lossy(&line))));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| invalid("a head line that is not UTF-8".into()))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// One part of a `multipart/byteranges` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub content_type: Option<String>,
    /// `bytes FIRST-LAST/LEN`.
    pub content_range: String,
    pub data: Vec<u8>,
}

/// The parts of a `multipart/byteranges` response (RFC 9110 section 14.6), checking
/// the framing strictly: each part's data is as long as its `Content-Range` says and
/// is followed by a delimiter, and the close delimiter ends the body.
pub fn multipart_parts(response: &Response) -> Vec<Part> {
    let content_type = response.expect_header("Content-Type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart/byteranges: {content_type:?}"))
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let body = &response.body[..];
    let mut rest = body.strip_prefix(b"\r\n").unwrap_or(body);
    rest = rest.strip_prefix(delimiter.as_bytes()).expect("the body starts with a delimiter");
    let mut parts = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix(b"--") {
            assert!(after.is_empty() || after == b"\r\n", "bytes after the close delimiter: {after:?}");
            return parts;
        }
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        let head_end = rest.windows(4).position(|w| w == b"\r\n\r\n").expect("a part head ends");
        let head = std::str::from_utf8(&rest[..head_end]).expect("a UTF-8 part head");
        rest = &rest[head_end + 4..];
        let field = |name: &str| {
            head.split("\r\n").find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let content_range = field("Content-Range").expect("a part without Content-Range");
        let (first, last) = range_bounds(&content_range);
        let len = usize::try_from(last - first + 1).unwrap();
        assert!(rest.len() >= len, "part {content_range} cut short");
        parts.push(Part { content_type: field("Content-Type"), content_range, data: rest[..len].to_vec() });
        rest = rest[len..].strip_prefix(b"\r\n").expect("CRLF after part data");
        rest = rest.strip_prefix(delimiter.as_bytes()).expect("a delimiter after part data");
    }
}

/// `(first, last)` of `bytes FIRST-LAST/LEN`.
pub fn range_bounds(content_range: &str) -> (u64, u64) {
    let spec = content_range.strip_prefix("bytes ").expect("a bytes Content-Range");
    let (range, _len) = spec.split_once('/').expect("a complete length");
    let (first, last) = range.split_once('-').expect("a byte range");
    (first.parse().unwrap(), last.parse().unwrap())
}
