//! `select!`: `crossbeam-channel`'s syntax over [`Select`](crate::chan::Select).

/// Waits on several channel operations and runs the arm of the one that completes.
///
/// The syntax is `crossbeam-channel`'s:
///
/// - `recv(receiver) -> result => body`: `result` is a `Result<T, RecvError>`
///   (`Err` when the channel is empty and disconnected);
/// - `send(sender, message) -> result => body`: `result` is a
///   `Result<(), SendError<T>>`. `message` is evaluated only if this arm is chosen;
/// - `default => body`: runs if no operation is ready now;
/// - `default(timeout) => body`: runs if no operation became ready within `timeout`
///   (a `Duration`).
///
/// Without a `default` arm the coroutine parks (a plain thread blocks) until an
/// operation can complete. When several are ready, one is chosen at random, so no arm
/// is favoured. A disconnected channel counts as ready: its arm runs with an `Err`.
/// Up to 32 operations and one `default` arm; the same channel may appear more than
/// once.
///
/// On a rendezvous channel (`bounded(0)`) a receive arm that meets a waiting send arm
/// of another `select!` waits for that arm's message expression, even with `default`:
/// keep send arms' message expressions short. If the expression panics, the receiving
/// selection goes on as if that sender had never been there.
///
/// ```
/// use std::time::Duration;
/// use hebra::chan;
///
/// hebra::run(|| {
///     let (jobs_tx, jobs) = chan::bounded::<u32>(1);
///     let (quit_tx, quit) = chan::bounded::<()>(0);
///     let worker = hebra::spawn(move || {
///         let mut done = 0;
///         loop {
///             hebra::select! {
///                 recv(jobs) -> job => done += job.unwrap(),
///                 recv(quit) -> _ => return done,
///                 default(Duration::from_secs(5)) => panic!("nobody talks to me"),
///             }
///         }
///     });
///     for job in 1..=3 {
///         jobs_tx.send(job).unwrap();
///     }
///     // `job` is only consumed if the send arm is chosen.
///     let job = 4;
///     hebra::select! {
///         send(jobs_tx, job) -> sent => sent.unwrap(),
///         default(Duration::from_secs(5)) => panic!("the worker stopped taking jobs"),
///     }
///     quit_tx.send(()).unwrap();
///     assert_eq!(worker.join().unwrap(), 10);
/// });
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__select!(
            @parse [] []
            [
                __h0 __h1 __h2 __h3 __h4 __h5 __h6 __h7 __h8 __h9 __h10 __h11 __h12 __h13 __h14
                __h15 __h16 __h17 __h18 __h19 __h20 __h21 __h22 __h23 __h24 __h25 __h26 __h27
                __h28 __h29 __h30 __h31
            ]
            $($tokens)*
        )
    };
}

