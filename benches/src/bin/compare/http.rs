//! The harness's own HTTP/1.1 client: one keep-alive GET at a time on a blocking socket,
//! for the readiness probe and the idle-connections scenario. wrk does the load.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Longest response head the client accepts.
const MAX_HEAD: usize = 16 * 1024;

/// The parts of a response the harness checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body_len: usize,
}

/// A connection to `addr` whose every connect, read and write gives up after `timeout`.
pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends `GET path` and reads the whole response, keeping the connection open.
pub fn get(stream: &mut TcpStream, path: &str) -> io::Result<Response> {
    // One write: `write!` on the socket itself would send each fragment as a segment.
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())?;
    let mut buffer = vec![0; 8192];
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buffer[filled..])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before the response head"));
        }
        filled += n;
        if let Some((head_len, response)) = parse_head(&buffer[..filled])? {
            let mut left = response.body_len.checked_sub(filled - head_len).ok_or_else(too_long)?;
            while left > 0 {
                let n = stream.read(&mut buffer[..left.min(8192)])?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed within the body"));
                }
                left -= n;
            }
            return Ok(response);
        }
        if filled == buffer.len() {
            if filled >= MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "response head too long"));
            }
            buffer.resize(filled * 2, 0);
        }
    }
}

fn too_long() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "more bytes than Content-Length")
}

/// The head's length and what it says, once `bytes` hold all of it.
fn parse_head(bytes: &[u8]) -> io::Result<Option<(usize, Response)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let head_len = match response.parse(bytes).map_err(|err| invalid(format!("bad response: {err}")))? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let length = response
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("content-length"))
        .ok_or_else(|| invalid("no Content-Length".into()))?;
    let body_len = std::str::from_utf8(length.value)
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| invalid("bad Content-Length".into()))?;
    let status = response.code.expect("a complete response has a status");
    Ok(Some((head_len, Response { status, body_len })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    #[test]
    fn heads_parse_once_complete() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(parse_head(&head[..20]).unwrap(), None);
        let (len, response) = parse_head(head).unwrap().unwrap();
        assert_eq!((len, response), (head.len() - 5, Response { status: 200, body_len: 5 }));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err(), "no length");
        assert!(parse_head(b"SMTP hello\r\n\r\n").is_err());
    }

    #[test]
    fn a_get_reads_the_whole_body_and_keeps_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let body = vec![b'x'; 20_000];
            for _ in 0..2 {
                let mut request = Vec::new();
                while !request.ends_with(b"\r\n\r\n") {
                    let mut byte = [0];
                    stream.read_exact(&mut byte).unwrap();
                    request.push(byte[0]);
                }
                let head = format!("HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n", body.len());
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&body).unwrap();
            }
        });
        let mut stream = connect(addr, Duration::from_secs(5)).unwrap();
        for _ in 0..2 {
            assert_eq!(get(&mut stream, "/x").unwrap(), Response { status: 404, body_len: 20_000 });
        }
        server.join().unwrap();
    }
}
