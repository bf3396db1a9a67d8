//! Stack overflow in a coroutine: a message that names it, then `abort`.
//!
//! The fault handler (see `sys::signal`) runs on the worker's alternate signal stack and
//! calls [`check`] with the fault address. If the address lies in the guard page of the
//! coroutine running on this thread, we write one line to stderr and abort, instead of
//! the bare "Segmentation fault" a guard page alone would give. Everything here is
//! async-signal-safe: a thread-local load, plain reads, a fixed buffer and `write(2)`.

use std::io;

use super::running;
use crate::sys;

/// Installs the process-wide handler (idempotent).
pub(crate) fn install() -> io::Result<()> {
    sys::install_fault_handler(check)
}

fn check(addr: usize) {
    let overflowed = running::fault_info(|r| {
        if !r.stack.guard.contains(&addr) {
            return false;
        }
        let header = r.coroutine.header();
        let mut msg = Message::new();
        msg.push(b"\nhebra: coroutine ");
        match &header.name {
            Some(name) => {
                msg.push(b"'");
                msg.push(name.as_bytes());
                msg.push(b"' (id ");
                msg.push_number(header.id.as_u64());
                msg.push(b")");
            }
            None => {
                msg.push(b"with id ");
                msg.push_number(header.id.as_u64());
            }
        }
        msg.push(b" has overflowed its stack of ");
        msg.push_number(r.stack.usable as u64);
        msg.push(b" bytes; give it more with hebra::coroutine::Builder::stack_size ");
        msg.push(b"or hebra::Builder::stack_size\n");
        sys::write_stderr(msg.as_bytes());
        true
    });
    if overflowed == Some(true) {
        std::process::abort();
    }
}

/// A message assembled without allocating (truncated if it does not fit).
struct Message {
    buf: [u8; 512],
    len: usize,
}

impl Message {
    fn new() -> Message {
        Message { buf: [0; 512], len: 0 }
    }

    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn push_number(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_formats_numbers_and_truncates() {
        let mut m = Message::new();
        m.push(b"id ");
        m.push_number(0);
        m.push(b" ");
        m.push_number(18_446_744_073_709_551_615);
        assert_eq!(m.as_bytes(), b"id 0 18446744073709551615");
        m.push(&[b'x'; 600]);
        assert_eq!(m.as_bytes().len(), 512);
    }
}
