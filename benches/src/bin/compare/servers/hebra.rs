//! `compare serve-hebra DIR ...`: hebra-server with one engine, configured as
//! `hebra-serve DIR --addr ADDR --workers N --max-connections M --engine E` would be
//! (the same `Config` fields, the same defaults for the rest, the same stderr logging
//! and signal handling).

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use hebra_server::{Config, Server};
use tracing_subscriber::EnvFilter;

use crate::cli::ServeArgs;

pub fn serve(args: ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let mut config = Config::new(args.dir);
    config.workers = args.workers;
    config.max_connections = args.max_connections;
    config.engine = args.engine;
    match run(args.addr, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hebra-server ({}): {err}", args.engine);
            ExitCode::FAILURE
        }
    }
}

fn run(addr: SocketAddr, config: Config) -> io::Result<()> {
    let server = Server::bind(addr, config)?;
    server.shutdown_handle().shutdown_on_signals()?;
    println!("listening on http://{}/", server.local_addr());
    server.run()
}
