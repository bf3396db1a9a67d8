//! Shutdown and runtime lifetimes: coroutines parked forever are unwound (their
//! destructors run) by the time the runtime is gone, closures that never started are
//! dropped, destructors that wait during the unwind cannot hang it, and runtimes can
//! live one after another and side by side.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{DropCounter, DropToken, HANG_BOUND, LOCALHOST, within};
use hebra::coroutine;
use hebra::net::{TcpListener, TcpStream, UdpSocket, UnixStream};

/// Spawns one coroutine per way of waiting forever; each holds a token of `counter` and
/// bumps `parked` right before it parks. Returns their handles.
fn park_forever_in_every_way(counter: &DropCounter, parked: &Arc<AtomicUsize>) -> Vec<hebra::JoinHandle<()>> {
    type Forever = Box<dyn FnOnce() + Send>;
    let listener = TcpListener::bind(LOCALHOST).unwrap();
    let tcp_client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (tcp_server, _) = listener.accept().unwrap();
    let (unix_a, unix_b) = UnixStream::pair().unwrap();
    let udp = UdpSocket::bind(LOCALHOST).unwrap();
    let never_finishes = hebra::spawn(|| {
        loop {
            coroutine::park();
        }
    });
    let ways: Vec<Forever> = vec![
        Box::new(move || drop((&tcp_server).read(&mut [0; 1]))),
        Box::new(move || drop(listener.accept())),
        Box::new(move || drop((&unix_a).read(&mut [0; 1]))),
        Box::new(move || drop(udp.recv_from(&mut [0; 1]))),
        Box::new(|| {
            loop {
                coroutine::park();
            }
        }),
        Box::new(|| hebra::sleep(Duration::from_secs(3600))),
        Box::new(|| hebra::sleep(Duration::MAX)),
        Box::new(move || drop(never_finishes.join())),
    ];
    let peers = Arc::new((tcp_client, unix_b));
    ways.into_iter()
        .map(|wait| {
            let token = counter.token();
            let (parked, peers) = (parked.clone(), peers.clone());
            hebra::spawn(move || {
                let _token = token;
                let _peers_stay_open = peers;
                parked.fetch_add(1, Ordering::SeqCst);
                wait();
            })
        })
        .collect()
}

/// Waits until `n` coroutines said they are about to park, then lets them get there.
fn wait_until_parked(parked: &AtomicUsize, n: usize) {
    while parked.load(Ordering::SeqCst) < n {
        hebra::sleep(Duration::from_millis(1));
    }
    hebra::sleep(Duration::from_millis(20));
}

fn assert_cancelled(handles: Vec<hebra::JoinHandle<()>>) {
    for handle in handles {
        let payload = handle.join().expect_err("a coroutine parked forever finished normally");
        assert!(
            payload.downcast_ref::<&str>().is_some(),
            "a cancelled coroutine's join payload is a &'static str"
        );
    }
}

#[test]
fn run_unwinds_coroutines_parked_forever_before_it_returns() {
    let counter = DropCounter::new();
    let (handles, expected) = {
        let counter = counter.clone();
        within("hebra::run", HANG_BOUND, move || {
            hebra::run(move || {
                let parked = Arc::new(AtomicUsize::new(0));
                let handles = park_forever_in_every_way(&counter, &parked);
                wait_until_parked(&parked, handles.len());
                assert_eq!(counter.drops(), 0, "a parked coroutine ended early");
                let expected = handles.len();
                (handles, expected)
            })
        })
    };
    assert_eq!(counter.drops(), expected, "destructors of parked coroutines had not run when run returned");
    assert_cancelled(handles);
}

#[test]
fn dropping_a_runtime_unwinds_its_parked_coroutines() {
    within("runtime drop", HANG_BOUND, || {
        let runtime = hebra::Builder::new().workers(2).build().unwrap();
        let counter = DropCounter::new();
        let c = counter.clone();
        let handles = runtime.block_on(move || {
            let parked = Arc::new(AtomicUsize::new(0));
            let handles = park_forever_in_every_way(&c, &parked);
            wait_until_parked(&parked, handles.len());
            handles
        });
        // block_on returned, but the runtime lives on: they are still parked.
        thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.drops(), 0);
        let expected = handles.len();
        drop(runtime);
        assert_eq!(counter.drops(), expected);
        assert_cancelled(handles);
    });
}

