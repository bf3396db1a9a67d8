//! `hebra-serve` as its users run it: a child process on a free port, its one line of
//! output, its flags and errors, and how it stops on signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hebra_server::Engine;

/// Bound on anything a test waits for: it only turns a hang into a failure.
const HANG_BOUND: Duration = Duration::from_secs(60);
const A: &str = "hello, world\n";

fn serve_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hebra-serve"));
    // The signal tests wait for the log line of the first signal.
    command.args(args).env("RUST_LOG", "info").env("NO_COLOR", "1");
    command
}

/// Runs `hebra-serve args` to completion (at most [`HANG_BOUND`]).
fn run(args: &[&str]) -> Output {
    let mut child = serve_command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start hebra-serve");
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let mut err = Vec::new();
    let _ = stderr.read_to_end(&mut err);
    let status = wait_within(&mut child, HANG_BOUND);
    Output { status, stdout: out.join().unwrap(), stderr: err }
}

fn wait_within(child: &mut Child, bound: Duration) -> ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().expect("cannot wait for hebra-serve") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hebra-serve did not exit within {bound:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A running `hebra-serve`, killed when dropped. Stdout lines arrive on a channel;
/// stderr is kept, and printed if the test fails.
struct Serve {
    child: Child,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        Serve::spawn(serve_command(args))
    }

    fn spawn(mut command: Command) -> Serve {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start hebra-serve");
        let (lines, stdout) = mpsc::channel();
        let pipe = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                let _ = lines.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (kept, mut pipe) = (stderr.clone(), child.stderr.take().unwrap());
        thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                kept.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Serve { child, stdout, stderr }
    }

    /// The next stdout line; `None` once stdout is closed.
    fn line(&self) -> Option<String> {
        match self.stdout.recv_timeout(HANG_BOUND) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("hebra-serve printed nothing within {HANG_BOUND:?}"),
        }
    }

    /// The address of the first line, which must be exactly `listening on http://ADDR/`.
    fn listening(&self) -> SocketAddr {
        let line = self.line().expect("hebra-serve exited before printing its address");
        line.strip_prefix("listening on http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
    }

    fn wait_for_stderr(&self, needle: &str) {
        let deadline = Instant::now() + HANG_BOUND;
        while !self.stderr.lock().unwrap().contains(needle) {
            assert!(Instant::now() < deadline, "hebra-serve never wrote {needle:?} to stderr");
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) touches no memory; the child is ours and not yet reaped, so the
        // pid cannot name another process.
        let res = unsafe { libc::kill(pid, signal) };
        assert_eq!(res, 0, "kill: {}", std::io::Error::last_os_error());
    }

    fn wait(&mut self) -> ExitStatus {
        wait_within(&mut self.child, HANG_BOUND)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            thread::sleep(Duration::from_millis(50));
            eprintln!("--- stderr of hebra-serve ---\n{}", self.stderr.lock().unwrap());
        }
    }
}

/// A scratch directory to serve, removed when dropped.
struct Site(PathBuf);

