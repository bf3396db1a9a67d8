//! [`File`]: an open file whose reads never block a worker.

use std::fs::Metadata;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::handoff::{cached_or_offload, offload};
use crate::coroutine::running;
use crate::sys;

/// An open, read-only file whose operations never block a worker.
///
/// Reads are positional ([`read_at`](File::read_at)), so one `File` can serve many
/// coroutines at once without a shared cursor.
///
/// ```
/// hebra::run(|| {
///     let file = hebra::fs::File::open("Cargo.toml").unwrap();
///     let mut head = [0; 9];
///     let n = file.read_at(&mut head, 0).unwrap(); // inline if cached, else on the pool
///     assert!(n > 0);
/// });
/// ```
#[derive(Debug)]
pub struct File {
    std: std::fs::File,
    /// Cleared once `RWF_NOWAIT` reads turned out unsupported for this file, so reads
    /// stop asking and go straight to the pool.
    nowait: AtomicBool,
}

impl File {
    /// Opens `path` read-only (with `O_NONBLOCK`: opening a FIFO does not wait for a
    /// writer). Inline if the kernel resolves the path from its cache, else on the pool.
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        let path = path.as_ref();
        let fd = cached_or_offload(|| sys::open_path(path, true), || sys::open_path(path, false))?;
        Ok(File::from(std::fs::File::from(fd)))
    }

    /// The metadata of the open file, always inline: the inode was read into memory by
    /// the open and stays there while the file is open, so `fstat` copies it without
    /// touching the disk. (Network file systems may revalidate attributes with their
    /// server here; local ones do not.)
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.std.metadata()
    }

    /// Reads up to `buf.len()` bytes from `offset`; `0` at end of file. Short counts are
    /// normal (only the cached prefix is read inline).
    ///
    /// On a coroutine, the cached part is read inline (`preadv2(RWF_NOWAIT)`); if the
    /// first byte is not cached, or the kernel cannot tell, a plain `pread` runs on the
    /// helper pool while the coroutine parks. On a plain thread, a plain `pread`.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if !running::in_coroutine() {
            return self.std.read_at(buf, offset);
        }
        // Relaxed: a hint that only saves a syscall.
        if self.nowait.load(Ordering::Relaxed) {
            match sys::pread_nowait(self.as_fd(), buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                    self.nowait.store(false, Ordering::Relaxed)
                }
                result => {
                    running::consume_budget();
                    return result;
                }
            }
        }
        offload(|| self.std.read_at(buf, offset))
    }

    /// Whether all of `len` bytes from `offset` are in the page cache (see
    /// [`sys::is_resident`]); `false` when the kernel will not say.
    pub fn is_resident(&self, offset: u64, len: u64) -> bool {
        sys::is_resident(self.as_fd(), offset, len).unwrap_or(false)
    }

    /// The std file (with the `O_NONBLOCK` flag it was opened with, which regular files
    /// ignore).
    pub fn into_std(self) -> std::fs::File {
        self.std
    }
}

impl From<std::fs::File> for File {
    fn from(std: std::fs::File) -> File {
        File { std, nowait: AtomicBool::new(true) }
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.std.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.std.as_raw_fd()
    }
}
