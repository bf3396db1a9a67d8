//! `hebra::fs` and `TcpStream::sendfile` on real files: the std-like API, confinement
//! beneath a directory, errors, and the same behaviour on a plain thread.

mod common;

use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use common::{HANG_BOUND, LOCALHOST, run_with, set_send_buffer, within};
use hebra::fs::{Dir, File};
use hebra::net::{TcpListener, TcpStream};

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("hebra-fs-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic contents where every offset differs from its neighbours.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i >> 12) as u8).collect()
}

/// A tree to serve: `root/{a.txt, sub/b.txt, link-in -> sub/b.txt, link-out ->
/// ../secret, dir-out -> ..}` and `secret` next to `root`.
fn tree() -> Scratch {
    let tmp = Scratch::new("tree");
    std::fs::create_dir_all(tmp.join("root/sub")).unwrap();
    std::fs::write(tmp.join("root/a.txt"), b"alpha").unwrap();
    std::fs::write(tmp.join("root/sub/b.txt"), b"beta").unwrap();
    std::fs::write(tmp.join("secret"), b"secret").unwrap();
    symlink("sub/b.txt", tmp.join("root/link-in")).unwrap();
    symlink("../secret", tmp.join("root/link-out")).unwrap();
    symlink("..", tmp.join("root/dir-out")).unwrap();
    tmp
}

/// Runs `check` in a coroutine of a 2-worker runtime, then on a plain thread.
fn in_coroutine_and_on_a_plain_thread(check: fn()) {
    run_with(2, check);
    within("plain thread", HANG_BOUND, check);
}

fn read_all(file: &File) -> Vec<u8> {
    let mut data = vec![0; 64];
    let mut filled = 0;
    loop {
        if filled == data.len() {
            data.resize(filled * 2, 0);
        }
        match file.read_at(&mut data[filled..], filled as u64).unwrap() {
            0 => break,
            n => filled += n,
        }
    }
    data.truncate(filled);
    data
}

#[test]
fn open_metadata_and_read_at_match_the_file() {
    in_coroutine_and_on_a_plain_thread(|| {
        let tmp = Scratch::new("read");
        let path = tmp.join("data");
        let data = pattern(300_000);
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 300_000);
        assert!(file.metadata().unwrap().is_file());
        let mut buf = [0; 1000];
        for offset in [0, 1, 4095, 4096, 123_457, 299_000] {
            let n = file.read_at(&mut buf, offset).unwrap();
            assert!(n > 0);
            assert_eq!(&buf[..n], &data[offset as usize..offset as usize + n], "at {offset}");
        }
        assert_eq!(file.read_at(&mut buf, 299_999).unwrap(), 1);
        assert_eq!(file.read_at(&mut buf, 300_000).unwrap(), 0, "end of file");
        assert_eq!(file.read_at(&mut buf, 1 << 40).unwrap(), 0, "past the end");
        assert_eq!(file.read_at(&mut [], 0).unwrap(), 0);
        assert_eq!(read_all(&file), data);
        assert!(file.is_resident(0, 300_000), "a file just written is in the page cache");
        assert_eq!(hebra::fs::read(&path).unwrap(), data);
        assert_eq!(hebra::fs::metadata(&path).unwrap().len(), 300_000);
        assert!(hebra::fs::metadata(&tmp.0).unwrap().is_dir());
        let std = file.into_std();
        assert_eq!(std.metadata().unwrap().len(), 300_000);
        assert_eq!(read_all(&File::from(std)), data);
    });
}

#[test]
fn read_reads_files_whose_size_is_unknown_or_zero() {
    in_coroutine_and_on_a_plain_thread(|| {
        // procfs reports size 0 for files that have contents.
        let status = hebra::fs::read("/proc/self/status").unwrap();
        assert!(String::from_utf8_lossy(&status).contains("Pid:"));
        let tmp = Scratch::new("empty");
        std::fs::write(tmp.join("empty"), b"").unwrap();
        assert_eq!(hebra::fs::read(tmp.join("empty")).unwrap(), b"");
    });
}

