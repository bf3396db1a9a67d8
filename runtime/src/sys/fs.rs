//! Opening files without surprises: beneath a directory (`openat2` with
//! `RESOLVE_BENEATH`), only when no disk access is needed (`RESOLVE_CACHED`), and never
//! blocking on a FIFO.
//!
//! Contract:
//!
//! - Every descriptor opened here is read-only, close-on-exec, never becomes the
//!   controlling terminal, and is opened with `O_NONBLOCK`. `O_NONBLOCK` is there so that
//!   opening a FIFO (a named pipe someone left in a served tree) returns at once instead
//!   of waiting for a writer; on regular files and directories it has no effect (reads
//!   of regular files ignore it, as `open(2)` documents), so these descriptors behave as
//!   std's. The one visible difference: an open that conflicts with a write lease fails
//!   with `WouldBlock` instead of waiting for the lease holder.
//! - `cached_only` never waits for the disk: the kernel resolves the path from its
//!   dentry cache or answers `WouldBlock`. Kernels without `RESOLVE_CACHED` (before
//!   5.12) or without `openat2` (before 5.6) also answer `WouldBlock`, so a caller that
//!   retries without `cached_only` (on a thread that may block) works everywhere.
//! - Without `openat2`, `beneath` is enforced by walking the path one component at a
//!   time with `O_NOFOLLOW`: absolute paths, `..` and *every* symlink are refused, even
//!   one that would stay inside (stricter than `RESOLVE_BENEATH`, never looser).
//! - Errors are the kernel's: `NotFound`, `PermissionDenied`, `EXDEV` (raw OS error) for
//!   a path that leaves the directory, `ELOOP` for a symlink refused by the fallback.

use std::ffi::{CStr, CString, OsStr};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

use super::syscall;

/// How [`open_beneath`] resolves a path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenHow {
    /// Refuse (`EXDEV`) any resolution that leaves the directory: `..` above it,
    /// absolute paths, symlinks pointing outside it (`RESOLVE_BENEATH`).
    pub beneath: bool,
    /// Succeed only if resolution needs no disk access, else `WouldBlock`
    /// (`RESOLVE_CACHED`); `WouldBlock` also where the kernel lacks it.
    pub cached_only: bool,
}

/// The flags of every open here (see the module docs for `O_NONBLOCK`).
const READ_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;

/// Flags for a descriptor that only names an inode (for `fstat`): opening it reads no
/// data and runs no driver code, so device files are safe to stat this way.
const PATH_FLAGS: libc::c_int = libc::O_PATH | libc::O_CLOEXEC;

/// Opens `path` read-only (close-on-exec, no controlling terminal, `O_NONBLOCK`)
/// relative to `dir`. Files and directories both open. See the module docs for the
/// fallbacks on older kernels.
pub fn open_beneath(dir: BorrowedFd<'_>, path: &Path, how: OpenHow) -> io::Result<OwnedFd> {
    open_with(dir.as_raw_fd(), path, READ_FLAGS, how)
}

/// Opens `path` as [`open_beneath`] does, relative to the current directory (or
/// absolute), following symlinks anywhere. With `cached_only`, `WouldBlock` unless the
/// kernel can resolve the path without the disk.
pub fn open_path(path: &Path, cached_only: bool) -> io::Result<OwnedFd> {
    open_with(libc::AT_FDCWD, path, READ_FLAGS, OpenHow { beneath: false, cached_only })
}

/// The metadata of `path` (relative to `dir`, or to the current directory if `None`),
/// resolved as `how` says. With `follow_symlinks` false, a final symlink is described
/// itself, as `std::fs::symlink_metadata` does.
///
/// With `cached_only` this never waits for the disk: a cached path means a cached
/// inode (a dentry pins its inode), and `fstat` of an open inode reads memory.
pub fn metadata_at(
    dir: Option<BorrowedFd<'_>>,
    path: &Path,
    how: OpenHow,
    follow_symlinks: bool,
) -> io::Result<Metadata> {
    let flags = if follow_symlinks { PATH_FLAGS } else { PATH_FLAGS | libc::O_NOFOLLOW };
    let dir = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    File::from(open_with(dir, path, flags, how)?).metadata()
}