#[test]
fn a_never_started_coroutine_has_its_closure_dropped() {
    within("runtime drop", Duration::from_secs(30), || {
        let runtime = hebra::Builder::new().workers(1).build().unwrap();
        let started = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicUsize::new(0));
        // Keeps the only worker blocked until after the runtime's drop has begun.
        let blocker = {
            let (started, release) = (started.clone(), release.clone());
            runtime.spawn(move || {
                started.store(1, Ordering::SeqCst);
                while release.load(Ordering::SeqCst) == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            })
        };
        while started.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        let counter = DropCounter::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let never = {
            let (token, ran) = (counter.token(), ran.clone());
            runtime.spawn(move || {
                ran.store(1, Ordering::SeqCst);
                drop(token);
            })
        };
        let releaser = thread::spawn(move || {
            // Long enough for `drop(runtime)` below to have set the shutdown flag.
            thread::sleep(Duration::from_secs(1));
            release.store(1, Ordering::SeqCst);
        });
        drop(runtime);
        releaser.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0, "the coroutine started after all");
        assert_eq!(counter.drops(), 1, "the unstarted closure was not dropped");
        assert!(never.is_finished());
        assert!(never.join().is_err());
        blocker.join().unwrap();
    });
}

#[test]
fn every_closure_is_dropped_exactly_once_when_main_returns_early() {
    let counter = DropCounter::new();
    let spawned = {
        let counter = counter.clone();
        within("hebra::run", HANG_BOUND, move || {
            hebra::run(move || {
                let mut spawned = 0;
                for i in 0..1000 {
                    let token = counter.token();
                    let inner = counter.token();
                    spawned += 2;
                    hebra::spawn(move || {
                        let _token = token;
                        // Some spawn more on their way out, some park first.
                        hebra::spawn(move || drop(inner));
                        if i % 3 == 0 {
                            hebra::sleep(Duration::from_millis(1));
                        }
                    });
                }
                spawned
            })
        })
    };
    assert_eq!(counter.drops(), spawned, "a closure leaked or dropped twice");
}

/// Waits in every way from its destructor, which runs while the runtime unwinds it.
struct WaitsOnDrop {
    socket: UnixStream,
    _peer: UnixStream,
    spawned: Option<DropToken>,
    read_errors: Arc<AtomicUsize>,
    _done: DropToken,
}

impl Drop for WaitsOnDrop {
    // No assertions in here: a panic during an unwind aborts the whole test binary.
    fn drop(&mut self) {
        hebra::sleep(Duration::from_secs(3600));
        coroutine::park();
        coroutine::park_timeout(Duration::from_secs(3600));
        // Nobody writes: a read that returns during the unwind must be an error.
        if (&self.socket).read(&mut [0; 1]).is_err() {
            self.read_errors.fetch_add(1, Ordering::SeqCst);
        }
        // Spawning during shutdown: the new coroutine is dropped unrun (or runs).
        let token = self.spawned.take();
        hebra::spawn(move || drop(token));
        let _ = hebra::spawn(|| ()).join();
    }
}

#[test]
fn destructors_that_wait_during_shutdown_do_not_hang_it() {
    let counter = DropCounter::new();
    let read_errors = Arc::new(AtomicUsize::new(0));
    {
        let (counter, read_errors) = (counter.clone(), read_errors.clone());
        within("shutdown with waiting destructors", HANG_BOUND, move || {
            hebra::run(move || {
                let parked = Arc::new(AtomicUsize::new(0));
                for _ in 0..4 {
                    let (socket, peer) = UnixStream::pair().unwrap();
                    let guard = WaitsOnDrop {
                        socket,
                        _peer: peer,
                        spawned: Some(counter.token()),
                        read_errors: read_errors.clone(),
                        _done: counter.token(),
                    };
                    let parked = parked.clone();
                    hebra::spawn(move || {
                        let _guard = guard;
                        parked.fetch_add(1, Ordering::SeqCst);
                        loop {
                            coroutine::park();
                        }
                    });
                }
                wait_until_parked(&parked, 4);
            });
        });
    }
    // Per guard: the token of the coroutine it spawned, and its own at the end of drop.
    assert_eq!(counter.drops(), 8, "a destructor did not finish");
    assert_eq!(read_errors.load(Ordering::SeqCst), 4, "a read during the unwind did not fail");
}

