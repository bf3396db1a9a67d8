//! A file that is not in the page cache: sending it means waiting for the disk, which
//! the server must do on the runtime's helper pool, not on its worker, so other
//! clients are answered meanwhile even with a single worker.
//!
//! Coroutine engine only, unlike the other `http_*` suites: the hand-off to hebra's
//! helper pool (`hebra::fs::pool_handoffs`) is that engine's mechanism. The others do
//! disk work inline by design (`sped` and `reactors` stall their loop, `threads` only
//! the connection's own thread), and that difference is what the comparison measures.

mod common;

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::http::{Conn, TempDir, TestServer, pattern};
use common::{HANG_BOUND, within};
use hebra_server::{Config, Engine};

const COLD: usize = 64 * 1024 * 1024;
const A: &str = "hello, world\n";

/// A directory on a disk-backed file system holding `cold.bin` (evicted from the page
/// cache) and `a.txt`, or `None` where the file system keeps the pages anyway (tmpfs).
fn cold_site(contents: &[u8]) -> Option<TempDir> {
    let candidates = [Path::new(env!("CARGO_TARGET_TMPDIR")), Path::new("/var/tmp")];
    candidates.iter().find_map(|parent| {
        if !parent.is_dir() {
            return None;
        }
        let site = TempDir::new_in(parent, "http-cold");
        site.file("a.txt", A);
        let mut file = File::create(site.join("cold.bin")).ok()?;
        file.write_all(contents).ok()?;
        file.sync_all().ok()?; // Dirty pages cannot be dropped.
        hebra::sys::fadvise_dontneed(file.as_fd(), 0, 0).ok()?;
        let evicted = !hebra::sys::is_resident(file.as_fd(), 0, contents.len() as u64).ok()?;
        evicted.then_some(site)
    })
}

#[test]
fn a_cold_download_waits_on_the_pool_while_others_are_served() {
    let contents = Arc::new(pattern(COLD));
    let Some(site) = cold_site(&contents) else {
        eprintln!("skipped: no file system here drops pages on posix_fadvise(DONTNEED) (tmpfs?)");
        return;
    };
    let mut config = Config::new(site.path());
    config.engine = Engine::Coroutine;
    config.workers = 1;
    let server = TestServer::start(config);
    let addr = server.addr();
    within("a cold download beside small requests", 3 * HANG_BOUND, move || {
        let mut small = Conn::connect(addr);
        small.send_get("/a.txt", "");
        assert_eq!(small.response().text(), A);

        let before = hebra::fs::pool_handoffs();
        let downloading = Arc::new(AtomicBool::new(true));
        let downloader = {
            let downloading = downloading.clone();
            thread::spawn(move || {
                let mut conn = Conn::connect(addr);
                conn.send_get("/cold.bin", "");
                let head = conn.head_response();
                assert_eq!(head.content_length(), Some(COLD as u64), "{head:#?}");
                let mut body = vec![0; COLD];
                std::io::Read::read_exact(conn.reader(), &mut body).expect("the cold download broke off");
                downloading.store(false, Ordering::SeqCst);
                assert!(body == *contents, "the cold download has wrong bytes");
            })
        };
        let mut answered_during = 0;
        while downloading.load(Ordering::SeqCst) {
            small.send_get("/a.txt", "");
            assert_eq!(small.response().text(), A);
            if downloading.load(Ordering::SeqCst) {
                answered_during += 1;
            }
        }
        downloader.join().expect("the downloader failed");
        let after = hebra::fs::pool_handoffs();
        eprintln!("hand-offs during the cold download: {}", after - before);
        assert!(after > before, "no file operation went to the pool ({before} before, {after} after)");
        assert!(answered_during > 0, "no small request was answered during the cold download");
    });
}
