//! Cross-worker park/unpark: two coroutines (tasks, threads) hand a baton back and forth,
//! each parking until the other unparks it. Time per round trip (two hand-offs).
//!
//! Placement differs by design, and the benchmark prints where the two sides ended up:
//!
//! - hebra pins ping to worker 0 and pong to worker 1 (`Builder::worker`), so every
//!   unpark is a wake across threads; `hebra_same_worker` pins both to worker 0.
//! - tokio cannot pin tasks: its scheduler puts them where it likes (a woken task tends
//!   to run on the waker's worker). `tokio_pinned` gives each side a current-thread
//!   runtime on its own thread, tokio's closest equivalent of two pinned workers.
//! - may starts them on workers 0 and 1 (`Builder::id`) but runs a woken coroutine on the
//!   waker's worker, so they soon share one.
//! - std: two threads with `std::thread::park` and `Thread::unpark`.
//!
//! A watchdog unparks both sides when a run makes no progress for [`STALL`], and the
//! benchmark reports how often it had to: a lost wake-up then shows as a count and an
//! outlier instead of a benchmark that never ends.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use hebra_benches::{MEASUREMENT_TIME, SAMPLE_SIZE, WARM_UP_TIME};
use tokio::sync::Notify;

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Whose turn it is.
const PING: u8 = 0;
const PONG: u8 = 1;
const STOP: u8 = 2;

/// A run that makes no progress for this long has lost a wake-up.
const STALL: Duration = Duration::from_millis(250);

/// A run still stuck this long after the first rescue is a hang no unpark can end: the
/// benchmark exits with a message rather than never finishing.
const HANG: Duration = Duration::from_secs(30);

/// What the two sides share: the turn, the ping side's handle for the pong side to
/// unpark (published by ping before its first hand-off), and the round trips so far.
struct Baton<H> {
    turn: AtomicU8,
    ping: OnceLock<H>,
    round_trips: AtomicU64,
}

impl<H> Baton<H> {
    fn new() -> Arc<Baton<H>> {
        Arc::new(Baton { turn: AtomicU8::new(PING), ping: OnceLock::new(), round_trips: AtomicU64::new(0) })
    }

    fn pass(&self, to: u8) {
        self.turn.store(to, Ordering::Release);
    }

    fn is(&self, turn: u8) -> bool {
        self.turn.load(Ordering::Acquire) == turn
    }
}

/// How one run ended, for the per-function report.
struct Run {
    elapsed: Duration,
    ping: ThreadId,
    pong: ThreadId,
    rescues: u32,
}