/// Set once `openat2` answered `ENOSYS`: later opens go straight to the fallback.
static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);
/// Set once `openat2` refused `RESOLVE_CACHED` with `EINVAL` (kernels 5.6 to 5.11).
static RESOLVE_CACHED_MISSING: AtomicBool = AtomicBool::new(false);

fn open_with(dir: RawFd, path: &Path, flags: libc::c_int, how: OpenHow) -> io::Result<OwnedFd> {
    let c_path = c_string(path.as_os_str())?;
    // Relaxed: the flags only skip a syscall known to fail; a stale read costs one retry.
    if how.cached_only && RESOLVE_CACHED_MISSING.load(Ordering::Relaxed) {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    if !OPENAT2_MISSING.load(Ordering::Relaxed) {
        match openat2(dir, &c_path, flags, resolve_flags(how)) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                OPENAT2_MISSING.store(true, Ordering::Relaxed)
            }
            Err(e) if how.cached_only && e.raw_os_error() == Some(libc::EINVAL) => {
                RESOLVE_CACHED_MISSING.store(true, Ordering::Relaxed);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            // Some seccomp filters (older container runtimes) answer EPERM for system
            // calls they do not know; the fallback below then gives the real answer.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            result => return result,
        }
    }
    match how {
        OpenHow { cached_only: true, .. } => Err(io::ErrorKind::WouldBlock.into()),
        OpenHow { beneath: true, .. } => open_by_walk(dir, path, flags),
        OpenHow { beneath: false, .. } => openat(dir, &c_path, flags),
    }
}

fn resolve_flags(how: OpenHow) -> u64 {
    let beneath = if how.beneath { libc::RESOLVE_BENEATH } else { 0 };
    let cached = if how.cached_only { libc::RESOLVE_CACHED } else { 0 };
    beneath | cached
}

