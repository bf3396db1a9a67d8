//! `hebra-serve`: serve a directory over HTTP/1.1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use hebra_server::{Config, Engine, LogTarget, Server};

/// Serve the files of a directory over HTTP/1.1.
///
/// Safe by default: only files inside DIR are served, names starting with a dot and
/// symlinks leading out of DIR are refused (404), directories are listed only with
/// --listing. Slow or idle clients are cut off by timeouts, and at most
/// --max-connections clients are served at once.
///
/// Stop with Ctrl-C (SIGINT) or SIGTERM: in-flight responses finish first (up to
/// --shutdown-timeout); a second signal exits at once.
///
/// Examples:
///   hebra-serve                          serve the current directory on 127.0.0.1:8080
///   hebra-serve ./public --addr [::1]:0  serve ./public on a free port over IPv6
///   hebra-serve site --listing --access-log -
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// Directory to serve.
    #[arg(default_value = ".")]
    dir: PathBuf,

    /// Address to listen on; port 0 picks a free port, printed at start.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    addr: SocketAddr,

    /// Worker threads [default: one per CPU].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,

    /// List the contents of directories that have no index.html.
    #[arg(long)]
    listing: bool,

    /// Serve files and directories whose name starts with a dot.
    #[arg(long)]
    hidden: bool,

    /// Follow symlinks that point outside DIR.
    #[arg(long)]
    follow_symlinks: bool,

    /// Cache-Control header sent with files, e.g. "public, max-age=3600".
    #[arg(long, value_name = "VALUE", value_parser = header_value)]
    cache_control: Option<String>,

    /// Seconds a client may take to send a request's headers.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    header_timeout: Duration,

    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    idle_timeout: Duration,

    /// Seconds a response may make no progress before the connection is closed.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    send_timeout: Duration,

    /// Most connections served at once; more wait to be accepted.
    #[arg(long, value_name = "N", default_value = "10000", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,

    /// Seconds a graceful shutdown waits for in-flight responses.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    shutdown_timeout: Duration,

    /// Write an access log (combined format) to PATH, or to stdout with "-".
    #[arg(long, value_name = "PATH|-")]
    access_log: Option<LogTarget>,

    /// Concurrency model serving the connections.
    #[arg(long, value_name = "NAME", value_enum, default_value_t = Engine::Coroutine)]
    engine: Engine,
}

fn seconds(value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 1e9 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!("expected a number of seconds greater than 0, got {value:?}")),
    }
}

fn header_value(value: &str) -> Result<String, String> {
    if value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) {
        Ok(value.to_owned())
    } else {
        Err("a header value may hold only visible ASCII characters, spaces and tabs".into())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hebra-serve: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Args) -> std::io::Result<()> {
    let mut config = Config::new(args.dir);
    config.workers = args.workers.map_or(0, usize::from);
    config.files.listing = args.listing;
    config.files.hidden = args.hidden;
    config.files.follow_symlinks = args.follow_symlinks;
    config.files.cache_control = args.cache_control;
    config.header_timeout = args.header_timeout;
    config.idle_timeout = args.idle_timeout;
    config.send_timeout = args.send_timeout;
    config.max_connections = args.max_connections as usize;
    config.shutdown_timeout = args.shutdown_timeout;
    config.access_log = args.access_log;
    config.engine = args.engine;
    let server = Server::bind(args.addr, config)?;
    server.shutdown_handle().shutdown_on_signals()?;
    println!("listening on http://{}/", server.local_addr());
    server.run()
}
