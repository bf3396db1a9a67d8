//! Channels: ping-pong latency and many-producer throughput of `hebra::chan`, side by
//! side with `tokio::sync::mpsc`, `may::sync::mpsc` and crossbeam-channel between OS
//! threads (crossbeam's home turf: it has no coroutines to switch).
//!
//! - `chan_ping_pong/one_worker`: a message goes from ping to pong and back over two
//!   channels; time per round trip. hebra on a 1-worker runtime, tokio on a
//!   current-thread runtime, may with one worker (in a child process, see
//!   [`may_one_worker`]), crossbeam between two threads.
//! - `chan_ping_pong/two_workers`: the same on the 2-worker runtimes. hebra pins ping to
//!   worker 0 and pong to worker 1; may starts them on workers 0 and 1; tokio places its
//!   tasks itself. The benchmark prints where the two sides ended up.
//! - `chan_throughput/bounded_64` and `chan_throughput/unbounded`: [`PRODUCERS`] producers
//!   share `iters` messages, one consumer drains the channel; time per message. may has
//!   no bounded channel, so it runs only in the unbounded group.
//!
//! The channels are `bounded(1)` for ping-pong where one exists (tokio needs a bound; may
//! has none): at most one message is ever in each channel, so no send waits whatever the
//! capacity, and `bounded(1)` matches tokio's `channel(1)`. `hebra_unbounded` (may's
//! kind) and `hebra_rendezvous` (`bounded(0)`: no buffer, a message passes straight from
//! sender to receiver) are extra rows.

use std::io::{BufRead, BufReader, Write};
use std::process::{self, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use hebra::chan;
use hebra_benches::{MEASUREMENT_TIME, SAMPLE_SIZE, WARM_UP_TIME};

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Producers in the throughput groups.
const PRODUCERS: u64 = 4;

/// Capacity of the bounded throughput channel.
const THROUGHPUT_CAPACITY: usize = 64;

/// Makes one channel of the kind a hebra row measures.
type MakeChannel = fn() -> (chan::Sender<u64>, chan::Receiver<u64>);

/// Set in the environment of the child process that runs may with one worker.
const MAY_ONE_WORKER: &str = "HEBRA_BENCH_MAY_ONE_WORKER";

fn main() {
    if std::env::var_os(MAY_ONE_WORKER).is_some() {
        may_one_worker::serve();
        return;
    }
    let mut criterion = Criterion::default()
        .warm_up_time(WARM_UP_TIME)
        .measurement_time(MEASUREMENT_TIME)
        .sample_size(SAMPLE_SIZE)
        .configure_from_args();
    ping_pong_one_worker(&mut criterion);
    ping_pong_two_workers(&mut criterion);
    throughput(&mut criterion);
    many_to_many(&mut criterion);
    criterion.final_summary();
}

// ---------------------------------------------------------------------------------------
// Ping-pong
// ---------------------------------------------------------------------------------------

/// The one-worker runtimes, started once and kept, like [`hebra_benches::runtimes`].
struct OneWorker {
    hebra: hebra::Runtime,
    tokio: tokio::runtime::Runtime,
}

fn one_worker() -> &'static OneWorker {
    static ONE_WORKER: OnceLock<OneWorker> = OnceLock::new();
    ONE_WORKER.get_or_init(|| OneWorker {
        hebra: hebra::Builder::new().workers(1).build().expect("cannot start a hebra runtime"),
        tokio: tokio::runtime::Builder::new_current_thread().build().expect("cannot start a tokio runtime"),
    })
}

fn ping_pong_one_worker(c: &mut Criterion) {
    const GROUP: &str = "chan_ping_pong/one_worker";
    let mut group = c.benchmark_group(GROUP);
    let hebra = &one_worker().hebra;
    bench_hebra(&mut group, (GROUP, "hebra"), hebra, (0, 0), || chan::bounded(1));
    bench_hebra(&mut group, (GROUP, "hebra_unbounded"), hebra, (0, 0), chan::unbounded);
    bench_hebra(&mut group, (GROUP, "hebra_rendezvous"), hebra, (0, 0), || chan::bounded(0));
    bench_tokio(&mut group, GROUP, &one_worker().tokio);
    let placement = Placement::new((GROUP, "may"));
    let mut child = None; // started on first use: not at all when filtered out
    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            let child = child.get_or_insert_with(may_one_worker::Child::start);
            placement.record(child.ping_pong(iters))
        })
    });
    drop((child, placement)); // ends the child; prints the placement now
    bench_crossbeam(&mut group, GROUP);
    group.finish();
}

