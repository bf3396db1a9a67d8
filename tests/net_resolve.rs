//! Addresses given as strings go through the resolver on a helper thread and then work
//! as socket addresses do (on 127.0.0.1 only: no name service is needed).

mod common;

use std::io::{Read, Write};

use common::run_with;
use hebra::net::{TcpListener, TcpStream, UdpSocket};

#[test]
fn string_addresses_work_for_tcp_and_udp() {
    run_with(2, || {
        // Each in its own coroutine; the test below resolves many in a row in one.
        let listener = hebra::spawn(|| TcpListener::bind("127.0.0.1:0").unwrap()).join().unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = hebra::spawn(move || {
            let mut stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
            stream.write_all(b"by name").unwrap();
        });
        let (mut stream, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"by name");
        client.join().unwrap();

        let receiver = hebra::spawn(|| UdpSocket::bind(("127.0.0.1", 0)).unwrap()).join().unwrap();
        let to = receiver.local_addr().unwrap();
        let sender = hebra::spawn(move || {
            let socket = UdpSocket::bind(common::LOCALHOST).unwrap();
            socket.send_to(b"datagram", format!("127.0.0.1:{}", to.port())).unwrap();
            socket.local_addr().unwrap()
        });
        let mut buf = [0; 16];
        let (n, from) = receiver.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"datagram"[..], sender.join().unwrap()));
    });
}

#[test]
fn an_unresolvable_address_is_an_error() {
    run_with(1, || {
        let err = TcpListener::bind("not an address").unwrap_err();
        assert!(!err.to_string().is_empty());
    });
}

#[test]
fn a_coroutine_resolves_many_addresses_in_a_row() {
    run_with(2, || {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = format!("127.0.0.1:{}", receiver.local_addr().unwrap().port());
        for _ in 0..2_000 {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.send_to(b"x", to.as_str()).unwrap();
            let mut byte = [0; 1];
            receiver.recv_from(&mut byte).unwrap();
        }
    });
}
