//! Reading a file that is not in the page cache must not stall the worker: the cold
//! read (or `sendfile`) goes to the helper pool, and the other coroutines of the same
//! worker keep running meanwhile.
//!
//! The file is evicted with `POSIX_FADV_DONTNEED`, which only works on a disk-backed
//! file system; where no candidate directory allows it (everything on tmpfs), the tests
//! say so on stderr and pass without checking anything.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::{HANG_BOUND, LOCALHOST, run_with, within};
use hebra::fs::File;
use hebra::net::{TcpStream, UnixStream};

const FILE_LEN: usize = 64 << 20;

/// `pool_handoffs` is process-wide: the tests take turns so that each sees only its own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Round trips the ping-pong must complete while the cold operation is in flight. A
/// worker blocked in the read completes none (a handful if something parks briefly
/// before blocking); a round trip takes some 10 µs, so 100 needs the read to take
/// 1 ms, where reading 64 MiB from disk takes tens (thousands of round trips here).
const MIN_ROUND_TRIPS: usize = 100;

/// Deterministic contents: byte `i` of the file.
fn byte_at(i: usize) -> u8 {
    (i % 251) as u8 ^ (i >> 20) as u8
}

/// A 64 MiB file evicted from the page cache, removed when dropped.
struct ColdFile(PathBuf);

impl ColdFile {
    /// Writes the file in the first candidate directory where eviction works; `None`
    /// (after saying why on stderr) if it works nowhere.
    fn create(name: &str) -> Option<ColdFile> {
        let candidates = [
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
            PathBuf::from("/var/tmp"),
            std::env::current_dir().unwrap(),
        ];
        let file_name = format!("hebra-fs-cold-{name}-{}", std::process::id());
        for dir in &candidates {
            let cold = ColdFile(dir.join(&file_name));
            match cold.write_and_evict() {
                Ok(true) => return Some(cold),
                Ok(false) => eprintln!("{}: eviction has no effect here", dir.display()),
                Err(err) => eprintln!("{}: {err}", dir.display()),
            }
        }
        eprintln!(
            "skipped: no candidate directory is on a file system where POSIX_FADV_DONTNEED evicts pages"
        );
        None
    }

    /// Whether the file is out of the page cache after writing and evicting it.
    fn write_and_evict(&self) -> std::io::Result<bool> {
        let mut file = std::fs::File::create(&self.0)?;
        let chunk_len = 1 << 20;
        let mut chunk = vec![0; chunk_len];
        for start in (0..FILE_LEN).step_by(chunk_len) {
            chunk.iter_mut().enumerate().for_each(|(i, b)| *b = byte_at(start + i));
            file.write_all(&chunk)?;
        }
        // Dirty pages cannot be dropped: write them back first.
        file.sync_all()?;
        hebra::sys::fadvise_dontneed(file.as_fd(), 0, 0)?;
        Ok(!hebra::sys::is_resident(file.as_fd(), 0, FILE_LEN as u64)?)
    }
}

impl Drop for ColdFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Two coroutines bouncing a byte over a socket pair until stopped; counts round trips.
struct PingPong {
    round_trips: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    players: [hebra::JoinHandle<()>; 2],
}

impl PingPong {
    fn start() -> PingPong {
        let (ping, pong) = UnixStream::pair().unwrap();
        let round_trips = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (round_trips.clone(), stop.clone());
        let pinger = hebra::spawn(move || {
            let mut ping = ping;
            let mut ball = [0];
            while !stopped.load(Ordering::SeqCst) {
                ping.write_all(&ball).unwrap();
                ping.read_exact(&mut ball).unwrap();
                count.fetch_add(1, Ordering::SeqCst);
            }
            // Dropping `ping` ends the ponger's loop.
        });
        let ponger = hebra::spawn(move || {
            let mut pong = pong;
            let mut ball = [0];
            while pong.read(&mut ball).unwrap() == 1 {
                pong.write_all(&ball).unwrap();
            }
        });
        PingPong { round_trips, stop, players: [pinger, ponger] }
    }

    fn round_trips(&self) -> usize {
        self.round_trips.load(Ordering::SeqCst)
    }

    fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.players.into_iter().for_each(|p| p.join().unwrap());
    }
}

#[test]
fn a_cold_read_runs_on_the_pool_while_the_worker_keeps_serving() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cold) = ColdFile::create("read") else { return };
    let path = cold.0.clone();
    run_with(1, move || {
        let pingpong = PingPong::start();
        let file = File::open(&path).unwrap();
        hebra::yield_now(); // let the ping-pong get going
        let handoffs = hebra::fs::pool_handoffs();
        let before = pingpong.round_trips();
        let mut data = vec![0; FILE_LEN];
        let n = file.read_at(&mut data, 0).unwrap(); // one cold read of the whole file
        let during = pingpong.round_trips() - before;
        pingpong.finish();
        assert!(hebra::fs::pool_handoffs() > handoffs, "the cold read was not handed to the pool");
        assert!(
            during >= MIN_ROUND_TRIPS,
            "only {during} round trips while the cold read was in flight: the worker was blocked"
        );
        eprintln!("{during} round trips during a cold read of {n} bytes");
        assert!(n > 0);
        assert!(data[..n].iter().enumerate().all(|(i, &b)| b == byte_at(i)), "wrong bytes read");
    });
}

/// Weaker than the read test about the worker (the sending loop also parks on the
/// socket), but it checks that cold `sendfile` calls go to the pool and deliver every
/// byte while the worker serves others.
#[test]
fn a_cold_sendfile_runs_on_the_pool_and_arrives_intact() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cold) = ColdFile::create("sendfile") else { return };
    let path = cold.0.clone();
    let listener = std::net::TcpListener::bind(LOCALHOST).unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let (mut received, mut buf) = (0, vec![0; 1 << 16]);
        loop {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                return received;
            }
            assert!(buf[..n].iter().enumerate().all(|(i, &b)| b == byte_at(received + i)), "wrong bytes");
            received += n;
        }
    });
    run_with(1, move || {
        let pingpong = PingPong::start();
        let file = File::open(&path).unwrap();
        assert!(!file.is_resident(0, FILE_LEN as u64));
        let stream = TcpStream::connect(addr).unwrap();
        hebra::yield_now();
        let handoffs = hebra::fs::pool_handoffs();
        let before = pingpong.round_trips();
        let mut offset = 0;
        while offset < FILE_LEN {
            offset += stream.sendfile(&file, offset as u64, FILE_LEN - offset).unwrap();
        }
        let during = pingpong.round_trips() - before;
        pingpong.finish();
        assert!(hebra::fs::pool_handoffs() > handoffs, "no sendfile call was handed to the pool");
        assert!(during >= MIN_ROUND_TRIPS, "only {during} round trips while sending a cold file");
        eprintln!("{during} round trips during a cold sendfile of {FILE_LEN} bytes");
    });
    let received = within("receiver", HANG_BOUND, move || receiver.join().unwrap());
    assert_eq!(received, FILE_LEN);
}