fn ping_pong_two_workers(c: &mut Criterion) {
    const GROUP: &str = "chan_ping_pong/two_workers";
    let mut group = c.benchmark_group(GROUP);
    let hebra = &hebra_benches::runtimes().hebra;
    bench_hebra(&mut group, (GROUP, "hebra"), hebra, (0, 1), || chan::bounded(1));
    bench_hebra(&mut group, (GROUP, "hebra_rendezvous"), hebra, (0, 1), || chan::bounded(0));
    bench_tokio(&mut group, GROUP, &hebra_benches::runtimes().tokio);
    let placement = Placement::new((GROUP, "may"));
    group.bench_function("may", |b| b.iter_custom(|iters| placement.record(may_ping_pong(iters, (0, 1)))));
    drop(placement);
    bench_crossbeam(&mut group, GROUP);
    group.finish();
}

/// How one ping-pong run went: its time, and whether ping and pong ended on different
/// threads.
struct Run {
    elapsed: Duration,
    apart: bool,
}

impl Run {
    fn new(elapsed: Duration, ping: ThreadId, pong: ThreadId) -> Run {
        Run { elapsed, apart: ping != pong }
    }
}

/// The measuring side, blocking style: `iters` round trips. Dropping `send` at the end
/// disconnects the channel, which ends pong.
fn ping(iters: u64, send: impl Fn(u64), recv: impl Fn() -> u64) -> (Duration, ThreadId) {
    let start = Instant::now();
    for i in 0..iters {
        send(i);
        assert_eq!(recv(), i, "pong echoes every message in order");
    }
    (start.elapsed(), thread::current().id())
}

/// Echoes until the channel disconnects; returns the thread it ended on.
fn pong(recv: impl Fn() -> Option<u64>, send: impl Fn(u64)) -> ThreadId {
    while let Some(message) = recv() {
        send(message);
    }
    thread::current().id()
}

/// `pinned`: the workers of ping and pong.
fn bench_hebra(
    group: &mut Group<'_>,
    (group_name, name): (&str, &str),
    runtime: &'static hebra::Runtime,
    pinned: (usize, usize),
    make: MakeChannel,
) {
    use hebra::coroutine::Builder;
    let placement = Placement::new((group_name, name));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            placement.record(runtime.block_on(move || {
                let ((to_pong, from_ping), (to_ping, from_pong)) = (make(), make());
                let pong = Builder::new()
                    .worker(pinned.1)
                    .spawn(move || pong(|| from_ping.recv().ok(), |m| to_ping.send(m).expect("ping waits")))
                    .expect("worker index in range");
                let ping = Builder::new()
                    .worker(pinned.0)
                    .spawn(move || {
                        let send = move |m| to_pong.send(m).expect("pong waits");
                        ping(iters, send, || from_pong.recv().expect("pong answers"))
                    })
                    .expect("worker index in range");
                let (elapsed, ping) = ping.join().expect("ping panicked");
                Run::new(elapsed, ping, pong.join().expect("pong panicked"))
            }))
        })
    });
}

fn bench_tokio(group: &mut Group<'_>, group_name: &str, runtime: &tokio::runtime::Runtime) {
    use tokio::sync::mpsc;
    let placement = Placement::new((group_name, "tokio"));
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let (to_pong, mut from_ping) = mpsc::channel(1);
            let (to_ping, mut from_pong) = mpsc::channel(1);
            let pong = runtime.spawn(async move {
                while let Some(message) = from_ping.recv().await {
                    to_ping.send(message).await.expect("ping waits");
                }
                thread::current().id()
            });
            let ping = runtime.spawn(async move {
                let start = Instant::now();
                for i in 0..iters {
                    to_pong.send(i).await.expect("pong waits");
                    assert_eq!(from_pong.recv().await, Some(i), "pong echoes every message in order");
                }
                (start.elapsed(), thread::current().id())
            });
            let (elapsed, ping) = runtime.block_on(ping).expect("ping panicked");
            let pong = runtime.block_on(pong).expect("pong panicked");
            placement.record(Run::new(elapsed, ping, pong))
        })
    });
}

/// may's ping-pong, in this process (2 workers) or in the one-worker child. `workers`:
/// where ping and pong start (may moves a woken coroutine to its waker's worker).
fn may_ping_pong(iters: u64, workers: (usize, usize)) -> Run {
    use may::sync::mpsc;
    let (to_pong, from_ping) = mpsc::channel();
    let (to_ping, from_pong) = mpsc::channel();
    let pong = spawn_may(Some(workers.1), move || {
        pong(|| from_ping.recv().ok(), |m| to_ping.send(m).expect("ping waits"))
    });
    let ping = spawn_may(Some(workers.0), move || {
        let send = move |m| to_pong.send(m).expect("pong waits");
        ping(iters, send, || from_pong.recv().expect("pong answers"))
    });
    let (elapsed, ping) = ping.join().expect("ping panicked");
    Run::new(elapsed, ping, pong.join().expect("pong panicked"))
}

