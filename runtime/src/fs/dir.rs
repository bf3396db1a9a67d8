//! [`Dir`]: an open directory for serving a tree, and [`DirEntry`].

use std::ffi::OsString;
use std::fs::{FileType, Metadata};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;

use super::File;
use super::handoff::{cached_or_offload, offload};
use crate::sys::{self, OpenHow};

/// An open directory: paths opened through it resolve from it, whatever happens to the
/// path it was opened by, and can be confined beneath it (`RESOLVE_BENEATH`: no `..`
/// above it, no absolute path, no symlink leading out).
///
/// ```
/// hebra::run(|| {
///     let root = hebra::fs::Dir::open(".").unwrap();
///     let manifest = root.open_file("Cargo.toml".as_ref(), true).unwrap();
///     assert!(manifest.metadata().unwrap().is_file());
///     assert!(root.open_file("../../../etc/passwd".as_ref(), true).is_err());
/// });
/// ```
#[derive(Debug)]
pub struct Dir {
    std: std::fs::File,
}

impl Dir {
    /// Opens the directory `path` (inline if the kernel resolves it from its cache, else
    /// on the pool). `NotADirectory` if it is something else.
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<Dir> {
        let path = path.as_ref();
        let fd = cached_or_offload(|| sys::open_path(path, true), || sys::open_path(path, false))?;
        let std = std::fs::File::from(fd);
        // Inline, as File::metadata: the inode is in memory while the directory is open.
        if !std.metadata()?.is_dir() {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        Ok(Dir { std })
    }

    /// Opens `path` relative to this directory, read-only. With `beneath`, a path whose
    /// resolution would leave the directory fails (raw OS error `EXDEV`); symlinks that
    /// stay inside are followed. Inline if the kernel resolves the path from its cache,
    /// else on the pool.
    pub fn open_file(&self, path: &Path, beneath: bool) -> io::Result<File> {
        let dir = self.as_fd();
        let fd = cached_or_offload(
            || sys::open_beneath(dir, path, OpenHow { beneath, cached_only: true }),
            || sys::open_beneath(dir, path, OpenHow { beneath, cached_only: false }),
        )?;
        Ok(File::from(std::fs::File::from(fd)))
    }

    /// The metadata of `path` relative to this directory, following symlinks, resolved
    /// as [`open_file`](Dir::open_file) does; inline when the path is cached. Opens no
    /// file data: device files and FIFOs are only described.
    pub fn metadata(&self, path: &Path, beneath: bool) -> io::Result<Metadata> {
        let dir = Some(self.as_fd());
        cached_or_offload(
            || sys::metadata_at(dir, path, OpenHow { beneath, cached_only: true }, true),
            || sys::metadata_at(dir, path, OpenHow { beneath, cached_only: false }, true),
        )
    }

    /// The entries of the directory `path` beneath this one (an empty path or `.`: this
    /// one), on the pool. Always confined beneath this directory. Order as the file
    /// system gives it; `.` and `..` are left out.
    pub fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let path = if path.as_os_str().is_empty() { Path::new(".") } else { path };
        let dir = self.as_fd();
        offload(|| list_beneath(dir, path))
    }
}

fn list_beneath(dir: BorrowedFd<'_>, path: &Path) -> io::Result<Vec<DirEntry>> {
    const BENEATH: OpenHow = OpenHow { beneath: true, cached_only: false };
    let listed = sys::open_beneath(dir, path, BENEATH)?;
    // A second descriptor to stat the entries by name: the listing consumes the first.
    let parent = listed.try_clone()?;
    let names = sys::read_dir_names(listed)?;
    let entry = |name: OsString| {
        let metadata = sys::metadata_at(Some(parent.as_fd()), Path::new(&name), BENEATH, false).ok();
        DirEntry { name, metadata }
    };
    Ok(names.into_iter().map(entry).collect())
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.std.as_fd()
    }
}

impl AsRawFd for Dir {
    fn as_raw_fd(&self) -> RawFd {
        self.std.as_raw_fd()
    }
}

/// One entry of a directory listing.
#[derive(Debug)]
pub struct DirEntry {
    /// The entry's name within its directory.
    pub name: OsString,
    /// The metadata of the entry itself (a symlink is described, not followed, as
    /// `std::fs::DirEntry::metadata` does); `None` if it could not be read, for instance
    /// because the entry was removed after the listing.
    pub metadata: Option<Metadata>,
}

impl DirEntry {
    /// The entry's type (of the entry itself, not a symlink's target), if known.
    pub fn file_type(&self) -> Option<FileType> {
        self.metadata.as_ref().map(Metadata::file_type)
    }
}
