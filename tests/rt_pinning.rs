//! A started coroutine never changes OS thread (ARCHITECTURE.md, invariant 1), whatever
//! it parks on: sockets, `sleep`, `park` with unparks from other workers and plain
//! threads, `yield_now`, `join`, `unblock`.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use common::{LOCALHOST, run_with};
use hebra::coroutine;
use hebra::net::{TcpListener, TcpStream};

const PARKS: usize = 1_000;
/// Several watched coroutines at once, so that both workers are busy and a migration,
/// if the scheduler ever did one, would have somewhere to go.
const WATCHED: usize = 6;

/// Parks `PARKS` times in every way there is; asserts the thread never changes.
fn park_in_every_way(mut socket: TcpStream) {
    let stop_plain = Arc::new(AtomicBool::new(false));
    let home = thread::current().id();
    let me = coroutine::current();
    // A plain thread that unparks us now and then, and a coroutine that does too.
    let plain = {
        let (me, stop) = (me.clone(), stop_plain.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                me.unpark();
                thread::sleep(Duration::from_micros(300));
            }
        })
    };
    let mut byte = [0u8; 1];
    for i in 0..PARKS {
        match i % 6 {
            // The peer echoes one byte after a short sleep, so the read parks.
            0 => {
                socket.write_all(&[i as u8]).unwrap();
                socket.read_exact(&mut byte).unwrap();
                assert_eq!(byte[0], i as u8);
            }
            1 => hebra::sleep(Duration::from_micros(200)),
            2 => coroutine::park(),
            3 => hebra::yield_now(),
            4 => hebra::spawn(|| hebra::sleep(Duration::from_micros(100))).join().unwrap(),
            _ => {
                let me = me.clone();
                let unparker = hebra::spawn(move || me.unpark());
                coroutine::park_timeout(Duration::from_millis(50));
                unparker.join().unwrap();
            }
        }
        assert_eq!(thread::current().id(), home, "coroutine moved to another thread after park #{i}");
    }
    assert_eq!(hebra::unblock(|| 7), 7);
    assert_eq!(thread::current().id(), home, "moved after unblock");
    stop_plain.store(true, Ordering::Relaxed);
    plain.join().unwrap();
}

fn echo_slowly(mut stream: TcpStream) {
    let mut byte = [0u8; 1];
    while stream.read(&mut byte).unwrap() == 1 {
        hebra::sleep(Duration::from_micros(100));
        stream.write_all(&byte).unwrap();
    }
}

#[test]
fn a_coroutine_stays_on_its_thread_across_a_thousand_parks() {
    run_with(2, || {
        let listener = TcpListener::bind(LOCALHOST).unwrap();
        let addr = listener.local_addr().unwrap();
        let watched: Vec<_> = (0..WATCHED)
            .map(|_| {
                let client = TcpStream::connect(addr).unwrap();
                let (server, _) = listener.accept().unwrap();
                hebra::spawn(move || echo_slowly(server));
                hebra::spawn(move || park_in_every_way(client))
            })
            .collect();
        // CPU-bound neighbours keep both workers busy the whole time.
        let busy = Arc::new(AtomicBool::new(true));
        let neighbours: Vec<_> = (0..4)
            .map(|_| {
                let busy = busy.clone();
                hebra::spawn(move || {
                    while busy.load(Ordering::Relaxed) {
                        std::hint::black_box((0..1000u64).sum::<u64>());
                        hebra::yield_now();
                    }
                })
            })
            .collect();
        for handle in watched {
            handle.join().expect("a watched coroutine failed");
        }
        busy.store(false, Ordering::Relaxed);
        neighbours.into_iter().for_each(|h| h.join().unwrap());
    });
}