impl Site {
    fn new() -> Site {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("hebra-cli-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("a.txt"), A).unwrap();
        Site(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary directory")
    }

    fn file(&self, name: &str, contents: &[u8]) {
        std::fs::write(self.0.join(name), contents).unwrap();
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The whole answer to `GET path` with `Connection: close`.
fn get(addr: SocketAddr, path: &str, headers: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("cannot connect to hebra-serve");
    stream.set_read_timeout(Some(HANG_BOUND)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("cannot read the response");
    response
}

fn assert_serves_a(addr: SocketAddr) {
    let response = get(addr, "/a.txt", "");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with(&format!("\r\n\r\n{A}")), "{response}");
}

#[test]
fn it_prints_one_line_with_its_address_and_serves() {
    let site = Site::new();
    let mut serve = Serve::start(&[site.path(), "--addr", "127.0.0.1:0"]);
    let addr = serve.listening();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0);
    assert_serves_a(addr);
    serve.signal(libc::SIGINT);
    assert_eq!(serve.wait().code(), Some(0));
    assert_eq!(serve.line(), None, "more than one line on stdout");
}

#[test]
fn it_listens_on_ipv6() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    let site = Site::new();
    let serve = Serve::start(&[site.path(), "--addr", "[::1]:0"]);
    let addr = serve.listening();
    assert!(addr.is_ipv6() && addr.ip().is_loopback(), "{addr}");
    assert_serves_a(addr);
}

#[test]
fn help_names_every_flag() {
    let output = run(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    let flags = [
        "--addr",
        "--workers",
        "--listing",
        "--hidden",
        "--follow-symlinks",
        "--cache-control",
        "--header-timeout",
        "--idle-timeout",
        "--send-timeout",
        "--max-connections",
        "--shutdown-timeout",
        "--access-log",
        "--engine",
    ];
    for flag in flags {
        assert!(help.contains(flag), "--help does not mention {flag}:\n{help}");
    }
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let site = Site::new();
    let missing = Path::new(site.path()).join("no-such-dir");
    let missing = missing.to_str().unwrap();
    let output = run(&[missing, "--addr", "127.0.0.1:0"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{:?}", output.status);
    assert!(stderr.contains(missing), "the error does not name {missing}: {stderr}");
    assert!(output.stdout.is_empty(), "{:?}", String::from_utf8_lossy(&output.stdout));
    // A file is not a directory either.
    let file = Path::new(site.path()).join("a.txt");
    let output = run(&[file.to_str().unwrap(), "--addr", "127.0.0.1:0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("a.txt"));
}

#[test]
fn bad_flag_values_are_refused() {
    let site = Site::new();
    let cases = [
        ("--header-timeout", "0"),
        ("--header-timeout", "-1"),
        ("--idle-timeout", "soon"),
        ("--workers", "0"),
        ("--max-connections", "0"),
        ("--cache-control", "a\nb"),
        ("--addr", "localhost"),
        ("--engine", "no-such-engine"),
    ];
    for (flag, value) in cases {
        // `--flag=value`: a value starting with `-` would otherwise be an option.
        let output = run(&[site.path(), &format!("{flag}={value}")]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag} {value:?}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value:?}: the error does not name the flag: {stderr}");
    }
}

/// Every engine behind the same command line: the one listening line, a file served,
/// and exit status 0 on SIGTERM (after a graceful shutdown).
fn engine_serves_and_stops_on_sigterm(engine: Engine) {
    let site = Site::new();
    let mut serve = Serve::start(&[site.path(), "--addr", "127.0.0.1:0", "--engine", engine.name()]);
    let addr = serve.listening();
    assert_serves_a(addr);
    serve.signal(libc::SIGTERM);
    assert_eq!(serve.wait().code(), Some(0), "--engine {engine}");
    assert_eq!(serve.line(), None, "--engine {engine}: more than one line on stdout");
}

/// One test per engine, so `cargo test -p hebra-server --test cli threads` runs one.
mod engine_serves_and_stops_on_sigterm {
    use hebra_server::Engine;

    #[test]
    fn coroutine() {
        super::engine_serves_and_stops_on_sigterm(Engine::Coroutine);
    }

    #[test]
    fn sped() {
        super::engine_serves_and_stops_on_sigterm(Engine::Sped);
    }

    #[test]
    fn reactors() {
        super::engine_serves_and_stops_on_sigterm(Engine::Reactors);
    }

    #[test]
    fn threads() {
        super::engine_serves_and_stops_on_sigterm(Engine::Threads);
    }
}

#[test]
fn every_engine_is_a_value_of_the_engine_flag() {
    // The four tests above cover `Engine::ALL`.
    assert_eq!(Engine::ALL.len(), 4);
    let help = String::from_utf8_lossy(&run(&["--help"]).stdout).into_owned();
    for engine in Engine::ALL {
        assert!(help.contains(&format!("- {engine}:")), "--help does not list --engine {engine}:\n{help}");
    }
}

#[test]
fn an_unknown_engine_is_a_usage_error_listing_the_engines() {
    let site = Site::new();
    let output = run(&[site.path(), "--addr", "127.0.0.1:0", "--engine", "nginx"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid value 'nginx' for '--engine <NAME>'"), "{stderr}");
    let names: Vec<&str> = Engine::ALL.iter().map(|engine| engine.name()).collect();
    assert!(stderr.contains(&format!("[possible values: {}]", names.join(", "))), "{stderr}");
    assert!(output.stdout.is_empty(), "{:?}", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn sigint_stops_it_gracefully() {
    let site = Site::new();
    let mut serve = Serve::start(&[site.path(), "--addr", "127.0.0.1:0"]);
    let addr = serve.listening();
    assert_serves_a(addr);
    serve.signal(libc::SIGINT);
    assert_eq!(serve.wait().code(), Some(0));
    assert!(TcpStream::connect(addr).is_err(), "still accepting after it exited");
}

#[test]
fn a_second_sigint_exits_at_once() {
    let site = Site::new();
    site.file("big.bin", &vec![7; 64 * 1024 * 1024]);
    let args = [site.path(), "--addr", "127.0.0.1:0", "--shutdown-timeout", "600", "--send-timeout", "600"];
    let mut serve = Serve::start(&args);
    let addr = serve.listening();
    // A download that stays in flight: the client reads the first bytes, then stops.
    let mut download = TcpStream::connect(addr).unwrap();
    download.set_read_timeout(Some(HANG_BOUND)).unwrap();
    download.write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut first = [0; 12];
    download.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    serve.signal(libc::SIGINT);
    serve.wait_for_stderr("shutting down gracefully");
    assert!(serve.child.try_wait().unwrap().is_none(), "exited with a download in flight");
    serve.signal(libc::SIGINT);
    assert_eq!(serve.wait().code(), Some(130));
}

#[test]
fn the_access_log_can_go_to_stdout() {
    let site = Site::new();
    let serve = Serve::start(&[site.path(), "--addr", "127.0.0.1:0", "--access-log", "-"]);
    let addr = serve.listening();
    get(addr, "/a.txt", "User-Agent: cli-test\r\n");
    let line = serve.line().expect("no access log line");
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(line.ends_with("\"GET /a.txt HTTP/1.1\" 200 13 \"-\" \"cli-test\""), "{line}");
}

#[test]
fn running_out_of_descriptors_pauses_accepting_and_recovers() {
    let site = Site::new();
    // A descriptor limit the clients below exceed: accept fails with EMFILE.
    let mut command = Command::new("sh");
    command
        .args(["-c", "ulimit -n 48 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_hebra-serve"))
        .args([site.path(), "--addr", "127.0.0.1:0", "--workers", "1"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    let mut serve = Serve::spawn(command);
    let addr = serve.listening();
    let clients: Vec<TcpStream> = (0..80).map(|_| TcpStream::connect(addr).unwrap()).collect();
    serve.wait_for_stderr("accept failed; pausing before the next accept");
    drop(clients);
    // The server backs off, then accepts again: the closed clients drain from the
    // queue and a new one is served.
    assert_serves_a(addr);
    assert!(serve.child.try_wait().unwrap().is_none(), "hebra-serve exited");
    serve.signal(libc::SIGINT);
    assert_eq!(serve.wait().code(), Some(0));
}

#[test]
fn a_second_server_on_the_same_address_is_refused() {
    let site = Site::new();
    let mut first = Serve::start(&[site.path(), "--addr", "127.0.0.1:0", "--workers", "2"]);
    let addr = first.listening().to_string();
    // SO_REUSEPORT must not let another server join the first one's listeners.
    let second = run(&[site.path(), "--addr", &addr, "--workers", "2"]);
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("Address already in use"), "{stderr}");
    first.signal(libc::SIGINT);
    assert_eq!(first.wait().code(), Some(0));
}