/// Spawns a may coroutine for `f` (on worker `id`, if given), and keeps a handle to it
/// until the process exits: may 0.3.51 can livelock in `Park::drop` when a coroutine
/// drops the last handle to itself (see `park.rs`).
fn spawn_may<T: Send + 'static>(
    id: Option<usize>,
    f: impl FnOnce() -> T + Send + 'static,
) -> may::coroutine::JoinHandle<T> {
    static KEEP_ALIVE: Mutex<Vec<may::coroutine::Coroutine>> = Mutex::new(Vec::new());
    let builder = may::coroutine::Builder::new();
    let builder = match id {
        Some(id) => builder.id(id),
        None => builder,
    };
    // SAFETY: the closures given here touch no thread-local storage across a wait (they
    // read `thread::current()` once, after their last one) and need a few hundred bytes
    // of stack.
    let handle = unsafe { builder.spawn(f) }.expect("may spawns");
    lock(&KEEP_ALIVE).push(handle.coroutine().clone());
    handle
}

/// crossbeam-channel `bounded(1)` between two OS threads; the pong thread is started
/// outside the timed loop.
fn bench_crossbeam(group: &mut Group<'_>, group_name: &str) {
    let placement = Placement::new((group_name, "crossbeam_threads"));
    group.bench_function("crossbeam_threads", |b| {
        b.iter_custom(|iters| {
            let (to_pong, from_ping) = crossbeam_channel::bounded(1);
            let (to_ping, from_pong) = crossbeam_channel::bounded(1);
            let pong = thread::spawn(move || {
                pong(|| from_ping.recv().ok(), |m| to_ping.send(m).expect("ping waits"))
            });
            let send = move |m| to_pong.send(m).expect("pong waits");
            let (elapsed, ping) = ping(iters, send, || from_pong.recv().expect("pong answers"));
            placement.record(Run::new(elapsed, ping, pong.join().expect("pong panicked")))
        })
    });
}

/// may's scheduler is configured once per process, and this process runs it with
/// [`hebra_benches::WORKERS`] workers; the one-worker ping-pong runs in a child process.
mod may_one_worker {
    use super::*;

    /// The child: this same executable with [`MAY_ONE_WORKER`] set, which serves
    /// ping-pong runs on a one-worker may. Its stdin takes a line `ITERS`, its stdout
    /// answers `NANOSECONDS APART` (`APART` is 1 if ping and pong ended on different
    /// threads). It exits when its stdin closes.
    pub(super) struct Child {
        process: process::Child,
        requests: Option<ChildStdin>,
        answers: BufReader<ChildStdout>,
    }

    impl Child {
        pub(super) fn start() -> Child {
            let exe = std::env::current_exe().expect("the benchmark knows its executable");
            let mut process = Command::new(exe)
                .env(MAY_ONE_WORKER, "1")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("cannot start the one-worker may process");
            let requests = process.stdin.take();
            let answers = BufReader::new(process.stdout.take().expect("stdout is piped"));
            Child { process, requests, answers }
        }

        pub(super) fn ping_pong(&mut self, iters: u64) -> Run {
            let requests = self.requests.as_mut().expect("stdin is piped");
            writeln!(requests, "{iters}").expect("the may child takes requests");
            let mut answer = String::new();
            self.answers.read_line(&mut answer).expect("the may child answers");
            let mut fields = answer.split_whitespace().map(|field| field.parse::<u64>().ok());
            match (fields.next().flatten(), fields.next().flatten()) {
                (Some(nanos), Some(apart)) => Run { elapsed: Duration::from_nanos(nanos), apart: apart == 1 },
                _ => panic!("the may child answered {answer:?}"),
            }
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            drop(self.requests.take()); // end of input: the child returns from `serve`
            let _ = self.process.wait();
        }
    }

