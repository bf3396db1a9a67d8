//! `hebra::sync::Barrier` and `WaitGroup` between coroutines on both workers and plain
//! threads: a barrier releases nobody before the round is full, has exactly one
//! leader per round and is reusable; a wait group waits for every member.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{join_thread, run_with, spawn_on};
use hebra::sync::{Barrier, WaitGroup};

#[test]
fn a_barrier_has_one_leader_per_round_and_holds_everybody_until_the_round_is_full() {
    const COROUTINES: usize = 4;
    const THREADS: usize = 2;
    const PARTIES: usize = COROUTINES + THREADS;
    const ROUNDS: usize = 200;
    let leaders = run_with(2, || {
        let barrier = Arc::new(Barrier::new(PARTIES));
        let arrived = Arc::new(AtomicUsize::new(0));
        let leaders: Arc<Vec<AtomicUsize>> = Arc::new((0..ROUNDS).map(|_| AtomicUsize::new(0)).collect());
        let party = {
            let (barrier, arrived, leaders) = (barrier.clone(), arrived.clone(), leaders.clone());
            move |coroutine: bool| {
                for round in 0..ROUNDS {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    if coroutine && round % 10 == 0 {
                        hebra::yield_now();
                    }
                    let result = barrier.wait();
                    let seen = arrived.load(Ordering::SeqCst);
                    assert!(seen >= (round + 1) * PARTIES, "released in round {round} with {seen} arrivals");
                    if result.is_leader() {
                        leaders[round].fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        };
        let coroutines: Vec<_> = (0..COROUTINES)
            .map(|i| {
                let party = party.clone();
                spawn_on(i % 2, move || party(true))
            })
            .collect();
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let party = party.clone();
                thread::spawn(move || party(false))
            })
            .collect();
        coroutines.into_iter().for_each(|c| c.join().unwrap());
        threads.into_iter().for_each(join_thread);
        leaders.iter().map(|l| l.load(Ordering::SeqCst)).collect::<Vec<_>>()
    });
    assert!(leaders.iter().all(|&n| n == 1), "leaders per round: {leaders:?}");
}

#[test]
fn a_wait_group_waits_for_every_member() {
    const MEMBERS: usize = 20;
    run_with(2, || {
        let done = Arc::new(AtomicUsize::new(0));
        let group = WaitGroup::new();
        for i in 0..MEMBERS {
            let (member, done) = (group.clone(), done.clone());
            let work = move || {
                hebra::sleep(Duration::from_millis((i % 5) as u64));
                done.fetch_add(1, Ordering::SeqCst);
                drop(member);
            };
            if i % 4 == 3 {
                thread::spawn(work);
            } else {
                spawn_on(i % 2, work);
            }
        }
        // A second waiter, on a plain thread, is released too.
        let other = group.clone();
        let other_done = done.clone();
        let waiter = thread::spawn(move || {
            other.wait();
            other_done.load(Ordering::SeqCst)
        });
        group.wait();
        assert_eq!(done.load(Ordering::SeqCst), MEMBERS);
        assert_eq!(join_thread(waiter), MEMBERS);
    });
}

#[test]
fn a_wait_group_alone_does_not_wait() {
    run_with(1, || {
        let group = WaitGroup::new();
        let member = group.clone();
        assert_eq!(format!("{group:?}"), "WaitGroup { count: 2 }");
        drop(member);
        group.wait();
    });
}
