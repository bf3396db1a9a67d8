//! A static file server in a few lines: the library behind `hebra-serve`, embedded.
//!
//! ```text
//! cargo run --release --example file-server              # the current directory
//! cargo run --release --example file-server -- ./site    # another directory
//! cargo run --release --example file-server -- . [::1]:0 # another address
//! ```
//!
//! Directories without an index.html are listed. Ctrl-C stops it gracefully.
//! `hebra-serve --help` shows every option of the full command.

use std::path::PathBuf;
use std::process::ExitCode;

use hebra_server::{Config, Server};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let dir = args.next().map_or_else(|| PathBuf::from("."), PathBuf::from);
    let addr = args.next().map_or_else(|| "127.0.0.1:8080".into(), |a| a.to_string_lossy().into_owned());

    let mut config = Config::new(&dir);
    config.files.listing = true;
    let server = match Server::bind(&*addr, config) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("file-server: cannot serve {} on {addr}: {err}", dir.display());
            eprintln!(
                "usage: file-server [DIR] [ADDR]   (ADDR defaults to 127.0.0.1:8080; port 0 picks one)"
            );
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = server.shutdown_handle().shutdown_on_signals() {
        eprintln!("file-server: cannot watch for Ctrl-C: {err}");
    }
    println!("serving {} on http://{}/ (Ctrl-C to stop)", dir.display(), server.local_addr());
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("file-server: {err}");
            ExitCode::FAILURE
        }
    }
}
