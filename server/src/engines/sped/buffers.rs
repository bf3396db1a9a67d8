//! Buffers lent to connections only while they use them.
//!
//! An idle keep-alive connection holds no buffer at all: its input buffer (the
//! engines' shared `Input`) goes back to the loop's pool as soon as no unprocessed
//! byte is left in it, and a response's buffer as soon as the response is sent (nginx
//! frees its header buffers on keep-alive the same way). With 10,000 idle connections
//! that is the difference between a few hundred bytes and tens of KiB per connection.
//! The pools are bounded, so a burst of large responses does not leave its buffers
//! behind either.

use crate::engines::input::InputPool;

/// Size of an input buffer: a typical request head many times over, so a pipelining
/// client is read in few calls. A longer head grows it up to `Limits::max_head`.
const INPUT_SIZE: usize = 16 * 1024;
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
    pub(super) inputs: Inputs,
    pub(super) outputs: Pool,
    pub(super) scratch: Box<[u8]>,
}

impl Buffers {
    pub(super) fn new() -> Buffers {
        Buffers {
            inputs: Inputs(Pool::new(4 * INPUT_SIZE)),
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

    /// A buffer as it was given back, or a new empty one.
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

/// The loop's pool of input buffers, each of at least [`INPUT_SIZE`] bytes.
#[derive(Debug)]
pub(super) struct Inputs(Pool);

impl InputPool for Inputs {
    /// A buffer as it was given back (it keeps its initialized length), or a new one.
    fn take(&mut self) -> Vec<u8> {
        let mut buffer = self.0.take();
        if buffer.len() < INPUT_SIZE {
            buffer.resize(INPUT_SIZE, 0);
        }
        buffer
    }

    fn give(&mut self, buffer: Vec<u8>) {
        self.0.give(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::input::Input;

    #[test]
    fn an_empty_input_gives_its_buffer_back() {
        let mut pool = Inputs(Pool::new(4 * INPUT_SIZE));
        let mut input = Input::default();
        input.extend(b"GET / HTTP/1.1\r\n", &mut pool);
        input.release(&mut pool);
        assert_eq!(pool.0.free.len(), 0, "a buffer with pending bytes stays");
        input.consume(16);
        input.release(&mut pool);
        assert_eq!((pool.0.free.len(), pool.0.bytes), (1, INPUT_SIZE));
        // It comes back initialized, and is not zeroed again.
        input.extend(b"x", &mut pool);
        assert_eq!((input.pending(), pool.0.free.len()), (&b"x"[..], 0));
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