#[test]
fn errors_are_io_errors_not_panics() {
    in_coroutine_and_on_a_plain_thread(|| {
        let tmp = tree();
        let missing = tmp.join("missing");
        assert_eq!(File::open(&missing).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(hebra::fs::metadata(&missing).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(hebra::fs::read(&missing).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(hebra::fs::read_dir(&missing).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(Dir::open(&missing).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(Dir::open(tmp.join("secret")).unwrap_err().kind(), io::ErrorKind::NotADirectory);
        assert_eq!(File::open("a\0b").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let root = Dir::open(tmp.join("root")).unwrap();
        let err = root.open_file(Path::new("nope"), true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(root.read_dir(Path::new("a.txt")).unwrap_err().kind(), io::ErrorKind::NotADirectory);
        let file = root.open_file(Path::new("a.txt"), true).unwrap();
        let err = file.read_at(&mut [0; 4], u64::MAX).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let dir_as_file = File::open(tmp.join("root")).unwrap();
        assert_eq!(dir_as_file.read_at(&mut [0; 4], 0).unwrap_err().kind(), io::ErrorKind::IsADirectory);
    });
}

#[test]
fn open_file_beneath_refuses_escapes_and_follows_inner_symlinks() {
    in_coroutine_and_on_a_plain_thread(|| {
        let tmp = tree();
        let root = Dir::open(tmp.join("root")).unwrap();
        let open = |path: &str, beneath| root.open_file(Path::new(path), beneath).map(|f| read_all(&f));
        assert_eq!(open("a.txt", true).unwrap(), b"alpha");
        assert_eq!(open("sub/b.txt", true).unwrap(), b"beta");
        assert_eq!(open("./sub/../a.txt", true).unwrap(), b"alpha", "`..` that stays inside");
        assert_eq!(open("link-in", true).unwrap(), b"beta", "a symlink inside is followed");
        for escape in ["../secret", "link-out", "dir-out/secret", "sub/../../secret", "/etc/hostname"] {
            let err = open(escape, true).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EXDEV), "{escape}: {err}");
        }
        assert_eq!(open("link-out", false).unwrap(), b"secret", "without beneath, symlinks go anywhere");
        assert_eq!(root.metadata(Path::new("link-in"), true).unwrap().len(), 4);
        assert!(root.metadata(Path::new("link-out"), true).is_err());
        assert!(root.metadata(Path::new("sub"), true).unwrap().is_dir());
    });
}

#[test]
fn read_dir_lists_names_and_metadata() {
    in_coroutine_and_on_a_plain_thread(|| {
        let tmp = tree();
        let mut listed: Vec<_> = hebra::fs::read_dir(tmp.join("root")).unwrap();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<_> = listed.iter().map(|e| e.name.to_str().unwrap()).collect();
        assert_eq!(names, ["a.txt", "dir-out", "link-in", "link-out", "sub"]);
        let root = Dir::open(tmp.join("root")).unwrap();
        for path in ["", ".", "sub/.."] {
            let mut beneath = root.read_dir(Path::new(path)).unwrap();
            beneath.sort_by(|a, b| a.name.cmp(&b.name));
            let same: Vec<_> = beneath.iter().map(|e| e.name.to_str().unwrap()).collect();
            assert_eq!(same, names, "{path:?}");
            for (a, b) in listed.iter().zip(&beneath) {
                let (a, b) = (a.metadata.as_ref().unwrap(), b.metadata.as_ref().unwrap());
                assert_eq!((a.file_type(), a.len()), (b.file_type(), b.len()));
            }
        }
        let types: Vec<_> = listed.iter().map(|e| e.file_type().unwrap()).collect();
        assert!(types[0].is_file() && types[4].is_dir());
        assert!(types[1].is_symlink() && types[2].is_symlink(), "symlinks are described, not followed");
        let sub = root.read_dir(Path::new("sub")).unwrap();
        assert_eq!(sub.len(), 1);
        assert_eq!(sub[0].name, "b.txt");
        assert_eq!(sub[0].metadata.as_ref().unwrap().len(), 4);
        let err = root.read_dir(Path::new("dir-out")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EXDEV), "listing is confined beneath the directory");
    });
}

#[test]
fn opening_a_fifo_does_not_wait_for_a_writer() {
    in_coroutine_and_on_a_plain_thread(|| {
        let tmp = Scratch::new("fifo");
        let fifo = std::ffi::CString::new(tmp.join("fifo").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let file = File::open(tmp.join("fifo")).unwrap();
        assert!(file.metadata().unwrap().file_type().is_fifo());
        let root = Dir::open(&tmp.0).unwrap();
        root.open_file(Path::new("fifo"), true).unwrap();
    });
}

#[test]
fn work_handed_to_the_pool_is_counted() {
    run_with(1, || {
        let tmp = tree();
        let before = hebra::fs::pool_handoffs();
        hebra::fs::read_dir(tmp.join("root")).unwrap(); // always on the pool
        assert!(hebra::fs::pool_handoffs() > before);
    });
}

/// Sends `file` whole over `stream` with `sendfile`, as a server would.
fn send_whole(stream: &TcpStream, file: &File) -> u64 {
    let len = file.metadata().unwrap().len();
    let mut offset = 0;
    while offset < len {
        let remaining = usize::try_from(len - offset).unwrap();
        match stream.sendfile(file, offset, remaining).unwrap() {
            0 => panic!("sendfile returned 0 at {offset} of {len}"),
            n => offset += n as u64,
        }
    }
    assert_eq!(stream.sendfile(file, len, 10).unwrap(), 0, "at the end");
    assert_eq!(stream.sendfile(file, 0, 0).unwrap(), 0, "nothing asked");
    offset
}

/// A plain thread that reads a connection to its end.
fn receiver(listener: std::net::TcpListener) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).unwrap();
        received
    })
}

#[test]
fn sendfile_of_16_mib_over_loopback_is_byte_exact() {
    let tmp = Scratch::new("sendfile");
    let path = tmp.join("data");
    let data = pattern(16 << 20);
    std::fs::write(&path, &data).unwrap();
    let listener = std::net::TcpListener::bind(LOCALHOST).unwrap();
    let addr = listener.local_addr().unwrap();
    let received = receiver(listener);
    run_with(2, move || {
        let stream = TcpStream::connect(addr).unwrap();
        // A small buffer: the sender has to park on a full socket many times.
        set_send_buffer(&stream, 64 << 10);
        let file = File::open(&path).unwrap();
        assert_eq!(send_whole(&stream, &file), 16 << 20);
    });
    let received = within("receiver", HANG_BOUND, move || received.join().unwrap());
    assert!(received == data, "the bytes received differ from the file");
}

#[test]
fn sendfile_works_on_a_plain_thread_and_honours_the_write_timeout() {
    let tmp = Scratch::new("sendfile-plain");
    let path = tmp.join("data");
    let data = pattern(3 << 20);
    std::fs::write(&path, &data).unwrap();
    within("plain thread sendfile", HANG_BOUND, move || {
        let listener = TcpListener::bind(LOCALHOST).unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let file = File::open(&path).unwrap();
        // Nobody reads yet: the buffers fill and the timeout expires, as for `write`.
        set_send_buffer(&stream, 64 << 10);
        stream.set_write_timeout(Some(std::time::Duration::from_millis(50))).unwrap();
        let mut offset = 0;
        let err = loop {
            match stream.sendfile(&file, offset, data.len() - offset as usize) {
                Ok(n) => offset += n as u64,
                Err(err) => break err,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
        stream.set_write_timeout(None).unwrap();
        let reader = thread::spawn(move || {
            let mut received = Vec::new();
            peer.read_to_end(&mut received).unwrap();
            received
        });
        while (offset as usize) < data.len() {
            offset += stream.sendfile(&file, offset, data.len() - offset as usize).unwrap() as u64;
        }
        drop(stream);
        assert!(reader.join().unwrap() == data, "the bytes received differ from the file");
    });
}
