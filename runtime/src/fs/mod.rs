//! File operations that never block a worker (invariant 7).
//!
//! A disk read can take milliseconds, and a worker that waits for one stalls every
//! coroutine living on it. So each operation here either stays inline on the worker,
//! when the kernel can prove it will not wait for the disk, or runs on the helper pool
//! (see [`unblock`](crate::unblock)) while the calling coroutine parks. On a plain
//! thread, every operation simply runs inline, as its `std::fs` namesake would.
//!
//! # The fast paths and why they cannot wait for the disk
//!
//! - **Opening and `metadata` by path** ([`File::open`], [`Dir::open`],
//!   [`Dir::open_file`], [`metadata`], [`Dir::metadata`]): inline when the path
//!   resolves from the dentry cache. `openat2` with `RESOLVE_CACHED` fails with `EAGAIN`
//!   rather than read a directory or an inode from disk, and a cached dentry pins its
//!   inode, so an `fstat` after it reads memory.
//! - **[`File::metadata`]**: always inline. The inode was read at open and stays in
//!   memory while the file is open.
//! - **[`File::read_at`]**: inline when the first byte is in the page cache.
//!   `preadv2` with `RWF_NOWAIT` copies only cached pages and fails with `EAGAIN`
//!   instead of starting a read.
//! - **[`TcpStream::sendfile`](crate::net::TcpStream::sendfile)**: inline when the whole
//!   range is in the page cache, as `cachestat` (or `mincore`) reports just before the
//!   call, and its last byte reads with `RWF_NOWAIT` (pages readahead is still filling
//!   count as cached; it fills front to back, so the last one tells).
//!
//! Everything else (a cold path, a cold page, a listing) goes to the pool, and each
//! such hand-off is counted by [`pool_handoffs`]. Where the kernel lacks a call
//! (`openat2` before 5.6, `RESOLVE_CACHED` before 5.12, `RWF_NOWAIT` on some file
//! systems, `cachestat` before 6.5), the fast path is skipped or a fallback gives the
//! same answer; nothing fails for it.
//!
//! The one check that can go stale is residency before `sendfile`: a page evicted
//! between the check and the call makes that one call read it inline. Memory pressure
//! severe enough to evict a page within microseconds of its check is rare, and the cost
//! is one disk read on the worker, not a wrong result.
//!
//! # Limits
//!
//! - On network file systems (NFS, FUSE) `File::metadata` may ask the server to
//!   revalidate attributes, and "cached" lookups may revalidate too: the arguments
//!   above are about local file systems.
//! - Linux hides the page-cache residency of files the process neither owns nor may
//!   write. For those, `sendfile` cannot prove a range hot and always uses the pool
//!   (`read_at` is unaffected: `RWF_NOWAIT` needs no permission).
//! - Without `openat2` (Linux before 5.6), `beneath` is enforced by a component walk
//!   that refuses every symlink and every `..`, even ones that stay inside.
//!
//! ```
//! hebra::run(|| {
//!     let bytes = hebra::fs::read("Cargo.toml").unwrap();
//!     let meta = hebra::fs::metadata("Cargo.toml").unwrap();
//!     assert_eq!(bytes.len() as u64, meta.len());
//! });
//! ```

mod dir;
mod file;
mod handoff;

use std::fs::Metadata;
use std::io;
use std::path::Path;

pub use dir::{Dir, DirEntry};
pub use file::File;
pub use handoff::pool_handoffs;
pub(crate) use handoff::sendfile;

use crate::sys::{self, OpenHow};
use handoff::{cached_or_offload, offload};

/// The metadata of `path`, following symlinks (as `std::fs::metadata`). Inline if the
/// path resolves from the kernel's cache, else on the pool.
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref();
    let cached = OpenHow { beneath: false, cached_only: true };
    cached_or_offload(|| sys::metadata_at(None, path, cached, true), || std::fs::metadata(path))
}

/// The entries of the directory `path`, on the pool. Order as the file system gives it;
/// `.` and `..` are left out.
pub fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<Vec<DirEntry>> {
    let path = path.as_ref();
    offload(|| {
        std::fs::read_dir(path)?
            .map(|entry| entry.map(|e| DirEntry { name: e.file_name(), metadata: e.metadata().ok() }))
            .collect()
    })
}

/// The whole contents of the file at `path` (as `std::fs::read`): [`File::open`], then
/// [`File::read_at`] until the end, each step inline or on the pool as it needs.
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    // A hint only: the size can change under us, and procfs files report 0.
    let hint = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    let mut data = Vec::new();
    grow(&mut data, hint)?;
    let mut filled = 0;
    loop {
        if filled == data.len() {
            // First a small probe for the end of file, then double.
            grow(&mut data, if filled == hint { 32 } else { filled.max(8192) })?;
        }
        match file.read_at(&mut data[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    data.truncate(filled);
    Ok(data)
}

/// Appends `more` zeroes, or `OutOfMemory` (a file can claim any size).
fn grow(data: &mut Vec<u8>, more: usize) -> io::Result<()> {
    data.try_reserve_exact(more).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    data.resize(data.len() + more, 0);
    Ok(())
}
