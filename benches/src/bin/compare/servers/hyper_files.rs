//! `compare serve-hyper DIR ...`: the async Rust server most people would write for
//! static files: a multi-thread tokio runtime with the same worker count, hyper 1's
//! HTTP/1.1 connection driver (keep-alive on, the default) and tower-http's `ServeDir`,
//! one task per connection. No tuning and no handicap: `TCP_NODELAY` as the other
//! servers, a header read timeout (hyper's default 30 s, which needs the timer), tokio's
//! listen backlog of 1024 like hebra's listeners and nginx's here. SIGTERM ends it.

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_http::services::ServeDir;

use crate::cli::ServeArgs;

/// Pause after a failed accept (out of descriptors), so that it cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

pub fn serve(args: ServeArgs) -> ExitCode {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.workers).enable_all().build();
    let served = runtime.and_then(|runtime| runtime.block_on(accept_loop(args)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hyper server: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn accept_loop(args: ServeArgs) -> io::Result<()> {
    let listener = TcpListener::bind(args.addr).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    let service = TowerToHyperService::new(ServeDir::new(&args.dir));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                eprintln!("accept: {err}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            // A client that goes away mid-response is normal under load: not reported.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
