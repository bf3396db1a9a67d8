//! One [`sped`] event loop per worker, each on its own thread and its own
//! `SO_REUSEPORT` listener, as nginx runs its workers and Netty its event loops: the
//! kernel spreads new connections over the listeners, a connection stays on the loop
//! that accepted it, and the loops share nothing but the connection cap. Disk work is
//! inline on each loop, as nginx does without thread pools: a cold file stalls only the
//! connections of one loop.

use std::io;
use std::net::TcpListener;

use super::sped;
use crate::{Config, ShutdownHandle};

pub(crate) fn run(config: Config, listeners: Vec<TcpListener>, shutdown: ShutdownHandle) -> io::Result<()> {
    let workers = config.worker_count();
    let listeners = if listeners.len() == workers { listeners } else { share(listeners, workers)? };
    sped::serve(config, listeners, shutdown)
}

/// A listener per loop out of fewer, such as the one given to
/// [`Server::from_listener`](crate::Server::from_listener): every loop registers a
/// duplicate descriptor of the same socket in its own epoll set. mio allows that, but
/// then every connection wakes every loop (the thundering herd `SO_REUSEPORT` avoids);
/// one accepts it and the others find `WouldBlock`. The originals are closed here, so
/// the socket stops listening as soon as the loops close their duplicates.
fn share(listeners: Vec<TcpListener>, workers: usize) -> io::Result<Vec<TcpListener>> {
    if listeners.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no listener to serve"));
    }
    (0..workers).map(|index| listeners[index % listeners.len()].try_clone()).collect()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::thread;
    use std::time::{Duration, Instant};

    use crate::{Config, Engine, Server};

    #[test]
    fn a_shared_listener_stops_listening_while_requests_finish() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Config { engine: Engine::Reactors, workers: 2, ..Config::new(std::env::temp_dir()) };
        let server = Server::from_listener(listener, config).unwrap();
        let shutdown = server.shutdown_handle();
        let running = thread::spawn(move || server.run());
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(b"GET /missing HTTP/1.1\r\n").unwrap();
        thread::sleep(Duration::from_millis(100));
        shutdown.shutdown();
        let started = Instant::now();
        while TcpStream::connect(addr).is_ok() {
            assert!(started.elapsed() < Duration::from_secs(10), "still listening after the shutdown");
            thread::sleep(Duration::from_millis(10));
        }
        assert!(!running.is_finished(), "run() returned with a request in flight");
        slow.write_all(b"Host: localhost\r\n\r\n").unwrap();
        let mut response = String::new();
        slow.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 404 "), "{response}");
        assert!(response.contains("\r\nConnection: close\r\n"), "{response}");
        running.join().unwrap().unwrap();
    }
}