/// The measuring side: `iters` round trips, then tells pong to stop.
fn ping<H>(
    baton: &Baton<H>,
    me: H,
    iters: u64,
    park: impl Fn(),
    unpark_pong: impl Fn(),
) -> (Duration, ThreadId) {
    assert!(baton.ping.set(me).is_ok(), "one ping per baton");
    let start = Instant::now();
    for round_trip in 1..=iters {
        baton.pass(PONG);
        unpark_pong();
        while !baton.is(PING) {
            park();
        }
        // Relaxed: only the watchdog reads it, to see that something moves.
        baton.round_trips.store(round_trip, Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    let thread = thread::current().id();
    baton.pass(STOP);
    unpark_pong();
    (elapsed, thread)
}

/// The answering side: passes the baton back until told to stop; returns its thread.
fn pong<H>(baton: &Baton<H>, park: impl Fn(), unpark: impl Fn(&H)) -> ThreadId {
    loop {
        while baton.is(PING) {
            park();
        }
        if baton.is(STOP) {
            return thread::current().id();
        }
        baton.pass(PING);
        unpark(baton.ping.get().expect("ping publishes its handle first"));
    }
}

/// Unparks both sides whenever a run stalls for [`STALL`]; counts how often. Ends the
/// process if that does not help within [`HANG`].
struct Watchdog {
    stop: mpsc::Sender<()>,
    thread: thread::JoinHandle<u32>,
}

impl Watchdog {
    fn start<H: Send + Sync + 'static>(
        name: &'static str,
        baton: Arc<Baton<H>>,
        rescue: impl Fn() + Send + 'static,
    ) -> Watchdog {
        let (stop, stopped) = mpsc::channel();
        let thread = thread::spawn(move || {
            let mut rescues = 0;
            let mut last = u64::MAX;
            let mut stalled_since = None;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(STALL) {
                let now = baton.round_trips.load(Ordering::Relaxed);
                if now != last {
                    (last, stalled_since) = (now, None);
                    continue;
                }
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= HANG {
                    eprintln!("park/{name}: stuck after {now} round trips although both sides were unparked");
                    std::process::exit(2);
                }
                rescue();
                rescues += 1;
            }
            rescues
        });
        Watchdog { stop, thread }
    }

    /// Stops watching; returns the number of rescues.
    fn finish(self) -> u32 {
        drop(self.stop);
        self.thread.join().expect("the watchdog panicked")
    }
}

/// Per benchmark function: runs whose sides finished on different threads, and rescues.
#[derive(Default)]
struct Report(Mutex<(u32, u32, u32)>);

impl Report {
    fn record(&self, run: Run) -> Duration {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        counts.0 += u32::from(run.ping != run.pong);
        counts.1 += 1;
        counts.2 += run.rescues;
        run.elapsed
    }

    fn print(&self, name: &str) {
        let (apart, runs, rescues) = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        if runs == 0 {
            return; // filtered out
        }
        eprintln!("park/{name}: ping and pong ended on different threads in {apart} of {runs} runs");
        if rescues > 0 {
            eprintln!(
                "park/{name}: WARNING: {rescues} stalls of {STALL:?} ended by the watchdog (lost wake-ups)"
            );
        }
    }
}

fn park_unpark(c: &mut Criterion) {
    let mut group = c.benchmark_group("park_unpark");
    bench_hebra(&mut group, "hebra", 1);
    bench_hebra(&mut group, "hebra_same_worker", 0);
    bench_tokio(&mut group);
    bench_may(&mut group);
    bench_std(&mut group);
    group.finish();
}

/// Ping on worker 0, pong on `pong_worker`.
fn bench_hebra(group: &mut Group<'_>, name: &'static str, pong_worker: usize) {
    use hebra::coroutine::{self, Builder, Coroutine};
    let runtime = &hebra_benches::runtimes().hebra;
    let report = Report::default();
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            report.record(runtime.block_on(move || {
                let baton = Baton::<Coroutine>::new();
                let pong_baton = baton.clone();
                let pong = Builder::new()
                    .worker(pong_worker)
                    .spawn(move || pong(&pong_baton, coroutine::park, Coroutine::unpark))
                    .expect("worker index in range");
                let pong_handle = pong.coroutine().clone();
                let ping_baton = baton.clone();
                let ping = Builder::new()
                    .worker(0)
                    .spawn(move || {
                        let me = coroutine::current();
                        ping(&ping_baton, me, iters, coroutine::park, || pong_handle.unpark())
                    })
                    .expect("worker index in range");
                let sides = [ping.coroutine().clone(), pong.coroutine().clone()];
                let watchdog = Watchdog::start(name, baton, move || sides.iter().for_each(Coroutine::unpark));
                let (elapsed, ping) = ping.join().expect("ping panicked");
                let pong = pong.join().expect("pong panicked");
                Run { elapsed, ping, pong, rescues: watchdog.finish() }
            }))
        })
    });
    report.print(name);
}

fn bench_tokio(group: &mut Group<'_>) {
    let runtime = &hebra_benches::runtimes().tokio;
    let report = Report::default();
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let notifies = Notifies::new();
            let watchdog = notifies.watchdog("tokio");
            let pong = runtime.spawn(notifies.clone().pong());
            let ping = runtime.spawn(notifies.ping(iters));
            let (elapsed, ping) = runtime.block_on(ping).expect("ping panicked");
            let pong = runtime.block_on(pong).expect("pong panicked");
            report.record(Run { elapsed, ping, pong, rescues: watchdog.finish() })
        })
    });
    report.print("tokio");

    let report = Report::default();
    group.bench_function("tokio_pinned", |b| {
        b.iter_custom(|iters| {
            let notifies = Notifies::new();
            let watchdog = notifies.watchdog("tokio_pinned");
            let pong_side = notifies.clone().pong();
            let pong = thread::spawn(move || current_thread_runtime().block_on(pong_side));
            let (elapsed, ping) = current_thread_runtime().block_on(notifies.ping(iters));
            let pong = pong.join().expect("pong panicked");
            report.record(Run { elapsed, ping, pong, rescues: watchdog.finish() })
        })
    });
    report.print("tokio_pinned");
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().expect("cannot start a tokio runtime")
}