#[test]
fn runtimes_run_one_after_another() {
    for round in 0..10u64 {
        let result = within("hebra::run", HANG_BOUND, move || {
            hebra::run(move || {
                let handles: Vec<_> = (0..10u64)
                    .map(|i| {
                        hebra::spawn(move || {
                            hebra::sleep(Duration::from_millis(1));
                            round * 100 + i
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            })
        });
        assert_eq!(result, round * 1000 + 45);
    }
}

#[test]
fn two_runtimes_side_by_side_talk_over_a_socket_and_unpark_each_other() {
    within("two runtimes", HANG_BOUND, || {
        let server_rt = hebra::Builder::new().workers(2).build().unwrap();
        let client_rt = hebra::Builder::new().workers(1).build().unwrap();
        let listener = TcpListener::bind(LOCALHOST).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = server_rt.spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0; 64];
            loop {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                stream.write_all(&buf[..n]).unwrap();
            }
            // Parks in this runtime until a coroutine of the other one unparks it.
            coroutine::park();
            "server done"
        });
        let server_coroutine = server.coroutine().clone();
        let client = client_rt.spawn(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            for i in 0..100u32 {
                stream.write_all(&i.to_le_bytes()).unwrap();
                let mut echo = [0; 4];
                stream.read_exact(&mut echo).unwrap();
                assert_eq!(u32::from_le_bytes(echo), i);
            }
            drop(stream);
            hebra::sleep(Duration::from_millis(10));
            server_coroutine.unpark();
            hebra::workers()
        });
        assert_eq!(client.join().unwrap(), 1);
        assert_eq!(server.join().unwrap(), "server done");
        // A coroutine joins a coroutine of the other runtime.
        let over_there = server_rt.spawn(|| {
            hebra::sleep(Duration::from_millis(10));
            "joined across runtimes"
        });
        assert_eq!(
            client_rt.spawn(move || over_there.join().unwrap()).join().unwrap(),
            "joined across runtimes"
        );
        assert_eq!(server_rt.block_on(hebra::workers), 2);
        assert_eq!(client_rt.block_on(hebra::workers), 1);
    });
}

#[test]
fn a_socket_outlives_its_runtime_and_moves_to_the_next_one() {
    within("socket across runtimes", HANG_BOUND, || {
        let (a, b) = hebra::run(|| {
            let (a, mut b) = UnixStream::pair().unwrap();
            let reader = hebra::spawn(move || {
                let mut byte = [0; 1];
                (&a).read_exact(&mut byte).unwrap();
                a
            });
            hebra::sleep(Duration::from_millis(5));
            b.write_all(b"1").unwrap();
            (reader.join().unwrap(), b)
        });
        // On a plain thread it blocks like a std socket.
        (&b).write_all(b"2").unwrap();
        let mut byte = [0; 1];
        (&a).read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"2");
        // Still tied to the runtime that is gone, it cannot park in a new one: an error,
        // not a wait that nothing would ever end.
        let a = hebra::run(move || {
            assert!((&a).read(&mut [0; 1]).is_err(), "a read with nothing to read returned Ok");
            a
        });
        // Moved through std, it parks in a new runtime.
        let a = UnixStream::from(a.into_std().unwrap());
        hebra::run(move || {
            let reader = hebra::spawn(move || {
                let mut byte = [0; 1];
                (&a).read_exact(&mut byte).unwrap();
                byte
            });
            hebra::sleep(Duration::from_millis(5));
            (&b).write_all(b"3").unwrap();
            assert_eq!(&reader.join().unwrap(), b"3");
        });
    });
}

/// Open descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("no /proc/self/fd").count()
}

/// In a child process (so that no other test opens descriptors meanwhile): runs
/// `scenario` five times, each on a fresh runtime, and checks that every runtime gave
/// back its descriptors (epoll instances, wakers) once gone.
fn runtimes_release_their_descriptors(test: &str, scenario: fn()) {
    if common::is_child(test) {
        hebra::run(|| hebra::sleep(Duration::from_millis(1)));
        let before = open_fds();
        for _ in 0..5 {
            scenario();
        }
        // Whatever the scenario left running outside the runtimes is done by now.
        thread::sleep(Duration::from_millis(500));
        let after = open_fds();
        assert_eq!(after, before, "descriptors leaked by 5 runtimes that are gone");
        return;
    }
    common::assert_child_passed(&common::output_within(common::child(test), HANG_BOUND));
}

#[test]
fn unparking_a_coroutine_of_a_runtime_that_is_gone_leaks_nothing() {
    runtimes_release_their_descriptors(
        "unparking_a_coroutine_of_a_runtime_that_is_gone_leaks_nothing",
        || {
            let parked = hebra::run(|| {
                let handle = hebra::spawn(|| {
                    loop {
                        coroutine::park();
                    }
                });
                hebra::sleep(Duration::from_millis(10));
                handle.coroutine().clone()
            });
            // Allowed at any time, like std's Thread::unpark.
            parked.unpark();
        },
    );
}

#[test]
fn an_unblock_job_outliving_its_runtime_leaks_nothing() {
    runtimes_release_their_descriptors("an_unblock_job_outliving_its_runtime_leaks_nothing", || {
        hebra::run(|| {
            hebra::spawn(|| hebra::unblock(|| thread::sleep(Duration::from_millis(100))));
            hebra::sleep(Duration::from_millis(10));
        });
    });
}

#[test]
fn runtimes_whose_coroutines_were_unwound_leak_nothing() {
    runtimes_release_their_descriptors("runtimes_whose_coroutines_were_unwound_leak_nothing", || {
        hebra::run(|| {
            let counter = DropCounter::new();
            let parked = Arc::new(AtomicUsize::new(0));
            drop(park_forever_in_every_way(&counter, &parked));
            wait_until_parked(&parked, 8);
        });
    });
}
