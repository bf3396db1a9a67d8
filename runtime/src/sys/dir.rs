//! Listing an open directory (`fdopendir`/`readdir`): std can only list a path, and a
//! path would lose what opening beneath a directory proved.

use std::ffi::{CStr, OsString};
use std::io;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::ptr::NonNull;

/// The names in the directory `dir`, without `.` and `..`, in the order the file system
/// gives them. Takes the descriptor because the listing consumes its position; open a
/// fresh one per listing. May wait for the disk: call it where blocking is acceptable.
pub fn read_dir_names(dir: OwnedFd) -> io::Result<Vec<OsString>> {
    let mut stream = DirStream::new(dir)?;
    let mut names = Vec::new();
    while let Some(name) = stream.next_name()? {
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(OsString::from_vec(name.to_bytes().to_vec()));
        }
    }
    Ok(names)
}

/// An open `DIR *`, closed (with its descriptor) on drop.
struct DirStream(NonNull<libc::DIR>);

impl DirStream {
    fn new(dir: OwnedFd) -> io::Result<DirStream> {
        let fd = dir.into_raw_fd();
        // SAFETY: `fd` is an open descriptor we own; on success the stream owns it.
        match NonNull::new(unsafe { libc::fdopendir(fd) }) {
            Some(stream) => Ok(DirStream(stream)),
            None => {
                let err = io::Error::last_os_error();
                // SAFETY: fdopendir failed, so the descriptor is still ours to close.
                unsafe { libc::close(fd) };
                Err(err)
            }
        }
    }

    /// The next entry's name, borrowed until the next call; `None` at the end.
    fn next_name(&mut self) -> io::Result<Option<&CStr>> {
        // readdir signals an error only through errno, so clear it first.
        // SAFETY: __errno_location returns this thread's errno, always valid.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: the stream is open. The entry stays valid until the next readdir or
        // closedir on this stream; both need `&mut self`, which the returned name borrows.
        let entry = unsafe { libc::readdir(self.0.as_ptr()) };
        if entry.is_null() {
            let err = io::Error::last_os_error();
            return if err.raw_os_error() == Some(0) { Ok(None) } else { Err(err) };
        }
        // SAFETY: `d_name` of a returned entry is a NUL-terminated name.
        Ok(Some(unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) }))
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: the stream is open and closed only here.
        unsafe { libc::closedir(self.0.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::test_dir::TestDir;

    #[test]
    fn lists_names_without_dot_entries() {
        let tmp = TestDir::new("dir");
        for name in ["a", "b", "c d"] {
            std::fs::write(tmp.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        let fd = OwnedFd::from(std::fs::File::open(tmp.path()).unwrap());
        let mut names = read_dir_names(fd).unwrap();
        names.sort();
        assert_eq!(names, ["a", "b", "c d", "sub"]);
        let file = OwnedFd::from(std::fs::File::open(tmp.path().join("a")).unwrap());
        assert_eq!(read_dir_names(file).unwrap_err().raw_os_error(), Some(libc::ENOTDIR));
    }
}