/// The tokio ping-pong: a `Notify` permit plays the park token.
struct Notifies {
    baton: Arc<Baton<()>>,
    ping: Notify,
    pong: Notify,
}

impl Notifies {
    fn new() -> Arc<Notifies> {
        Arc::new(Notifies { baton: Baton::new(), ping: Notify::new(), pong: Notify::new() })
    }

    fn watchdog(self: &Arc<Self>, name: &'static str) -> Watchdog {
        let notifies = self.clone();
        Watchdog::start(name, self.baton.clone(), move || {
            notifies.ping.notify_one();
            notifies.pong.notify_one();
        })
    }

    async fn ping(self: Arc<Self>, iters: u64) -> (Duration, ThreadId) {
        let start = Instant::now();
        for round_trip in 1..=iters {
            self.baton.pass(PONG);
            self.pong.notify_one();
            while !self.baton.is(PING) {
                self.ping.notified().await;
            }
            self.baton.round_trips.store(round_trip, Ordering::Relaxed);
        }
        let elapsed = start.elapsed();
        let thread = thread::current().id();
        self.baton.pass(STOP);
        self.pong.notify_one();
        (elapsed, thread)
    }

    async fn pong(self: Arc<Self>) -> ThreadId {
        loop {
            while self.baton.is(PING) {
                self.pong.notified().await;
            }
            if self.baton.is(STOP) {
                return thread::current().id();
            }
            self.baton.pass(PING);
            self.ping.notify_one();
        }
    }
}

fn bench_may(group: &mut Group<'_>) {
    use may::coroutine::{self, Builder, Coroutine};
    let report = Report::default();
    // Workaround for a may 0.3.51 livelock: a coroutine woken while it is still
    // registering its park (`Park::subscribe` runs it on the spot) that then finishes and
    // drops the last handle to itself spins forever in `Park::drop`, waiting for the
    // `subscribe` below it on the stack. Keeping a handle here until the end makes sure
    // the last one is never dropped by the coroutine itself.
    let keep_alive = Mutex::new(Vec::new());
    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            let baton = Baton::<Coroutine>::new();
            let pong_baton = baton.clone();
            let pong_side = move || pong(&pong_baton, coroutine::park, Coroutine::unpark);
            // SAFETY: the pong loop touches no thread-local storage across a park (it
            // reads thread::current() once, after its last park) and needs a few hundred
            // bytes of stack.
            let pong = unsafe { Builder::new().id(1).spawn(pong_side) }.expect("may spawns");
            let pong_handle = pong.coroutine().clone();
            let ping_baton = baton.clone();
            let ping_side = move || {
                let me = coroutine::current();
                ping(&ping_baton, me, iters, coroutine::park, || pong_handle.unpark())
            };
            // SAFETY: as for pong.
            let ping = unsafe { Builder::new().id(0).spawn(ping_side) }.expect("may spawns");
            let sides = [ping.coroutine().clone(), pong.coroutine().clone()];
            keep_alive.lock().unwrap_or_else(|e| e.into_inner()).extend(sides.clone());
            let watchdog = Watchdog::start("may", baton, move || sides.iter().for_each(Coroutine::unpark));
            let (elapsed, ping) = ping.join().expect("ping panicked");
            let pong = pong.join().expect("pong panicked");
            report.record(Run { elapsed, ping, pong, rescues: watchdog.finish() })
        })
    });
    report.print("may");
}

fn bench_std(group: &mut Group<'_>) {
    let report = Report::default();
    group.bench_function("std_thread", |b| {
        b.iter_custom(|iters| {
            let baton = Baton::<thread::Thread>::new();
            let pong_baton = baton.clone();
            let pong = thread::spawn(move || pong(&pong_baton, thread::park, thread::Thread::unpark));
            let sides = [thread::current(), pong.thread().clone()];
            let watchdog = Watchdog::start("std_thread", baton.clone(), move || {
                sides.iter().for_each(thread::Thread::unpark)
            });
            let pong_thread = pong.thread().clone();
            let (elapsed, ping) =
                ping(&baton, thread::current(), iters, thread::park, || pong_thread.unpark());
            let pong = pong.join().expect("pong panicked");
            report.record(Run { elapsed, ping, pong, rescues: watchdog.finish() })
        })
    });
    report.print("std_thread");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(WARM_UP_TIME)
        .measurement_time(MEASUREMENT_TIME)
        .sample_size(SAMPLE_SIZE);
    targets = park_unpark
}
criterion_main!(benches);
