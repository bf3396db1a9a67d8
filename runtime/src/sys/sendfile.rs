//! `sendfile(2)`: bytes of a file to a socket without passing through user space.
//!
//! Contract: the socket decides whether the call waits for buffer space (a
//! non-blocking socket answers `WouldBlock`); the file is read through the page cache,
//! so a range that is not cached waits for the disk whatever the socket's mode (see
//! [`is_resident`](super::is_resident)).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::page_cache::file_offset;
use super::syscall;

/// Sends up to `count` bytes of `file` from `*offset` to `out` and advances `*offset`
/// by the number sent, which it returns. Short counts are normal (socket buffer full,
/// end of file, the kernel's per-call cap of about 2 GiB); `0` means `count` was 0 or
/// `*offset` is at or past the end of the file. `WouldBlock` when a non-blocking `out`
/// has no room; `InvalidInput` for an offset beyond `i64::MAX`.
pub fn sendfile(
    out: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut kernel_offset = file_offset(*offset)?;
    // SAFETY: `kernel_offset` is a live off_t the kernel reads and updates; both
    // descriptors are borrowed, so open for the call.
    let sent = syscall!(sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut kernel_offset, count))?;
    *offset = kernel_offset as u64; // The kernel only moves it forward from a valid offset.
    Ok(sent as usize) // Never negative.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::test_dir::TestDir;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn sends_a_range_and_advances_the_offset() {
        let tmp = TestDir::new("sendfile");
        let path = tmp.path().join("data");
        std::fs::write(&path, b"0123456789").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut offset = 3;
        assert_eq!(sendfile(a.as_fd(), file.as_fd(), &mut offset, 4).unwrap(), 4);
        assert_eq!(offset, 7);
        assert_eq!(sendfile(a.as_fd(), file.as_fd(), &mut offset, 100).unwrap(), 3, "short at the end");
        assert_eq!(sendfile(a.as_fd(), file.as_fd(), &mut offset, 100).unwrap(), 0, "at the end");
        drop(a);
        let mut got = String::new();
        b.read_to_string(&mut got).unwrap();
        assert_eq!(got, "3456789");
    }
}
