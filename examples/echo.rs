//! A TCP echo server: one coroutine per connection, written as plain blocking code.
//!
//! Run with `cargo run --release --example echo [ADDR]` (default `127.0.0.1:7000`), then
//! talk to it with `nc 127.0.0.1 7000`.

use std::io::{self, Read, Write};

use hebra::net::{TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".into());
    hebra::run(move || {
        let listener = TcpListener::bind(addr.as_str())?;
        println!("echo server listening on {}", listener.local_addr()?);
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    hebra::spawn(move || {
                        if let Err(err) = echo(stream) {
                            eprintln!("connection ended: {err}");
                        }
                    });
                }
                // Out of descriptors or a connection reset before accept: keep serving.
                Err(err) => {
                    eprintln!("accept failed: {err}");
                    hebra::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
        Ok(())
    })
}

fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf)?; // parks this coroutine, never the worker
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}