fn openat2(dir: RawFd, path: &CStr, flags: libc::c_int, resolve: u64) -> io::Result<OwnedFd> {
    // SAFETY: `open_how` is three integers, for which all-zero is valid (and is what the
    // kernel requires of the fields we do not set).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64; // The flags are positive constants.
    how.resolve = resolve;
    let size = std::mem::size_of::<libc::open_how>();
    // SAFETY: `path` is NUL-terminated and `how` is an `open_how` of the size passed;
    // both outlive the call, which only reads them.
    let fd = syscall!(syscall(libc::SYS_openat2, dir, path.as_ptr(), &raw const how, size))?;
    // SAFETY: the kernel returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn openat(dir: RawFd, path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and outlives the call; no O_CREAT, so no mode.
    let fd = syscall!(openat(dir, path.as_ptr(), flags))?;
    // SAFETY: the kernel returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `beneath` without `openat2`: one `openat` per component, none of them allowed to be a
/// symlink or `..`, so resolution cannot leave `dir`.
fn open_by_walk(dir: RawFd, path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    if path.as_os_str().is_empty() {
        return Err(io::ErrorKind::NotFound.into());
    }
    let mut components = path.components().filter(|c| *c != Component::CurDir).peekable();
    let mut parent: Option<OwnedFd> = None;
    loop {
        let at = parent.as_ref().map_or(dir, |fd| fd.as_raw_fd());
        let name = match components.next() {
            Some(Component::Normal(name)) => c_string(name)?,
            None => return openat(at, c".", flags), // the path was "." or "./."
            Some(_) => return Err(io::Error::from_raw_os_error(libc::EXDEV)),
        };
        if components.peek().is_none() {
            return openat(at, &name, flags | libc::O_NOFOLLOW);
        }
        // A symlink opened with O_PATH | O_NOFOLLOW is not a directory: ENOTDIR.
        let step = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        parent = Some(openat(at, &name, step)?);
    }
}

fn c_string(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::test_dir::TestDir;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    const BENEATH: OpenHow = OpenHow { beneath: true, cached_only: false };

    fn tree() -> (TestDir, File) {
        let tmp = TestDir::new("open");
        std::fs::create_dir(tmp.path().join("root")).unwrap();
        std::fs::create_dir(tmp.path().join("root/sub")).unwrap();
        std::fs::write(tmp.path().join("root/sub/file"), b"inside").unwrap();
        std::fs::write(tmp.path().join("secret"), b"outside").unwrap();
        symlink("sub/file", tmp.path().join("root/link-in")).unwrap();
        symlink("../secret", tmp.path().join("root/link-out")).unwrap();
        let root = File::open(tmp.path().join("root")).unwrap();
        (tmp, root)
    }

    fn read(fd: OwnedFd) -> String {
        std::io::read_to_string(File::from(fd)).unwrap()
    }

    #[test]
    fn beneath_refuses_escapes_and_follows_inner_symlinks() {
        let (_tmp, root) = tree();
        let dir = root.as_fd();
        assert_eq!(read(open_beneath(dir, Path::new("sub/file"), BENEATH).unwrap()), "inside");
        assert_eq!(read(open_beneath(dir, Path::new("link-in"), BENEATH).unwrap()), "inside");
        for escape in ["../secret", "link-out", "/etc/hostname", "sub/../../secret"] {
            let err = open_beneath(dir, Path::new(escape), BENEATH).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EXDEV), "{escape}: {err}");
        }
        let outside = OpenHow { beneath: false, cached_only: false };
        assert_eq!(read(open_beneath(dir, Path::new("link-out"), outside).unwrap()), "outside");
        let err = open_beneath(dir, Path::new("missing"), BENEATH).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn cached_open_of_a_hot_path_succeeds() {
        let (tmp, root) = tree();
        let how = OpenHow { beneath: true, cached_only: true };
        // The files were just created, so their dentries are cached.
        assert_eq!(read(open_beneath(root.as_fd(), Path::new("sub/file"), how).unwrap()), "inside");
        let path = tmp.path().join("secret");
        assert_eq!(read(open_path(&path, true).unwrap()), "outside");
    }

    #[test]
    fn the_walk_fallback_is_never_looser() {
        let (tmp, root) = tree();
        let dir = root.as_raw_fd();
        assert_eq!(read(open_by_walk(dir, Path::new("./sub/file"), READ_FLAGS).unwrap()), "inside");
        assert!(
            File::from(open_by_walk(dir, Path::new("."), READ_FLAGS).unwrap()).metadata().unwrap().is_dir()
        );
        for refused in ["../secret", "link-out", "link-in", "/etc/hostname", "sub/../sub/file", ""] {
            assert!(open_by_walk(dir, Path::new(refused), READ_FLAGS).is_err(), "{refused}");
        }
        std::fs::create_dir(tmp.path().join("elsewhere")).unwrap();
        std::fs::write(tmp.path().join("elsewhere/f"), b"x").unwrap();
        symlink("../elsewhere", tmp.path().join("root/dirlink")).unwrap();
        assert!(open_by_walk(dir, Path::new("dirlink/f"), READ_FLAGS).is_err());
    }

    #[test]
    fn opening_a_fifo_does_not_wait_for_a_writer() {
        let (tmp, root) = tree();
        let fifo = c_string(tmp.path().join("root/fifo").as_os_str()).unwrap();
        // SAFETY: a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        open_beneath(root.as_fd(), Path::new("fifo"), BENEATH).unwrap();
    }

    #[test]
    fn metadata_at_describes_or_follows_symlinks() {
        let (_tmp, root) = tree();
        let dir = Some(root.as_fd());
        let link = metadata_at(dir, Path::new("link-in"), BENEATH, false).unwrap();
        assert!(link.file_type().is_symlink());
        let target = metadata_at(dir, Path::new("link-in"), BENEATH, true).unwrap();
        assert_eq!(target.len(), 6);
        assert!(metadata_at(dir, Path::new("link-out"), BENEATH, true).is_err());
        assert!(metadata_at(None, Path::new("/"), OpenHow::default(), true).unwrap().is_dir());
    }

    #[test]
    fn a_nul_byte_is_invalid_input() {
        let err = open_path(Path::new("a\0b"), false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