    /// The child's side: configures may with one worker, then runs ping-pongs on request.
    pub(super) fn serve() {
        may::config().set_workers(1);
        may::config().set_worker_pin(false);
        let mut answers = std::io::stdout().lock();
        for request in std::io::stdin().lock().lines() {
            let request = request.expect("the parent writes lines");
            let iters = request.trim().parse().expect("the parent asks for a number of round trips");
            let run = may_ping_pong(iters, (0, 0));
            writeln!(answers, "{} {}", run.elapsed.as_nanos(), u8::from(run.apart))
                .and_then(|()| answers.flush())
                .expect("the parent reads the answers");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Throughput
// ---------------------------------------------------------------------------------------

/// The time of a run includes spawning the producers (a few hundred nanoseconds for
/// coroutines and tasks, tens of microseconds per thread): a sample sends tens of
/// thousands of messages or more, so that is at most a few percent of one.
fn throughput(c: &mut Criterion) {
    let kinds =
        [("chan_throughput/bounded_64", Some(THROUGHPUT_CAPACITY)), ("chan_throughput/unbounded", None)];
    for (name, capacity) in kinds {
        let mut group = c.benchmark_group(name);
        group.bench_function("hebra", |b| b.iter_custom(|messages| hebra_throughput(messages, capacity)));
        group.bench_function("tokio", |b| b.iter_custom(|messages| tokio_throughput(messages, capacity)));
        if capacity.is_none() {
            group.bench_function("may", |b| b.iter_custom(may_throughput));
        }
        group.bench_function("crossbeam_threads", |b| {
            b.iter_custom(|messages| crossbeam_throughput(messages, capacity))
        });
        group.finish();
    }
}

/// The stress shape as a measurement: 1,000 producers and 16 consumers on one
/// `bounded(16)`, where most senders wait most of the time, so the time per message is
/// mostly what serving a waiting sender costs.
const MANY_PRODUCERS: u64 = 1_000;
const MANY_CONSUMERS: usize = 16;
const MANY_CAPACITY: usize = 16;

fn many_to_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("chan_throughput/1000_to_16_bounded_16");
    group.bench_function("hebra", |b| b.iter_custom(hebra_many_to_many));
    group.bench_function("tokio", |b| b.iter_custom(tokio_many_to_many));
    group.finish();
}

fn hebra_many_to_many(messages: u64) -> Duration {
    hebra_benches::runtimes().hebra.block_on(move || {
        let (tx, rx) = chan::bounded(MANY_CAPACITY);
        let start = Instant::now();
        let consumers: Vec<_> = (0..MANY_CONSUMERS)
            .map(|_| {
                let rx = rx.clone();
                hebra::spawn(move || rx.iter().count())
            })
            .collect();
        for producer in 0..MANY_PRODUCERS {
            let (tx, count) = (tx.clone(), hebra_benches::share(messages, MANY_PRODUCERS, producer));
            hebra::spawn(move || (0..count).for_each(|m| tx.send(m).expect("the consumers wait")));
        }
        drop((tx, rx));
        let received = consumers.into_iter().map(|c| c.join().expect("a consumer panicked")).sum();
        drained(received, messages, start)
    })
}

fn tokio_many_to_many(messages: u64) -> Duration {
    let runtime = &hebra_benches::runtimes().tokio;
    runtime.block_on(async move {
        // tokio's mpsc has a single receiver: the consumers share it behind a lock, as
        // tokio's documentation suggests for several consumers.
        let (tx, rx) = tokio::sync::mpsc::channel::<u64>(MANY_CAPACITY);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        let start = Instant::now();
        let consumers: Vec<_> = (0..MANY_CONSUMERS)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut received = 0;
                    while rx.lock().await.recv().await.is_some() {
                        received += 1;
                    }
                    received
                })
            })
            .collect();
        for producer in 0..MANY_PRODUCERS {
            let (tx, count) = (tx.clone(), hebra_benches::share(messages, MANY_PRODUCERS, producer));
            tokio::spawn(async move {
                for m in 0..count {
                    tx.send(m).await.expect("the consumers wait");
                }
            });
        }
        drop(tx);
        let mut received = 0;
        for consumer in consumers {
            received += consumer.await.expect("a consumer panicked");
        }
        drained(received, messages, start)
    })
}

/// How many of the `messages` producer number `producer` sends.
fn share(messages: u64, producer: u64) -> u64 {
    hebra_benches::share(messages, PRODUCERS, producer)
}

/// Checks that the consumer got everything; returns the run's time.
fn drained(received: usize, messages: u64, start: Instant) -> Duration {
    let elapsed = start.elapsed();
    assert_eq!(received as u64, messages, "every message arrives once");
    elapsed
}

/// The consumer is the measuring coroutine; the scheduler places the producers.
fn hebra_throughput(messages: u64, capacity: Option<usize>) -> Duration {
    hebra_benches::runtimes().hebra.block_on(move || {
        let (tx, rx) = capacity.map_or_else(chan::unbounded, chan::bounded);
        let start = Instant::now();
        for producer in 0..PRODUCERS {
            let tx = tx.clone();
            hebra::spawn(move || {
                (0..share(messages, producer)).for_each(|m| tx.send(m).expect("the consumer waits"))
            });
        }
        drop(tx);
        drained(rx.iter().count(), messages, start)
    })
}

