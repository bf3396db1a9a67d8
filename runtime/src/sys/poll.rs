//! `poll(2)` on a single descriptor: how a socket blocks when it is used from a plain
//! thread rather than a coroutine (the descriptor itself is always non-blocking).

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use super::syscall;

/// The direction a caller waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// Readable, or the peer closed, or an error is pending.
    Read,
    /// Writable, or an error is pending.
    Write,
}

/// Blocks the calling thread until `fd` is ready for `interest` or `timeout` passes.
/// Returns `Ok(false)` on timeout. Interrupted waits resume with the remaining time.
pub fn poll_fd(fd: impl AsFd, interest: Interest, timeout: Option<Duration>) -> io::Result<bool> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let events = match interest {
        Interest::Read => libc::POLLIN | libc::POLLRDHUP,
        Interest::Write => libc::POLLOUT,
    };
    let mut pfd = libc::pollfd { fd: fd.as_fd().as_raw_fd(), events, revents: 0 };
    loop {
        let millis = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Round up: a wait of 0.4 ms must not turn into a busy loop of 0 ms polls.
                let millis = left.as_nanos().div_ceil(1_000_000);
                libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX)
            }
        };
        // SAFETY: `pfd` is one valid pollfd and we pass a count of 1.
        match syscall!(poll(&mut pfd, 1, millis)) {
            Ok(0) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(false),
            Ok(0) => continue,
            Ok(_) => return Ok(true),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn times_out_then_sees_data() {
        let (a, mut b) = UnixStream::pair().unwrap();
        assert!(!poll_fd(&a, Interest::Read, Some(Duration::from_millis(5))).unwrap());
        assert!(poll_fd(&a, Interest::Write, Some(Duration::ZERO)).unwrap());
        b.write_all(b"x").unwrap();
        assert!(poll_fd(&a, Interest::Read, None).unwrap());
    }
}
