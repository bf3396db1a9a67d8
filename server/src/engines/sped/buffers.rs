//! Buffers lent to connections only while they use them.
//!
//! An idle keep-alive connection holds no buffer at all: its input buffer goes back to
//! the loop's pool as soon as no unprocessed byte is left in it, and a response's buffer
//! as soon as the response is sent (nginx frees its header buffers on keep-alive the
//! same way). With 10,000 idle connections that is the difference between a few
//! hundred bytes and tens of KiB per connection. The pools are bounded, so a burst of
//! large responses does not leave its buffers behind either.

use std::io::{self, Read};

use mio::net::TcpStream;

/// Size of an input buffer: a typical request head many times over, so a pipelining
/// client is read in few calls. A longer head grows it up to `Limits::max_head`.
pub(super) const INPUT_SIZE: usize = 16 * 1024;
/// The loop's scratch space: request bodies and lingering input are read into it and
/// dropped.
const SCRATCH_SIZE: usize = 16 * 1024;
/// Largest output buffer pooled: a 64 KiB file sent inline, with its head.
const OUTPUT_KEPT: usize = 80 * 1024;
/// Bytes of buffers each pool keeps, at most.
const POOL_BYTES: usize = 1024 * 1024;

/// Everything a loop lends out or uses in passing.
#[derive(Debug)]
pub(super) struct Buffers {
    pub(super) inputs: Pool,
    pub(super) outputs: Pool,
    pub(super) scratch: Box<[u8]>,
}

impl Buffers {
    pub(super) fn new() -> Buffers {
        Buffers {
            inputs: Pool::new(4 * INPUT_SIZE),
            outputs: Pool::new(OUTPUT_KEPT),
            scratch: vec![0; SCRATCH_SIZE].into_boxed_slice(),
        }
    }

    /// An empty buffer for a response.
    pub(super) fn output(&mut self) -> Vec<u8> {
        let mut out = self.outputs.take();
        out.clear();
        out
    }
}

/// Free buffers of up to `largest` bytes of capacity, at most [`POOL_BYTES`] in all.
#[derive(Debug)]
pub(super) struct Pool {
    free: Vec<Vec<u8>>,
    bytes: usize,
    largest: usize,
}

impl Pool {
    fn new(largest: usize) -> Pool {
        Pool { free: Vec::new(), bytes: 0, largest }
    }

    /// A buffer as it was given back (input buffers keep their initialized length), or
    /// a new empty one.
    pub(super) fn take(&mut self) -> Vec<u8> {
        let buffer = self.free.pop().unwrap_or_default();
        self.bytes -= buffer.capacity();
        buffer
    }

    pub(super) fn give(&mut self, buffer: Vec<u8>) {
        let size = buffer.capacity();
        if size > 0 && size <= self.largest && self.bytes + size <= POOL_BYTES {
            self.bytes += size;
            self.free.push(buffer);
        }
    }
}

/// A connection's unprocessed input, at `data[start..end]`; `data` is empty while the
/// connection has none.
#[derive(Debug, Default)]
pub(super) struct Input {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl Input {
    pub(super) fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub(super) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Keeps only the first `len` pending bytes.
    pub(super) fn truncate(&mut self, len: usize) {
        self.end = self.end.min(self.start + len);
    }

    pub(super) fn extend(&mut self, bytes: &[u8], pool: &mut Pool) {
        if !bytes.is_empty() {
            self.make_room(bytes.len(), usize::MAX, pool);
            self.data[self.end..self.end + bytes.len()].copy_from_slice(bytes);
            self.end += bytes.len();
        }
    }

    /// Reads once from `stream` into room made by compacting, or growing the buffer up
    /// to `max` bytes. Returns the bytes read and whether they filled the room: if
    /// not, the socket had nothing more at the time of the call.
    pub(super) fn read_from(
        &mut self,
        stream: &TcpStream,
        max: usize,
        pool: &mut Pool,
    ) -> io::Result<(usize, bool)> {
        self.make_room(1, max, pool);
        let room = self.data.len() - self.end;
        if room == 0 {
            // The parser decides every head of `max` bytes, so this is unreachable.
            return Err(io::Error::other("request head over the buffer limit"));
        }
        let n = (&*stream).read(&mut self.data[self.end..])?;
        self.end += n;
        Ok((n, n == room))
    }

    /// Gives the buffer back to `pool` if it holds nothing.
    pub(super) fn release_if_empty(&mut self, pool: &mut Pool) {
        if self.is_empty() && !self.data.is_empty() {
            pool.give(std::mem::take(&mut self.data));
        }
    }

    /// Drops the pending bytes and gives the buffer back.
    pub(super) fn clear(&mut self, pool: &mut Pool) {
        self.start = 0;
        self.end = 0;
        self.release_if_empty(pool);
    }

    fn make_room(&mut self, wanted: usize, max: usize, pool: &mut Pool) {
        if self.data.is_empty() {
            self.data = pool.take();
            if self.data.len() < INPUT_SIZE {
                self.data.resize(INPUT_SIZE, 0);
            }
        }
        if self.data.len() - self.end >= wanted {
            return;
        }
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let needed = self.end + wanted;
        if self.data.len() < needed {
            let grown = needed.max(self.data.len() * 2).min(max.max(needed));
            self.data.resize(grown, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_input_gives_its_buffer_back() {
        let mut pool = Pool::new(4 * INPUT_SIZE);
        let mut input = Input::default();
        input.extend(b"GET / HTTP/1.1\r\n", &mut pool);
        input.release_if_empty(&mut pool);
        assert_eq!(pool.free.len(), 0, "a buffer with pending bytes stays");
        input.consume(16);
        input.release_if_empty(&mut pool);
        assert_eq!((pool.free.len(), pool.bytes), (1, INPUT_SIZE));
        // It comes back initialized, and is not zeroed again.
        input.extend(b"x", &mut pool);
        assert_eq!((input.pending(), pool.free.len()), (&b"x"[..], 0));
    }

    #[test]
    fn extending_compacts_then_grows() {
        let mut pool = Pool::new(4 * INPUT_SIZE);
        let mut input = Input::default();
        input.extend(&vec![1; INPUT_SIZE - 10], &mut pool);
        input.consume(100);
        input.extend(&[2; 50], &mut pool);
        assert_eq!(input.data.len(), INPUT_SIZE, "compacted, not grown");
        input.extend(&vec![3; INPUT_SIZE], &mut pool);
        assert_eq!(input.pending().len(), 2 * INPUT_SIZE - 60);
        assert_eq!(input.pending()[INPUT_SIZE - 111..INPUT_SIZE - 109], [1, 2]);
    }

    #[test]
    fn pools_are_bounded() {
        let mut pool = Pool::new(OUTPUT_KEPT);
        pool.give(Vec::with_capacity(OUTPUT_KEPT + 1));
        assert!(pool.free.is_empty(), "too large to keep");
        for _ in 0..1000 {
            pool.give(Vec::with_capacity(OUTPUT_KEPT));
        }
        assert!(pool.bytes <= POOL_BYTES);
        assert_eq!(pool.free.len(), POOL_BYTES / OUTPUT_KEPT);
    }
}
