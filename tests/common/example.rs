//! The example programs as child processes: started from the build directory, their
//! output collected, killed when the test is done with them (even when it fails).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::HANG_BOUND;

/// The binary of example `name`, built by cargo next to this test binary's directory
/// (`target/<profile>/deps/<test>` → `target/<profile>/examples/<name>`).
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("no path to the test binary");
    let profile_dir =
        exe.parent().and_then(|deps| deps.parent()).expect("test binary outside target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(format!("{name}.rs"));
    // `cargo test` builds the examples, but not when given a `--test` filter: then the
    // binary may be missing, or older than its source.
    let built = path.metadata().and_then(|meta| meta.modified());
    let edited = source.metadata().and_then(|meta| meta.modified());
    match (built, edited) {
        (Ok(built), Ok(edited)) if built >= edited => path,
        _ => panic!(
            "{} is missing or older than {}: run `cargo build --examples`",
            path.display(),
            source.display()
        ),
    }
}

/// A command running example `name` with `args`.
pub fn example_command(name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(example_path(name));
    command.args(args);
    command
}

/// A running example, killed when dropped. Its stdout lines arrive on a channel; its
/// stderr is kept and printed if the test fails, to say what the program saw.
pub struct ExampleProcess {
    name: String,
    child: Child,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl ExampleProcess {
    pub fn start(name: &str, args: &[&str]) -> ExampleProcess {
        let mut child = example_command(name, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start example {name}: {err}"));
        // Both pipes are drained for the whole run: a program blocked on a full pipe
        // would look like a hung one.
        let stdout = forward_lines(child.stdout.take().expect("stdout was piped"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr was piped");
        let kept = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                kept.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        ExampleProcess { name: name.to_owned(), child, stdout, stderr }
    }

    /// The next stdout line that starts with `prefix`, waiting at most [`HANG_BOUND`].
    pub fn line_starting_with(&self, prefix: &str) -> String {
        let deadline = Instant::now() + HANG_BOUND;
        loop {
            match self.stdout.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("{}: no line starting with {prefix:?}", self.name),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{}: exited before printing a line starting with {prefix:?}", self.name)
                }
            }
        }
    }

    /// The address on the line that starts with `prefix`, where it is the next word.
    pub fn address_after(&self, prefix: &str) -> SocketAddr {
        let line = self.line_starting_with(prefix);
        let word = line[prefix.len()..].split([' ', ',', ';']).next().unwrap_or_default();
        word.parse().unwrap_or_else(|_| panic!("{}: no address after {prefix:?} in {line:?}", self.name))
    }

    /// Waits, at most [`HANG_BOUND`], until the program has written `needle` to stderr.
    pub fn wait_for_stderr(&self, needle: &str) {
        let deadline = Instant::now() + HANG_BOUND;
        while !self.stderr().contains(needle) {
            assert!(Instant::now() < deadline, "{}: never wrote {needle:?} to stderr", self.name);
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the program wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            // The stderr thread ends with the process; give it a moment to catch up.
            thread::sleep(Duration::from_millis(50));
            eprintln!("--- stderr of example {} ---\n{}", self.name, self.stderr());
        }
    }
}

fn forward_lines(stdout: ChildStdout) -> Receiver<String> {
    let (lines, received) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            // Nobody listening any more is fine: the pipe must still be drained.
            let _ = lines.send(line);
        }
    });
    received
}
