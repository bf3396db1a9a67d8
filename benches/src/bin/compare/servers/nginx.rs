//! nginx as a peer: Debian's binary with a configuration written into the scratch
//! directory, never the system's. `daemon off` keeps the master in the foreground as the
//! harness's child; its prefix, pid file, error log and temporary directories are all
//! in the scratch directory. The settings are what a tuned static file server uses:
//! `sendfile`, `tcp_nopush`, no access log, a worker per hebra worker, `reuseport`
//! listeners, and descriptors enough for the 10,000-connection scenarios.

use std::fmt::Write;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::Launch;
use crate::children;

/// Modules whose temporary directory nginx creates at start (at a path compiled in,
/// outside the scratch directory, unless the configuration moves it).
const TEMP_PATH_MODULES: [&str; 4] = ["proxy", "fastcgi", "uwsgi", "scgi"];

/// The nginx binary and what `nginx -V` says about it.
#[derive(Debug)]
pub struct Nginx {
    pub path: PathBuf,
    pub version: String,
    /// The modules of [`TEMP_PATH_MODULES`] it was built with.
    modules: Vec<&'static str>,
}

impl Nginx {
    pub fn probe(path: PathBuf) -> Nginx {
        let printed = children::run_bounded(Command::new(&path).arg("-V"), Duration::from_secs(10));
        let text = printed.map(|done| done.stdout + &done.stderr).unwrap_or_default();
        let version = text.lines().next().unwrap_or("nginx: unknown version").trim().to_owned();
        let modules = TEMP_PATH_MODULES
            .into_iter()
            .filter(|module| !text.contains(&format!("--without-http_{module}_module")))
            .collect();
        Nginx { path, version, modules }
    }
}

pub fn command(nginx: &Nginx, launch: &Launch, addr: SocketAddr, prefix: &Path) -> io::Result<Command> {
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, config(nginx, launch, addr, prefix))?;
    let mut command = Command::new(&nginx.path);
    command.arg("-p").arg(prefix).arg("-c").arg(&conf).arg("-e").arg(prefix.join("error.log"));
    Ok(command)
}

/// The whole configuration.
fn config(nginx: &Nginx, launch: &Launch, addr: SocketAddr, prefix: &Path) -> String {
    let prefix = prefix.display();
    let connections = launch.max_connections;
    // A connection may hold a socket and an open file; plus listeners and logs.
    let descriptors = 2 * connections + 64;
    let mut temp_paths = format!("        client_body_temp_path {prefix}/client_body;\n");
    for module in &nginx.modules {
        let _ = writeln!(temp_paths, "        {module}_temp_path {prefix}/{module};");
    }
    format!(
        "# Written by hebra-benches' compare harness for one measurement.
worker_processes {workers};
worker_rlimit_nofile {descriptors};
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections {connections};
}}

http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000000;
    keepalive_timeout 60s;
    default_type application/octet-stream;
    types {{ application/octet-stream bin; }}
{temp_paths}
    server {{
        listen {addr} reuseport backlog=1024;
        root {root};
    }}
}}
",
        workers = launch.workers,
        root = launch.root.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_keeps_everything_in_the_prefix() {
        let nginx = Nginx { path: "/usr/sbin/nginx".into(), version: String::new(), modules: vec!["proxy"] };
        let launch = Launch {
            exe: Path::new("/bin/true"),
            root: Path::new("/tmp/x/www"),
            scratch: Path::new("/tmp/x"),
            workers: 3,
            max_connections: 16_384,
            nginx: None,
        };
        let text = config(&nginx, &launch, "127.0.0.1:8080".parse().unwrap(), Path::new("/tmp/x/nginx"));
        for line in [
            "worker_processes 3;",
            "worker_connections 16384;",
            "daemon off;",
            "listen 127.0.0.1:8080 reuseport backlog=1024;",
            "root /tmp/x/www;",
            "proxy_temp_path /tmp/x/nginx/proxy;",
            "pid /tmp/x/nginx/nginx.pid;",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(!text.contains("fastcgi"));
        assert!(!text.contains("/var/"), "a path outside the prefix");
    }
}