/// The parts of [`select!`]: `@parse` turns the arms into a list, one identifier per
/// operation (its handle and index); `@register` adds them to a `Select`; `@run`
/// selects; `@dispatch` completes the chosen operation and runs its body.
#[doc(hidden)]
#[macro_export]
macro_rules! __select {
    // Parsing: bodies are kept as one brace group, so that later rules match a `tt`.
    (@parse $arms:tt $default:tt $ids:tt) => {
        $crate::__select!(@emit $arms $default)
    };
    (@parse $arms:tt $default:tt $ids:tt , $($rest:tt)*) => {
        $crate::__select!(@parse $arms $default $ids $($rest)*)
    };
    (@parse [$($arms:tt)*] $default:tt [$id:ident $($ids:ident)*]
        recv($r:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse [$($arms)* (recv $id ($r) ($p) {$body})] $default [$($ids)*] $($rest)*)
    };
    (@parse [$($arms:tt)*] $default:tt [$id:ident $($ids:ident)*]
        recv($r:expr) -> $p:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse [$($arms)* (recv $id ($r) ($p) {$body})] $default [$($ids)*] $($($rest)*)?)
    };
    (@parse [$($arms:tt)*] $default:tt [$id:ident $($ids:ident)*]
        send($s:expr, $m:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse [$($arms)* (send $id ($s, $m) ($p) {$body})] $default [$($ids)*] $($rest)*)
    };
    (@parse [$($arms:tt)*] $default:tt [$id:ident $($ids:ident)*]
        send($s:expr, $m:expr) -> $p:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse [$($arms)* (send $id ($s, $m) ($p) {$body})] $default [$($ids)*] $($($rest)*)?)
    };
    (@parse $arms:tt [] $ids:tt default => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse $arms [default {$body}] $ids $($rest)*)
    };
    (@parse $arms:tt [] $ids:tt default => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse $arms [default {$body}] $ids $($($rest)*)?)
    };
    (@parse $arms:tt [] $ids:tt default($t:expr) => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse $arms [default ($t) {$body}] $ids $($rest)*)
    };
    (@parse $arms:tt [] $ids:tt default($t:expr) => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse $arms [default ($t) {$body}] $ids $($($rest)*)?)
    };
    (@parse $arms:tt [$($default:tt)+] $ids:tt default $($rest:tt)*) => {
        ::core::compile_error!("select!: at most one `default` arm")
    };
    (@parse $arms:tt $default:tt [] $($rest:tt)+) => {
        ::core::compile_error!("select!: at most 32 operations")
    };
    (@parse $arms:tt $default:tt $ids:tt $($rest:tt)+) => {
        ::core::compile_error!(
            "select!: expected `recv(r) -> res => body`, `send(s, msg) -> res => body`, \
             `default => body` or `default(timeout) => body`, separated by commas"
        )
    };

    (@emit $arms:tt $default:tt) => {{
        #[allow(unused_mut)]
        let mut __select = $crate::chan::Select::new();
        $crate::__select!(@register __select $arms);
        $crate::__select!(@run __select $arms $default)
    }};

    (@register $select:ident []) => {};
    (@register $select:ident [(recv $id:ident ($r:expr) $p:tt $body:tt) $($rest:tt)*]) => {
        let mut $id = (&$r, 0usize);
        $id.1 = $select.recv($id.0);
        $crate::__select!(@register $select [$($rest)*]);
    };
    (@register $select:ident [(send $id:ident ($s:expr, $m:expr) $p:tt $body:tt) $($rest:tt)*]) => {
        let mut $id = (&$s, 0usize);
        $id.1 = $select.send($id.0);
        $crate::__select!(@register $select [$($rest)*]);
    };

    (@run $select:ident $arms:tt []) => {{
        let __operation = $select.select();
        $crate::__select!(@dispatch __operation $arms)
    }};
    (@run $select:ident $arms:tt [default $body:tt]) => {
        match $select.try_select() {
            ::core::result::Result::Ok(__operation) => $crate::__select!(@dispatch __operation $arms),
            ::core::result::Result::Err(_) => $body,
        }
    };
    (@run $select:ident $arms:tt [default ($t:expr) $body:tt]) => {
        match $select.select_timeout($t) {
            ::core::result::Result::Ok(__operation) => $crate::__select!(@dispatch __operation $arms),
            ::core::result::Result::Err(_) => $body,
        }
    };

    (@dispatch $operation:ident []) => {
        ::core::unreachable!("select! chose an operation it did not add")
    };
    (@dispatch $operation:ident [(recv $id:ident ($r:expr) ($p:pat) $body:tt) $($rest:tt)*]) => {
        if $operation.index() == $id.1 {
            let $p = $operation.recv($id.0);
            $body
        } else {
            $crate::__select!(@dispatch $operation [$($rest)*])
        }
    };
    (@dispatch $operation:ident [(send $id:ident ($s:expr, $m:expr) ($p:pat) $body:tt) $($rest:tt)*]) => {
        if $operation.index() == $id.1 {
            let $p = $operation.send($id.0, $m);
            $body
        } else {
            $crate::__select!(@dispatch $operation [$($rest)*])
        }
    };
}
