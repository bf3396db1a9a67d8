//! A minimal keep-alive HTTP/1.1 responder: every request gets `Hello, world!`.
//!
//! It is the runtime's fast path for load tests, not an HTTP implementation: it finds
//! the end of each request head and answers it, pipelined requests included. Run with
//! `cargo run --release --example hello-http [ADDR]` (default `127.0.0.1:8080`) and try
//! `curl http://127.0.0.1:8080/` or `wrk -c100 -d5s http://127.0.0.1:8080/`.

use std::io::{self, Read, Write};

use hebra::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";
/// A request head larger than this is refused: the connection is closed.
const MAX_HEAD: usize = 16 * 1024;

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    hebra::run(move || {
        let listener = TcpListener::bind(addr.as_str())?;
        println!("listening on http://{}/", listener.local_addr()?);
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    hebra::spawn(move || serve(stream));
                }
                Err(err) => {
                    eprintln!("accept failed: {err}");
                    hebra::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
        Ok(())
    })
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    let mut out = Vec::with_capacity(RESPONSE.len() * 4);
    loop {
        let n = stream.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        // Answer every complete request head in the buffer, in order, with one write.
        let mut start = 0;
        while let Some(end) = find_head_end(&buf[start..filled]) {
            out.extend_from_slice(RESPONSE);
            start += end;
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled == buf.len() {
            if buf.len() >= MAX_HEAD {
                return Ok(());
            }
            buf.resize(buf.len() * 2, 0);
        }
    }
}

/// Length of the first request head in `data` (through its blank line), if complete.
fn find_head_end(data: &[u8]) -> Option<usize> {
    data.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}