fn tokio_throughput(messages: u64, capacity: Option<usize>) -> Duration {
    let runtime = &hebra_benches::runtimes().tokio;
    // Spawned, so that the consumer runs on a worker (block_on's future would not).
    let consumer = runtime.spawn(async move {
        let (tx, mut rx) = tokio_channel(capacity);
        let start = Instant::now();
        for producer in 0..PRODUCERS {
            let tx = tx.clone();
            tokio::spawn(async move {
                for m in 0..share(messages, producer) {
                    tx.send(m).await;
                }
            });
        }
        drop(tx);
        let mut received = 0;
        while rx.recv().await.is_some() {
            received += 1;
        }
        drained(received, messages, start)
    });
    runtime.block_on(consumer).expect("the consumer panicked")
}

/// tokio's bounded and unbounded channels have different types; the measured rows use
/// one kind each, so the match below always goes the same way.
#[derive(Clone)]
enum TokioSender {
    Bounded(tokio::sync::mpsc::Sender<u64>),
    Unbounded(tokio::sync::mpsc::UnboundedSender<u64>),
}

enum TokioReceiver {
    Bounded(tokio::sync::mpsc::Receiver<u64>),
    Unbounded(tokio::sync::mpsc::UnboundedReceiver<u64>),
}

fn tokio_channel(capacity: Option<usize>) -> (TokioSender, TokioReceiver) {
    use tokio::sync::mpsc;
    match capacity {
        Some(capacity) => {
            let (tx, rx) = mpsc::channel(capacity);
            (TokioSender::Bounded(tx), TokioReceiver::Bounded(rx))
        }
        None => {
            let (tx, rx) = mpsc::unbounded_channel();
            (TokioSender::Unbounded(tx), TokioReceiver::Unbounded(rx))
        }
    }
}

impl TokioSender {
    async fn send(&self, message: u64) {
        let sent = match self {
            TokioSender::Bounded(tx) => tx.send(message).await.is_ok(),
            TokioSender::Unbounded(tx) => tx.send(message).is_ok(),
        };
        assert!(sent, "the consumer waits");
    }
}

impl TokioReceiver {
    async fn recv(&mut self) -> Option<u64> {
        match self {
            TokioReceiver::Bounded(rx) => rx.recv().await,
            TokioReceiver::Unbounded(rx) => rx.recv().await,
        }
    }
}

/// may's `mpsc` is unbounded; the consumer is a coroutine, may places the producers.
fn may_throughput(messages: u64) -> Duration {
    let consumer = spawn_may(None, move || {
        let (tx, rx) = may::sync::mpsc::channel();
        let start = Instant::now();
        for producer in 0..PRODUCERS {
            let tx = tx.clone();
            spawn_may(None, move || {
                (0..share(messages, producer)).for_each(|m| tx.send(m).expect("the consumer waits"))
            });
        }
        drop(tx);
        drained(rx.iter().count(), messages, start)
    });
    consumer.join().expect("the consumer panicked")
}

/// The consumer is the benchmark thread; each producer a thread of its own.
fn crossbeam_throughput(messages: u64, capacity: Option<usize>) -> Duration {
    let (tx, rx) = capacity.map_or_else(crossbeam_channel::unbounded, crossbeam_channel::bounded);
    let start = Instant::now();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let tx = tx.clone();
            thread::spawn(move || {
                (0..share(messages, producer)).for_each(|m| tx.send(m).expect("the consumer waits"))
            })
        })
        .collect();
    drop(tx);
    let elapsed = drained(rx.iter().count(), messages, start);
    producers.into_iter().for_each(|producer| producer.join().expect("a producer panicked"));
    elapsed
}

// ---------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------

/// Per benchmark function: on how many runs ping and pong ended on different threads,
/// printed when it is dropped, after the function's last run.
struct Placement {
    name: String,
    counts: Mutex<(u32, u32)>,
}

impl Placement {
    fn new((group, function): (&str, &str)) -> Placement {
        Placement { name: format!("{group}/{function}"), counts: Mutex::new((0, 0)) }
    }

    fn record(&self, run: Run) -> Duration {
        let mut counts = lock(&self.counts);
        counts.0 += u32::from(run.apart);
        counts.1 += 1;
        run.elapsed
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        let (apart, runs) = *lock(&self.counts);
        if runs > 0 {
            eprintln!("{}: ping and pong ended on different threads in {apart} of {runs} runs", self.name);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
